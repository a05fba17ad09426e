//! The `cardseg` binary: parse flags, call the library, print one clear line on error.

mod cli;

/// Exits on a command-line error (status 2) with the problem on one `error:` line, as
/// every other error: clap's first paragraph (joined when it spans lines, e.g. the list of
/// missing arguments or the possible values), its tips, then where to read more. The usage
/// block is left out: `--help` prints it. Help and version go out unchanged.
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
    let sub = cli::subcommand_named(std::env::args_os().skip(1));
    eprintln!(
        "{}",
        cli::usage_line(&e.render().to_string(), sub.as_deref())
    );
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
    let args = cli::command()
        .try_get_matches()
        .and_then(|m| <cli::Cli as clap::FromArgMatches>::from_arg_matches(&m))
        .unwrap_or_else(|e| usage_error(e));
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
