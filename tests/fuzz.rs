//! Bounded fuzzing (proptest) of the parsers that take outside bytes: the CSV reader
//! (`ingest::csv::read_bytes`, plain and gzip) and the model loader
//! (`model::Model::from_bytes`). No input may panic; every error is one line; what is
//! accepted is sound (columns as long as the ids, numbers finite and in range; a model
//! accepted after an edit is the very model that was written).
//!
//! Runs a fixed number of cases from a fixed seed, so CI is reproducible and quick
//! (`CARDSEG_FUZZ_CASES` raises the count, `CARDSEG_FUZZ_SEED` changes the seed).
//! Failures are not persisted to files: each case found is kept below as an explicit
//! regression test instead.
//!
//! The scoring request parser of `cardseg serve` (another branch) gets its own
//! `proptest!` block here when it lands: arbitrary bodies and content types, no panic,
//! one-line errors.

mod common;

use std::sync::OnceLock;

use cardseg::error::show_value;
use cardseg::ingest::csv::{read_bytes, read_bytes_with, Chunking};
use cardseg::ingest::number::MAX_ABS;
use cardseg::ingest::Limits;
use cardseg::ingest::{IdSpec, ReadSpec};
use cardseg::model::Model;
use cardseg::table::ColumnKind;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(default_cases: u32) -> Config {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    Config {
        cases: env("CARDSEG_FUZZ_CASES")
            .map(|c| c as u32)
            .unwrap_or(default_cases),
        rng_seed: RngSeed::Fixed(env("CARDSEG_FUZZ_SEED").unwrap_or(0x00C0_FFEE)),
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

fn spec(required: &[&str], id: IdSpec) -> ReadSpec {
    ReadSpec {
        id,
        required: required.iter().map(|s| s.to_string()).collect(),
        other_numeric: true,
        delimiter: None,
    }
}

/// Errors are one line and bounded; accepted tables are sound.
fn check_read(bytes: &[u8], spec: &ReadSpec) -> Result<(), TestCaseError> {
    match read_bytes(bytes, "fuzz.csv", spec) {
        Err(e) => {
            let s = e.to_string();
            prop_assert!(
                !s.contains('\n') && !s.contains('\r'),
                "multi-line error: {s:?}"
            );
            prop_assert!(s.len() < 4000, "error of {} bytes", s.len());
            prop_assert!(
                s.starts_with("fuzz.csv") || s.starts_with("column "),
                "error without the source: {s}"
            );
        }
        Ok(t) => {
            prop_assert!(t.rows() > 0);
            for name in &spec.required {
                prop_assert!(
                    t.column(name).is_some(),
                    "required column {name} not loaded"
                );
            }
            for c in &t.columns {
                prop_assert_eq!(c.values.len(), t.rows(), "column {} length", &c.name);
                prop_assert!(
                    c.values.iter().all(|v| v.is_nan() || v.abs() <= MAX_ABS),
                    "column {} holds an out-of-range value",
                    &c.name
                );
            }
            prop_assert_eq!(t.info.len(), t.header_names().len());
        }
    }
    Ok(())
}

/// CSV-like text from a vocabulary of troublesome pieces.
fn csvish() -> impl Strategy<Value = Vec<u8>> {
    let pieces: Vec<&'static [u8]> = vec![
        b"CUST_ID",
        b"BALANCE",
        b"PURCHASES",
        b"X",
        b"",
        b"1",
        b"-2.5",
        b"0",
        b"1e400",
        b"1e300",
        b"NaN",
        b"inf",
        b"-Infinity",
        b"1,5",
        b"  3 ",
        b"\"",
        b"\"\"",
        b"\"a,b\"",
        b",",
        b",",
        b",",
        b";",
        b"\t",
        b"|",
        b"\n",
        b"\n",
        b"\n",
        b"\r\n",
        b"\r",
        b"\xEF\xBB\xBF",
        b"\xFF",
        b"\xC3\xA9",
        b"\0",
        b"e",
        b"+",
        b".",
    ];
    proptest::collection::vec(proptest::sample::select(pieces), 0..80).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config(6000))]

    #[test]
    fn csv_reader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_read(&bytes, &spec(&["BALANCE"], IdSpec::default_column()))?;
        check_read(&bytes, &spec(&[], IdSpec::RowNumber))?;
    }

    #[test]
    fn csv_reader_survives_csvish_text(text in csvish()) {
        check_read(&text, &spec(&["BALANCE", "PURCHASES"], IdSpec::default_column()))?;
        check_read(&text, &spec(&[], IdSpec::Column { name: "CUST_ID".into(), explicit: true }))?;
        let header = [b"CUST_ID,BALANCE,PURCHASES\n".as_slice(), &text].concat();
        check_read(&header, &spec(&["BALANCE", "PURCHASES"], IdSpec::default_column()))?;
    }
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn csv_reader_survives_damaged_gzip(text in csvish(), cut in 0usize..200, flip in any::<(usize, u8)>()) {
        let header = [b"CUST_ID,BALANCE\n".as_slice(), &text].concat();
        let mut gz = common::gzip(&header);
        check_read(&gz, &spec(&["BALANCE"], IdSpec::default_column()))?;
        let at = 10 + flip.0 % (gz.len() - 10);
        gz[at] ^= flip.1 | 1;
        check_read(&gz, &spec(&["BALANCE"], IdSpec::default_column()))?;
        let keep = gz.len().saturating_sub(cut).max(2);
        check_read(&gz[..keep], &spec(&["BALANCE"], IdSpec::default_column()))?;
    }
}

