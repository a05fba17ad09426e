//! The `cardseg` binary: parse flags, call the library, print one clear line on error.

mod cli;

use clap::Parser;

/// Exits on a command-line error (status 2) with the problem on one `error:` line: clap
/// spreads some over several lines ("the following required arguments were not
/// provided:" then the arguments), so its first paragraph is joined; the usage and tips
/// follow on later lines. Help and version go out unchanged.
fn usage_error(e: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        e.exit()
    }
    let text = e.render().to_string();
    let (first, rest) = text.split_once("\n\n").unwrap_or((text.as_str(), ""));
    let line = first
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("{line}");
    if !rest.trim().is_empty() {
        eprintln!("\n{}", rest.trim_end());
    }
    std::process::exit(2)
}

fn main() {
    // A bug must still end in one readable line, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let msg = cardseg::error::one_line(&msg);
        eprintln!("error: internal error ({msg}{at}); please report it with the command you ran");
    }));
    // Messages of the library name parameters as this front end does: as its flags.
    cardseg::error::name_params(cli::param_flag);
    let args = cli::Cli::try_parse().unwrap_or_else(|e| usage_error(e));
    cardseg::progress::set_quiet(args.quiet);
    if !matches!(args.command, cli::Command::Serve(_)) {
        cardseg::output::remove_temporaries_on_signal();
    }
    if let Err(e) = run(args) {
        cardseg::output::wait_if_signalled();
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: cli::Cli) -> anyhow::Result<()> {
    use cli::Command::*;
    let report = cli::Report {
        quiet: args.quiet,
        json: args.json,
    };
    match args.command {
        Demo(a) => cli::demo::exec(a, report)?,
        Run(a) => cli::run::exec(a, report)?,
        Inspect(a) => cli::inspect::exec(a, report)?,
        Predict(a) => cli::predict::exec(a, report)?,
        Generate(a) => cli::generate::exec(a, report)?,
        Dashboard(a) => cli::dashboard::exec(a, report)?,
        Serve(a) => cli::serve::exec(a, report)?,
        Export(a) => cli::export::exec(a, report)?,
        Compare(a) => cli::compare::exec(a, report)?,
        Completions(a) => cli::release::completions(a, report)?,
        Man(a) => cli::release::man(a, report)?,
        Drift(a) => {
            if cli::drift::exec(a, report)? {
                std::process::exit(cardseg::lifecycle::drift::EXIT_FAIL_ABOVE)
            }
        }
    }
    Ok(())
}
