//! Text for people: counts with thousands separators, compact numbers, and Markdown-safe
//! text from the data. Ground layer: the report, `inspect`, the lifecycle files and the
//! terminal all format numbers the same way from here.

/// Splits a list of column names (`--features`, `--categorical`, ...) the way a CSV line
/// splits into cells, so that every legal column name can be given: names are separated by
/// commas and an unquoted name is trimmed; a name in double quotes keeps its commas and
/// spaces, with `""` inside standing for one quote. An empty name is refused.
pub fn column_list(s: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut chars = s.chars().peekable();
    fn skip_blanks(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
    }
    loop {
        skip_blanks(&mut chars);
        let name = if chars.peek() == Some(&'"') {
            chars.next();
            let mut name = String::new();
            loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "{s:?} has a quoted column name without its closing quote; end it with \" (a quote inside a name is written \"\")"
                        ))
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        name.push('"');
                    }
                    Some('"') => break,
                    Some(c) => name.push(c),
                }
            }
            skip_blanks(&mut chars);
            if chars.peek().is_some_and(|c| *c != ',') {
                return Err(format!(
                    "{s:?} has text after the closing quote of {}; put a comma after it (a quote inside a name is written \"\")",
                    quote_name(&name)
                ));
            }
            name
        } else {
            let mut raw = String::new();
            while let Some(c) = chars.next_if(|c| *c != ',') {
                raw.push(c);
            }
            raw.trim().to_string()
        };
        if name.is_empty() {
            return Err(format!(
                "{s:?} has an empty column name; write names separated by commas"
            ));
        }
        names.push(name);
        if chars.next().is_none() {
            return Ok(names);
        }
    }
}

