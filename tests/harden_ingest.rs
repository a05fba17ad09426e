//! The data layer under hostile input, end to end through the binary:
//!
//! - an astronomic number (1e300, 1.2e22, an integer beyond 1e15) in a used column is
//!   refused by every typed source (Parquet, SQLite, PostgreSQL, JSON over HTTP) exactly
//!   as the CSV reader refuses it: one line naming the source, row, column and value,
//!   nothing written; in a column that is not used it only makes that column text;
//! - a token given as a URL's user name never reaches a message or an output file;
//! - error line numbers of a CRLF file are those of the same file with LF line ends, on
//!   every reading path (parallel blocks, record by record, gzip);
//! - `--query` with several trailing semicolons, values cut in messages, header names kept
//!   exactly (trailing spaces, U+2028) through the model and the exported SQL.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;

mod common;

use common::{fail, fail_env, free_port, quiet, real_data, run_ok, s, stderr, Pg, PG_PASSWORD};

const HEADER: [&str; 6] = [
    "CUST_ID",
    "BALANCE",
    "PURCHASES",
    "CREDIT_LIMIT",
    "PAYMENTS",
    "TENURE",
];
const ROWS: usize = 30;

/// Row `r` (0-based) of the small table: an id and five ordinary numbers.
fn cells(r: usize) -> [f64; 5] {
    let x = r as f64;
    [
        100.0 + 37.0 * x,
        (r % 7) as f64 * 55.5,
        1000.0 + 250.0 * (r % 5) as f64,
        40.0 + 13.0 * x,
        12.0,
    ]
}

/// The small table as CSV text, with `bad` (row, column, text) put in place.
fn csv_text(bad: Option<(usize, usize, &str)>) -> String {
    let mut out = HEADER.join(",") + "\n";
    for r in 0..ROWS {
        let mut row = vec![format!("C{r:03}")];
        row.extend(cells(r).iter().map(|v| v.to_string()));
        if let Some((br, bc, text)) = bad {
            if br == r {
                row[bc] = text.to_string();
            }
        }
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

/// Asserts a refused huge value: one line naming `source`, row 3, BALANCE, the value
/// (short) and the bound.
fn assert_huge(err: &str, source: &str, value: &str) {
    assert!(err.contains(source), "source missing: {err}");
    assert!(err.contains("row 3: column BALANCE"), "{err}");
    assert!(err.contains(value), "value {value} missing: {err}");
    assert!(err.contains("larger than 1e15"), "{err}");
    assert!(err.len() < 600, "message too long: {err}");
}

#[test]
fn csv_refuses_a_huge_value_in_a_used_column() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("in.csv");
    std::fs::write(&f, csv_text(Some((2, 1, "1e300")))).unwrap();
    let out = dir.path().join("out");
    let err = fail(&["run", "--input", s(&f), "--out", s(&out)], &out);
    assert!(
        err.contains(":4: column BALANCE: \"1e300\" is larger than 1e15"),
        "{err}"
    );
}

// ------------------------------------------------------------------------ Parquet

fn write_parquet(path: &Path, balance: &[f64]) {
    use parquet::basic::{LogicalType, Repetition, Type as Phys};
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;
    let fields = HEADER
        .iter()
        .map(|n| {
            let b = if *n == "CUST_ID" {
                Type::primitive_type_builder(n, Phys::BYTE_ARRAY)
                    .with_logical_type(Some(LogicalType::String))
            } else {
                Type::primitive_type_builder(n, Phys::DOUBLE)
            };
            Arc::new(b.with_repetition(Repetition::REQUIRED).build().unwrap())
        })
        .collect();
    let schema = Arc::new(
        Type::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .unwrap(),
    );
    let props = Arc::new(WriterProperties::builder().build());
    let file = std::fs::File::create(path).unwrap();
    let mut w = SerializedFileWriter::new(file, schema, props).unwrap();
    let mut rg = w.next_row_group().unwrap();
    for j in 0..HEADER.len() {
        let mut col = rg.next_column().unwrap().unwrap();
        if j == 0 {
            let v: Vec<ByteArray> = (0..ROWS)
                .map(|r| ByteArray::from(format!("C{r:03}").as_str()))
                .collect();
            col.typed::<ByteArrayType>()
                .write_batch(&v, None, None)
                .unwrap();
        } else {
            let v: Vec<f64> = (0..ROWS)
                .map(|r| if j == 1 { balance[r] } else { cells(r)[j - 1] })
                .collect();
            col.typed::<DoubleType>()
                .write_batch(&v, None, None)
                .unwrap();
        }
        col.close().unwrap();
    }
    rg.close().unwrap();
    w.close().unwrap();
}

#[test]
fn parquet_refuses_a_huge_value_in_a_used_column() {
    let dir = tempfile::tempdir().unwrap();
    for (name, value, shown) in [
        ("a", 1e300, "1e300"),
        ("b", 1.2e22, "12000000000000000000000"),
    ] {
        let f = dir.path().join(format!("{name}.parquet"));
        let mut balance: Vec<f64> = (0..ROWS).map(|r| cells(r)[0]).collect();
        balance[2] = value;
        write_parquet(&f, &balance);
        let out = dir.path().join(format!("out-{name}"));
        let err = fail(&["run", "--input", s(&f), "--out", s(&out)], &out);
        assert_huge(&err, s(&f), shown);
        // predict reads through the same door.
        let model = dir.path().join("model-run");
        if !model.exists() {
            let csv = dir.path().join("ok.csv");
            std::fs::write(&csv, csv_text(None)).unwrap();
            run_ok(&["run", "--input", s(&csv), "--out", s(&model), "--k", "2"]);
        }
        let pred = dir.path().join(format!("pred-{name}.csv"));
        let err = fail(
            &[
                "predict",
                "--model",
                s(&model.join("model.json")),
                "--input",
                s(&f),
                "--out",
                s(&pred),
            ],
            &pred,
        );
        assert_huge(&err, s(&f), shown);
    }
}

// ------------------------------------------------------------------------- SQLite

fn sqlite_db(path: &Path, balance3: rusqlite::types::Value, extra: Option<f64>) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE cc (CUST_ID TEXT, BALANCE REAL, PURCHASES REAL, CREDIT_LIMIT REAL, PAYMENTS REAL, TENURE REAL, EXTRA REAL)",
    )
    .unwrap();
    for r in 0..ROWS {
        let v = cells(r);
        let balance = if r == 2 {
            balance3.clone()
        } else {
            rusqlite::types::Value::Real(v[0])
        };
        let extra = if r % 10 == 3 {
            extra.unwrap_or(1.0)
        } else {
            1.0
        };
        c.execute(
            "INSERT INTO cc VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            rusqlite::params![format!("C{r:03}"), balance, v[1], v[2], v[3], v[4], extra],
        )
        .unwrap();
    }
}

