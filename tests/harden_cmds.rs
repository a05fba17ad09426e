//! Outputs, models and commands against hostile use: `--force` onto a command's own inputs,
//! formula cells in migration.csv, files read back that are devices, pipes or endless lines,
//! column names a model cannot hold, a SIGHUP reload of a FIFO, a re-signed unsound model,
//! dangling links as outputs, and drift on a handful of customers.
//!
//! Every test runs the real binary; `CARDSEG_TEST_BIN` points them at another build (to
//! see them fail on a build without the fixes). Waits are bounded and wait on signals
//! (a log line, an answer), never on sleeps alone.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::s;
use common::serve::Server;

fn bin() -> String {
    std::env::var("CARDSEG_TEST_BIN").unwrap_or_else(|_| common::BIN.to_string())
}

/// Runs `cardseg --quiet ARGS`, killed after `limit` (a command that blocks fails the
/// test instead of hanging it), with its address space capped at 4 GB (one that grows
/// without bound fails fast instead of taking the machine's memory).
fn cardseg_within(args: &[&str], limit: Duration) -> Output {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(bin());
    c.arg("--quiet")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; the closure touches nothing else.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let mut child = c.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cardseg {args:?} did not finish within {limit:?} (it blocked)");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: o.join().unwrap(),
        stderr: e.join().unwrap(),
    }
}

fn cardseg(args: &[&str]) -> Output {
    cardseg_within(args, Duration::from_secs(300))
}

fn ok(args: &[&str]) -> Output {
    let o = cardseg(args);
    assert!(
        o.status.success(),
        "cardseg {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Asserts a clean failure (exit 1, one `error:` line holding `needle`); returns the line.
fn clean_error(o: &Output, needle: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "expected exit 1: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    lines[0].to_string()
}

/// Every file under `dir` with its bytes, to prove nothing changed.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(snapshot(&p));
        } else {
            v.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    v.sort();
    v
}

/// 1,500 synthetic customers and a run on them (k = 3, fast), in `dir`.
fn data_and_run(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let data = dir.join("data.csv");
    if !data.exists() {
        ok(&[
            "generate",
            "--rows",
            "1500",
            "--seed",
            "3",
            "--out",
            s(&data),
        ]);
    }
    let out = dir.join(name);
    ok(&[
        "run",
        "--input",
        s(&data),
        "--out",
        s(&out),
        "--k",
        "3",
        "--k-max",
        "3",
        "--n-init",
        "1",
        "--no-dashboard",
    ]);
    (data, out)
}

// ------------------------------------------------------------------ --force and inputs

#[test]
fn force_never_replaces_or_writes_into_a_commands_own_input() {
    let dir = tempfile::tempdir().unwrap();
    let (data, a) = data_and_run(dir.path(), "a");
    let (_, b) = data_and_run(dir.path(), "b");
    let model = a.join("model.json");
    let labels_a = a.join("labels.csv");
    let before = snapshot(dir.path());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "export",
                "--model",
                s(&model),
                "--format",
                "sql",
                "--out",
                s(&model),
                "--force",
            ],
            "is this command's input",
        ),
        (
            vec![
                "drift",
                "--model",
                s(&model),
                "--input",
                s(&data),
                "--out",
                s(&a),
                "--force",
            ],
            "holds this command's input",
        ),
        (
            vec![
                "compare",
                "--before",
                s(&a),
                "--after",
                s(&b),
                "--out",
                s(&a),
                "--force",
            ],
            "this command's input",
        ),
        (
            vec![
                "run",
                "--input",
                s(&data),
                "--previous",
                s(&model),
                "--out",
                s(&a),
                "--force",
                "--k",
                "3",
                "--k-max",
                "3",
                "--no-dashboard",
            ],
            "holds this command's input",
        ),
        (
            vec![
                "predict",
                "--model",
                s(&model),
                "--input",
                s(&data),
                "--out",
                s(&data),
                "--force",
            ],
            "is this command's input",
        ),
        (
            vec![
                "dashboard",
                "--model",
                s(&model),
                "--labels",
                s(&labels_a),
                "--input",
                s(&data),
                "--out",
                s(&model),
                "--force",
            ],
            "is this command's input",
        ),
    ];
    for (args, needle) in &cases {
        let o = cardseg(args);
        clean_error(&o, needle);
        assert_eq!(snapshot(dir.path()), before, "{args:?} changed files");
    }
    // An output inside an input directory: `compare --before A` reads the run folder A.
    let inside = a.join("migration");
    let o = cardseg(&[
        "compare",
        "--before",
        s(&a),
        "--after",
        s(&b),
        "--out",
        s(&inside),
    ]);
    clean_error(&o, "is inside this command's input");
    assert!(!inside.exists());
    assert_eq!(snapshot(dir.path()), before);
    // Elsewhere, the same commands work.
    ok(&[
        "export",
        "--model",
        s(&model),
        "--format",
        "sql",
        "--out",
        s(&dir.path().join("m.sql")),
    ]);
    ok(&[
        "compare",
        "--before",
        s(&a),
        "--after",
        s(&b),
        "--out",
        s(&dir.path().join("mig")),
    ]);
}

