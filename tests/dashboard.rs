//! The dashboard file without a browser: self-contained, deterministic, bounded in size,
//! escaped, and rebuilt byte for byte by `cardseg dashboard`. What it looks like and
//! whether it runs is checked in a real browser by `dashboard_browser.rs`.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{command, generate, markup_only, page_data, run_ok, s};

fn run(input: &Path, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", "--input", s(input), "--out", s(out)];
    args.extend_from_slice(extra);
    run_ok(&args);
    std::fs::read_to_string(out.join("dashboard.html")).expect("run writes dashboard.html")
}

/// Label counts per segment id, from labels.csv (the independent record of the run).
fn label_counts(labels: &Path) -> HashMap<u32, u64> {
    let mut counts = HashMap::new();
    let mut r = csv::Reader::from_path(labels).unwrap();
    for rec in r.records() {
        let rec = rec.unwrap();
        if let Ok(seg) = rec[1].parse::<u32>() {
            *counts.entry(seg).or_insert(0) += 1;
        }
    }
    counts
}

#[test]
fn page_is_self_contained_deterministic_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), 2_000, 5);
    let a = run(&input, &dir.path().join("a"), &["--k-max", "6"]);
    let b = run(&input, &dir.path().join("b"), &["--k-max", "6"]);
    assert!(
        a == b,
        "same input and seed must give a byte-identical page"
    );

    let markup = markup_only(&a);
    assert_eq!(common::external_refs(&markup), Vec::<String>::new());
    assert!(markup.contains("http-equiv=\"Content-Security-Policy\""));
    let csp_start = markup
        .find("content=\"default-src 'none'")
        .expect("a CSP that denies every source by default");
    let csp = &markup[csp_start..csp_start + markup[csp_start..].find("\">").unwrap()];
    assert!(
        !csp.contains("script-src 'unsafe-inline'"),
        "scripts are allowed by hash only: {csp}"
    );
    assert_eq!(a.matches("<script").count(), 4, "guard, data, plotly, app");
    assert!(
        a.contains("plotly.js (gl3d - minified) v4.1.1"),
        "plotly is inlined with its licence header"
    );

    // Every customer is plotted (below the sampling threshold), under its own segment.
    let data = page_data(&a);
    let counts = label_counts(&dir.path().join("a/labels.csv"));
    let segs = data["segments"].as_array().unwrap();
    assert_eq!(segs.len(), counts.len());
    for seg in segs {
        let id = seg["id"].as_u64().unwrap() as u32;
        assert_eq!(
            seg["ids"].as_array().unwrap().len() as u64,
            counts[&id],
            "segment {id}"
        );
        for axis in seg["values"].as_array().unwrap() {
            assert_eq!(axis.as_array().unwrap().len() as u64, counts[&id]);
        }
    }
    assert_eq!(data["sample"]["sampled"], false);
    assert_eq!(
        data["axes"],
        serde_json::json!(["BALANCE", "PURCHASES", "CREDIT_LIMIT"])
    );
    // The k charts carry the whole sweep and the chosen k.
    let sweep = data["k_selection"]["sweep"].as_array().unwrap();
    assert_eq!(
        sweep
            .iter()
            .map(|r| r["k"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (2..=6).collect::<Vec<_>>()
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a/summary.json")).unwrap())
            .unwrap();
    assert_eq!(data["k_selection"]["chosen"], summary["k"]);
    assert_eq!(data["findings"], summary["findings"]);
    assert_eq!(data["k_selection"]["reason"], summary["k_reason"]);
    assert_eq!(
        data["quality"]["missing"].as_array().unwrap().len(),
        summary["missing"].as_array().unwrap().len()
    );
}

#[test]
fn large_inputs_are_sampled_per_segment_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), 120_000, 9);
    let fast = ["--k", "4", "--k-min", "2", "--k-max", "4", "--n-init", "1"];
    let a = run(&input, &dir.path().join("a"), &fast);
    let b = run(&input, &dir.path().join("b"), &fast);
    assert!(
        a == b,
        "the sample is seeded: same input and seed, same page"
    );
    assert!(a.len() < 15_000_000, "page is {} bytes", a.len());

    let data = page_data(&a);
    let counts = label_counts(&dir.path().join("a/labels.csv"));
    let n: u64 = counts.values().sum();
    assert_eq!(n, 120_000);
    assert_eq!(data["sample"]["sampled"], true);
    assert_eq!(data["sample"]["total"], 120_000);
    let mut shown = 0;
    let mut seen_ids = std::collections::HashSet::new();
    for seg in data["segments"].as_array().unwrap() {
        let id = seg["id"].as_u64().unwrap() as u32;
        let got = seg["ids"].as_array().unwrap().len() as u64;
        let want = 50_000.0 * counts[&id] as f64 / n as f64;
        assert!(
            got >= counts[&id].min(25),
            "segment {id} keeps at least 25 points"
        );
        assert!(
            (got as f64 - want).abs() <= 25.0 + 1.0,
            "segment {id}: {got} points, proportional share {want:.0}"
        );
        assert_eq!(
            seg["customers"], counts[&id],
            "sizes use every customer, not the sample"
        );
        for v in seg["ids"].as_array().unwrap() {
            assert!(
                seen_ids.insert(v.as_str().unwrap().to_string()),
                "a customer is drawn twice"
            );
        }
        shown += got;
    }
    assert_eq!(data["sample"]["shown"], shown);
    assert!((50_000..=50_100).contains(&shown), "{shown} points");

    let c = run(
        &input,
        &dir.path().join("c"),
        &[&fast[..], &["--seed", "43"]].concat(),
    );
    let other: Vec<serde_json::Value> = page_data(&c)["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ids"].clone())
        .collect();
    let first: Vec<serde_json::Value> = data["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ids"].clone())
        .collect();
    assert_ne!(first, other, "another seed draws another sample");
}

