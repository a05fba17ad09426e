//! The in-memory customer table: one id column and numeric columns stored column by
//! column as `f64` (NaN marks a missing cell), which is what every later stage reads.

/// Customer ids packed in one buffer: one allocation for millions of ids instead of one
/// each. Ends are 32-bit (4 bytes a customer instead of 8; at a hundred million customers
/// that is 400 MB), with the rows where the buffer passed each further 4 GiB listed apart.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ids {
    buf: String,
    /// End of each id in `buf`, modulo 2^32.
    ends: Vec<u32>,
    /// For each multiple of 2^32 the buffer passed, the first row whose end is past it.
    wraps: Vec<usize>,
}

impl Ids {
    /// An empty list with room for `rows` ids of about eight bytes each.
    pub fn with_capacity(rows: usize) -> Self {
        Ids {
            buf: String::with_capacity(rows * 8),
            ends: Vec::with_capacity(rows),
            wraps: Vec::new(),
        }
    }
    /// Records the end of the id just appended to `buf`.
    fn push_end(&mut self, end: usize) {
        while (self.wraps.len() as u64) < (end as u64 >> 32) {
            self.wraps.push(self.ends.len());
        }
        self.ends.push(end as u32);
    }
    /// End of id `i` in `buf`.
    fn end(&self, i: usize) -> usize {
        let high = self.wraps.partition_point(|&w| w <= i) as u64;
        ((high << 32) | self.ends[i] as u64) as usize
    }
    /// Appends one id.
    pub fn push(&mut self, id: &str) {
        self.buf.push_str(id);
        self.push_end(self.buf.len());
    }
    /// Appends every id of `other`, in order.
    pub fn append(&mut self, other: &Ids) {
        let base = self.buf.len();
        self.buf.push_str(&other.buf);
        self.ends.reserve(other.len());
        for i in 0..other.len() {
            self.push_end(base + other.end(i));
        }
    }
    /// Reserves room for `rows` more ids taking `bytes` bytes in all.
    pub fn reserve(&mut self, rows: usize, bytes: usize) {
        self.ends.reserve(rows);
        self.buf.reserve(bytes);
    }
    /// Removes every id, keeping the memory for the next batch.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
        self.wraps.clear();
    }
    /// Gives back the room reserved and not used.
    pub fn shrink_to_fit(&mut self) {
        self.ends.shrink_to_fit();
        self.buf.shrink_to_fit();
    }
    /// Number of ids (one per customer).
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// The id of row `i` (panics when `i` is out of range, as slice indexing does).
    pub fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.end(i - 1) };
        &self.buf[start..self.end(i)]
    }
    /// Every id, in row order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }
    /// Counts rows whose id already appeared.
    pub fn count_duplicates(&self) -> u64 {
        self.repeats().iter().map(|r| r.len() as u64 - 1).sum()
    }

    /// The first row whose id already appeared, with the row where it first did:
    /// `(earlier, repeating)`, rows counted from 0.
    pub fn first_duplicate(&self) -> Option<(usize, usize)> {
        self.repeats()
            .iter()
            .map(|r| (r[0], r[1]))
            .min_by_key(|p| p.1)
    }

    /// The rows of every id that appears more than once, in row order per id: the ids'
    /// hashes are sorted (8 bytes a customer, no per-id allocation), and only rows whose
    /// hash repeats are compared.
    fn repeats(&self) -> Vec<Vec<usize>> {
        let ids = self;
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hasher = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
        let mut hashes: Vec<u64> = (0..ids.len())
            .map(|i| hasher.hash_one(ids.get(i)))
            .collect();
        hashes.sort_unstable();
        let mut repeated: Vec<u64> = hashes
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        drop(hashes);
        if repeated.is_empty() {
            return Vec::new();
        }
        repeated.dedup();
        let mut keyed: Vec<(u64, u32)> = (0..ids.len())
            .filter_map(|i| {
                let h = hasher.hash_one(ids.get(i));
                repeated.binary_search(&h).is_ok().then_some((h, i as u32))
            })
            .collect();
        keyed.sort_unstable();
        let mut out = Vec::new();
        for run in keyed.chunk_by(|a, b| a.0 == b.0) {
            if run.len() < 2 {
                continue;
            }
            // Same hash: the exact ids decide (sorted by id, then row).
            let mut group: Vec<(&str, usize)> = run
                .iter()
                .map(|&(_, r)| (ids.get(r as usize), r as usize))
                .collect();
            group.sort_unstable();
            for same in group.chunk_by(|a, b| a.0 == b.0) {
                if same.len() > 1 {
                    out.push(same.iter().map(|&(_, r)| r).collect());
                }
            }
        }
        out
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
    /// Header name.
    pub name: String,
    /// What the column holds, which decides whether it can be a feature.
    pub kind: ColumnKind,
    /// Missing cells in the column (blank, or NULL in a database or Parquet).
    pub missing: u64,
    /// For text columns: the first cell that is not a number, and its line (or row, see
    /// [`Table::row_based`]).
    pub first_text: Option<(u64, String)>,
}

