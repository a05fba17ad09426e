//! `cardseg export --format sql` inside real engines: SQLite (rusqlite, the bundled
//! engine) and PostgreSQL (a server started here with initdb/pg_ctl on 127.0.0.1, as
//! tests/sources.rs does). For every customer of the real CC GENERAL file (with its
//! missing values), of 100,000 generated customers scored by a model trained on another
//! seed (with values pushed far outside the training range and cells emptied), and of
//! the real file under hostile column and table names, the query's segment must be the
//! one `cardseg predict` wrote, and its distance within 1e-9 (relative) of the distance
//! cardseg's scoring kernel gives. The engines run DuckDB, Spark and PMML in
//! tests/python/test_export.py.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cardseg::export::sql::{Dialect, SqlOptions, SqlSource};
use cardseg::model::Model;
use common::{assert_clean_error, real_data, run, run_ok, s, Pg};

/// A customer table as loaded into the engines: the id and the model's feature cells
/// (None = empty cell = NULL), parsed with Rust's correctly rounded parser, as cardseg's.
struct Data {
    id: String,
    features: Vec<String>,
    rows: Vec<(String, Vec<Option<f64>>)>,
}

fn read_data(path: &Path, id: &str, features: &[String]) -> Data {
    let mut r = csv::Reader::from_path(path).unwrap();
    let h = r.headers().unwrap().clone();
    let pos = |n: &str| {
        h.iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let (ip, fp): (usize, Vec<usize>) = (pos(id), features.iter().map(|f| pos(f)).collect());
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            let vals = fp
                .iter()
                .map(|&j| {
                    let c = rec.get(j).unwrap().trim();
                    (!c.is_empty()).then(|| c.parse::<f64>().unwrap())
                })
                .collect();
            (rec.get(ip).unwrap().to_string(), vals)
        })
        .collect();
    Data {
        id: id.to_string(),
        features: features.to_vec(),
        rows,
    }
}

/// What every customer must get: `cardseg predict`'s segment (from its labels file)
/// and the distance of cardseg's scoring kernel (`predict::score_columns`).
struct Case {
    name: &'static str,
    model_path: PathBuf,
    model: Model,
    data: Data,
    expected: HashMap<String, (Option<u32>, f64)>,
}

fn case(name: &'static str, dir: &Path, model_path: PathBuf, data_path: &Path) -> Case {
    let (model, _) = Model::load(&model_path).unwrap();
    let labels = dir.join(format!("{name}.labels.csv"));
    run_ok(&[
        "predict",
        "--quiet",
        "--model",
        s(&model_path),
        "--input",
        s(data_path),
        "--out",
        s(&labels),
    ]);
    let mut lr = csv::Reader::from_path(&labels).unwrap();
    let predicted: Vec<(String, Option<u32>)> = lr
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].parse().ok())
        })
        .collect();
    let table =
        cardseg::predict::read_for_model(&model, &cardseg::ingest::Source::new(s(data_path)), None)
            .unwrap();
    let cols = cardseg::predict::feature_columns(&model, &table).unwrap();
    let scores = cardseg::predict::score_columns(&model, &model.centers_flat(), cols, true);
    assert_eq!(predicted.len(), scores.labels.len());
    let mut expected = HashMap::new();
    for (i, (id, seg)) in predicted.into_iter().enumerate() {
        // predict's file and the kernel agree (segment ids are index + 1).
        assert_eq!(seg, scores.labels[i].map(|l| model.segments[l as usize].id));
        assert!(expected.insert(id, (seg, scores.distances[i].0)).is_none());
    }
    let id = model.id_column.clone().unwrap();
    let data = read_data(data_path, &id, &model.features);
    assert_eq!(data.rows.len(), expected.len());
    Case {
        name,
        model_path,
        model,
        data,
        expected,
    }
}

type Answer = (String, Option<i64>, Option<String>, Option<f64>);

