use std::path::PathBuf;

use cardseg::model::Model;

#[derive(clap::Args)]
pub struct Args {
    /// A model.json written by `cardseg run`.
    #[arg(long)]
    pub model: PathBuf,
    /// Customers to score (CSV, plain or .gz), with the model's feature columns.
    #[arg(long)]
    pub input: String,
    /// Labels file to write (refused if it exists, unless --force).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
    /// Field delimiter (default: sniffed).
    #[arg(long, value_parser = super::delimiter)]
    pub delimiter: Option<u8>,
}

pub fn exec(args: Args, quiet: bool) -> cardseg::Result<()> {
    let (model, _) = Model::load(&args.model)?;
    let s = cardseg::predict::predict(&model, &args.input, &args.out, args.force, args.delimiter)?;
    if !quiet {
        let mut text = format!("Scored {} customers into {}", s.rows - s.unscored, args.out.display());
        if s.unscored > 0 {
            text.push_str(&format!(" ({} left unlabelled: missing features and the model drops such customers)", s.unscored));
        }
        text.push('\n');
        for (seg, c) in model.segments.iter().zip(&s.counts) {
            text.push_str(&format!("{:>3}  {:<40} {:>10}\n", seg.id, seg.name, c));
        }
        super::print(&text)?;
    }
    Ok(())
}