// ------------------------------------------------------------------ migration.csv cells

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn force_replaces_only_a_directory_of_files_cardseg_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (data, first) = data_and_run(d, "first");
    let full = d.join("full");
    ok(&[
        "run",
        "--input",
        s(&data),
        "--out",
        s(&full),
        "--k",
        "3",
        "--k-max",
        "3",
        "--n-init",
        "1",
        "--previous",
        s(&first.join("model.json")),
        "--stability-detail",
        "--stability-resamples",
        "2",
    ]);
    let parquet = d.join("parquet");
    ok(&[
        "run",
        "--input",
        s(&data),
        "--out",
        s(&parquet),
        "--k",
        "3",
        "--k-max",
        "3",
        "--n-init",
        "1",
        "--labels-format",
        "parquet",
        "--no-dashboard",
    ]);
    let drift = d.join("drift");
    ok(&[
        "drift",
        "--model",
        s(&first.join("model.json")),
        "--input",
        s(&data),
        "--out",
        s(&drift),
    ]);
    let compare = d.join("compare");
    ok(&[
        "compare",
        "--before",
        s(&first),
        "--after",
        s(&full),
        "--out",
        s(&compare),
    ]);
    let demo = d.join("demo");
    ok(&[
        "demo",
        "--rows",
        "1500",
        "--k-max",
        "3",
        "--n-init",
        "1",
        "--out",
        s(&demo),
    ]);
    // Every command's directory holds only names the ownership rule knows.
    let mut seen = std::collections::BTreeSet::new();
    for out in [&first, &full, &parquet, &drift, &compare, &demo] {
        for name in names(out) {
            assert!(
                cardseg::output::OUTPUT_DIR_FILES.contains(&name.as_str()),
                "{} writes {name}, which output::OUTPUT_DIR_FILES does not list",
                out.display()
            );
            seen.insert(name);
        }
    }
    for name in [
        "migration.csv",
        "stability.csv",
        "labels.parquet",
        "drift.json",
        "demo_input.csv",
    ] {
        assert!(seen.contains(name), "no command wrote {name}: {seen:?}");
    }
    // A file or folder someone added to a result: --force refuses, naming it, and
    // nothing changes.
    for (out, args) in [
        (
            &full,
            vec![
                "run",
                "--input",
                s(&data),
                "--out",
                s(&full),
                "--k",
                "3",
                "--n-init",
                "1",
                "--force",
            ],
        ),
        (
            &drift,
            vec![
                "drift",
                "--model",
                s(&first.join("model.json")),
                "--input",
                s(&data),
                "--out",
                s(&drift),
                "--force",
            ],
        ),
        (
            &compare,
            vec![
                "compare",
                "--before",
                s(&first),
                "--after",
                s(&full),
                "--out",
                s(&compare),
                "--force",
            ],
        ),
        (
            &demo,
            vec![
                "demo",
                "--rows",
                "1500",
                "--k-max",
                "3",
                "--n-init",
                "1",
                "--out",
                s(&demo),
            ],
        ),
    ] {
        std::fs::write(out.join("notes.txt"), "mine").unwrap();
        let before = snapshot(out);
        clean_error(&cardseg(&args), "holds \"notes.txt\"");
        assert_eq!(snapshot(out), before, "{}", out.display());
        std::fs::remove_file(out.join("notes.txt")).unwrap();
        std::fs::create_dir(out.join("sub")).unwrap();
        clean_error(&cardseg(&args), "holds \"sub\"");
        std::fs::remove_dir(out.join("sub")).unwrap();
        ok(&args);
    }
    // A copied model.json makes a folder a run's, but not the user's notes beside it.
    let mine = d.join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::copy(first.join("model.json"), mine.join("model.json")).unwrap();
    std::fs::write(mine.join("notes.txt"), "precious").unwrap();
    let before = snapshot(&mine);
    clean_error(
        &cardseg(&[
            "drift",
            "--model",
            s(&first.join("model.json")),
            "--input",
            s(&data),
            "--out",
            s(&mine),
            "--force",
        ]),
        "holds \"notes.txt\"",
    );
    assert_eq!(snapshot(&mine), before);
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[test]
fn migration_csv_neutralises_formula_names() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("before.csv");
    let after = dir.path().join("after.csv");
    write(
        &before,
        "CUST_ID,segment,segment_name\nC1,1,=HYPERLINK(\"x\")\nC2,2,@SUM(A1)\nC3,1,=HYPERLINK(\"x\")\n",
    );
    write(
        &after,
        "CUST_ID,segment,segment_name\nC1,1,+cmd\nC2,2,-evil\nC3,2,-evil\n",
    );
    let out = dir.path().join("mig");
    ok(&[
        "compare",
        "--before",
        s(&before),
        "--after",
        s(&after),
        "--out",
        s(&out),
    ]);
    let text = std::fs::read_to_string(out.join("migration.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let mut names = 0;
    for r in rdr.records() {
        let r = r.unwrap();
        for i in [1, 3] {
            let first = r[i].as_bytes()[0];
            assert_eq!(first, b'\'', "cell {:?} of {text}", &r[i]);
            names += 1;
        }
    }
    assert_eq!(names, 6, "{text}");
    // The JSON keeps the names as they are.
    let json = std::fs::read_to_string(out.join("migration.json")).unwrap();
    assert!(json.contains("\"from_name\": \"@SUM(A1)\""), "{json}");
}

#[test]
fn run_previous_migration_csv_neutralises_formula_names_unless_raw() {
    let dir = tempfile::tempdir().unwrap();
    let (data, a) = data_and_run(dir.path(), "a");
    // The earlier run's labels as `--raw-csv` writes them: names beginning with "=".
    // Read as CSV: names built from features hold commas ("Low BALANCE, Low CREDIT_LIMIT").
    let mut rdr = csv::Reader::from_path(a.join("labels.csv")).unwrap();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(rdr.headers().unwrap()).unwrap();
    for rec in rdr.records() {
        let mut f: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
        f[2] = format!("=seg{}", f[1]);
        w.write_record(&f).unwrap();
    }
    let edited = String::from_utf8(w.into_inner().unwrap()).unwrap();
    write(&a.join("labels.csv"), &edited);
    let model = a.join("model.json");
    for (raw, want) in [(false, b'\''), (true, b'=')] {
        let out = dir.path().join(format!("r{raw}"));
        let mut args = vec![
            "run",
            "--input",
            s(&data),
            "--previous",
            s(&model),
            "--out",
            s(&out),
            "--k",
            "3",
            "--k-max",
            "3",
            "--n-init",
            "1",
            "--no-dashboard",
        ];
        if raw {
            args.push("--raw-csv");
        }
        ok(&args);
        let text = std::fs::read_to_string(out.join("migration.csv")).unwrap();
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        let mut seen = 0;
        for r in rdr.records() {
            let r = r.unwrap();
            assert_eq!(r[1].as_bytes()[0], want, "raw {raw}: {text}");
            seen += 1;
        }
        assert!(seen > 0, "{text}");
    }
}

// ------------------------------------------------------------------ bounded reads

#[test]
fn labels_models_and_rules_must_be_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let (data, a) = data_and_run(dir.path(), "a");
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(s(&fifo)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let limit = Duration::from_secs(60);
    let out = dir.path().join("x");
    let labels = a.join("labels.csv");
    let model = a.join("model.json");
    let x_csv = dir.path().join("x.csv");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "compare",
                "--before",
                "/dev/zero",
                "--after",
                s(&labels),
                "--out",
                s(&out),
            ],
            "/dev/zero: is a device, not a regular file",
        ),
        (
            vec![
                "dashboard",
                "--model",
                s(&model),
                "--labels",
                "/dev/zero",
                "--input",
                s(&data),
                "--out",
                s(&out),
            ],
            "/dev/zero: is a device, not a regular file",
        ),
        (
            vec![
                "compare",
                "--before",
                s(&fifo),
                "--after",
                s(&labels),
                "--out",
                s(&out),
            ],
            "is a named pipe (FIFO), not a regular file",
        ),
        (
            vec![
                "predict",
                "--model",
                s(&fifo),
                "--input",
                s(&data),
                "--out",
                s(&x_csv),
            ],
            "is a named pipe (FIFO), not a regular file",
        ),
        (
            vec![
                "run",
                "--input",
                s(&data),
                "--naming-rules",
                s(&fifo),
                "--out",
                s(&out),
            ],
            "is a named pipe (FIFO), not a regular file",
        ),
    ];
    for (args, needle) in &cases {
        let o = cardseg_within(args, limit);
        clean_error(&o, needle);
        assert!(!out.exists());
    }
}

