use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// The earlier run's output directory (or its labels.csv).
    #[arg(long)]
    pub before: PathBuf,
    /// The later run's output directory (or its labels.csv, or a predict output).
    #[arg(long)]
    pub after: PathBuf,
    /// Directory for migration.csv and migration.json (refused if it exists, unless --force).
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing output directory (atomically: the old one stays until the new
    /// one is complete).
    #[arg(long)]
    pub force: bool,
}

/// `cardseg compare`: writes the migration table; `quiet` drops the printed summary.
pub fn exec(args: Args, out: super::Report) -> cardseg::Result<()> {
    let m =
        cardseg::lifecycle::migration::compare(&args.before, &args.after, &args.out, args.force)?;
    out.done(
        || {
            format!(
                "{}\nmigration.csv and migration.json in {}\n",
                cardseg::lifecycle::migration::describe(&m),
                args.out.display()
            )
        },
        || &m,
        false,
    )
}