/// Every customer answered once, with predict's segment, the segment's name and the
/// kernel's distance (relative 1e-9); a missing or extra customer fails too.
fn compare(case: &Case, engine: &str, got: Vec<Answer>) {
    assert_eq!(
        got.len(),
        case.expected.len(),
        "{engine} {}: rows",
        case.name
    );
    let mut seen = std::collections::HashSet::new();
    let mut unscored = 0;
    for (id, seg, name, dist) in got {
        assert!(seen.insert(id.clone()), "{engine}: {id} twice");
        let (want_seg, want_d) = case.expected[&id];
        assert_eq!(
            seg.map(|v| v as u32),
            want_seg,
            "{engine} {}: customer {id}",
            case.name
        );
        match want_seg {
            Some(sg) => {
                let meta = case.model.segments.iter().find(|m| m.id == sg).unwrap();
                assert_eq!(name.as_deref(), Some(meta.name.as_str()), "{engine} {id}");
                let d = dist.unwrap();
                assert!(
                    (d - want_d).abs() <= 1e-9 * want_d.abs(),
                    "{engine} {}: customer {id}: distance {d} vs {want_d}",
                    case.name
                );
            }
            None => {
                unscored += 1;
                assert!(name.is_none() && dist.is_none(), "{engine} {id}");
            }
        }
    }
    eprintln!(
        "{engine} {}: {} customers identical ({unscored} unscored)",
        case.name,
        seen.len()
    );
}

fn export_sql(case: &Case, dialect: Dialect, table: &str) -> String {
    cardseg::export::sql::to_sql(
        &case.model,
        "sha256:test",
        &SqlOptions {
            dialect,
            source: SqlSource::Table(table.to_string()),
        },
    )
    .unwrap()
}

/// Writes `rows` of `data` renamed as columns `names` into a CSV file.
fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) {
    let mut w = csv::Writer::from_path(path).unwrap();
    w.write_record(header).unwrap();
    for r in rows {
        w.write_record(r).unwrap();
    }
    w.flush().unwrap();
}

/// The three cases: real file; 100k generated customers of another seed with values
/// outside the training range and emptied cells; the real file under hostile names.
fn cases(dir: &Path) -> Option<Vec<Case>> {
    let real = real_data()?;
    let mut out = Vec::new();
    // (a) the real file, its own model.
    let m = dir.join("real");
    run_ok(&[
        "run",
        "--quiet",
        "--no-dashboard",
        "--input",
        s(&real),
        "--out",
        s(&m),
    ]);
    out.push(case("real", dir, m.join("model.json"), &real));

    // (b) train on 20,000 customers of seed 7, score 100,000 of seed 8, a share of them
    // pushed outside the training range (x5, negative) or emptied.
    let train = dir.join("train.csv");
    let score = dir.join("score.csv");
    run_ok(&[
        "generate",
        "--rows",
        "20000",
        "--seed",
        "7",
        "--out",
        s(&train),
    ]);
    run_ok(&[
        "generate",
        "--rows",
        "100000",
        "--seed",
        "8",
        "--out",
        s(&score),
    ]);
    let mut r = csv::Reader::from_path(&score).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let col = |n: &str| header.iter().position(|c| c == n).unwrap();
    let (b, p, c) = (col("BALANCE"), col("PURCHASES"), col("CREDIT_LIMIT"));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let mut v: Vec<String> = rec.unwrap().iter().map(String::from).collect();
        let num = |s: &str| s.parse::<f64>().unwrap_or(0.0);
        if i % 9 == 0 {
            v[b] = format!("{}", num(&v[b]) * 5.0 + 250_000.0);
        }
        if i % 13 == 0 {
            v[p] = format!("{}", -num(&v[p]) - 1234.5);
        }
        if i % 17 == 0 {
            v[c] = String::new();
        }
        if i % 19 == 0 {
            v[b] = String::new();
        }
        rows.push(v);
    }
    write_csv(&score, &header, &rows);
    let m = dir.join("gen");
    run_ok(&[
        "run",
        "--quiet",
        "--no-dashboard",
        "--input",
        s(&train),
        "--out",
        s(&m),
    ]);
    let gen = case("generated 100k", dir, m.join("model.json"), &score);
    // Values beyond the training range on both sides, and missing cells, are there.
    let sc = &gen.model.scaler;
    let outside = |j: usize| {
        gen.data
            .rows
            .iter()
            .filter(move |(_, v)| v[j].is_some_and(|x| x > sc.data_max[j] || x < sc.data_min[j]))
    };
    assert!(outside(0).count() > 5000 && outside(1).count() > 5000);
    assert!(gen.data.rows.iter().filter(|(_, v)| v[2].is_none()).count() > 5000);
    out.push(gen);

    // (c) the real file with hostile column names.
    let mut r = csv::Reader::from_path(&real).unwrap();
    let mut header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let rename = [
        ("CUST_ID", "Customer \"ID\" `x`"),
        ("BALANCE", "Balance ($) \"; DROP TABLE x; --"),
        ("PURCHASES", "Purchases (k$) `; DROP TABLE x; -- it's"),
        ("CREDIT_LIMIT", "Credit Limit [€] \\ 'q'"),
    ];
    for (from, to) in rename {
        let i = header.iter().position(|c| c == from).unwrap();
        header[i] = to.to_string();
    }
    let rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    let hostile = dir.join("hostile.csv");
    write_csv(&hostile, &header, &rows);
    let m = dir.join("hostile");
    let feats = format!("{},{},{}", rename[1].1, rename[2].1, rename[3].1);
    run_ok(&[
        "run",
        "--quiet",
        "--no-dashboard",
        "--input",
        s(&hostile),
        "--features",
        &feats,
        "--id-column",
        rename[0].1,
        "--out",
        s(&m),
    ]);
    out.push(case("hostile names", dir, m.join("model.json"), &hostile));
    Some(out)
}

