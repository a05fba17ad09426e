//! Running the binary as the reliability suites do: in a fresh directory with a timeout,
//! judging its stderr, snapshotting directories byte for byte, scanning outputs for
//! non-finite numbers.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BIN;

/// Text that must never reach a user: the marks of a panic or a backtrace.
pub const PANIC_MARKS: [&str; 6] = [
    "panicked",
    "RUST_BACKTRACE",
    "internal error",
    "stack backtrace",
    "thread 'main'",
    "note: run with",
];

/// What one run of the binary did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code; None when killed by a signal or by the timeout.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

/// How to run the binary.
pub struct Run<'a> {
    pub dir: &'a Path,
    pub args: Vec<String>,
    pub env: Vec<(&'a str, String)>,
    pub timeout: Duration,
    /// umask for the child (None: inherit).
    pub umask: Option<u32>,
}

impl<'a> Run<'a> {
    pub fn new(dir: &'a Path, args: &[&str]) -> Self {
        Run {
            dir,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: Vec::new(),
            timeout: Duration::from_secs(120),
            umask: None,
        }
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(&self.args)
            .current_dir(self.dir)
            .stdin(Stdio::null());
        // A panic must be caught by our hook whatever the caller's environment says.
        cmd.env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(mask) = self.umask {
            use std::os::unix::process::CommandExt;
            // SAFETY: umask is async-signal-safe and touches only the child.
            unsafe {
                cmd.pre_exec(move || {
                    libc::umask(mask as libc::mode_t);
                    Ok(())
                });
            }
        }
        cmd
    }

    /// Runs to completion or until the timeout (then kills the process).
    pub fn go(&self) -> Outcome {
        // stdout/stderr go to files outside `dir`, so the directory snapshot only shows
        // what the command itself wrote, and a chatty child can never block on a pipe.
        let logs = tempfile::tempdir().expect("temp dir for logs");
        let out_path = logs.path().join("stdout");
        let err_path = logs.path().join("stderr");
        let mut cmd = self.command();
        cmd.stdout(fs::File::create(&out_path).unwrap())
            .stderr(fs::File::create(&err_path).unwrap());
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn cardseg");
        let mut timed_out = false;
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break Some(s);
            }
            if start.elapsed() > self.timeout {
                let _ = child.kill();
                let _ = child.wait();
                timed_out = true;
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let read =
            |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        Outcome {
            code: status.and_then(|s| s.code()),
            stdout: read(&out_path),
            stderr: read(&err_path),
            timed_out,
            elapsed: start.elapsed(),
        }
    }
}

/// Runs `cardseg ARGS` in `dir` with the default timeout.
pub fn cardseg(dir: &Path, args: &[&str]) -> Outcome {
    Run::new(dir, args).go()
}

/// Problems with how a run ended, as text (empty when all is well). `expect_code` 0 is a
/// success; 1 a library error (exactly one stderr line, `error: ...`); 2 a clap usage
/// error (exactly one line starting with `error:`, usage text after it).
pub fn judge(o: &Outcome, expect_code: i32, keywords: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    if o.timed_out {
        bad.push(format!("timed out after {:?}", o.elapsed));
        return bad;
    }
    if o.code != Some(expect_code) {
        bad.push(format!("exit code {:?}, expected {expect_code}", o.code));
    }
    for text in [&o.stdout, &o.stderr] {
        for mark in PANIC_MARKS {
            if text.contains(mark) {
                bad.push(format!("output contains {mark:?}"));
            }
        }
    }
    if expect_code == 0 {
        if o.stderr.lines().any(|l| l.starts_with("error")) {
            bad.push(format!("success printed an error: {}", o.stderr.trim()));
        }
        return bad;
    }
    let error_lines: Vec<&str> = o
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    if error_lines.len() != 1 {
        bad.push(format!(
            "{} lines start with error:, expected 1",
            error_lines.len()
        ));
    }
    if expect_code == 1 {
        let lines: Vec<&str> = o.stderr.lines().collect();
        if lines.len() != 1 {
            bad.push(format!(
                "stderr has {} lines, expected exactly 1",
                lines.len()
            ));
        }
        if !o.stdout.is_empty() {
            bad.push("an error also printed to stdout".into());
        }
    }
    let line = error_lines.first().copied().unwrap_or("");
    if line.len() > 1500 {
        bad.push(format!("the error line is {} bytes long", line.len()));
    }
    let lower = line.to_lowercase();
    for k in keywords {
        if !lower.contains(&k.to_lowercase()) {
            bad.push(format!("the message lacks {k:?}"));
        }
    }
    bad
}

