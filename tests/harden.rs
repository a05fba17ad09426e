//! Hardening (issue 16): each reproduction of the attack report, run through the real
//! binary. Outputs never replace what the command did not check, a command never writes
//! over its own inputs, incomplete scoring requests are marked, CSV cells are never
//! formulas, and hostile sizes get clear errors.

mod common;

use std::fs;
use std::path::Path;

use common::*;

fn write_input(dir: &Path, name: &str, rows: u64) {
    fs::write(dir.join(name), synthetic_csv(rows, 3)).unwrap();
}

/// Two `run`s into the same new --out at once: exactly one wins, the other fails with one
/// clear line, and the result is one run's complete output (never a mix, never replaced).
#[test]
fn concurrent_runs_into_one_new_out_never_replace_each_other() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), "in.csv", 4000);
    let args = [
        "run",
        "--input",
        "in.csv",
        "--out",
        "out",
        "--no-dashboard",
        "--n-init",
        "1",
        "--k",
        "3",
    ];
    let a = Run::new(dir.path(), &args);
    let b = Run::new(dir.path(), &args);
    let (oa, ob) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.go());
        let hb = s.spawn(|| b.go());
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let codes = [oa.code, ob.code];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(1)),
        "one run must win and one fail: {oa:?} {ob:?}"
    );
    let loser = if oa.code == Some(1) { &oa } else { &ob };
    let bad = judge(loser, 1, &["out", "changed"]);
    assert!(bad.is_empty(), "{bad:?}");
    assert!(dir.path().join("out/model.json").is_file());
    assert_eq!(label_rows(&dir.path().join("out/labels.csv")), 4000);
    // No temporary sibling left behind.
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.contains("cardseg-tmp")),
        "{names:?}"
    );
}

/// A file written into an (empty) --out while the run works is kept, and the run fails.
#[test]
fn a_file_written_into_out_during_a_run_survives() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), "in.csv", 30000);
    fs::create_dir(dir.path().join("out")).unwrap();
    let r = Run::new(
        dir.path(),
        &[
            "run",
            "--input",
            "in.csv",
            "--out",
            "out",
            "--no-dashboard",
            "--n-init",
            "2",
        ],
    );
    let child = r
        .command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run has checked --out (its temporary sibling exists), then write.
    let t = std::time::Instant::now();
    loop {
        let started = fs::read_dir(dir.path()).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .contains("cardseg-tmp")
        });
        if started || t.elapsed().as_secs() > 30 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    fs::write(dir.path().join("out/notes.txt"), "mine").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error:") && err.contains("changed"),
        "{err}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("out/notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(fs::read_dir(dir.path().join("out")).unwrap().count(), 1);
}

/// `predict --out` naming its own --input or --model, and `dashboard --out model.json`,
/// are refused even with --force; the inputs are untouched.
#[test]
fn a_command_never_overwrites_its_own_inputs() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), "in.csv", 600);
    let o = cardseg(
        dir.path(),
        &[
            "run", "--input", "in.csv", "--out", "res", "--n-init", "1", "--k", "3",
        ],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let before = snapshot(dir.path());
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "predict",
            "--model",
            "res/model.json",
            "--input",
            "in.csv",
            "--out",
            "in.csv",
            "--force",
        ],
        vec![
            "predict",
            "--model",
            "res/model.json",
            "--input",
            "in.csv",
            "--out",
            "./res/../in.csv",
            "--force",
        ],
        vec![
            "predict",
            "--model",
            "res/model.json",
            "--input",
            "in.csv",
            "--out",
            "res/model.json",
            "--force",
        ],
        vec![
            "dashboard",
            "--model",
            "res/model.json",
            "--labels",
            "res/labels.csv",
            "--input",
            "in.csv",
            "--out",
            "res/model.json",
            "--force",
        ],
        vec![
            "dashboard",
            "--model",
            "res/model.json",
            "--labels",
            "res/labels.csv",
            "--input",
            "in.csv",
            "--out",
            "res/labels.csv",
            "--force",
        ],
        vec![
            "run",
            "--input",
            "res/labels.csv",
            "--out",
            "res",
            "--force",
        ],
    ];
    for args in cases {
        let o = cardseg(dir.path(), &args);
        let bad = judge(&o, 1, &["input", "choose another output"]);
        assert!(bad.is_empty(), "{args:?}: {bad:?}");
        assert!(
            diff(&before, &snapshot(dir.path())).is_empty(),
            "{args:?} changed files"
        );
    }
}

