//! Choosing among the k sweep's fits: the training sample, the k rule and its one-sentence
//! reason, and the order of the segments (largest first), so ids are stable across runs.

use crate::cluster::kmeans::KMeansFit;
use crate::cluster::select_k::{self, KRule};
use crate::cluster::silhouette;
use crate::model::{KRow, KSelection};

use super::config::{KChoice, RunConfig};

/// A uniform random sample of `m` of the rows of `x`, in row order (selection sampling,
/// one pass), from a stream of its own derived from `seed`: same input and seed, same
/// sample, whatever the thread count.
pub(crate) fn train_sample(x: &crate::scale::Matrix, m: usize, seed: u64) -> crate::scale::Matrix {
    let n = x.n;
    let mut rng = crate::rng::Rng::derive(seed, &[0x7A5A_3D1E, n as u64, m as u64]);
    let mut data = Vec::with_capacity(m * x.d);
    let mut needed = m;
    for i in 0..n {
        if needed == 0 {
            break;
        }
        if rng.below((n - i) as u64) < needed as u64 {
            data.extend_from_slice(x.row(i));
            needed -= 1;
        }
    }
    crate::scale::Matrix { n: m, d: x.d, data }
}

fn fmt_sil(s: &silhouette::Score) -> String {
    match s.std_error {
        Some(se) => format!("{:.3} (sampled, ±{:.3})", s.value, se),
        None => format!("{:.3}", s.value),
    }
}

/// Applies the k rule and explains the choice in one sentence. `previous_k` is the k of
/// the `--previous` model: without `--k` it holds, and the sentence says whether the
/// k rule now points elsewhere; with `--k` the sentence says k was re-chosen.
pub(crate) fn choose_k(cfg: &RunConfig, sweep: &[KRow], previous_k: Option<usize>) -> KSelection {
    let in_range: Vec<&KRow> = sweep
        .iter()
        .filter(|r| r.k >= cfg.k_min && r.k <= cfg.k_max)
        .collect();
    let xs: Vec<f64> = in_range.iter().map(|r| r.k as f64).collect();
    let ys: Vec<f64> = in_range.iter().map(|r| r.inertia).collect();
    let knee = select_k::kneedle(&xs, &ys).map(|k| k as usize);
    let ks: Vec<usize> = in_range.iter().map(|r| r.k).collect();
    let sil_vals: Vec<f64> = in_range.iter().map(|r| r.silhouette.value).collect();
    let best = select_k::best_silhouette(&ks, &sil_vals);
    let sil_at = |k: usize| {
        sweep
            .iter()
            .find(|r| r.k == k)
            .map(|r| fmt_sil(&r.silhouette))
            .unwrap_or_default()
    };
    let best_txt = best
        .map(|b| format!("the best silhouette is {} at k = {b}", sil_at(b)))
        .unwrap_or_else(|| "no silhouette could be computed".into());
    let knee_txt = knee
        .map(|kn| format!("the knee of the inertia curve (Kneedle) is at k = {kn}"))
        .unwrap_or_else(|| "the inertia curve has no knee (Kneedle found none)".into());
    let (chosen, reason) = match (cfg.k, cfg.k_rule, knee, best) {
        (KChoice::Unset, _, _, _) if previous_k.is_some() => {
            let h = previous_k.unwrap_or(cfg.k_min);
            let elsewhere: Vec<String> = [("the knee", knee), ("the best silhouette", best)]
                .into_iter()
                .filter_map(|(what, at)| {
                    at.filter(|&a| a != h)
                        .map(|a| format!("{what} now points to k = {a}"))
                })
                .collect();
            let rule_k = match (cfg.k_rule, knee, best) {
                (KRule::Knee, Some(kn), _) => kn,
                (_, _, Some(b)) => b,
                _ => cfg.k_min,
            };
            let now = match (rule_k == h, elsewhere.is_empty()) {
                (true, true) => "the knee and the best silhouette agree with it".to_string(),
                (true, false) => format!(
                    "{}, but --k auto (--k-rule {}) would keep k = {h}",
                    elsewhere.join(" and "),
                    cfg.k_rule
                ),
                (false, _) => format!(
                    "recommendation: {}, and --k auto (--k-rule {}) would choose k = {rule_k}",
                    elsewhere.join(" and "),
                    cfg.k_rule
                ),
            };
            (
                h,
                format!("k = {h} is held from the previous model (--previous; silhouette now {}); {knee_txt} and {best_txt}: {now}.", sil_at(h)),
            )
        }
        (KChoice::Fixed(k), _, _, _) => (
            k,
            format!("k = {k} was set with --k (silhouette {}); for reference, {knee_txt} and {best_txt}.", sil_at(k)),
        ),
        (KChoice::Auto | KChoice::Unset, KRule::Knee, Some(kn), _) => (
            kn,
            format!(
                "k = {kn} is the knee of the inertia curve (Kneedle method): adding segments beyond it buys little reduction in within-segment spread; its silhouette is {}, and {best_txt}.",
                sil_at(kn)
            ),
        ),
        (KChoice::Auto | KChoice::Unset, KRule::Knee, None, Some(b)) => (
            b,
            format!("k = {b} has the best silhouette ({}), taken because {knee_txt}.", sil_at(b)),
        ),
        (KChoice::Auto | KChoice::Unset, KRule::Silhouette, _, Some(b)) => (
            b,
            format!("k = {b} has the best silhouette ({}) as --k-rule silhouette asks; {knee_txt}.", sil_at(b)),
        ),
        _ => (
            cfg.k_min,
            format!("k = {} (the smallest k swept): {knee_txt} and {best_txt}.", cfg.k_min),
        ),
    };
    let reason = match (previous_k, cfg.k) {
        (Some(p), KChoice::Auto | KChoice::Fixed(_)) => format!(
            "{reason} k was re-chosen with --k {} (the previous model had k = {p}).",
            cfg.k
        ),
        _ => reason,
    };
    KSelection {
        rule: cfg.k_rule,
        k_min: cfg.k_min,
        k_max: cfg.k_max,
        knee,
        best_silhouette: best,
        chosen,
        reason,
        sweep: sweep.to_vec(),
    }
}

/// Renumbers segments in a documented, data-driven order: largest segment first; equal
/// sizes by centroid coordinates (scaled, feature by feature, ascending). Random restart
/// order therefore never shows in the ids.
pub fn order_segments(mut fit: KMeansFit) -> KMeansFit {
    let (k, d) = (fit.k, fit.d);
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&a, &b| {
        fit.counts[b].cmp(&fit.counts[a]).then_with(|| {
            let (ca, cb) = (
                &fit.centroids[a * d..(a + 1) * d],
                &fit.centroids[b * d..(b + 1) * d],
            );
            ca.iter()
                .zip(cb)
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        })
    });
    let mut new_of_old = vec![0u32; k];
    for (new, &old) in order.iter().enumerate() {
        new_of_old[old] = new as u32;
    }
    let centroids: Vec<f64> = order
        .iter()
        .flat_map(|&old| fit.centroids[old * d..(old + 1) * d].to_vec())
        .collect();
    let counts = order.iter().map(|&old| fit.counts[old]).collect();
    for l in &mut fit.labels {
        *l = new_of_old[*l as usize];
    }
    fit.centroids = centroids;
    fit.counts = counts;
    fit
}
