//! Security: strings from the data cannot break out of the Markdown summary (or inject
//! terminal escapes), the model checksum catches every edit, and outputs are created
//! with the user's umask, never world-writable.
//!
//! When the data sources land (another branch), the "credentials are never printed"
//! cases go here: a PostgreSQL/HTTP URL with a password or token, through every error
//! path and every output file, must never show the secret.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use cardseg::model::Model;
use common::*;

// ---------------------------------------------------------------------------------
// Escaping

const SCRIPT: &str = "<script>alert(1)</script>";
const PIPE: &str = "a|b`c` \u{1b}[31mred";
const MD: &str = "# [x](javascript:alert(1)) *b* _i_ ~s~ !";

/// Occurrences of `ch` in `line` not escaped by a backslash.
fn unescaped(line: &str, ch: char) -> usize {
    let mut n = 0;
    let mut backslashes = 0;
    for c in line.chars() {
        if c == ch && backslashes % 2 == 0 {
            n += 1;
        }
        backslashes = if c == '\\' { backslashes + 1 } else { 0 };
    }
    n
}

/// A run whose column names, ids, segment names and input path are all hostile.
fn hostile_run(dir: &Path) -> std::path::PathBuf {
    let text = String::from_utf8(synthetic_csv(300, 11)).unwrap();
    let mut lines = text.lines();
    let header = lines
        .next()
        .unwrap()
        .replace("BALANCE,", &format!("{SCRIPT},"))
        .replace("PURCHASES,", &format!("{PIPE},"))
        .replace("CREDIT_LIMIT,", &format!("\"{MD}\nsecond line\","));
    let mut csv = header + "\n";
    for (i, l) in lines.enumerate() {
        let (_, rest) = l.split_once(',').unwrap();
        csv.push_str(&format!("\"<b>{i}</b>|`x`\",{rest}\n"));
    }
    let input = "in|`x`<i>.csv";
    fs::write(dir.join(input), csv).unwrap();
    fs::write(
        dir.join("rules.toml"),
        "[[rule]]\nname = \"<script>evil()</script> | `x`\"\nwhen = []\naction = \"[click](http://evil) <img src=x onerror=alert(1)>\"\n",
    )
    .unwrap();
    let features = format!("{SCRIPT},{PIPE},{MD}\nsecond line");
    let o = cardseg(
        dir,
        &[
            "run",
            "--input",
            input,
            "--out",
            "out",
            "--features",
            &features,
            "--naming-rules",
            "rules.toml",
            "--k",
            "3",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    for (what, text) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        assert!(
            !text.contains('\u{1b}'),
            "{what} carries a terminal escape from the data"
        );
    }
    dir.join("out")
}

#[test]
fn data_strings_cannot_break_out_of_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let out = hostile_run(tmp.path());
    let md = fs::read_to_string(out.join("summary.md")).unwrap();
    // The hostile names are there, escaped.
    assert!(md.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{md}");
    assert!(
        md.contains("&lt;script&gt;evil()&lt;/script&gt; \\| \\`x\\`"),
        "{md}"
    );
    assert!(!md.contains('<'), "raw < in summary.md:\n{md}");
    assert!(!md.contains('\u{1b}'), "terminal escape in summary.md");
    assert!(md.contains("\\*b\\* \\_i\\_ \\~s\\~ !"), "{md}");
    let headings = [
        "# Customer segmentation: executive summary",
        "## How reliable are these segments",
        "## Segments by size",
        "### Why these names",
        "## Key findings",
        "## How the number of segments was chosen",
        "## Data quality",
        "## Outlier customers",
        "## What changed since the previous run",
    ];
    let mut table_pipes = None;
    for line in md.lines() {
        if line.starts_with('#') {
            assert!(headings.contains(&line), "a heading the data made: {line}");
        }
        if line.starts_with("Model checksum: ") {
            continue;
        }
        assert_eq!(unescaped(line, '`'), 0, "unescaped backtick: {line}");
        // An escaped \] before ( is text; only a bare ]( makes a link.
        assert!(
            !line.replace("\\](", "").contains("]("),
            "link syntax: {line}"
        );
        for ch in ['[', ']', '_', '~'] {
            assert_eq!(unescaped(line, ch), 0, "unescaped {ch}: {line}");
        }
        if line.starts_with('|') {
            let pipes = unescaped(line, '|');
            match table_pipes {
                None => table_pipes = Some(pipes),
                Some(p) => assert_eq!(pipes, p, "a table row with another column count: {line}"),
            }
        } else {
            table_pipes = None;
        }
    }
    // Each row of the segment table has as many cells as the header: 4 + 3 features + 2,
    // plus the border.
    assert!(
        md.lines()
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .all(|l| unescaped(l, '|') == 10),
        "{md}"
    );

    // Machine outputs stay well-formed.
    for f in ["labels.csv", "segments.csv", "k_selection.csv"] {
        let bytes = fs::read(out.join(f)).unwrap();
        let mut rdr = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
        let width = rdr.byte_headers().unwrap().len();
        for r in rdr.byte_records() {
            assert_eq!(r.unwrap().len(), width, "{f}: ragged record");
        }
    }
    let labels = fs::read(out.join("labels.csv")).unwrap();
    let first = csv::Reader::from_reader(labels.as_slice())
        .records()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        &first[0], "<b>0</b>|`x`",
        "ids are kept verbatim in labels.csv"
    );
    for f in ["segments.json", "summary.json", "model.json"] {
        serde_json::from_slice::<serde_json::Value>(&fs::read(out.join(f)).unwrap()).unwrap();
    }
    Model::load(&out.join("model.json")).unwrap();
}