/// Ids and segment names that begin with a formula character are written with a leading
/// quote in labels.csv, segments.csv and predict's output (numbers untouched); the
/// dashboard rebuild reads the ids back exactly; --raw-csv writes them as they are.
#[test]
fn csv_cells_are_never_formulas_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let text = String::from_utf8(synthetic_csv(300, 5)).unwrap();
    let mut lines = text.lines();
    let mut csv = lines.next().unwrap().to_string() + "\n";
    let evil = [
        "=HYPERLINK(\"http://x\")",
        "+1+2",
        "-cmd|' /C calc'!A0",
        "@SUM(A1)",
        "'=quoted",
    ];
    for (i, l) in lines.enumerate() {
        let (_, rest) = l.split_once(',').unwrap();
        let id = if i < evil.len() {
            evil[i].to_string()
        } else {
            format!("C{i}")
        };
        let quoted = format!("\"{}\"", id.replace('"', "\"\""));
        csv.push_str(&format!("{quoted},{rest}\n"));
    }
    fs::write(dir.path().join("in.csv"), csv).unwrap();
    fs::write(
        dir.path().join("rules.toml"),
        "[[rule]]\nname = \"=cmd()\"\nwhen = []\naction = \"@act\"\n",
    )
    .unwrap();
    let o = cardseg(
        dir.path(),
        &[
            "run",
            "--input",
            "in.csv",
            "--out",
            "res",
            "--n-init",
            "1",
            "--k",
            "3",
            "--naming-rules",
            "rules.toml",
        ],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let o = cardseg(
        dir.path(),
        &[
            "predict",
            "--model",
            "res/model.json",
            "--input",
            "in.csv",
            "--out",
            "p.csv",
        ],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let o = cardseg(
        dir.path(),
        &[
            "predict",
            "--model",
            "res/model.json",
            "--input",
            "in.csv",
            "--out",
            "raw.csv",
            "--raw-csv",
        ],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let cells = |path: &str| -> Vec<Vec<String>> {
        let mut r = csv::ReaderBuilder::new()
            .from_path(dir.path().join(path))
            .unwrap();
        r.records()
            .map(|x| x.unwrap().iter().map(String::from).collect())
            .collect()
    };
    let formula =
        |c: &str| c.starts_with(['=', '+', '-', '@', '\t', '\r']) && c.parse::<f64>().is_err();
    for f in ["res/labels.csv", "res/segments.csv", "p.csv"] {
        for row in cells(f) {
            for c in &row {
                assert!(!formula(c), "{f}: formula cell {c:?}");
            }
        }
    }
    let labels = cells("res/labels.csv");
    for (i, e) in evil.iter().enumerate() {
        assert_eq!(labels[i][0], format!("'{e}"), "row {i}");
        assert_eq!(cardseg::csvcell::restore(&labels[i][0]), *e);
    }
    assert_eq!(cells("p.csv"), labels);
    let raw = cells("raw.csv");
    for (i, e) in evil.iter().enumerate() {
        assert_eq!(raw[i][0], *e);
    }
    // The dashboard rebuild reads the neutralised ids back (and the raw ones).
    for l in ["res/labels.csv", "raw.csv"] {
        let o = cardseg(
            dir.path(),
            &[
                "dashboard",
                "--model",
                "res/model.json",
                "--labels",
                l,
                "--input",
                "in.csv",
                "--out",
                &format!("{l}.html"),
            ],
        );
        assert_eq!(o.code, Some(0), "{l}: {o:?}");
    }
}

/// Sample sizes and restarts far out of range are usage errors (exit 2), never an
/// allocation failure or a capacity-overflow panic.
#[test]
fn huge_sample_sizes_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), "in.csv", 100);
    for (flag, v) in [
        ("--silhouette-sample", "10000000000"),
        ("--silhouette-sample", "18446744073709551615"),
        ("--silhouette-sample", "99999999999999999999999999"),
        ("--silhouette-exact-max", "18446744073709551615"),
        ("--n-init", "10000000000"),
    ] {
        let o = cardseg(
            dir.path(),
            &["run", "--input", "in.csv", "--out", "o", flag, v],
        );
        let bad = judge(&o, 2, &[flag]);
        assert!(bad.is_empty(), "{flag} {v}: {bad:?}");
        assert!(!dir.path().join("o").exists());
    }
}