/// A column name in double quotes, a quote inside doubled: how messages list names so a
/// list stays unambiguous whatever the names hold, written the way [`column_list`] reads.
pub fn quote_name(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Escapes text from the data for Markdown: no markup, no HTML, no table breaks.
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, ch) in s.chars().enumerate() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // Only what Markdown (CommonMark + GFM tables/strikethrough) reads as markup:
            // with [ and ] escaped no link or image can form, so ( ) ! need nothing.
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            // Headings, list items and setext underlines start a line.
            '#' | '+' | '-' | '=' if i == 0 => {
                out.push('\\');
                out.push(ch);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Thousands separators for counts in human-facing text.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Compact number for people: 1234.5678 -> "1,234.57", 0.1234 -> "0.123".
pub fn human(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let rounded = v.round();
        let sign = if rounded < 0.0 { "-" } else { "" };
        format!("{sign}{}", thousands(rounded.abs() as u64))
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// How the numbers of a labels file are written: `Compact` (distances to 6 significant
/// digits, percentiles to 2 decimals, trailing zeros dropped) keeps a million-customer file
/// small; `Full` (`--full-precision`) writes the shortest text that reads back as the same
/// f64. Both round exactly (decimal rounding of the binary value, by `core::fmt`), so
/// `run` and `predict` write the same bytes for the same customer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    /// 6 significant digits for distances, 2 decimals for percentiles.
    #[default]
    Compact,
    /// Shortest round-trip text.
    Full,
}

/// Significant digits of a distance in a compact labels file.
pub const DISTANCE_DIGITS: u32 = 6;
/// Decimals of a percentile in a compact labels file.
pub const PERCENTILE_DECIMALS: usize = 2;

impl Precision {
    /// Appends a distance (or any non-negative measure) in this precision.
    pub fn push_distance(self, out: &mut Vec<u8>, v: f64) {
        match self {
            Precision::Full => push_display(out, v),
            Precision::Compact => push_significant(out, v, DISTANCE_DIGITS),
        }
    }

    /// Appends a percentile (0..=100) in this precision.
    pub fn push_percentile(self, out: &mut Vec<u8>, v: f64) {
        match self {
            Precision::Full => push_display(out, v),
            Precision::Compact => push_decimals(out, v, PERCENTILE_DECIMALS),
        }
    }

    /// [`Precision::push_distance`] as a string.
    pub fn distance(self, v: f64) -> String {
        let mut out = Vec::with_capacity(24);
        self.push_distance(&mut out, v);
        String::from_utf8(out).expect("ASCII digits")
    }

    /// [`Precision::push_percentile`] as a string.
    pub fn percentile(self, v: f64) -> String {
        let mut out = Vec::with_capacity(24);
        self.push_percentile(&mut out, v);
        String::from_utf8(out).expect("ASCII digits")
    }
}

fn push_display(out: &mut Vec<u8>, v: f64) {
    use std::io::Write as _;
    let _ = write!(out, "{v}");
}

/// Drops the trailing zeros of a fraction written from `start` on (and the point when
/// nothing follows it): `23.7200` → `23.72`, `100.00` → `100`.
fn trim_fraction(out: &mut Vec<u8>, start: usize) {
    if !out[start..].contains(&b'.') {
        return;
    }
    while out.last() == Some(&b'0') {
        out.pop();
    }
    if out.last() == Some(&b'.') {
        out.pop();
    }
    if &out[start..] == b"-0" {
        out.truncate(start);
        out.push(b'0');
    }
}

/// `v` rounded to `decimals` places, trailing zeros dropped (`99.5`, `100`, `0.07`).
pub fn push_decimals(out: &mut Vec<u8>, v: f64, decimals: usize) {
    let start = out.len();
    push_fixed(out, v, decimals);
    trim_fraction(out, start);
}

/// Powers of ten that are exact in an f64.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// Appends exactly what `write!(out, "{v:.decimals$}")` does. Millions of label cells take
/// a short path: for a positive value whose scaled form `v * 10^decimals` is below 1e9 and
/// not within 1e-6 of a rounding half-point, rounding the (at most half an ulp, ~1e-7, off)
/// scaled product gives the same integer as rounding the exact binary value, which is what
/// `core::fmt` prints. Everything else (ties, near-ties, large, negative, zero, NaN) goes
/// through `core::fmt` itself.
pub fn push_fixed(out: &mut Vec<u8>, v: f64, decimals: usize) {
    use std::io::Write as _;
    if v > 0.0 && decimals < POW10.len() {
        let s = v * POW10[decimals];
        if s < 1e9 {
            let floor = s.floor();
            let frac = s - floor;
            if (frac - 0.5).abs() > 1e-6 {
                let n = floor as u64 + u64::from(frac > 0.5);
                push_scaled(out, n, decimals);
                return;
            }
        }
    }
    let _ = write!(out, "{v:.decimals$}");
}

/// Appends `n / 10^decimals` with exactly `decimals` digits after the point (none and no
/// point when 0), as fixed-point formatting writes it.
fn push_scaled(out: &mut Vec<u8>, mut n: u64, decimals: usize) {
    let mut digits = [b'0'; 24];
    let mut i = digits.len();
    while n > 0 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // At least one digit before the point.
    let first = i.min(digits.len() - decimals - 1);
    let point = digits.len() - decimals;
    out.extend_from_slice(&digits[first..point]);
    if decimals > 0 {
        out.push(b'.');
        out.extend_from_slice(&digits[point..]);
    }
}

/// `v` rounded to `sig` significant digits, trailing zeros dropped, never in exponent
/// form (`0.0359268`, `23.7215`, `1234570`). The usual magnitudes (1e-4 up to 10^sig) go
/// through one fixed-point format with the right number of decimals; the rest through the
/// exponent form and back, which is exact but slower.
pub fn push_significant(out: &mut Vec<u8>, v: f64, sig: u32) {
    if v == 0.0 || !v.is_finite() {
        return push_display(out, if v == 0.0 { 0.0 } else { v });
    }
    let a = v.abs();
    let start = out.len();
    if (1e-4..10f64.powi(sig as i32)).contains(&a) {
        // A log10 off by one at an exact power of ten only adds a trailing zero (trimmed)
        // or drops a digit that rounds to the same value.
        let e = a.log10().floor() as i32;
        let d = (sig as i32 - 1 - e).max(0) as usize;
        push_fixed(out, v, d);
        trim_fraction(out, start);
    } else {
        let p = sig.saturating_sub(1) as usize;
        let rounded: f64 = format!("{v:.p$e}").parse().unwrap_or(v);
        push_display(out, rounded);
    }
}

/// The civil date (year, month, day) of a count of days since 1970-01-01: H. Hinnant's
/// civil-from-days, so timestamps need no date crate.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists_quote_like_csv() {
        let ok = |s: &str| column_list(s).unwrap();
        assert_eq!(ok(" a , b "), ["a", "b"]);
        assert_eq!(ok(r#""Spend, total",x"#), ["Spend, total", "x"]);
        assert_eq!(ok(r#" "  padded  " ,x"#), ["  padded  ", "x"]);
        assert_eq!(ok(r#""say ""hi""""#), [r#"say "hi""#]);
        assert_eq!(ok(r#"a"b"#), [r#"a"b"#]);
        for bad in ["a,,b", "a,", r#""""#, r#""open"#, r#""a"b,c"#] {
            assert!(column_list(bad).is_err(), "{bad}");
        }
        assert_eq!(quote_name(r#"Spend, "total""#), r#""Spend, ""total""""#);
        assert_eq!(ok(&quote_name(r#"Spend, "total""#)), [r#"Spend, "total""#]);
    }

    #[test]
    fn compact_numbers_round_to_their_digits() {
        let sig = |v: f64| Precision::Compact.distance(v);
        let pct = |v: f64| Precision::Compact.percentile(v);
        assert_eq!(sig(0.03592684535492551), "0.0359268");
        assert_eq!(sig(23.721486143773504), "23.7215");
        assert_eq!(sig(0.5), "0.5");
        assert_eq!(sig(0.0), "0");
        assert_eq!(sig(1000.0), "1000");
        assert_eq!(sig(999.9999999), "1000");
        assert_eq!(sig(9.9999996), "10");
        assert_eq!(sig(1234567.0), "1234570");
        assert_eq!(sig(0.000012345678), "0.0000123457");
        assert_eq!(sig(123456.7), "123457");
        assert_eq!(pct(99.504), "99.5");
        assert_eq!(pct(100.0), "100");
        assert_eq!(pct(0.0), "0");
        assert_eq!(pct(57.3449), "57.34");
        assert_eq!(pct(0.001), "0");
        assert_eq!(
            Precision::Full.distance(0.03592684535492551),
            "0.03592684535492551"
        );
        // Every compact distance is the value rounded to 6 significant digits.
        let mut x = 1.2345678e-6;
        while x < 1e9 {
            let got: f64 = sig(x).parse().unwrap();
            let want: f64 = format!("{x:.5e}").parse().unwrap();
            assert_eq!(got, want, "{x}");
            x *= 1.37;
        }
    }

    #[test]
    fn fixed_point_matches_core_fmt() {
        // Random magnitudes, values next to decimal half-points, powers of ten and their
        // neighbours: the short path writes what `core::fmt` writes.
        let mut rng = crate::rng::Rng::new(7);
        let mut values = vec![
            0.0,
            -0.0,
            0.5,
            1.0,
            0.125,
            0.005,
            2.675,
            1e9,
            1e-9,
            f64::NAN,
        ];
        for _ in 0..200_000 {
            let m = rng.uniform();
            let e = (rng.uniform() * 14.0) as i32 - 6;
            values.push(m * 10f64.powi(e));
        }
        for i in 0..20_000 {
            let half = (i as f64 + 0.5) / 1000.0;
            values.extend([half, half.next_up(), half.next_down()]);
        }
        for e in -8..12 {
            let p = 10f64.powi(e);
            values.extend([p, p.next_up(), p.next_down()]);
        }
        for &v in &values {
            for d in [0, 1, 2, 3, 5, 6, 9, 10, 15, 16] {
                let mut got = Vec::new();
                push_fixed(&mut got, v, d);
                assert_eq!(
                    String::from_utf8(got).unwrap(),
                    format!("{v:.d$}"),
                    "{v} {d}"
                );
            }
            let mut got = Vec::new();
            push_significant(&mut got, v, DISTANCE_DIGITS);
            let mut want = Vec::new();
            if v != 0.0 && v.is_finite() && (1e-4..1e6).contains(&v.abs()) {
                use std::io::Write as _;
                let d = (DISTANCE_DIGITS as i32 - 1 - v.abs().log10().floor() as i32).max(0);
                let d = d as usize;
                let _ = write!(want, "{v:.d$}");
                trim_fraction(&mut want, 0);
                assert_eq!(got, want, "{v}");
            }
        }
    }

    #[test]
    fn markdown_escaping_neutralises_markup() {
        assert_eq!(
            md_escape("<script>a|b</script>"),
            "&lt;script&gt;a\\|b&lt;/script&gt;"
        );
        assert_eq!(md_escape("x\ny"), "x y");
        // Nothing that Markdown would not read as markup (issue 16.8).
        assert_eq!(
            md_escape("(58.9% of the portfolio) \"a\" {b} !c #d"),
            "(58.9% of the portfolio) \"a\" {b} !c #d"
        );
        assert_eq!(md_escape("# x"), "\\# x");
        assert_eq!(md_escape("*a* _b_ ~c~"), "\\*a\\* \\_b\\_ \\~c\\~");
    }

    #[test]
    fn human_numbers() {
        assert_eq!(thousands(8950), "8,950");
        assert_eq!(thousands(100), "100");
        assert_eq!(human(1564.47), "1,564");
        assert_eq!(human(0.5), "0.500");
    }
}
