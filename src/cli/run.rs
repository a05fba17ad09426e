use std::path::PathBuf;

use cardseg::clean::MissingPolicy;
use cardseg::cluster::select_k::KRule;
use cardseg::ingest::IdSpec;
use cardseg::run::{self, KChoice, RunConfig, RunResult};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: super::SourceArgs,
    #[command(flatten)]
    pub write: super::WriteArgs,
    /// Output directory (created; refused if it exists and is not empty, unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// The model.json of an earlier run to continue: matched segments keep their ids and
    /// names; with labels.csv beside it, customer flows are reported too.
    #[arg(long)]
    pub previous: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
    /// Train K-Means (and the k sweep, the silhouettes) on a uniform sample of N
    /// customers, seeded by --seed; fill values, scaling and labels cover every customer.
    #[arg(long, value_name = "N")]
    pub train_sample: Option<usize>,
}

/// Flags shared by `run` and `demo`.
#[derive(clap::Args)]
pub struct Common {
    /// Clustering features (comma-separated column names).
    #[arg(long, default_value_t = cardseg::DEFAULT_FEATURES.join(","))]
    pub features: String,
    /// Profiling features imputed like the clustering ones (comma-separated; "" for none).
    #[arg(long, default_value_t = cardseg::DEFAULT_PROFILE_FEATURES.join(","))]
    pub profile_features: String,
    /// Customer id column; without it, CUST_ID is used when present, else rows are numbered.
    #[arg(long)]
    pub id_column: Option<String>,
    /// Number rows from 1 instead of reading an id column.
    #[arg(long, conflicts_with = "id_column")]
    pub no_id: bool,
    /// Missing values in used columns: median, mean or drop (the customer).
    #[arg(long, default_value_t = MissingPolicy::default())]
    pub missing: MissingPolicy,
    /// Number of segments: auto (by --k-rule) or a number [default: auto]; with
    /// --previous the default is the previous model's k, and `--k auto` re-chooses.
    #[arg(long, value_name = "K")]
    pub k: Option<KChoice>,
    /// Smallest k of the sweep.
    #[arg(long, default_value_t = cardseg::defaults::K_MIN)]
    pub k_min: usize,
    /// Largest k of the sweep.
    #[arg(long, default_value_t = cardseg::defaults::K_MAX)]
    pub k_max: usize,
    /// How auto picks k: knee (elbow of inertia, Kneedle) or silhouette (highest).
    #[arg(long, default_value_t = KRule::default())]
    pub k_rule: KRule,
    /// K-Means restarts per k (the lowest inertia is kept); at most 1,000.
    #[arg(long, default_value_t = cardseg::defaults::N_INIT, value_parser = super::bounded::<1, 1_000>)]
    pub n_init: usize,
    /// Seed of every random choice: same input and seed, byte-identical outputs.
    #[arg(long, default_value_t = cardseg::defaults::SEED)]
    pub seed: u64,
    /// Replace an existing output (atomically: the old one survives until the new is complete).
    #[arg(long)]
    pub force: bool,
    /// Naming rules (TOML) replacing the defaults; see rules/default.toml.
    #[arg(long)]
    pub naming_rules: Option<PathBuf>,
    /// Write CSV cells as they are: no quote before text that a spreadsheet would run as
    /// a formula (=, +, -, @, tab, CR).
    #[arg(long)]
    pub raw_csv: bool,
    /// Write distances and percentiles in labels.csv with full precision (the shortest
    /// text that reads back as the same 64-bit number) instead of 6 significant digits and
    /// 2 decimals.
    #[arg(long)]
    pub full_precision: bool,
    /// Labels file format: csv (labels.csv), or parquet (labels.parquet (typed columns, zstd, the model checksum in
    /// its metadata; --full-precision does not apply: numbers are stored exactly).
    #[arg(long, default_value_t = cardseg::report::files::LabelsFormat::default())]
    pub labels_format: cardseg::report::files::LabelsFormat,
    /// Rows up to which silhouettes are exact; above, a sampled estimate (at most 200,000:
    /// the exact silhouette's work grows with the square of the rows).
    #[arg(long, default_value_t = cardseg::cluster::silhouette::EXACT_MAX_ROWS, value_parser = super::bounded::<0, 200_000>)]
    pub silhouette_exact_max: usize,
    /// Sample size of the sampled silhouette (100 to 1,000,000).
    #[arg(long, default_value_t = cardseg::cluster::silhouette::SAMPLE_SIZE, value_parser = super::bounded::<100, 1_000_000>)]
    pub silhouette_sample: usize,
    /// Field delimiter (default: sniffed from the header; "tab" for tabs).
    #[arg(long, value_parser = super::delimiter)]
    pub delimiter: Option<u8>,
    /// Do not write dashboard.html.
    #[arg(long)]
    pub no_dashboard: bool,
    /// Print the time of each stage to stderr.
    #[arg(long)]
    pub timings: bool,
    /// Flag customers whose distance to their centroid is above this percentile of
    /// their segment's training customers.
    #[arg(long, default_value_t = cardseg::defaults::OUTLIER_PERCENTILE)]
    pub outlier_percentile: f64,
    /// Feature scaling: minmax (default), standard, robust or log-minmax.
    #[arg(long, default_value_t = cardseg::scale::ScalerKind::default())]
    pub scaler: cardseg::scale::ScalerKind,
    /// Columns profiled as a category mix (comma-separated), replacing the detection of
    /// low-cardinality integer codes; "" for none.
    #[arg(long)]
    pub categorical: Option<String>,
    /// Columns that are additive amounts ("holds X% of all"), replacing the detection
    /// by name and values; "" for none.
    #[arg(long)]
    pub additive: Option<String>,
    /// Outcome columns (comma-separated: a 0/1 flag such as default or churn, or an amount
    /// such as revenue), reported per segment with a 95% interval; never clustered.
    #[arg(long, value_name = "COL[,COL]")]
    pub outcome: Option<String>,
    /// Resamples (random halves of the customers, refitted) measuring how reproducible
    /// the segments are; 0 to skip.
    #[arg(long, default_value_t = cardseg::defaults::STABILITY_RESAMPLES, value_parser = super::bounded::<0, 1_000>)]
    pub stability_resamples: usize,
    /// Most customers in one stability resample.
    #[arg(long, default_value_t = cardseg::defaults::STABILITY_SAMPLE)]
    pub stability_sample: usize,
    /// Also write stability.csv: every resample's customers and clusters.
    #[arg(long)]
    pub stability_detail: bool,
}

