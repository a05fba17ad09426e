//! Spreadsheet formula neutralisation for every CSV cardseg writes (the OWASP "CSV
//! injection" rule): a text cell that begins with `=`, `+`, `-`, `@`, tab or carriage
//! return would be run as a formula by a spreadsheet, so it is written with a leading
//! single quote, which spreadsheets show as text. Cells that parse as numbers (`-5.3`)
//! are left alone, so numbers stay numbers.
//!
//! The rule is reversible, so cardseg reads its own files back exactly ([`restore`]): a
//! cell made of one or more quotes followed by a trigger character also gets one more
//! quote, and reading removes exactly one quote from such cells. `--raw-csv` (run,
//! predict) writes cells as they are.

use std::borrow::Cow;

fn is_trigger(b: u8) -> bool {
    matches!(b, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
}

/// Quotes before the first other byte, and whether that byte is a trigger.
fn quoted_trigger(cell: &str) -> (usize, bool) {
    let b = cell.as_bytes();
    let n = b.iter().take_while(|&&c| c == b'\'').count();
    (n, b.get(n).copied().is_some_and(is_trigger))
}

fn is_number(cell: &str) -> bool {
    let t = cell.trim();
    !t.is_empty() && t.parse::<f64>().is_ok()
}

/// The cell as written to a CSV file: prefixed with `'` when a spreadsheet would read it
/// as a formula (or when it already looks like a neutralised cell, to stay reversible).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let (_, trigger) = quoted_trigger(cell);
    if trigger && !is_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The inverse of [`neutralise`]: the cell as it was before writing.
pub fn restore(cell: &str) -> &str {
    let (quotes, trigger) = quoted_trigger(cell);
    if quotes > 0 && trigger {
        &cell[1..]
    } else {
        cell
    }
}

/// [`neutralise`] unless `raw` (`--raw-csv`).
pub fn cell(cell: &str, raw: bool) -> Cow<'_, str> {
    if raw {
        Cow::Borrowed(cell)
    } else {
        neutralise(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_get_a_quote_and_numbers_do_not() {
        for (i, o) in [
            ("=1+2", "'=1+2"),
            ("+A1", "'+A1"),
            ("-cmd", "'-cmd"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=x", "''=x"),
            ("-5.3", "-5.3"),
            ("+7", "+7"),
            ("-1e5", "-1e5"),
            ("C10001", "C10001"),
            ("'plain", "'plain"),
            ("", ""),
        ] {
            assert_eq!(neutralise(i), o, "{i:?}");
            assert_eq!(restore(o), i, "{o:?}");
        }
    }

    #[test]
    fn restore_inverts_neutralise_for_every_short_string() {
        let alphabet = ["'", "=", "-", "1", "a", "\t", "@", ".", "+"];
        let mut cells = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for c in &cells {
                for a in alphabet {
                    next.push(format!("{c}{a}"));
                }
            }
            cells.extend(next);
        }
        for c in &cells {
            let n = neutralise(c);
            assert_eq!(restore(&n), c, "{c:?} -> {n:?}");
            let (_, t) = quoted_trigger(&n);
            assert!(
                !n.as_bytes().first().is_some_and(|&b| is_trigger(b)) || is_number(&n),
                "{n:?}"
            );
            let _ = t;
        }
    }
}
