//! `cardseg completions SHELL` and `cardseg man`: generated from the same flag
//! definitions the parser uses, so they never fall behind.

use clap::CommandFactory;

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

#[derive(clap::Args)]
pub struct ManArgs {}

/// Writes a completion script for `shell` to standard output (with `--json`, inside one
/// JSON object, as every command's result).
pub fn completions(args: CompletionsArgs, report: super::Report) -> cardseg::Result<()> {
    let mut cmd = super::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "cardseg", &mut buf);
    let text = String::from_utf8_lossy(&buf);
    if report.json {
        return super::print_json(&serde_json::json!({
            "command": "completions",
            "shell": args.shell.to_string(),
            "script": text,
        }));
    }
    super::print(&text)
}

/// Writes the manual page (roff) to standard output: the command and every subcommand
/// (with `--json`, inside one JSON object).
pub fn man(_: ManArgs, report: super::Report) -> cardseg::Result<()> {
    let cmd = super::Cli::command();
    let mut buf = Vec::new();
    let io =
        |e: std::io::Error| cardseg::Error::io(std::path::Path::new("manual page"), "writing", e);
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .map_err(io)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        // One page per subcommand, named as man pages name them (cardseg-drift); the
        // process prints once and exits, so the leaked names cost nothing.
        let name: &'static str = Box::leak(format!("cardseg-{}", sub.get_name()).into_boxed_str());
        let page = sub.clone().name(name).display_name(name);
        buf.extend_from_slice(b"\n");
        clap_mangen::Man::new(page).render(&mut buf).map_err(io)?;
    }
    let text = String::from_utf8_lossy(&buf);
    if report.json {
        return super::print_json(&serde_json::json!({ "command": "man", "roff": text }));
    }
    super::print(&text)
}