#[test]
fn rebuild_reproduces_the_run_page_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let input = punch_holes(&generate(dir.path(), 3_000, 11), "BALANCE", 97);
    for (name, extra) in [
        ("median", vec!["--k-max", "5"]),
        ("drop", vec!["--k-max", "5", "--missing", "drop"]),
    ] {
        let out = dir.path().join(name);
        let page = run(&input, &out, &extra);
        let rebuilt = dir.path().join(format!("{name}.html"));
        run_ok(&[
            "dashboard",
            "--model",
            s(&out.join("model.json")),
            "--labels",
            s(&out.join("labels.csv")),
            "--input",
            s(&input),
            "--out",
            s(&rebuilt),
        ]);
        let again = std::fs::read_to_string(&rebuilt).unwrap();
        assert!(
            again == page,
            "--missing {name}: the rebuilt page differs from the run's"
        );
        let q = &page_data(&page)["quality"];
        assert_eq!(q["missing"][0]["column"], "BALANCE");
        assert_eq!(q["missing"][0]["missing"], 31);
        assert_eq!(q["dropped"], if name == "drop" { 31 } else { 0 });
    }
}

/// Empties `column` in every `every`-th row, so missing-value handling shows.
fn punch_holes(input: &Path, column: &str, every: usize) -> std::path::PathBuf {
    let mut r = csv::Reader::from_path(input).unwrap();
    let header = r.headers().unwrap().clone();
    let j = header.iter().position(|h| h == column).unwrap();
    let out = input.with_extension("holes.csv");
    let mut w = csv::Writer::from_path(&out).unwrap();
    w.write_record(&header).unwrap();
    for (i, rec) in r.records().enumerate() {
        let mut row: Vec<String> = rec.unwrap().iter().map(String::from).collect();
        if i % every == 0 {
            row[j].clear();
        }
        w.write_record(&row).unwrap();
    }
    w.flush().unwrap();
    out
}

#[test]
fn rebuild_on_the_real_file_matches_the_run() {
    let Some(real) = common::real_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let page = run(&real, &out, &[]);
    let rebuilt = dir.path().join("d.html");
    let shown = s(&real).to_string();
    run_ok(&[
        "dashboard",
        "--model",
        s(&out.join("model.json")),
        "--labels",
        s(&out.join("labels.csv")),
        "--input",
        &shown,
        "--out",
        s(&rebuilt),
    ]);
    assert!(std::fs::read_to_string(&rebuilt).unwrap() == page);
    let data = page_data(&page);
    assert_eq!(data["customers"], 8_950);
    assert_eq!(data["sample"]["shown"], 8_950);
    assert_eq!(data["quality"]["missing"][0]["column"], "CREDIT_LIMIT");
}

#[test]
fn rebuild_for_new_customers_scored_by_predict() {
    let dir = tempfile::tempdir().unwrap();
    let train = generate(dir.path(), 2_000, 1);
    let fresh = generate(dir.path(), 1_500, 2);
    let out = dir.path().join("run");
    run(&train, &out, &["--k-max", "5"]);
    let scored = dir.path().join("scored.csv");
    run_ok(&[
        "predict",
        "--model",
        s(&out.join("model.json")),
        "--input",
        s(&fresh),
        "--out",
        s(&scored),
    ]);
    let page = dir.path().join("fresh.html");
    run_ok(&[
        "dashboard",
        "--model",
        s(&out.join("model.json")),
        "--labels",
        s(&scored),
        "--input",
        s(&fresh),
        "--out",
        s(&page),
    ]);
    let data = page_data(&std::fs::read_to_string(&page).unwrap());
    assert_eq!(data["customers"], 1_500);
    let counts = label_counts(&scored);
    for seg in data["segments"].as_array().unwrap() {
        assert_eq!(
            seg["customers"],
            counts[&(seg["id"].as_u64().unwrap() as u32)]
        );
    }
}

