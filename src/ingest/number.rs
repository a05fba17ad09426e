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

/// Plain decimals (`[+-]digits[.digits]`, at most 19 digits) the quick way: the digits
/// as an integer `m` below 2^53 over a power of ten up to 10^22. Both are exact in
/// `f64` and IEEE division rounds correctly, so `m / 10^f` is the correctly rounded
/// value, bit for bit what `str::parse::<f64>` gives (this is its own fast path, without
/// the UTF-8 check and the general grammar). None sends anything else to the general path.
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
    if count == 0 || count > 19 || m > (1u64 << 53) {
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
            match (parse_number(c.as_bytes()), want) {
                (Cell::Value(v), Some(w)) => assert_eq!(v.to_bits(), w.to_bits(), "{c}"),
                (Cell::Bad(_), _) => {}
                (other, w) => panic!("{c}: {other:?} vs {w:?}"),
            }
        }
    }
}
