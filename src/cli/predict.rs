use std::path::PathBuf;

use cardseg::model::Model;

#[derive(clap::Args)]
pub struct Args {
    /// A model.json written by `cardseg run`.
    #[arg(long)]
    pub model: PathBuf,
    /// Customers to score, with the model's feature columns (any --input form).
    #[command(flatten)]
    pub source: super::SourceArgs,
    #[command(flatten)]
    pub write: super::WriteArgs,
    /// Labels file to write (refused if it exists, unless --force); - writes to standard
    /// output.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing labels file (atomically: the old one stays until the new one is whole).
    #[arg(long)]
    pub force: bool,
    /// Field delimiter (default: sniffed).
    #[arg(long, value_parser = super::delimiter)]
    pub delimiter: Option<u8>,
    /// The input's customer id column, when it is not the model's (e.g. customer_id in a
    /// warehouse extract); the labels file names it in its header.
    #[arg(long, value_name = "NAME", conflicts_with = "no_id")]
    pub id_column: Option<String>,
    /// The input has no id column: customers are numbered from 1 (header "row").
    #[arg(long)]
    pub no_id: bool,
    /// Write CSV cells as they are: no quote before text that a spreadsheet would run as
    /// a formula (=, +, -, @, tab, CR).
    #[arg(long)]
    pub raw_csv: bool,
    /// Write distances and percentiles in labels.csv with full precision (the shortest
    /// text that reads back as the same 64-bit number) instead of 6 significant digits and
    /// 2 decimals.
    #[arg(long)]
    pub full_precision: bool,
    /// Labels file format: csv, or parquet (typed columns, zstd, the model checksum in
    /// its metadata; --full-precision does not apply: numbers are stored exactly).
    #[arg(long, default_value_t = cardseg::report::files::LabelsFormat::default())]
    pub labels_format: cardseg::report::files::LabelsFormat,
}

/// The labels' number precision for `--full-precision`.
pub fn precision(full: bool) -> cardseg::text::Precision {
    if full {
        cardseg::text::Precision::Full
    } else {
        cardseg::text::Precision::Compact
    }
}

/// `cardseg predict`: labels new customers with a saved model.
pub fn exec(args: Args, report: super::Report) -> cardseg::Result<()> {
    report.check_out(&args.out)?;
    let (model, checksum) = Model::load(&args.model)?;
    if model.distance_quantiles.is_empty() {
        eprintln!("{}", cardseg::lifecycle::outliers::NO_QUANTILES_NOTICE);
    }
    let target = args.write.target(args.source.timeout_secs);
    let s = cardseg::predict::predict(&cardseg::predict::PredictJob {
        model: &model,
        checksum: &checksum,
        source: &args.source.source(),
        out: &args.out,
        force: args.force,
        delimiter: args.delimiter,
        write_labels: target.as_ref(),
        raw_csv: args.raw_csv,
        precision: precision(args.full_precision),
        format: args.labels_format,
        id: cardseg::ingest::IdSpec::from_flags(args.id_column.as_deref(), args.no_id),
        model_path: Some(&args.model),
    })?;
    if let Some(w) = &s.warning {
        eprintln!("warning: {w}");
    }
    let text = || {
        let mut text = format!(
            "Scored {} customers into {}",
            s.rows - s.unscored,
            if cardseg::output::is_stdout(&args.out) {
                "standard output".to_string()
            } else {
                args.out.display().to_string()
            }
        );
        if s.unscored > 0 {
            text.push_str(&format!(
                " ({} left unlabelled: missing features and the model drops such customers)",
                s.unscored
            ));
        }
        text.push('\n');
        for (seg, c) in model.segments.iter().zip(&s.counts) {
            text.push_str(&format!("{:>3}  {:<40} {:>10}\n", seg.id, seg.name, c));
        }
        text
    };
    let json = || {
        serde_json::json!({
            "command": "predict",
            "out": args.out.display().to_string(),
            "model_checksum": checksum,
            "rows": s.rows,
            "scored": s.rows - s.unscored,
            "unscored": s.unscored,
            "segments": model.segments.iter().zip(&s.counts).map(|(seg, c)| serde_json::json!({
                "id": seg.id, "name": seg.name, "customers": c,
            })).collect::<Vec<_>>(),
        })
    };
    report.done(text, json, cardseg::output::is_stdout(&args.out))
}
