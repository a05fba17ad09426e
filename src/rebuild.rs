//! `cardseg dashboard`: rebuilds `dashboard.html` from a saved model, a labels file
//! (`labels.csv` of a run, or the output of `predict`) and the customer data, without
//! re-clustering. The profile is recomputed from the data, so the page describes the
//! customers given; on the training file the page is byte-identical to the run's own.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::clean::{CleanReport, ColumnCleaning, MissingPolicy};
use crate::error::{Error, Result};
use crate::ingest;
use crate::model::Model;
use crate::report::summary::Summary;
use crate::segmentation::Segmentation;

/// What to rebuild from, and where to write the page.
#[derive(Debug, Clone)]
pub struct RebuildRequest {
    /// The saved model.
    pub model: PathBuf,
    /// The labels (a run's or `predict`'s).
    pub labels: PathBuf,
    /// The data the labels were computed from.
    pub input: String,
    /// Where to write the page.
    pub out: PathBuf,
    /// Replace an existing page.
    pub force: bool,
    /// CSV delimiter, when not detected.
    pub delimiter: Option<u8>,
}

/// What the rebuild read and wrote, for its closing message.
#[derive(Debug, Clone)]
pub struct RebuildReport {
    /// Customers in the data.
    pub customers_read: u64,
    /// Customers with a label.
    pub customers_labelled: u64,
    /// Size of the written page.
    pub bytes: u64,
    /// The checksum of the model the page shows.
    pub model_checksum: String,
}