/// A warehouse extract whose id column is `customer_id` (or that has none) is scored with
/// --id-column / --no-id; `--out x.parquet` is refused rather than filled with CSV.
#[test]
fn predict_takes_another_id_column_and_refuses_non_csv_outputs() {
    let dir = tempfile::tempdir().unwrap();
    write_input(dir.path(), "in.csv", 400);
    let o = cardseg(
        dir.path(),
        &[
            "run",
            "--input",
            "in.csv",
            "--out",
            "res",
            "--n-init",
            "1",
            "--k",
            "3",
            "--no-dashboard",
        ],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let text = fs::read_to_string(dir.path().join("in.csv")).unwrap();
    let (head, rest) = text.split_once('\n').unwrap();
    let (first, tail) = head.split_once(',').unwrap();
    assert_eq!(first, "CUST_ID");
    fs::write(
        dir.path().join("wh.csv"),
        format!("customer_id,{tail}\n{rest}"),
    )
    .unwrap();
    let no_id: String = text
        .lines()
        .map(|l| l.split_once(',').unwrap().1.to_string() + "\n")
        .collect();
    fs::write(dir.path().join("noid.csv"), no_id).unwrap();
    let o = cardseg(
        dir.path(),
        &[
            "predict",
            "--model",
            "res/model.json",
            "--input",
            "wh.csv",
            "--out",
            "wh_labels.csv",
            "--id-column",
            "customer_id",
        ],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let ours = fs::read_to_string(dir.path().join("wh_labels.csv")).unwrap();
    let theirs = fs::read_to_string(dir.path().join("res/labels.csv")).unwrap();
    assert_eq!(ours.replacen("customer_id,", "CUST_ID,", 1), theirs);
    let o = cardseg(
        dir.path(),
        &[
            "predict",
            "--model",
            "res/model.json",
            "--input",
            "noid.csv",
            "--out",
            "n.csv",
            "--no-id",
        ],
    );
    assert_eq!(o.code, Some(0), "{o:?}");
    let n = fs::read_to_string(dir.path().join("n.csv")).unwrap();
    let segs = |t: &str| -> Vec<String> {
        t.lines()
            .skip(1)
            .map(|l| l.split_once(',').unwrap().1.to_string())
            .collect()
    };
    assert!(
        n.starts_with("row,segment,segment_name,distance,distance_percentile,outlier\n1,"),
        "{}",
        &n[..80]
    );
    assert_eq!(segs(&n), segs(&theirs));
    let before = snapshot(dir.path());
    for out in ["x.parquet", "x.json", "x.csv.gz"] {
        let o = cardseg(
            dir.path(),
            &[
                "predict",
                "--model",
                "res/model.json",
                "--input",
                "in.csv",
                "--out",
                out,
            ],
        );
        let bad = judge(&o, 1, &["writes CSV", ".csv"]);
        assert!(bad.is_empty(), "{out}: {bad:?}");
    }
    assert!(diff(&before, &snapshot(dir.path())).is_empty());
}
