//! Helpers shared by the integration tests: the binary, the reference data, and the
//! rule for what is required (`CARDSEG_REQUIRE_REFERENCE=1`: missing means failure).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn cardseg() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cardseg"));
    c.arg("--quiet");
    c
}

/// Runs cardseg and returns its output, failing the test with stderr when it fails.
pub fn run_ok(args: &[&str]) -> Output {
    let out = cardseg().args(args).output().expect("cardseg runs");
    assert!(
        out.status.success(),
        "cardseg {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[path = "../common/reference.rs"]
mod reference;
#[allow(unused_imports)]
pub use reference::{real_data as reference_data, required, skip_or_fail as skip};

pub fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

/// Writes `rows` synthetic customers (the generator's CC GENERAL schema).
pub fn generate(dir: &Path, rows: u64, seed: u64) -> PathBuf {
    let path = dir.join(format!("gen_{rows}_{seed}.csv"));
    run_ok(&[
        "generate",
        "--rows",
        &rows.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        s(&path),
    ]);
    path
}

/// The JSON document embedded in a dashboard page.
pub fn page_data(html: &str) -> serde_json::Value {
    let start_tag = "<script type=\"application/json\" id=\"cardseg-data\">";
    let start = html.find(start_tag).expect("the page embeds its data") + start_tag.len();
    let end = start
        + html[start..]
            .find("</script>")
            .expect("the data element is closed");
    serde_json::from_str(&html[start..end]).expect("the embedded data is JSON")
}

/// The page's markup with the contents of every <script> element removed.
pub fn markup_only(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::new();
    let mut at = 0;
    while let Some(i) = lower[at..].find("<script") {
        let open_end = at + i + lower[at + i..].find('>').expect("script tag closes") + 1;
        out.push_str(&html[at..open_end]);
        let close = open_end
            + lower[open_end..]
                .find("</script")
                .expect("script element closes");
        at = close;
    }
    out.push_str(&html[at..]);
    out
}

/// Every `src=`/`href=` value in `markup` that points off the machine.
pub fn external_refs(markup: &str) -> Vec<String> {
    let lower = markup.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut found = Vec::new();
    for attr in ["src", "href", "action", "poster", "srcset"] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(attr) {
            let mut j = from + i + attr.len();
            from = j;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if j >= bytes.len() || bytes[j] != b'=' {
                continue;
            }
            j += 1;
            while j < bytes.len()
                && (bytes[j].is_ascii_whitespace() || bytes[j] == b'"' || bytes[j] == b'\'')
            {
                j += 1;
            }
            let rest = &lower[j..];
            if rest.starts_with("http:")
                || rest.starts_with("https:")
                || rest.starts_with("//")
                || rest.starts_with("ftp:")
            {
                found.push(markup[j..(j + 60).min(markup.len())].to_string());
            }
        }
    }
    found
}

/// Segment names of a saved model, in segment order.
pub fn model_segment_names(model_json: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(model_json).unwrap()).unwrap();
    v["model"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

pub const HOSTILE_ID_COLUMN: &str = "<u>cust</u>";
pub const HOSTILE_SEGMENT_A: &str = "<script>alert('seg')</script>";
pub const HOSTILE_SEGMENT_B: &str = "\"><img src=x onerror=alert(2)> & <b>Co</b>";
pub const HOSTILE_COLUMN: &str = "<b onmouseover=alert(5)>SCORE</b>";
/// Customer ids are these followed by `#` and the row index.
pub const HOSTILE_IDS: [&str; 4] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "</script><script>alert(3)</script>",
    "&lt;&amp;\u{2028}<!--",
];

/// 40 customers in two clear groups, every id and one column name an injection attempt,
/// and naming rules whose names are HTML.
pub fn hostile_fixture(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let ids = HOSTILE_IDS;
    let mut csv = format!(
        "{HOSTILE_ID_COLUMN},BALANCE,PURCHASES,CREDIT_LIMIT,PAYMENTS,TENURE,{HOSTILE_COLUMN}\n"
    );
    for i in 0..40u32 {
        let high = i % 3 == 0;
        let j = f64::from(i % 7);
        let (b, p, c) = if high {
            (5000.0 + 90.0 * j, 3000.0 + 50.0 * j, 12000.0 + 100.0 * j)
        } else {
            (100.0 + 9.0 * j, 50.0 + 5.0 * j, 1000.0 + 10.0 * j)
        };
        let id = format!("{}#{i}", ids[i as usize % ids.len()]);
        let quoted = format!("\"{}\"", id.replace('"', "\"\""));
        csv.push_str(&format!("{quoted},{b},{p},{c},{},12,{}\n", b / 2.0, i));
    }
    let input = dir.join("hostile.csv");
    std::fs::write(&input, csv).unwrap();
    let rules = dir.join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            "[[rule]]\nname = {a:?}\nwhen = [\"BALANCE >= 1.5\"]\naction = \"<a href=javascript:alert(6)>call</a>\"\n\n[[rule]]\nname = {b:?}\nwhen = []\n",
            a = HOSTILE_SEGMENT_A,
            b = HOSTILE_SEGMENT_B
        ),
    )
    .unwrap();
    (input, rules)
}