/// The escaping check itself can fail.
#[test]
fn escaping_check_detects_breakouts() {
    assert_eq!(unescaped("| a \\| b |", '|'), 2);
    assert_eq!(unescaped("\\\\|", '|'), 1);
    assert_eq!(cardseg::text::md_escape("a|b"), "a\\|b");
}

// ---------------------------------------------------------------------------------
// The checksum

fn trained_model(dir: &Path) -> Vec<u8> {
    fs::write(dir.join("in.csv"), synthetic_csv(400, 9)).unwrap();
    let o = cardseg(
        dir,
        &[
            "--quiet", "run", "--input", "in.csv", "--out", "m", "--k", "4", "--n-init", "2",
        ],
    );
    assert_eq!(o.code, Some(0), "{}", o.stderr);
    fs::read(dir.join("m/model.json")).unwrap()
}

/// For each byte of the text: whether it lies inside a JSON string (quotes excluded).
fn in_string(text: &[u8]) -> Vec<bool> {
    let (mut inside, mut escaped) = (false, false);
    text.iter()
        .map(|&b| {
            if inside {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    inside = false;
                    return false;
                }
                true
            } else {
                if b == b'"' {
                    inside = true;
                }
                false
            }
        })
        .collect()
}

#[test]
fn checksum_detects_every_edit() {
    let tmp = tempfile::tempdir().unwrap();
    let text = trained_model(tmp.path());
    let (original, _) = Model::from_bytes(&text, "m.json").unwrap();
    let start = text
        .windows(9)
        .position(|w| w == b"\"model\": ")
        .expect("model key")
        + 9;
    let strings = in_string(&text);
    let mut tally = std::collections::BTreeMap::<&str, (usize, usize)>::new();
    for i in start..text.len() {
        let b = text[i];
        let class = match (b, strings[i]) {
            (b'0'..=b'9', false) => "digit in a number",
            (b'0'..=b'9', true) => "digit in a string",
            (b'a'..=b'z' | b'A'..=b'Z', true) => "letter in a string",
            (b'a'..=b'z' | b'A'..=b'Z', false) => "letter in a literal or exponent",
            (b'-' | b'.', false) => "sign or point",
            (b' ' | b'\n', false) => "white space",
            (_, true) => "other byte in a string",
            _ => "structure or punctuation",
        };
        let replacement = match b {
            b'9' => b'8',
            b'0'..=b'8' => b + 1,
            b'z' | b'Z' => b - 1,
            b'a'..=b'y' | b'A'..=b'Y' => b + 1,
            b'-' => b'+',
            b'.' => b'5',
            b' ' => b'\t',
            b'\n' => b' ',
            b'"' => b'\'',
            _ => b'#',
        };
        let mut edited = text.clone();
        edited[i] = replacement;
        let entry = tally.entry(class).or_default();
        entry.0 += 1;
        match Model::from_bytes(&edited, "m.json") {
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "{msg}");
                if class.contains("digit") || class == "letter in a string" {
                    assert!(
                        msg.contains("checksum mismatch"),
                        "byte {i} ({class}, {:?} -> {:?}): expected the checksum error, got: {msg}",
                        b as char,
                        replacement as char
                    );
                }
                entry.1 += 1;
            }
            Ok((m, _)) => {
                // Only an edit that changes nothing the model means may load.
                assert!(
                    class == "white space",
                    "byte {i} ({class}) edited and still accepted"
                );
                assert_eq!(m, original);
            }
        }
    }
    eprintln!("edits by class (tried, refused): {tally:?}");
    for class in [
        "digit in a number",
        "digit in a string",
        "letter in a string",
    ] {
        let (tried, refused) = tally[class];
        assert!(
            tried > 10 && tried == refused,
            "{class}: {refused} of {tried} refused"
        );
    }
    // The checksum itself: every hex digit.
    let cs = text.windows(8).position(|w| w == b"\"sha256:").unwrap() + 8;
    for i in cs..cs + 64 {
        let mut edited = text.clone();
        edited[i] = if edited[i] == b'0' { b'1' } else { b'0' };
        let e = Model::from_bytes(&edited, "m.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
    }
}

