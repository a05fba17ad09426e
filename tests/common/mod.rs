//! The one helper module of the integration tests: every tests/*.rs says `mod common;`.
//!
//! - here: running the binary (`run`, `run_ok`, `fail`, ...), judging a failed run
//!   (`assert_clean_error`), paths, a Python for the reference checks, gzip, free ports;
//! - `reference`: where the real CC GENERAL file is, and whether a missing reference
//!   (data, Python, a server) skips the test or fails it (`CARDSEG_REQUIRE_REFERENCE=1`);
//! - `process`: the reliability suites' runner (fresh directory, timeout, `judge`),
//!   directory snapshots and the non-finite-number scan;
//! - `page`: dashboard pages (embedded data, markup, external links) and hostile fixtures;
//! - `pg`: a PostgreSQL server for one test;
//! - `serve`: a `cardseg serve` child process (`Server`), ready once it says where it listens.
//!
//! Each test binary uses only part of it, hence `dead_code` is allowed.

#![allow(dead_code, unused_imports)]

pub mod page;
pub mod pg;
pub mod process;
mod reference;
pub mod serve;

pub use page::*;
pub use pg::*;
pub use process::*;
pub use reference::{real_data, required, skip_or_fail, REAL_DATA};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The cardseg binary Cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_cardseg");

/// Skips (returns None) or fails, depending on [`required`].
pub fn skip<T>(what: &str) -> Option<T> {
    reference::skip_or_fail(what);
    None
}

/// A path as the `&str` a command line takes.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// A Python that can import `modules` (CARDSEG_PYTHON, or the repo's .venv), or None
/// (saying why, or failing under `CARDSEG_REQUIRE_REFERENCE=1`).
fn python_with(modules: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var("CARDSEG_PYTHON").ok().map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")),
    ];
    for c in candidates.into_iter().flatten() {
        let ok = Command::new(&c)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(c);
        }
    }
    skip(&format!("a Python with {modules} (run scripts/setup.sh)"))
}

/// A Python with scikit-learn, pandas and kneed.
pub fn python() -> Option<PathBuf> {
    python_with("sklearn, pandas, kneed")
}

/// A Python with pyarrow (Parquet files the `parquet` crate cannot write).
pub fn pyarrow_python() -> Option<PathBuf> {
    python_with("pyarrow.parquet")
}

/// `cardseg --quiet`, to add arguments to.
pub fn command() -> Command {
    let mut c = Command::new(BIN);
    c.arg("--quiet");
    c
}

/// Runs `cardseg ARGS` (without `--quiet`: some tests read its tables).
pub fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

/// Runs `cardseg ARGS` with extra environment variables.
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run cardseg")
}

/// Runs `cardseg --quiet ARGS` with extra environment variables.
pub fn quiet_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = command();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run cardseg")
}

/// Runs `cardseg --quiet ARGS`.
pub fn quiet(args: &[&str]) -> Output {
    quiet_env(args, &[])
}

/// Runs `cardseg --quiet ARGS`, failing the test with its stderr when it fails.
pub fn run_ok(args: &[&str]) -> Output {
    let out = quiet(args);
    assert!(
        out.status.success(),
        "cardseg {} failed:\n{}",
        args.join(" "),
        stderr(&out)
    );
    out
}

/// Runs `cardseg --quiet ARGS` that must fail: non-zero exit, one `error:` line, nothing
/// written at `out`. Returns stderr.
pub fn fail_env(args: &[&str], env: &[(&str, &str)], out: &Path) -> String {
    let o = quiet_env(args, env);
    let err = stderr(&o);
    assert!(
        !o.status.success(),
        "cardseg {args:?} should fail; stderr: {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    assert!(
        !out.exists(),
        "{} was written although the command failed",
        out.display()
    );
    err
}

/// [`fail_env`] without extra environment.
pub fn fail(args: &[&str], out: &Path) -> String {
    fail_env(args, &[], out)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failed run: exit code 1, one `error:` line mentioning `needle`, no panic.
pub fn assert_clean_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "expected exit 1, got {:?}; stderr: {err}",
        o.status
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("internal error"),
        "{err}"
    );
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A loopback port that was free a moment ago (nothing listens on it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
