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
    /// Machine-readable JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `cardseg inspect`: prints the description of a table as text or JSON.
pub fn exec(args: Args) -> cardseg::Result<()> {
    let id = args
        .id_column
        .map_or_else(IdSpec::default_column, IdSpec::named);
    let report = cardseg::inspect::inspect(&args.source.source(), id, args.delimiter)?;
    let text = if args.json {
        let mut s = serde_json::to_string_pretty(&report).unwrap_or_default();
        s.push('\n');
        s
    } else {
        let mut buf = Vec::new();
        let _ = cardseg::inspect::write_text(&mut buf, &report);
        String::from_utf8_lossy(&buf).into_owned()
    };
    super::print(&text)
}
