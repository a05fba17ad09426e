use std::path::PathBuf;

use cardseg::export::sql::{Dialect, SqlOptions, SqlSource, DEFAULT_TABLE};
use cardseg::export::{ExportJob, Format};
use cardseg::model::Model;

#[derive(clap::Args)]
pub struct Args {
    /// A model.json written by `cardseg run`.
    #[arg(long)]
    pub model: PathBuf,
    /// sql (one SELECT for --dialect) or pmml (PMML 4.4 ClusteringModel).
    #[arg(long)]
    pub format: Format,
    /// File to write (refused if it exists, unless --force); - writes to standard output.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing file (atomically: the old one stays until the new one is whole).
    #[arg(long)]
    pub force: bool,
    /// SQL dialect: postgres, sqlite, duckdb, spark, bigquery or ansi.
    #[arg(long, default_value = "ansi")]
    pub dialect: Dialect,
    /// Table or view holding the customers (NAME, schema.NAME; each part is quoted).
    #[arg(long, conflicts_with = "query")]
    pub table: Option<String>,
    /// A SELECT returning the customers, used as a subquery instead of --table.
    #[arg(long)]
    pub query: Option<String>,
}

/// `cardseg export`: writes the model as SQL or PMML.
pub fn exec(args: Args, report: super::Report) -> cardseg::Result<()> {
    report.check_out(&args.out)?;
    if args.format == Format::Pmml && (args.table.is_some() || args.query.is_some()) {
        return Err(cardseg::Error::usage(
            "--table and --query apply to --format sql; a PMML model reads whatever rows the evaluator is given",
        ));
    }
    let (model, checksum) = Model::load(&args.model)?;
    let source = match (args.table, args.query) {
        (_, Some(q)) => SqlSource::Query(q),
        (Some(t), None) => SqlSource::Table(t),
        (None, None) => SqlSource::Table(DEFAULT_TABLE.to_string()),
    };
    cardseg::export::export(&ExportJob {
        model: &model,
        model_name: &args.model.display().to_string(),
        checksum: &checksum,
        format: args.format,
        sql: SqlOptions {
            dialect: args.dialect,
            source,
        },
        out: &args.out,
        force: args.force,
        model_path: Some(&args.model),
    })?;
    let what = match args.format {
        Format::Sql => format!("{} SQL", args.dialect.name()),
        Format::Pmml => "PMML 4.4".to_string(),
    };
    report.done(
        || {
            format!(
                "Wrote {what} for {} segments on {} features to {}\n",
                model.k,
                model.features.len(),
                args.out.display()
            )
        },
        || {
            serde_json::json!({
                "command": "export",
                "out": args.out.display().to_string(),
                "format": match args.format { Format::Sql => "sql", Format::Pmml => "pmml" },
                "dialect": (args.format == Format::Sql).then(|| args.dialect.name()),
                "model_checksum": checksum,
                "segments": model.k,
                "features": model.features,
            })
        },
        cardseg::output::is_stdout(&args.out),
    )
}
