//! How plotted numbers and segments look: short numbers and one distinct colour per
//! segment.

/// Significant digits of plotted values: more than the plot or the hover shows.
const POINT_DIGITS: usize = 6;

/// Tableau 10: distinct, colour-blind-aware, and familiar from BI tools.
const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Colour of segment index `s` (0-based): the palette, then golden-angle hues.
pub fn color(s: usize) -> String {
    match PALETTE.get(s) {
        Some(c) => c.to_string(),
        None => {
            let hue = (s as f64 * 137.508) % 360.0;
            format!(
                "hsl({hue:.0},55%,{}%)",
                if s.is_multiple_of(2) { 45 } else { 60 }
            )
        }
    }
}

/// Rounds to `POINT_DIGITS` significant digits so numbers print short: the value of
/// `format!("{v:.5e}")` read back, which most values reach by [`round_sig_scaled`]
/// without formatting (a page plots tens of thousands of them).
pub fn round_sig(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    round_sig_scaled(v).unwrap_or_else(|| round_sig_formatted(v))
}

fn round_sig_formatted(v: f64) -> f64 {
    format!("{v:.*e}", POINT_DIGITS - 1).parse().unwrap_or(v)
}

/// Powers of ten that are exact doubles.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `|v| · 10^q` with one rounding (`q` within the exact powers), else None.
fn times_pow10(a: f64, q: i32) -> Option<f64> {
    let p = *POW10.get(q.unsigned_abs() as usize)?;
    Some(if q >= 0 { a * p } else { a / p })
}

/// [`round_sig`] by arithmetic, or None where it cannot be sure of the same result.
///
/// With `|v|` scaled by one exact power of ten into [10⁵, 10⁶), the scaled value is off by
/// at most half an ulp (≤ 6·10⁻¹¹); when its fraction is further than 10⁻⁹ from ½ the
/// rounding to an integer `m` is the one the exact value gets. `m · 10^(e−5)`, one
/// operation on exact operands, is then the correctly rounded double of the decimal
/// `m·10^(e−5)` — what reading the formatted text gives. Ties, near-ties and exponents
/// beyond the exact powers are left to formatting.
fn round_sig_scaled(v: f64) -> Option<f64> {
    const DIGITS: i32 = POINT_DIGITS as i32 - 1;
    let a = v.abs();
    let mut e = a.log10().floor() as i32;
    let mut s = times_pow10(a, DIGITS - e)?;
    if s < 1e5 {
        e -= 1;
        s = times_pow10(a, DIGITS - e)?;
    } else if s >= 1e6 {
        e += 1;
        s = times_pow10(a, DIGITS - e)?;
    }
    if !(1e5..1e6).contains(&s) {
        return None;
    }
    let whole = s.floor();
    let frac = s - whole;
    if (frac - 0.5).abs() <= 1e-9 {
        return None;
    }
    let m = if frac > 0.5 { whole + 1.0 } else { whole };
    Some(times_pow10(m, e - DIGITS)?.copysign(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_sig_keeps_six_digits() {
        assert_eq!(round_sig(12345.678), 12345.7);
        assert_eq!(round_sig(40.900749), 40.9007);
        assert_eq!(round_sig(0.0), 0.0);
        assert_eq!(round_sig(1.0e-7 * 3.333333333), 3.33333e-7);
    }

    #[test]
    fn round_sig_by_arithmetic_is_the_formatted_value_read_back() {
        let mut rng = crate::rng::Rng::derive(7, &[1]);
        let mut decided = 0;
        let mut check = |v: f64| {
            if !v.is_finite() || v == 0.0 {
                return;
            }
            let want = round_sig_formatted(v);
            assert_eq!(round_sig(v).to_bits(), want.to_bits(), "{v:e}");
            if let Some(got) = round_sig_scaled(v) {
                assert_eq!(got.to_bits(), want.to_bits(), "{v:e}");
                decided += 1;
            }
        };
        for _ in 0..400_000 {
            // Every exponent from far below to far above the shortcut's range, and
            // mantissas of every bit pattern.
            let exp = rng.below(80) as i32 - 40;
            let v = (rng.uniform() * 10.0) * 10f64.powi(exp);
            check(v);
            check(-v);
            // Six-digit decimals and their halves: exact ties and near-ties.
            let m = 100_000.0 + rng.below(900_000) as f64;
            let p = rng.below(30) as i32 - 15;
            check((m + 0.5) * 10f64.powi(p));
            check(m * 10f64.powi(p));
            check(f64::from_bits(rng.next_u64()) % 1e12);
        }
        for v in [
            999_999.5,
            999_999.499_999_999,
            99_999.95,
            0.123_456_5,
            1e-17,
            1e27,
            1e22,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            1.0,
            9.999_995,
            12_345.678,
            40.900_749,
        ] {
            check(v);
            check(-v);
        }
        assert!(
            decided > 1_000_000,
            "the shortcut decided only {decided} values"
        );
    }

    #[test]
    fn colours_are_distinct_for_many_segments() {
        let c: std::collections::HashSet<String> = (0..40).map(color).collect();
        assert_eq!(c.len(), 40);
    }
}
