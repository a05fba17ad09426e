//! Outcomes before and after (`--outcome`): a run's outcome figures per segment set
//! against another run's, segment by segment (segments are matched by id, which
//! `--previous` keeps across retrains). The earlier run's figures are read back from
//! its `segments.json`, bounded like every file cardseg reads back.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::profile::Outcome;
use crate::text::{human, md_escape};

/// Largest `segments.json` read back for its outcomes: far above what a run writes (a few
/// figures per column and segment).
pub const MAX_SEGMENTS_JSON_BYTES: u64 = 64 << 20;

/// One run's outcome figures: the portfolio's, and each segment's (id, name, figures).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutcomes {
    /// The portfolio's figures, one per outcome column.
    pub portfolio: Vec<Outcome>,
    /// Per segment: id, name and figures.
    pub segments: Vec<(u32, String, Vec<Outcome>)>,
}

#[derive(Deserialize)]
struct Doc {
    portfolio: Group,
    segments: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    id: u32,
    #[serde(default)]
    name: String,
    #[serde(default)]
    outcomes: Vec<Outcome>,
}

impl RunOutcomes {
    /// The figures of a run being built: its profile and segment names (segment order).
    pub fn of(profile: &crate::profile::Profile, names: &[&str]) -> RunOutcomes {
        RunOutcomes {
            portfolio: profile.portfolio.outcomes.clone(),
            segments: profile
                .segments
                .iter()
                .zip(names)
                .map(|(s, n)| (s.id, n.to_string(), s.outcomes.clone()))
                .collect(),
        }
    }

    /// Reads the outcome figures of the `segments.json` at `path`: None when there is no
    /// such file; an error naming the file when it is too large or not a cardseg
    /// `segments.json`.
    pub fn read(path: &Path) -> Result<Option<RunOutcomes>> {
        if std::fs::symlink_metadata(path).is_err() {
            return Ok(None);
        }
        let shown = path.display().to_string();
        let bytes = crate::readback::read_small(path, MAX_SEGMENTS_JSON_BYTES, "reading")?
            .ok_or_else(|| {
                Error::input(
                    &shown,
                    format!(
                        "is larger than {} MB, far more than a cardseg segments.json; move it away or rerun that run",
                        MAX_SEGMENTS_JSON_BYTES >> 20
                    ),
                )
            })?;
        let doc: Doc = serde_json::from_slice(&bytes).map_err(|e| {
            Error::input(
                &shown,
                format!("is not a cardseg segments.json ({e}); move it away or rerun that run"),
            )
        })?;
        Ok(Some(RunOutcomes {
            portfolio: doc.portfolio.outcomes,
            segments: doc
                .segments
                .into_iter()
                .map(|g| (g.id, g.name, g.outcomes))
                .collect(),
        }))
    }
}

/// One segment's outcome in the two runs; a segment of only one run has one side.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SegmentChange {
    /// Segment id.
    pub id: u32,
    /// Segment name (the later run's when it has the segment).
    pub name: String,
    /// The figure in the earlier run.
    pub before: Option<Outcome>,
    /// The figure in the later run.
    pub after: Option<Outcome>,
    /// After minus before (rate or mean), when both have a value.
    pub change: Option<f64>,
}

/// One outcome column in the two runs.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutcomeChange {
    /// Outcome column.
    pub column: String,
    /// "rate" or "mean" (the later run's).
    pub kind: String,
    /// The portfolio in the two runs.
    pub portfolio: SegmentChange,
    /// Per segment id, ascending.
    pub segments: Vec<SegmentChange>,
}

fn change(before: Option<&Outcome>, after: Option<&Outcome>) -> Option<f64> {
    Some(after?.value? - before?.value?)
}

/// Every outcome column present in both runs, segment by segment (matched by id).
pub fn compare(before: &RunOutcomes, after: &RunOutcomes) -> Vec<OutcomeChange> {
    let find = |v: &[Outcome], c: &str| v.iter().find(|o| o.column == c).cloned();
    after
        .portfolio
        .iter()
        .filter_map(|pa| {
            let col = pa.column.as_str();
            let pb = find(&before.portfolio, col)?;
            let mut ids: Vec<u32> = before
                .segments
                .iter()
                .chain(&after.segments)
                .map(|s| s.0)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            let segments = ids
                .into_iter()
                .map(|id| {
                    let b = before.segments.iter().find(|s| s.0 == id);
                    let a = after.segments.iter().find(|s| s.0 == id);
                    let ob = b.and_then(|s| find(&s.2, col));
                    let oa = a.and_then(|s| find(&s.2, col));
                    SegmentChange {
                        id,
                        name: a.or(b).map(|s| s.1.clone()).unwrap_or_default(),
                        change: change(ob.as_ref(), oa.as_ref()),
                        before: ob,
                        after: oa,
                    }
                })
                .collect();
            Some(OutcomeChange {
                column: col.to_string(),
                kind: pa.kind.clone(),
                portfolio: SegmentChange {
                    id: 0,
                    name: "Portfolio".into(),
                    change: change(Some(&pb), Some(pa)),
                    before: Some(pb),
                    after: Some(pa.clone()),
                },
                segments,
            })
        })
        .collect()
}