// ---------------------------------------------------------------------------------
// The model loader

/// A real model file, written by a small run of the binary.
/// One generated row: quoted id or not, the number in A (quoted or not, or empty), the
/// NOTE cell, whether X holds text, and the line end.
#[derive(Debug, Clone)]
struct Row {
    quoted_id: bool,
    a: Option<(u32, bool)>,
    note: Note,
    x_text: bool,
    crlf: bool,
}

/// A NOTE cell: plain text, empty, or a quoted field over several lines whose lines look
/// like rows of this very file (delimiters, ids, numbers, escaped quotes, blank lines).
#[derive(Debug, Clone)]
enum Note {
    Plain,
    Empty,
    Lines(Vec<u8>, bool),
}

fn row() -> impl Strategy<Value = Row> {
    let note = prop_oneof![
        2 => Just(Note::Plain),
        1 => Just(Note::Empty),
        3 => (proptest::collection::vec(0u8..6, 1..12), any::<bool>())
            .prop_map(|(lines, end_nl)| Note::Lines(lines, end_nl)),
    ];
    (
        any::<bool>(),
        proptest::option::weighted(0.9, (0u32..100_000, any::<bool>())),
        note,
        proptest::bool::weighted(0.05),
        any::<bool>(),
    )
        .prop_map(|(quoted_id, a, note, x_text, crlf)| Row {
            quoted_id,
            a,
            note,
            x_text,
            crlf,
        })
}

/// The file the rows make: `CUST_ID,A,NOTE,X`.
fn render(rows: &[Row]) -> Vec<u8> {
    let mut out = b"CUST_ID,A,NOTE,X\n".to_vec();
    for (i, r) in rows.iter().enumerate() {
        let id = format!("C{i}");
        if r.quoted_id {
            out.extend_from_slice(format!("\"{id}\",").as_bytes());
        } else {
            out.extend_from_slice(format!("{id},").as_bytes());
        }
        match r.a {
            Some((v, true)) => {
                out.extend_from_slice(format!("\"{}.{}\",", v / 100, v % 100).as_bytes())
            }
            Some((v, false)) => {
                out.extend_from_slice(format!("{}.{},", v / 100, v % 100).as_bytes())
            }
            None => out.push(b','),
        }
        match &r.note {
            Note::Plain => out.extend_from_slice(format!("note {i}").as_bytes()),
            Note::Empty => {}
            Note::Lines(lines, end_nl) => {
                out.push(b'"');
                for (k, l) in lines.iter().enumerate() {
                    if k > 0 {
                        out.extend_from_slice(if l % 2 == 0 { b"\n" } else { b"\r\n" });
                    }
                    let text = match l {
                        0 => format!("C{k},{k}.5,n,{k}"),
                        1 => format!("C{k},\"\"x\"\",\"\"{k}\"\",1"),
                        2 => String::new(),
                        3 => ",,,".to_string(),
                        4 => format!("{k},{k},{k},{k},{k}"),
                        _ => "CUST_ID,A,NOTE,X".to_string(),
                    };
                    out.extend_from_slice(text.as_bytes());
                }
                if *end_nl {
                    out.push(b'\n');
                }
                out.push(b'"');
            }
        }
        let x = if r.x_text {
            format!("x{i}")
        } else {
            format!("{i}")
        };
        out.extend_from_slice(format!(",{x}").as_bytes());
        out.extend_from_slice(if r.crlf { b"\r\n" } else { b"\n" });
    }
    out
}

