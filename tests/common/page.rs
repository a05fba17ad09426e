//! Dashboard pages and their fixtures: synthetic inputs, the data a page embeds, its
//! markup without scripts, links off the machine, and ids and names that try to inject.

use std::path::{Path, PathBuf};

use super::{run_ok, s};

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

/// The text of the JSON data element a dashboard page embeds (`cardseg-data`).
pub fn page_data_text(html: &str) -> &str {
    let start_tag = "<script type=\"application/json\" id=\"cardseg-data\">";
    let start = html.find(start_tag).expect("the page embeds its data") + start_tag.len();
    let end = start
        + html[start..]
            .find("</script>")
            .expect("the data element is closed");
    &html[start..end]
}

/// The JSON document embedded in a dashboard page.
pub fn page_data(html: &str) -> serde_json::Value {
    serde_json::from_str(page_data_text(html)).expect("the embedded data is JSON")
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
pub fn hostile_fixture(dir: &Path) -> (PathBuf, PathBuf) {
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
