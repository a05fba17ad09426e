//! Machine-readable outputs: CSV and JSON.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::output::{werr, write_file};
use crate::pipeline::RunResult;

fn csv_err(path: &Path) -> impl Fn(csv::Error) -> Error + '_ {
    move |e| Error::io(path, "writing", std::io::Error::other(e.to_string()))
}

/// Header of the id column in label files: the input's id column, or "row".
pub fn id_header(model: &Model) -> &str {
    model.id_column.as_deref().unwrap_or("row")
}

/// Writes `id,segment,segment_name` rows. `segment_of(i)` is None for customers that
/// could not be scored (dropped for missing values); they keep their row, unlabelled.
pub fn write_label_rows(
    w: &mut dyn Write,
    path: &Path,
    model: &Model,
    rows: usize,
    id_of: &dyn Fn(usize) -> String,
    segment_of: &dyn Fn(usize) -> Option<u32>,
) -> Result<()> {
    let mut csv = csv::WriterBuilder::new().from_writer(w);
    csv.write_record([id_header(model), "segment", "segment_name"])
        .map_err(csv_err(path))?;
    let names: Vec<&str> = model.segments.iter().map(|s| s.name.as_str()).collect();
    let ids: Vec<String> = model.segments.iter().map(|s| s.id.to_string()).collect();
    for i in 0..rows {
        let id = id_of(i);
        match segment_of(i) {
            Some(s) => csv.write_record([id.as_str(), &ids[s as usize], names[s as usize]]),
            None => csv.write_record([id.as_str(), "", ""]),
        }
        .map_err(csv_err(path))?;
    }
    csv.flush().map_err(werr(path))?;
    Ok(())
}

/// Calls `f(customer id, segment index)` for every input row in order, like
/// `labels.csv`: customers dropped for missing values come with None.
pub fn for_each_label(r: &RunResult, f: &mut dyn FnMut(&str, Option<u32>)) {
    match (&r.clean.kept, &r.clean.original_ids) {
        (Some(kept), Some(orig)) => {
            let mut j = 0usize;
            for (i, k) in kept.iter().enumerate() {
                if *k {
                    f(orig.get(i), Some(r.labels[j]));
                    j += 1;
                } else {
                    f(orig.get(i), None);
                }
            }
        }
        _ => {
            for (i, l) in r.labels.iter().enumerate() {
                f(r.table.ids.get(i), Some(*l));
            }
        }
    }
}

pub fn write_labels(path: &Path, r: &RunResult) -> Result<()> {
    write_file(path, |w| match (&r.clean.kept, &r.clean.original_ids) {
        (Some(kept), Some(orig)) => {
            // Dropped customers are listed too, with empty segment fields.
            let mut kept_index = vec![u32::MAX; kept.len()];
            let mut j = 0;
            for (i, k) in kept.iter().enumerate() {
                if *k {
                    kept_index[i] = j;
                    j += 1;
                }
            }
            write_label_rows(
                w,
                path,
                &r.model,
                kept.len(),
                &|i| orig.get(i).to_string(),
                &|i| (kept_index[i] != u32::MAX).then(|| r.labels[kept_index[i] as usize]),
            )
        }
        _ => write_label_rows(
            w,
            path,
            &r.model,
            r.labels.len(),
            &|i| r.table.ids.get(i).to_string(),
            &|i| Some(r.labels[i]),
        ),
    })
}

pub fn write_k_selection(path: &Path, model: &Model) -> Result<()> {
    write_file(path, |w| {
        writeln!(w, "k,inertia,silhouette,silhouette_method,silhouette_std_error,silhouette_sample_size,chosen").map_err(werr(path))?;
        for row in &model.k_selection.sweep {
            writeln!(
                w,
                "{},{},{},{},{},{},{}",
                row.k,
                row.inertia,
                row.silhouette.value,
                row.silhouette.method,
                row.silhouette
                    .std_error
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                row.silhouette.sample_size,
                row.k == model.k
            )
            .map_err(werr(path))?;
        }
        Ok(())
    })
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// One row per segment: id, name, size, share, then mean / median / index of every
/// numeric column, then the derived indicators, then the rationale and action.
pub fn write_segments_csv(path: &Path, r: &RunResult) -> Result<()> {
    write_file(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let mut header: Vec<String> = ["segment", "name", "customers", "share"]
            .map(String::from)
            .to_vec();
        for s in &r.profile.portfolio.stats {
            header.push(format!("{}_mean", s.column));
            header.push(format!("{}_median", s.column));
            header.push(format!("{}_index", s.column));
        }
        for i in &r.profile.portfolio.indicators {
            header.push(i.name.clone());
            header.push(format!("{}_index", i.name));
        }
        header.push("rationale".into());
        header.push("suggested_action".into());
        csv.write_record(&header).map_err(csv_err(path))?;
        for (seg, meta) in r.profile.segments.iter().zip(&r.model.segments) {
            let mut row = vec![
                seg.id.to_string(),
                meta.name.clone(),
                seg.customers.to_string(),
                seg.share.to_string(),
            ];
            for s in &seg.stats {
                row.push(opt(s.mean));
                row.push(opt(s.median));
                row.push(opt(s.index));
            }
            for i in &seg.indicators {
                row.push(opt(i.value));
                row.push(opt(i.index));
            }
            row.push(meta.rationale.clone());
            row.push(meta.action.clone());
            csv.write_record(&row).map_err(csv_err(path))?;
        }
        csv.flush().map_err(werr(path))?;
        Ok(())
    })
}

#[derive(Serialize)]
pub struct SegmentsJson<'a> {
    pub customers: u64,
    pub portfolio: &'a crate::profile::SegmentProfile,
    pub segments: Vec<SegmentJson<'a>>,
}

#[derive(Serialize)]
pub struct SegmentJson<'a> {
    pub name: &'a str,
    pub rationale: &'a str,
    pub suggested_action: &'a str,
    pub centroid: std::collections::BTreeMap<&'a str, f64>,
    #[serde(flatten)]
    pub profile: &'a crate::profile::SegmentProfile,
}

pub fn segments_json(r: &RunResult) -> SegmentsJson<'_> {
    SegmentsJson {
        customers: r.profile.customers,
        portfolio: &r.profile.portfolio,
        segments: r
            .profile
            .segments
            .iter()
            .zip(&r.model.segments)
            .zip(&r.model.centroids)
            .map(|((p, m), c)| SegmentJson {
                name: &m.name,
                rationale: &m.rationale,
                suggested_action: &m.action,
                centroid: r
                    .model
                    .features
                    .iter()
                    .map(String::as_str)
                    .zip(c.iter().copied())
                    .collect(),
                profile: p,
            })
            .collect(),
    }
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_file(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)
            .map_err(|e| Error::io(path, "writing", std::io::Error::other(e.to_string())))?;
        w.write_all(b"\n").map_err(werr(path))
    })
}
