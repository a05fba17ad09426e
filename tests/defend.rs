//! Segments an analyst can defend: outcomes per segment with intervals, measured
//! stability, honest categories and protected attributes, and no-flag runs on data without
//! the CC GENERAL columns.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A small deterministic stream (the tests' own, independent of cardseg's).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next();
        let u2 = self.next();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Three well-separated blobs of 400 customers in (SPEND, INCOME); blob `planted` has a
/// default rate of 18%, the others 6% (exact counts). `with_outcome` adds the column.
fn blobs(dir: &Path, with_outcome: bool, extra: &str) -> PathBuf {
    let mut rng = Lcg(5);
    let centres = [(10.0, 80.0), (60.0, 20.0), (90.0, 90.0)];
    let mut csv = String::from("ID,SPEND,INCOME");
    if with_outcome {
        csv.push_str(",default");
    }
    if !extra.is_empty() {
        write!(csv, ",{extra}").unwrap();
    }
    csv.push('\n');
    for i in 0..1200 {
        let b = i % 3;
        let (cx, cy) = centres[b];
        let j = i / 3;
        write!(
            csv,
            "C{i},{:.3},{:.3}",
            cx + 3.0 * rng.normal(),
            cy + 3.0 * rng.normal()
        )
        .unwrap();
        if with_outcome {
            let rate = if b == 2 { 18 } else { 6 };
            write!(csv, ",{}", u8::from(j % 100 < rate)).unwrap();
        }
        if !extra.is_empty() {
            // Gender (text), Cards (an integer count with rare values).
            let cards = if j % 200 == 0 { 9 } else { 1 + j % 3 };
            write!(csv, ",{},{cards}", ["F", "M"][j % 2]).unwrap();
        }
        csv.push('\n');
    }
    let p = dir.join(format!(
        "blobs{}{}.csv",
        u8::from(with_outcome),
        extra.len()
    ));
    std::fs::write(&p, csv).unwrap();
    p
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn run(input: &Path, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec![
        "run",
        "--input",
        common::s(input),
        "--out",
        common::s(out),
        "--id-column",
        "ID",
        "--features",
        "SPEND,INCOME",
    ];
    args.extend_from_slice(extra);
    if !extra.contains(&"--k") {
        args.extend_from_slice(&["--k", "3"]);
    }
    common::run_ok(&args);
    json(&out.join("summary.json"))
}

#[test]
fn a_planted_outcome_is_the_first_finding_and_never_moves_a_label() {
    let d = tempfile::tempdir().unwrap();
    let with = blobs(d.path(), true, "");
    let without = blobs(d.path(), false, "");
    let s = run(&with, &d.path().join("a"), &["--outcome", "default"]);
    run(&without, &d.path().join("b"), &[]);
    // Outcomes never influence clustering.
    assert_eq!(
        std::fs::read(d.path().join("a/labels.csv")).unwrap(),
        std::fs::read(d.path().join("b/labels.csv")).unwrap()
    );
    let segs = json(&d.path().join("a/segments.json"));
    let port = &segs["portfolio"]["outcomes"][0];
    assert_eq!(port["kind"], "rate");
    assert!(
        (port["value"].as_f64().unwrap() - 0.10).abs() < 1e-12,
        "{port}"
    );
    // The planted segment: the one with the 18% rate.
    let planted = segs["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| (s["outcomes"][0]["value"].as_f64().unwrap() - 0.18).abs() < 1e-12)
        .expect("a segment with the planted 18% rate");
    let o = &planted["outcomes"][0];
    assert!(o["ci_low"].as_f64().unwrap() > 0.10, "{o}");
    assert_eq!(o["differs"], true);
    let first = s["findings"][0].as_str().unwrap();
    let name = planted["name"].as_str().unwrap();
    assert!(
        first.starts_with(name) && first.contains("default rate 18.0%"),
        "{first}"
    );
    let md = std::fs::read_to_string(d.path().join("a/summary.md")).unwrap();
    assert!(md.contains("## Outcome: default"), "{md}");
    // The dashboard draws the outcome with its intervals and states the structure.
    let page =
        common::page_data(&std::fs::read_to_string(d.path().join("a/dashboard.html")).unwrap());
    assert_eq!(page["outcomes"][0]["column"], "default");
    assert_eq!(page["outcomes"][0]["segments"].as_array().unwrap().len(), 3);
    assert!(page["structure"]["sentence"]
        .as_str()
        .unwrap()
        .contains("reproducible"));
    assert!(page["segments"][0]["plain"]
        .as_str()
        .unwrap()
        .contains("customers"));
    let csv = std::fs::read_to_string(d.path().join("a/segments.csv")).unwrap();
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .contains("default_rate,default_ci_low,default_ci_high,default_index"));
}

#[test]
fn an_outcome_that_is_a_feature_or_text_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let data = blobs(d.path(), true, "Gender,Cards");
    let args = |o: &str, out: &Path| {
        let mut a = vec!["run".to_string(), "--input".into(), common::s(&data).into()];
        a.extend([
            "--out".into(),
            common::s(out).into(),
            "--id-column".into(),
            "ID".into(),
        ]);
        a.extend([
            "--features".into(),
            "SPEND,INCOME".into(),
            "--k".into(),
            "3".into(),
        ]);
        a.extend(["--outcome".into(), o.into()]);
        a
    };
    for (o, needle) in [
        ("SPEND", "never clustered"),
        ("Gender", "is not a number"),
        ("nope", "column nope not found"),
    ] {
        let out = d.path().join(o);
        let a = args(o, &out);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let e = common::fail(&a, &out);
        assert!(e.contains(needle), "{o}: {e}");
    }
}

