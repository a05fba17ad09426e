//! The in-memory customer table: one id column and numeric columns stored column by
//! column as `f64` (NaN marks a missing cell), which is what every later stage reads.

/// Customer ids packed in one buffer: one allocation for millions of ids instead of one each.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ids {
    buf: String,
    ends: Vec<usize>,
}

impl Ids {
    pub fn with_capacity(rows: usize) -> Self {
        Ids {
            buf: String::with_capacity(rows * 8),
            ends: Vec::with_capacity(rows),
        }
    }
    pub fn push(&mut self, id: &str) {
        self.buf.push_str(id);
        self.ends.push(self.buf.len());
    }
    /// Appends every id of `other`, in order.
    pub fn append(&mut self, other: &Ids) {
        let base = self.buf.len();
        self.buf.push_str(&other.buf);
        self.ends.extend(other.ends.iter().map(|e| e + base));
    }
    /// Reserves room for `rows` more ids taking `bytes` bytes in all.
    pub fn reserve(&mut self, rows: usize, bytes: usize) {
        self.ends.reserve(rows);
        self.buf.reserve(bytes);
    }
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }
    /// Gives back the room reserved and not used.
    pub fn shrink_to_fit(&mut self) {
        self.ends.shrink_to_fit();
        self.buf.shrink_to_fit();
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
    /// Keeps only the rows where `keep` is true (used by `--missing drop`).
    pub fn retain(&self, keep: &[bool]) -> Ids {
        let mut out = Ids::with_capacity(keep.iter().filter(|k| **k).count());
        for (i, k) in keep.iter().enumerate() {
            if *k {
                out.push(self.get(i));
            }
        }
        out
    }
}

/// What a header column turned out to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    /// Every non-empty cell parsed as a finite number.
    Numeric,
    /// At least one non-empty cell is not a number (ids, names, codes).
    Text,
    /// Every cell is empty.
    Empty,
}

/// Per-column facts the reader gathers for every header column, loaded or not.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    pub kind: ColumnKind,
    pub missing: u64,
    /// For text columns: the first cell that is not a number, and its line (or row, see
    /// [`Table::row_based`]).
    pub first_text: Option<(u64, String)>,
}

/// A numeric column; NaN marks a missing cell.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub values: Vec<f64>,
}

/// A loaded customer table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Human name of where the data came from (file path or redacted URL).
    pub source: String,
    /// Name of the id column, or None when ids are row numbers.
    pub id_column: Option<String>,
    pub ids: Ids,
    /// Loaded numeric columns, in header order.
    pub columns: Vec<Column>,
    /// Every header column, loaded or not, in header order.
    pub info: Vec<ColumnInfo>,
    /// True when the positions in `info` are row numbers (databases, Parquet, JSON)
    /// rather than line numbers of a text file.
    pub row_based: bool,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.ids.len()
    }
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
    pub fn header_names(&self) -> Vec<&str> {
        self.info.iter().map(|c| c.name.as_str()).collect()
    }
}