/// A figure as people read it: a rate in percent, a mean as a number.
fn value(kind: &str, v: f64) -> String {
    if kind == "rate" {
        format!("{:.1}%", v * 100.0)
    } else {
        human(v)
    }
}

/// "18.0% (14.6% – 21.9%)", or "—" for a side the segment does not have.
fn side(o: Option<&Outcome>) -> String {
    match o {
        None => "—".into(),
        Some(o) => match (o.value, o.ci_low, o.ci_high) {
            (None, ..) => "no value".into(),
            (Some(v), Some(lo), Some(hi)) => format!(
                "{} ({} – {})",
                value(&o.kind, v),
                value(&o.kind, lo),
                value(&o.kind, hi)
            ),
            (Some(v), ..) => value(&o.kind, v),
        },
    }
}

/// The change as people read it: percentage points for a rate.
fn delta(kind: &str, d: Option<f64>) -> String {
    match d {
        None => "—".into(),
        Some(d) if kind == "rate" => format!("{:+.1} pp", d * 100.0),
        Some(d) => {
            let s = human(d);
            if d >= 0.0 {
                format!("+{s}")
            } else {
                s
            }
        }
    }
}

/// Markdown tables, one per outcome: segment, before, after, change (95% intervals in
/// brackets). `before` and `after` head the two columns.
pub fn write_md(
    w: &mut dyn Write,
    changes: &[OutcomeChange],
    before: &str,
    after: &str,
) -> std::io::Result<()> {
    for oc in changes {
        writeln!(
            w,
            "\n### Outcome {} by segment ({}, 95% interval)\n",
            md_escape(&oc.column),
            oc.kind
        )?;
        writeln!(w, "| Segment | {before} | {after} | Change |")?;
        writeln!(w, "|---|---:|---:|---:|")?;
        for s in std::iter::once(&oc.portfolio).chain(&oc.segments) {
            let label = if s.id == 0 && s.name == "Portfolio" {
                "Portfolio".to_string()
            } else {
                format!("{} {}", s.id, md_escape(&s.name))
            };
            writeln!(
                w,
                "| {label} | {} | {} | {} |",
                side(s.before.as_ref()),
                side(s.after.as_ref()),
                delta(&oc.kind, s.change)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(col: &str, v: f64) -> Outcome {
        Outcome {
            column: col.into(),
            kind: "rate".into(),
            customers: 10,
            value: Some(v),
            ci_low: Some(v / 2.0),
            ci_high: Some(v * 1.5),
            index: None,
            differs: false,
        }
    }

    #[test]
    fn segments_of_one_run_show_one_side_and_columns_of_one_run_are_left_out() {
        let before = RunOutcomes {
            portfolio: vec![o("d", 0.1), o("only_before", 0.5)],
            segments: vec![
                (1, "A".into(), vec![o("d", 0.1)]),
                (2, "B".into(), vec![o("d", 0.2)]),
            ],
        };
        let after = RunOutcomes {
            portfolio: vec![o("d", 0.2)],
            segments: vec![
                (1, "A".into(), vec![o("d", 0.3)]),
                (3, "C".into(), vec![o("d", 0.1)]),
            ],
        };
        let c = compare(&before, &after);
        assert_eq!(c.len(), 1);
        let ids: Vec<u32> = c[0].segments.iter().map(|s| s.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert!((c[0].segments[0].change.unwrap() - 0.2).abs() < 1e-12);
        assert!(c[0].segments[1].after.is_none() && c[0].segments[1].change.is_none());
        assert!(c[0].segments[2].before.is_none());
        let mut md = Vec::new();
        write_md(&mut md, &c, "Before", "After").unwrap();
        let md = String::from_utf8(md).unwrap();
        assert!(
            md.contains("| 1 A | 10.0% (5.0% – 15.0%) | 30.0% (15.0% – 45.0%) | +20.0 pp |"),
            "{md}"
        );
        assert!(
            md.contains("| 2 B | 20.0% (10.0% – 30.0%) | — | — |"),
            "{md}"
        );
    }
}
