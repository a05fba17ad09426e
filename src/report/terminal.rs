//! The compact segment table printed at the end of `run` and `demo`.

use std::io::Write;

use crate::segmentation::Segmentation;
use crate::text::{human, thousands};

/// Prints one line per segment (id, name, customers, share, mean of each feature), so a
/// run ends with the answer on screen.
pub fn print_segments(w: &mut dyn Write, r: &Segmentation) -> std::io::Result<()> {
    let m = &r.model;
    let name_w = m
        .segments
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 48);
    write!(
        w,
        "{:>3}  {:<name_w$}  {:>10}  {:>6}",
        "#", "segment", "customers", "share"
    )?;
    for f in &m.features {
        write!(w, "  {:>14}", truncate(f, 14))?;
    }
    writeln!(w)?;
    for (seg, meta) in r.profile.segments.iter().zip(&m.segments) {
        write!(
            w,
            "{:>3}  {:<name_w$}  {:>10}  {:>5.1}%",
            seg.id,
            truncate(&meta.name, name_w),
            thousands(seg.customers),
            seg.share * 100.0
        )?;
        for f in &m.features {
            let v = seg.stat(f).and_then(|s| s.mean).unwrap_or(f64::NAN);
            write!(w, "  {:>14}", human(v))?;
        }
        writeln!(w)?;
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.chars().count() <= n {
        clean
    } else {
        clean
            .chars()
            .take(n.saturating_sub(1))
            .chain(std::iter::once('…'))
            .collect()
    }
}