/// A comma-separated column list where "" means none.
fn optional_list(s: &Option<String>) -> Result<Option<Vec<String>>, cardseg::Error> {
    match s {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Ok(Some(vec![])),
        Some(t) => cardseg::text::column_list(t)
            .map(Some)
            .map_err(cardseg::Error::usage),
    }
}

impl Common {
    /// The run configuration the flags describe, reading `input` into `out`; a bad
    /// column list is a usage error.
    pub fn config(&self, input: String, out: PathBuf) -> Result<RunConfig, cardseg::Error> {
        let profile_features = if self.profile_features.trim().is_empty() {
            vec![]
        } else {
            cardseg::text::column_list(&self.profile_features).map_err(cardseg::Error::usage)?
        };
        let id = IdSpec::from_flags(self.id_column.as_deref(), self.no_id)
            .unwrap_or_else(IdSpec::default_column);
        Ok(RunConfig {
            features: cardseg::text::column_list(&self.features).map_err(cardseg::Error::usage)?,
            profile_features,
            id,
            missing: self.missing,
            k: self.k.unwrap_or_default(),
            k_min: self.k_min,
            k_max: self.k_max,
            k_rule: self.k_rule,
            n_init: self.n_init,
            seed: self.seed,
            force: self.force,
            naming_rules: self.naming_rules.clone(),
            raw_csv: self.raw_csv,
            precision: super::predict::precision(self.full_precision),
            labels_format: self.labels_format,
            silhouette_exact_max: self.silhouette_exact_max,
            silhouette_sample: self.silhouette_sample,
            delimiter: self.delimiter,
            dashboard: !self.no_dashboard,
            scaler: self.scaler,
            categorical: optional_list(&self.categorical)?,
            additive: optional_list(&self.additive)?,
            outlier_percentile: self.outlier_percentile,
            outcome: optional_list(&self.outcome)?.unwrap_or_default(),
            stability_resamples: self.stability_resamples,
            stability_sample: self.stability_sample,
            stability_detail: self.stability_detail,
            ..RunConfig::new(input, out)
        })
    }
}

