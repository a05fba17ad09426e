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
    /// Rows of an id column whose id is empty (or null); left out of summary.json when
    /// there are none.
    #[serde(skip_serializing_if = "is_zero")]
    pub empty_ids: u64,
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
    /// What named the segments (credit-card archetypes, custom rules, or features, when no
    /// archetype applies to the columns or none fits a segment).
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
    /// Outcomes per segment (`--outcome`), with 95% intervals.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outcomes: Vec<OutcomeSummary>,
    /// How reproducible the segments are (None when not measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stability: Option<crate::cluster::stability::Stability>,
    /// How strong the structure is, from stability and silhouette.
    pub structure: Structure,
    /// Profiled columns whose names suggest a protected attribute (named by the user).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub protected_columns: Vec<String>,
    /// The fair-lending caution shown when such columns are profiled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caution: Option<String>,
}

/// One outcome across the segments.
#[derive(Debug, Serialize)]
pub struct OutcomeSummary {
    /// Outcome column.
    pub column: String,
    /// "rate" (0/1) or "mean".
    pub kind: String,
    /// The portfolio's figure.
    pub portfolio: crate::profile::Outcome,
    /// Per segment (segment order): id, name and figure.
    pub segments: Vec<(u32, String, crate::profile::Outcome)>,
}

/// Silhouette from which segments are called clearly separated (Kaufman and Rousseeuw).
pub const SEPARATION_CLEAR_FROM: f64 = 0.5;
/// Silhouette below which there is no substantial structure (Kaufman and Rousseeuw).
pub const SEPARATION_NONE_BELOW: f64 = 0.25;

/// How strong the segmentation's structure is, in one plain sentence.
#[derive(Debug, Serialize)]
pub struct Structure {
    /// True when the summary warns that the structure is weak: the partition is weak or
    /// not reproducible (mean ARI below 0.75), or the silhouette is below 0.25.
    pub weak: bool,
    /// Separation by silhouette: "clear" (≥ 0.5), "moderate" (0.25–0.5) or "none".
    pub separation: String,
    /// Segment ids that are not reproducible (mean Jaccard below 0.6).
    pub not_reproducible: Vec<u32>,
    /// The sentence the summary and the dashboard show.
    pub sentence: String,
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
    /// Who they are, how many, what to do: one sentence for a marketing lead.
    pub plain: String,
    /// Why it has its name (the fit figures and conditions).
    pub rationale: String,
    /// What to do with it.
    pub suggested_action: String,
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
                plain: plain_sentence(r, p, s),
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
            empty_ids: if r.table.id_column.is_some() {
                r.table.ids.iter().filter(|id| id.is_empty()).count() as u64
            } else {
                0
            },
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
            outcomes: outcome_summaries(r),
            stability: r.model.stability.clone(),
            structure: structure(r),
            protected_columns: protected_columns(r),
            caution: (!protected_columns(r).is_empty()).then(|| format!(
                "Fair-lending caution: {} may be a protected attribute. It is profiled because it was named; do not use it, or a segment that stands in for it, to decide credit, pricing or offers.",
                protected_columns(r).join(", ")
            )),
        }
    }
}

/// Profiled columns whose names suggest a protected attribute.
fn protected_columns(r: &Segmentation) -> Vec<String> {
    let p = &r.profile.portfolio;
    p.stats
        .iter()
        .map(|s| &s.column)
        .chain(p.categories.iter().map(|c| &c.column))
        .filter(|c| crate::profile::looks_protected(c))
        .cloned()
        .collect()
}

fn outcome_summaries(r: &Segmentation) -> Vec<OutcomeSummary> {
    let p = &r.profile;
    p.portfolio
        .outcomes
        .iter()
        .map(|po| OutcomeSummary {
            column: po.column.clone(),
            kind: po.kind.clone(),
            portfolio: po.clone(),
            segments: p
                .segments
                .iter()
                .zip(&r.model.segments)
                .filter_map(|(s, m)| {
                    s.outcome(&po.column)
                        .map(|o| (s.id, m.name.clone(), o.clone()))
                })
                .collect(),
        })
        .collect()
}

/// The outcome figure as people read it: a rate in percent, a mean as a number.
fn outcome_value(o: &crate::profile::Outcome, v: f64) -> String {
    if o.kind == "rate" {
        pct(v)
    } else {
        human(v)
    }
}

fn outcome_word(o: &crate::profile::Outcome) -> String {
    let c = o.column.to_lowercase().replace('_', " ");
    if o.kind == "rate" {
        format!("{c} rate")
    } else {
        format!("average {c}")
    }
}

