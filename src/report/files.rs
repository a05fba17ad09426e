//! Machine-readable outputs: CSV and JSON.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::labels::{Label, Labels};
use crate::lifecycle::outliers::Outlier;
use crate::model::Model;
use crate::output::{werr, write_file};
use crate::segmentation::Segmentation;
use crate::text::Precision;

fn csv_err(path: &Path) -> impl Fn(csv::Error) -> Error + '_ {
    move |e| Error::io(path, "writing", std::io::Error::other(e.to_string()))
}

/// Writes `id,segment,segment_name,distance,distance_percentile,outlier` rows.
/// A customer that could not be scored (dropped for missing values) keeps its row,
/// unlabelled, with the other cells empty. `outlier_of(label)` gives a scored customer's
/// outlier figures (see [`crate::lifecycle::outliers`]).
///
/// Millions of rows: the header, and each segment's `,id,name` ending, are encoded once
/// by the `csv` writer; an id goes out as it is unless it holds a byte the writer quotes
/// (delimiter, quote, CR, LF), when the writer encodes it. The bytes are those of
/// writing every row with the `csv` writer (`label_rows_match_the_csv_writer`).
///
/// Text cells that a spreadsheet would run as formulas are neutralised
/// ([`crate::csvcell`]) unless `style.raw_csv` (`--raw-csv`); distances and percentiles
/// are written in `style.precision` (compact unless `--full-precision`).
pub fn write_label_rows(
    w: &mut dyn Write,
    path: &Path,
    model: &Model,
    labels: &Labels,
    outlier_of: &(dyn Fn(&Label) -> Outlier + Sync),
    style: LabelStyle,
) -> Result<()> {
    use crate::csvcell::cell;
    use rayon::prelude::*;
    let (raw, precision) = (style.raw_csv, style.precision);
    let encode = |fields: &[&str]| -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        {
            let mut csv = csv::WriterBuilder::new().from_writer(&mut buf);
            csv.write_record(fields).map_err(csv_err(path))?;
            csv.flush().map_err(werr(path))?;
        }
        Ok(buf)
    };
    let header = encode(&[
        &cell(model.id_header(), raw),
        "segment",
        "segment_name",
        "distance",
        "distance_percentile",
        "outlier",
    ])?;
    // "x" is written bare, so what follows it is the encoded rest of the row.
    let mut tails = Vec::with_capacity(model.segments.len());
    for s in &model.segments {
        let mut t = encode(&["x", &s.id.to_string(), &cell(&s.name, raw)])?.split_off(1);
        t.pop(); // the line end comes after the outlier cells
        tails.push(t);
    }
    let unscored = encode(&["x", "", "", "", "", ""])?.split_off(1);
    let row = |out: &mut Vec<u8>, label: &Label| -> Result<()> {
        let id = cell(label.id, raw);
        let id = id.as_ref();
        if id.bytes().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n')) {
            let row = encode(&[id, "", "", "", "", ""])?;
            out.extend_from_slice(&row[..row.len() - unscored.len()]);
        } else {
            out.extend_from_slice(id.as_bytes());
        }
        match label.segment {
            Some(s) => {
                out.extend_from_slice(&tails[s as usize]);
                // Numbers and true/false never need quoting.
                let o = outlier_of(label);
                out.push(b',');
                precision.push_distance(out, o.distance);
                match (o.percentile, o.outlier) {
                    (Some(p), Some(f)) => {
                        out.push(b',');
                        precision.push_percentile(out, p);
                        out.extend_from_slice(if f { b",true\n" } else { b",false\n" });
                    }
                    _ => out.extend_from_slice(b",,\n"),
                }
            }
            None => out.extend_from_slice(&unscored),
        }
        Ok(())
    };
    w.write_all(&header).map_err(werr(path))?;
    // Formatting the numbers is most of the work at millions of rows: batches of rows are
    // formatted side by side and written in input order, so the bytes do not depend on
    // the thread count. A batch is written while the next one is formatted, so at most two
    // batches of text are held.
    let mut rows = labels.iter();
    let mut pending: Vec<Vec<u8>> = Vec::new();
    loop {
        let batch: Vec<Label> = rows.by_ref().take(LABEL_TASK_ROWS * 4).collect();
        let format = || -> Result<Vec<Vec<u8>>> {
            batch
                .par_chunks(LABEL_TASK_ROWS)
                .map(|c| {
                    let mut out = Vec::with_capacity(c.len() * 48);
                    for l in c {
                        row(&mut out, l)?;
                    }
                    Ok(out)
                })
                .collect()
        };
        let mut write = |parts: &[Vec<u8>]| -> Result<()> {
            parts
                .iter()
                .try_for_each(|p| w.write_all(p).map_err(werr(path)))
        };
        if batch.is_empty() {
            return write(&pending);
        }
        // The writer stays on this thread; the formatting runs on the pool meanwhile.
        let next = std::thread::scope(|s| {
            let format = &format;
            match std::thread::Builder::new().spawn_scoped(s, format) {
                Ok(formatted) => {
                    let written = write(&pending);
                    let next = formatted
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p));
                    written.and(next)
                }
                // No thread to spare: one after the other.
                Err(_) => write(&pending).and_then(|()| format()),
            }
        })?;
        pending = next;
    }
}

