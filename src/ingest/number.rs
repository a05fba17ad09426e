//! Strict number parsing, shared by every source that reads numbers as text (the CSV
//! reader, the table builder of SQL, JSON and Parquet values, the scoring service).
//!
//! An empty cell is missing; anything else must be a finite decimal number no larger
//! than [`MAX_ABS`] in magnitude. NaN, infinity, thousands separators and values beyond
//! that are refused (the caller names the line, column and value), because silently
//! reading them would skew every centroid (or overflow the sums of the profile into
//! infinities).

/// The outcome of parsing one numeric cell.
#[derive(Debug, PartialEq)]
pub enum Cell {
    /// An empty (or blank) cell.
    Missing,
    /// A finite number within [`MAX_ABS`].
    Value(f64),
    /// Not accepted; why, worded to follow the value in a message.
    Bad(&'static str),
}

/// Largest magnitude accepted for a number. Far above any card amount, and low enough
/// that sums, means and variances over billions of customers stay finite and exact to
/// the cent; a larger value is a unit error or a corrupt cell. Sources that read binary
/// numbers (not text) check theirs with [`check_value`].
pub const MAX_ABS: f64 = 1e15;

/// Why a cell that is plain text is refused (other sources word it their own way).
pub const NOT_A_NUMBER: &str =
    "is not a number; fix the cell, or leave it empty to mark it missing";

/// Judges a number read by any source: finite and within [`MAX_ABS`].
pub fn check_value(v: f64) -> Cell {
    if v.is_nan() || v.is_infinite() {
        Cell::Bad("is not a finite number (NaN and infinity are not accepted); leave the cell empty to mark it missing")
    } else if v.abs() > MAX_ABS {
        Cell::Bad("is larger than 1e15 in magnitude, beyond any amount cardseg accepts (64-bit sums of such values lose precision or overflow); check the data for wrong units or corrupt values")
    } else {
        Cell::Value(v)
    }
}

/// Strict number parsing shared by every text source (CSV, JSON strings, SQL text).
pub fn parse_number(raw: &[u8]) -> Cell {
    let s = raw.trim_ascii();
    if s.is_empty() {
        return Cell::Missing;
    }
    if let Some(v) = fast_decimal(s) {
        return check_value(v);
    }
    if !s
        .iter()
        .all(|b| matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E'))
    {
        let lower = String::from_utf8_lossy(s).to_ascii_lowercase();
        let lower = lower.trim_start_matches(['+', '-']);
        if lower == "nan" || lower.starts_with("inf") {
            return Cell::Bad("is not a finite number (NaN and infinity are not accepted); leave the cell empty to mark it missing");
        }
        if s.contains(&b',') && s.iter().any(u8::is_ascii_digit) {
            return Cell::Bad("is not a number (thousands separators and decimal commas are not accepted; write 1234.5)");
        }
        return Cell::Bad(NOT_A_NUMBER);
    }
    // SAFETY-free: the bytes are all ASCII, so this is valid UTF-8.
    let text = std::str::from_utf8(s).unwrap_or("");
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => check_value(v),
        Ok(_) => Cell::Bad("is outside the range of a 64-bit number"),
        Err(_) => Cell::Bad(NOT_A_NUMBER),
    }
}

/// Powers of ten exactly representable as `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Powers of ten for up to eight more digits.
const POW10_U64: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Most digits a plain decimal may have: 19 digits always fit in a `u64`.
const MAX_DIGITS: usize = 19;

/// Eight bytes of `s` from `i`, little-endian (the byte at `i` lowest); past the end of
/// `s` zero bytes, which are not digits.
#[inline(always)]
fn word(s: &[u8], i: usize) -> u64 {
    match s.get(i..i + 8) {
        Some(w) => u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]),
        None => {
            let mut w = [0u8; 8];
            let rest = s.get(i..).unwrap_or(&[]);
            w[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(w)
        }
    }
}