#[test]
fn a_labels_line_without_end_is_refused_at_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("labels.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&labels).unwrap());
        f.write_all(b"CUST_ID,segment,segment_name\nC1,1,").unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..65 {
            f.write_all(&chunk).unwrap();
        }
        f.write_all(b"\n").unwrap();
    }
    let out = dir.path().join("x");
    let o = cardseg_within(
        &[
            "compare",
            "--before",
            s(&labels),
            "--after",
            s(&labels),
            "--out",
            s(&out),
        ],
        Duration::from_secs(120),
    );
    clean_error(&o, "line 2 is longer than 64 MB");
    assert!(!out.exists());
}

// ------------------------------------------------------------------ column names

/// `data` with the header's `BALANCE` renamed to `name`.
fn renamed(data: &Path, name: &str, to: &Path) {
    let text = std::fs::read_to_string(data).unwrap();
    let (head, rest) = text.split_once('\n').unwrap();
    let head = head.replace("BALANCE,", &format!("{name},"));
    write(to, &format!("{head}\n{rest}"));
}

#[test]
fn a_model_is_never_written_with_names_its_readers_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_run(dir.path(), "a");
    let long = "B".repeat(400);
    let wide = dir.path().join("wide.csv");
    renamed(&data, &long, &wide);
    let out = dir.path().join("long");
    let features = format!("{long},PURCHASES,CREDIT_LIMIT");
    let o = cardseg(&[
        "run",
        "--input",
        s(&wide),
        "--features",
        &features,
        "--profile-features",
        "",
        "--out",
        s(&out),
        "--k",
        "3",
        "--n-init",
        "1",
        "--no-dashboard",
    ]);
    let line = clean_error(&o, "is 400 bytes long");
    assert!(
        line.contains("--features") && line.contains("256 bytes"),
        "{line}"
    );
    assert!(!out.exists());
    // A name at the bound: written, then read by every consumer.
    let at = "B".repeat(256);
    let ok_csv = dir.path().join("ok.csv");
    renamed(&data, &at, &ok_csv);
    let features = format!("{at},PURCHASES,CREDIT_LIMIT");
    ok(&[
        "run",
        "--input",
        s(&ok_csv),
        "--features",
        &features,
        "--profile-features",
        "",
        "--out",
        s(&out),
        "--k",
        "3",
        "--n-init",
        "1",
        "--no-dashboard",
    ]);
    let model = out.join("model.json");
    ok(&[
        "predict",
        "--model",
        s(&model),
        "--input",
        s(&ok_csv),
        "--out",
        s(&dir.path().join("p.csv")),
    ]);
    ok(&[
        "export",
        "--model",
        s(&model),
        "--format",
        "pmml",
        "--out",
        s(&dir.path().join("m.pmml")),
    ]);
}