impl ColumnInfo {
    /// What a reader assumes of a header column before its cells say otherwise: numeric,
    /// nothing missing.
    pub fn numeric(name: &str) -> Self {
        ColumnInfo {
            name: name.to_string(),
            kind: ColumnKind::Numeric,
            missing: 0,
            first_text: None,
        }
    }
}

/// A numeric column; NaN marks a missing cell.
#[derive(Debug, Clone)]
pub struct Column {
    /// Header name.
    pub name: String,
    /// One value per row, in row order.
    pub values: Vec<f64>,
}

/// The warning for an id column whose ids repeat (`repeats` rows repeat an earlier id):
/// one wording for every command that reads ids.
pub fn ids_not_unique(id_column: &str, repeats: u64) -> String {
    format!("id column {id_column} is not unique: {repeats} rows repeat an earlier id; check the extract")
}

/// A loaded customer table.
#[derive(Debug, Clone)]
pub struct Table {
    /// Human name of where the data came from (file path or redacted URL).
    pub source: String,
    /// Name of the id column, or None when ids are row numbers.
    pub id_column: Option<String>,
    /// The id of every row (row numbers from 1 when there is no id column).
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
    /// Keeps only the rows where `keep` is true, in every column and the ids alike (one
    /// filter, so they cannot fall out of step), and gives back the ids of every row as
    /// they were, so outputs can still list the customers that were dropped.
    pub fn retain_rows(&mut self, keep: &[bool]) -> Ids {
        debug_assert_eq!(keep.len(), self.rows());
        let kept_ids = self.ids.retain(keep);
        for col in &mut self.columns {
            retain_values(&mut col.values, keep);
        }
        std::mem::replace(&mut self.ids, kept_ids)
    }

    /// Number of customers.
    pub fn rows(&self) -> usize {
        self.ids.len()
    }
    /// The loaded numeric column `name`, if it was loaded.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
    /// Position of column `name` in `columns`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
    /// Every header column's name, loaded or not, in header order.
    pub fn header_names(&self) -> Vec<&str> {
        self.info.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Values per piece of a spilled column (512 KiB): the unit of writes and reads.
const SPILL_PIECE_VALUES: usize = 1 << 16;

/// Numeric columns kept in an unnamed temporary file instead of memory while the k sweep
/// runs (at ten million customers the columns only the profile reads are most of the
/// memory). Values are stored as their exact bits, so a column loaded back is the column
/// that was written, and every statistic computed from it is unchanged. The file has no
/// name: it disappears with the process, however the process ends.
#[derive(Debug)]
pub struct Spilled {
    file: std::fs::File,
    /// Reused for every write.
    buf: Vec<u8>,
    /// Where it is (for messages).
    dir: std::path::PathBuf,
    end: u64,
    columns: Vec<SpilledColumn>,
    /// Every loaded column, in the order the reader loaded them, when that is not the
    /// header's (see [`Spilled::set_order`]).
    order: Option<Vec<String>>,
}

#[derive(Debug)]
struct SpilledColumn {
    name: String,
    /// (byte offset, values) of each piece, in row order.
    pieces: Vec<(u64, usize)>,
    rows: usize,
}

impl Spilled {
    /// An empty store in `dir` (the output's temporary directory, on the disk the
    /// outputs go to).
    pub fn create_in(dir: &std::path::Path) -> crate::error::Result<Self> {
        let file = tempfile::tempfile_in(dir)
            .map_err(|e| crate::error::Error::io(dir, "creating a temporary file in", e))?;
        Ok(Spilled {
            file,
            buf: Vec::new(),
            dir: dir.to_path_buf(),
            end: 0,
            columns: Vec::new(),
            order: None,
        })
    }

    /// Appends `values` to column `name` (created at its first piece).
    pub fn append(&mut self, name: &str, values: &[f64]) -> crate::error::Result<()> {
        use std::os::unix::fs::FileExt;
        // Written in slices of a reused buffer (a whole column's worth of fresh memory
        // per call cost more than the write), each slice a piece read back on its own.
        let i = match self.columns.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                self.columns.push(SpilledColumn {
                    name: name.to_string(),
                    pieces: Vec::new(),
                    rows: 0,
                });
                self.columns.len() - 1
            }
        };
        for part in values.chunks(SPILL_PIECE_VALUES) {
            self.buf.clear();
            self.buf.resize(part.len() * 8, 0);
            for (out, v) in self.buf.chunks_exact_mut(8).zip(part) {
                out.copy_from_slice(&v.to_bits().to_le_bytes());
            }
            self.file.write_all_at(&self.buf, self.end).map_err(|e| {
                crate::error::Error::io(&self.dir, "writing a temporary file in", e)
            })?;
            let c = &mut self.columns[i];
            c.pieces.push((self.end, part.len()));
            c.rows += part.len();
            self.end += self.buf.len() as u64;
        }
        Ok(())
    }