/// The line an editor shows for a record the `csv` crate started reading at byte
/// `start`: 1 + the line ends (`\r\n`, a lone `\r` or `\n`) before its first byte.
fn editor_line(bytes: &[u8], start: usize) -> u64 {
    let mut q = start;
    while q < bytes.len() && matches!(bytes[q], b'\n' | b'\r') {
        q += 1;
    }
    let before = &bytes[..q];
    let ends = (0..q)
        .filter(|&i| {
            before[i] == b'\r' || (before[i] == b'\n' && (i == 0 || before[i - 1] != b'\r'))
        })
        .count();
    1 + ends as u64
}

/// What the `csv` crate reads from `bytes`, in cardseg's terms: ids, A, the NOTE and X
/// columns' first non-number cell with its line (as an editor numbers lines), and the
/// missing counts.
fn reference(bytes: &[u8]) -> String {
    let mut rdr = csv::ReaderBuilder::new().from_reader(bytes);
    let mut ids = Vec::new();
    let mut a = Vec::new();
    let mut x = Vec::new();
    let mut missing = [0u64; 4];
    let mut first: [Option<(u64, String)>; 4] = [None, None, None, None];
    for r in rdr.byte_records() {
        let r = r.unwrap();
        let line = editor_line(bytes, r.position().unwrap().byte() as usize);
        ids.push(String::from_utf8(r[0].to_vec()).unwrap().trim().to_string());
        for j in 0..4 {
            let cell = &r[j];
            if cell.trim_ascii().is_empty() {
                missing[j] += 1;
            } else if j >= 2
                && first[j].is_none()
                && std::str::from_utf8(cell)
                    .unwrap()
                    .trim()
                    .parse::<f64>()
                    .is_err()
            {
                first[j] = Some((line, show_value(cell)));
            }
        }
        let num = |c: &[u8]| {
            std::str::from_utf8(c)
                .unwrap()
                .trim()
                .parse::<f64>()
                .unwrap_or(f64::NAN)
        };
        a.push(num(&r[1]).to_bits());
        x.push(num(&r[3]).to_bits());
    }
    let x = if first[3].is_some() { None } else { Some(x) };
    format!("{ids:?} {a:?} {x:?} {missing:?} {first:?}")
}

/// The same summary of what cardseg read.
fn summary(t: &cardseg::table::Table) -> String {
    let ids: Vec<String> = (0..t.rows()).map(|i| t.ids.get(i).to_string()).collect();
    let bits = |name: &str| {
        t.column(name)
            .map(|c| c.values.iter().map(|v| v.to_bits()).collect::<Vec<u64>>())
    };
    let a = bits("A").unwrap_or_default();
    let missing: Vec<u64> = t.info.iter().map(|i| i.missing).collect();
    let first: Vec<Option<(u64, String)>> = t
        .info
        .iter()
        .enumerate()
        .map(|(j, i)| if j >= 2 { i.first_text.clone() } else { None })
        .collect();
    assert!(t.info[2].kind == ColumnKind::Text || t.info[2].kind == ColumnKind::Empty);
    format!("{ids:?} {a:?} {:?} {missing:?} {first:?}", bits("X"))
}

