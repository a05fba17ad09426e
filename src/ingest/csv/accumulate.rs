//! Turning records into a table: the checks every record gets, whichever path split it
//! ([`Sink`]), the [`Part`] a run of records fills, and the [`Accumulator`] that resolves
//! the header and merges parts in file order.

use std::io::Read;

use super::errors::{csv_error, record_too_long};
use crate::error::{show_value, Error, Result};
use crate::ingest::number::{parse_number, Cell};
use crate::ingest::plan::{plan, Plan, Slot, Wording};
use crate::ingest::{Limits, ReadSpec};
use crate::table::{Column, ColumnInfo, ColumnKind, Ids, Spilled, Table};

/// How the columns of the file are read: fixed once the header is known, except that a
/// column that is not required turns to text (and stops being loaded) at its first cell
/// that is not a number.
#[derive(Clone)]
pub(super) struct Layout<'a> {
    pub(super) source_name: &'a str,
    pub(super) names: &'a [String],
    pub(super) slots: Vec<Slot>,
    /// How many columns are loaded.
    pub(super) columns: usize,
    pub(super) delimiter: u8,
    /// Longest record accepted, in bytes (without its line end).
    pub(super) max_record: u64,
}

/// What one run of records (a chunk, or the rest of a stream) holds, with line numbers
/// already absolute. Merged in file order by [`Accumulator::merge`].
pub(super) struct Part {
    pub(super) rows: u64,
    pub(super) ids: Ids,
    /// Per loaded column (the plan's `col` numbers); empty for a column whose
    /// first non-number cell came in this part.
    pub(super) values: Vec<Vec<f64>>,
    /// Per header column: empty cells.
    pub(super) missing: Vec<u64>,
    /// Per header column: the first cell that makes it text (for a skipped column, its
    /// first non-empty cell; for a loaded one, its first cell that is not a number).
    pub(super) first: Vec<Option<(u64, String)>>,
}

/// Collects the records of one run into a [`Part`], with the same checks in the same
/// order for every way of splitting records.
pub(super) struct Sink<'l, 'a, 'p> {
    pub(super) lay: &'l Layout<'a>,
    pub(super) slots: Vec<Slot>,
    pub(super) part: &'p mut Part,
    /// The empty cells of the record being read on the quick path ([`super::fast`]).
    pub(super) empties: Vec<usize>,
}

impl Part {
    pub(super) fn new(columns: usize, names: usize) -> Self {
        Part {
            rows: 0,
            ids: Ids::default(),
            values: vec![Vec::new(); columns],
            missing: vec![0; names],
            first: vec![None; names],
        }
    }

    /// Empties the part for the next chunk, keeping its memory (no page faults, no
    /// returning memory to the system and asking for it again block after block).
    pub(super) fn reset(&mut self, rows_hint: usize) {
        self.rows = 0;
        self.ids.clear();
        self.ids.reserve(rows_hint, 0);
        for v in &mut self.values {
            v.clear();
            v.reserve(rows_hint);
        }
        self.missing.iter_mut().for_each(|m| *m = 0);
        self.first.iter_mut().for_each(|f| *f = None);
    }

    /// Adds `by` to every line number held.
    pub(super) fn shift_lines(&mut self, by: u64) {
        for (line, _) in self.first.iter_mut().flatten() {
            *line += by;
        }
    }
}

impl<'l, 'a, 'p> Sink<'l, 'a, 'p> {
    pub(super) fn new(lay: &'l Layout<'a>, part: &'p mut Part, rows_hint: usize) -> Self {
        part.reset(rows_hint);
        Sink {
            lay,
            slots: lay.slots.clone(),
            part,
            empties: Vec::new(),
        }
    }

