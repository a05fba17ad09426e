//! The executive summary (`summary.md` and `summary.json`): one page for a manager.

use std::io::Write;

use serde::Serialize;

use crate::segmentation::Segmentation;
use crate::text::{human, md_escape, thousands};

/// The executive summary's content, written as `summary.md` for people and
/// `summary.json` for tools, and reused by the dashboard.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Input segmented.
    pub source: String,
    /// Customers in the input.
    pub customers_read: u64,
    /// Customers given a segment.
    pub customers_segmented: u64,
    /// Clustering features used.
    pub features: Vec<String>,
    /// How missing values were handled.
    pub missing_policy: String,
    /// Per column with missing values: how many and what was done.
    pub missing: Vec<MissingLine>,
    /// Ids seen more than once.
    pub duplicate_ids: u64,
    /// Number of segments.
    pub k: usize,
    /// Why this k, in one sentence.
    pub k_reason: String,
    /// The elbow's k, when found.
    pub knee: Option<usize>,
    /// The k of the best silhouette.
    pub best_silhouette_k: Option<usize>,
    /// Mean silhouette of the chosen k.
    pub silhouette: f64,
    /// How it was computed (exact or sampled).
    pub silhouette_method: String,
    /// One line per segment.
    pub segments: Vec<SegmentLine>,
    /// Key findings, the sentences a manager reads first.
    pub findings: Vec<String>,
    /// What named the segments (credit-card archetypes, custom rules, or features).
    pub naming_basis: crate::naming::Basis,
    /// The same in one sentence.
    pub naming_note: String,
    /// Category mix of every categorical column, per segment (largest departures).
    pub categories: Vec<CategoryLine>,
    /// Checksum of the saved model, to tie the summary to it.
    pub model_checksum: String,
    /// Customers are outliers above this distance percentile of their segment.
    pub outlier_percentile: f64,
    /// Outlier customers per segment (segment order).
    pub outliers: Vec<OutlierLine>,
    /// The customers farthest from their centroid (most extreme first).
    pub most_extreme: Vec<ExtremeLine>,
    /// What changed since the `--previous` model (runs with --previous only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<crate::lifecycle::continuity::Changes>,
}

/// Outlier count of one segment.
#[derive(Debug, Serialize)]
pub struct OutlierLine {
    /// Segment id.
    pub id: u32,
    /// Segment name.
    pub name: String,
    /// Customers in the segment.
    pub customers: u64,
    /// Of those, how many are outliers.
    pub outliers: u64,
}

/// One of the customers farthest from their segment's centre, worth a look.
#[derive(Debug, Serialize)]
pub struct ExtremeLine {
    /// Customer id.
    pub customer: String,
    /// Segment id.
    pub segment: u32,
    /// Distance to the centroid in scaled space.
    pub distance: f64,
    /// Its percentile among the segment's training distances.
    pub distance_percentile: f64,
}

/// How many of the most extreme customers the summary lists.
pub const MOST_EXTREME: usize = 5;

fn outlier_lines(r: &Segmentation) -> (Vec<OutlierLine>, Vec<ExtremeLine>) {
    let m = &r.model;
    let mut counts = vec![0u64; m.k];
    let mut top: Vec<(f64, usize)> = Vec::with_capacity(MOST_EXTREME + 1);
    for (j, (&l, &d)) in r.labels.iter().zip(&r.distances).enumerate() {
        let o = crate::lifecycle::outliers::Outlier::of(m, l as usize, d);
        if o.outlier == Some(true) {
            counts[l as usize] += 1;
            // Farthest first; equal distances in row order.
            if top.len() < MOST_EXTREME || d > top[top.len() - 1].0 {
                let at = top.partition_point(|(td, _)| *td >= d);
                top.insert(at, (d, j));
                top.truncate(MOST_EXTREME);
            }
        }
    }
    let lines = m
        .segments
        .iter()
        .zip(&counts)
        .map(|(s, &c)| OutlierLine {
            id: s.id,
            name: s.name.clone(),
            customers: s.customers,
            outliers: c,
        })
        .collect();
    let extreme = top
        .into_iter()
        .map(|(d, j)| {
            let l = r.labels[j] as usize;
            ExtremeLine {
                customer: r.table.ids.get(j).to_string(),
                segment: m.segments[l].id,
                distance: d,
                distance_percentile: crate::lifecycle::outliers::Outlier::of(m, l, d)
                    .percentile
                    .unwrap_or(f64::NAN),
            }
        })
        .collect();
    (lines, extreme)
}