proptest! {
    #![proptest_config(config(400))]

    /// Multi-line quoted fields whose lines look like rows, read with blocks of 16 bytes
    /// to 4 KiB (so block and chunk boundaries fall inside them, on lines that look like
    /// records), give every cell the `csv` crate reads from the same bytes.
    #[test]
    fn block_boundaries_inside_quoted_fields_read_as_the_csv_crate(rows in proptest::collection::vec(row(), 1..60)) {
        let bytes = render(&rows);
        let want = reference(&bytes);
        let spec = spec(&["A"], IdSpec::default_column());
        for block in [16usize, 61, 256, 4096] {
            for chunks in [1usize, 3] {
                let t = read_bytes_with(&bytes, "fuzz.csv", &spec, &Limits::default(), Chunking { block, chunks })
                    .map_err(|e| TestCaseError::fail(format!("block {block}: {e}")))?;
                prop_assert_eq!(summary(&t), want.clone(), "block {}, chunks {}", block, chunks);
            }
        }
        let t = read_bytes(&common::gzip(&bytes), "fuzz.csv", &spec)
            .map_err(|e| TestCaseError::fail(format!("gzip: {e}")))?;
        prop_assert_eq!(summary(&t), want, "gzip");
    }
}

fn model_text() -> &'static [u8] {
    static M: OnceLock<Vec<u8>> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("in.csv"), common::synthetic_csv(300, 5)).unwrap();
        let o = common::cardseg(
            dir.path(),
            &[
                "--quiet", "run", "--input", "in.csv", "--out", "out", "--k", "4", "--n-init", "2",
            ],
        );
        assert_eq!(o.code, Some(0), "{}", o.stderr);
        std::fs::read(dir.path().join("out/model.json")).unwrap()
    })
}

fn original() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| Model::from_bytes(model_text(), "model.json").unwrap().0)
}

fn check_model(bytes: &[u8]) -> Result<(), TestCaseError> {
    match Model::from_bytes(bytes, "model.json") {
        Err(e) => {
            let s = e.to_string();
            prop_assert!(
                !s.contains('\n') && !s.contains('\r'),
                "multi-line error: {s:?}"
            );
            prop_assert!(s.starts_with("model model.json: "), "{s}");
            prop_assert!(s.len() < 4000);
        }
        Ok((m, _)) => {
            // The checksum covers the whole model: whatever edit got through changed
            // nothing the model means (white space, key order, number spelling).
            prop_assert!(
                &m == original(),
                "an edited model was accepted with different content"
            );
        }
    }
    Ok(())
}

/// One edit of a model file.
#[derive(Debug, Clone)]
enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    Delete(usize, usize),
    Insert(usize, Vec<u8>),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<usize>();
    prop_oneof![
        (at, 1u8..=255).prop_map(|(i, b)| Edit::Flip(i, b)),
        (
            at,
            proptest::sample::select(b"0123456789-+.eE\"{}[],: nulltruefalse\\".to_vec())
        )
            .prop_map(|(i, b)| Edit::Set(i, b)),
        (at, 1usize..40).prop_map(|(i, n)| Edit::Delete(i, n)),
        (
            at,
            proptest::sample::select(vec![
                b"0".to_vec(),
                b" ".to_vec(),
                b"\n".to_vec(),
                b"[".to_vec(),
                b"\"x\": 1,".to_vec(),
                b"1e999".to_vec(),
                b"-".to_vec(),
                b"\\u0000".to_vec(),
                b"\xFF".to_vec(),
            ])
        )
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        at.prop_map(Edit::Truncate),
    ]
}

fn apply(text: &[u8], e: &Edit) -> Vec<u8> {
    let mut t = text.to_vec();
    let n = t.len();
    match e {
        Edit::Flip(i, b) => t[i % n] ^= b,
        Edit::Set(i, b) => t[i % n] = *b,
        Edit::Delete(i, len) => {
            let s = i % n;
            t.drain(s..(s + len).min(n));
        }
        Edit::Insert(i, b) => {
            let s = i % (n + 1);
            t.splice(s..s, b.iter().copied());
        }
        Edit::Truncate(i) => t.truncate(i % n),
    }
    t
}