#[test]
fn rebuild_refuses_labels_that_do_not_belong() {
    let dir = tempfile::tempdir().unwrap();
    let input = generate(dir.path(), 500, 1);
    let out = dir.path().join("run");
    run(&input, &out, &["--k-max", "4"]);
    let model = out.join("model.json");
    let labels = out.join("labels.csv");
    let page = dir.path().join("p.html");
    let refused = |labels: &Path, input: &Path, force: bool| -> String {
        let mut args = vec![
            "dashboard",
            "--model",
            s(&model),
            "--labels",
            s(labels),
            "--input",
            s(input),
            "--out",
            s(&page),
        ];
        if force {
            args.push("--force");
        }
        let o = command().args(&args).output().unwrap();
        assert!(!o.status.success(), "expected a refusal for {args:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let rewrite = |name: &str, edit: &dyn Fn(usize, &mut Vec<String>)| -> std::path::PathBuf {
        let mut r = csv::Reader::from_path(&labels).unwrap();
        let path = dir.path().join(name);
        let mut w = csv::Writer::from_path(&path).unwrap();
        w.write_record(r.headers().unwrap()).unwrap();
        let mut rows: Vec<Vec<String>> = r
            .records()
            .map(|x| x.unwrap().iter().map(String::from).collect())
            .collect();
        for (i, row) in rows.iter_mut().enumerate() {
            edit(i, row);
        }
        rows.retain(|r| !r.is_empty());
        for row in rows {
            w.write_record(&row).unwrap();
        }
        w.flush().unwrap();
        path
    };

    // Labels in another order than the input: the first mismatch is named by line.
    let text = std::fs::read_to_string(&labels).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(1, 2);
    let swapped = dir.path().join("swapped.csv");
    std::fs::write(&swapped, lines.join("\n") + "\n").unwrap();
    let e = refused(&swapped, &input, false);
    assert!(
        e.contains("swapped.csv:2:") && e.contains("does not match"),
        "{e}"
    );

    let short = rewrite("short.csv", &|i, row| {
        if i >= 99 {
            row.clear()
        }
    });
    let e = refused(&short, &input, false);
    assert!(
        e.contains("99 label rows") && e.contains("500 customers"),
        "{e}"
    );

    let renamed = rewrite("renamed.csv", &|_, row| {
        if row[1] == "1" {
            row[2] = "Someone Else".into()
        }
    });
    let e = refused(&renamed, &input, false);
    assert!(e.contains("another model"), "{e}");

    let bad_segment = rewrite("bad_segment.csv", &|i, row| {
        if i == 7 {
            row[1] = "9".into()
        }
    });
    let e = refused(&bad_segment, &input, false);
    assert!(
        e.contains("bad_segment.csv:9:") && e.contains("is not a segment of the model"),
        "{e}"
    );

    let fewer = generate(dir.path(), 300, 3);
    let e = refused(&labels, &fewer, false);
    assert!(e.contains("more label rows"), "{e}");
    assert!(
        !page.exists(),
        "nothing is written when the inputs are refused"
    );

    // An existing page is kept unless --force.
    std::fs::write(&page, "keep me").unwrap();
    let e = refused(&labels, &input, false);
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(std::fs::read_to_string(&page).unwrap(), "keep me");
    // --force replaces only a page cardseg wrote: someone's file is refused.
    let e = refused(&labels, &input, true);
    assert!(e.contains("--force will not replace it"), "{e}");
    assert_eq!(std::fs::read_to_string(&page).unwrap(), "keep me");
    std::fs::remove_file(&page).unwrap();
    run_ok(&[
        "dashboard",
        "--model",
        s(&model),
        "--labels",
        s(&labels),
        "--input",
        s(&input),
        "--out",
        s(&page),
    ]);
    let own = std::fs::read(&page).unwrap();
    let e = refused(&short, &input, true);
    assert!(e.contains("label rows"), "{e}");
    assert_eq!(
        std::fs::read(&page).unwrap(),
        own,
        "a failed rebuild keeps the old page"
    );
    run_ok(&[
        "dashboard",
        "--model",
        s(&model),
        "--labels",
        s(&labels),
        "--input",
        s(&input),
        "--out",
        s(&page),
        "--force",
    ]);
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
}

#[test]
fn hostile_strings_stay_inside_the_json() {
    let dir = tempfile::tempdir().unwrap();
    let (input, rules) = common::hostile_fixture(dir.path());
    let out = dir.path().join("out");
    let page = run(
        &input,
        &out,
        &[
            "--naming-rules",
            s(&rules),
            "--id-column",
            common::HOSTILE_ID_COLUMN,
            "--k",
            "2",
            "--k-min",
            "2",
            "--k-max",
            "3",
        ],
    );
    // No data string survives unescaped anywhere in the file.
    for bad in [
        "<script>alert",
        "<img src=x",
        "<b onmouseover",
        "<u>cust</u>",
        "<a href=javascript",
    ] {
        assert!(!page.contains(bad), "{bad:?} appears raw in the page");
    }
    assert!(page.contains("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e"));
    let data = page_data(&page);
    let names: Vec<&str> = data["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&common::HOSTILE_SEGMENT_A), "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(common::HOSTILE_SEGMENT_B)),
        "{names:?}"
    );
    assert_eq!(data["id_label"], common::HOSTILE_ID_COLUMN);
}