    /// One record of `count` fields starting on `line`.
    #[inline]
    pub(super) fn record<'f>(
        &mut self,
        line: u64,
        count: usize,
        fields: impl Iterator<Item = &'f [u8]>,
    ) -> Result<()> {
        let source_name = self.lay.source_name;
        let names = self.lay.names;
        if count != names.len() {
            return Err(Error::Record {
                source_name: source_name.to_string(),
                line,
                message: format!(
                    "this row has {count} fields but the header has {}; every row needs one field per column (look for a stray delimiter or quote)",
                    names.len()
                ),
            });
        }
        let part = &mut *self.part;
        part.rows += 1;
        for (j, raw) in fields.enumerate() {
            let empty = raw.trim_ascii().is_empty();
            if empty {
                part.missing[j] += 1;
            }
            match self.slots[j] {
                Slot::Skip => {
                    if !empty && part.first[j].is_none() {
                        part.first[j] = Some((line, show_value(raw)));
                    }
                }
                Slot::Id => {
                    let id = std::str::from_utf8(raw).map_err(|_| Error::Cell {
                        source_name: source_name.to_string(),
                        line,
                        column: names[j].clone(),
                        message: format!(
                            "customer id {} is not valid UTF-8 text; save the file as UTF-8",
                            show_value(raw)
                        ),
                    })?;
                    part.ids.push(id.trim());
                }
                Slot::Load { col, required } => match parse_number(raw) {
                    Cell::Missing => part.values[col].push(f64::NAN),
                    Cell::Value(v) => part.values[col].push(v),
                    Cell::Bad(why) => {
                        if required {
                            return Err(Error::Cell {
                                source_name: source_name.to_string(),
                                line,
                                column: names[j].clone(),
                                message: bad_cell(&names[j], raw, why),
                            });
                        }
                        self.slots[j] = Slot::Skip;
                        part.first[j] = Some((line, show_value(raw)));
                        part.values[col] = Vec::new();
                    }
                },
            }
        }
        Ok(())
    }
}

/// The table being built: header facts, then parts merged in file order.
pub(super) struct Accumulator<'a> {
    pub(super) source_name: &'a str,
    pub(super) names: Vec<String>,
    pub(super) slots: Vec<Slot>,
    pub(super) id_column: Option<String>,
    pub(super) columns: Vec<Column>,
    pub(super) info: Vec<ColumnInfo>,
    pub(super) text_cols: Vec<bool>,
    pub(super) ids: Ids,
    pub(super) rows: u64,
    pub(super) delimiter: u8,
    /// Where columns that are not required go instead of memory, if anywhere.
    pub(super) spill: Option<Spilled>,
    /// Longest record accepted, in bytes.
    pub(super) max_record: u64,
}

impl<'a> Accumulator<'a> {
    /// Reads the header from `rdr` and resolves the columns `spec` asks for.
    pub(super) fn new<R: Read>(
        rdr: &mut ::csv::Reader<R>,
        source_name: &'a str,
        spec: &ReadSpec,
        delimiter: u8,
        limits: &Limits,
    ) -> Result<Self> {
        let header = rdr
            .byte_headers()
            .map_err(|e| csv_error(e, source_name, 0))?
            .clone();
        if rdr.position().byte() > limits.max_record_bytes {
            return Err(record_too_long(source_name, 1, limits.max_record_bytes));
        }
        // Before anything is set aside per column: a small file naming 100,000 columns
        // would otherwise cost minutes and gigabytes.
        limits.check_columns(source_name, header.len(), "line 1: ")?;
        let mut names = Vec::with_capacity(header.len());
        for (j, raw) in header.iter().enumerate() {
            let name = std::str::from_utf8(raw).map_err(|_| Error::Record {
                source_name: source_name.to_string(),
                line: 1,
                message: format!(
                    "header field {} is not valid UTF-8 text; save the file as UTF-8",
                    j + 1
                ),
            })?;
            // Kept exactly: the model, the exported SQL and the user name the column as
            // the source spells it, spaces and all.
            names.push(name.to_string());
        }
        if names.iter().all(|n| n.trim().is_empty()) {
            return Err(Error::input(
                source_name,
                "line 1: the header has no column names; the first line must name the columns",
            ));
        }
        let duplicate = |want: &str, hits: &[usize]| {
            format!(
                "line 1: column {want} appears {} times in the header (fields {}); rename or remove the copies",
                hits.len(),
                hits.iter().map(|h| (h + 1).to_string()).collect::<Vec<_>>().join(", ")
            )
        };
        let words = Wording {
            place: "line 1: ",
            listing: "the header has",
            duplicate: &duplicate,
        };
        let Plan {
            slots,
            id_column,
            columns,
        } = plan(source_name, &names, spec, &words)?;
        let info = names.iter().map(|n| ColumnInfo::numeric(n)).collect();
        Ok(Accumulator {
            source_name,
            text_cols: vec![false; names.len()],
            names,
            slots,
            id_column,
            columns,
            info,
            ids: Ids::default(),
            rows: 0,
            delimiter,
            spill: None,
            max_record: limits.max_record_bytes,
        })
    }

