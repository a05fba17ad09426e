//! Text columns as categories: a second, light pass over a CSV file reading only the text
//! columns the profile shows as a category mix (Gender, Channel names). The main reader
//! keeps numbers only; this pass keeps one small code per row and at most
//! [`MAX_TRACKED`] distinct values per column, so memory stays bounded whatever the file.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// A column with more distinct values than this is an identifier or free text, not a
/// category: it is not profiled.
pub const MAX_TRACKED: usize = 1000;

/// One text column read as categories: value labels and one code per row.
pub struct TextCategories {
    /// Header name of the column.
    pub column: String,
    /// The distinct values, "(missing)" for empty cells; a code indexes this list.
    pub values: Vec<String>,
    /// Each row's value as an index into `values`: one small number per customer instead
    /// of a string.
    pub codes: Vec<u32>,
}

/// Reads the named text columns of a CSV file (plain or gzip) as category codes, row by
/// row in file order. Columns with more than [`MAX_TRACKED`] distinct values are left
/// out; an empty cell is "(missing)".
pub fn read_text_categories(
    path: &Path,
    delimiter: Option<u8>,
    columns: &[String],
) -> Result<Vec<TextCategories>> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, "opening", e))?;
    let mut buffered = BufReader::with_capacity(1 << 20, file);
    let head = buffered
        .fill_buf()
        .map_err(|e| Error::io(path, "reading", e))?
        .to_vec();
    let input: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut input = BufReader::with_capacity(1 << 20, input);
    let head = input
        .fill_buf()
        .map_err(|e| Error::io(path, "reading", e))?;
    if head.starts_with(b"\xEF\xBB\xBF") {
        input.consume(3);
    }
    let head = input
        .fill_buf()
        .map_err(|e| Error::io(path, "reading", e))?;
    let delimiter = delimiter.unwrap_or_else(|| super::csv::sniff_delimiter(head));
    let mut rdr = ::csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(input);
    let shown = path.display().to_string();
    let bad = |e: ::csv::Error| Error::input(&shown, format!("reading text columns: {e}"));
    let header = rdr.byte_headers().map_err(bad)?.clone();
    let positions: Vec<(usize, &String)> = columns
        .iter()
        .filter_map(|c| {
            header
                .iter()
                .position(|h| String::from_utf8_lossy(h).trim() == c.as_str())
                .map(|p| (p, c))
        })
        .collect();
    let mut out: Vec<Tracker> = positions.iter().map(|(_, c)| Tracker::new(c)).collect();
    let mut rec = ::csv::ByteRecord::new();
    while rdr.read_byte_record(&mut rec).map_err(bad)? {
        for (t, (pos, _)) in out.iter_mut().zip(&positions) {
            t.push(rec.get(*pos).unwrap_or(b""));
        }
    }
    Ok(out.into_iter().filter_map(Tracker::finish).collect())
}

/// One text column's categories as its cells arrive in row order: the rule of the CSV
/// pass ([`read_text_categories`]) for every reader that sees the cells (the Arrow frames
/// of the Python package too), so the profile's category mix is the same for the same
/// values whatever the source.
pub struct Tracker {
    out: TextCategories,
    lookup: std::collections::HashMap<Vec<u8>, u32>,
    alive: bool,
}

impl Tracker {
    /// A tracker for the column `column`, before its first cell.
    pub fn new(column: &str) -> Tracker {
        Tracker {
            out: TextCategories {
                column: column.to_string(),
                values: Vec::new(),
                codes: Vec::new(),
            },
            lookup: Default::default(),
            alive: true,
        }
    }

    /// The next row's cell, as the file holds it (trimmed here; an empty cell or a null
    /// is "(missing)").
    #[inline]
    pub fn push(&mut self, cell: &[u8]) {
        if !self.alive {
            return;
        }
        let cell = cell.trim_ascii();
        let key: &[u8] = if cell.is_empty() { b"(missing)" } else { cell };
        let code = match self.lookup.get(key) {
            Some(c) => *c,
            None => {
                if self.lookup.len() >= MAX_TRACKED {
                    self.alive = false;
                    self.out.codes = Vec::new();
                    self.lookup = Default::default();
                    return;
                }
                let c = self.out.values.len() as u32;
                self.out
                    .values
                    .push(String::from_utf8_lossy(key).into_owned());
                self.lookup.insert(key.to_vec(), c);
                c
            }
        };
        self.out.codes.push(code);
    }

    /// Whether the column still counts as categories (at most [`MAX_TRACKED`] values so far).
    pub fn alive(&self) -> bool {
        self.alive
    }

    /// The column's categories; None when it has more than [`MAX_TRACKED`] distinct values.
    pub fn finish(self) -> Option<TextCategories> {
        self.alive.then_some(self.out)
    }
}
