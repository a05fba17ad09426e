use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Number of customers.
    #[arg(long)]
    pub rows: u64,
    /// Seed of the generator: same seed, same customers.
    #[arg(long, default_value_t = cardseg::defaults::SEED)]
    pub seed: u64,
    /// File to write: CSV, gzip-compressed when the name ends in .gz, or Parquet when it
    /// ends in .parquet or .parq (refused if it exists, unless --force); - writes the CSV
    /// to standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing file (atomically: the old one stays until the new one is whole).
    #[arg(long)]
    pub force: bool,
}

/// `cardseg generate`: writes synthetic customers (CSV or Parquet).
pub fn exec(args: Args, report: super::Report) -> cardseg::Result<()> {
    report.check_out(&args.out)?;
    if args.rows == 0 || args.rows > 1_000_000_000 {
        return Err(cardseg::Error::usage(
            "--rows must be between 1 and 1,000,000,000",
        ));
    }
    let bar = cardseg::progress::Progress::steps(args.rows, "generating");
    let provenance = cardseg::output::Provenance::new("generate", None).with_rows(args.rows);
    let name = args.out.to_string_lossy();
    if cardseg::ingest::is_parquet_name(&name) {
        cardseg::output::check_file_target(&args.out, args.force)?;
        // Generated a part at a time (one row group each), read like any input and
        // appended: memory stays one part's worth at any size.
        let spec = cardseg::ingest::ReadSpec {
            id: cardseg::ingest::IdSpec::default_column(),
            required: vec![],
            other_numeric: true,
            delimiter: Some(b','),
        };
        let mut writer = None;
        cardseg::generate::generate_parts(args.rows, args.seed, |csv, n| {
            let table = cardseg::ingest::csv::read_bytes(csv, "generated data", &spec)?;
            let w = match &mut writer {
                Some(w) => w,
                None => writer.insert(cardseg::ingest::parquet::TableWriter::create(
                    &table,
                    &args.out,
                    cardseg::generate::PART_ROWS as usize,
                    args.force,
                )?),
            };
            w.write(&table)?;
            bar.inc(n);
            Ok::<(), cardseg::Error>(())
        })?;
        bar.finish();
        if let Some(w) = writer {
            w.finish()?;
        }
        cardseg::output::record_sidecar(&args.out, &provenance)?;
        return done(&args, report);
    }
    let gzip = cardseg::ingest::is_gzip_name(&name);
    let inputs = cardseg::output::Inputs::none();
    cardseg::output::write_file_atomic(&args.out, args.force, &inputs, &provenance, |w| {
        let on_rows = |n| bar.inc(n);
        if gzip {
            let mut gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
            cardseg::generate::generate(args.rows, args.seed, &mut gz, &on_rows)
                .and_then(|()| gz.finish().map(drop))
        } else {
            cardseg::generate::generate(args.rows, args.seed, w, &on_rows)
        }
        .map_err(cardseg::output::werr(&args.out))
    })?;
    bar.finish();
    done(&args, report)
}

/// Generating prints nothing for people; `--json` gets what was written.
fn done(args: &Args, report: super::Report) -> cardseg::Result<()> {
    report.done(
        String::new,
        || {
            serde_json::json!({
                "command": "generate",
                "out": args.out.display().to_string(),
                "rows": args.rows,
                "seed": args.seed,
            })
        },
        cardseg::output::is_stdout(&args.out),
    )
}