/// Rows of labels.csv one task formats (a few MB of text).
const LABEL_TASK_ROWS: usize = 1 << 16;

/// How a labels file is written: formula neutralisation of text cells (off with
/// `--raw-csv`) and the precision of its numbers (compact unless `--full-precision`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LabelStyle {
    /// Write text cells as they are.
    pub raw_csv: bool,
    /// Digits of the distance and percentile cells.
    pub precision: Precision,
}

/// The format of a labels file (`--labels-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LabelsFormat {
    /// labels.csv (text; see [`LabelStyle`]).
    #[default]
    Csv,
    /// labels.parquet (typed columns; see [`super::labels_parquet`]).
    Parquet,
}

impl LabelsFormat {
    /// The file extension of this format.
    pub fn extension(self) -> &'static str {
        match self {
            LabelsFormat::Csv => "csv",
            LabelsFormat::Parquet => "parquet",
        }
    }
}

impl std::fmt::Display for LabelsFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.extension())
    }
}

impl std::str::FromStr for LabelsFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "csv" => Ok(LabelsFormat::Csv),
            "parquet" => Ok(LabelsFormat::Parquet),
            _ => Err(format!("--labels-format takes csv or parquet, not {s:?}")),
        }
    }
}

/// labels.parquet of a segmentation (see [`super::labels_parquet`]); `checksum` is the
/// model's, stored in the file's metadata.
pub fn write_labels_parquet(path: &Path, r: &Segmentation, checksum: &str) -> Result<()> {
    write_file(path, |w| {
        super::labels_parquet::write_label_parquet(
            w,
            path,
            &r.model,
            &r.labels(),
            &|l| r.outlier(l.scored),
            checksum,
        )
    })
}

/// labels.csv of a segmentation: every input row, dropped customers with empty segment
/// fields.
pub fn write_labels(path: &Path, r: &Segmentation, style: LabelStyle) -> Result<()> {
    write_file(path, |w| {
        write_label_rows(
            w,
            path,
            &r.model,
            &r.labels(),
            &|l| r.outlier(l.scored),
            style,
        )
    })
}

/// Writes `k_selection.csv`: the sweep behind the choice of k, for checking it.
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

/// A cell of the segment profile table ([`segments_table`]).
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileCell<'a> {
    /// A count or a segment id.
    Int(u64),
    /// A figure; None where it is undefined (written empty).
    Num(Option<f64>),
    /// A name, rationale or action.
    Text(&'a str),
}

