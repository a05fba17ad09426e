//! The `cardseg` binary: parse flags, call the library, print one clear line on error.

mod cli;

use clap::Parser;

fn main() {
    // A bug must still end in one readable line, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error ({msg}{at}); please report it with the command you ran");
    }));
    let args = cli::Cli::parse();
    cardseg::progress::set_quiet(args.quiet);
    if let Err(e) = run(args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: cli::Cli) -> anyhow::Result<()> {
    use cli::Command::*;
    let quiet = args.quiet;
    match args.command {
        Demo(a) => cli::demo::exec(a, quiet)?,
        Run(a) => cli::run::exec(a, quiet)?,
        Inspect(a) => cli::inspect::exec(a)?,
        Predict(a) => cli::predict::exec(a, quiet)?,
        Generate(a) => cli::generate::exec(a)?,
        Dashboard(a) => cli::dashboard::exec(a, quiet)?,
    }
    Ok(())
}
