use std::path::PathBuf;

use cardseg::lifecycle::drift::{self, DriftJob, Thresholds};
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
    /// Exit with status 3 when any PSI (a feature's or the segment shares') is above this,
    /// or when any other alert (missing, range, segment_share, segment_shift) is raised.
    #[arg(long, value_name = "PSI")]
    pub fail_above: Option<f64>,
    /// Alert gates (defaults in the README, "Drift").
    #[command(flatten)]
    pub gates: Gates,
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
        thresholds: args.gates.thresholds(),
        cancel: Default::default(),
    })?;
    if let Some(w) = &report.warning {
        eprintln!("warning: {w}");
    }
    out.done(|| md, || &report, false)?;
    Ok(report.failed)
}

/// The alert gates of `drift`.
#[derive(clap::Args)]
pub struct Gates {
    /// A PSI at or above this raises a `psi` alert.
    #[arg(long, value_name = "PSI", default_value_t = Thresholds::default().psi)]
    pub psi_alert: f64,
    /// Change of a feature's missing share (absolute, 0.01 = 1 point) that raises `missing`.
    #[arg(long, value_name = "SHARE", default_value_t = Thresholds::default().missing_change)]
    pub missing_change: f64,
    /// Share of values outside the training range that raises `range`.
    #[arg(long, value_name = "SHARE", default_value_t = Thresholds::default().outside_range)]
    pub outside_range: f64,
    /// Relative change of a segment's share that raises `segment_share` (0.1 = 10%).
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::default().share_change)]
    pub share_change: f64,
    /// Relative shift of a median within a segment that raises `segment_shift`.
    #[arg(long, value_name = "RATIO", default_value_t = Thresholds::default().shift)]
    pub shift: f64,
    /// Significance level per kind of test (Bonferroni within the kind).
    #[arg(long, value_name = "P", default_value_t = Thresholds::default().alpha)]
    pub alpha: f64,
}

impl Gates {
    fn thresholds(&self) -> Thresholds {
        Thresholds {
            psi: self.psi_alert,
            missing_change: self.missing_change,
            outside_range: self.outside_range,
            share_change: self.share_change,
            shift: self.shift,
            alpha: self.alpha,
        }
    }
}
