//! Command-line parsing only: each subcommand's file turns flags into a library call.

pub mod compare;
pub mod dashboard;
pub mod demo;
pub mod drift;
pub mod export;
pub mod generate;
pub mod inspect;
pub mod predict;
pub mod release;
pub mod run;
pub mod serve;

use clap::{CommandFactory, Parser, Subcommand};

/// `cardseg --version`: the version and the commit it was built from (build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CARDSEG_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(name = "cardseg", version = VERSION, about = "Credit-card customer segmentation: K-Means segments, names, dashboard and a production model", long_about = None)]
pub struct Cli {
    /// No progress bars and no summary table (errors are still printed).
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Print one machine-readable JSON result on standard output instead of the text
    /// (also with --quiet); errors stay one line on standard error.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest variant (run's flags) costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Generate synthetic customers and run the whole pipeline on them.
    Demo(demo::Args),
    /// Segment customers: labels, k selection, profiles, summary, dashboard, model.
    Run(run::Args),
    /// Describe a customer table: types, missing values, statistics, id problems.
    Inspect(inspect::Args),
    /// Label new customers with a saved model.
    Predict(predict::Args),
    /// Write synthetic customers with the CC GENERAL schema.
    Generate(generate::Args),
    /// Rebuild dashboard.html from a model, its labels and the customer data.
    Dashboard(dashboard::Args),
    /// Serve a saved model over HTTP: score customers in real time (JSON or CSV).
    Serve(serve::Args),
    /// Export a saved model as SQL (per dialect) or PMML, to score inside other systems.
    Export(export::Args),
    /// Who moved between two runs: migration table from-segment x to-segment.
    Compare(compare::Args),
    /// Check new data against a model's training distribution (PSI); exit 3 with --fail-above.
    Drift(drift::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(release::CompletionsArgs),
    /// Print the manual page (roff), e.g. `cardseg man > cardseg.1`.
    Man(release::ManArgs),
}

/// The parser of the binary: [`Cli`] with every option value allowed to be a negative
/// number, so `--psi-alert -1` reaches the range check that explains the flag's range
/// instead of being taken for an unknown flag `-1` (no flag of cardseg is a digit).
pub fn command() -> clap::Command {
    Cli::command().mut_subcommands(|sub| {
        sub.mut_args(|a| {
            if a.get_action().takes_values() && !a.is_positional() {
                a.allow_negative_numbers(true)
            } else {
                a
            }
        })
    })
}

/// The subcommand named on a command line (the first word that is not a flag, when it is
/// one of cardseg's subcommands): the top-level flags take no value, so that word is it.
pub fn subcommand_named(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<String> {
    let word = args
        .into_iter()
        .find(|a| !a.to_string_lossy().starts_with('-'))?;
    let word = word.to_str()?;
    Cli::command()
        .get_subcommands()
        .any(|s| s.get_name() == word)
        .then(|| word.to_string())
}

/// One line for a usage error clap rendered over several: its first paragraph joined (the
/// problem, with the possible values or the missing arguments), its `tip:` paragraphs, and
/// where the flags are described. The usage and "For more information" paragraphs go.
pub fn usage_line(rendered: &str, subcommand: Option<&str>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (i, para) in rendered.split("\n\n").enumerate() {
        let text = para
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if i == 0 {
            parts.push(text.trim_start_matches("error:").trim().to_string());
        } else if let Some(tip) = text.strip_prefix("tip:") {
            parts.push(tip.trim().to_string());
        }
    }
    let help = match subcommand {
        Some(s) => format!("cardseg {s} --help"),
        None => "cardseg --help".to_string(),
    };
    parts.retain(|p| !p.is_empty());
    format!("error: {}; see {help}", parts.join("; "))
}

/// `--input` and the flags that say how to read it (run, predict, inspect).
#[derive(clap::Args)]
pub struct SourceArgs {
    /// Customer data: a CSV file (plain or .gz), a Parquet file or folder of *.parquet
    /// parts, sqlite://PATH, postgres://user@host:port/db, or an http(s):// URL answering
    /// CSV or JSON.
    #[arg(long)]
    pub input: String,
    /// SQL query to read (sqlite:// and postgres:// inputs).
    #[arg(long, conflicts_with = "table")]
    pub query: Option<String>,
    /// Table to read (sqlite:// and postgres:// inputs): NAME or schema.NAME.
    #[arg(long)]
    pub table: Option<String>,
    /// Environment variable holding a bearer token for an http(s):// input.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Time limit in seconds for connecting to a database and for each HTTP request.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    /// Largest HTTP response accepted, in megabytes.
    #[arg(long, default_value_t = 1024)]
    pub max_download_mb: u64,
    /// Most pages one http(s):// read follows through next links.
    #[arg(long, default_value_t = cardseg::ingest::DEFAULT_MAX_PAGES, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_pages: u64,
    /// Most megabytes of all pages of one http(s):// read together.
    #[arg(long, default_value_t = cardseg::ingest::DEFAULT_MAX_TOTAL_BYTES >> 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_total_download_mb: u64,
    /// Time limit in seconds of one http(s):// read, all pages together.
    #[arg(long, default_value_t = cardseg::ingest::DEFAULT_TOTAL_TIMEOUT.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub total_timeout_secs: u64,
    /// Most columns a CSV header may have (1 to 1,000,000).
    #[arg(long, default_value_t = cardseg::ingest::DEFAULT_MAX_COLUMNS, value_parser = bounded::<1, 1_000_000>)]
    pub max_columns: usize,
    /// Most megabytes one CSV row (or the header) may span, quoted line breaks included
    /// (1 to 4096).
    #[arg(long, default_value_t = (cardseg::ingest::DEFAULT_MAX_RECORD_BYTES >> 20) as usize, value_parser = bounded::<1, 4096>)]
    pub max_record_mb: usize,
}

impl SourceArgs {
    /// The library's [`Source`](cardseg::ingest::Source) these flags describe.
    pub fn source(&self) -> cardseg::ingest::Source {
        cardseg::ingest::Source {
            input: self.input.clone(),
            query: self.query.clone(),
            table: self.table.clone(),
            token_env: self.token_env.clone(),
            timeout: std::time::Duration::from_secs(self.timeout_secs),
            max_bytes: self.max_download_mb.saturating_mul(1 << 20),
            max_pages: self.max_pages,
            max_total_bytes: self.max_total_download_mb.saturating_mul(1 << 20),
            total_timeout: std::time::Duration::from_secs(self.total_timeout_secs),
            limits: cardseg::ingest::Limits {
                max_columns: self.max_columns,
                max_record_bytes: (self.max_record_mb as u64) << 20,
            },
        }
    }
}

/// `--write-labels` and its table (run, predict).
#[derive(clap::Args)]
pub struct WriteArgs {
    /// Also store the labels (id, segment, name, model checksum, time) in a database
    /// table, in one transaction: sqlite://PATH or postgres://user@host:port/db.
    #[arg(long, value_name = "URL")]
    pub write_labels: Option<String>,
    /// Table for --write-labels (created if absent; rows of the same customer replaced).
    #[arg(long, default_value = cardseg::writeback::DEFAULT_TABLE, requires = "write_labels")]
    pub labels_table: String,
}

impl WriteArgs {
    /// Where to store the labels, if `--write-labels` was given; `timeout_secs` is the
    /// input's `--timeout-secs`, which the write shares.
    pub fn target(&self, timeout_secs: u64) -> Option<cardseg::writeback::LabelTarget> {
        self.write_labels
            .as_ref()
            .map(|url| cardseg::writeback::LabelTarget {
                url: url.clone(),
                table: self.labels_table.clone(),
                timeout: std::time::Duration::from_secs(timeout_secs.max(1)),
            })
    }
}

/// The flag that sets a library parameter, for the library's messages
/// ([`cardseg::error::name_params`]): `--k-min`, or `--k-min 2` with a value.
pub fn param_flag(p: cardseg::error::Param, value: Option<&dyn std::fmt::Display>) -> String {
    // Every flag is its keyword with dashes (`k_min` is `--k-min`).
    let flag = format!("--{}", p.keyword().replace('_', "-"));
    match value {
        Some(v) => format!("{flag} {v}"),
        None => flag.to_string(),
    }
}

/// A whole number between LO and HI (a flag's documented range): a usage error, never an
/// allocation the size of a typo.
pub fn bounded<const LO: usize, const HI: usize>(s: &str) -> Result<usize, String> {
    s.trim()
        .parse::<u128>()
        .ok()
        .filter(|n| (LO as u128..=HI as u128).contains(n))
        .map(|n| n as usize)
        .ok_or_else(|| format!("{s:?}: use a whole number from {LO} to {HI}"))
}

/// `--delimiter`: one ASCII character, or "tab".
pub fn delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" => Ok(s.as_bytes()[0]),
        _ => Err(format!(
            "{s:?}: the delimiter must be one ASCII character (or \"tab\")"
        )),
    }
}