/// "default rate 9.3% (95% interval 8.1%–10.6%) against 3.3% for the portfolio".
fn outcome_phrase(o: &crate::profile::Outcome, port: &crate::profile::Outcome) -> String {
    let (Some(v), Some(pv)) = (o.value, port.value) else {
        return format!("{}: no customer with a value", outcome_word(o));
    };
    let ci = match (o.ci_low, o.ci_high) {
        (Some(lo), Some(hi)) => format!(
            " (95% interval {}–{})",
            outcome_value(o, lo),
            outcome_value(o, hi)
        ),
        _ => String::new(),
    };
    let times = match o.index {
        Some(i) if i > 0.0 => format!(", {:.1}× the portfolio", i / 100.0),
        _ => String::new(),
    };
    format!(
        "{} {}{ci} against {} for the portfolio{times}",
        outcome_word(o),
        outcome_value(o, v),
        outcome_value(o, pv)
    )
}

/// Findings on the outcomes: per outcome, the segments whose interval excludes the
/// portfolio's figure, furthest from it first.
fn outcome_findings(r: &Segmentation) -> Vec<String> {
    let mut out: Vec<(f64, String)> = Vec::new();
    for os in outcome_summaries(r) {
        for (_, name, o) in &os.segments {
            if !o.differs {
                continue;
            }
            let dist = o.index.map_or(0.0, |i| (i / 100.0).max(1e-9).ln().abs());
            out.push((
                dist,
                format!(
                    "{name} differs on {}: {}.",
                    os.column,
                    outcome_phrase(o, &os.portfolio)
                ),
            ));
        }
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0));
    out.into_iter().map(|(_, t)| t).collect()
}

/// A ratio to the portfolio in words.
fn ratio_words(r: f64) -> &'static str {
    if r >= 2.0 {
        "far above average"
    } else if r >= 1.15 {
        "above average"
    } else if r > 0.87 {
        "about average"
    } else if r > 0.5 {
        "below average"
    } else {
        "far below average"
    }
}

/// One sentence a marketing lead understands: how many, what sets them apart, what to do.
fn plain_sentence(
    r: &Segmentation,
    p: &crate::profile::SegmentProfile,
    meta: &crate::model::SegmentMeta,
) -> String {
    let port = &r.profile.portfolio;
    let mut traits: Vec<(f64, String)> = r
        .model
        .features
        .iter()
        .filter_map(|f| {
            let ratio = p.ratio(f)?;
            (ratio > 0.0).then(|| {
                (
                    ratio.ln().abs(),
                    format!(
                        "{} {} ({:.2}×)",
                        f.to_lowercase().replace('_', " "),
                        ratio_words(ratio),
                        ratio
                    ),
                )
            })
        })
        .collect();
    traits.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut parts: Vec<String> = traits.into_iter().map(|t| t.1).collect();
    for o in &p.outcomes {
        if let (true, Some(po)) = (o.differs, port.outcome(&o.column)) {
            if let (Some(v), Some(pv)) = (o.value, po.value) {
                parts.push(format!(
                    "{} {} against {} overall",
                    outcome_word(o),
                    outcome_value(o, v),
                    outcome_value(o, pv)
                ));
            }
        }
    }
    format!(
        "{} customers ({} of the portfolio): {}. What to do: {}.",
        thousands(p.customers),
        pct(p.share),
        if parts.is_empty() {
            "close to the portfolio average".to_string()
        } else {
            parts.join(", ")
        },
        meta.action.trim_end_matches('.')
    )
}