/// Arbitrary JSON, often shaped like a model envelope.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)),
        proptest::sample::select(vec![
            "cardseg-model",
            "sha256:00",
            "",
            "BALANCE",
            "median",
            "knee",
            "exact"
        ])
        .prop_map(|s| Value::String(s.into())),
    ];
    let keys = proptest::sample::select(vec![
        "format",
        "format_version",
        "checksum",
        "model",
        "k",
        "features",
        "centroids",
        "centroids_scaled",
        "scaler",
        "segments",
        "cleaning",
        "x",
    ]);
    leaf.prop_recursive(4, 40, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            proptest::collection::vec((keys.clone(), inner), 0..6).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

proptest! {
    #![proptest_config(config(5000))]

    #[test]
    fn model_loader_survives_edits(edits in proptest::collection::vec(edit(), 1..4)) {
        let mut text = model_text().to_vec();
        for e in &edits {
            if text.is_empty() {
                break;
            }
            text = apply(&text, e);
        }
        check_model(&text)?;
    }

    #[test]
    fn model_loader_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_model(&bytes)?;
    }

    #[test]
    fn model_loader_survives_arbitrary_json(v in json(), version in 0u64..4) {
        check_model(serde_json::to_string(&v).unwrap().as_bytes())?;
        // The same content in an envelope whose checksum is right for it: it reaches the
        // typed reading and the consistency checks, and must be refused there.
        let env = serde_json::json!({
            "format": "cardseg-model",
            "format_version": version,
            "checksum": canonical_checksum(&v),
            "model": v,
        });
        check_model(serde_json::to_string(&env).unwrap().as_bytes())?;
    }
}

/// The checksum cardseg writes: SHA-256 of the model object as compact JSON, keys sorted.
fn canonical_checksum(v: &serde_json::Value) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(serde_json::to_string(v).unwrap().as_bytes());
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// An edit of the model's content, re-signed so the checksum holds (a buggy or foreign
/// writer): the loader must refuse it, or scoring with it must work.
#[derive(Debug, Clone)]
enum ModelEdit {
    K(usize),
    DropCentroid(bool),
    ShortCentroid(usize),
    DropSegment,
    DropFeature,
    AddFeature,
    DropScalerEntry(usize),
    DropCleaning(usize),
    NoFill(usize),
    Policy(u8),
    Scale(usize, f64),
    Centroid(usize, f64),
}

fn model_edit() -> impl Strategy<Value = ModelEdit> {
    let i = 0usize..6;
    let f = prop_oneof![
        Just(0.0),
        Just(-1.0),
        Just(1e300),
        Just(-1e300),
        Just(f64::MIN_POSITIVE),
        -10.0f64..10.0
    ];
    prop_oneof![
        (0usize..7).prop_map(ModelEdit::K),
        any::<bool>().prop_map(ModelEdit::DropCentroid),
        i.clone().prop_map(ModelEdit::ShortCentroid),
        Just(ModelEdit::DropSegment),
        Just(ModelEdit::DropFeature),
        Just(ModelEdit::AddFeature),
        i.clone().prop_map(ModelEdit::DropScalerEntry),
        i.clone().prop_map(ModelEdit::DropCleaning),
        i.clone().prop_map(ModelEdit::NoFill),
        (0u8..3).prop_map(ModelEdit::Policy),
        (i.clone(), f.clone()).prop_map(|(i, v)| ModelEdit::Scale(i, v)),
        (i, f).prop_map(|(i, v)| ModelEdit::Centroid(i, v)),
    ]
}

