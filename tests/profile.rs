//! Profiling and naming acceptance tests (issue 4) on the real file.

mod common;

use common::*;
use serde_json::Value;

fn run_real(extra: &[&str]) -> Option<(tempfile::TempDir, std::path::PathBuf)> {
    let data = real_data()?;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut args = vec![
        "run",
        "--quiet",
        "--input",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    Some((dir, out))
}

/// The index (segment / portfolio × 100) of a column or derived indicator in segments.json.
fn index_of(seg: &Value, metric: &str) -> f64 {
    for key in ["stats", "indicators"] {
        for s in seg[key].as_array().unwrap() {
            let name = s
                .get("column")
                .or_else(|| s.get("name"))
                .and_then(Value::as_str)
                .unwrap();
            if name == metric {
                return s["index"].as_f64().unwrap();
            }
        }
    }
    panic!("metric {metric} not in the profile");
}

#[test]
fn names_are_distinct_and_rationales_quote_the_profile() {
    let Some((_dir, out)) = run_real(&[]) else {
        return;
    };
    let segs: Value =
        serde_json::from_slice(&std::fs::read(out.join("segments.json")).unwrap()).unwrap();
    let list = segs["segments"].as_array().unwrap();
    let mut names: Vec<&str> = list.iter().map(|s| s["name"].as_str().unwrap()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), list.len(), "segment names collide");
    let customers: u64 = list.iter().map(|s| s["customers"].as_u64().unwrap()).sum();
    assert_eq!(customers, 8950);
    let share: f64 = list.iter().map(|s| s["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-9);
    // All 17 numeric CC GENERAL columns are profiled.
    assert_eq!(list[0]["stats"].as_array().unwrap().len(), 17);
    let mut quoted = 0;
    for seg in list {
        let rationale = seg["rationale"].as_str().unwrap();
        // Every "METRIC X.XX× portfolio" quoted is the profile's index (medians and
        // shares of non-zero customers are quoted as "METRIC median X× portfolio's").
        let pieces: Vec<&str> = rationale.split("× portfolio").collect();
        for piece in &pieces[..pieces.len() - 1] {
            let mut words = piece.rsplit(' ');
            let number = words.next().unwrap();
            let metric = words.next().unwrap();
            if metric == "median" || metric == "share" {
                continue;
            }
            let idx = index_of(seg, metric);
            assert_eq!(
                format!("{:.2}", idx / 100.0),
                number,
                "{rationale}: {metric}"
            );
            quoted += 1;
        }
        assert!(!seg["suggested_action"].as_str().unwrap().is_empty());
    }
    assert!(quoted >= list.len());
    // The same names reach labels.csv, the model and the summary.
    let labels = std::fs::read_to_string(out.join("labels.csv")).unwrap();
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    let summary_json: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    for seg in list {
        let name = seg["name"].as_str().unwrap();
        assert!(
            labels.contains(&format!(",{name},")) || labels.contains(&format!(",\"{name}\",")),
            "{name}"
        );
        assert!(summary_json["segments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == name));
    }
    let findings = summary_json["findings"].as_array().unwrap().len();
    assert!((3..=5).contains(&findings), "{findings} findings");
    assert!(summary.contains("## Key findings") && summary.contains("8,950"));
}

#[test]
fn custom_rules_rename_segments_and_bad_rules_fail_clearly() {
    let Some(data) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    // Every segment with above-average balance is "Borrowers"; the rest fall back.
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"Borrowers\"\nwhen = [\"BALANCE >= 1.0\"]\naction = \"Call them\"\n",
    )
    .unwrap();
    let out = dir.path().join("run");
    let o = run(&[
        "run",
        "--quiet",
        "--input",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--naming-rules",
        rules.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let segs: Value =
        serde_json::from_slice(&std::fs::read(out.join("segments.json")).unwrap()).unwrap();
    let mut borrowers = 0;
    for s in segs["segments"].as_array().unwrap() {
        let idx = index_of(s, "BALANCE");
        let name = s["name"].as_str().unwrap();
        if idx >= 100.0 {
            assert!(
                name.starts_with("Borrowers"),
                "{name} with balance index {idx}"
            );
            assert_eq!(s["suggested_action"], "Call them");
            borrowers += 1;
        } else {
            assert!(!name.starts_with("Borrowers"), "{name}");
        }
    }
    assert!(borrowers >= 1);
    for (body, needle) in [
        ("[[rule]\nname = ", "invalid naming rules"),
        (
            "[[rule]]\nname = \"x\"\nwhen = [\"BALANCE ~ 2\"]\n",
            "not of the form",
        ),
        (
            "[[rule]]\nname = \"x\"\nwhen = [\"NO_SUCH >= 2\"]\n",
            "unknown metric NO_SUCH",
        ),
        ("[[rule]]\nnom = \"x\"\n", "invalid naming rules"),
    ] {
        std::fs::write(&rules, body).unwrap();
        let bad_out = dir.path().join("bad");
        let o = run(&[
            "run",
            "--input",
            data.to_str().unwrap(),
            "--out",
            bad_out.to_str().unwrap(),
            "--naming-rules",
            rules.to_str().unwrap(),
        ]);
        assert_clean_error(&o, needle);
        assert!(!bad_out.exists());
    }
}
