//! Segment names an analyst would sign (issue 17), asserted as properties of the outputs:
//! on the real file at k = 4, 5, 6, on one million generated customers, and on a table
//! that is not about credit cards at all.

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// The index of a column or derived indicator of one segment in segments.json.
fn index_of(seg: &Value, metric: &str) -> Option<f64> {
    for key in ["stats", "indicators"] {
        for s in seg[key].as_array().unwrap() {
            let name = s
                .get("column")
                .or_else(|| s.get("name"))
                .and_then(Value::as_str);
            if name == Some(metric) {
                return s["index"].as_f64();
            }
        }
    }
    None
}

fn lower(s: &Value, key: &str) -> String {
    s[key].as_str().unwrap().to_lowercase()
}

/// The properties of issue 17 on one credit-card run's segments.json.
fn assert_signable(segments: &Path, what: &str) {
    let segs = read_json(segments);
    let list = segs["segments"].as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|s| s["name"].as_str().unwrap()).collect();
    // Distinct, and no numbers standing in for meaning.
    let mut uniq = names.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), names.len(), "{what}: names collide: {names:?}");
    for n in &names {
        assert!(
            !n.chars().any(|c| c.is_ascii_digit()),
            "{what}: numeric name {n:?}"
        );
        assert!(!n.contains('#'), "{what}: {n:?}");
    }
    for s in list {
        let name = lower(s, "name");
        let action = lower(s, "suggested_action");
        let full = index_of(s, "full_payment").unwrap();
        let util = index_of(s, "utilisation").unwrap();
        // Risky payment behaviour never carries a premium name or a reward/upgrade action.
        if full < 50.0 || util > 150.0 {
            for word in ["premium", "high-value", "high value", "vip"] {
                assert!(
                    !name.contains(word),
                    "{what}: {name} (full {full:.0}, util {util:.0})"
                );
            }
            for word in ["reward", "upgrade"] {
                assert!(
                    !action.contains(word),
                    "{what}: {name}: {action} (full {full:.0}, util {util:.0})"
                );
            }
        }
        // A dormant name needs purchase activity well below the portfolio's.
        if name.contains("dormant") || name.contains("inactive") {
            let freq = index_of(s, "purchase_frequency").unwrap();
            let trx = index_of(s, "PURCHASES_TRX").unwrap();
            assert!(
                freq < 60.0 && trx < 60.0,
                "{what}: {name}: frequency {freq:.0}, transactions {trx:.0}"
            );
        }
        // The rationale says what came second.
        let why = s["rationale"].as_str().unwrap();
        assert!(why.contains("Strongest traits"), "{what}: {why}");
    }
    // The segment with the highest balance and cash-advance indexes is a credit risk.
    let top = |m: &str| {
        (0..list.len())
            .max_by(|&a, &b| {
                index_of(&list[a], m)
                    .unwrap()
                    .total_cmp(&index_of(&list[b], m).unwrap())
            })
            .unwrap()
    };
    let (b, c) = (top("BALANCE"), top("CASH_ADVANCE"));
    if b == c {
        let i = b;
        let name = lower(&list[i], "name");
        let action = lower(&list[i], "suggested_action");
        assert!(
            ["revolver", "credit-reliant", "cash-advance", "risk"]
                .iter()
                .any(|w| name.contains(w)),
            "{what}: riskiest segment named {name}"
        );
        assert!(action.contains("risk"), "{what}: {name}: {action}");
    }
}

#[test]
fn real_file_names_hold_at_k_4_5_6() {
    let Some(data) = real_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for k in ["4", "5", "6"] {
        let out = dir.path().join(format!("k{k}"));
        run_ok(&[
            "run",
            "--quiet",
            "--no-dashboard",
            "--input",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--k",
            k,
        ]);
        assert_signable(&out.join("segments.json"), &format!("real file, k = {k}"));
        let summary = read_json(&out.join("summary.json"));
        assert_eq!(summary["naming_basis"], "credit-card");
    }
}

#[test]
fn one_million_generated_customers_names_hold() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("g.csv");
    run_ok(&[
        "generate",
        "--rows",
        "1000000",
        "--seed",
        "11",
        "--out",
        input.to_str().unwrap(),
    ]);
    let out = dir.path().join("run");
    run_ok(&[
        "run",
        "--quiet",
        "--no-dashboard",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--k-max",
        "8",
        "--n-init",
        "3",
    ]);
    assert_signable(&out.join("segments.json"), "1M generated");
}