#[test]
fn sqlite_refuses_a_huge_value_in_a_used_column() {
    use rusqlite::types::Value;
    let dir = tempfile::tempdir().unwrap();
    for (name, value, shown) in [
        ("real", Value::Real(1e300), "1e300"),
        (
            "int",
            Value::Integer(9_000_000_000_000_000_000),
            "9000000000000000000",
        ),
        // Text in a REAL column is stored as a REAL by SQLite.
        ("text", Value::Text("1e300".into()), "1e300"),
    ] {
        let db = dir.path().join(format!("{name}.db"));
        sqlite_db(&db, value, None);
        let url = format!("sqlite://{}", db.display());
        let out = dir.path().join(format!("out-{name}"));
        let err = fail(
            &["run", "--input", &url, "--table", "cc", "--out", s(&out)],
            &out,
        );
        assert_huge(&err, &url, shown);
    }
}

/// A huge number in a column no run uses makes that column text, as in a CSV file:
/// the profile leaves it out instead of printing null means.
#[test]
fn a_huge_value_in_an_unused_column_makes_it_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    sqlite_db(&db, rusqlite::types::Value::Real(150.0), Some(1.7e308));
    let url = format!("sqlite://{}", db.display());
    let o = run_ok(&["inspect", "--input", &url, "--table", "cc", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = v.to_string();
    let extra = v["column_reports"]
        .as_array()
        .unwrap_or_else(|| panic!("no columns in {text}"))
        .iter()
        .find(|c| c["name"] == "EXTRA")
        .unwrap_or_else(|| panic!("no EXTRA in {text}"))
        .clone();
    assert_eq!(extra["kind"], "text", "{extra}");
    let out = dir.path().join("out");
    run_ok(&[
        "run",
        "--input",
        &url,
        "--table",
        "cc",
        "--out",
        s(&out),
        "--k",
        "2",
    ]);
    let profile = std::fs::read_to_string(out.join("segments.json")).unwrap();
    assert!(
        !profile.contains("\"EXTRA\""),
        "EXTRA is profiled: {profile}"
    );
}

// --------------------------------------------------------------------- PostgreSQL

#[test]
fn postgres_refuses_a_huge_value_in_a_used_column() {
    let Some(pg) = Pg::start() else { return };
    let mut c = pg.client();
    c.batch_execute(
        "CREATE TABLE cc (ord int, \"CUST_ID\" text, \"BALANCE\" double precision, \"PURCHASES\" double precision, \"CREDIT_LIMIT\" numeric, \"PAYMENTS\" bigint, \"TENURE\" int)",
    )
    .unwrap();
    for r in 0..ROWS {
        let v = cells(r);
        let balance = if r == 2 { 1e300 } else { v[0] };
        let credit = if r == 2 {
            "1.2e22".to_string()
        } else {
            v[2].to_string()
        };
        let payments: i64 = if r == 2 {
            9_000_000_000_000_000_000
        } else {
            v[3] as i64
        };
        c.execute(
            &format!("INSERT INTO cc VALUES ($1, $2, $3, $4, {credit}::numeric, $5, $6)"),
            &[
                &(r as i32),
                &format!("C{r:03}"),
                &balance,
                &v[1],
                &payments,
                &(v[4] as i32),
            ],
        )
        .unwrap();
    }
    let url = pg.url(PG_PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    for (cols, column, shown) in [
        ("\"BALANCE\"", "BALANCE", "1e300"),
        (
            "0::float8 AS \"BALANCE\", \"CREDIT_LIMIT\"",
            "CREDIT_LIMIT",
            "12000000000000000000000",
        ),
        (
            "\"PAYMENTS\" AS \"BALANCE\"",
            "BALANCE",
            "9000000000000000000",
        ),
    ] {
        let q = format!(
            "SELECT \"CUST_ID\", {cols}, 1::float8 AS \"PURCHASES\", 2::float8 AS \"CREDIT_LIMIT2\" FROM cc ORDER BY ord"
        );
        let feats = if column == "CREDIT_LIMIT" {
            "BALANCE,PURCHASES,CREDIT_LIMIT"
        } else {
            "BALANCE,PURCHASES"
        };
        let out = dir.path().join(format!("out-{column}-{}", shown.len()));
        let err = fail(
            &[
                "run",
                "--input",
                &url,
                "--query",
                &q,
                "--features",
                feats,
                "--profile-features",
                "PURCHASES",
                "--out",
                s(&out),
            ],
            &out,
        );
        assert!(!err.contains(PG_PASSWORD), "{err}");
        assert!(err.contains(&format!("row 3: column {column}")), "{err}");
        assert!(
            err.contains(shown) && err.contains("larger than 1e15"),
            "{err}"
        );
        assert!(err.contains("127.0.0.1"), "{err}");
    }
    // A query may end with any number of semicolons and spaces (PostgreSQL refuses a
    // second, empty statement).
    for q in [
        "SELECT \"CUST_ID\", \"PURCHASES\" FROM cc ORDER BY ord;;",
        "SELECT \"CUST_ID\", \"PURCHASES\" FROM cc ORDER BY ord ; ;\n ;\t",
    ] {
        let o = quiet(&["inspect", "--input", &url, "--query", q]);
        assert!(o.status.success(), "{q:?}: {}", stderr(&o));
    }
}

// ------------------------------------------------------------------- HTTP (JSON)

/// A loopback HTTP server answering `path → (content type, body)`; unknown paths get 404.
/// It listens before this returns, so the port is ready.
fn serve(pages: Vec<(&'static str, &'static str, String)>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pages = Arc::new(pages);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(100).flatten() {
            let pages = pages.clone();
            std::thread::spawn(move || answer(stream, &pages));
        }
    });
    port
}

