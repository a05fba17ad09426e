use cardseg::ingest::IdSpec;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: super::SourceArgs,
    /// Id column (default CUST_ID when present).
    #[arg(long)]
    pub id_column: Option<String>,
    /// Field delimiter (default: sniffed).
    #[arg(long, value_parser = super::delimiter)]
    pub delimiter: Option<u8>,
}

/// `cardseg inspect`: prints the description of a table as text or JSON.
pub fn exec(args: Args, out: super::Report) -> cardseg::Result<()> {
    let id = args
        .id_column
        .map_or_else(IdSpec::default_column, IdSpec::named);
    let report = cardseg::inspect::inspect(&args.source.source(), id, args.delimiter)?;
    if out.json {
        return super::print_json(&report);
    }
    // The description is the command's result: printed even with --quiet.
    let mut buf = Vec::new();
    let _ = cardseg::inspect::write_text(&mut buf, &report);
    super::print(&String::from_utf8_lossy(&buf))
}