#[test]
fn an_unused_column_with_a_name_too_long_for_a_model_is_left_out_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_run(dir.path(), "a");
    let long = "L".repeat(300);
    let wide = dir.path().join("wide.csv");
    renamed(&data, &long, &wide);
    let out = dir.path().join("long");
    let o = ok(&[
        "run",
        "--input",
        s(&wide),
        "--features",
        "PURCHASES,CREDIT_LIMIT",
        "--profile-features",
        "",
        "--out",
        s(&out),
        "--k",
        "3",
        "--n-init",
        "1",
        "--no-dashboard",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("warning: ")
            && lines[0].contains("LLLL")
            && lines[0].contains("300 bytes")
            && lines[0].contains("left out of the profile"),
        "{err}"
    );
    let segments = std::fs::read_to_string(out.join("segments.json")).unwrap();
    assert!(!segments.contains(&long));
    cardseg::model::Model::load(&out.join("model.json")).unwrap();
}

#[test]
fn the_summary_counts_empty_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = data_and_run(dir.path(), "a");
    let text = std::fs::read_to_string(&data).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    for line in &mut lines[2..4] {
        let (_, rest) = line.split_once(',').unwrap();
        *line = format!(",{rest}");
    }
    let blank = dir.path().join("blank.csv");
    write(&blank, &(lines.join("\n") + "\n"));
    let out = dir.path().join("blank");
    ok(&[
        "run",
        "--input",
        s(&blank),
        "--out",
        s(&out),
        "--k",
        "3",
        "--n-init",
        "1",
        "--no-dashboard",
    ]);
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(summary.contains("- Empty customer ids: 2 ("), "{summary}");
}

// ------------------------------------------------------------------ one model check