fn apply_model_edit(m: &mut Model, e: &ModelEdit) {
    use cardseg::clean::MissingPolicy;
    let pick = |len: usize, i: usize| if len == 0 { None } else { Some(i % len) };
    match e {
        ModelEdit::K(k) => m.k = *k,
        ModelEdit::DropCentroid(scaled) => {
            if *scaled {
                m.centroids_scaled.pop();
            } else {
                m.centroids.pop();
            }
        }
        ModelEdit::ShortCentroid(i) => {
            if let Some(i) = pick(m.centroids_scaled.len(), *i) {
                m.centroids_scaled[i].pop();
            }
        }
        ModelEdit::DropSegment => {
            m.segments.pop();
        }
        ModelEdit::DropFeature => {
            m.features.pop();
        }
        ModelEdit::AddFeature => m.features.push("PAYMENTS".into()),
        ModelEdit::DropScalerEntry(i) => match i % 3 {
            0 => {
                m.scaler.scale.pop();
            }
            1 => {
                m.scaler.min.pop();
            }
            _ => {
                m.scaler.features.pop();
            }
        },
        ModelEdit::DropCleaning(i) => {
            if let Some(i) = pick(m.cleaning.len(), *i) {
                m.cleaning.remove(i);
            }
        }
        ModelEdit::NoFill(i) => {
            if let Some(i) = pick(m.cleaning.len(), *i) {
                m.cleaning[i].fill_value = None;
            }
        }
        ModelEdit::Policy(p) => {
            m.missing_policy = [
                MissingPolicy::Median,
                MissingPolicy::Mean,
                MissingPolicy::Drop,
            ][*p as usize]
        }
        ModelEdit::Scale(i, v) => {
            if let Some(i) = pick(m.scaler.scale.len(), *i) {
                m.scaler.scale[i] = *v;
            }
        }
        ModelEdit::Centroid(i, v) => {
            if let Some(i) = pick(m.centroids_scaled.len(), *i) {
                if let Some(c) = m.centroids_scaled[i].first_mut() {
                    *c = *v;
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(3000))]

    #[test]
    fn resigned_model_edits_are_refused_or_score_safely(edits in proptest::collection::vec(model_edit(), 1..4)) {
        let mut m = original().clone();
        for e in &edits {
            apply_model_edit(&mut m, e);
        }
        let (text, _) = m.to_json().unwrap();
        match Model::from_bytes(text.as_bytes(), "model.json") {
            Err(e) => {
                let s = e.to_string();
                prop_assert!(!s.contains('\n'), "{s:?}");
            }
            Ok((m, _)) => {
                let mut csv = String::from("CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT,PAYMENTS\n");
                csv.push_str("a,1,2,3,4\nb,,5,6,7\nc,100000,0,1,\n");
                let table = read_bytes(csv.as_bytes(), "t.csv", &spec(&[], IdSpec::default_column())).unwrap();
                if m.features.iter().all(|f| table.column(f).is_some()) {
                    let labels = cardseg::predict::score_table(&m, &table).unwrap();
                    prop_assert!(labels.iter().flatten().all(|l| (*l as usize) < m.k));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Regressions: cases the fuzzers and the hostile corpus found, kept explicit.

#[test]
fn regression_newline_in_a_header_name_stays_one_line() {
    let e = read_bytes(
        b"\"A\nB\",C\n1,2\n",
        "t.csv",
        &spec(&["X"], IdSpec::default_column()),
    )
    .unwrap_err();
    let s = e.to_string();
    assert!(!s.contains('\n') && s.contains("A\\nB"), "{s}");
}

#[test]
fn regression_huge_finite_values_are_refused() {
    let e = read_bytes(b"A\n1e300\n2\n", "t.csv", &spec(&["A"], IdSpec::RowNumber)).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("t.csv:2: column A: \"1e300\" is larger than 1e15"),
        "{e}"
    );
    // In an optional column they make it a text column instead of overflowing sums.
    let t = read_bytes(
        b"A,B\n1,1e300\n2,3\n",
        "t.csv",
        &spec(&["A"], IdSpec::RowNumber),
    )
    .unwrap();
    assert!(t.column("B").is_none());
}

#[test]
fn regression_unclosed_quote_in_the_last_column() {
    let e = read_bytes(
        b"ID,A,N\nx,1,\"open\ny,2,b\nz,3,c\n",
        "t.csv",
        &spec(&["A"], IdSpec::default_column()),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("t.csv:2: column N: a quote opens"), "{e}");
}

#[test]
fn regression_model_format_version_zero() {
    let text = String::from_utf8(model_text().to_vec()).unwrap();
    let edited = text.replacen("\"format_version\": 1", "\"format_version\": 0", 1);
    let e = Model::from_bytes(edited.as_bytes(), "m.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("format_version 0"), "{e}");
}

#[test]
fn regression_number_respelled_to_the_same_value_is_an_edit() {
    // "0.25" -> "0.250": the same f64, so a checksum over parsed values missed it.
    let text = String::from_utf8(model_text().to_vec()).unwrap();
    let start = text.find("\"model\": ").unwrap();
    let at = text[start..]
        .char_indices()
        .find(|&(i, c)| {
            let rest = &text[start + i..];
            c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())
        })
        .map(|(i, _)| start + i)
        .unwrap();
    let end = at + 1 + text[at + 1..].find(|c: char| !c.is_ascii_digit()).unwrap();
    let edited = format!("{}0{}", &text[..end], &text[end..]);
    assert_ne!(edited, text);
    let e = Model::from_bytes(edited.as_bytes(), "m.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("checksum mismatch"), "{e}");
}

#[test]
fn regression_model_from_a_device_is_bounded() {
    let e = Model::load(std::path::Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is a device, not a regular file"), "{e}");
}

/// Re-signed models with hostile values (the checksum holds; the content is insane) are
/// refused with one line naming the problem: huge or non-positive scales, segment ids repeated
/// or absurdly large, a 20 KB segment name, thousands of centroids.
#[test]
fn resigned_models_with_hostile_values_are_refused() {
    type Edit = Box<dyn Fn(&mut Model)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("scale", Box::new(|m: &mut Model| m.scaler.scale[0] = 1e300)),
        ("scale", Box::new(|m: &mut Model| m.scaler.scale[1] = 0.0)),
        (
            "scale",
            Box::new(|m: &mut Model| m.scaler.scale[0] = -m.scaler.scale[0]),
        ),
        (
            "id",
            Box::new(|m: &mut Model| m.segments[0].id = 4_294_967_295),
        ),
        // Ids need not be 1..k in order (`run --previous` carries ids over), but they
        // are distinct.
        (
            "id",
            Box::new(|m: &mut Model| m.segments[1].id = m.segments[0].id),
        ),
        (
            "too long",
            Box::new(|m: &mut Model| m.segments[0].name = "x".repeat(20_000)),
        ),
        (
            "too long",
            Box::new(|m: &mut Model| m.segments[1].action = "y".repeat(200_000)),
        ),
        (
            "k is",
            Box::new(|m: &mut Model| {
                let k = 3_000;
                let c = m.centroids[0].clone();
                let cs = m.centroids_scaled[0].clone();
                let s = m.segments[0].clone();
                m.centroids = vec![c; k];
                m.centroids_scaled = vec![cs; k];
                m.segments = (1..=k as u32)
                    .map(|id| cardseg::model::SegmentMeta { id, ..s.clone() })
                    .collect();
                m.k = k;
            }),
        ),
    ];
    // The unedited model loads (so each refusal is the edit's doing).
    let (text, _) = original().to_json().unwrap();
    Model::from_bytes(text.as_bytes(), "model.json").unwrap();
    for (i, (needle, edit)) in cases.iter().enumerate() {
        let mut m = original().clone();
        edit(&mut m);
        let (text, _) = m.to_json().unwrap();
        let e = Model::from_bytes(text.as_bytes(), "model.json")
            .err()
            .unwrap_or_else(|| panic!("case {i} ({needle}) loaded"))
            .to_string();
        assert!(e.contains(needle) && !e.contains('\n'), "case {i}: {e}");
    }
}

/// An edit of a model's JSON (the `model` object).
type JsonEdit = Box<dyn Fn(&mut serde_json::Value)>;

/// The model file's text with `edit` applied to its JSON and the checksum recomputed as
/// cardseg computes it (SHA-256 of the compact `model` object, keys sorted): a re-signed
/// edit, which only the content checks can catch.
fn resigned(edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let mut env: serde_json::Value = serde_json::from_slice(model_text()).unwrap();
    edit(&mut env["model"]);
    use sha2::Digest;
    let compact = serde_json::to_string(&env["model"]).unwrap();
    let hex: String = sha2::Sha256::digest(compact.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    env["checksum"] = serde_json::json!(format!("sha256:{hex}"));
    serde_json::to_vec_pretty(&env).unwrap()
}

#[test]
fn model_content_errors_name_the_field() {
    let cases: Vec<(&str, JsonEdit)> = vec![
        (
            "at scaler.scale[1] (invalid type: string \"x\", expected f64)",
            Box::new(|m| m["scaler"]["scale"][1] = serde_json::json!("x")),
        ),
        (
            "at segments[2].id (",
            Box::new(|m| m["segments"][2]["id"] = serde_json::json!(-1)),
        ),
        (
            "at centroids_scaled[0] (invalid type: map",
            Box::new(|m| m["centroids_scaled"][0] = serde_json::json!({})),
        ),
        (
            "(missing field `k`)",
            Box::new(|m| {
                m.as_object_mut().unwrap().remove("k");
            }),
        ),
    ];
    for (needle, edit) in cases {
        let e = Model::from_bytes(&resigned(edit), "m.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("model m.json: has unexpected content")
                && e.contains(needle)
                && e.ends_with("; re-create it with cardseg run")
                && !e.contains('\n'),
            "{needle}: {e}"
        );
    }
}

/// A re-signed model whose parts contradict each other (a centroid moved in one list
/// and not the other, a feature listed twice, a centroid far outside the training range,
/// an offset that does not fit the range) is refused with one line naming what.
#[test]
fn resigned_models_that_contradict_themselves_are_refused() {
    let cases: Vec<(&str, JsonEdit)> = vec![
        (
            "centroid 1 of feature",
            Box::new(|m| {
                let rows = m["centroids_scaled"].as_array_mut().unwrap();
                rows.swap(0, 1);
            }),
        ),
        (
            "centroid 2 of feature PURCHASES",
            Box::new(|m| {
                let c = &mut m["centroids"][1][1];
                *c = serde_json::json!(c.as_f64().unwrap() * 1.001 + 1.0);
            }),
        ),
        (
            "feature BALANCE is listed twice",
            Box::new(|m| {
                m["features"][1] = serde_json::json!("BALANCE");
                m["scaler"]["features"] = m["features"].clone();
            }),
        ),
        (
            "centroid 3 has the scaled value 9e99 for feature BALANCE, far outside the training range",
            Box::new(|m| {
                m["centroids_scaled"][2][0] = serde_json::json!(9e99);
            }),
        ),
        (
            "the scaler's offset of feature CREDIT_LIMIT",
            Box::new(|m| {
                let j = m["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .position(|f| f == "CREDIT_LIMIT")
                    .unwrap();
                let v = m["scaler"]["min"][j].as_f64().unwrap();
                m["scaler"]["min"][j] = serde_json::json!(v + 0.25);
            }),
        ),
    ];
    assert_eq!(original().features[0], "BALANCE");
    for (needle, edit) in cases {
        let e = Model::from_bytes(&resigned(edit), "m.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("model m.json: is inconsistent: ")
                && e.contains(needle)
                && e.ends_with("; re-create it with cardseg run")
                && !e.contains('\n'),
            "{needle}: {e}"
        );
    }
    // Re-signed without a change, the model loads: each refusal is its edit's doing.
    Model::from_bytes(&resigned(|_| {}), "m.json").unwrap();
}

/// A model written by an earlier cardseg (tests/fixtures) passes the consistency checks
/// and scores.
#[test]
fn a_model_from_an_earlier_cardseg_still_loads_and_scores() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/model_without_segment_quantiles.json");
    let (m, _) = Model::load(&path).unwrap();
    let table = read_bytes(
        &common::synthetic_csv(200, 9),
        "t.csv",
        &m.read_spec(None, false),
    )
    .unwrap();
    let labels = cardseg::predict::score_table(&m, &table).unwrap();
    assert_eq!(labels.len(), 200);
    assert!(labels.iter().flatten().all(|l| (*l as usize) < m.k));
}
