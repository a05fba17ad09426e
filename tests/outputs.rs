//! Every output of every command is byte-identical to the one recorded before the issue-15
//! refactor (tests/fixtures/outputs.sha256): `run` (with and without `--previous`), `predict`,
//! `inspect --json`, `export` (every SQL dialect and PMML), the dashboard rebuild, `compare`,
//! `drift` and `generate`, on the real file and on 100k generated customers — and on a million
//! when `CARDSEG_REQUIRE_REFERENCE=1` (CI) or `CARDSEG_OUTPUTS_1M=1`.
//! A refactor that moves code must not move one byte; a deliberate change of an output
//! re-records the fixture with `scripts/output-checksums.sh` and says why in the commit.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

fn sums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (sum, name) = l.split_once("  ").expect("sha256  name");
            (name.to_string(), sum.to_string())
        })
        .collect()
}

#[test]
fn every_output_is_byte_identical_to_the_pre_refactor_binary() {
    let Some(real) = common::real_data() else {
        return;
    };
    let million = common::required() || std::env::var("CARDSEG_OUTPUTS_1M").is_ok_and(|v| v == "1");
    let mut rows = vec!["100000"];
    if million {
        rows.push("1000000");
    }
    let work = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/output-checksums.sh"
        ))
        .arg(common::BIN)
        .arg(work.path().join("o"))
        .arg(&real)
        .args(&rows)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "output-checksums.sh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = sums(&String::from_utf8(out.stdout).unwrap());
    let want: BTreeMap<String, String> = sums(include_str!("fixtures/outputs.sha256"))
        .into_iter()
        .filter(|(name, _)| million || !name.starts_with("gen1000000/"))
        .collect();
    let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "the set of output files changed");
    let differ: Vec<&String> = want
        .iter()
        .filter(|(name, sum)| got.get(*name) != Some(*sum))
        .map(|(name, _)| name)
        .collect();
    assert!(
        differ.is_empty(),
        "outputs differ from the recorded ones: {differ:?}"
    );
}
