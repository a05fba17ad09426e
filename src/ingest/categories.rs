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
    let mut out: Vec<TextCategories> = positions
        .iter()
        .map(|(_, c)| TextCategories {
            column: (*c).clone(),
            values: Vec::new(),
            codes: Vec::new(),
        })
        .collect();
    let mut lookup: Vec<std::collections::HashMap<Vec<u8>, u32>> =
        vec![Default::default(); out.len()];
    let mut alive = vec![true; out.len()];
    let mut rec = ::csv::ByteRecord::new();
    while rdr.read_byte_record(&mut rec).map_err(bad)? {
        for (i, (pos, _)) in positions.iter().enumerate() {
            if !alive[i] {
                continue;
            }
            let cell = rec.get(*pos).unwrap_or(b"");
            let cell = cell.trim_ascii();
            let key: &[u8] = if cell.is_empty() { b"(missing)" } else { cell };
            let code = match lookup[i].get(key) {
                Some(c) => *c,
                None => {
                    if lookup[i].len() >= MAX_TRACKED {
                        alive[i] = false;
                        out[i].codes = Vec::new();
                        continue;
                    }
                    let c = out[i].values.len() as u32;
                    out[i]
                        .values
                        .push(String::from_utf8_lossy(key).into_owned());
                    lookup[i].insert(key.to_vec(), c);
                    c
                }
            };
            out[i].codes.push(code);
        }
    }
    Ok(out
        .into_iter()
        .zip(alive)
        .filter(|(_, a)| *a)
        .map(|(t, _)| t)
        .collect())
}
