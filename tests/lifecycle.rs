//! Segment lifecycle: continuity across retrains (`run --previous`), bad `--previous`
//! and `compare` inputs, drift exit status. The cross-checks against pandas (migration
//! table, PSI) and the run/predict/serve outlier agreement are in
//! tests/python/test_lifecycle.py.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::*;

/// id -> (segment, name, the rest of the row) of a labels file.
fn labels(path: &Path) -> HashMap<String, (String, String, Vec<String>)> {
    let mut r = csv::Reader::from_path(path).unwrap();
    assert_eq!(
        r.headers().unwrap().iter().skip(1).collect::<Vec<_>>(),
        [
            "segment",
            "segment_name",
            "distance",
            "distance_percentile",
            "outlier"
        ]
    );
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (
                rec[0].to_string(),
                (
                    rec[1].to_string(),
                    rec[2].to_string(),
                    rec.iter().skip(3).map(str::to_string).collect(),
                ),
            )
        })
        .collect()
}

/// The real file with its data rows in another order (a seeded Fisher-Yates shuffle).
fn shuffled(real: &Path, to: &Path) {
    let text = std::fs::read_to_string(real).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for i in (1..lines.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        lines.swap(i, (state % (i as u64 + 1)) as usize);
    }
    std::fs::write(to, format!("{header}\n{}\n", lines.join("\n"))).unwrap();
}

fn model_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap()
}

#[test]
fn retraining_in_another_order_with_another_seed_keeps_every_id_and_name() {
    let Some(real) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b, shuf) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("s.csv"),
    );
    run_ok(&[
        "run",
        "--quiet",
        "--input",
        real.to_str().unwrap(),
        "--out",
        a.to_str().unwrap(),
        "--no-dashboard",
    ]);
    shuffled(&real, &shuf);
    run_ok(&[
        "run",
        "--quiet",
        "--input",
        shuf.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
        "--seed",
        "1234",
        "--no-dashboard",
        "--previous",
        a.join("model.json").to_str().unwrap(),
    ]);
    let (la, lb) = (labels(&a.join("labels.csv")), labels(&b.join("labels.csv")));
    assert_eq!(la.len(), 8950);
    assert_eq!(lb.len(), 8950);
    for (id, (seg, name, _)) in &la {
        let (s2, n2, _) = &lb[id];
        assert_eq!((seg, name), (s2, n2), "customer {id}");
    }
    let (ma, mb) = (model_json(&a), model_json(&b));
    assert_eq!(mb["model"]["lineage"]["generation"], 2);
    assert_eq!(mb["model"]["lineage"]["previous_checksum"], ma["checksum"]);
    assert_eq!(ma["model"]["lineage"]["generation"], 1);
    // Every customer stayed: the migration table is the diagonal.
    let mig: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("migration.json")).unwrap()).unwrap();
    assert_eq!(mig["moved"], 0);
    assert_eq!(mig["stayed"], 8950);
    let summary = std::fs::read_to_string(b.join("summary.md")).unwrap();
    assert!(
        summary.contains("## What changed since the previous run"),
        "{summary}"
    );
}