/// How many of the eight bytes of `w` (from the lowest) are ASCII digits before the
/// first that is not, and the bytes with each digit turned into its value (`b ^ b'0'`).
/// A byte is a digit when `b ^ 0x30 < 10`: adding 0x76 sets its top bit otherwise (or it
/// was set already). A carry out of a byte only happens above a byte that is not a
/// digit, so the lowest flagged byte is exactly the first that is not.
#[inline(always)]
fn digit_run(w: u64) -> (usize, u64) {
    let x = w ^ 0x3030_3030_3030_3030;
    let flagged = (x.wrapping_add(0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080;
    ((flagged.trailing_zeros() / 8) as usize, x)
}

/// The value of the first `n` (1 to 8) digit values in the bytes of `x`, the lowest
/// byte the most significant digit: they are shifted up so the bytes below are leading
/// zeros, then combined pairwise (two, four, eight digits) with three multiplications.
#[inline(always)]
fn digits_value(x: u64, n: usize) -> u64 {
    let v = x << (8 * (8 - n));
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    let lo = (v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let hi = ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    lo.wrapping_add(hi) >> 32
}

/// Reads the digits of `s` from `i` into `m` (counting them in `count`), eight bytes at
/// a time; returns where they end. None when there are more than [`MAX_DIGITS`].
#[inline(always)]
fn digits(s: &[u8], mut i: usize, m: &mut u64, count: &mut usize) -> Option<usize> {
    loop {
        let (n, x) = digit_run(word(s, i));
        if n > 0 {
            *count += n;
            if *count > MAX_DIGITS {
                return None;
            }
            *m = *m * POW10_U64[n] + digits_value(x, n);
        }
        i += n;
        if n < 8 {
            return Some(i);
        }
    }
}

/// The plain decimal that `s` starts with (`[+-]digits[.digits]`, `.5` and `5.`
/// included, at least one and at most 19 digits, their integer `m` at most 2^53) and how
/// many bytes it takes; what follows is the caller's business (the end of the cell, a
/// delimiter). None when `s` does not start with one, for the general path.
///
/// `m` and the power of ten `10^f` (`f` the digits after the dot, at most 19) are both
/// exact in `f64`, and IEEE division rounds correctly, so `m / 10^f` is the correctly
/// rounded value of the decimal: bit for bit what `str::parse::<f64>` gives (the
/// Clinger fast path; the tests check it against the standard parser on millions of
/// strings). Everything else (exponents, more digits) is left to the standard parser,
/// which is exact everywhere (Eisel-Lemire with a big-number fallback).
#[inline(always)]
pub fn plain_decimal(s: &[u8]) -> Option<(f64, usize)> {
    let (m, frac, neg, len) = plain_parts(s)?;
    Some((decimal_value(m, frac, neg), len))
}

/// [`MAX_ABS`] as an integer: a plain decimal without digits after the dot is beyond it
/// exactly when its digits are (a plain decimal with any is at most 2^53 / 10, below it).
pub const MAX_ABS_INT: u64 = 1_000_000_000_000_000;

/// The plain decimal that `s` starts with, in parts: its digits as an integer `m` (at
/// most 2^53), how many of them follow the dot (at most 19), its sign, and how many
/// bytes it takes. [`decimal_value`] makes the number; [`plain_decimal`] is both.
#[inline(always)]
pub fn plain_parts(s: &[u8]) -> Option<(u64, usize, bool, usize)> {
    let (neg, from) = match s.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut m = 0u64;
    let mut count = 0usize;
    let mut i = digits(s, from, &mut m, &mut count)?;
    let mut frac = 0;
    if s.get(i) == Some(&b'.') {
        let whole = count;
        i = digits(s, i + 1, &mut m, &mut count)?;
        frac = count - whole;
    }
    if count == 0 || m > 1 << 53 {
        return None;
    }
    Some((m, frac, neg, i))
}

/// The value of the plain decimal in parts ([`plain_parts`]): `m / 10^frac`, correctly
/// rounded, with its sign.
#[inline(always)]
pub fn decimal_value(m: u64, frac: usize, neg: bool) -> f64 {
    let v = m as f64 / POW10[frac];
    if neg {
        -v
    } else {
        v
    }
}

/// A whole cell that is a plain decimal (`[+-]digits[.digits]`, at most 19 digits) the
/// quick way, as [`plain_decimal`] reads it (same value, bit for bit) but a byte at a
/// time: a cell on its own is mostly shorter than the eight bytes [`plain_decimal`] reads
/// at once. None sends anything else to the general path.
#[inline]
fn fast_decimal(s: &[u8]) -> Option<f64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    let mut m: u64 = 0;
    let mut count = 0usize;
    let mut frac: Option<usize> = None;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(b - b'0');
                count += 1;
            }
            b'.' if frac.is_none() => frac = Some(digits.len() - i - 1),
            _ => return None,
        }
    }
    // 20 bytes with a dot are 19 digits at most: no overflow above.
    if count == 0 || count > MAX_DIGITS || m > (1u64 << 53) {
        return None;
    }
    let f = frac.unwrap_or(0);
    if f >= POW10.len() {
        return None;
    }
    let v = m as f64 / POW10[f];
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_abs_int_is_max_abs() {
        assert_eq!(MAX_ABS_INT as f64, MAX_ABS);
        assert!(((1u64 << 53) as f64 / 10.0) < MAX_ABS);
    }

    #[test]
    fn strict_numbers() {
        assert_eq!(parse_number(b" 1.5 "), Cell::Value(1.5));
        assert_eq!(parse_number(b"-2e3"), Cell::Value(-2000.0));
        assert_eq!(parse_number(b""), Cell::Missing);
        assert_eq!(parse_number(b"   "), Cell::Missing);
        assert!(matches!(parse_number(b"NaN"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"-inf"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"1,234.5"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"1e400"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"1e300"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"-2e15"), Cell::Bad(_)));
        assert_eq!(parse_number(b"-1e15"), Cell::Value(-1e15));
        assert!(matches!(parse_number(b"12abc"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"--1"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"."), Cell::Bad(_)));
        assert!(matches!(parse_number(b"1.2.3"), Cell::Bad(_)));
        assert!(matches!(parse_number(b"-"), Cell::Bad(_)));
    }

    /// The quick decimal path gives exactly what `str::parse::<f64>` gives, including
    /// signed zeros, leading zeros, bare dots and numbers at its digit limits.
    #[test]
    fn fast_decimals_equal_std_parse() {
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "+0",
            "-0.0",
            "0.1",
            ".5",
            "5.",
            "-.5",
            "007.250",
            "1234567890123456789",
            "9007199254740993",
            "9007199254740992",
            "0.30000000000000004",
            "123456.789012",
            "0.0000000000000000000001",
            "1e5",
            "+12.5",
            "99999999999999999999",
            "3328.717012",
            "0.864511",
            "1000000000000000",
            "-999999999999999.9",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 19 + 1) as usize;
            let m = x >> 5;
            let mut t = format!("{m}");
            t.truncate(digits);
            let dot = ((x >> 50) as usize) % (t.len() + 1);
            t.insert(dot, '.');
            if x & 1 == 1 {
                t.insert(0, '-');
            }
            cases.push(t);
        }
        for c in &cases {
            let want = c.parse::<f64>().ok();
            let got = fast_decimal(c.as_bytes());
            if let Some(g) = got {
                assert_eq!(Some(g.to_bits()), want.map(f64::to_bits), "{c}");
            }
            let padded = format!("{c},");
            for text in [c.as_str(), padded.as_str()] {
                // A prefix (`1` of `1e5`) is the caller's to refuse.
                match plain_decimal(text.as_bytes()) {
                    Some((g, n)) if n == c.len() => {
                        assert_eq!(Some(g.to_bits()), want.map(f64::to_bits), "{c}")
                    }
                    _ => {}
                }
            }
            match (parse_number(c.as_bytes()), want) {
                (Cell::Value(v), Some(w)) => assert_eq!(v.to_bits(), w.to_bits(), "{c}"),
                (Cell::Bad(_), _) => {}
                (other, w) => panic!("{c}: {other:?} vs {w:?}"),
            }
        }
    }
}