#[test]
fn a_resigned_unsound_model_is_refused_by_every_consumer_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (data, a) = data_and_run(dir.path(), "a");
    // Re-sign as the model file's checksum requires: SHA-256 of the `model` object in
    // compact JSON with sorted keys (serde_json's map), "sha256:" and lowercase hex.
    let text = std::fs::read_to_string(a.join("model.json")).unwrap();
    let mut env: serde_json::Value = serde_json::from_str(&text).unwrap();
    env["model"]["centroids_scaled"][0][0] = serde_json::json!(1e300);
    let compact = serde_json::to_string(&env["model"]).unwrap();
    use sha2::Digest;
    let digest = sha2::Sha256::digest(compact.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    env["checksum"] = serde_json::json!(format!("sha256:{hex}"));
    let bad_dir = dir.path().join("bad");
    std::fs::create_dir(&bad_dir).unwrap();
    let bad = bad_dir.join("model.json");
    write(&bad, &(serde_json::to_string_pretty(&env).unwrap() + "\n"));
    std::fs::copy(a.join("labels.csv"), bad_dir.join("labels.csv")).unwrap();
    let feature = env["model"]["features"][0].as_str().unwrap().to_string();
    let want = format!(
        "error: model {}: is inconsistent: centroid 1 has the value 1e300 for feature {feature}",
        bad.display()
    );
    let x = dir.path().join("x");
    let labels_a = a.join("labels.csv");
    let (p_csv, m_sql, d_html) = (
        dir.path().join("p.csv"),
        dir.path().join("m.sql"),
        dir.path().join("d.html"),
    );
    let consumers: Vec<Vec<&str>> = vec![
        vec![
            "predict",
            "--model",
            s(&bad),
            "--input",
            s(&data),
            "--out",
            s(&p_csv),
        ],
        vec![
            "export",
            "--model",
            s(&bad),
            "--format",
            "sql",
            "--out",
            s(&m_sql),
        ],
        vec![
            "drift",
            "--model",
            s(&bad),
            "--input",
            s(&data),
            "--out",
            s(&x),
        ],
        vec![
            "dashboard",
            "--model",
            s(&bad),
            "--labels",
            s(&labels_a),
            "--input",
            s(&data),
            "--out",
            s(&d_html),
        ],
        vec![
            "run",
            "--input",
            s(&data),
            "--previous",
            s(&bad),
            "--out",
            s(&x),
            "--no-dashboard",
        ],
        vec!["serve", "--model", s(&bad), "--addr", "127.0.0.1:0"],
    ];
    let mut lines = Vec::new();
    for args in &consumers {
        let o = cardseg_within(args, Duration::from_secs(120));
        let line = clean_error(&o, &want);
        lines.push(line);
    }
    assert!(lines.windows(2).all(|w| w[0] == w[1]), "{lines:#?}");
    assert!(!x.exists());
}

// ------------------------------------------------------------------ serve reload

impl Server {
    fn start(model: &Path) -> Server {
        let mut cmd = Command::new(bin());
        cmd.args(["serve", "--model", s(model), "--addr", "127.0.0.1:0"]);
        Server::spawn(cmd, Duration::from_secs(30))
    }

    /// Waits (at most 30 s) until the log shows `needle` `n` times.
    fn wait_log(&self, needle: &str, n: usize) -> String {
        self.wait_log_times(needle, n, Duration::from_secs(30))
    }

    fn hup(&self) {
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGHUP) },
            0
        );
    }

    fn get(&self, path: &str) -> String {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert!(s.starts_with("HTTP/1.1 200"), "{s}");
        s
    }
}

#[test]
fn serve_reload_of_a_fifo_is_refused_and_later_reloads_work() {
    let dir = tempfile::tempdir().unwrap();
    let (_, a) = data_and_run(dir.path(), "a");
    let model = a.join("model.json");
    let server = Server::start(&model);
    server.get("/v1/model");
    let kept = dir.path().join("kept.json");
    std::fs::rename(&model, &kept).unwrap();
    let c = std::ffi::CString::new(s(&model)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    server.hup();
    let log = server.wait_log("reload refused", 1);
    assert!(log.contains("named pipe"), "{log}");
    // Still answering, and counting the refusal.
    assert!(server
        .get("/metrics")
        .contains("cardseg_model_reloads_total{result=\"refused\"} 1"));
    std::fs::remove_file(&model).unwrap();
    std::fs::rename(&kept, &model).unwrap();
    server.hup();
    server.wait_log("SIGHUP: reloaded", 1);
    assert!(server
        .get("/metrics")
        .contains("cardseg_model_reloads_total{result=\"ok\"} 1"));
}

// ------------------------------------------------------------------ small things

#[test]
fn a_dangling_link_as_output_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let (data, a) = data_and_run(dir.path(), "a");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
    for args in [
        vec![
            "run",
            "--input",
            s(&data),
            "--out",
            s(&link),
            "--no-dashboard",
        ],
        vec![
            "predict",
            "--model",
            s(&a.join("model.json")),
            "--input",
            s(&data),
            "--out",
            s(&link),
        ],
    ] {
        let o = cardseg(&args);
        clean_error(&o, "is a dangling symbolic link");
        assert!(std::fs::symlink_metadata(&link).is_ok());
        assert!(!dir.path().join("nowhere").exists());
    }
}

