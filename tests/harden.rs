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

/// The files in `dir` a run left behind (hidden temporary siblings included).
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("cardseg-tmp") || n == "out")
        .collect()
}

/// A 100,000-column CSV (issue 16, item 5: `run` past 120 s at 3.5 GB) is refused at its
/// header with one line naming the limit and the flag that raises it; a table within a
/// raised limit is read.
#[test]
fn a_hundred_thousand_columns_are_refused_at_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000;
    let header: Vec<String> = (0..n).map(|j| format!("C{j}")).collect();
    let row = vec!["1"; n].join(",");
    let mut text = header.join(",") + "\n";
    for _ in 0..20 {
        text.push_str(&row);
        text.push('\n');
    }
    fs::write(dir.path().join("wide.csv"), text).unwrap();
    for args in [
        &["inspect", "--input", "wide.csv"][..],
        &[
            "run",
            "--input",
            "wide.csv",
            "--out",
            "out",
            "--features",
            "C1,C2",
        ][..],
    ] {
        let mut r = Run::new(dir.path(), args);
        r.timeout = std::time::Duration::from_secs(20);
        let o = r.go();
        let bad = judge(
            &o,
            1,
            &["wide.csv", "100000 columns", "10000", "--max-columns"],
        );
        assert!(bad.is_empty(), "{args:?}: {bad:?} {}", error_line(&o));
        assert!(o.elapsed.as_secs() < 5, "{args:?} took {:?}", o.elapsed);
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
    }
    // Within a raised limit the same kind of table is read.
    let header: Vec<String> = (0..12_000).map(|j| format!("C{j}")).collect();
    let row = vec!["1"; 12_000].join(",");
    fs::write(
        dir.path().join("w12k.csv"),
        format!("{}\n{row}\n{row}\n", header.join(",")),
    )
    .unwrap();
    let o = cardseg(dir.path(), &["inspect", "--input", "w12k.csv", "--json"]);
    assert!(judge(&o, 1, &["--max-columns"]).is_empty(), "{o:?}");
    let o = cardseg(
        dir.path(),
        &[
            "inspect",
            "--input",
            "w12k.csv",
            "--json",
            "--max-columns",
            "12000",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", error_line(&o));
    assert!(
        o.stdout.contains("\"columns\": 12000"),
        "{}",
        &o.stdout[..200]
    );
}

/// The column limit holds for every source, not only CSV: a Parquet file (and the database
/// and JSON sources, through the same table builder) wider than `--max-columns` is refused
/// with the same one line, and read within the limit.
#[test]
fn the_column_limit_covers_parquet_too() {
    let dir = tempfile::tempdir().unwrap();
    let gen = cardseg(
        dir.path(),
        &["generate", "--rows", "50", "--out", "c.parquet"],
    );
    assert_eq!(gen.code, Some(0), "{}", error_line(&gen));
    let o = cardseg(
        dir.path(),
        &["inspect", "--input", "c.parquet", "--max-columns", "10"],
    );
    assert!(
        judge(&o, 1, &["c.parquet", "18 columns", "10", "--max-columns"]).is_empty(),
        "{o:?}"
    );
    let o = cardseg(dir.path(), &["inspect", "--input", "c.parquet", "--json"]);
    assert_eq!(o.code, Some(0), "{}", error_line(&o));
}

/// A 1 GB single line in a 1 MB `.csv.gz` (issue 16, item 5: aborted with "memory
/// allocation of 2147483648 bytes failed", exit 134, temporary directory left) is one
/// clear error under a 1.5 GiB address-space limit, and nothing is left behind.
#[test]
fn a_gigabyte_line_in_a_small_gzip_is_refused_without_an_abort() {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let file = fs::File::create(dir.path().join("bomb.csv.gz")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    gz.write_all(b"CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT\n")
        .unwrap();
    let block = vec![b'1'; 1 << 24];
    for _ in 0..64 {
        gz.write_all(&block).unwrap();
    }
    gz.write_all(b"\n").unwrap();
    gz.finish().unwrap();
    let r = Run::new(
        dir.path(),
        &[
            "run",
            "--input",
            "bomb.csv.gz",
            "--out",
            "out",
            "--profile-features",
            "",
        ],
    );
    let mut cmd = r.command();
    // SAFETY: setrlimit is async-signal-safe and touches only the child.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 3 << 29,
                rlim_max: 3 << 29,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let start = std::time::Instant::now();
    let out = cmd.output().unwrap();
    let o = Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        timed_out: false,
        elapsed: start.elapsed(),
    };
    let bad = judge(
        &o,
        1,
        &["bomb.csv.gz:2", "longer than 16 MiB", "--max-record-mb"],
    );
    assert!(bad.is_empty(), "{bad:?} {o:?}");
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

/// A file of plain rows around a quoted field of 2.7 MB over 110,000 lines that look like
/// rows of the file (issue 16, item 7: refused with "a quote opens in this field and is
/// not closed"; pandas and the `csv` crate read it): every row is read, wherever the
/// block boundaries of the reader fall, at the real 16 MiB blocks and at tiny ones.
#[test]
fn a_quoted_field_of_csv_looking_lines_across_block_boundaries_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let make = |plain_bytes: usize| {
        let mut text = String::from("CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT,NOTE\n");
        let mut i = 0;
        while text.len() < plain_bytes {
            text.push_str(&format!(
                "C{i},{}.5,{}.25,{},ok\n",
                i % 997,
                i % 31,
                1000 + i % 5000
            ));
            i += 1;
        }
        let mut note = String::from("\"");
        for j in 0..110_000 {
            note.push_str(&format!("C{j},{j}.5,1.25,1000,n\n"));
        }
        note.push_str("end\"");
        assert!(note.len() > 2_700_000);
        text.push_str(&format!("CX,1,2,3,{note}\n"));
        for k in 0..2000 {
            text.push_str(&format!("D{k},{}.5,1,2000,ok\n", k % 7));
        }
        text
    };
    for (name, plain, block) in [
        ("small.csv", 3000, Some("4096")),
        ("tiny.csv", 300, Some("64")),
        ("real.csv", 15_500_000, None),
    ] {
        let text = make(plain);
        fs::write(dir.path().join(name), &text).unwrap();
        let want = csv::ReaderBuilder::new()
            .from_reader(text.as_bytes())
            .byte_records()
            .count();
        let mut r = Run::new(dir.path(), &["inspect", "--input", name, "--json"]);
        if let Some(b) = block {
            r.env.push(("CARDSEG_CSV_BLOCK_BYTES", b.to_string()));
        }
        let o = r.go();
        assert_eq!(o.code, Some(0), "{name}: {}", error_line(&o));
        assert!(
            o.stdout.contains(&format!("\"rows\": {want},")),
            "{name}: want {want} rows: {}",
            &o.stdout[..200]
        );
        assert!(o.elapsed.as_secs() < 10, "{name} took {:?}", o.elapsed);
    }
    // A quote that really is not closed still stops the read, at its line.
    fs::write(
        dir.path().join("open.csv"),
        "CUST_ID,BALANCE,NOTE\nx,1,ok\ny,2,\"open\nz,3,ok\nw,4,ok\n",
    )
    .unwrap();
    let mut r = Run::new(dir.path(), &["inspect", "--input", "open.csv"]);
    r.env.push(("CARDSEG_CSV_BLOCK_BYTES", "16".into()));
    let o = r.go();
    let bad = judge(&o, 1, &["open.csv:3", "column NOTE", "a quote opens"]);
    assert!(bad.is_empty(), "{bad:?}");
}