/// How a command reports when done: the text for people (unless `--quiet`) or, with
/// `--json`, one JSON document; both on standard output, except that the text goes to
/// standard error when the output itself is written there (`--out -`).
#[derive(Clone, Copy)]
pub struct Report {
    pub quiet: bool,
    pub json: bool,
}

impl Report {
    /// Prints the result: `json` with `--json`, else `text` unless `--quiet`.
    /// `out_on_stdout` says the command's output went to standard output.
    pub fn done<T: serde::Serialize>(
        self,
        text: impl FnOnce() -> String,
        json: impl FnOnce() -> T,
        out_on_stdout: bool,
    ) -> cardseg::Result<()> {
        if self.json {
            return print_json(&json());
        }
        if self.quiet {
            return Ok(());
        }
        if out_on_stdout {
            eprint!("{}", text());
            Ok(())
        } else {
            print(&text())
        }
    }

    /// Refuses `--json` with `--out -`: both would go to standard output.
    pub fn check_out(self, out: &std::path::Path) -> cardseg::Result<()> {
        if self.json && cardseg::output::is_stdout(out) {
            return Err(cardseg::Error::usage(
                "--json and --out - both write to standard output; give --out a file name, or leave out --json",
            ));
        }
        Ok(())
    }
}

/// Prints `value` as pretty JSON with a final newline.
pub fn print_json<T: serde::Serialize>(value: &T) -> cardseg::Result<()> {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    print(&text)
}

/// Prints to stdout; a closed pipe (`| head`) ends quietly instead of panicking.
pub fn print(text: &str) -> cardseg::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(cardseg::Error::io(
            std::path::Path::new("standard output"),
            "writing",
            e,
        )),
    }
}
