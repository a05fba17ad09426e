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

/// The real file rewritten row by row: `edit(header, row)` changes a row in place, or
/// returns false to leave it out; `extra` rows are appended.
fn derive(
    real: &Path,
    to: &Path,
    mut edit: impl FnMut(&csv::StringRecord, &mut Vec<String>) -> bool,
    extra: &[Vec<String>],
) {
    let mut r = csv::Reader::from_path(real).unwrap();
    let header = r.headers().unwrap().clone();
    let mut w = csv::Writer::from_path(to).unwrap();
    w.write_record(&header).unwrap();
    for rec in r.records() {
        let mut row: Vec<String> = rec.unwrap().iter().map(str::to_string).collect();
        if edit(&header, &mut row) {
            w.write_record(&row).unwrap();
        }
    }
    for row in extra {
        w.write_record(row).unwrap();
    }
    w.flush().unwrap();
}

fn col(header: &csv::StringRecord, name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

/// Trains month one on the real file (no stability resamples, no dashboard: fast).
fn month_one(real: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "run",
        "--quiet",
        "--input",
        real.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-dashboard",
        "--stability-resamples",
        "0",
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
}

/// Month two with `--previous` month one.
fn month_two(input: &Path, out: &Path, previous: &Path, extra: &[&str]) {
    let prev = previous.join("model.json");
    let mut args = vec![
        "run",
        "--quiet",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-dashboard",
        "--stability-resamples",
        "0",
        "--previous",
        prev.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run_ok(&args);
}

/// id -> name of every segment of a model.
fn segment_names(dir: &Path) -> HashMap<u64, String> {
    model_json(dir)["model"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_u64().unwrap(),
                s["name"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Moved (id changed) and renamed (name changed) customers, counted from the two labels files.
fn moved_and_renamed(a: &Path, b: &Path) -> (u64, u64, u64) {
    let (la, lb) = (labels(&a.join("labels.csv")), labels(&b.join("labels.csv")));
    let (mut both, mut moved, mut renamed) = (0, 0, 0);
    for (id, (s, n, _)) in &la {
        if let Some((s2, n2, _)) = lb.get(id) {
            both += 1;
            moved += u64::from(s != s2);
            renamed += u64::from(n != n2);
        }
    }
    (both, moved, renamed)
}

fn drift_json(model_dir: &Path, input: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let m = model_dir.join("model.json");
    let mut args = vec![
        "drift",
        "--json",
        "--model",
        m.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", stderr(&o)));
    (o.status.code(), v)
}

fn alerts_of<'a>(r: &'a serde_json::Value, kind: &str) -> Vec<&'a serde_json::Value> {
    r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == kind)
        .collect()
}

/// Done when (a): +10% BALANCE for one segment's customers keeps every name on its id,
/// the counts agree with the labels files, and drift sees BALANCE move in that segment
/// only. Then (d): the training file itself raises nothing.
#[test]
fn month_two_with_one_segment_richer_keeps_names_and_drift_points_at_it() {
    let Some(real) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b, m2) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("m2.csv"),
    );
    month_one(&real, &a, &[]);
    let la = labels(&a.join("labels.csv"));
    let touched = "3";
    derive(
        &real,
        &m2,
        |h, row| {
            if la[&row[0]].0 == touched {
                let j = col(h, "BALANCE");
                if let Ok(v) = row[j].parse::<f64>() {
                    row[j] = format!("{}", v * 1.1);
                }
            }
            true
        },
        &[],
    );
    month_two(&m2, &b, &a, &[]);
    assert_eq!(segment_names(&a), segment_names(&b));
    let (both, moved, renamed) = moved_and_renamed(&a, &b);
    let mig: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("migration.json")).unwrap()).unwrap();
    assert_eq!(mig["customers_compared"], both);
    assert_eq!(mig["moved"], moved);
    assert_eq!(mig["name_changed"], renamed);
    let summary = std::fs::read_to_string(b.join("summary.md")).unwrap();
    assert!(
        summary.contains(&format!(
            "moved (segment id changed), {renamed} changed segment name"
        )),
        "{summary}"
    );
    assert!(!summary.contains("renamed from"), "{summary}");
    // Drift of month two against month one's model.
    let (code, r) = drift_json(&a, &m2, &["--fail-above", "0.1"]);
    let shifts = alerts_of(&r, "segment_shift");
    assert!(
        shifts
            .iter()
            .any(|x| x["segment"] == 3 && x["feature"] == "BALANCE"),
        "{:#}",
        r["alerts"]
    );
    assert_eq!(shifts.len(), 1, "{:#}", r["alerts"]);
    assert_eq!(code, Some(3));
    // (d) The training file: no alert, exit 0.
    let (code, r) = drift_json(&a, &real, &["--fail-above", "0.1"]);
    assert_eq!(
        r["alerts"].as_array().unwrap().len(),
        0,
        "{:#}",
        r["alerts"]
    );
    assert_eq!(r["verdict"], "stable");
    assert_eq!(code, Some(0));
}

