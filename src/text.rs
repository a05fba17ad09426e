//! Text for people: counts with thousands separators, compact numbers, and Markdown-safe
//! text from the data. Ground layer: the report, `inspect`, the lifecycle files and the
//! terminal all format numbers the same way from here.

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

#[cfg(test)]
mod tests {
    use super::*;

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