/// The hostile table name every engine gets the hostile case under.
const HOSTILE_TABLE: &str = "cust \"; DROP TABLE x; -- `";

fn table_for(case: &Case) -> &'static str {
    if case.name == "hostile names" {
        HOSTILE_TABLE
    } else {
        "customers"
    }
}

// ------------------------------------------------------------------------- SQLite

fn sqlite_load(c: &rusqlite::Connection, table: &str, data: &Data) {
    let q = |n: &str| Dialect::Sqlite.quote_ident(n);
    let mut cols = vec![format!("{} TEXT", q(&data.id))];
    cols.extend(data.features.iter().map(|f| format!("{} REAL", q(f))));
    c.execute_batch(&format!(
        "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} ({});",
        cols.join(", "),
        t = q(table)
    ))
    .unwrap();
    let marks: Vec<String> = (1..=data.features.len() + 1)
        .map(|i| format!("?{i}"))
        .collect();
    let tx = c.unchecked_transaction().unwrap();
    {
        let mut st = tx
            .prepare(&format!(
                "INSERT INTO {} VALUES ({})",
                q(table),
                marks.join(", ")
            ))
            .unwrap();
        for (id, vals) in &data.rows {
            let mut p: Vec<&dyn rusqlite::ToSql> = vec![id];
            for v in vals {
                p.push(v);
            }
            st.execute(p.as_slice()).unwrap();
        }
    }
    tx.commit().unwrap();
}

fn sqlite_conn(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    use rusqlite::functions::FunctionFlags;
    c.create_scalar_function(
        "sqrt",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(ctx.get::<Option<f64>>(0)?.map(f64::sqrt)),
    )
    .unwrap();
    c
}

fn sqlite_answers(c: &rusqlite::Connection, sql: &str) -> rusqlite::Result<Vec<Answer>> {
    let mut st = c.prepare(sql)?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    rows.collect()
}