fn structure(r: &Segmentation) -> Structure {
    use crate::cluster::stability::WEAK_BELOW;
    let sil = r.model.silhouette.value;
    let separation = if sil >= SEPARATION_CLEAR_FROM {
        "clear"
    } else if sil >= SEPARATION_NONE_BELOW {
        "moderate"
    } else {
        "none"
    };
    let sep_text = match separation {
        "clear" => format!("the silhouette is {sil:.2} (segments clearly separated)"),
        "moderate" => format!(
            "the silhouette is {sil:.2} (moderate separation: boundaries between segments are soft)"
        ),
        _ => format!("the silhouette is {sil:.2} (no substantial separation: segments overlap)"),
    };
    let stab = r.model.stability.as_ref();
    let not_reproducible = stab.map(|s| s.not_reproducible()).unwrap_or_default();
    let weak =
        stab.is_some_and(|s| s.ari.is_nan() || s.ari < WEAK_BELOW) || sil < SEPARATION_NONE_BELOW;
    let stab_text = match stab {
        Some(s) => format!(
            "refitting {} segments on {} random halves of the customers ({} each) reproduces the partition at an adjusted Rand index of {:.2} ({})",
            r.model.k,
            s.resamples,
            thousands(s.sample_size as u64),
            s.ari,
            s.verdict
        ),
        None => "stability was not measured".to_string(),
    };
    let nr = if not_reproducible.is_empty() {
        String::new()
    } else {
        format!(
            " Not reproducible: segment{} {} (they mostly dissolve when the data are resampled).",
            if not_reproducible.len() > 1 { "s" } else { "" },
            not_reproducible
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let sentence = if weak {
        format!(
            "Weak structure: {stab_text}, and {sep_text}. Treat these segments as a convenient split of a continuum, not as distinct groups, and do not build policy on their boundaries.{nr}"
        )
    } else {
        format!("The segments are reproducible: {stab_text}; {sep_text}.{nr}")
    };
    Structure {
        weak,
        separation: separation.to_string(),
        not_reproducible,
        sentence,
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
    // The segments that differ significantly on an outcome come first.
    let mut all: Vec<String> = outcome_findings(r).into_iter().take(3).collect();
    all.extend(out);
    all
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
    writeln!(w, "## How reliable are these segments\n")?;
    if s.structure.weak {
        writeln!(w, "**{}**\n", md_escape(&s.structure.sentence))?;
    } else {
        writeln!(w, "{}\n", md_escape(&s.structure.sentence))?;
    }
    if let Some(c) = &s.caution {
        writeln!(w, "**{}**\n", md_escape(c))?;
    }
    let stab = |id: u32| {
        s.stability
            .as_ref()
            .and_then(|st| st.segments.iter().find(|x| x.id == id))
            .map(|x| format!("{:.2} ({})", x.jaccard, x.verdict))
    };
    writeln!(w, "## Segments by size\n")?;
    write!(w, "| Segment | Name | Customers | Share |")?;
    for f in &s.features {
        write!(w, " Avg {} |", md_escape(f))?;
    }
    if s.stability.is_some() {
        write!(w, " Stability (Jaccard) |")?;
    }
    writeln!(w, " In plain words |")?;
    write!(w, "|---:|---|---:|---:|")?;
    for _ in &s.features {
        write!(w, "---:|")?;
    }
    if s.stability.is_some() {
        write!(w, "---|")?;
    }
    writeln!(w, "---|")?;
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
        if s.stability.is_some() {
            write!(w, " {} |", stab(seg.id).unwrap_or_else(|| "n/a".into()))?;
        }
        writeln!(w, " {} |", md_escape(&seg.plain))?;
    }
    writeln!(w, "\n{}", md_escape(&s.naming_note))?;
    writeln!(w, "\n### Why these names\n")?;
    for seg in &s.segments {
        writeln!(
            w,
            "- **{} {}**: {}",
            seg.id,
            md_escape(&seg.name),
            md_escape(&seg.rationale)
        )?;
    }
    for o in &s.outcomes {
        writeln!(w, "\n## Outcome: {}\n", md_escape(&o.column))?;
        writeln!(
            w,
            "{} per segment with its 95% interval ({}); a segment differs when its interval excludes the portfolio's {}.\n",
            if o.kind == "rate" { "Rate" } else { "Mean" },
            if o.kind == "rate" { "Wilson" } else { "normal approximation" },
            if o.kind == "rate" { "rate" } else { "mean" },
        )?;
        writeln!(
            w,
            "| Segment | Name | Customers | {} | 95% interval | Index | Differs |",
            if o.kind == "rate" { "Rate" } else { "Mean" }
        )?;
        writeln!(w, "|---:|---|---:|---:|---|---:|---|")?;
        let row = |id: String, name: &str, x: &crate::profile::Outcome| {
            format!(
                "| {id} | {} | {} | {} | {} | {} | {} |",
                md_escape(name),
                thousands(x.customers),
                x.value
                    .map(|v| outcome_value(x, v))
                    .unwrap_or_else(|| "n/a".into()),
                match (x.ci_low, x.ci_high) {
                    (Some(lo), Some(hi)) =>
                        format!("{} – {}", outcome_value(x, lo), outcome_value(x, hi)),
                    _ => "n/a".into(),
                },
                x.index
                    .map(|i| format!("{i:.0}"))
                    .unwrap_or_else(|| "n/a".into()),
                if x.differs { "yes" } else { "no" }
            )
        };
        for (id, name, x) in &o.segments {
            writeln!(w, "{}", row(id.to_string(), name, x))?;
        }
        writeln!(w, "{}", row("all".into(), "Portfolio", &o.portfolio))?;
    }
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
    if s.empty_ids > 0 {
        writeln!(
            w,
            "- Empty customer ids: {} (those rows were segmented without an id; check the extract)",
            thousands(s.empty_ids)
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
    writeln!(w, "- k: {}", md_escape(&c.k_note))?;
    writeln!(w, "- New segments: {}", list(&c.new_segments))?;
    writeln!(w, "- Retired segments: {}", list(&c.retired))?;
    for r in &c.renamed {
        writeln!(
            w,
            "- Segment {} renamed from {} to {}: {}",
            r.id,
            md_escape(&r.from),
            md_escape(&r.to),
            md_escape(&r.reason)
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
    if let Some(n) = &c.outcomes_note {
        writeln!(w, "- Outcomes: {}", md_escape(n))?;
    }
    crate::lifecycle::outcomes::write_md(w, &c.outcomes, "Previous run", "Now")?;
    Ok(())
}