/// Done when (b): 3% of customers gone, 5% new (copies of real rows under new ids), same
/// behaviour → the same k and names, fewer than 2% of continuing customers moved. And k
/// holds: a previous model with k = 4 keeps k = 4 (the knee points elsewhere and the
/// summary says so); `--k auto` re-chooses and says so.
#[test]
fn month_two_with_customers_gone_and_new_keeps_k_names_and_customers() {
    let Some(real) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, b, m2) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("m2.csv"),
    );
    month_one(&real, &a, &[]);
    let mut i = 0u64;
    let mut copies = Vec::new();
    derive(
        &real,
        &m2,
        |_, row| {
            i += 1;
            // Every 20th row is copied under a new id (5%); every 33rd is gone (3%).
            if i % 20 == 7 {
                let mut c = row.clone();
                c[0] = format!("NEW{i:06}");
                copies.push(c);
            }
            i % 33 != 5
        },
        &[],
    );
    let text = std::fs::read_to_string(&m2).unwrap();
    let mut w = std::fs::OpenOptions::new().append(true).open(&m2).unwrap();
    for c in &copies {
        std::io::Write::write_all(&mut w, format!("{}\n", c.join(",")).as_bytes()).unwrap();
    }
    drop(w);
    assert!(text.lines().count() > 8000);
    month_two(&m2, &b, &a, &[]);
    let (ma, mb) = (model_json(&a), model_json(&b));
    assert_eq!(ma["model"]["k"], mb["model"]["k"]);
    assert_eq!(segment_names(&a), segment_names(&b));
    let (both, moved, _) = moved_and_renamed(&a, &b);
    assert!(
        both > 8000 && (moved as f64) < 0.02 * both as f64,
        "{moved} of {both}"
    );
    // k holds: the previous model has k = 4, the knee is at 5.
    let (c, d, e) = (
        dir.path().join("c"),
        dir.path().join("d"),
        dir.path().join("e"),
    );
    month_one(&real, &c, &["--k", "4"]);
    month_two(&real, &d, &c, &[]);
    let md = model_json(&d);
    assert_eq!(md["model"]["k"], 4);
    let reason = md["model"]["k_selection"]["reason"].as_str().unwrap();
    assert!(reason.contains("held from the previous model"), "{reason}");
    assert!(reason.contains("the knee now points to k = 5"), "{reason}");
    let summary = std::fs::read_to_string(d.join("summary.md")).unwrap();
    assert!(summary.contains("- k: k = 4 is held"), "{summary}");
    month_two(&real, &e, &c, &["--k", "auto"]);
    let me = model_json(&e);
    assert_eq!(me["model"]["k"], 5);
    let reason = me["model"]["k_selection"]["reason"].as_str().unwrap();
    assert!(reason.contains("re-chosen with --k auto"), "{reason}");
}