/// What `run` and `demo` print when done: where the outputs are and the segment table.
pub fn print_result(
    r: &RunResult,
    report: super::Report,
    command: &str,
    timings: bool,
) -> cardseg::Result<()> {
    if timings {
        for (stage, secs) in &r.timings.0 {
            eprintln!("timing {stage:<14} {secs:>9.3} s");
        }
    }
    if report.json {
        let s = &r.segmentation;
        let m = &s.model;
        let mut files: Vec<String> = std::fs::read_dir(&r.out)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        return super::print_json(&serde_json::json!({
            "command": command,
            "out": r.out.display().to_string(),
            "model_checksum": s.checksum,
            "customers": s.clean.rows_out,
            "k": m.k,
            "silhouette": m.silhouette.value,
            "segments": s.profile.segments.iter().zip(&m.segments).map(|(p, meta)| serde_json::json!({
                "id": p.id, "name": meta.name, "customers": p.customers, "share": p.share,
            })).collect::<Vec<_>>(),
            "files": files,
        }));
    }
    if report.quiet {
        return Ok(());
    }
    let mut text = Vec::new();
    let s = &r.segmentation;
    let m = &s.model;
    let _ = std::io::Write::write_fmt(
        &mut text,
        format_args!(
            "Segmented {} customers into {} segments (silhouette {:.3}).\n{}\n\n",
            s.clean.rows_out, m.k, m.silhouette.value, m.k_selection.reason
        ),
    );
    let _ = cardseg::report::terminal::print_segments(&mut text, s);
    if let Some(c) = &s.changes {
        let _ = std::io::Write::write_fmt(
            &mut text,
            format_args!(
                "\nContinues {}: {} segments kept, {} new, {} retired, {} renamed.{}\n",
                c.previous_model,
                c.matched.len(),
                c.new_segments.len(),
                c.retired.len(),
                c.renamed.len(),
                c.migration
                    .as_ref()
                    .map(|m| format!(" {}", cardseg::lifecycle::migration::describe(m)))
                    .unwrap_or_default()
            ),
        );
    }
    let dir = r.out.display();
    let _ = std::io::Write::write_fmt(
        &mut text,
        format_args!(
            "\nOutputs in {dir}/: labels.csv, segments.csv, segments.json, k_selection.csv, summary.md, summary.json, model.json{}{}\n",
            if r.out.join("dashboard.html").exists() { ", dashboard.html" } else { "" },
            if r.out.join("migration.csv").exists() { ", migration.csv, migration.json" } else { "" }
        ),
    );
    super::print(&String::from_utf8_lossy(&text))
}

/// `cardseg run`: the whole pipeline on `--input`.
pub fn exec(args: Args, report: super::Report) -> cardseg::Result<()> {
    let mut cfg = args.common.config(args.source.input.clone(), args.out)?;
    cfg.source = args.source.source();
    cfg.write_labels = args.write.target(args.source.timeout_secs);
    cfg.train_sample = args.train_sample;
    cfg.previous = args.previous;
    let r = run::run(&cfg)?;
    print_result(&r, report, "run", args.common.timings)
}
