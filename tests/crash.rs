//! Crash safety: `cardseg run` (and the single-file writers `generate` and `predict`)
//! killed with SIGKILL at seeded random moments never leave a half-written result.
//!
//! - Without `--force`: after each kill the output directory is absent, or complete and
//!   byte-identical to an uninterrupted run (all files present, model verifies, one label
//!   row per customer).
//! - With `--force` over an earlier result: after each kill the directory is the earlier
//!   result, byte for byte, or the complete new one.
//! - Hidden temporary siblings (`.NAME.cardseg-tmp-*`) may survive a SIGKILL, but the
//!   next run sweeps them (their process is dead).
//!
//! Half the moments are uniform over the whole run; the other half fall in the window
//! where files are being written and the directory renamed (found by watching for the
//! temporary sibling to fill), since that is where a crash could tear a result.
//!
//! Size: 300,000 customers, not 1,000,000. On CI's 2 cores a run over 1M customers takes
//! about 4 s even with a short k sweep, so 40 kills plus references would take minutes;
//! 300k exercises the same code paths (sampled silhouette, multi-megabyte labels.csv) in
//! about 1.5 s a run. `CARDSEG_CRASH_ROWS=1000000` runs it at full size.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use cardseg::rng::Rng;
use common::*;

const KILLS: usize = 20;

