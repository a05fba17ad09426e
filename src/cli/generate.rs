use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Number of customers.
    #[arg(long)]
    pub rows: u64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// CSV file to write (refused if it exists, unless --force).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
}

pub fn exec(args: Args) -> cardseg::Result<()> {
    if args.rows == 0 || args.rows > 1_000_000_000 {
        return Err(cardseg::Error::usage("--rows must be between 1 and 1,000,000,000"));
    }
    let bar = cardseg::progress::Progress::steps(args.rows, "generating");
    cardseg::output::write_file_atomic(&args.out, args.force, |w| {
        cardseg::generate::generate(args.rows, args.seed, w, &|n| bar.inc(n)).map_err(cardseg::output::werr(&args.out))
    })?;
    bar.finish();
    Ok(())
}
