//! The quick path of the plain-text reader: a record parsed in one pass over its bytes,
//! each field split and its number read together, eight bytes at a time. It takes only
//! records nothing can go wrong in, and adds them exactly as [`Sink::record`] would;
//! anything else (a field count that differs from the header, a cell that is not a
//! plain decimal, spaces, exponents, ids that are not UTF-8, the first text of a column)
//! goes to [`Sink::record`], so results and messages do not depend on which path read a
//! record (the tests in `tests.rs` compare every path on files full of such records).

use super::accumulate::{Part, Sink};
use crate::ingest::number::{decimal_value, plain_parts, MAX_ABS_INT};
use crate::ingest::plan::Slot;

/// Bits of a packed plain decimal ([`pack`]): the digits `m` (at most 2^53) in the low
/// 54 bits, the digits after the dot (at most 19) in the next 5, the sign above them.
const M_BITS: u32 = 54;

/// Every packed decimal is below this, every NaN (an empty cell) above it.
const PACKED_BELOW: u64 = 1 << (M_BITS + 6);

/// A plain decimal in parts, stored as it is read, turned into its value by [`unpack`]
/// once the chunk is read: the division then runs in a loop of its own instead of
/// holding up the reading of the next cell.
#[inline(always)]
fn pack(m: u64, frac: usize, neg: bool) -> f64 {
    f64::from_bits(m | (frac as u64) << M_BITS | u64::from(neg) << (M_BITS + 5))
}

/// Turns packed decimals ([`pack`]) into their values ([`decimal_value`]: the same bits
/// as [`crate::ingest::number::plain_decimal`]); empty cells (NaN) stay as they are.
fn unpack(values: &mut [f64]) {
    for x in values {
        let u = x.to_bits();
        if u < PACKED_BELOW {
            *x = decimal_value(
                u & ((1 << M_BITS) - 1),
                ((u >> M_BITS) & 31) as usize,
                (u >> (M_BITS + 5)) & 1 == 1,
            );
        }
    }
}

impl Part {
    /// Gives the values the quick path stored packed ([`pack`]) their numbers; the rows
    /// in `slow` were read by [`Sink::record`] and hold numbers already.
    pub(super) fn unpack(&mut self) {
        for col in &mut self.values {
            let mut from = 0usize;
            for &r in self.slow.iter().chain(std::iter::once(&usize::MAX)) {
                let to = r.min(col.len());
                if from < to {
                    unpack(&mut col[from..to]);
                }
                from = r.saturating_add(1);
                if from >= col.len() {
                    break;
                }
            }
        }
    }
}

/// Where fields end, 64 bytes at a time: a bit for every delimiter, `\n` or `\r` in
/// the window of `b` starting at `base` (bytes past the end of `b` count as line ends).
/// Finding the next field's start from it takes a few instructions that do not wait for
/// the number before it to be read, so the numbers of a record are read side by side.
pub(super) struct Structure {
    base: usize,
    mask: u64,
}

impl Default for Structure {
    fn default() -> Self {
        // No window yet: any position is 64 or more past this one (wrapping), so the
        // first lookup reads one, and the base never overflows.
        Structure {
            base: usize::MAX / 2,
            mask: 0,
        }
    }
}

/// The window's bits for `b[base..base + 64]`.
#[inline(always)]
fn window(b: &[u8], base: usize, d: u8) -> u64 {
    match b.get(base..base + 64) {
        Some(w) => window_full(w, d),
        None => {
            let mut m = 0u64;
            for k in 0..64 {
                let hit = match b.get(base + k) {
                    None => true,
                    Some(&c) => c == d || c == b'\n' || c == b'\r',
                };
                m |= u64::from(hit) << k;
            }
            m
        }
    }
}

/// [`window`] of 64 bytes, 16 at a time with SSE2 (part of every x86_64 target).
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn window_full(w: &[u8], d: u8) -> u64 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    assert!(w.len() >= 64);
    let mut m = 0u64;
    // SAFETY: SSE2 is enabled for this target (the cfg above); `w` holds at least 64
    // bytes (checked above), each load reads the 16 from 16 * k, and an unaligned load
    // has no alignment requirement.
    unsafe {
        let (dv, nl, cr) = (
            _mm_set1_epi8(d as i8),
            _mm_set1_epi8(b'\n' as i8),
            _mm_set1_epi8(b'\r' as i8),
        );
        for k in 0..4 {
            let v = _mm_loadu_si128(w.as_ptr().add(16 * k).cast::<__m128i>());
            let hit = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, dv), _mm_cmpeq_epi8(v, nl)),
                _mm_cmpeq_epi8(v, cr),
            );
            m |= u64::from(_mm_movemask_epi8(hit) as u16) << (16 * k);
        }
    }
    m
}

/// [`window`] of 64 bytes, a byte at a time.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
fn window_full(w: &[u8], d: u8) -> u64 {
    let mut m = 0u64;
    for (k, &c) in w[..64].iter().enumerate() {
        m |= u64::from(c == d || c == b'\n' || c == b'\r') << k;
    }
    m
}

impl Structure {
    /// Where the field starting at `p` ends: the first delimiter, `\n` or `\r` at or
    /// after `p`, or the end of `b` (`d`: the delimiter; `b` the same bytes every call).
    #[inline(always)]
    fn field_end(&mut self, b: &[u8], p: usize, d: u8) -> usize {
        let mut off = p.wrapping_sub(self.base);
        if off >= 64 {
            self.base = p;
            self.mask = window(b, p, d);
            off = 0;
        }
        loop {
            let m = self.mask & (!0u64 << off);
            if m != 0 {
                return (self.base + m.trailing_zeros() as usize).min(b.len());
            }
            self.base += 64;
            self.mask = window(b, self.base, d);
            off = 0;
        }
    }
}

impl Sink<'_, '_, '_> {
    /// Adds the record starting at `p` of `b` (text without quotes), read in one pass,
    /// when it is plain: as many fields as the header, every loaded cell empty or a plain
    /// decimal ([`plain_parts`]) within [`crate::ingest::number::MAX_ABS`] (stored
    /// packed: [`Part::unpack`] makes the numbers), the id valid UTF-8, no text in a
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
        let part = &mut *self.part;
        let at = &mut self.structure;
        let mut id = None;
        let mut j = 0;
        loop {
            let start = p;
            match self.slots[j] {
                Slot::Load { col, .. } => {
                    let end = at.field_end(b, p, d);
                    if end == p {
                        part.values[col].push(f64::NAN);
                        self.empties.push(j);
                    } else {
                        let Some((m, frac, neg, len)) = plain_parts(&b[p..]) else {
                            return (j, None);
                        };
                        if (frac == 0 && m > MAX_ABS_INT) || p + len != end {
                            return (j, None);
                        }
                        part.values[col].push(pack(m, frac, neg));
                        p = end;
                    }
                }
                Slot::Id => {
                    p = at.field_end(b, p, d);
                    if b[start..p].trim_ascii().is_empty() {
                        self.empties.push(j);
                    }
                    id = Some((start, p));
                }
                Slot::Skip => {
                    p = at.field_end(b, p, d);
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