fn rows() -> u64 {
    std::env::var("CARDSEG_CRASH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000)
}

fn run_args(out: &str, seed: u64, force: bool) -> Vec<String> {
    let mut a: Vec<String> = [
        "--quiet",
        "run",
        "--input",
        "in.csv",
        "--out",
        out,
        "--k-max",
        "4",
        "--n-init",
        "2",
        "--silhouette-sample",
        "5000",
        "--seed",
    ]
    .map(String::from)
    .to_vec();
    a.push(seed.to_string());
    if force {
        a.push("--force".into());
    }
    a
}

fn spawn(dir: &Path, args: &[String]) -> Child {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Run::new(dir, &args)
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn cardseg")
}

/// Hidden temporary siblings of `name` in `dir`.
fn siblings(dir: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.cardseg-tmp-");
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

/// True once a temporary sibling of `name` holds at least one file (writing started).
fn writing_started(dir: &Path, name: &str) -> bool {
    siblings(dir, name).iter().any(|s| {
        if s.is_dir() {
            fs::read_dir(s)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
        } else {
            fs::metadata(s).map(|m| m.len() > 0).unwrap_or(false)
        }
    })
}

/// Runs to completion, measuring the whole run and how long writing lasts (from the first
/// file in the temporary sibling to the exit).
fn timed_run(dir: &Path, args: &[String], name: &str) -> (Duration, Duration) {
    let start = Instant::now();
    let mut child = spawn(dir, args);
    let mut first_file = None;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(status.success(), "reference run failed: {err}");
            break;
        }
        if first_file.is_none() && writing_started(dir, name) {
            first_file = Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let total = start.elapsed();
    let write = total - first_file.unwrap_or(total.mul_f64(0.9));
    (total, write.max(Duration::from_millis(5)))
}

/// When to kill run `i`: uniform over the run, or (odd i) within the writing window.
enum Moment {
    After(Duration),
    IntoWriting(Duration),
}

fn moments(seed: u64, total: Duration, write: Duration) -> Vec<Moment> {
    let mut rng = Rng::new(seed);
    (0..KILLS)
        .map(|i| {
            if i % 2 == 0 {
                Moment::After(total.mul_f64(1.05 * rng.uniform()))
            } else {
                Moment::IntoWriting(write.mul_f64(1.2 * rng.uniform()))
            }
        })
        .collect()
}

/// Starts `args`, kills it with SIGKILL at `m`; returns whether it had already exited.
fn kill_at(dir: &Path, args: &[String], name: &str, m: &Moment) -> bool {
    let start = Instant::now();
    let mut child = spawn(dir, args);
    let deadline = match m {
        Moment::After(d) => start + *d,
        Moment::IntoWriting(d) => {
            loop {
                if writing_started(dir, name) || child.try_wait().unwrap().is_some() {
                    break;
                }
                if start.elapsed() > Duration::from_secs(120) {
                    panic!("the run never started writing");
                }
                std::thread::sleep(Duration::from_micros(500));
            }
            Instant::now() + *d
        }
    };
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL
    let status = child.wait().unwrap();
    if finished {
        let mut err = String::new();
        use std::io::Read;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "an uninterrupted run failed: {err}");
    }
    finished
}

/// A complete output directory: every file, the model verifies, one label per customer.
fn assert_complete(out: &Path, rows: u64) {
    for f in RUN_FILES {
        assert!(out.join(f).is_file(), "{} lacks {f}", out.display());
    }
    cardseg::model::Model::load(&out.join("model.json")).expect("model verifies");
    assert_eq!(
        label_rows(&out.join("labels.csv")) as u64,
        rows,
        "labels.csv rows"
    );
}

#[test]
fn sigkill_never_leaves_a_half_written_run() {
    let rows = rows();
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = cardseg(
        d,
        &[
            "--quiet",
            "generate",
            "--rows",
            &rows.to_string(),
            "--out",
            "in.csv",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);

    // References: complete runs with seeds 1 and 2 (the same content wherever written).
    let (total, write) = timed_run(d, &run_args("ref1", 1, false), "ref1");
    timed_run(d, &run_args("ref2", 2, false), "ref2");
    assert_complete(&d.join("ref1"), rows);
    assert_complete(&d.join("ref2"), rows);
    let ref1 = digest(&d.join("ref1"));
    let ref2 = digest(&d.join("ref2"));
    assert_ne!(
        ref1, ref2,
        "the two references must differ to tell old from new"
    );
    eprintln!("run of {rows} customers: {total:?}, writing {write:?}");

    // Without --force.
    let mut tally = (0, 0, 0); // (absent, complete, leftover siblings seen)
    for (i, m) in moments(2024, total, write).iter().enumerate() {
        let out = d.join("out");
        if out.exists() {
            fs::remove_dir_all(&out).unwrap();
        }
        kill_at(d, &run_args("out", 1, false), "out", m);
        if out.exists() {
            assert_eq!(
                digest(&out),
                ref1,
                "kill {i}: out exists but is not the complete result"
            );
            tally.1 += 1;
        } else {
            tally.0 += 1;
        }
        tally.2 += siblings(d, "out").len();
    }
    eprintln!(
        "without --force: {} absent, {} complete, {} leftover siblings",
        tally.0, tally.1, tally.2
    );
    assert!(
        tally.0 > 0,
        "no kill interrupted a run: the test proves nothing"
    );
    assert!(
        tally.2 > 0,
        "no kill left a temporary sibling: the sweep is not exercised"
    );
    // The next run completes and sweeps every leftover of the killed ones.
    if d.join("out").exists() {
        fs::remove_dir_all(d.join("out")).unwrap();
    }
    let o = Run::new(
        d,
        &run_args("out", 1, false)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .go();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(digest(&d.join("out")), ref1);
    assert_eq!(
        siblings(d, "out"),
        Vec::<PathBuf>::new(),
        "leftovers were not swept"
    );

    // With --force over an earlier result: alternate seeds so old and new always differ.
    let mut current = 1u64;
    let mut tally = (0, 0, 0); // (old kept, new complete, leftovers)
    for (i, m) in moments(4048, total, write).iter().enumerate() {
        let next = 3 - current;
        kill_at(d, &run_args("out", next, true), "out", m);
        let now = digest(&d.join("out"));
        let (old, new) = if current == 1 {
            (&ref1, &ref2)
        } else {
            (&ref2, &ref1)
        };
        if &now == old {
            tally.0 += 1;
        } else if &now == new {
            tally.1 += 1;
            current = next;
        } else {
            panic!(
                "kill {i} with --force: out is neither the earlier result nor the complete new one"
            );
        }
        tally.2 += siblings(d, "out").len();
    }
    eprintln!(
        "with --force: {} earlier kept, {} new complete, {} leftover siblings",
        tally.0, tally.1, tally.2
    );
    assert!(tally.0 > 0, "no kill interrupted a --force run");
    let o = Run::new(
        d,
        &run_args("out", 3 - current, true)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    )
    .go();
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_complete(&d.join("out"), rows);
    assert_eq!(
        siblings(d, "out"),
        Vec::<PathBuf>::new(),
        "leftovers were not swept"
    );
}

/// The single-file writers (`generate`, `predict`) share `write_file_atomic`: a kill
/// leaves the target absent or complete, and the next write sweeps the temporary file.
#[test]
fn sigkill_never_leaves_a_half_written_file() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let rows = "300000";
    let gen = |out: &str| -> Vec<String> {
        ["--quiet", "generate", "--rows", rows, "--out", out]
            .map(String::from)
            .to_vec()
    };
    let (total, write) = timed_run(d, &gen("ref.csv"), "ref.csv");
    let reference = fs::read(d.join("ref.csv")).unwrap();
    let mut leftovers = 0;
    let mut absent = 0;
    for (i, m) in moments(7, total, write).iter().take(8).enumerate() {
        let _ = fs::remove_file(d.join("g.csv"));
        kill_at(d, &gen("g.csv"), "g.csv", m);
        match fs::read(d.join("g.csv")) {
            Ok(bytes) => assert!(
                bytes == reference,
                "kill {i}: g.csv exists but is incomplete"
            ),
            Err(_) => absent += 1,
        }
        leftovers += siblings(d, "g.csv").len();
    }
    assert!(absent > 0, "no kill interrupted generate");
    let _ = fs::remove_file(d.join("g.csv"));
    let o = cardseg(
        d,
        &gen("g.csv").iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(
        siblings(d, "g.csv"),
        Vec::<PathBuf>::new(),
        "generate leftovers not swept ({leftovers} seen)"
    );

    // predict: model from a small run, then score the 300k file with kills.
    fs::write(d.join("small.csv"), synthetic_csv(500, 3)).unwrap();
    let o = cardseg(
        d,
        &[
            "--quiet",
            "run",
            "--input",
            "small.csv",
            "--out",
            "m",
            "--k",
            "3",
            "--n-init",
            "1",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    let pred = |out: &str| -> Vec<String> {
        [
            "--quiet",
            "predict",
            "--model",
            "m/model.json",
            "--input",
            "ref.csv",
            "--out",
            out,
        ]
        .map(String::from)
        .to_vec()
    };
    let (total, write) = timed_run(d, &pred("ref_labels.csv"), "ref_labels.csv");
    let reference = fs::read(d.join("ref_labels.csv")).unwrap();
    let mut absent = 0;
    for (i, m) in moments(8, total, write).iter().take(8).enumerate() {
        let _ = fs::remove_file(d.join("labels.csv"));
        kill_at(d, &pred("labels.csv"), "labels.csv", m);
        match fs::read(d.join("labels.csv")) {
            Ok(bytes) => assert!(
                bytes == reference,
                "kill {i}: labels.csv exists but is incomplete"
            ),
            Err(_) => absent += 1,
        }
    }
    assert!(absent > 0, "no kill interrupted predict");
    let _ = fs::remove_file(d.join("labels.csv"));
    let o = cardseg(
        d,
        &pred("labels.csv")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert_eq!(
        siblings(d, "labels.csv"),
        Vec::<PathBuf>::new(),
        "predict leftovers not swept"
    );
}

/// The sweep removes the temporary siblings of dead processes only: a sibling whose
/// process is alive is another run at work and must survive.
#[test]
fn sweep_removes_only_the_siblings_of_dead_processes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs::write(d.join("in.csv"), synthetic_csv(200, 1)).unwrap();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let live = d.join(format!(".out.cardseg-tmp-{}-0-1", std::process::id()));
    let dead_dir = d.join(format!(".out.cardseg-tmp-{dead_pid}-0-1"));
    let dead_old = d.join(format!(".out.cardseg-tmp-{dead_pid}-1-2-old"));
    let dead_file = d.join(".out.cardseg-tmp-2147483000-Ab12Cd");
    let other_name = d.join(format!(".other.cardseg-tmp-{dead_pid}-0-1"));
    for dir in [&live, &dead_dir, &dead_old, &other_name] {
        fs::create_dir(dir).unwrap();
        fs::write(dir.join("labels.csv"), "partial").unwrap();
    }
    fs::write(&dead_file, "partial").unwrap();
    let o = cardseg(
        d,
        &[
            "--quiet", "run", "--input", "in.csv", "--out", "out", "--k", "3", "--n-init", "1",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    assert!(live.exists(), "the sibling of a live process was removed");
    assert!(
        other_name.exists(),
        "a sibling of another output was removed"
    );
    for p in [&dead_dir, &dead_old, &dead_file] {
        assert!(!p.exists(), "{} was not swept", p.display());
    }
    assert_eq!(siblings(d, "out"), vec![live]);
}