    pub(super) fn layout(&self) -> Layout<'_> {
        Layout {
            source_name: self.source_name,
            names: &self.names,
            slots: self.slots.clone(),
            columns: self.columns.len(),
            delimiter: self.delimiter,
            max_record: self.max_record,
        }
    }

    /// Reserves room for about `rows` more customers (a guess from the file size; pages
    /// never written are never resident).
    pub(super) fn reserve(&mut self, rows: usize) {
        for (j, slot) in self.slots.iter().enumerate() {
            match slot {
                Slot::Load {
                    required: false, ..
                } if self.spill.is_some() => {}
                Slot::Load { col, .. } => self.columns[*col].values.reserve(rows),
                Slot::Id => self.ids.reserve(rows, rows * self.names[j].len().max(8)),
                Slot::Skip => {}
            }
        }
    }

    /// Appends the next part in file order. The part may have been parsed with an older
    /// layout (a column that turned to text since): its values for such columns are
    /// ignored, which is what reading the rows one by one would have done.
    pub(super) fn merge(&mut self, part: &Part) -> Result<()> {
        for (j, first) in part.first.iter().enumerate() {
            self.info[j].missing += part.missing[j];
            if let Some(first) = first {
                if !self.text_cols[j] {
                    self.text_cols[j] = true;
                    self.info[j].first_text = Some(first.clone());
                    if let Slot::Load { col, .. } = self.slots[j] {
                        self.slots[j] = Slot::Skip;
                        if let Some(spill) = &mut self.spill {
                            spill.forget(&self.columns[col].name);
                        }
                        self.columns[col].values = Vec::new();
                        self.columns[col].name.clear();
                    }
                }
            }
        }
        for slot in &self.slots {
            match (slot, &mut self.spill) {
                (
                    Slot::Load {
                        col,
                        required: false,
                    },
                    Some(spill),
                ) => {
                    spill.append(&self.columns[*col].name, &part.values[*col])?;
                }
                (Slot::Load { col, .. }, _) => self.columns[*col]
                    .values
                    .extend_from_slice(&part.values[*col]),
                _ => {}
            }
        }
        if self.id_column.is_some() {
            self.ids.append(&part.ids);
        }
        self.rows += part.rows;
        Ok(())
    }

    pub(super) fn finish(mut self) -> Result<(Table, Option<Spilled>)> {
        let rows = self.rows;
        if rows == 0 {
            return Err(Error::input(
                self.source_name,
                "has a header line but no customer rows",
            ));
        }
        if self.id_column.is_none() {
            let mut ids = Ids::with_capacity(rows as usize);
            let mut b = itoa::Buffer::new();
            for r in 1..=rows {
                ids.push(b.format(r));
            }
            self.ids = ids;
        }
        for (j, ci) in self.info.iter_mut().enumerate() {
            if self.text_cols[j] {
                ci.kind = ColumnKind::Text;
            } else if ci.missing == rows {
                ci.kind = ColumnKind::Empty;
            }
            if matches!(self.slots[j], Slot::Id) {
                ci.kind = ColumnKind::Text;
            }
        }
        let names = self.names;
        let mut columns = self.columns;
        let spill = self.spill;
        columns
            .retain(|c| !c.name.is_empty() && !spill.as_ref().is_some_and(|s| s.contains(&c.name)));
        for c in &mut columns {
            c.values.shrink_to_fit();
        }
        // Header order, whatever order the caller asked for them in (the first column of
        // each name, as a search from the start finds it; one pass, not one per column).
        let mut at = std::collections::HashMap::with_capacity(names.len());
        for (j, n) in names.iter().enumerate() {
            at.entry(n.as_str()).or_insert(j);
        }
        columns.sort_by_cached_key(|c| at.get(c.name.as_str()).copied().unwrap_or(usize::MAX));
        self.ids.shrink_to_fit();
        let table = Table {
            source: self.source_name.to_string(),
            id_column: self.id_column,
            ids: self.ids,
            columns,
            info: self.info,
            row_based: false,
        };
        Ok((table, spill))
    }
}

/// The message for a cell of a required column that is not a number: plain text there
/// most often means a text column given as a feature or profiling feature, which is
/// profiled as a category mix with `--categorical` instead.
fn bad_cell(column: &str, raw: &[u8], why: &str) -> String {
    use crate::error::Param;
    if why != crate::ingest::number::NOT_A_NUMBER {
        return format!("{} {why}", show_value(raw));
    }
    let plain = !column.is_empty()
        && column.trim() == column
        && !column.contains([',', '"'])
        && !column.chars().any(char::is_control);
    let name = if plain {
        column.to_string()
    } else {
        crate::text::quote_name(column)
    };
    format!(
        "{} {why}; if the column holds text (such as categories), name it in {} {name} instead of {} / {}",
        show_value(raw),
        Param::Categorical,
        Param::Features,
        Param::ProfileFeatures
    )
}