/// Reads the labels file: one entry per input row, `Some(segment index)` or `None` for
/// a customer left unlabelled. Every row must carry the input row's id, and every name
/// the model's name for that segment, so labels from another file or model are refused.
fn read_labels(path: &Path, model: &Model, ids: &crate::table::Ids) -> Result<Vec<Option<u32>>> {
    use crate::readback::{line_too_long, open_regular, LineBound, MAX_LABEL_LINE_BYTES};
    let shown = path.display().to_string();
    let file = open_regular(path, "reading labels")?;
    let mut head = [0u8; 2];
    let mut f = BufReader::with_capacity(1 << 20, file);
    let reader: Box<dyn Read> = {
        use std::io::BufRead;
        let buf = f
            .fill_buf()
            .map_err(|e| Error::io(path, "reading labels", e))?;
        head[..buf.len().min(2)].copy_from_slice(&buf[..buf.len().min(2)]);
        // Streamed with a bound on each line (after decompression), however large the file.
        if head == [0x1f, 0x8b] {
            Box::new(LineBound::new(
                flate2::read::MultiGzDecoder::new(f),
                MAX_LABEL_LINE_BYTES,
            ))
        } else {
            Box::new(LineBound::new(f, MAX_LABEL_LINE_BYTES))
        }
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let bad_csv = |e: csv::Error| {
        if let Some(t) = line_too_long(&e) {
            return Error::Record {
                source_name: shown.clone(),
                line: t.line,
                message: format!("{t}, which no labels file cardseg writes has; give the labels.csv written by cardseg run or predict"),
            };
        }
        let line = e.position().map(|p| p.line()).unwrap_or(0);
        Error::Record {
            source_name: shown.clone(),
            line,
            message: format!("{e}; give the labels.csv written by cardseg run or predict"),
        }
    };
    let header = csv.headers().map_err(bad_csv)?.clone();
    let want = [model.id_header(), "segment", "segment_name"];
    // Later columns (the outlier figures) are not needed here.
    if header.iter().take(3).collect::<Vec<_>>() != want {
        return Err(Error::input(
            &shown,
            format!(
                "line 1: the header is {:?}, expected {:?} (then any columns); give the labels written by cardseg run or predict with this model",
                header.iter().collect::<Vec<_>>().join(","),
                want.join(",")
            ),
        ));
    }
    let mut out = Vec::with_capacity(ids.len());
    let mut record = csv::StringRecord::new();
    while csv.read_record(&mut record).map_err(bad_csv)? {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let row = out.len();
        let at = |message: String| Error::Record {
            source_name: shown.clone(),
            line,
            message,
        };
        if row >= ids.len() {
            return Err(at(format!(
                "more label rows than the input's {} customers; give the labels written for this input",
                ids.len()
            )));
        }
        // Cells written with formula neutralisation (crate::csvcell) or with --raw-csv.
        let same = |cell: &str, want: &str| cell == want || crate::csvcell::restore(cell) == want;
        if !same(&record[0], ids.get(row)) {
            return Err(at(format!(
                "id {} does not match the input's customer {} (row {}); give the labels written for this input",
                crate::error::show_value(record[0].as_bytes()),
                crate::error::show_value(ids.get(row).as_bytes()),
                row + 1
            )));
        }
        if record[1].is_empty() {
            out.push(None);
            continue;
        }
        let seg: u32 = record[1].parse().ok().ok_or_else(|| {
            at(format!(
                "segment {} is not a segment id",
                crate::error::show_value(record[1].as_bytes())
            ))
        })?;
        let index = model.index_of_id(seg).ok_or_else(|| {
            at(format!(
                "segment {seg} is not a segment of the model (its ids are {}); these labels come from another model",
                model
                    .segments
                    .iter()
                    .map(|s| s.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if !same(&record[2], &model.segments[index].name) {
            return Err(at(format!(
                "segment {seg} is named {} here but {} in the model; these labels come from another model",
                crate::error::show_value(record[2].as_bytes()),
                crate::error::show_value(model.segments[index].name.as_bytes())
            )));
        }
        out.push(Some(index as u32));
    }
    if out.len() != ids.len() {
        return Err(Error::input(
            &shown,
            format!(
                "has {} label rows but the input has {} customers; give the labels written for this input",
                out.len(),
                ids.len()
            ),
        ));
    }
    Ok(out)
}

/// Rebuilds the page: the input is read and cleaned with the model's saved fill values,
/// unlabelled customers are left out (as the run left out dropped ones), the profile and
/// summary are recomputed, and the page is written atomically.
pub fn rebuild(req: &RebuildRequest) -> Result<RebuildReport> {
    let inputs = crate::output::Inputs::none()
        .path(&req.model)
        .path(&req.labels)
        .source(&req.input);
    crate::output::check_output(&req.out, req.force, &inputs)?;
    let (model, checksum) = Model::load(&req.model)?;
    let mut table = ingest::read(
        &ingest::Source::new(req.input.clone()),
        &model.read_spec(req.delimiter, true),
    )?;
    // The reader returns columns in header order, as it did for the run, so the profile
    // comes out in the same order.
    let labels = read_labels(&req.labels, &model, &table.ids)?;
    let rows = table.rows();

    let mut columns = Vec::new();
    for c in &model.cleaning {
        let Some(col) = table.columns.iter_mut().find(|t| t.name == c.column) else {
            continue;
        };
        let missing = col.values.iter().filter(|v| v.is_nan()).count() as u64;
        if let Some(fill) = c.fill_value {
            crate::clean::apply_fill(&mut col.values, fill);
        }
        columns.push(ColumnCleaning {
            column: c.column.clone(),
            missing,
            fill_value: c.fill_value,
        });
    }
    let keep: Vec<bool> = labels.iter().map(Option::is_some).collect();
    let kept = keep.iter().filter(|k| **k).count();
    if kept == 0 {
        return Err(Error::input(
            req.labels.display().to_string(),
            "labels no customer; there is nothing to show",
        ));
    }
    let mut clean = CleanReport {
        policy: model.missing_policy,
        rows_in: rows as u64,
        rows_out: kept as u64,
        columns,
        kept: None,
        original_ids: None,
    };
    if kept < rows {
        clean.original_ids = Some(table.retain_rows(&keep));
        clean.kept = Some(keep);
    } else if model.missing_policy == MissingPolicy::Drop {
        clean.kept = Some(keep);
    }
    let labels: Vec<u32> = labels.into_iter().flatten().collect();
    let opts = crate::profile::ProfileOptions {
        features: model.features.clone(),
        box_rows: crate::dashboard::data::sample_rows(
            &labels,
            model.k,
            crate::dashboard::data::SAMPLE_THRESHOLD,
            crate::dashboard::data::MIN_PER_SEGMENT,
            model.seed,
        ),
        ..Default::default()
    };
    let mut profile = crate::profile::profile_with(&table, &labels, model.k, &opts);
    for (p, m) in profile.segments.iter_mut().zip(&model.segments) {
        p.id = m.id;
    }
    let distances = {
        let x = model.scaler.transform(&table)?;
        let centers = model.centers_flat();
        let d = model.features.len();
        labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let c = &centers[l as usize * d..(l as usize + 1) * d];
                crate::cluster::distance(x.row(i), c)
            })
            .collect()
    };
    let duplicate_ids = table.ids.count_duplicates();
    let r = Segmentation {
        table,
        clean,
        model,
        checksum,
        profile,
        labels,
        distances,
        changes: None,
        duplicate_ids,
        naming_basis: crate::naming::Basis::CreditCard,
    };
    let summary = Summary::build(&r);
    let mut bytes = 0u64;
    let provenance =
        crate::output::Provenance::new("dashboard", Some(&r.checksum)).with_rows(kept as u64);
    crate::output::write_file_atomic(&req.out, req.force, &inputs, &provenance, |w| {
        let mut counted = Counting { inner: w, n: 0 };
        crate::dashboard::render(&mut counted, &r, &summary, &req.out)?;
        bytes = counted.n;
        Ok(())
    })?;
    Ok(RebuildReport {
        customers_read: rows as u64,
        customers_labelled: kept as u64,
        bytes,
        model_checksum: r.checksum.clone(),
    })
}

struct Counting<'a> {
    inner: &'a mut dyn std::io::Write,
    n: u64,
}

impl std::io::Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
