use std::path::PathBuf;

use cardseg::rebuild::RebuildRequest;

#[derive(clap::Args)]
pub struct Args {
    /// A model.json written by `cardseg run`.
    #[arg(long)]
    pub model: PathBuf,
    /// Labels for the input, row by row: the run's labels.csv or the output of `predict`.
    #[arg(long)]
    pub labels: PathBuf,
    /// The customer data the labels belong to (CSV, plain or .gz).
    #[arg(long)]
    pub input: String,
    /// The page to write (refused if it exists, unless --force); - writes to standard
    /// output.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing page (atomically: the old one stays until the new one is whole).
    #[arg(long)]
    pub force: bool,
    /// Field delimiter (default: sniffed).
    #[arg(long, value_parser = super::delimiter)]
    pub delimiter: Option<u8>,
}

/// `cardseg dashboard`: rebuilds the page from a finished run without re-clustering.
pub fn exec(args: Args, out: super::Report) -> cardseg::Result<()> {
    out.check_out(&args.out)?;
    let report = cardseg::rebuild::rebuild(&RebuildRequest {
        model: args.model,
        labels: args.labels,
        input: args.input,
        out: args.out.clone(),
        force: args.force,
        delimiter: args.delimiter,
    })?;
    let text = || {
        let mut text = format!(
            "Wrote {} ({:.1} MB) for {} customers",
            args.out.display(),
            report.bytes as f64 / 1e6,
            cardseg::text::thousands(report.customers_labelled)
        );
        if report.customers_labelled < report.customers_read {
            text.push_str(&format!(
                " ({} unlabelled customers left out)",
                cardseg::text::thousands(report.customers_read - report.customers_labelled)
            ));
        }
        text.push_str("; open it in a browser.\n");
        text
    };
    let json = || {
        serde_json::json!({
            "command": "dashboard",
            "out": args.out.display().to_string(),
            "model_checksum": report.model_checksum,
            "bytes": report.bytes,
            "customers_read": report.customers_read,
            "customers_labelled": report.customers_labelled,
        })
    };
    out.done(text, json, cardseg::output::is_stdout(&args.out))
}