#[test]
fn sqlite_scores_every_customer_like_predict() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cases) = cases(dir.path()) else {
        return;
    };
    let db = dir.path().join("c.db");
    let c = sqlite_conn(&db);
    c.execute_batch("CREATE TABLE x (v INTEGER); INSERT INTO x VALUES (1);")
        .unwrap();
    for case in &cases {
        let table = table_for(case);
        sqlite_load(&c, table, &case.data);
        for dialect in [Dialect::Sqlite, Dialect::Ansi] {
            let got = sqlite_answers(&c, &export_sql(case, dialect, table)).unwrap();
            compare(case, &format!("sqlite ({})", dialect.name()), got);
        }
        // The hostile names were data, never code: both tables are still there.
        let n: i64 = c
            .query_row(
                &format!(
                    "SELECT count(*) FROM {}",
                    Dialect::Sqlite.quote_ident(table)
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n as usize, case.data.rows.len());
        let x: i64 = c
            .query_row("SELECT count(*) FROM x", [], |r| r.get(0))
            .unwrap();
        assert_eq!(x, 1);
    }
    // A table without one of the features: an error when the query is compiled, not
    // NULLs (SQLite would read an unqualified unknown "name" as a string).
    let case = &cases[0];
    c.execute_batch(
        "CREATE TABLE partial AS SELECT \"CUST_ID\", \"BALANCE\", \"PURCHASES\" FROM \"customers\"",
    )
    .unwrap();
    for dialect in [Dialect::Sqlite, Dialect::Ansi] {
        let e = sqlite_answers(&c, &export_sql(case, dialect, "partial"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no such column") && e.contains("CREDIT_LIMIT"),
            "{e}"
        );
    }
}

/// The drop policy: a customer with a missing feature gets a row with NULL segment,
/// name and distance, as predict leaves its label empty.
#[test]
fn sqlite_drop_policy_leaves_rows_unscored() {
    let Some(real) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("drop");
    run_ok(&[
        "run",
        "--quiet",
        "--no-dashboard",
        "--missing",
        "drop",
        "--input",
        s(&real),
        "--out",
        s(&m),
    ]);
    let case = case("drop policy", dir.path(), m.join("model.json"), &real);
    assert!(case.expected.values().any(|v| v.0.is_none()));
    let c = sqlite_conn(&dir.path().join("d.db"));
    sqlite_load(&c, "customers", &case.data);
    for dialect in [Dialect::Sqlite, Dialect::Ansi] {
        let got = sqlite_answers(&c, &export_sql(&case, dialect, "customers")).unwrap();
        compare(&case, &format!("sqlite ({})", dialect.name()), got);
    }
}

// --------------------------------------------------------------------- PostgreSQL

fn pg_load(c: &mut postgres::Client, table: &str, data: &Data) {
    let q = |n: &str| Dialect::Postgres.quote_ident(n);
    let mut cols = vec![format!("{} text", q(&data.id))];
    cols.extend(
        data.features
            .iter()
            .map(|f| format!("{} double precision", q(f))),
    );
    c.batch_execute(&format!(
        "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} ({});",
        cols.join(", "),
        t = q(table)
    ))
    .unwrap();
    // CSV through COPY: an empty unquoted field is NULL; numbers in shortest round-trip
    // text, which PostgreSQL's float8 input parses back to the same doubles.
    let mut text = String::new();
    for (id, vals) in &data.rows {
        text.push('"');
        text.push_str(&id.replace('"', "\"\""));
        text.push('"');
        for v in vals {
            text.push(',');
            if let Some(x) = v {
                text.push_str(&format!("{x:e}"));
            }
        }
        text.push('\n');
    }
    let mut w = c
        .copy_in(&format!("COPY {} FROM STDIN WITH (FORMAT csv)", q(table)))
        .unwrap();
    std::io::Write::write_all(&mut w, text.as_bytes()).unwrap();
    w.finish().unwrap();
}

fn pg_answers(c: &mut postgres::Client, sql: &str) -> Result<Vec<Answer>, postgres::Error> {
    Ok(c.query(sql, &[])?
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get::<_, Option<i32>>(1).map(i64::from),
                r.get(2),
                r.get(3),
            )
        })
        .collect())
}

