//! Reading customer data. Every source produces the same [`Table`], so inspection,
//! cleaning and the pipeline do not care where the rows came from.

pub mod csv;

use crate::error::{Error, Result};
use crate::table::Table;

/// The id column the caller asked for.
#[derive(Debug, Clone)]
pub enum IdSpec {
    /// Use this column; `explicit` is false for the built-in default, which may be absent
    /// (rows are then numbered from 1).
    Column { name: String, explicit: bool },
    /// Number rows from 1.
    RowNumber,
}

impl IdSpec {
    pub fn default_column() -> Self {
        IdSpec::Column {
            name: crate::DEFAULT_ID_COLUMN.to_string(),
            explicit: false,
        }
    }
}

/// What to load from a source.
#[derive(Debug, Clone)]
pub struct ReadSpec {
    pub id: IdSpec,
    /// Columns that must exist and be numeric: an error otherwise, naming line and value.
    pub required: Vec<String>,
    /// Also load every other column whose cells are all numbers (profiling, inspection).
    pub other_numeric: bool,
    /// Field delimiter; None sniffs it from the header line.
    pub delimiter: Option<u8>,
}

/// Reads any supported source into a table.
pub fn read(input: &str, spec: &ReadSpec) -> Result<Table> {
    check_spec(spec)?;
    csv::read_path(std::path::Path::new(input), spec)
}

fn check_spec(spec: &ReadSpec) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for name in &spec.required {
        if name.trim().is_empty() {
            return Err(Error::usage("an empty column name was given in a column list"));
        }
        if let IdSpec::Column { name: id, .. } = &spec.id {
            if id == name {
                return Err(Error::usage(format!(
                    "column {name} is the id column and cannot also be a feature"
                )));
            }
        }
        seen.insert(name.as_str());
    }
    Ok(())
}