#[test]
fn well_separated_blobs_are_stable_and_uniform_noise_is_weak() {
    let d = tempfile::tempdir().unwrap();
    let s = run(&blobs(d.path(), false, ""), &d.path().join("b"), &[]);
    let st = &s["stability"];
    assert_eq!(st["resamples"], 20);
    for seg in st["segments"].as_array().unwrap() {
        assert_eq!(seg["verdict"], "stable", "{st}");
    }
    assert_eq!(s["structure"]["weak"], false, "{}", s["structure"]);
    // Uniform noise: no structure to find.
    let mut rng = Lcg(9);
    let mut csv = String::from("ID,SPEND,INCOME\n");
    for i in 0..1000 {
        writeln!(csv, "C{i},{:.4},{:.4}", rng.next(), rng.next()).unwrap();
    }
    let noise = d.path().join("noise.csv");
    std::fs::write(&noise, csv).unwrap();
    let s = run(&noise, &d.path().join("n"), &["--k", "6"]);
    assert_eq!(s["structure"]["weak"], true, "{}", s["structure"]);
    let md = std::fs::read_to_string(d.path().join("n/summary.md")).unwrap();
    assert!(md.contains("**Weak structure:"), "{md}");
}

#[test]
fn stability_is_identical_whatever_the_thread_count() {
    let d = tempfile::tempdir().unwrap();
    let data = blobs(d.path(), false, "");
    let mut got = Vec::new();
    for threads in ["1", "3"] {
        let out = d.path().join(threads);
        let o = common::run_env(
            &[
                "run",
                "--input",
                common::s(&data),
                "--out",
                common::s(&out),
                "--id-column",
                "ID",
                "--features",
                "SPEND,INCOME",
                "--k",
                "4",
                "--stability-detail",
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert!(o.status.success(), "{}", common::stderr(&o));
        got.push((
            std::fs::read(out.join("summary.json")).unwrap(),
            std::fs::read(out.join("stability.csv")).unwrap(),
        ));
    }
    assert!(got[0] == got[1]);
}

/// The figures match an independent computation (numpy and scikit-learn) from the
/// resamples' rows and clusters in stability.csv, within 1e-9.
#[test]
fn stability_matches_scikit_learn_on_the_same_resamples() {
    let Some(py) = common::python() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let mut rng = Lcg(3);
    let mut csv = String::from("ID,SPEND,INCOME\n");
    for i in 0..900 {
        writeln!(csv, "C{i},{:.4},{:.4}", rng.next(), rng.next() * rng.next()).unwrap();
    }
    let data = d.path().join("noise.csv");
    std::fs::write(&data, csv).unwrap();
    let out = d.path().join("o");
    let s = run(&data, &out, &["--k", "5", "--stability-detail"]);
    let script = r#"
import json, sys
import numpy as np
from sklearn.metrics import adjusted_rand_score
out = sys.argv[1]
rows = np.loadtxt(out + "/stability.csv", delimiter=",", skiprows=1, dtype=np.int64)
s = json.load(open(out + "/summary.json"))["stability"]
ids = [x["id"] for x in s["segments"]]
jac = {i: [] for i in ids}
aris = []
for b in np.unique(rows[:, 0]):
    r = rows[rows[:, 0] == b]
    seg, got = r[:, 2], r[:, 3]
    aris.append(adjusted_rand_score(seg, got))
    for i in ids:
        a = seg == i
        if a.sum() == 0:
            continue
        best = max((a & (got == c)).sum() / (a | (got == c)).sum() for c in np.unique(got))
        jac[i].append(best)
assert len(aris) == s["resamples"], (len(aris), s["resamples"])
assert abs(np.mean(aris) - s["ari"]) < 1e-9, (np.mean(aris), s["ari"])
for x in s["segments"]:
    assert abs(np.mean(jac[x["id"]]) - x["jaccard"]) < 1e-9, (x, np.mean(jac[x["id"]]))
print("ok", len(aris))
"#;
    let o = std::process::Command::new(py)
        .args(["-c", script, common::s(&out)])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(s["stability"]["resamples"], 20);
    assert_eq!(s["stability"]["sample_size"], 450);
}

#[test]
fn named_profile_features_stay_numeric_rare_values_get_no_index_and_protected_columns_wait_to_be_named(
) {
    let d = tempfile::tempdir().unwrap();
    let data = blobs(d.path(), false, "Gender,Cards");
    // Not named: Gender (protected) is not profiled; no profiling flag is needed on data
    // without the CC GENERAL columns.
    run(&data, &d.path().join("a"), &[]);
    let segs = json(&d.path().join("a/segments.json"));
    let text = serde_json::to_string(&segs).unwrap();
    assert!(!text.contains("Gender"), "{text}");
    let s = json(&d.path().join("a/summary.json"));
    assert!(s.get("caution").is_none());
    // Named as a profiling feature, the integer Cards stays numeric.
    run(&data, &d.path().join("b"), &["--profile-features", "Cards"]);
    let segs = json(&d.path().join("b/segments.json"));
    assert!(segs["portfolio"]["stats"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["column"] == "Cards"));
    assert!(
        segs["portfolio"].get("categories").is_none(),
        "{}",
        segs["portfolio"]
    );
    // As a category, Cards=9 (2 customers per segment) gets no index; Gender, named,
    // is profiled with a fair-lending caution.
    run(
        &data,
        &d.path().join("c"),
        &["--categorical", "Cards,Gender"],
    );
    let segs = json(&d.path().join("c/segments.json"));
    for seg in segs["segments"].as_array().unwrap() {
        let cards = seg["categories"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["column"] == "Cards")
            .unwrap();
        for v in cards["values"].as_array().unwrap() {
            let few = v["customers"].as_u64().unwrap() < 30;
            assert_eq!(v["index"].is_null(), few, "{v}");
        }
    }
    let s = json(&d.path().join("c/summary.json"));
    assert_eq!(s["protected_columns"], serde_json::json!(["Gender"]));
    assert!(s["caution"].as_str().unwrap().contains("Fair-lending"));
    let md = std::fs::read_to_string(d.path().join("c/summary.md")).unwrap();
    assert!(md.contains("Fair-lending caution"));
}

/// Every name checked against every other segment's profile: "High X" / "Low X" only in
/// the upper / lower half on X; a qualifier never speaks of what the name already says;
/// a cash-advance name on the highest cash reliance, a low-limit name on the lowest limit;
/// a name implying spending on a segment where at least 80% bought something.
fn assert_no_contradiction(segs: &Value, what: &str) {
    let list = segs["segments"].as_array().unwrap();
    let k = list.len();
    let mean = |s: &Value, c: &str| {
        s["stats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["column"] == c)
            .and_then(|x| x["mean"].as_f64())
    };
    let ind = |s: &Value, c: &str| {
        s["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == c)
            .and_then(|x| x["value"].as_f64())
    };
    let nonzero = |s: &Value, c: &str| {
        s["stats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["column"] == c)
            .and_then(|x| x["nonzero_share"].as_f64())
    };
    for s in list {
        let name = s["name"].as_str().unwrap();
        let (base, qual) = name.split_once(" — ").unwrap_or((name, ""));
        for part in base.split(", ") {
            for (word, high) in [("High ", true), ("Low ", false)] {
                let Some(col) = part.strip_prefix(word) else {
                    continue;
                };
                let Some(v) = mean(s, col) else { continue };
                let beyond = list
                    .iter()
                    .filter_map(|o| mean(o, col))
                    .filter(|&o| if high { o > v } else { o < v })
                    .count();
                assert!(
                    beyond <= (k - 1) / 2,
                    "{what}: {name:?}: {beyond} of {k} segments are {word}er on {col}"
                );
            }
        }
        let lower = base.to_lowercase();
        for subject in ["limit", "balance", "spend", "pay", "cash"] {
            if lower.contains(subject) {
                assert!(
                    !qual.contains(subject),
                    "{what}: {name:?} qualifies what it names"
                );
            }
        }
        if base.contains("Cash-Advance") {
            let v = ind(s, "cash_advance_share").unwrap();
            assert!(
                list.iter()
                    .all(|o| ind(o, "cash_advance_share").unwrap() <= v),
                "{what}: {name:?}"
            );
        }
        if base.contains("Low-Limit") {
            let v = mean(s, "CREDIT_LIMIT").unwrap();
            assert!(
                list.iter().all(|o| mean(o, "CREDIT_LIMIT").unwrap() >= v),
                "{what}: {name:?}"
            );
        }
        if base.contains("Everyday") || base.contains("Transactors") {
            let v = nonzero(s, "PURCHASES").unwrap();
            assert!(v >= 0.8, "{what}: {name:?}: {v} bought something");
        }
    }
}

#[test]
fn no_name_contradicts_another_segment_on_the_real_file_and_generated_data() {
    let d = tempfile::tempdir().unwrap();
    let mut inputs: Vec<(String, PathBuf)> = Vec::new();
    if let Some(real) = common::real_data() {
        inputs.push(("real".into(), real));
    }
    let gen = common::generate(d.path(), 20_000, 11);
    inputs.push(("generated".into(), gen));
    inputs.push(("blobs".into(), blobs(d.path(), false, "")));
    for (what, input) in &inputs {
        for k in 3..=8 {
            let out = d.path().join(format!("{what}{k}"));
            let mut args = vec![
                "run",
                "--input",
                common::s(input),
                "--out",
                common::s(&out),
                "--k",
            ];
            let ks = k.to_string();
            args.push(&ks);
            args.extend(["--no-dashboard", "--stability-resamples", "0"]);
            if what == "blobs" {
                args.extend(["--id-column", "ID", "--features", "SPEND,INCOME"]);
            }
            common::run_ok(&args);
            assert_no_contradiction(&json(&out.join("segments.json")), &format!("{what} k={k}"));
        }
    }
}