#[test]
fn postgres_scores_every_customer_like_predict() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cases) = cases(dir.path()) else {
        return;
    };
    let Some(pg) = Pg::start() else { return };
    let mut c = pg.client();
    c.batch_execute("CREATE TABLE x (v integer); INSERT INTO x VALUES (1);")
        .unwrap();
    for case in &cases {
        let table = table_for(case);
        pg_load(&mut c, table, &case.data);
        for dialect in [Dialect::Postgres, Dialect::Ansi] {
            let got = pg_answers(&mut c, &export_sql(case, dialect, table)).unwrap();
            compare(case, &format!("postgres ({})", dialect.name()), got);
        }
        let n: i64 = c
            .query_one(
                &format!(
                    "SELECT count(*) FROM {}",
                    Dialect::Postgres.quote_ident(table)
                ),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(n as usize, case.data.rows.len());
        let x: i64 = c.query_one("SELECT count(*) FROM x", &[]).unwrap().get(0);
        assert_eq!(x, 1);
    }
    // --query as a subquery, through the CLI's file, over a schema-qualified table.
    let case = &cases[0];
    pg_load(&mut c, "customers", &case.data);
    c.batch_execute("CREATE SCHEMA bank; CREATE TABLE bank.cards AS SELECT * FROM customers;")
        .unwrap();
    let out = dir.path().join("q.sql");
    run_ok(&[
        "export",
        "--quiet",
        "--model",
        s(&case.model_path),
        "--format",
        "sql",
        "--dialect",
        "postgres",
        "--query",
        "SELECT * FROM bank.cards WHERE true;",
        "--out",
        s(&out),
    ]);
    let got = pg_answers(&mut c, &std::fs::read_to_string(&out).unwrap()).unwrap();
    compare(case, "postgres (--query)", got);
    let out2 = dir.path().join("t.sql");
    run_ok(&[
        "export",
        "--quiet",
        "--model",
        s(&case.model_path),
        "--format",
        "sql",
        "--dialect",
        "postgres",
        "--table",
        "bank.cards",
        "--out",
        s(&out2),
    ]);
    let got = pg_answers(&mut c, &std::fs::read_to_string(&out2).unwrap()).unwrap();
    compare(case, "postgres (--table schema.name)", got);
    // A feature missing from the table: an error, not NULLs.
    c.batch_execute(
        "CREATE TABLE partial AS SELECT \"CUST_ID\", \"BALANCE\", \"PURCHASES\" FROM customers",
    )
    .unwrap();
    let e = pg_answers(&mut c, &export_sql(case, Dialect::Postgres, "partial")).unwrap_err();
    let msg = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_default();
    assert!(
        msg.contains("CREDIT_LIMIT") && msg.contains("does not exist"),
        "{msg}"
    );
}

// ------------------------------------------------------------------ refused models