    /// Moves a whole column out of `table` into the file.
    pub fn take(&mut self, table: &mut Table, name: &str) -> crate::error::Result<()> {
        if let Some(i) = table.column_index(name) {
            let col = table.columns.remove(i);
            self.append(&col.name, &col.values)?;
        }
        Ok(())
    }

    /// Records the order of every loaded column, in the file or not, for a reader whose
    /// table is not in header order (required columns first): the profile lists the
    /// columns in this order, as it would had nothing been kept here.
    pub fn set_order(&mut self, names: Vec<String>) {
        self.order = Some(names);
    }

    /// Position of column `name` in the order [`Spilled::set_order`] recorded.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.order.as_ref()?.iter().position(|n| n == name)
    }

    /// True when the reader recorded its order ([`Spilled::set_order`]).
    pub fn has_order(&self) -> bool {
        self.order.is_some()
    }

    /// Forgets a column (it turned out to be text).
    pub fn forget(&mut self, name: &str) {
        self.columns.retain(|c| c.name != name);
    }

    /// The columns in the file, in the order they were first written.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// True when column `name` was spilled (and not forgotten).
    pub fn contains(&self, name: &str) -> bool {
        self.columns.iter().any(|c| c.name == name)
    }

    /// Rows stored for column `name`.
    pub fn rows(&self, name: &str) -> Option<usize> {
        self.columns.iter().find(|c| c.name == name).map(|c| c.rows)
    }

    /// Reads column `name` back, bit for bit. Safe from several threads at once.
    pub fn load(&self, name: &str) -> crate::error::Result<Option<Vec<f64>>> {
        let mut values = Vec::new();
        Ok(self.load_into(name, &mut values)?.then_some(values))
    }

    /// [`Spilled::load`] into `values` (cleared first), reusing its memory: at ten million
    /// customers, fresh memory for every column cost more than reading them back.
    /// Returns false (and leaves `values` empty) when the column is not in the file.
    pub fn load_into(&self, name: &str, values: &mut Vec<f64>) -> crate::error::Result<bool> {
        use std::os::unix::fs::FileExt;
        values.clear();
        let Some(c) = self.columns.iter().find(|c| c.name == name) else {
            return Ok(false);
        };
        values.reserve(c.rows);
        let mut bytes = Vec::new();
        for &(at, count) in &c.pieces {
            bytes.resize(count * 8, 0);
            self.file.read_exact_at(&mut bytes, at).map_err(|e| {
                crate::error::Error::io(&self.dir, "reading a temporary file in", e)
            })?;
            values.extend(bytes.chunks_exact(8).map(|b| {
                f64::from_bits(u64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            }));
        }
        Ok(true)
    }
}

/// Keeps the values where `keep` is true (a column read back later, as the table's were).
pub fn retain_values(values: &mut Vec<f64>, keep: &[bool]) {
    let mut i = 0;
    values.retain(|_| {
        i += 1;
        keep[i - 1]
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_past_four_gib_of_text() {
        // The ends' high bits, without 4 GiB of text: ends set as if the buffer were
        // that long.
        let mut ids = Ids::default();
        ids.push("a");
        ids.push_end((1usize << 32) + 1);
        ids.push_end((2usize << 32) + 5);
        ids.push_end((2usize << 32) + 7);
        assert_eq!(ids.wraps, vec![1, 2]);
        assert_eq!(ids.end(0), 1);
        assert_eq!(ids.end(1), (1 << 32) + 1);
        assert_eq!(ids.end(2), (2 << 32) + 5);
        assert_eq!(ids.end(3), (2 << 32) + 7);
        let mut both = Ids::default();
        both.push("x");
        let mut more = Ids::default();
        more.push("yz");
        more.push("");
        both.append(&more);
        assert_eq!(both.iter().collect::<Vec<_>>(), vec!["x", "yz", ""]);
        let mut dup = Ids::default();
        for id in ["a", "b", "a", "", "", "c", "a"] {
            dup.push(id);
        }
        assert_eq!(dup.count_duplicates(), 3);
        assert_eq!(dup.first_duplicate(), Some((0, 2)));
        assert_eq!(both.count_duplicates(), 0);
        assert_eq!(both.first_duplicate(), None);
        let mut late = Ids::default();
        for id in ["x", "y", "z", "y", "x"] {
            late.push(id);
        }
        assert_eq!(late.first_duplicate(), Some((1, 3)));
    }

    #[test]
    fn spilled_columns_come_back_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spilled::create_in(dir.path()).unwrap();
        let a = [1.5, f64::NAN, -0.0, 1e15, 5e-324];
        s.append("A", &a[..2]).unwrap();
        s.append("B", &[7.0]).unwrap();
        s.append("A", &a[2..]).unwrap();
        let back = s.load("A").unwrap().unwrap();
        assert_eq!(
            back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(s.rows("A"), Some(5));
        assert_eq!(s.load("B").unwrap(), Some(vec![7.0]));
        s.forget("B");
        assert_eq!(s.load("B").unwrap(), None);
        assert_eq!(s.names().collect::<Vec<_>>(), vec!["A"]);
    }
}