#[test]
fn drift_on_a_handful_of_customers_gives_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let (data, a) = data_and_run(dir.path(), "a");
    let text = std::fs::read_to_string(&data).unwrap();
    let one: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    let small = dir.path().join("one.csv");
    write(&small, &one);
    let out = dir.path().join("drift");
    let o = cardseg(&[
        "drift",
        "--model",
        s(&a.join("model.json")),
        "--input",
        s(&small),
        "--out",
        s(&out),
        "--fail-above",
        "0",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("warning: only 1 customers") && err.contains("at least 100"),
        "{err}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("drift.json")).unwrap()).unwrap();
    assert_eq!(json["verdict"], "too few customers");
    assert!(json["warning"].as_str().is_some(), "{json}");
    assert_eq!(json["failed"], false);
    let md = std::fs::read_to_string(out.join("drift.md")).unwrap();
    assert!(md.starts_with("# Drift check: too few customers"), "{md}");
    assert!(md.contains("**Warning:**"), "{md}");
}

#[test]
fn silhouette_sample_bound_is_the_one_documented() {
    let o = cardseg(&[
        "run",
        "--input",
        "x.csv",
        "--out",
        "x",
        "--silhouette-sample",
        "50",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("from 100 to 1000000"), "{err}");
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(readme.contains("| `run`: silhouette sample | 20,000 (100–1,000,000) |"));
}

// ------------------------------------------------------------------ --write-labels

/// The number of rows of `table` in the SQLite file `db`, None when the file is absent.
fn label_count(db: &Path, table: &str) -> Option<i64> {
    if !db.exists() {
        return None;
    }
    let c = rusqlite::Connection::open(db).unwrap();
    Some(
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap(),
    )
}

#[test]
fn predict_refused_for_its_output_leaves_the_database_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (data, a) = data_and_run(dir.path(), "a");
    let model = a.join("model.json");
    let db = dir.path().join("q.db");
    let url = format!("sqlite://{}", db.display());
    let afile = dir.path().join("afile");
    write(&afile, "x\n");
    let somedir = dir.path().join("somedir");
    std::fs::create_dir(&somedir).unwrap();
    let lab = dir.path().join("lab.csv");
    write(
        &dir.path().join("lab.csv.meta.json"),
        "{\"not\": \"cardseg\"}\n",
    );
    let (in_file, in_proc) = (afile.join("x.csv"), Path::new("/proc/nope/x.csv"));
    let cases: [(&Path, &str); 4] = [
        (&in_file, "is a file, not a directory"),
        (&somedir, "is a directory"),
        (&lab, "is not a cardseg sidecar"),
        (in_proc, "/proc/nope"),
    ];
    let before = snapshot(dir.path());
    for (out, needle) in cases {
        let o = cardseg(&[
            "predict",
            "--model",
            s(&model),
            "--input",
            s(&data),
            "--out",
            s(out),
            "--write-labels",
            &url,
        ]);
        clean_error(&o, needle);
        assert_eq!(label_count(&db, "cardseg_labels"), None, "--out {out:?}");
    }
    // With a table already there: its rows stay as they were.
    ok(&[
        "predict",
        "--model",
        s(&model),
        "--input",
        s(&data),
        "--out",
        s(&dir.path().join("first.csv")),
        "--write-labels",
        &url,
    ]);
    let c = rusqlite::Connection::open(&db).unwrap();
    c.execute("DELETE FROM cardseg_labels WHERE rowid > 10", [])
        .unwrap();
    drop(c);
    let o = cardseg(&[
        "predict",
        "--model",
        s(&model),
        "--input",
        s(&data),
        "--out",
        s(&in_file),
        "--write-labels",
        &url,
    ]);
    clean_error(&o, "is a file, not a directory");
    assert_eq!(label_count(&db, "cardseg_labels"), Some(10));
    for (p, bytes) in before {
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{p:?} changed");
    }
}

#[test]
fn write_labels_refuses_databases_that_keep_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let (data, a) = data_and_run(dir.path(), "a");
    let model = a.join("model.json");
    let uri = format!(
        "sqlite://file:{}?mode=rwc",
        dir.path().join("u.db").display()
    );
    let before = snapshot(dir.path());
    for url in ["sqlite://:memory:", uri.as_str()] {
        let p = dir.path().join("p.csv");
        let o = cardseg(&[
            "predict",
            "--model",
            s(&model),
            "--input",
            s(&data),
            "--out",
            s(&p),
            "--write-labels",
            url,
        ]);
        clean_error(&o, "--write-labels takes a database file, not an");
        let out = dir.path().join("r");
        let o = cardseg(&[
            "run",
            "--input",
            s(&data),
            "--out",
            s(&out),
            "--k",
            "3",
            "--write-labels",
            url,
        ]);
        clean_error(&o, "--write-labels takes a database file, not an");
    }
    assert_eq!(snapshot(dir.path()), before, "nothing was written");
}