/// One categorical column's mix in one segment: each value's share against the portfolio.
#[derive(Debug, Serialize)]
pub struct CategoryLine {
    /// Categorical column.
    pub column: String,
    /// Segment id.
    pub segment: u32,
    /// Segment name.
    pub name: String,
    /// (value, share in the segment, share in the portfolio)
    pub mix: Vec<(String, f64, f64)>,
}

/// Missing values of one column.
#[derive(Debug, Serialize)]
pub struct MissingLine {
    /// Column with missing values.
    pub column: String,
    /// How many were missing.
    pub missing: u64,
    /// What was done with them.
    pub handled: String,
}

/// One segment's line of the summary.
#[derive(Debug, Serialize)]
pub struct SegmentLine {
    /// Segment id.
    pub id: u32,
    /// Segment name.
    pub name: String,
    /// Customers in the segment.
    pub customers: u64,
    /// Their share of the segmented customers.
    pub share: f64,
    /// Mean of each clustering feature, in input units.
    pub key_metrics: Vec<(String, f64)>,
    /// Why it has its name.
    pub rationale: String,
    /// What to do with it.
    pub suggested_action: String,
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

impl Summary {
    /// Builds the summary of a segmentation: findings, outliers, categories and changes.
    pub fn build(r: &Segmentation) -> Summary {
        let m = &r.model;
        let policy = r.clean.policy;
        let missing = r
            .clean
            .columns
            .iter()
            .filter(|c| c.missing > 0)
            .map(|c| MissingLine {
                column: c.column.clone(),
                missing: c.missing,
                handled: match c.fill_value {
                    Some(v) => format!("filled with the {policy} ({})", human(v)),
                    None => "customers dropped".to_string(),
                },
            })
            .collect();
        let mut segments: Vec<SegmentLine> = r
            .profile
            .segments
            .iter()
            .zip(&m.segments)
            .map(|(p, s)| SegmentLine {
                id: s.id,
                name: s.name.clone(),
                customers: p.customers,
                share: p.share,
                key_metrics: m
                    .features
                    .iter()
                    .filter_map(|f| p.stat(f).and_then(|st| st.mean).map(|v| (f.clone(), v)))
                    .collect(),
                rationale: s.rationale.clone(),
                suggested_action: s.action.clone(),
            })
            .collect();
        segments.sort_by(|a, b| b.customers.cmp(&a.customers).then(a.id.cmp(&b.id)));
        let (outliers, most_extreme) = outlier_lines(r);
        Summary {
            source: r.table.source.clone(),
            customers_read: r.clean.rows_in,
            customers_segmented: r.clean.rows_out,
            features: m.features.clone(),
            missing_policy: policy.to_string(),
            missing,
            duplicate_ids: r.duplicate_ids,
            k: m.k,
            k_reason: m.k_selection.reason.clone(),
            knee: m.k_selection.knee,
            best_silhouette_k: m.k_selection.best_silhouette,
            silhouette: m.silhouette.value,
            silhouette_method: m.silhouette.method.to_string(),
            segments,
            findings: findings(r),
            naming_basis: r.naming_basis,
            naming_note: r.naming_basis.sentence().to_string(),
            categories: category_lines(r),
            model_checksum: r.checksum.clone(),
            outlier_percentile: m.outlier_percentile,
            outliers,
            most_extreme,
            changes: r.changes.clone(),
        }
    }
}

fn category_lines(r: &Segmentation) -> Vec<CategoryLine> {
    let p = &r.profile;
    let mut out = Vec::new();
    for (ci, pc) in p.portfolio.categories.iter().enumerate() {
        for (seg, meta) in p.segments.iter().zip(&r.model.segments) {
            let Some(sc) = seg.categories.get(ci) else {
                continue;
            };
            out.push(CategoryLine {
                column: pc.column.clone(),
                segment: seg.id,
                name: meta.name.clone(),
                mix: sc
                    .values
                    .iter()
                    .zip(&pc.values)
                    .map(|(v, pv)| (v.value.clone(), v.share, pv.share))
                    .collect(),
            });
        }
    }
    out
}

/// Three to five plain-language findings computed from the profile. Only additive
/// amounts (money, counts) get "holds X% of all"; rates, scores, ages and tenure are
/// compared by average and median.
fn findings(r: &Segmentation) -> Vec<String> {
    let m = &r.model;
    let p = &r.profile;
    let name = |i: usize| m.segments[i].name.clone();
    let mut out = Vec::new();
    let largest = (0..p.segments.len())
        .max_by_key(|&i| (p.segments[i].customers, std::cmp::Reverse(i)))
        .unwrap_or(0);
    out.push(format!(
        "{} is the largest segment: {} customers ({} of the portfolio).",
        name(largest),
        thousands(p.segments[largest].customers),
        pct(p.segments[largest].share)
    ));
    // Concentration: which segment holds most of each additive feature's total; a
    // non-additive feature: which segment has the highest average (and its median).
    for f in &m.features {
        let additive = p.portfolio.stat(f).is_some_and(|s| s.additive);
        if !additive {
            let best = (0..p.segments.len())
                .filter_map(|i| p.segments[i].stat(f).and_then(|s| s.mean).map(|v| (i, v)))
                .fold(None, |b: Option<(usize, f64)>, (i, v)| match b {
                    Some((_, bv)) if bv >= v => b,
                    _ => Some((i, v)),
                });
            let port = p.portfolio.stat(f);
            if let (Some((i, v)), Some(ps)) = (best, port) {
                let med = p.segments[i].stat(f).and_then(|s| s.median);
                out.push(format!(
                    "{} has the highest average {f}: {} (median {}) against {} (median {}) for the portfolio.",
                    name(i),
                    human(v),
                    med.map(human).unwrap_or_else(|| "n/a".into()),
                    ps.mean.map(human).unwrap_or_else(|| "n/a".into()),
                    ps.median.map(human).unwrap_or_else(|| "n/a".into()),
                ));
            }
            if out.len() >= 4 {
                break;
            }
            continue;
        }
        let totals: Vec<f64> = p
            .segments
            .iter()
            .map(|s| s.stat(f).and_then(|st| st.mean).unwrap_or(0.0) * s.customers as f64)
            .collect();
        let sum: f64 = totals.iter().sum();
        if sum.is_nan() || sum <= 0.0 || totals.iter().any(|t| *t < 0.0) {
            continue;
        }
        let top = (0..totals.len()).fold(0, |b, i| if totals[i] > totals[b] { i } else { b });
        out.push(format!(
            "{} holds {} of all {f} with {} of the customers.",
            name(top),
            pct(totals[top] / sum),
            pct(p.segments[top].share)
        ));
        if out.len() >= 4 {
            break;
        }
    }
    if let Some(portfolio_util) = p.portfolio.indicator("utilisation").and_then(|i| i.value) {
        let best = (0..p.segments.len())
            .filter_map(|i| {
                p.segments[i]
                    .indicator("utilisation")
                    .and_then(|x| x.value)
                    .map(|v| (i, v))
            })
            .fold(None, |b: Option<(usize, f64)>, (i, v)| match b {
                Some((_, bv)) if bv >= v => b,
                _ => Some((i, v)),
            });
        if let Some((i, v)) = best {
            out.push(format!(
                "{} uses its credit lines the most: utilisation {} against {} for the portfolio.",
                name(i),
                pct(v),
                pct(portfolio_util)
            ));
        }
    }
    if out.len() < 3 {
        let smallest = (0..p.segments.len())
            .min_by_key(|&i| (p.segments[i].customers, i))
            .unwrap_or(0);
        out.push(format!(
            "{} is the smallest segment: {} customers ({}).",
            name(smallest),
            thousands(p.segments[smallest].customers),
            pct(p.segments[smallest].share)
        ));
    }
    if out.len() < 3 {
        out.push(format!(
            "The {} segments separate customers with a silhouette of {:.3} (1 = perfectly separated, 0 = overlapping).",
            m.k, m.silhouette.value
        ));
    }
    out.truncate(5);
    out
}

/// Writes the summary as one Markdown page for a manager.
pub fn write_markdown(w: &mut dyn Write, s: &Summary) -> std::io::Result<()> {
    writeln!(w, "# Customer segmentation: executive summary\n")?;
    writeln!(
        w,
        "**{}** customers from {} were grouped into **{} segments** using {}.\n",
        thousands(s.customers_segmented),
        md_escape(&s.source),
        s.k,
        s.features
            .iter()
            .map(|f| md_escape(f))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(w, "## Segments by size\n")?;
    write!(w, "| Segment | Name | Customers | Share |")?;
    for f in &s.features {
        write!(w, " Avg {} |", md_escape(f))?;
    }
    writeln!(w, " Why this name | Suggested action |")?;
    write!(w, "|---:|---|---:|---:|")?;
    for _ in &s.features {
        write!(w, "---:|")?;
    }
    writeln!(w, "---|---|")?;
    for seg in &s.segments {
        write!(
            w,
            "| {} | {} | {} | {} |",
            seg.id,
            md_escape(&seg.name),
            thousands(seg.customers),
            pct(seg.share)
        )?;
        for (_, v) in &seg.key_metrics {
            write!(w, " {} |", human(*v))?;
        }
        writeln!(
            w,
            " {} | {} |",
            md_escape(&seg.rationale),
            md_escape(&seg.suggested_action)
        )?;
    }
    writeln!(w, "\n{}", md_escape(&s.naming_note))?;
    if !s.categories.is_empty() {
        writeln!(w, "\n## Category mix by segment\n")?;
        writeln!(
            w,
            "Share of each value in the segment (portfolio share in parentheses).\n"
        )?;
        let mut col = "";
        for c in &s.categories {
            if c.column != col {
                if !col.is_empty() {
                    writeln!(w)?;
                }
                col = &c.column;
                writeln!(w, "**{}**\n", md_escape(col))?;
            }
            let mix: Vec<String> = c
                .mix
                .iter()
                .map(|(v, sh, ps)| format!("{} {} ({})", md_escape(v), pct(*sh), pct(*ps)))
                .collect();
            writeln!(
                w,
                "- {} {}: {}",
                c.segment,
                md_escape(&c.name),
                mix.join(", ")
            )?;
        }
        writeln!(w)?;
    }
    if !s.most_extreme.is_empty() || s.outliers.iter().any(|o| o.outliers > 0) {
        writeln!(w, "\n## Outlier customers\n")?;
        writeln!(
            w,
            "Customers farther from their segment's centre than {}% of the segment's customers were at training:\n",
            s.outlier_percentile
        )?;
        writeln!(w, "| Segment | Name | Outliers | Customers |")?;
        writeln!(w, "|---:|---|---:|---:|")?;
        for o in &s.outliers {
            writeln!(
                w,
                "| {} | {} | {} | {} |",
                o.id,
                md_escape(&o.name),
                thousands(o.outliers),
                thousands(o.customers)
            )?;
        }
        if !s.most_extreme.is_empty() {
            writeln!(w, "\nMost extreme:\n")?;
            for e in &s.most_extreme {
                writeln!(
                    w,
                    "- {} (segment {}): distance {}, percentile {}",
                    md_escape(&e.customer),
                    e.segment,
                    human(e.distance),
                    human(e.distance_percentile)
                )?;
            }
        }
    }
    if let Some(c) = &s.changes {
        write_changes(w, c)?;
    }
    writeln!(w, "\n## Key findings\n")?;
    for f in &s.findings {
        writeln!(w, "- {}", md_escape(f))?;
    }
    writeln!(w, "\n## How the number of segments was chosen\n")?;
    writeln!(w, "{}\n", md_escape(&s.k_reason))?;
    writeln!(w, "## Data quality\n")?;
    writeln!(w, "- Customers read: {}", thousands(s.customers_read))?;
    writeln!(
        w,
        "- Customers segmented: {}",
        thousands(s.customers_segmented)
    )?;
    if s.missing.is_empty() {
        writeln!(w, "- Missing values in the columns used: none")?;
    } else {
        writeln!(w, "- Missing values (policy: {}):", s.missing_policy)?;
        for m in &s.missing {
            writeln!(
                w,
                "  - {}: {} missing, {}",
                md_escape(&m.column),
                thousands(m.missing),
                md_escape(&m.handled)
            )?;
        }
    }
    if s.duplicate_ids > 0 {
        writeln!(
            w,
            "- Duplicate customer ids: {} (each row was segmented separately; check the extract)",
            thousands(s.duplicate_ids)
        )?;
    }
    writeln!(w, "\nModel checksum: `{}`", s.model_checksum)?;
    Ok(())
}

/// The "What changed since the previous run" section.
fn write_changes(
    w: &mut dyn Write,
    c: &crate::lifecycle::continuity::Changes,
) -> std::io::Result<()> {
    writeln!(w, "\n## What changed since the previous run\n")?;
    writeln!(
        w,
        "This model (generation {}) continues {} (`{}`).\n",
        c.generation,
        md_escape(&c.previous_model),
        c.previous_checksum
    )?;
    writeln!(
        w,
        "- Segments kept (same id): {}",
        if c.matched.is_empty() {
            "none".to_string()
        } else {
            c.matched
                .iter()
                .map(|m| m.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    )?;
    let list = |v: &[(u32, String)]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.iter()
                .map(|(id, n)| format!("{id} {}", md_escape(n)))
                .collect::<Vec<_>>()
                .join("; ")
        }
    };
    writeln!(w, "- New segments: {}", list(&c.new_segments))?;
    writeln!(w, "- Retired segments: {}", list(&c.retired))?;
    for r in &c.renamed {
        writeln!(
            w,
            "- Segment {} renamed from {} to {}",
            r.id,
            md_escape(&r.from),
            md_escape(&r.to)
        )?;
    }
    match &c.migration {
        Some(m) => {
            writeln!(
                w,
                "- {}",
                md_escape(&crate::lifecycle::migration::describe(m))
            )?;
            for sp in &m.splits {
                writeln!(
                    w,
                    "- Segment {} split into {}",
                    sp.from_segment,
                    sp.into
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" and ")
                )?;
            }
            for mg in &m.merges {
                writeln!(
                    w,
                    "- Segments {} merged into {}",
                    mg.from
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" and "),
                    mg.to_segment
                )?;
            }
            let mut moves: Vec<_> = m
                .flows
                .iter()
                .filter(|f| f.from_segment != f.to_segment)
                .collect();
            moves.sort_by(|a, b| {
                b.customers
                    .cmp(&a.customers)
                    .then(a.from_segment.cmp(&b.from_segment))
                    .then(a.to_segment.cmp(&b.to_segment))
            });
            if !moves.is_empty() {
                writeln!(w, "\nLargest flows between segments:\n")?;
                writeln!(w, "| From | To | Customers | Share of from |")?;
                writeln!(w, "|---|---|---:|---:|")?;
                for f in moves.iter().take(5) {
                    writeln!(
                        w,
                        "| {} {} | {} {} | {} | {} |",
                        f.from_segment,
                        md_escape(&f.from_name),
                        f.to_segment,
                        md_escape(&f.to_name),
                        thousands(f.customers),
                        pct(f.share_of_from)
                    )?;
                }
            }
        }
        None => {
            if let Some(n) = &c.migration_note {
                writeln!(w, "- Customer flows: {}", md_escape(n))?;
            }
        }
    }
    Ok(())
}