/// Done when (c): 10% of CREDIT_LIMIT blanked → a `missing` alert and exit 3 with
/// `--fail-above 0.1`, although no PSI is above 0.1.
#[test]
fn blanked_credit_limits_raise_a_missing_alert_and_exit_3() {
    let Some(real) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, m2) = (dir.path().join("a"), dir.path().join("m2.csv"));
    month_one(&real, &a, &[]);
    let mut i = 0;
    derive(
        &real,
        &m2,
        |h, row| {
            i += 1;
            if i % 10 == 0 {
                row[col(h, "CREDIT_LIMIT")] = String::new();
            }
            true
        },
        &[],
    );
    let (code, r) = drift_json(&a, &m2, &["--fail-above", "0.1"]);
    let missing = alerts_of(&r, "missing");
    assert_eq!(missing.len(), 1, "{:#}", r["alerts"]);
    assert_eq!(missing[0]["feature"], "CREDIT_LIMIT");
    assert!(missing[0]["segment"].is_null());
    for f in r["features"].as_array().unwrap() {
        assert!(f["psi"].as_f64().unwrap() < 0.1, "{f}");
    }
    assert_eq!(code, Some(3));
    // One customer: a warning, no verdict, no alert.
    let one = dir.path().join("one.csv");
    let mut n = 0;
    derive(
        &real,
        &one,
        |_, _| {
            n += 1;
            n == 1
        },
        &[],
    );
    let (code, r) = drift_json(&a, &one, &["--fail-above", "0.1"]);
    assert_eq!(code, Some(0));
    assert!(r["warning"].as_str().unwrap().contains("only 1 customers"));
    assert_eq!(r["alerts"].as_array().unwrap().len(), 0);
}

/// Custom naming rules are sticky too: when a change makes two still-valid names fit the
/// other segment better, neither segment trades its name.
#[test]
fn custom_rule_names_stay_on_their_ids_when_another_fit_gets_better() {
    let Some(real) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        r#"[[rule]]
name = "Alpha"
when = ["PURCHASES >= 1.0"]
unless = ["BALANCE >= 4", "PURCHASES >= 3", "CREDIT_LIMIT <= 1"]
action = "a"

[[rule]]
name = "Beta"
when = ["CREDIT_LIMIT >= 1.0"]
unless = ["BALANCE >= 4", "PURCHASES >= 3", "CREDIT_LIMIT <= 1"]
action = "b"
"#,
    )
    .unwrap();
    let r = rules.to_str().unwrap();
    let (a, b, m2) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("m2.csv"),
    );
    month_one(&real, &a, &["--naming-rules", r]);
    let names = segment_names(&a);
    let beta = names
        .iter()
        .find(|(_, n)| *n == "Beta")
        .map(|(id, _)| *id)
        .unwrap();
    assert!(names.values().any(|n| n == "Alpha"));
    // The Beta segment buys 1.5 times as much: Alpha now fits it better than Beta.
    let la = labels(&a.join("labels.csv"));
    derive(
        &real,
        &m2,
        |h, row| {
            if la[&row[0]].0 == beta.to_string() {
                let j = col(h, "PURCHASES");
                let v: f64 = row[j].parse().unwrap();
                row[j] = format!("{}", v * 1.5);
            }
            true
        },
        &[],
    );
    month_two(&m2, &b, &a, &["--naming-rules", r]);
    assert_eq!(names, segment_names(&b));
    let summary = std::fs::read_to_string(b.join("summary.md")).unwrap();
    assert!(!summary.contains("renamed from"), "{summary}");
}

/// A model written before per-segment quantiles (tests/fixtures, written by the previous
/// cardseg) still loads; drift runs the checks it can and says which need a retrain.
#[test]
fn drift_on_a_model_without_segment_quantiles_says_which_checks_need_a_retrain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("g.csv");
    run_ok(&[
        "generate",
        "--rows",
        "500",
        "--seed",
        "3",
        "--out",
        data.to_str().unwrap(),
    ]);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/model_without_segment_quantiles.json");
    let o = run(&[
        "drift",
        "--json",
        "--model",
        fixture.to_str().unwrap(),
        "--input",
        data.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let needs = r["needs_retrain"].as_array().unwrap();
    assert_eq!(needs.len(), 1);
    assert!(needs[0].as_str().unwrap().starts_with("segment_shift"));
    assert!(needs[0]
        .as_str()
        .unwrap()
        .contains("retrain it with this cardseg"));
    assert!(r["segment_shifts"].as_array().unwrap().is_empty());
    assert!(r["features"].as_array().unwrap().len() == 3);
}
