//! Outcomes before vs after: `run --previous` and `compare` set each segment's outcome
//! against the earlier run's, with figures equal to a count made here from the inputs and
//! the labels files.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Generated customers with a 0/1 `default` column: customers with a cash advance above
/// 1,000 (the planted group) default at `group_tenths` in ten, the others at one in twenty.
/// Returns the file and the default per customer id.
fn with_defaults(
    generated: &Path,
    dir: &Path,
    name: &str,
    group_tenths: usize,
) -> (PathBuf, HashMap<String, u8>) {
    let mut r = csv::Reader::from_path(generated).unwrap();
    let header = r.headers().unwrap().clone();
    let cash = header.iter().position(|h| h == "CASH_ADVANCE").unwrap();
    let out = dir.join(name);
    let mut w = csv::Writer::from_path(&out).unwrap();
    let mut head: Vec<&str> = header.iter().collect();
    head.push("default");
    w.write_record(&head).unwrap();
    let mut defaults = HashMap::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.unwrap();
        let in_group = rec[cash].parse::<f64>().is_ok_and(|v| v > 1000.0);
        let d = if in_group {
            i % 10 < group_tenths
        } else {
            i % 20 == 0
        };
        let d = u8::from(d);
        defaults.insert(rec[0].to_string(), d);
        let mut row: Vec<String> = rec.iter().map(str::to_string).collect();
        row.push(d.to_string());
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    (out, defaults)
}

/// Per segment id (0 for the portfolio): customers and defaults, counted from labels.csv.
fn count(run: &Path, defaults: &HashMap<String, u8>) -> HashMap<u64, (u64, u64)> {
    let mut r = csv::Reader::from_path(run.join("labels.csv")).unwrap();
    let mut c: HashMap<u64, (u64, u64)> = HashMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        let Ok(seg) = rec[1].parse::<u64>() else {
            continue;
        };
        let d = u64::from(defaults[&rec[0]]);
        for g in [seg, 0] {
            let e = c.entry(g).or_default();
            e.0 += 1;
            e.1 += d;
        }
    }
    c
}

fn check_side(side: &Value, counted: (u64, u64)) {
    assert_eq!(side["customers"].as_u64().unwrap(), counted.0, "{side}");
    assert_eq!(
        side["value"].as_f64().unwrap(),
        counted.1 as f64 / counted.0 as f64,
        "{side}"
    );
}

fn run(input: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "run",
        "--input",
        common::s(input),
        "--out",
        common::s(out),
        "--k",
        "4",
    ];
    args.extend_from_slice(extra);
    common::run_ok(&args);
}

#[test]
fn outcomes_before_and_after_match_an_independent_count() {
    let d = tempfile::tempdir().unwrap();
    let gen = d.path().join("gen.csv");
    common::run_ok(&["generate", "--rows", "2000", "--out", common::s(&gen)]);
    let (m1, d1) = with_defaults(&gen, d.path(), "month1.csv", 1);
    let (m2, d2) = with_defaults(&gen, d.path(), "month2.csv", 2);
    let (a, b, cmp) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
    run(&m1, &a, &["--outcome", "default"]);
    let prev = a.join("model.json");
    run(
        &m2,
        &b,
        &["--outcome", "default", "--previous", common::s(&prev)],
    );
    common::run_ok(&[
        "compare",
        "--before",
        common::s(&a),
        "--after",
        common::s(&b),
        "--out",
        common::s(&cmp),
    ]);
    let (ca, cb) = (count(&a, &d1), count(&b, &d2));
    let mig = json(&cmp.join("migration.json"));
    let oc = &mig["outcomes"][0];
    assert_eq!(oc["column"], "default");
    assert_eq!(oc["kind"], "rate");
    check_side(&oc["portfolio"]["before"], ca[&0]);
    check_side(&oc["portfolio"]["after"], cb[&0]);
    let segs = oc["segments"].as_array().unwrap();
    assert_eq!(segs.len(), ca.len() - 1);
    let mut higher = 0;
    for s in segs {
        let id = s["id"].as_u64().unwrap();
        check_side(&s["before"], ca[&id]);
        check_side(&s["after"], cb[&id]);
        let (before, after) = (
            s["before"]["value"].as_f64().unwrap(),
            s["after"]["value"].as_f64().unwrap(),
        );
        assert_eq!(s["change"].as_f64().unwrap(), after - before);
        assert!(after >= before, "{s}");
        // A segment that gained defaults has a higher rate.
        if cb[&id].1 > ca[&id].1 {
            higher += 1;
            assert!(after > before, "{s}");
        }
    }
    assert!(higher > 0, "{oc}");
    let md = std::fs::read_to_string(cmp.join("migration.md")).unwrap();
    assert!(
        md.contains("## Outcomes by segment, before vs after"),
        "{md}"
    );
    assert!(md.contains("| Segment | Before | After | Change |"), "{md}");

    // run --previous carries the same figures in its summary.
    let sum = json(&b.join("summary.json"));
    assert_eq!(sum["changes"]["outcomes"], mig["outcomes"]);
    assert!(sum["changes"].get("outcomes_note").is_none());
    let md = std::fs::read_to_string(b.join("summary.md")).unwrap();
    assert!(
        md.contains("| Segment | Previous run | Now | Change |"),
        "{md}"
    );
}

#[test]
fn a_previous_run_without_outcomes_says_so_and_runs_without_outcomes_are_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let gen = d.path().join("gen.csv");
    common::run_ok(&["generate", "--rows", "600", "--out", common::s(&gen)]);
    let (m1, _) = with_defaults(&gen, d.path(), "month1.csv", 1);
    let (a, b, c) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
    run(&m1, &a, &[]);
    let prev = a.join("model.json");
    run(
        &m1,
        &b,
        &["--outcome", "default", "--previous", common::s(&prev)],
    );
    let sum = json(&b.join("summary.json"));
    let note = sum["changes"]["outcomes_note"].as_str().unwrap();
    assert!(
        note.contains("no outcome figures in the previous run"),
        "{note}"
    );
    assert!(sum["changes"].get("outcomes").is_none());
    let md = std::fs::read_to_string(b.join("summary.md")).unwrap();
    assert!(
        md.contains("no outcome figures in the previous run"),
        "{md}"
    );
    // One side without outcomes: compare writes what it always wrote.
    common::run_ok(&[
        "compare",
        "--before",
        common::s(&a),
        "--after",
        common::s(&b),
        "--out",
        common::s(&c),
    ]);
    assert!(json(&c.join("migration.json")).get("outcomes").is_none());
    assert!(!c.join("migration.md").exists());
}

#[test]
fn a_segments_json_that_is_not_one_is_refused_by_name() {
    let d = tempfile::tempdir().unwrap();
    let gen = d.path().join("gen.csv");
    common::run_ok(&["generate", "--rows", "600", "--out", common::s(&gen)]);
    let (m1, _) = with_defaults(&gen, d.path(), "month1.csv", 1);
    let (a, b, c) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
    run(&m1, &a, &["--outcome", "default"]);
    run(&m1, &b, &["--outcome", "default"]);
    std::fs::write(a.join("segments.json"), "not json").unwrap();
    let e = common::fail(
        &[
            "compare",
            "--before",
            common::s(&a),
            "--after",
            common::s(&b),
            "--out",
            common::s(&c),
        ],
        &c,
    );
    assert!(
        e.contains("segments.json") && e.contains("is not a cardseg segments.json"),
        "{e}"
    );
}