#[test]
fn another_k_keeps_matched_ids_and_scores_with_non_contiguous_ids() {
    let Some(real) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let r = real.to_str().unwrap();
    run_ok(&[
        "run",
        "--quiet",
        "--input",
        r,
        "--out",
        a.to_str().unwrap(),
        "--no-dashboard",
        "--k",
        "5",
    ]);
    run_ok(&[
        "run",
        "--quiet",
        "--input",
        r,
        "--out",
        b.to_str().unwrap(),
        "--k",
        "4",
        "--previous",
        a.join("model.json").to_str().unwrap(),
    ]);
    let (ma, mb) = (model_json(&a), model_json(&b));
    let ids_a: Vec<u64> = ma["model"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    let ids_b: Vec<u64> = mb["model"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids_b.len(), 4);
    let retired: Vec<u64> = ids_a
        .iter()
        .copied()
        .filter(|i| !ids_b.contains(i))
        .collect();
    let fresh: Vec<u64> = ids_b
        .iter()
        .copied()
        .filter(|i| !ids_a.contains(i))
        .collect();
    // Four segments from five: at least one previous segment retired, and a fresh id is
    // above every previous one.
    assert!(!retired.is_empty(), "{ids_a:?} {ids_b:?}");
    assert!(fresh.iter().all(|f| *f > 5), "{fresh:?}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("summary.json")).unwrap()).unwrap();
    let reported: Vec<u64> = summary["changes"]["retired"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_u64().unwrap())
        .collect();
    assert_eq!(reported, retired);
    // predict, on the training file, gives back the run's labels with these ids, byte for byte.
    let p = dir.path().join("p.csv");
    run_ok(&[
        "predict",
        "--quiet",
        "--model",
        b.join("model.json").to_str().unwrap(),
        "--input",
        r,
        "--out",
        p.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(&p).unwrap(),
        std::fs::read(b.join("labels.csv")).unwrap()
    );
    // The run's page carries the customer flows for the Sankey diagram.
    let run_page = std::fs::read_to_string(b.join("dashboard.html")).unwrap();
    assert!(run_page.contains("\"flows\":{\"before\":"));
    // The dashboard is rebuilt from these labels (non-contiguous ids); a rebuilt page
    // has no previous run, so no flows, and otherwise equals the run's page.
    let page = dir.path().join("d.html");
    run_ok(&[
        "dashboard",
        "--quiet",
        "--model",
        b.join("model.json").to_str().unwrap(),
        "--labels",
        b.join("labels.csv").to_str().unwrap(),
        "--input",
        r,
        "--out",
        page.to_str().unwrap(),
    ]);
    let rebuilt = std::fs::read_to_string(&page).unwrap();
    let at = run_page.find(",\"flows\":{").unwrap();
    let end = at + run_page[at..].find("}}").unwrap() + 1;
    let without = format!("{}{}", &run_page[..at], &run_page[end..]);
    assert_eq!(rebuilt, without);
}

#[test]
fn bad_previous_and_compare_inputs_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("g.csv");
    run_ok(&[
        "generate",
        "--rows",
        "1500",
        "--seed",
        "3",
        "--out",
        data.to_str().unwrap(),
    ]);
    let d = data.to_str().unwrap();
    let a = dir.path().join("a");
    run_ok(&[
        "run",
        "--quiet",
        "--input",
        d,
        "--out",
        a.to_str().unwrap(),
        "--no-dashboard",
        "--n-init",
        "2",
    ]);
    let prev = a.join("model.json");
    let out = dir.path().join("never");
    let o = out.to_str().unwrap();
    let p = prev.to_str().unwrap();
    let e = run(&[
        "run",
        "--input",
        d,
        "--out",
        o,
        "--previous",
        p,
        "--features",
        "BALANCE,PURCHASES",
    ]);
    assert_clean_error(&e, "--previous needs the same --features");
    assert!(!out.exists());
    let e = run(&[
        "run",
        "--input",
        d,
        "--out",
        o,
        "--previous",
        p,
        "--k-max",
        "8",
    ]);
    assert_clean_error(&e, "pass --k-min 2 --k-max 10");
    assert!(!out.exists());
    let damaged = dir.path().join("damaged.json");
    let text = std::fs::read_to_string(&prev).unwrap();
    std::fs::write(&damaged, text.replacen("\"seed\": 42", "\"seed\": 43", 1)).unwrap();
    let e = run(&[
        "run",
        "--input",
        d,
        "--out",
        o,
        "--previous",
        damaged.to_str().unwrap(),
    ]);
    assert_clean_error(&e, "checksum mismatch");
    assert!(!out.exists());

    // Two runs sharing no customer id.
    let other = dir.path().join("o.csv");
    let body = std::fs::read_to_string(&data)
        .unwrap()
        .replace("\nC", "\nX");
    std::fs::write(&other, body).unwrap();
    let b = dir.path().join("b");
    run_ok(&[
        "run",
        "--quiet",
        "--input",
        other.to_str().unwrap(),
        "--out",
        b.to_str().unwrap(),
        "--no-dashboard",
        "--n-init",
        "2",
    ]);
    let e = run(&[
        "compare",
        "--before",
        a.to_str().unwrap(),
        "--after",
        b.to_str().unwrap(),
        "--out",
        o,
    ]);
    assert_clean_error(&e, "shares no customer id");
    assert!(!out.exists());
    // The same runs with customers in common compare fine.
    run_ok(&[
        "compare",
        "--quiet",
        "--before",
        a.to_str().unwrap(),
        "--after",
        a.to_str().unwrap(),
        "--out",
        o,
    ]);
    assert!(out.join("migration.csv").is_file() && out.join("migration.json").is_file());
}

#[test]
fn drift_is_zero_on_the_training_data_and_fail_above_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("g.csv");
    run_ok(&[
        "generate",
        "--rows",
        "2000",
        "--seed",
        "5",
        "--out",
        data.to_str().unwrap(),
    ]);
    let a = dir.path().join("a");
    run_ok(&[
        "run",
        "--quiet",
        "--input",
        data.to_str().unwrap(),
        "--out",
        a.to_str().unwrap(),
        "--no-dashboard",
        "--n-init",
        "2",
    ]);
    let m = a.join("model.json");
    let out = dir.path().join("drift");
    let o = run(&[
        "drift",
        "--json",
        "--model",
        m.to_str().unwrap(),
        "--input",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--fail-above",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for f in report["features"].as_array().unwrap() {
        assert_eq!(f["psi"], 0.0, "{f}");
        assert_eq!(f["outside_range_share"], 0.0);
    }
    assert_eq!(report["segment_psi"], 0.0);
    assert_eq!(report["verdict"], "stable");
    assert!(out.join("drift.md").is_file() && out.join("drift.json").is_file());
    // Other customers (another seed) drift a little: above a threshold of 0 → status 3.
    let other = dir.path().join("h.csv");
    run_ok(&[
        "generate",
        "--rows",
        "2000",
        "--seed",
        "6",
        "--out",
        other.to_str().unwrap(),
    ]);
    let o = run(&[
        "drift",
        "--quiet",
        "--model",
        m.to_str().unwrap(),
        "--input",
        other.to_str().unwrap(),
        "--fail-above",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let o = run(&[
        "drift",
        "--quiet",
        "--model",
        m.to_str().unwrap(),
        "--input",
        other.to_str().unwrap(),
        "--fail-above",
        "5",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}
