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

/// Rounds to `POINT_DIGITS` significant digits so numbers print short.
pub fn round_sig(v: f64) -> f64 {
    if !v.is_finite() || v == 0.0 {
        return v;
    }
    format!("{v:.*e}", POINT_DIGITS - 1).parse().unwrap_or(v)
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
    fn colours_are_distinct_for_many_segments() {
        let c: std::collections::HashSet<String> = (0..40).map(color).collect();
        assert_eq!(c.len(), 40);
    }
}