#[test]
fn predict_write_labels_refuses_repeated_or_empty_ids_and_warns_without() {
    let dir = tempfile::tempdir().unwrap();
    let (data, a) = data_and_run(dir.path(), "a");
    let model = a.join("model.json");
    let text = std::fs::read_to_string(&data).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // 49 customers: rows 1 to 48 and row 2 again (data rows counted from 1).
    let mut dups = lines[..49].join("\n");
    dups.push('\n');
    dups.push_str(lines[2]);
    dups.push('\n');
    let dup_csv = dir.path().join("dups.csv");
    write(&dup_csv, &dups);
    let id = lines[2].split(',').next().unwrap();
    let db = dir.path().join("q.db");
    let url = format!("sqlite://{}", db.display());
    let p = dir.path().join("p.csv");
    let predict = |input: &Path, out: &Path, db: Option<&str>| {
        let mut args = vec![
            "predict",
            "--model",
            s(&model),
            "--input",
            s(input),
            "--out",
            s(out),
        ];
        if let Some(url) = db {
            args.extend(["--write-labels", url]);
        }
        cardseg(&args)
    };
    let o = predict(&dup_csv, &p, Some(&url));
    let line = clean_error(
        &o,
        &format!("column CUST_ID: customer id \"{id}\" appears in rows 2 and 49"),
    );
    assert!(
        line.contains("dups.csv") && line.contains("leave out --write-labels"),
        "{line}"
    );
    assert!(!db.exists() && !p.exists());
    // `run --write-labels` refuses them too, before any label is written or any output
    // committed.
    let r = dir.path().join("r");
    let o = cardseg(&[
        "run",
        "--input",
        s(&dup_csv),
        "--out",
        s(&r),
        "--k",
        "3",
        "--write-labels",
        &url,
    ]);
    clean_error(
        &o,
        &format!("column CUST_ID: customer id \"{id}\" appears in rows 2 and 49"),
    );
    assert!(!r.exists());
    if db.exists() {
        let c = rusqlite::Connection::open(&db).unwrap();
        let tables: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'cardseg_labels'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        if tables > 0 {
            assert_eq!(label_count(&db, "cardseg_labels"), Some(0));
        }
        drop(c);
        std::fs::remove_file(&db).unwrap();
    }
    // An empty id is refused the same way.
    let mut empty = lines[..10].join("\n");
    empty.push('\n');
    let row4 = lines[4];
    empty.push_str(&row4[row4.find(',').unwrap()..]);
    empty.push('\n');
    let empty_csv = dir.path().join("empty.csv");
    write(&empty_csv, &empty);
    let o = predict(&empty_csv, &p, Some(&url));
    clean_error(
        &o,
        "row 10 (data rows counted from 1): column CUST_ID has no customer id",
    );
    assert!(!db.exists() && !p.exists());
    // Without a database: one warning line (also with --quiet), every row labelled.
    let o = predict(&dup_csv, &p, None);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        err,
        "warning: id column CUST_ID is not unique: 1 rows repeat an earlier id; check the extract\n"
    );
    assert_eq!(common::label_rows(&p), 49);
    // Unique ids: no warning, and the database gets every customer.
    let uniq = dir.path().join("uniq.csv");
    write(&uniq, &(lines[..49].join("\n") + "\n"));
    let o = predict(&uniq, &dir.path().join("u.csv"), Some(&url));
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(label_count(&db, "cardseg_labels"), Some(48));
}

/// A command-line mistake is one line like every other error: clap's problem (with the
/// valid values when it has them) and the --help to read, exit 2; a negative number is a
/// value, so it reaches the flag's own range check.
#[test]
fn usage_errors_are_one_line_and_negative_numbers_are_values() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/model_without_segment_quantiles.json"
    );
    let one_line = |args: &[&str], code: i32, needles: &[&str]| {
        let o = cardseg(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line expected: {err}");
        assert!(err.starts_with("error: "), "{err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: expected {n:?} in: {err}");
        }
        assert!(!out.exists());
    };
    one_line(
        &[
            "drift",
            "--model",
            model,
            "--input",
            "x.csv",
            "--psi-alert",
            "-1",
        ],
        1,
        &["--psi-alert -1"],
    );
    one_line(
        &[
            "run",
            "--input",
            "x.csv",
            "--out",
            s(&out),
            "--outlier-percentile",
            "-5",
        ],
        1,
        &["--outlier-percentile -5", "between 0 and 100"],
    );
    one_line(
        &[
            "export",
            "--model",
            model,
            "--dialect",
            "oracle",
            "--out",
            s(&out),
        ],
        2,
        &["postgres, sqlite", "see cardseg export --help"],
    );
    one_line(
        &["predict", "--model", model],
        2,
        &["--input <INPUT>", "see cardseg predict --help"],
    );
    one_line(
        &[
            "run",
            "--input",
            "x.csv",
            "--out",
            s(&out),
            "--no-id",
            "--id-column",
            "ID",
        ],
        2,
        &["'--no-id' cannot be used with", "see cardseg run --help"],
    );
    one_line(
        &[
            "generate",
            "--rows",
            "18446744073709551616",
            "--out",
            s(&out),
        ],
        2,
        &["--rows", "see cardseg generate --help"],
    );
    one_line(
        &["run", "--inptu", "x.csv"],
        2,
        &["'--inptu'", "a similar argument exists: '--input'"],
    );
    one_line(
        &["completions", "tcsh"],
        2,
        &["[possible values: bash,", "see cardseg completions --help"],
    );
    one_line(&["segment"], 2, &["'segment'", "see cardseg --help"]);
}

