//! The quick path of the plain-text reader: a record parsed in one pass over its bytes,
//! each field split and its number read together, eight bytes at a time. It takes only
//! records nothing can go wrong in, and adds them exactly as [`Sink::record`] would;
//! anything else (a field count that differs from the header, a cell that is not a
//! plain decimal, spaces, exponents, ids that are not UTF-8, the first text of a column)
//! goes to [`Sink::record`], so results and messages do not depend on which path read a
//! record (the tests in `tests.rs` compare every path on files full of such records).

use super::accumulate::Sink;
use crate::ingest::number::{plain_decimal, MAX_ABS};
use crate::ingest::plan::Slot;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The top bit of every zero byte of `y`, and perhaps of bytes above the lowest zero
/// byte (a borrow); the lowest set bit is exact, which is all the callers use.
#[inline(always)]
fn zero_bytes(y: u64) -> u64 {
    y.wrapping_sub(ONES) & !y & HIGHS
}

/// Where the field starting at `p` ends: the first delimiter (`delims`: the delimiter
/// in every byte), `\n` or `\r` at or after `p`, or the end of `b`. Eight bytes at a time;
/// past the end of `b` the bytes read are line ends.
#[inline(always)]
fn field_end(b: &[u8], mut p: usize, delims: u64) -> usize {
    loop {
        let w = match b.get(p..p + 8) {
            Some(w) => u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
            None => {
                let mut w = [b'\n'; 8];
                let rest = b.get(p..).unwrap_or(&[]);
                w[..rest.len()].copy_from_slice(rest);
                u64::from_le_bytes(w)
            }
        };
        let hit = zero_bytes(w ^ delims)
            | zero_bytes(w ^ (u64::from(b'\n') * ONES))
            | zero_bytes(w ^ (u64::from(b'\r') * ONES));
        if hit != 0 {
            return (p + hit.trailing_zeros() as usize / 8).min(b.len());
        }
        p += 8;
    }
}

impl Sink<'_, '_, '_> {
    /// Adds the record starting at `p` of `b` (text without quotes), read in one pass,
    /// when it is plain: as many fields as the header, every loaded cell empty or a plain
    /// decimal ([`plain_decimal`]) within [`MAX_ABS`], the id valid UTF-8, no text in a
    /// skipped column whose first text is not known yet. Returns where the record ends
    /// (at a line end or the end of `b`). Otherwise adds nothing and returns None: the
    /// caller reads the record with [`Sink::record`], which gives the same result for a
    /// plain record, and the right error or bookkeeping for any other.
    #[inline]
    pub(super) fn plain_record(&mut self, b: &[u8], p: usize) -> Option<usize> {
        let rows = self.part.rows as usize;
        let (done, end) = self.plain_fields(b, p);
        match end {
            Some(end) => {
                for &j in &self.empties {
                    self.part.missing[j] += 1;
                }
                self.empties.clear();
                self.part.rows += 1;
                Some(end)
            }
            None => {
                // Undo the values added for the fields read so far.
                for slot in &self.slots[..done] {
                    if let Slot::Load { col, .. } = *slot {
                        self.part.values[col].truncate(rows);
                    }
                }
                self.empties.clear();
                None
            }
        }
    }

    /// Reads the fields of the record at `p`, adding loaded values and noting empty
    /// cells in `empties`, the id last. Returns how many fields added values, and where
    /// the record ends if all of it is plain.
    #[inline(always)]
    fn plain_fields(&mut self, b: &[u8], mut p: usize) -> (usize, Option<usize>) {
        let n = self.slots.len();
        let d = self.lay.delimiter;
        let delims = u64::from(d) * ONES;
        let part = &mut *self.part;
        let mut id = None;
        let mut j = 0;
        loop {
            let start = p;
            match self.slots[j] {
                Slot::Load { col, .. } => {
                    let at_end = match b.get(p) {
                        None => true,
                        Some(&c) => c == d || c == b'\n' || c == b'\r',
                    };
                    if at_end {
                        part.values[col].push(f64::NAN);
                        self.empties.push(j);
                    } else {
                        let Some((v, len)) = plain_decimal(&b[p..]) else {
                            return (j, None);
                        };
                        if v.abs() > MAX_ABS {
                            return (j, None);
                        }
                        part.values[col].push(v);
                        p += len;
                    }
                }
                Slot::Id => {
                    p = field_end(b, p, delims);
                    if b[start..p].trim_ascii().is_empty() {
                        self.empties.push(j);
                    }
                    id = Some((start, p));
                }
                Slot::Skip => {
                    p = field_end(b, p, delims);
                    if b[start..p].trim_ascii().is_empty() {
                        self.empties.push(j);
                    } else if part.first[j].is_none() {
                        return (j, None);
                    }
                }
            }
            j += 1;
            let next = b.get(p).copied();
            if j == n {
                if !matches!(next, None | Some(b'\n' | b'\r')) {
                    return (j, None);
                }
                break;
            }
            if next != Some(d) {
                return (j, None);
            }
            p += 1;
        }
        if let Some((a, z)) = id {
            let raw = &b[a..z];
            let Ok(text) = std::str::from_utf8(raw) else {
                return (n, None);
            };
            part.ids.push(text.trim());
        }
        (n, Some(p))
    }
}
