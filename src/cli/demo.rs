use std::path::PathBuf;

use cardseg::ingest::csv::read_bytes;

#[derive(clap::Args)]
pub struct Args {
    /// Output directory; a previous demo output there is replaced.
    #[arg(long, default_value = "cardseg-demo")]
    pub out: PathBuf,
    /// Number of synthetic customers.
    #[arg(long, default_value_t = 10_000)]
    pub rows: u64,
    #[command(flatten)]
    pub common: super::run::Common,
}

/// Marks an output directory as the demo's own, so the next demo may replace it.
const MARKER: &str = ".cardseg-demo";

/// `cardseg demo`: generates customers in memory and runs the pipeline on them; the
/// generated CSV is saved with the outputs so `predict` can be tried on it.
pub fn exec(args: Args, report: super::Report) -> cardseg::Result<()> {
    if args.rows < 20 || args.rows > 5_000_000 {
        return Err(cardseg::Error::usage(
            "--rows for the demo must be between 20 and 5,000,000",
        ));
    }
    let mut csv = Vec::new();
    cardseg::generate::generate(args.rows, args.common.seed, &mut csv, &|_| {})
        .map_err(|e| cardseg::Error::io(std::path::Path::new("generated data"), "writing", e))?;
    let mut cfg = args
        .common
        .config("demo_input.csv".into(), args.out.clone())?;
    cfg.force |= args.out.join(MARKER).exists();
    let source = format!(
        "synthetic demo data ({} customers, seed {})",
        args.rows, args.common.seed
    );
    let table = read_bytes(&csv, &source, &cfg.read_spec())?;
    cfg.extra_files = vec![("demo_input.csv".into(), csv), (MARKER.into(), Vec::new())];
    let r = cardseg::run::run_in_memory(&cfg, table)?;
    super::run::print_result(&r, report, "demo", args.common.timings)?;
    if !report.quiet && !report.json {
        super::print(&format!(
            "The generated customers are in {0}/demo_input.csv; score them again with:\n  cardseg predict --model {0}/model.json --input {0}/demo_input.csv --out scored.csv\n",
            args.out.display()
        ))?;
    }
    Ok(())
}
