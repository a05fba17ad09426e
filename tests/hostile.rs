//! Hostile input: a corpus of bad inputs, generated here (no stored data files), run
//! through every command of the binary. Each case states its documented outcome; the
//! harness then checks, for every case:
//!
//! - the exit code (0 success, 1 error, 2 clap usage error) and no timeout;
//! - on error: exactly one stderr line starting with `error:` (for exit 1 stderr is that
//!   line and nothing else), naming the problem (keywords), at most 1,500 bytes;
//! - no panic text or backtrace anywhere;
//! - on error: the working directory is byte for byte what it was before the command
//!   (no output, no half-written file, no temporary sibling, a previous output intact);
//! - on success: no NaN / inf / "n/a" in any file written or on stdout, every model.json
//!   written loads and verifies, and label files have one row per customer.
//!
//! Cases for surfaces that other branches add (dashboard, Parquet/SQLite/PostgreSQL/HTTP
//! sources, `serve`) go into the same table: a name, the files to create, the arguments,
//! and the expected outcome.
//!
//! `CARDSEG_HOSTILE_REPORT=path` writes the table of outcomes and actual messages (the
//! README's "What bad input gets" section is built from it).

mod common;

use std::fs;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use common::*;

/// The documented outcome of a case.
enum Expect {
    /// Exit 0. `rows`: customers the label file written at `out` must list.
    Ok {
        out: Option<&'static str>,
        rows: Option<usize>,
    },
    /// Exit 1 with one line naming the problem (every keyword, case-insensitive).
    Err(Vec<&'static str>),
    /// Exit 2: clap rejected the command line.
    Usage(Vec<&'static str>),
}

type Setup = Box<dyn Fn(&Path)>;

struct Case {
    /// Command and class of bad input (also the report's row label).
    name: String,
    files: Vec<(String, Vec<u8>)>,
    setup: Option<Setup>,
    args: Vec<String>,
    expect: Expect,
}

fn case(name: &str, args: &[&str]) -> Case {
    Case {
        name: name.to_string(),
        files: Vec::new(),
        setup: None,
        args: args.iter().map(|s| s.to_string()).collect(),
        expect: Expect::Ok {
            out: None,
            rows: None,
        },
    }
}

impl Case {
    fn file(mut self, name: &str, bytes: impl Into<Vec<u8>>) -> Self {
        self.files.push((name.to_string(), bytes.into()));
        self
    }
    fn input(self, bytes: impl Into<Vec<u8>>) -> Self {
        self.file("in.csv", bytes)
    }
    fn setup(mut self, f: impl Fn(&Path) + 'static) -> Self {
        self.setup = Some(Box::new(f));
        self
    }
    fn ok(mut self, out: &'static str, rows: usize) -> Self {
        self.expect = Expect::Ok {
            out: Some(out),
            rows: Some(rows),
        };
        self
    }
    fn ok_any(mut self) -> Self {
        self.expect = Expect::Ok {
            out: None,
            rows: None,
        };
        self
    }
    fn err(mut self, keywords: &[&'static str]) -> Self {
        self.expect = Expect::Err(keywords.to_vec());
        self
    }
    fn usage(mut self, keywords: &[&'static str]) -> Self {
        self.expect = Expect::Usage(keywords.to_vec());
        self
    }
}

// ---------------------------------------------------------------------------------
// Generated inputs

const ROWS: usize = 60;

/// The base table: ROWS synthetic customers with the CC GENERAL schema, as a grid.
fn grid() -> Vec<Vec<String>> {
    static BASE: OnceLock<Vec<Vec<String>>> = OnceLock::new();
    BASE.get_or_init(|| {
        String::from_utf8(synthetic_csv(ROWS as u64, 7))
            .unwrap()
            .lines()
            .map(|l| l.split(',').map(String::from).collect())
            .collect()
    })
    .clone()
}

fn render(g: &[Vec<String>], delim: &str, eol: &str) -> Vec<u8> {
    let mut s = String::new();
    for row in g {
        s.push_str(&row.join(delim));
        s.push_str(eol);
    }
    s.into_bytes()
}

fn csv(g: &[Vec<String>]) -> Vec<u8> {
    render(g, ",", "\n")
}

fn base() -> Vec<u8> {
    csv(&grid())
}

fn col(g: &[Vec<String>], name: &str) -> usize {
    g[0].iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// The grid with the cell of data row `row` (1-based: file line row + 1) replaced.
fn with_cell(row: usize, column: &str, value: &str) -> Vec<Vec<String>> {
    let mut g = grid();
    let j = col(&g, column);
    g[row][j] = value.to_string();
    g
}

fn with_column_values(column: &str, f: impl Fn(usize) -> String) -> Vec<Vec<String>> {
    let mut g = grid();
    let j = col(&g, column);
    for (i, row) in g.iter_mut().enumerate().skip(1) {
        row[j] = f(i);
    }
    g
}

fn without_column(column: &str) -> Vec<Vec<String>> {
    let mut g = grid();
    let j = col(&g, column);
    for row in &mut g {
        row.remove(j);
    }
    g
}

fn with_extra_column(header: &str, f: impl Fn(usize) -> String) -> Vec<Vec<String>> {
    let mut g = grid();
    g[0].push(header.to_string());
    for (i, row) in g.iter_mut().enumerate().skip(1) {
        row.push(f(i));
    }
    g
}

/// The grid with two more numeric columns, named `Spend, total` (quoted in the header)
/// and `  padded  `.
fn odd_names() -> Vec<Vec<String>> {
    let mut g = grid();
    g[0].push(r#""Spend, total""#.to_string());
    g[0].push("  padded  ".to_string());
    for (i, row) in g.iter_mut().enumerate().skip(1) {
        row.push((i % 7).to_string());
        row.push((i % 5).to_string());
    }
    g
}

fn renamed(mut g: Vec<Vec<String>>, from: &str, to: &str) -> Vec<Vec<String>> {
    let j = col(&g, from);
    g[0][j] = to.to_string();
    g
}

fn first_rows(n: usize) -> Vec<Vec<String>> {
    grid().into_iter().take(n + 1).collect()
}

fn with_bytes_at(mut text: Vec<u8>, needle: &str, replacement: &[u8]) -> Vec<u8> {
    let at = text
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap_or_else(|| panic!("{needle} not in the text"));
    text.splice(at..at + needle.len(), replacement.iter().copied());
    text
}

/// Bytes that no text encoding produces: a seeded xorshift stream with NULs in it.
fn binary_noise(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn utf16le(text: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    for &b in text {
        out.extend_from_slice(&[b, 0]);
    }
    out
}

const FIVE_MB: usize = 5 << 20;

// ---------------------------------------------------------------------------------
// Models (trained once per test process, then damaged per case)

fn train(features: Option<&str>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("in.csv"), base()).unwrap();
    let mut args = vec![
        "--quiet", "run", "--input", "in.csv", "--out", "out", "--k", "3", "--n-init", "2",
    ];
    if let Some(f) = features {
        args.extend(["--features", f]);
    }
    let o = cardseg(dir.path(), &args);
    assert_eq!(
        o.code,
        Some(0),
        "training the fixture model failed: {}",
        o.stderr
    );
    fs::read(dir.path().join("out/model.json")).unwrap()
}

fn model() -> Vec<u8> {
    static M: OnceLock<Vec<u8>> = OnceLock::new();
    M.get_or_init(|| train(None)).clone()
}

/// A model trained on CASH_ADVANCE too, for inputs that lack it.
fn cash_model() -> Vec<u8> {
    static M: OnceLock<Vec<u8>> = OnceLock::new();
    M.get_or_init(|| train(Some("BALANCE,CASH_ADVANCE,CREDIT_LIMIT")))
        .clone()
}

/// The model text with the first digit after `"key": [[` (or `"key": `) changed.
fn edit_first_digit_after(text: &[u8], key: &str) -> Vec<u8> {
    let mut t = text.to_vec();
    let start = t
        .windows(key.len())
        .position(|w| w == key.as_bytes())
        .unwrap()
        + key.len();
    let i = (start..t.len())
        .find(|&i| t[i].is_ascii_digit() && t[i] != b'0')
        .unwrap();
    t[i] = if t[i] == b'9' { b'1' } else { t[i] + 1 };
    t
}

/// A model whose checksum is right but whose content is inconsistent (a writer bug).
fn inconsistent_model() -> Vec<u8> {
    let (mut m, _) = cardseg::model::Model::from_bytes(&model(), "fixture").unwrap();
    m.centroids_scaled[0].pop();
    m.to_json().unwrap().0.into_bytes()
}

/// A previous complete `run` output in `dir/out`.
fn previous_output(dir: &Path) {
    fs::write(dir.join("prev.csv"), csv(&first_rows(40))).unwrap();
    let o = cardseg(
        dir,
        &[
            "--quiet", "run", "--input", "prev.csv", "--out", "out", "--k", "2", "--n-init", "1",
        ],
    );
    assert_eq!(o.code, Some(0), "previous output: {}", o.stderr);
}

// ---------------------------------------------------------------------------------
// The table

fn run(extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["run", "--input", "in.csv", "--out", "out"]
        .map(String::from)
        .to_vec();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn cases() -> Vec<Case> {
    let run_case = |name: &str, extra: &[&str]| {
        let mut c = case(name, &[]);
        c.args = run(extra);
        c
    };
    let rules_unknown = "[[rule]]\nname = \"X\"\nwhen = [\"NO_SUCH_METRIC >= 2\"]\n";
    vec![
        // ---- run: shape of the file
        run_case("run: empty file", &[])
            .input("")
            .err(&["in.csv", "empty"]),
        run_case("run: only a UTF-8 BOM", &[])
            .input(b"\xEF\xBB\xBF".to_vec())
            .err(&["empty"]),
        run_case("run: blank lines only", &[])
            .input("\n\n\n")
            .err(&["no column names"]),
        run_case("run: header only", &[])
            .input(csv(&first_rows(0)))
            .err(&["no customer rows"]),
        run_case("run: header and blank lines", &[])
            .input([csv(&first_rows(0)), b"\n\n".to_vec()].concat())
            .err(&["no customer rows"]),
        run_case("run: header of empty names", &[])
            .input(",,,\n1,2,3\n")
            .err(&["no column names"]),
        run_case("run: missing feature column", &[])
            .input(csv(&without_column("CREDIT_LIMIT")))
            .err(&["in.csv", "line 1", "CREDIT_LIMIT not found", "--features"]),
        run_case("run: renamed column (case)", &[])
            .input(csv(&renamed(grid(), "BALANCE", "Balance")))
            .err(&["BALANCE not found", "did you mean Balance"]),
        // A name with a comma or spaces around it is given in double quotes, as in CSV.
        run_case(
            "run: names: quoted (comma, spaces)",
            &[
                "--features",
                r#""Spend, total","  padded  ",BALANCE"#,
                "--profile-features",
                "",
            ],
        )
        .input(csv(&odd_names()))
        .ok("out", ROWS),
        run_case("run: names: header listed quoted", &["--features", "nope"])
            .input(csv(&odd_names()))
            .err(&["nope not found", r#""Spend, total", "  padded  ""#]),
        run_case(
            "run: names: padded unquoted",
            &["--features", "  padded  ,BALANCE"],
        )
        .input(csv(&odd_names()))
        .err(&["padded not found", "put such a name in double quotes"]),
        run_case(
            "run: names: text column as a profiling feature",
            &["--profile-features", "region"],
        )
        .input(csv(&with_extra_column("region", |i| {
            ["N", "S", "E"][i % 3].to_string()
        })))
        .err(&[
            "in.csv:2: column region",
            "is not a number",
            "--categorical region",
        ]),
        run_case("run: duplicate column", &[])
            .input(csv(&renamed(grid(), "CASH_ADVANCE", "PURCHASES")))
            .err(&["PURCHASES appears 2 times"]),
        run_case("run: duplicate id column", &[])
            .input(csv(&renamed(grid(), "CASH_ADVANCE", "CUST_ID")))
            .err(&["CUST_ID appears 2 times"]),
        // ---- run: cells
        run_case("run: non-numeric cell", &[])
            .input(csv(&with_cell(5, "BALANCE", "abc")))
            .err(&["in.csv:6:", "column BALANCE", "\"abc\"", "not a number"]),
        run_case("run: NaN", &[])
            .input(csv(&with_cell(2, "PURCHASES", "NaN")))
            .err(&["in.csv:3:", "PURCHASES", "finite"]),
        run_case("run: inf", &[])
            .input(csv(&with_cell(2, "CREDIT_LIMIT", "inf")))
            .err(&["in.csv:3:", "finite"]),
        run_case("run: -Infinity", &[])
            .input(csv(&with_cell(9, "BALANCE", "-Infinity")))
            .err(&["in.csv:10:", "finite"]),
        run_case("run: overflowing 1e400", &[])
            .input(csv(&with_cell(3, "BALANCE", "1e400")))
            .err(&["in.csv:4:", "1e400", "range"]),
        run_case("run: huge finite 1e300", &[])
            .input(csv(&with_cell(3, "BALANCE", "1e300")))
            .err(&["in.csv:4:", "BALANCE", "larger than 1e15"]),
        run_case("run: huge finite 1e300 in a profile-only column", &[])
            .input(csv(&with_column_values("CASH_ADVANCE", |i| {
                format!("{}e300", i % 9 + 1)
            })))
            .ok("out", ROWS),
        run_case("run: thousands separator", &[])
            .input(csv(&with_cell(4, "PURCHASES", "\"1,234.50\"")))
            .err(&["in.csv:5:", "thousands separators"]),
        run_case("run: negative numbers", &[])
            .input(csv(&with_column_values("BALANCE", |i| {
                format!("{}", (i as f64 - 30.0) * 97.5)
            })))
            .ok("out", ROWS),
        run_case("run: zero credit limits (ratios divide by zero)", &[])
            .input(csv(&with_column_values("CREDIT_LIMIT", |i| {
                if i % 2 == 0 {
                    "0".into()
                } else {
                    format!("{}", i * 100)
                }
            })))
            .ok("out", ROWS),
        run_case("run: all-zero payments (index against a zero mean)", &[])
            .input(csv(&with_column_values("PAYMENTS", |_| "0".into())))
            .ok("out", ROWS),
        run_case("run: blank feature column", &[])
            .input(csv(&with_column_values("CREDIT_LIMIT", |_| String::new())))
            .err(&["CREDIT_LIMIT", "empty in every row"]),
        run_case("run: blank non-feature column", &[])
            .input(csv(&with_column_values("CASH_ADVANCE", |_| String::new())))
            .ok("out", ROWS),
        run_case("run: constant feature column", &[])
            .input(csv(&with_column_values("PURCHASES", |_| "100".into())))
            .err(&["PURCHASES", "same value"]),
        run_case("run: constant profile column", &[])
            .input(csv(&with_column_values("TENURE", |_| "12".into())))
            .ok("out", ROWS),
        run_case("run: feature varying by a subnormal amount", &[])
            .input(csv(&with_column_values("PURCHASES", |i| {
                if i == 3 {
                    "5e-324".into()
                } else {
                    "0".into()
                }
            })))
            .err(&["PURCHASES", "too little"]),
        run_case("run: ragged row (extra field)", &[])
            .input(csv(&{
                let mut g = grid();
                g[3].push("1".into());
                g
            }))
            .err(&["in.csv:4:", "19 fields", "header has 18"]),
        run_case("run: ragged row (missing field)", &[])
            .input(csv(&{
                let mut g = grid();
                g[7].pop();
                g
            }))
            .err(&["in.csv:8:", "17 fields"]),
        run_case("run: unterminated quote in the last column", &[])
            .input(csv(&with_extra_column("NOTE", |i| {
                if i == 10 {
                    "\"open".into()
                } else {
                    "ok".into()
                }
            })))
            .err(&["in.csv:11:", "quote"]),
        run_case("run: unterminated quote in a middle column", &[])
            .input(csv(&with_cell(10, "CASH_ADVANCE", "\"12")))
            .err(&["in.csv:11:", "fields"]),
        run_case("run: stray quote inside a number", &[])
            .input(csv(&with_cell(4, "BALANCE", "12\"3")))
            .err(&["in.csv:5:", "not a number"]),
        run_case("run: quoted numbers and quoted header", &[])
            .input(csv(&{
                let mut g = grid();
                for row in &mut g {
                    for c in row.iter_mut() {
                        *c = format!("\"{c}\"");
                    }
                }
                g
            }))
            .ok("out", ROWS),
        run_case("run: quoted text with delimiters and newlines", &[])
            .input(csv(&with_extra_column("NOTE", |i| {
                format!("\"line one, {i}\nline \"\"two\"\"\"")
            })))
            .ok("out", ROWS),
        // ---- run: encodings and delimiters (these must work)
        run_case("run: UTF-8 BOM", &[])
            .input([b"\xEF\xBB\xBF".to_vec(), base()].concat())
            .ok("out", ROWS),
        run_case("run: CRLF line ends", &[])
            .input(render(&grid(), ",", "\r\n"))
            .ok("out", ROWS),
        run_case("run: BOM and CRLF", &[])
            .input([b"\xEF\xBB\xBF".to_vec(), render(&grid(), ",", "\r\n")].concat())
            .ok("out", ROWS),
        run_case("run: CR-only line ends", &[])
            .input(render(&grid(), ",", "\r"))
            .ok("out", ROWS),
        run_case("run: no final newline", &[])
            .input(base()[..base().len() - 1].to_vec())
            .ok("out", ROWS),
        run_case("run: semicolons (sniffed)", &[])
            .input(render(&grid(), ";", "\n"))
            .ok("out", ROWS),
        run_case("run: tabs (sniffed)", &[])
            .input(render(&grid(), "\t", "\n"))
            .ok("out", ROWS),
        run_case("run: pipes (sniffed)", &[])
            .input(render(&grid(), "|", "\n"))
            .ok("out", ROWS),
        run_case("run: semicolons with decimal commas", &[])
            .input(render(&with_cell(2, "BALANCE", "1234,5"), ";", "\n"))
            .err(&["in.csv:3:", "decimal commas"]),
        run_case("run: invalid UTF-8 in an id", &[])
            .input(with_bytes_at(base(), "C10002", b"C1\xE90002"))
            .err(&["in.csv:3:", "CUST_ID", "UTF-8"]),
        run_case("run: invalid UTF-8 in the header", &[])
            .input(with_bytes_at(base(), "TENURE", b"TEN\xFFURE"))
            .err(&["in.csv:1:", "UTF-8"]),
        run_case("run: Latin-1 text in an unused column", &[])
            .input(with_bytes_at(
                csv(&with_extra_column("CITY", |i| {
                    if i == 4 {
                        "Mxnchen".into()
                    } else {
                        "x".into()
                    }
                })),
                "Mxnchen",
                b"M\xFCnchen",
            ))
            .ok("out", ROWS),
        run_case("run: UTF-16 file", &[])
            .input(utf16le(&base()))
            .err(&["UTF-16", "UTF-8"]),
        // ---- run: binary and compressed
        run_case("run: NUL byte on line 3", &[])
            .input([csv(&first_rows(1)), b"C9,1\x002\n".to_vec()].concat())
            .err(&["in.csv: line 3, byte 5: a NUL byte", "binary data"]),
        run_case("run: random binary", &[])
            .input(binary_noise(4096))
            .err(&["binary"]),
        case(
            "run: gzip",
            &["run", "--input", "in.csv.gz", "--out", "out"],
        )
        .file("in.csv.gz", gzip(&base()))
        .ok("out", ROWS),
        run_case("run: gzip of BOM and CRLF", &[])
            .input(gzip(
                &[b"\xEF\xBB\xBF".to_vec(), render(&grid(), ",", "\r\n")].concat(),
            ))
            .ok("out", ROWS),
        run_case("run: truncated gzip", &[])
            .input({
                let g = gzip(&base());
                g[..g.len() / 2].to_vec()
            })
            .err(&["damaged or truncated"]),
        run_case("run: gzip magic then garbage", &[])
            .input([vec![0x1f, 0x8b], binary_noise(500)].concat())
            .err(&["in.csv", "damaged"]),
        run_case("run: gzip of nothing", &[])
            .input(gzip(b""))
            .err(&["empty"]),
        run_case("run: ZIP archive", &[])
            .input([b"PK\x03\x04".to_vec(), binary_noise(300)].concat())
            .err(&["ZIP", "unzip"]),
        run_case("run: zstd", &[])
            .input([vec![0x28, 0xb5, 0x2f, 0xfd], binary_noise(300)].concat())
            .err(&["zstd"]),
        run_case("run: bzip2", &[])
            .input([b"BZh91AY&SY".to_vec(), binary_noise(300)].concat())
            .err(&["bzip2"]),
        run_case("run: xz", &[])
            .input([b"\xFD7zXZ\x00".to_vec(), binary_noise(300)].concat())
            .err(&["xz"]),
        run_case("run: Parquet", &[])
            .input([b"PAR1".to_vec(), binary_noise(300)].concat())
            .err(&["Parquet"]),
        run_case("run: SQLite", &[])
            .input([b"SQLite format 3\0".to_vec(), binary_noise(300)].concat())
            .err(&["SQLite"]),
        // ---- run: enormous values
        run_case("run: 5 MB text field", &[])
            .input(csv(&with_extra_column("NOTE", |i| {
                if i == 3 {
                    "x".repeat(FIVE_MB)
                } else {
                    "y".into()
                }
            })))
            .ok("out", ROWS),
        run_case("run: 5 MB number field", &[])
            .input(csv(&with_cell(3, "BALANCE", &"7".repeat(FIVE_MB))))
            .err(&["in.csv:4:", "BALANCE", "...", "range"]),
        run_case("run: 5 MB garbage in a feature", &[])
            .input(csv(&with_cell(3, "BALANCE", &"z".repeat(FIVE_MB))))
            .err(&["in.csv:4:", "BALANCE", "...", "not a number"]),
        run_case("run: 5 MB id", &[])
            .input(csv(&with_cell(2, "CUST_ID", &"C".repeat(FIVE_MB))))
            .ok("out", ROWS),
        run_case("run: 5 MB column name and a missing feature", &[])
            .input(csv(&renamed(
                without_column("CREDIT_LIMIT"),
                "CASH_ADVANCE",
                &"N".repeat(FIVE_MB),
            )))
            .err(&["CREDIT_LIMIT not found"]),
        run_case("run: newline in a column name and a missing feature", &[])
            .input(csv(&renamed(
                without_column("CREDIT_LIMIT"),
                "CASH_ADVANCE",
                "\"CASH\nADVANCE\"",
            )))
            .err(&["CREDIT_LIMIT not found", "CASH\\nADVANCE"]),
        // ---- run: ids
        run_case("run: duplicate ids", &[])
            .input(csv(&with_column_values("CUST_ID", |i| {
                format!("C{}", i % 7)
            })))
            .ok("out", ROWS),
        run_case("run: empty ids", &[])
            .input(csv(&with_column_values("CUST_ID", |i| {
                if i % 3 == 0 {
                    String::new()
                } else {
                    format!("C{i}")
                }
            })))
            .ok("out", ROWS),
        run_case("run: no id column", &[])
            .input(csv(&without_column("CUST_ID")))
            .ok("out", ROWS),
        run_case("run: --id-column absent", &["--id-column", "NOPE"])
            .input(base())
            .err(&["NOPE not found", "--id-column"]),
        run_case("run: --id-column is a feature", &["--id-column", "BALANCE"])
            .input(base())
            .err(&["BALANCE", "cannot also be a feature"]),
        // ---- run: k and other parameters
        run_case("run: fewer rows than k", &[])
            .input(csv(&first_rows(5)))
            .err(&["only 5 customers", "--k-max"]),
        run_case(
            "run: as many rows as k",
            &["--k", "3", "--k-min", "2", "--k-max", "3"],
        )
        .input(csv(&first_rows(3)))
        .err(&["only 3 customers"]),
        run_case("run: --k 0", &["--k", "0"])
            .input(base())
            .err(&["--k 0", "at least 2"]),
        run_case("run: --k 1", &["--k", "1"])
            .input(base())
            .err(&["--k 1", "at least 2"]),
        run_case("run: --k-min 1", &["--k-min", "1"])
            .input(base())
            .err(&["--k-min", "at least 2"]),
        run_case("run: --k-min > --k-max", &["--k-min", "5", "--k-max", "3"])
            .input(base())
            .err(&["--k-min 5", "larger than --k-max 3"]),
        run_case("run: --k-max huge", &["--k-max", "100000"])
            .input(base())
            .err(&["--k-max"]),
        run_case("run: --k abc", &["--k", "abc"])
            .input(base())
            .usage(&["--k", "abc"]),
        run_case("run: --k -3", &["--k", "-3"])
            .input(base())
            .usage(&["-3"]),
        run_case("run: --n-init 0", &["--n-init", "0"])
            .input(base())
            .usage(&["--n-init", "from 1 to 1000"]),
        run_case("run: --silhouette-sample 5", &["--silhouette-sample", "5"])
            .input(base())
            .usage(&["--silhouette-sample", "from 100 to"]),
        run_case("run: --missing bogus", &["--missing", "bogus"])
            .input(base())
            .usage(&["bogus"]),
        run_case("run: --features empty", &["--features", ""])
            .input(base())
            .err(&["empty column name"]),
        run_case(
            "run: --features listed twice",
            &["--features", "BALANCE,BALANCE"],
        )
        .input(base())
        .err(&["BALANCE", "twice"]),
        run_case("run: --delimiter of two characters", &["--delimiter", "ab"])
            .input(base())
            .usage(&["delimiter"]),
        run_case("run: wrong --delimiter", &["--delimiter", ";"])
            .input(base())
            .err(&["BALANCE not found"]),
        run_case("run: unknown flag", &["--frobnicate"])
            .input(base())
            .usage(&["--frobnicate"]),
        case("run: no --input", &["run", "--out", "out"]).usage(&["--input"]),
        run_case(
            "run: --missing drop, every row missing",
            &["--missing", "drop"],
        )
        .input(csv(&{
            let mut g = grid();
            let (a, b) = (col(&g, "BALANCE"), col(&g, "PURCHASES"));
            for (i, row) in g.iter_mut().enumerate().skip(1) {
                row[if i % 2 == 0 { a } else { b }] = String::new();
            }
            g
        }))
        .err(&["leaves nothing"]),
        run_case(
            "run: --missing drop, some rows missing",
            &["--missing", "drop"],
        )
        .input(csv(&with_column_values("PURCHASES", |i| {
            if i % 4 == 0 {
                String::new()
            } else {
                format!("{}", i * 10)
            }
        })))
        .ok("out", ROWS),
        run_case(
            "run: --naming-rules missing",
            &["--naming-rules", "rules.toml"],
        )
        .input(base())
        .err(&["rules.toml", "no such file"]),
        run_case(
            "run: --naming-rules not TOML",
            &["--naming-rules", "rules.toml"],
        )
        .input(base())
        .file("rules.toml", "[[rule]\nname = ")
        .err(&["rules.toml", "line 1", "invalid naming rules"]),
        run_case(
            "run: --naming-rules unknown metric",
            &["--naming-rules", "rules.toml"],
        )
        .input(base())
        .file("rules.toml", rules_unknown)
        .err(&["unknown metric NO_SUCH_METRIC"]),
        run_case(
            "run: --naming-rules /dev/zero",
            &["--naming-rules", "/dev/zero"],
        )
        .input(base())
        .err(&["/dev/zero", "not a regular file"]),
        run_case(
            "run: --naming-rules binary",
            &["--naming-rules", "rules.toml"],
        )
        .input(base())
        .file("rules.toml", binary_noise(1000))
        .err(&["rules.toml", "UTF-8"]),
        // ---- run: paths
        case(
            "run: input missing",
            &["run", "--input", "nope.csv", "--out", "out"],
        )
        .err(&["nope.csv", "no such file"]),
        case(
            "run: input is a directory",
            &["run", "--input", ".", "--out", "out"],
        )
        .err(&["directory"]),
        case(
            "run: input /dev/null",
            &["run", "--input", "/dev/null", "--out", "out"],
        )
        .err(&["/dev/null", "empty"]),
        case(
            "run: input /dev/zero",
            &["run", "--input", "/dev/zero", "--out", "out"],
        )
        .err(&["/dev/zero", "binary"]),
        case(
            "run: output parent is a regular file",
            &["run", "--input", "in.csv", "--out", "afile/out"],
        )
        .input(base())
        .file("afile", "x")
        .err(&["afile", "not a directory"]),
        case(
            "run: output under /proc",
            &[
                "run",
                "--input",
                "in.csv",
                "--out",
                "/proc/cardseg-hostile/out",
            ],
        )
        .input(base())
        .err(&["/proc/cardseg-hostile"]),
        case(
            "run: output in /proc itself",
            &["run", "--input", "in.csv", "--out", "/proc/out"],
        )
        .input(base())
        .err(&["/proc/out"]),
        run_case("run: existing output without --force", &[])
            .input(base())
            .setup(previous_output)
            .err(&["out", "already exists", "--force"]),
        run_case("run: existing output, --force, bad input", &["--force"])
            .input(csv(&with_cell(2, "BALANCE", "oops")))
            .setup(previous_output)
            .err(&["in.csv:3:", "not a number"]),
        run_case("run: existing output, --force, good input", &["--force"])
            .input(base())
            .setup(previous_output)
            .ok("out", ROWS),
        run_case(
            "run: --force over a directory that is not a cardseg output",
            &["--force"],
        )
        .input(base())
        .file("out/notes.txt", "precious")
        .err(&["out", "not a cardseg output"]),
        case(
            "run: --force over the input's own directory",
            &["run", "--input", "data/in.csv", "--out", "data", "--force"],
        )
        .file("data/in.csv", base())
        .err(&["data", "holds this command's input"]),
        run_case("run: output is an existing file", &[])
            .input(base())
            .file("out", "x")
            .err(&["out", "already exists"]),
        run_case("run: output is an existing file, --force", &["--force"])
            .input(base())
            .file("out", "x")
            .err(&["out", "not a directory"]),
        case(
            "run: output is .",
            &["run", "--input", "in.csv", "--out", "."],
        )
        .input(base())
        .err(&["not a usable output name"]),
        case(
            "run: output in new directories, bad input",
            &["run", "--input", "in.csv", "--out", "a/b/out"],
        )
        .input(csv(&with_cell(2, "BALANCE", "oops")))
        .err(&["not a number"]),
        case(
            "run: output in new directories",
            &["run", "--input", "in.csv", "--out", "a/b/out"],
        )
        .input(base())
        .ok("a/b/out", ROWS),
        run_case("run: empty existing output directory", &[])
            .input(base())
            .setup(|d| fs::create_dir(d.join("out")).unwrap())
            .ok("out", ROWS),
        // ---- predict
        case(
            "predict: good input (baseline)",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", model())
        .input(base())
        .ok("labels.csv", ROWS),
        case(
            "predict: model missing",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .input(base())
        .err(&["model.json", "no such file"]),
        case(
            "predict: model is a directory",
            &[
                "predict",
                "--model",
                ".",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .input(base())
        .err(&["directory"]),
        case(
            "predict: model empty",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", "")
        .input(base())
        .err(&["model model.json", "empty"]),
        case(
            "predict: model truncated",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", model()[..model().len() * 2 / 3].to_vec())
        .input(base())
        .err(&["model.json", "truncated"]),
        case(
            "predict: model with a centroid edited",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file(
            "model.json",
            edit_first_digit_after(&model(), "\"centroids_scaled\": ["),
        )
        .input(base())
        .err(&["model.json", "checksum"]),
        case(
            "predict: model with a fill value edited",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file(
            "model.json",
            edit_first_digit_after(&model(), "\"fill_value\": "),
        )
        .input(base())
        .err(&["checksum"]),
        case(
            "predict: model with a segment renamed",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file(
            "model.json",
            with_bytes_at(model(), "\"name\": \"", b"\"name\": \"X"),
        )
        .input(base())
        .err(&["checksum"]),
        case(
            "predict: model from a future version",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file(
            "model.json",
            with_bytes_at(model(), "\"format_version\": 1", b"\"format_version\": 7"),
        )
        .input(base())
        .err(&["newer", "format 7", "upgrade"]),
        case(
            "predict: model format version 0",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file(
            "model.json",
            with_bytes_at(model(), "\"format_version\": 1", b"\"format_version\": 0"),
        )
        .input(base())
        .err(&["format_version"]),
        case(
            "predict: model is a CSV file",
            &[
                "predict",
                "--model",
                "in.csv",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .input(base())
        .err(&["not valid model JSON"]),
        case(
            "predict: model is other JSON",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", "{\"hello\": [1, 2]}")
        .input(base())
        .err(&["not a cardseg model"]),
        case(
            "predict: model /dev/zero",
            &[
                "predict",
                "--model",
                "/dev/zero",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .input(base())
        .err(&["/dev/zero", "not a regular file"]),
        case(
            "predict: model of 65 MB",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .input(base())
        .setup(|d| {
            fs::File::create(d.join("model.json"))
                .unwrap()
                .set_len(65 << 20)
                .unwrap()
        })
        .err(&["larger"]),
        case(
            "predict: model inconsistent under a valid checksum",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", inconsistent_model())
        .input(base())
        .err(&["inconsistent"]),
        case(
            "predict: input lacks a model feature",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", cash_model())
        .input(csv(&without_column("CASH_ADVANCE")))
        .err(&["CASH_ADVANCE not found"]),
        case(
            "predict: input lacks the id column",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", model())
        .input(csv(&without_column("CUST_ID")))
        .err(&["CUST_ID not found"]),
        case(
            "predict: NaN in input",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", model())
        .input(csv(&with_cell(6, "BALANCE", "nan")))
        .err(&["in.csv:7:", "finite"]),
        case(
            "predict: missing feature values (filled)",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", model())
        .input(csv(&with_column_values("PURCHASES", |i| {
            if i % 5 == 0 {
                String::new()
            } else {
                format!("{i}")
            }
        })))
        .ok("labels.csv", ROWS),
        case(
            "predict: gzip input with BOM and CRLF",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv.gz",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", model())
        .file(
            "in.csv.gz",
            gzip(&[b"\xEF\xBB\xBF".to_vec(), render(&grid(), ",", "\r\n")].concat()),
        )
        .ok("labels.csv", ROWS),
        case(
            "predict: tab-separated input",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", model())
        .input(render(&grid(), "\t", "\n"))
        .ok("labels.csv", ROWS),
        case(
            "predict: header-only input",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", model())
        .input(csv(&first_rows(0)))
        .err(&["no customer rows"]),
        case(
            "predict: output exists",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "labels.csv",
            ],
        )
        .file("model.json", model())
        .input(base())
        .file("labels.csv", "old")
        .err(&["labels.csv", "already exists"]),
        case(
            "predict: output is an empty directory",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "outdir",
            ],
        )
        .file("model.json", model())
        .input(base())
        .setup(|d| fs::create_dir(d.join("outdir")).unwrap())
        .err(&["outdir", "directory"]),
        case(
            "predict: output under /proc",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "/proc/cardseg-hostile.csv",
            ],
        )
        .file("model.json", model())
        .input(base())
        .err(&["/proc"]),
        case(
            "predict: output parent is a regular file",
            &[
                "predict",
                "--model",
                "model.json",
                "--input",
                "in.csv",
                "--out",
                "afile/labels.csv",
            ],
        )
        .file("model.json", model())
        .input(base())
        .file("afile", "x")
        .err(&["afile", "not a directory"]),
        case(
            "predict: no --model",
            &["predict", "--input", "in.csv", "--out", "labels.csv"],
        )
        .input(base())
        .usage(&["--model"]),
        // ---- inspect
        case("inspect: empty file", &["inspect", "--input", "in.csv"])
            .input("")
            .err(&["empty"]),
        case("inspect: binary", &["inspect", "--input", "in.csv"])
            .input(binary_noise(2000))
            .err(&["binary"]),
        case(
            "inspect: invalid UTF-8 header",
            &["inspect", "--input", "in.csv"],
        )
        .input(with_bytes_at(base(), "BALANCE", b"BAL\xC0NCE"))
        .err(&["UTF-8"]),
        case("inspect: ragged", &["inspect", "--input", "in.csv"])
            .input("A,B\n1,2\n3\n")
            .err(&["in.csv:3:", "1 fields"]),
        case(
            "inspect: NaN, inf and 1e300 in columns",
            &["inspect", "--input", "in.csv"],
        )
        .input(csv(&{
            let mut g = with_cell(2, "BALANCE", "NaN");
            let j = col(&g, "PURCHASES");
            g[3][j] = "-inf".into();
            let j = col(&g, "CASH_ADVANCE");
            g[4][j] = "1e300".into();
            g
        }))
        .ok_any(),
        case(
            "inspect: semicolons, BOM, CRLF",
            &["inspect", "--input", "in.csv", "--json"],
        )
        .input([b"\xEF\xBB\xBF".to_vec(), render(&grid(), ";", "\r\n")].concat())
        .ok_any(),
        case("inspect: gzip", &["inspect", "--input", "in.csv.gz"])
            .file("in.csv.gz", gzip(&base()))
            .ok_any(),
        case(
            "inspect: input missing",
            &["inspect", "--input", "nope.csv"],
        )
        .err(&["nope.csv", "no such file"]),
        case(
            "inspect: --id-column absent",
            &["inspect", "--input", "in.csv", "--id-column", "ID"],
        )
        .input(base())
        .err(&["ID not found"]),
        // ---- generate
        case(
            "generate: --rows 0",
            &["generate", "--rows", "0", "--out", "g.csv"],
        )
        .err(&["--rows"]),
        case(
            "generate: --rows abc",
            &["generate", "--rows", "abc", "--out", "g.csv"],
        )
        .usage(&["abc"]),
        case(
            "generate: output exists",
            &["generate", "--rows", "10", "--out", "g.csv"],
        )
        .file("g.csv", "old")
        .err(&["g.csv", "already exists"]),
        case(
            "generate: output is a directory",
            &["generate", "--rows", "10", "--out", "d"],
        )
        .setup(|d| fs::create_dir(d.join("d")).unwrap())
        .err(&["d", "directory"]),
        case(
            "generate: output under /proc",
            &[
                "generate",
                "--rows",
                "10",
                "--out",
                "/proc/cardseg-hostile.csv",
            ],
        )
        .err(&["/proc"]),
        case(
            "generate: output parent is a regular file",
            &["generate", "--rows", "10", "--out", "afile/g.csv"],
        )
        .file("afile", "x")
        .err(&["afile", "not a directory"]),
        case(
            "generate: good (baseline)",
            &["generate", "--rows", "50", "--out", "g.csv"],
        )
        .ok_any(),
        // ---- demo
        case("demo: --rows 5", &["demo", "--rows", "5"]).err(&["--rows", "between 20"]),
        case(
            "demo: output is someone else's directory",
            &["demo", "--rows", "50", "--out", "mine"],
        )
        .file("mine/notes.txt", "precious")
        .err(&["mine", "already exists"]),
        case("demo: --k 1", &["demo", "--rows", "50", "--k", "1"]).err(&["at least 2"]),
        case(
            "demo: good (baseline)",
            &["demo", "--rows", "200", "--out", "demo"],
        )
        .ok("demo", 200),
    ]
}

// ---------------------------------------------------------------------------------
// The harness

/// Checks a successful run's outputs; returns problems.
fn check_success(
    dir: &Path,
    before: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
    o: &Outcome,
    out: Option<&str>,
    rows: Option<usize>,
) -> Vec<String> {
    let mut bad = Vec::new();
    let t = non_finite_tokens(&o.stdout);
    if !t.is_empty() {
        bad.push(format!("stdout shows non-finite numbers {t:?}"));
    }
    let after = snapshot(dir);
    for (p, bytes) in &after {
        if before.get(p) == Some(bytes) {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        let t = non_finite_tokens(&scannable(p, &text));
        if !t.is_empty() {
            bad.push(format!(
                "{} holds non-finite numbers {:?}",
                p.display(),
                &t[..t.len().min(3)]
            ));
        }
        if p.file_name().is_some_and(|n| n == "model.json") {
            if let Err(e) = cardseg::model::Model::load(&dir.join(p)) {
                bad.push(format!("{} does not load: {e}", p.display()));
            }
        }
        if p.file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".cardseg-tmp-"))
        {
            bad.push(format!("temporary file left behind: {}", p.display()));
        }
    }
    if let Some(out) = out {
        let path = dir.join(out);
        let labels = if path.is_dir() {
            for f in RUN_FILES {
                if !path.join(f).is_file() {
                    bad.push(format!("{out}/{f} is missing"));
                }
            }
            path.join("labels.csv")
        } else {
            path
        };
        if let (Some(rows), true) = (rows, labels.is_file()) {
            let n = label_rows(&labels);
            if n != rows {
                bad.push(format!(
                    "{} lists {n} customers, expected {rows}",
                    labels.display()
                ));
            }
        }
    }
    bad
}

struct Report {
    name: String,
    outcome: String,
    message: String,
    problems: Vec<String>,
}

fn run_case(c: &Case) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, bytes) in &c.files {
        let p = d.join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    if let Some(s) = &c.setup {
        s(d);
    }
    let before = snapshot(d);
    let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
    let mut r = Run::new(d, &args);
    r.timeout = Duration::from_secs(60);
    let o = r.go();
    let mut problems = match &c.expect {
        Expect::Ok { .. } => judge(&o, 0, &[]),
        Expect::Err(k) => judge(&o, 1, k),
        Expect::Usage(k) => judge(&o, 2, k),
    };
    match &c.expect {
        Expect::Ok { out, rows } => {
            if o.code == Some(0) {
                problems.extend(check_success(d, &before, &o, *out, *rows));
            }
        }
        Expect::Err(_) | Expect::Usage(_) => {
            let changes = diff(&before, &snapshot(d));
            if !changes.is_empty() {
                problems.push(format!(
                    "the failed command changed the directory: {changes:?}"
                ));
            }
        }
    }
    for leftover in [
        "/proc/cardseg-hostile",
        "/proc/out",
        "/proc/cardseg-hostile.csv",
    ] {
        if Path::new(leftover).exists() {
            problems.push(format!("{leftover} exists"));
        }
    }
    Report {
        name: c.name.clone(),
        outcome: match (&c.expect, o.code) {
            (Expect::Ok { .. }, _) => "works".into(),
            (_, Some(code)) => format!("error (exit {code})"),
            (_, None) => "killed".into(),
        },
        message: {
            let m = error_line(&o);
            if m.len() > 160 {
                format!(
                    "{}...",
                    &m[..m.char_indices().nth(157).map(|(i, _)| i).unwrap_or(m.len())]
                )
            } else {
                m
            }
        },
        problems,
    }
}

#[test]
fn hostile_corpus() {
    let cases = cases();
    assert!(cases.len() >= 40, "the corpus must hold at least 40 cases");
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(
            names.insert(c.name.clone()),
            "duplicate case name {}",
            c.name
        );
    }
    for cmd in ["run:", "predict:", "inspect:", "generate:", "demo:"] {
        assert!(
            cases.iter().any(|c| c.name.starts_with(cmd)),
            "no case for {cmd}"
        );
    }
    let only = std::env::var("CARDSEG_HOSTILE_ONLY").ok();
    let mut reports = Vec::new();
    for c in cases
        .iter()
        .filter(|c| only.as_deref().is_none_or(|o| c.name.contains(o)))
    {
        reports.push(run_case(c));
    }
    if let Ok(path) = std::env::var("CARDSEG_HOSTILE_REPORT") {
        let mut t = String::from("| Case | Outcome | Message |\n|---|---|---|\n");
        for r in &reports {
            t.push_str(&format!(
                "| {} | {} | `{}` |\n",
                r.name,
                r.outcome,
                r.message.replace('|', "\\|")
            ));
        }
        fs::write(path, t).unwrap();
    }
    let failures: Vec<String> = reports
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| {
            format!(
                "  {}: {}\n      message: {}",
                r.name,
                r.problems.join("; "),
                r.message
            )
        })
        .collect();
    eprintln!(
        "hostile corpus: {} cases, {} failed",
        reports.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} hostile cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The harness itself must be able to fail: a wrong expectation is reported.
#[test]
fn harness_detects_wrong_expectations() {
    let wrong = case("run: empty file expected to work", &[]);
    let mut wrong = wrong.input("");
    wrong.args = run(&[]);
    let r = run_case(&wrong.ok("out", 1));
    assert!(
        r.problems.iter().any(|p| p.contains("exit code")),
        "{:?}",
        r.problems
    );
    let mut kw = case("x", &[])
        .input("")
        .err(&["a keyword that is not there"]);
    kw.args = run(&[]);
    let r = run_case(&kw);
    assert!(
        r.problems.iter().any(|p| p.contains("lacks")),
        "{:?}",
        r.problems
    );
    assert!(!non_finite_tokens("a,NaN,b").is_empty());
    assert!(!non_finite_tokens("x -inf y").is_empty());
    assert!(!non_finite_tokens("| n/a |").is_empty());
    assert!(non_finite_tokens("information infinite nanny 1e-5").is_empty());
}