// ---------------------------------------------------------------------------------
// Permissions

/// Modes of `path` and everything under it.
fn modes(path: &Path) -> Vec<(String, u32, bool)> {
    let mut v = Vec::new();
    let meta = fs::metadata(path).unwrap();
    v.push((
        path.display().to_string(),
        meta.permissions().mode() & 0o777,
        meta.is_dir(),
    ));
    if meta.is_dir() {
        for e in fs::read_dir(path).unwrap().flatten() {
            v.extend(modes(&e.path()));
        }
    }
    v
}

#[test]
fn outputs_follow_the_umask_and_are_never_world_writable() {
    for umask in [0o022u32, 0o077] {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::write(d.join("in.csv"), synthetic_csv(200, 4)).unwrap();
        let go = |args: &[&str]| {
            let mut r = Run::new(d, args);
            r.umask = Some(umask);
            let o = r.go();
            assert_eq!(o.code, Some(0), "{args:?}: {}", o.stderr);
        };
        go(&[
            "--quiet", "run", "--input", "in.csv", "--out", "out", "--k", "3", "--n-init", "1",
        ]);
        go(&[
            "--quiet", "run", "--input", "in.csv", "--out", "forced", "--k", "3", "--n-init", "1",
        ]);
        go(&[
            "--quiet", "run", "--input", "in.csv", "--out", "forced", "--k", "4", "--n-init", "1",
            "--force",
        ]);
        go(&[
            "--quiet",
            "run",
            "--input",
            "in.csv",
            "--out",
            "new/parent/out",
            "--k",
            "3",
            "--n-init",
            "1",
        ]);
        go(&[
            "--quiet",
            "predict",
            "--model",
            "out/model.json",
            "--input",
            "in.csv",
            "--out",
            "labels.csv",
        ]);
        go(&[
            "--quiet",
            "predict",
            "--model",
            "out/model.json",
            "--input",
            "in.csv",
            "--out",
            "labels.csv",
            "--force",
        ]);
        go(&["--quiet", "generate", "--rows", "100", "--out", "gen/g.csv"]);
        go(&["--quiet", "demo", "--rows", "100", "--out", "demo"]);
        let mut checked = 0;
        for top in ["out", "forced", "new", "labels.csv", "gen", "demo"] {
            for (p, mode, is_dir) in modes(&d.join(top)) {
                let want = if is_dir {
                    0o777 & !umask
                } else {
                    0o666 & !umask
                };
                assert_eq!(
                    mode, want,
                    "{p}: mode {mode:o} under umask {umask:03o}, expected {want:o}"
                );
                assert_eq!(mode & 0o002, 0, "{p} is world-writable");
                checked += 1;
            }
        }
        assert!(checked > 25, "only {checked} paths checked");
    }
}