/// Re-signs `model` (a valid checksum over edited content) into `path`.
fn write_model(model: &Model, path: &Path) {
    let (text, _) = model.to_json().unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn unsound_models_are_refused_and_nothing_is_written() {
    let Some(real) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    run_ok(&[
        "run",
        "--quiet",
        "--no-dashboard",
        "--input",
        s(&real),
        "--out",
        s(&m),
    ]);
    let (model, _) = Model::load(&m.join("model.json")).unwrap();
    let out = dir.path().join("out.sql");
    let export = |model_path: &Path, format: &str| {
        run(&[
            "export",
            "--model",
            s(model_path),
            "--format",
            format,
            "--out",
            s(&out),
        ])
    };
    // A centroid too large to square, re-signed so the checksum holds.
    let mut huge = model.clone();
    huge.centroids_scaled[2][1] = 1e300;
    let p = dir.path().join("huge.json");
    write_model(&huge, &p);
    for format in ["sql", "pmml"] {
        let o = export(&p, format);
        assert_clean_error(
            &o,
            "huge.json: is inconsistent: centroid 3 has the value 1e300 for feature PURCHASES",
        );
        assert!(!out.exists());
    }
    // A scaler value out of range.
    let mut bad = model.clone();
    bad.scaler.min[0] = -1e200;
    let p = dir.path().join("scaler.json");
    write_model(&bad, &p);
    assert_clean_error(
        &export(&p, "sql"),
        "the scaler's offset (min) of feature BALANCE",
    );
    assert!(!out.exists());
    // NaN and infinity cannot be written in a model file (JSON has no such numbers, and
    // the loader refuses them); a model built in memory is refused by the library.
    let mut nan = model.clone();
    nan.centroids_scaled[0][0] = f64::NAN;
    let mut inf = model.clone();
    inf.scaler.scale[2] = f64::INFINITY;
    for (m, needle) in [
        (&nan, "NaN for feature BALANCE"),
        (&inf, "scale of feature CREDIT_LIMIT is inf"),
    ] {
        let e = cardseg::export::sql::to_sql(m, "sha256:x", &SqlOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(needle) && e.contains("cannot be exported"),
            "{e}"
        );
        let e = cardseg::export::pmml::to_pmml(m, "sha256:x")
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e}");
    }
    let text = std::fs::read_to_string(m.join("model.json")).unwrap();
    let edited = text.replacen("\"k\": 5", "\"k\": 6", 1);
    assert_ne!(edited, text);
    let p = dir.path().join("edited.json");
    std::fs::write(&p, edited).unwrap();
    assert_clean_error(&export(&p, "sql"), "checksum mismatch");
    // A bad --table, --table with PMML, an existing output.
    let good = m.join("model.json");
    let o = run(&[
        "export",
        "--model",
        s(&good),
        "--format",
        "sql",
        "--table",
        "a..b",
        "--out",
        s(&out),
    ]);
    assert_clean_error(&o, "--table \"a..b\"");
    let o = run(&[
        "export",
        "--model",
        s(&good),
        "--format",
        "pmml",
        "--table",
        "t",
        "--out",
        s(&out),
    ]);
    assert_clean_error(&o, "--table and --query apply to --format sql");
    assert!(!out.exists());
    std::fs::write(&out, "keep").unwrap();
    assert_clean_error(&export(&good, "sql"), "already exists");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep");
    let forced = [
        "export",
        "--quiet",
        "--model",
        s(&good),
        "--format",
        "sql",
        "--out",
        s(&out),
        "--force",
    ];
    // --force replaces only cardseg's own earlier export, never someone's file.
    assert_clean_error(&run(&forced), "--force will not replace it");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep");
    std::fs::remove_file(&out).unwrap();
    assert!(export(&good, "sql").status.success());
    let o = run(&forced);
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("FROM \"customers\" AS cardseg_src"));
    // Unknown format / dialect: usage errors.
    let o = run(&[
        "export",
        "--model",
        s(&good),
        "--format",
        "xml",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&[
        "export",
        "--model",
        s(&good),
        "--format",
        "sql",
        "--dialect",
        "oracle",
        "--out",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

// ------------------------------------------------------------------ --train-sample

/// `run --train-sample N`: the model records N; every customer is labelled with its
/// nearest centroid (predict reproduces labels.csv byte for byte), the model's inertia
/// is that of every customer, the outputs are the same for any thread count, and a
/// sample too small for k is refused.
#[test]
fn train_sample_fits_on_a_sample_and_labels_everyone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("c.csv");
    run_ok(&[
        "generate",
        "--rows",
        "30000",
        "--seed",
        "5",
        "--out",
        s(&data),
    ]);
    let run_with = |out: &Path, threads: &str| {
        let o = common::run_env(
            &[
                "run",
                "--quiet",
                "--no-dashboard",
                "--input",
                s(&data),
                "--out",
                s(out),
                "--train-sample",
                "3000",
            ],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert!(o.status.success(), "{}", common::stderr(&o));
    };
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_with(&a, "1");
    run_with(&b, "2");
    assert_eq!(common::snapshot(&a), common::snapshot(&b));
    let (model, _) = Model::load(&a.join("model.json")).unwrap();
    assert_eq!(model.train_sample, Some(3000));
    assert_eq!(model.training_rows, 30000);
    let labels = dir.path().join("p.csv");
    run_ok(&[
        "predict",
        "--quiet",
        "--model",
        s(&a.join("model.json")),
        "--input",
        s(&data),
        "--out",
        s(&labels),
    ]);
    assert_eq!(
        std::fs::read(&labels).unwrap(),
        std::fs::read(a.join("labels.csv")).unwrap()
    );
    let table =
        cardseg::predict::read_for_model(&model, &cardseg::ingest::Source::new(s(&data)), None)
            .unwrap();
    let cols = cardseg::predict::feature_columns(&model, &table).unwrap();
    let sc = cardseg::predict::score_columns(&model, &model.centers_flat(), cols, true);
    let inertia: f64 = sc.distances.iter().map(|d| d.0 * d.0).sum();
    assert!(
        (inertia - model.inertia).abs() <= 1e-9 * model.inertia,
        "{inertia} vs {}",
        model.inertia
    );
    // Segment sizes are those of every customer (segment 1 the largest).
    let sizes: Vec<u64> = model.segments.iter().map(|s| s.customers).collect();
    assert_eq!(sizes.iter().sum::<u64>(), 30000);
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    let o = run(&[
        "run",
        "--input",
        s(&data),
        "--out",
        s(&dir.path().join("c")),
        "--train-sample",
        "10",
    ]);
    assert_clean_error(&o, "--train-sample 10 is too small");
}