/// `generate` writes what its file name says, as every reader reads the name: Parquet for
/// `.PARQUET` too (also as a part of a folder), gzip for `.csv.gz` (the same customers as
/// the plain CSV).
#[test]
fn generate_writes_what_the_name_says_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = d.join("g.csv");
    ok(&["generate", "--rows", "40", "--out", s(&plain)]);
    for name in ["g.PARQUET", "g.Parq"] {
        let p = d.join(name);
        ok(&["generate", "--rows", "40", "--out", s(&p)]);
        let bytes = std::fs::read(&p).unwrap();
        assert!(bytes.starts_with(b"PAR1"), "{name} is not Parquet");
        let o = ok(&["--json", "inspect", "--input", s(&p)]);
        assert!(String::from_utf8_lossy(&o.stdout).contains("\"rows\": 40"));
    }
    let parts = d.join("parts");
    std::fs::create_dir(&parts).unwrap();
    std::fs::copy(d.join("g.PARQUET"), parts.join("part-0.PARQUET")).unwrap();
    let o = ok(&["--json", "inspect", "--input", s(&parts)]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"rows\": 40"));
    for name in ["g.csv.gz", "g.csv.GZ"] {
        let p = d.join(name);
        ok(&["generate", "--rows", "40", "--out", s(&p)]);
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap())
            .read_to_end(&mut text)
            .unwrap_or_else(|e| panic!("{name} is not gzip: {e}"));
        assert_eq!(text, std::fs::read(&plain).unwrap(), "{name}");
    }
}

/// A single-file `--out` written as a directory (`gdir/`, absent or not) is refused with one
/// line saying so, and nothing is created.
#[test]
fn a_file_output_named_like_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (data, a) = data_and_run(d, "a");
    let before = snapshot(d);
    let model = a.join("model.json");
    for out in ["gdir/", "gdir/.", "g.parquet/"] {
        let target = format!("{}/{out}", d.display());
        let gen = vec!["generate", "--rows", "10", "--out", &target];
        if out == "g.parquet/" {
            clean_error(&cardseg(&gen), "must be a file path, not a directory");
            assert_eq!(snapshot(d), before);
            assert!(!d.join("g.parquet").exists());
            continue;
        }
        for args in [
            gen.clone(),
            vec![
                "predict",
                "--model",
                s(&model),
                "--input",
                s(&data),
                "--out",
                &target,
            ],
            vec![
                "export",
                "--model",
                s(&model),
                "--format",
                "pmml",
                "--out",
                &target,
            ],
        ] {
            let o = cardseg(&args);
            clean_error(&o, "must be a file path, not a directory");
            assert_eq!(snapshot(d), before, "{args:?} changed the directory");
            assert!(!d.join("gdir").exists() && !d.join("g.parquet").exists());
        }
    }
}

// ------------------------------------------------------------------ wide tables

/// The dashboard's projection of a wide table costs rows × features per step, not
/// features³: 300 customers × 1,200 features finish well within a minute with the page
/// (a full eigen-decomposition took minutes).
#[test]
fn a_wide_table_writes_its_dashboard_within_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("wide.csv");
    let d = 1200;
    let names: Vec<String> = (0..d).map(|j| format!("f{j}")).collect();
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&data).unwrap());
        writeln!(f, "id,{}", names.join(",")).unwrap();
        let mut state = 7u64;
        for i in 0..300 {
            write!(f, "r{i}").unwrap();
            for _ in 0..d {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                write!(f, ",{}", (state >> 40) % 1000).unwrap();
            }
            writeln!(f).unwrap();
        }
    }
    let out = dir.path().join("out");
    let features = names.join(",");
    let o = cardseg_within(
        &[
            "run",
            "--input",
            s(&data),
            "--out",
            s(&out),
            "--id-column",
            "id",
            "--features",
            &features,
            "--profile-features",
            "",
            "--k",
            "3",
        ],
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = std::fs::read_to_string(out.join("dashboard.html")).unwrap();
    assert!(page.contains("\"pca\":{\"explained\":["), "no projection");
}