/// The first (only) error line of a run, for reports.
pub fn error_line(o: &Outcome) -> String {
    o.stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .to_string()
}

/// Every file under `dir` (hidden ones included), relative path -> bytes; directories
/// are recorded with an empty marker so an empty leftover directory shows too.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.insert(rel.join(""), b"<dir>".to_vec());
                walk(root, &p, out);
            } else if meta.is_file() {
                out.insert(rel, fs::read(&p).unwrap_or_default());
            } else {
                out.insert(rel, b"<other>".to_vec());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// SHA-256 of every file under `dir` (large outputs).
pub fn digest(dir: &Path) -> BTreeMap<PathBuf, String> {
    use sha2::Digest;
    snapshot(dir)
        .into_iter()
        .map(|(p, b)| {
            let h = sha2::Sha256::digest(&b);
            (p, h.iter().map(|x| format!("{x:02x}")).collect())
        })
        .collect()
}

/// How two snapshots differ, in a few words (empty when equal).
pub fn diff(
    before: &BTreeMap<PathBuf, Vec<u8>>,
    after: &BTreeMap<PathBuf, Vec<u8>>,
) -> Vec<String> {
    let mut d = Vec::new();
    for (p, b) in after {
        match before.get(p) {
            None => d.push(format!("new {}", p.display())),
            Some(a) if a != b => d.push(format!("changed {}", p.display())),
            _ => {}
        }
    }
    for p in before.keys() {
        if !after.contains_key(p) {
            d.push(format!("removed {}", p.display()));
        }
    }
    d
}

/// Non-finite numbers written as text: "NaN", "inf", "-inf", "Infinity", and "n/a"
/// (what the human formatter prints for them). Returns the offending tokens.
pub fn non_finite_tokens(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for token in text.split(|c: char| {
        !(c.is_ascii_alphanumeric() || c == '/' || c == '-' || c == '+' || c == '.')
    }) {
        let t = token
            .trim_start_matches(['-', '+'])
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if matches!(t.as_str(), "nan" | "inf" | "infinity" | "n/a") {
            found.push(token.to_string());
        }
    }
    found
}

/// The part of an output file that carries cardseg's numbers: all of it, except for a
/// dashboard, which embeds plotly.js (whose code names NaN and Infinity); there only
/// the page's JSON data element counts.
pub fn scannable<'a>(path: &Path, text: &'a str) -> std::borrow::Cow<'a, str> {
    if path.extension().is_some_and(|e| e == "html") {
        std::borrow::Cow::Borrowed(super::page_data_text(text))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// Output files under `dir` that hold non-finite numbers, with the tokens.
pub fn non_finite_files(dir: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    for (p, bytes) in snapshot(dir) {
        let text = String::from_utf8_lossy(&bytes);
        let text = scannable(&p, &text);
        let t = non_finite_tokens(&text);
        if !t.is_empty() {
            bad.push(format!("{}: {:?}", p.display(), &t[..t.len().min(3)]));
        }
    }
    bad
}

/// Synthetic customers with the CC GENERAL schema (the library's generator).
pub fn synthetic_csv(rows: u64, seed: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    cardseg::generate::generate(rows, seed, &mut buf, &|_| {}).unwrap();
    buf
}

/// Counts data rows of a labels file (lines after the header).
pub fn label_rows(path: &Path) -> usize {
    let text = fs::read(path).unwrap();
    let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_slice());
    let mut n = 0;
    for r in rdr.byte_records() {
        r.expect("labels file is valid CSV");
        n += 1;
    }
    n
}

/// The files every complete `cardseg run` output directory holds.
pub const RUN_FILES: [&str; 8] = [
    "dashboard.html",
    "k_selection.csv",
    "labels.csv",
    "model.json",
    "segments.csv",
    "segments.json",
    "summary.json",
    "summary.md",
];