fn answer(mut stream: TcpStream, pages: &[(&'static str, &'static str, String)]) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, ctype, body) = match pages.iter().find(|(p, _, _)| *p == path) {
        Some((_, ctype, body)) => ("200 OK", *ctype, body.as_str()),
        None => ("404 Not Found", "text/plain", "no such page"),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}

/// The small table as a JSON array, BALANCE of row 3 written as `balance3`.
fn json_text(balance3: &str) -> String {
    let rows: Vec<String> = (0..ROWS)
        .map(|r| {
            let v = cells(r);
            let balance = if r == 2 {
                balance3.to_string()
            } else {
                v[0].to_string()
            };
            format!(
                "{{\"CUST_ID\": \"C{r:03}\", \"BALANCE\": {balance}, \"PURCHASES\": {}, \"CREDIT_LIMIT\": {}, \"PAYMENTS\": {}, \"TENURE\": {}}}",
                v[1], v[2], v[3], v[4]
            )
        })
        .collect();
    format!("[{}]", rows.join(",\n"))
}

#[test]
fn json_over_http_refuses_a_huge_value_in_a_used_column() {
    let port = serve(vec![
        ("/float.json", "application/json", json_text("1e300")),
        (
            "/int.json",
            "application/json",
            json_text("9000000000000000000"),
        ),
        (
            "/uint.json",
            "application/json",
            json_text("18446744073709551615"),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    for (path, shown) in [
        ("/float.json", "1e300"),
        ("/int.json", "9000000000000000000"),
        ("/uint.json", "18446744073709551615"),
    ] {
        let url = format!("http://127.0.0.1:{port}{path}");
        let out = dir
            .path()
            .join(format!("out{}", path.replace(['/', '.'], "-")));
        let err = fail(&["run", "--input", &url, "--out", s(&out)], &out);
        assert_huge(&err, &url, shown);
    }
}

// ------------------------------------------------------------- tokens in URLs

/// Every file under `dir`, read whole.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_token_as_url_user_name_is_never_shown() {
    const SECRET: &str = "SECRETTOKEN9f2c";
    let port = serve(vec![
        ("/data.json", "application/json", json_text("150")),
        ("/huge.json", "application/json", json_text("1e300")),
    ]);
    let dir = tempfile::tempdir().unwrap();
    for (i, userinfo) in [
        SECRET.to_string(),
        format!("{SECRET}:"),
        format!("{SECRET}:pw{SECRET}"),
    ]
    .iter()
    .enumerate()
    {
        // A run that works: nothing it prints or writes holds the token.
        let url = format!("http://{userinfo}@127.0.0.1:{port}/data.json");
        let out = dir.path().join(format!("out{i}"));
        let o = common::run(&["run", "--input", &url, "--out", s(&out), "--k", "2"]);
        let err = stderr(&o);
        assert!(o.status.success(), "{err}");
        assert!(!err.contains(SECRET), "stderr holds the token: {err}");
        assert!(!contains(&o.stdout, SECRET), "stdout holds the token");
        for (name, bytes) in files(&out) {
            assert!(!contains(&bytes, SECRET), "{name} holds the token");
        }
        let model = std::fs::read_to_string(out.join("model.json")).unwrap();
        assert!(
            model.contains(&format!("http://***@127.0.0.1:{port}/data.json")),
            "training source not shown redacted: {model}"
        );
        let o = quiet(&["inspect", "--input", &url]);
        assert!(o.status.success());
        assert!(!contains(&o.stdout, SECRET) && !contains(&o.stderr, SECRET));
        // Failures: a bad value, a missing page, a server that is not there.
        let dead = free_port();
        for (url, needle) in [
            (
                format!("http://{userinfo}@127.0.0.1:{port}/huge.json"),
                "larger than 1e15",
            ),
            (
                format!("http://{userinfo}@127.0.0.1:{port}/nope.json"),
                "404",
            ),
            (
                format!("http://{userinfo}@127.0.0.1:{dead}/data.json"),
                "request failed",
            ),
        ] {
            let out = dir.path().join(format!("bad{i}"));
            let err = fail(&["run", "--input", &url, "--out", s(&out)], &out);
            assert!(err.contains(needle), "{err}");
            assert!(!err.contains(SECRET), "the token is shown: {err}");
            assert!(err.contains("http://***@127.0.0.1"), "{err}");
        }
    }
}

// ------------------------------------------------------------- CRLF line numbers

/// A change to one line of a file.
type Edit = dyn Fn(&str) -> String;

/// The real file with line `line` (1-based, a data row) broken by `edit`, with LF or
/// CRLF line ends.
fn real_with(real: &str, line: usize, edit: &Edit, crlf: bool) -> Vec<u8> {
    let mut out = String::with_capacity(real.len() + 10_000);
    for (i, l) in real.lines().enumerate() {
        if i + 1 == line {
            out.push_str(&edit(l));
        } else {
            out.push_str(l);
        }
        out.push_str(if crlf { "\r\n" } else { "\n" });
    }
    out.into_bytes()
}

#[test]
fn crlf_files_report_the_same_line_numbers_as_lf_files() {
    let Some(real) = real_data() else { return };
    // The real file has CRLF line ends; `lines` takes either.
    let text = std::fs::read_to_string(&real).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad_balance = |l: &str| {
        let mut f: Vec<&str> = l.split(',').collect();
        f[1] = "abc";
        f.join(",")
    };
    let extra_field = |l: &str| format!("{l},1");
    let quote_id = |l: &str| {
        let (id, rest) = l.split_once(',').unwrap();
        format!("\"{id}\",{rest}")
    };
    let edits: [(&str, &Edit, &str); 2] = [
        ("cell", &bad_balance, "column BALANCE: \"abc\""),
        ("ragged", &extra_field, "this row has 19 fields"),
    ];
    let mut n = 0;
    for line in [6usize, 7000] {
        for (what, edit, needle) in &edits {
            for crlf in [false, true] {
                for quoted in [false, true] {
                    let mut bytes = real_with(&text, line, *edit, crlf);
                    if quoted {
                        // A quote on line 3: from there on the file is read record by record.
                        let t = String::from_utf8(bytes).unwrap();
                        let eol = if crlf { "\r\n" } else { "\n" };
                        let mut ls: Vec<String> = t.split(eol).map(String::from).collect();
                        ls[2] = quote_id(&ls[2]);
                        bytes = ls.join(eol).into_bytes();
                    }
                    for gz in [false, true] {
                        n += 1;
                        let f = dir.path().join(format!("in{n}.csv"));
                        let data = if gz {
                            common::gzip(&bytes)
                        } else {
                            bytes.clone()
                        };
                        std::fs::write(&f, data).unwrap();
                        let out = dir.path().join(format!("out{n}"));
                        let err = fail_env(
                            &["run", "--input", s(&f), "--out", s(&out)],
                            &[("CARDSEG_CSV_BLOCK_BYTES", "4096")],
                            &out,
                        );
                        let want = format!("{}:{line}: ", f.display());
                        assert!(
                            err.contains(&want) && err.contains(needle),
                            "{what} on line {line}, crlf {crlf}, quoted {quoted}, gzip {gz}: {err}"
                        );
                    }
                }
            }
        }
    }
}

// --------------------------------------------------------------------- smaller ones

/// (PostgreSQL, which is stricter, is checked in
/// `postgres_refuses_a_huge_value_in_a_used_column`.)
#[test]
fn trailing_semicolons_and_spaces_end_a_query() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    sqlite_db(&db, rusqlite::types::Value::Real(150.0), None);
    let url = format!("sqlite://{}", db.display());
    for q in [
        "SELECT * FROM cc;;",
        "SELECT * FROM cc; ",
        "SELECT * FROM cc ; ;\n ;\t",
    ] {
        let o = quiet(&["inspect", "--input", &url, "--query", q]);
        assert!(o.status.success(), "{q:?}: {}", stderr(&o));
    }
}

#[test]
fn values_in_messages_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let digits = "9".repeat(300);
    // JSON: a 300-digit number is a float of 1e300.
    let port = serve(vec![("/d.json", "application/json", json_text(&digits))]);
    let url = format!("http://127.0.0.1:{port}/d.json");
    let out = dir.path().join("o1");
    let err = fail(&["run", "--input", &url, "--out", s(&out)], &out);
    assert!(err.contains("larger than 1e15"), "{err}");
    assert!(!err.contains(&"0".repeat(45)), "value shown whole: {err}");
    assert!(!err.contains(&"9".repeat(45)), "value shown whole: {err}");
    // SQLite text and CSV cells.
    let db = dir.path().join("x.db");
    sqlite_db(&db, rusqlite::types::Value::Text(digits.clone()), None);
    let out = dir.path().join("o2");
    let err = fail(
        &[
            "run",
            "--input",
            &format!("sqlite://{}", db.display()),
            "--table",
            "cc",
            "--out",
            s(&out),
        ],
        &out,
    );
    assert!(!err.contains(&"9".repeat(45)), "value shown whole: {err}");
    let f = dir.path().join("in.csv");
    std::fs::write(&f, csv_text(Some((2, 1, &digits)))).unwrap();
    let out = dir.path().join("o3");
    let err = fail(&["run", "--input", s(&f), "--out", s(&out)], &out);
    assert!(!err.contains(&"9".repeat(45)), "value shown whole: {err}");
}

