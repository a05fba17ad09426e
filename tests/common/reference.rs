//! The one place the integration tests locate the real CC GENERAL file and decide whether a
//! missing reference (data, Python, a server) skips the test or fails it. Part of the one
//! shared `tests/common` module, so the rule cannot drift between suites.

#![allow(dead_code)]

use std::path::PathBuf;

/// The real data file, read in place beside the repository (never copied into it).
pub const REAL_DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/cc_general.csv");

/// True when missing references must fail the test instead of skipping it
/// (`CARDSEG_REQUIRE_REFERENCE=1`, set by scripts/test.sh, so CI never skips silently).
pub fn required() -> bool {
    std::env::var("CARDSEG_REQUIRE_REFERENCE").is_ok_and(|v| v == "1")
}

/// Says why a test is skipped; with `CARDSEG_REQUIRE_REFERENCE=1` it fails instead.
pub fn skip_or_fail(what: &str) {
    if required() {
        panic!("{what}, and CARDSEG_REQUIRE_REFERENCE=1 requires it");
    }
    eprintln!("SKIPPED: {what} (set CARDSEG_REQUIRE_REFERENCE=1 to make this a failure)");
}

/// The real CC GENERAL file, or None (saying why) when it is absent and not required.
pub fn real_data() -> Option<PathBuf> {
    // CARDSEG_REAL_DATA points elsewhere (a git worktree has no ../shared beside it).
    let p = std::env::var_os("CARDSEG_REAL_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(REAL_DATA));
    if p.is_file() {
        return Some(p);
    }
    skip_or_fail(&format!("the real data file {} is absent", p.display()));
    None
}
