use std::path::PathBuf;

use cardseg::lifecycle::drift::{self, DriftJob};
use cardseg::model::Model;

#[derive(clap::Args)]
pub struct Args {
    /// A model.json written by `cardseg run` (this version or later).
    #[arg(long)]
    pub model: PathBuf,
    /// New customers, with the model's feature columns (any --input form).
    #[command(flatten)]
    pub source: super::SourceArgs,
    /// Directory for drift.md and drift.json (refused if it exists, unless --force).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an existing output directory (atomically: the old one stays until the new
    /// one is complete).
    #[arg(long)]
    pub force: bool,
    /// Exit with status 3 when any PSI (a feature's or the segment shares') is above this.
    #[arg(long, value_name = "PSI")]
    pub fail_above: Option<f64>,
    /// Field delimiter (default: sniffed).
    #[arg(long, value_parser = super::delimiter)]
    pub delimiter: Option<u8>,
}

/// Returns whether `--fail-above` was crossed (the binary then exits with status 3).
pub fn exec(args: Args, out: super::Report) -> cardseg::Result<bool> {
    let (model, checksum) = Model::load(&args.model)?;
    let (report, md) = drift::drift(&DriftJob {
        model: &model,
        checksum: &checksum,
        model_path: &args.model,
        source: &args.source.source(),
        delimiter: args.delimiter,
        out: args.out,
        force: args.force,
        fail_above: args.fail_above,
    })?;
    if let Some(w) = &report.warning {
        eprintln!("warning: {w}");
    }
    out.done(|| md, || &report, false)?;
    Ok(report.failed)
}