/// Header names are kept exactly: spaces or a line separator at their ends are part of
/// the name the model stores and the exported SQL quotes, so the SQL runs on the table
/// the data came from; the name without them is refused with a hint.
#[test]
fn header_names_are_kept_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let id = "CUST_ID\u{2028}";
    let names = [
        id,
        "BALANCE ",
        "PUR\u{2028}CHASES",
        " CREDIT_LIMIT",
        "PAYMENTS",
        "TENURE",
    ];
    let mut text = names.join(",") + "\n";
    for r in 0..ROWS {
        let v = cells(r);
        text.push_str(&format!(
            "C{r:03},{},{},{},{},{}\n",
            v[0], v[1], v[2], v[3], v[4]
        ));
    }
    let f = dir.path().join("in.csv");
    std::fs::write(&f, &text).unwrap();
    // The names without their spaces are not the columns: one line saying so.
    let out = dir.path().join("bad1");
    let err = fail(&["run", "--input", s(&f), "--out", s(&out)], &out);
    assert!(
        err.contains("column CUST_ID not found (did you mean \"CUST_ID\\u{2028}\"?"),
        "{err}"
    );
    let err = fail(
        &["run", "--input", s(&f), "--out", s(&out), "--id-column", id],
        &out,
    );
    assert!(
        err.contains("column BALANCE not found (did you mean \"BALANCE \"?"),
        "{err}"
    );
    let out = dir.path().join("out");
    run_ok(&[
        "run",
        "--input",
        s(&f),
        "--out",
        s(&out),
        "--k",
        "2",
        "--id-column",
        id,
        "--features",
        "PUR\u{2028}CHASES,PAYMENTS",
        "--profile-features",
        "TENURE",
    ]);
    let model = std::fs::read_to_string(out.join("model.json")).unwrap();
    let profile = std::fs::read_to_string(out.join("segments.json")).unwrap();
    for n in [id, "PUR\u{2028}CHASES"] {
        let quoted = serde_json::to_string(n).unwrap();
        assert!(
            model.contains(&quoted) || model.contains(&quoted.replace('\u{2028}', "\\u2028")),
            "{n:?} not kept in model.json"
        );
    }
    for n in ["BALANCE ", " CREDIT_LIMIT"] {
        assert!(
            profile.contains(&serde_json::to_string(n).unwrap()),
            "{n:?} not profiled as named: {profile}"
        );
    }
    // The exported SQL runs in SQLite on a table with those exact names.
    let sql_path = dir.path().join("score.sql");
    run_ok(&[
        "export",
        "--model",
        s(&out.join("model.json")),
        "--format",
        "sql",
        "--dialect",
        "sqlite",
        "--table",
        "customers",
        "--out",
        s(&sql_path),
    ]);
    let sql = std::fs::read_to_string(&sql_path).unwrap();
    let c = rusqlite::Connection::open_in_memory().unwrap();
    c.create_scalar_function(
        "SQRT",
        1,
        rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(ctx.get::<f64>(0)?.sqrt()),
    )
    .unwrap();
    let cols: Vec<String> = names
        .iter()
        .map(|n| format!("\"{}\"", n.replace('"', "\"\"")))
        .collect();
    c.execute_batch(&format!("CREATE TABLE customers ({})", cols.join(", ")))
        .unwrap();
    for r in 0..ROWS {
        let v = cells(r);
        c.execute(
            "INSERT INTO customers VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![format!("C{r:03}"), v[0], v[1], v[2], v[3], v[4]],
        )
        .unwrap();
    }
    let mut stmt = c
        .prepare(sql.trim().trim_end_matches(';'))
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
    let ids: Vec<String> = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(ids.len(), ROWS);
    assert!(ids.iter().all(|i| i.starts_with('C')), "{ids:?}");
}