/// The segment profile as a table (what segments.csv holds, and what the Python
/// package shows): one row per segment: id, name, size, share, then mean / median /
/// index of every numeric column, then the derived indicators, then the category
/// shares, then the outcomes and the stability, then the rationale and action. Header and text cells are as they are.
pub fn segments_table(r: &Segmentation) -> (Vec<String>, Vec<Vec<ProfileCell<'_>>>) {
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
    // Categorical columns: the share of each value, and its index against the portfolio.
    for c in &r.profile.portfolio.categories {
        for v in &c.values {
            header.push(format!("{}={}_share", c.column, v.value));
            header.push(format!("{}={}_index", c.column, v.value));
        }
    }
    for o in &r.profile.portfolio.outcomes {
        let v = if o.kind == "rate" { "rate" } else { "mean" };
        for part in [v, "ci_low", "ci_high", "index", "customers", "differs"] {
            header.push(format!("{}_{part}", o.column));
        }
    }
    if r.model.stability.is_some() {
        header.push("stability_jaccard".into());
        header.push("stability".into());
    }
    header.push("rationale".into());
    header.push("suggested_action".into());
    let rows = r
        .profile
        .segments
        .iter()
        .zip(&r.model.segments)
        .map(|(seg, meta)| {
            use ProfileCell::{Int, Num, Text};
            let mut row = vec![
                Int(u64::from(seg.id)),
                Text(&meta.name),
                Int(seg.customers),
                Num(Some(seg.share)),
            ];
            for s in &seg.stats {
                row.extend([Num(s.mean), Num(s.median), Num(s.index)]);
            }
            for i in &seg.indicators {
                row.extend([Num(i.value), Num(i.index)]);
            }
            for c in &seg.categories {
                for v in &c.values {
                    row.extend([Num(Some(v.share)), Num(v.index)]);
                }
            }
            for o in &seg.outcomes {
                row.extend([
                    Num(o.value),
                    Num(o.ci_low),
                    Num(o.ci_high),
                    Num(o.index),
                    Int(o.customers),
                    Text(if o.differs { "true" } else { "false" }),
                ]);
            }
            if let Some(st) = &r.model.stability {
                let s = st.segments.iter().find(|x| x.id == seg.id);
                row.push(Num(s.map(|x| x.jaccard)));
                row.push(Text(s.map_or("", |x| x.verdict.as_str())));
            }
            row.push(Text(&meta.rationale));
            row.push(Text(&meta.action));
            row
        })
        .collect();
    (header, rows)
}

/// `segments.csv`: [`segments_table`]. Text cells (names, rationale, action, column
/// names) are neutralised unless `raw`.
pub fn write_segments_csv(path: &Path, r: &Segmentation, raw: bool) -> Result<()> {
    write_file(path, |w| {
        let mut csv = csv::WriterBuilder::new().from_writer(w);
        let (header, rows) = segments_table(r);
        let header: Vec<String> = header
            .iter()
            .map(|h| crate::csvcell::cell(h, raw).into_owned())
            .collect();
        csv.write_record(&header).map_err(csv_err(path))?;
        for row in rows {
            let row: Vec<String> = row
                .into_iter()
                .map(|c| match c {
                    ProfileCell::Int(v) => v.to_string(),
                    ProfileCell::Num(v) => opt(v),
                    ProfileCell::Text(t) => crate::csvcell::cell(t, raw).into_owned(),
                })
                .collect();
            csv.write_record(&row).map_err(csv_err(path))?;
        }
        csv.flush().map_err(werr(path))?;
        Ok(())
    })
}

/// `segments.json`: every segment's profile for other tools.
#[derive(Serialize)]
pub struct SegmentsJson<'a> {
    /// Customers segmented.
    pub customers: u64,
    /// The portfolio's profile, the reference of every index.
    pub portfolio: &'a crate::profile::SegmentProfile,
    /// One entry per segment (segment order).
    pub segments: Vec<SegmentJson<'a>>,
}

/// One segment in `segments.json`: its naming, centroid and profile.
#[derive(Serialize)]
pub struct SegmentJson<'a> {
    /// Segment name.
    pub name: &'a str,
    /// Why it has that name.
    pub rationale: &'a str,
    /// What to do with it.
    pub suggested_action: &'a str,
    /// Centroid per feature, in input units (sorted by feature, for stable diffs).
    pub centroid: std::collections::BTreeMap<&'a str, f64>,
    /// How reproducible the segment is (when measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stability: Option<&'a crate::cluster::stability::SegmentStability>,
    /// Its profile, flattened into the entry.
    #[serde(flatten)]
    pub profile: &'a crate::profile::SegmentProfile,
}

/// Gathers `segments.json` from a segmentation (borrowing, nothing copied).
pub fn segments_json(r: &Segmentation) -> SegmentsJson<'_> {
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
                stability: r
                    .model
                    .stability
                    .as_ref()
                    .and_then(|s| s.segments.iter().find(|x| x.id == p.id)),
                profile: p,
            })
            .collect(),
    }
}