/// A mall-customers-like table: text gender, coded region, age, income, score.
fn mall_table(path: &Path) {
    let mut text = String::from(
        "CustomerID,Gender,Age,\"Annual Income (k$)\",\"Spending Score (1-100)\",Region\n",
    );
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64) / (1u64 << 31) as f64
    };
    for i in 0..400 {
        let g = if next() < 0.55 { "Female" } else { "Male" };
        let group = i % 4;
        let (inc, score) = match group {
            0 => (20.0 + 20.0 * next(), 70.0 + 25.0 * next()),
            1 => (80.0 + 40.0 * next(), 5.0 + 25.0 * next()),
            2 => (80.0 + 40.0 * next(), 70.0 + 25.0 * next()),
            _ => (45.0 + 20.0 * next(), 40.0 + 20.0 * next()),
        };
        let age = 18 + (next() * 50.0) as u32;
        let region = 1 + ((next() * 3.0) as u32 + group as u32 % 2) % 3;
        text.push_str(&format!(
            "{},{g},{age},{inc:.0},{score:.0},{region}\n",
            i + 1
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// A telecom table: its `tenure` column shares a name with a card metric, nothing else.
fn telecom_table(path: &Path) {
    let mut text = String::from("subscriber,tenure,monthly_charges,data_gb\n");
    for i in 0..300u32 {
        let tenure = [1, 3, 12, 48, 72][(i % 5) as usize];
        let charges = 20.0 + f64::from((i * 37) % 100);
        let data = f64::from((i * 13) % 40) / 2.0;
        text.push_str(&format!("S{i},{tenure},{charges:.2},{data:.1}\n"));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_table_of_another_domain_gets_no_card_archetype_or_card_wording() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("tel.csv");
    telecom_table(&input);
    let out = dir.path().join("run");
    run_ok(&[
        "run",
        "--quiet",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--id-column",
        "subscriber",
        "--features",
        "tenure,monthly_charges,data_gb",
        "--profile-features",
        "",
        "--k",
        "5",
    ]);
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["naming_basis"], "features");
    let archetypes: Vec<String> = cardseg::naming::DEFAULT_RULES
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .map(|n| n.trim_end_matches('"').to_lowercase())
        .collect();
    assert!(
        archetypes.contains(&"new accounts".to_string()),
        "{archetypes:?}"
    );
    let summary_md = std::fs::read_to_string(out.join("summary.md"))
        .unwrap()
        .to_lowercase();
    let segs = read_json(&out.join("segments.json"));
    let names: Vec<String> = segs["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_lowercase())
        .collect();
    let dashboard = std::fs::read_to_string(out.join("dashboard.html"))
        .unwrap()
        .to_lowercase();
    // Whole words: "jaccard" (the stability measure) is not card wording.
    let words: Vec<&str> = summary_md.split(|c: char| !c.is_alphanumeric()).collect();
    for w in ["credit", "card"] {
        assert!(!words.contains(&w), "summary.md says {w}:\n{summary_md}");
        for n in &names {
            assert!(!n.contains(w), "segment name {n}");
        }
    }
    for a in &archetypes {
        assert!(!summary_md.contains(a.as_str()), "summary.md names {a}");
        assert!(!names.contains(a), "a segment is named {a}");
        assert!(!dashboard.contains(a.as_str()), "dashboard.html names {a}");
    }
    for w in ["credit-card", "credit card", "credit"] {
        assert!(!dashboard.contains(w), "dashboard.html says {w}");
    }
}

#[test]
fn other_tables_get_neutral_names_honest_findings_and_category_mixes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mall.csv");
    mall_table(&input);
    let out = dir.path().join("run");
    run_ok(&[
        "run",
        "--quiet",
        "--no-dashboard",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--id-column",
        "CustomerID",
        "--features",
        "Annual Income (k$),Spending Score (1-100)",
        "--profile-features",
        "Age",
        // Gender may be a protected attribute: it is profiled only when named, and the
        // summary then carries a fair-lending caution.
        "--categorical",
        "Region,Gender",
        "--k",
        "4",
    ]);
    let segs = read_json(&out.join("segments.json"));
    let summary = read_json(&out.join("summary.json"));
    assert_eq!(summary["protected_columns"], serde_json::json!(["Gender"]));
    let summary_md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert_eq!(summary["naming_basis"], "features");
    assert!(
        summary_md.contains("No built-in naming rule"),
        "{summary_md}"
    );
    let list = segs["segments"].as_array().unwrap();
    let card_words = [
        "credit",
        "cash",
        "limit",
        "card",
        "balance",
        "instalment",
        "reward",
        "premium",
    ];
    let mut names = Vec::new();
    let mut actions = Vec::new();
    for s in list {
        let name = s["name"].as_str().unwrap();
        let action = lower(s, "suggested_action");
        for w in card_words {
            assert!(!action.contains(w), "{name}: credit-card action {action}");
            assert!(!name.to_lowercase().contains(w), "credit-card name {name}");
        }
        assert!(
            name.contains("Spending Score")
                || name.contains("Annual Income")
                || name.contains("Average"),
            "{name}"
        );
        names.push(name.to_string());
        actions.push(action);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), list.len());
    actions.sort();
    actions.dedup();
    assert_eq!(
        actions.len(),
        list.len(),
        "actions must be distinct or empty"
    );
    // Non-additive columns are never "held"; Annual Income (money) may be.
    for f in summary["findings"].as_array().unwrap() {
        let f = f.as_str().unwrap();
        for col in ["Spending Score", "Age", "Region", "Gender"] {
            assert!(!f.contains(&format!("of all {col}")), "{f}");
        }
    }
    // Age, score: profiled with means and medians, flagged non-additive.
    let port = &segs["portfolio"];
    let stat = |c: &str| {
        port["stats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["column"] == c)
            .cloned()
    };
    assert_eq!(stat("Age").unwrap()["additive"], false);
    assert_eq!(stat("Spending Score (1-100)").unwrap()["additive"], false);
    assert_eq!(stat("Annual Income (k$)").unwrap()["additive"], true);
    // The coded Region is a category mix (no mean of codes); so is the text Gender.
    assert!(stat("Region").is_none(), "Region profiled as a number");
    for col in ["Region", "Gender"] {
        for g in std::iter::once(port).chain(list.iter()) {
            let mix = g["categories"]
                .as_array()
                .unwrap_or_else(|| panic!("no categories: {g}"))
                .iter()
                .find(|c| c["column"] == col)
                .unwrap_or_else(|| panic!("{col} has no category mix"));
            let total: f64 = mix["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["share"].as_f64().unwrap())
                .sum();
            assert!((total - 1.0).abs() < 1e-9, "{col}: shares sum to {total}");
        }
        assert!(
            summary_md.contains(&format!("**{col}**")),
            "{col} missing from the summary"
        );
    }
    // The counts are the table's: every Female customer of segment 1 is counted.
    let csv = std::fs::read_to_string(out.join("segments.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.contains("Region=1_share") && header.contains("Gender=Female_share"),
        "{header}"
    );
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    let data = std::fs::read_to_string(&input).unwrap();
    let mut female_in_1 = 0u64;
    for (l, d) in labels.lines().skip(1).zip(data.lines().skip(1)) {
        let seg = l.split(',').nth(1).unwrap();
        let gender = d.split(',').nth(1).unwrap();
        if seg == "1" && gender == "Female" {
            female_in_1 += 1;
        }
    }
    let seg1 = list.iter().find(|s| s["id"] == 1).unwrap();
    let mix = seg1["categories"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["column"] == "Gender")
        .unwrap();
    let female = mix["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["value"] == "Female")
        .unwrap();
    assert_eq!(female["customers"].as_u64().unwrap(), female_in_1);
}

#[test]
fn categorical_and_additive_overrides_and_unknown_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mall.csv");
    mall_table(&input);
    let out = dir.path().join("run");
    run_ok(&[
        "run",
        "--quiet",
        "--no-dashboard",
        "--input",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--features",
        "Annual Income (k$),Spending Score (1-100)",
        "--profile-features",
        "",
        "--k",
        "3",
        "--categorical",
        "Age",
        "--additive",
        "Spending Score (1-100)",
    ]);
    let segs = read_json(&out.join("segments.json"));
    let port = &segs["portfolio"];
    let cats: Vec<&str> = port["categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert!(
        cats.contains(&"Age") && !cats.contains(&"Region"),
        "{cats:?}"
    );
    let score = port["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["column"] == "Spending Score (1-100)")
        .unwrap();
    assert_eq!(score["additive"], true);
    let o = run(&[
        "run",
        "--quiet",
        "--input",
        input.to_str().unwrap(),
        "--out",
        dir.path().join("bad").to_str().unwrap(),
        "--features",
        "Annual Income (k$),Spending Score (1-100)",
        "--profile-features",
        "",
        "--categorical",
        "Nope",
    ]);
    assert_clean_error(&o, "Nope");
}
