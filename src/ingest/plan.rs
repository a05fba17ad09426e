//! Resolving what a read asks for (id column, required features, other numeric columns)
//! against a source's column names. Shared by the CSV reader and the table builder of
//! the other sources, so every source finds, refuses and names columns the same way.

use crate::error::{Error, Result};
use crate::ingest::{IdSpec, ReadSpec};
use crate::table::Column;

/// What happens to each source column while reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Skip,
    Id,
    /// Loaded into `columns[col]`; required columns error on bad cells, others turn to text.
    Load {
        col: usize,
        required: bool,
    },
}

/// How a source talks about its columns in messages.
pub(crate) struct Wording<'a> {
    /// Where the names are, before the message ("line 1: " for a CSV header).
    pub place: &'a str,
    /// How the list of names is introduced ("the header has").
    pub listing: &'a str,
    /// The message for a name found at these (0-based) positions more than once.
    pub duplicate: &'a dyn Fn(&str, &[usize]) -> String,
}

pub(crate) struct Plan {
    pub slots: Vec<Slot>,
    pub id_column: Option<String>,
    /// Empty columns to fill, in the order of their `Slot::Load { col }` numbers.
    pub columns: Vec<Column>,
}

pub(crate) fn plan(
    source: &str,
    names: &[String],
    spec: &ReadSpec,
    words: &Wording,
) -> Result<Plan> {
    let find = |want: &str| -> Result<Option<usize>> {
        let hits: Vec<usize> = (0..names.len()).filter(|&j| names[j] == want).collect();
        match hits.len() {
            0 => Ok(None),
            1 => Ok(Some(hits[0])),
            _ => Err(Error::input(source, (words.duplicate)(want, &hits))),
        }
    };
    let mut slots = vec![Slot::Skip; names.len()];
    let id_column = match &spec.id {
        IdSpec::RowNumber => None,
        IdSpec::Column { name, explicit } => match find(name)? {
            Some(j) => {
                slots[j] = Slot::Id;
                Some(name.clone())
            }
            None if *explicit => {
                let flag = crate::error::Param::IdColumn.to_string();
                return Err(missing_column(source, name, names, &flag, words));
            }
            // The default id spelled with spaces around it: numbering the rows instead
            // would silently lose the ids.
            None if names.iter().any(|n| n.trim() == name.as_str()) => {
                return Err(missing_column(
                    source,
                    name,
                    names,
                    &format!(
                        "{} (or {})",
                        crate::error::Param::IdColumn,
                        crate::error::Param::NoId
                    ),
                    words,
                ))
            }
            None => None,
        },
    };
    let mut columns: Vec<Column> = Vec::new();
    for want in &spec.required {
        let j = find(want)?.ok_or_else(|| {
            missing_column(
                source,
                want,
                names,
                &format!(
                    "{} / {}",
                    crate::error::Param::Features,
                    crate::error::Param::ProfileFeatures
                ),
                words,
            )
        })?;
        if matches!(slots[j], Slot::Load { .. }) {
            continue;
        }
        slots[j] = Slot::Load {
            col: columns.len(),
            required: true,
        };
        columns.push(Column {
            name: want.clone(),
            values: Vec::new(),
        });
    }
    if spec.other_numeric {
        let mut seen = std::collections::HashSet::new();
        for j in 0..names.len() {
            if slots[j] == Slot::Skip
                && !names[j].trim().is_empty()
                && seen.insert(names[j].clone())
            {
                slots[j] = Slot::Load {
                    col: columns.len(),
                    required: false,
                };
                columns.push(Column {
                    name: names[j].clone(),
                    values: Vec::new(),
                });
            }
        }
    }
    Ok(Plan {
        slots,
        id_column,
        columns,
    })
}

/// A column name as messages show it: cut to 40 characters.
pub(crate) fn short_name(name: &str) -> String {
    if name.chars().count() <= 40 {
        name.to_string()
    } else {
        name.chars().take(37).chain("...".chars()).collect()
    }
}

fn missing_column(
    source: &str,
    want: &str,
    names: &[String],
    flag: &str,
    words: &Wording,
) -> Error {
    let spaced = names
        .iter()
        .find(|n| n.trim() == want.trim())
        .map(|n| {
            format!(
                " (did you mean {:?}? names are read exactly as the source spells them, spaces and line breaks included: put such a name in double quotes)",
                short_name(n)
            )
        });
    let close = spaced
        .or_else(|| {
            names
                .iter()
                .find(|n| n.eq_ignore_ascii_case(want))
                .map(|n| {
                    format!(
                        " (did you mean {}? names are case-sensitive)",
                        short_name(n)
                    )
                })
        })
        .unwrap_or_default();
    if names.is_empty() {
        return Error::input(
            source,
            format!(
                "{}column {want} not found: the input has no columns (no customer rows)",
                words.place
            ),
        );
    }
    let shown: Vec<String> = names
        .iter()
        .take(20)
        .map(|n| crate::text::quote_name(&short_name(n)))
        .collect();
    let more = if names.len() > 20 { ", ..." } else { "" };
    Error::input(
        source,
        format!(
            "{}column {want} not found{close}; {}: {}{more}; name the right column with {flag}",
            words.place,
            words.listing,
            shown.join(", ")
        ),
    )
}