/// `stability.csv` (`--stability-detail`): one row per customer of each resample —
/// resample, row (0-based among the segmented customers), the model's segment id and the
/// resample's own cluster (0-based) — so the figures can be recomputed elsewhere.
pub fn write_stability_detail(path: &Path, r: &Segmentation) -> Result<()> {
    let Some(st) = &r.model.stability else {
        return Ok(());
    };
    write_file(path, |w| {
        let mut out = Vec::with_capacity(1 << 20);
        out.extend_from_slice(b"resample,row,segment,resample_cluster\n");
        for (b, (rows, labels)) in st.detail.iter().enumerate() {
            for (&i, &l) in rows.iter().zip(labels) {
                let seg = r.model.segments[r.labels[i] as usize].id;
                writeln!(out, "{b},{i},{seg},{l}").map_err(werr(path))?;
            }
            w.write_all(&out).map_err(werr(path))?;
            out.clear();
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with a segment name the `csv` writer has to quote.
    fn model() -> Model {
        let seg = |id: u32, name: &str| serde_json::json!({"id": id, "name": name, "rationale": "r", "action": "a", "customers": 1, "share": 0.5});
        let score = serde_json::json!({"method": "exact", "sample_size": 2, "std_error": null, "value": 1.0});
        serde_json::from_value(serde_json::json!({
            "cardseg_version": "test",
            "id_column": "ID, the \"key\"",
            "features": ["A"],
            "profile_features": [],
            "missing_policy": "drop",
            "cleaning": [{"column": "A", "missing": 0, "fill_value": null}],
            "scaler": {"features": ["A"], "data_min": [0.0], "data_max": [10.0], "scale": [0.1], "min": [0.0]},
            "k": 2,
            "centroids_scaled": [[0.0], [1.0]],
            "centroids": [[0.0], [10.0]],
            "segments": [seg(1, "Low"), seg(2, "High, \"quoted\"\nsecond line")],
            "training_rows": 2,
            "training_source": "test",
            "inertia": 0.0,
            "silhouette": score,
            "k_selection": {"rule": "knee", "k_min": 2, "k_max": 2, "knee": null, "best_silhouette": 2, "chosen": 2, "reason": "test", "sweep": []},
            "seed": 1,
            "n_init": 1,
        }))
        .unwrap()
    }

    #[test]
    fn label_rows_match_the_csv_writer() {
        let m = model();
        let ids = [
            "C1",
            "",
            "a,b",
            "say \"hi\"",
            "cr\rlf\n",
            " spaced ",
            "#hash",
            "ünï",
            "x",
            "\"",
            "=HYPERLINK(1)",
            "-5.3",
            "@x",
        ];
        let styles = [Precision::Compact, Precision::Full]
            .into_iter()
            .flat_map(|precision| [true, false].map(|raw_csv| LabelStyle { raw_csv, precision }));
        for style in styles {
            let raw = style.raw_csv;
            let cell = |c: &str| crate::csvcell::cell(c, raw).into_owned();
            let seg = |i: usize| (i % 3 != 2).then_some((i % 2) as u32);
            let mut packed = crate::table::Ids::default();
            ids.iter().for_each(|id| packed.push(id));
            let segs: Vec<Option<u32>> = (0..ids.len()).map(seg).collect();
            let mut fast = Vec::new();
            write_label_rows(
                &mut fast,
                Path::new("l.csv"),
                &m,
                &Labels::per_row(&packed, &segs),
                &|l| Outlier::of(&m, seg(l.row).unwrap() as usize, l.row as f64 / 3.0),
                style,
            )
            .unwrap();
            let mut slow = Vec::new();
            {
                let mut csv = csv::WriterBuilder::new().from_writer(&mut slow);
                csv.write_record([
                    cell(m.id_header()).as_str(),
                    "segment",
                    "segment_name",
                    "distance",
                    "distance_percentile",
                    "outlier",
                ])
                .unwrap();
                for (i, id) in ids.iter().enumerate() {
                    match seg(i) {
                        Some(s) => {
                            let sm = &m.segments[s as usize];
                            let [d, p, o] = Outlier::of(&m, s as usize, i as f64 / 3.0)
                                .cells_in(style.precision);
                            csv.write_record([cell(id), sm.id.to_string(), cell(&sm.name), d, p, o])
                        }
                        None => csv.write_record([cell(id).as_str(), "", "", "", "", ""]),
                    }
                    .unwrap();
                }
                csv.flush().unwrap();
            }
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&slow)
            );
        }
    }
}
