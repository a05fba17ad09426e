//! Tests of the CSV reader: every way of splitting records gives what reading record
//! by record gives.

use std::io::BufReader;

use super::blocks::Chunking;
use super::records::unclosed_field;
use super::*;
use crate::ingest::{IdSpec, Limits, ReadSpec};
use crate::table::ColumnKind;

fn spec(required: &[&str]) -> ReadSpec {
    ReadSpec {
        id: IdSpec::default_column(),
        required: required.iter().map(|s| s.to_string()).collect(),
        other_numeric: true,
        delimiter: None,
    }
}

#[test]
fn bom_crlf_and_text_columns() {
    let data = b"\xEF\xBB\xBFCUST_ID,A,NAME,B\r\nc1,1,x,\r\nc2,2.5,y,4\r\n";
    let t = read_bytes(data, "t.csv", &spec(&["A"])).unwrap();
    assert_eq!(t.rows(), 2);
    assert_eq!(t.ids.get(1), "c2");
    assert_eq!(t.column("A").unwrap().values, vec![1.0, 2.5]);
    assert!(t.column("NAME").is_none());
    let b = &t.column("B").unwrap().values;
    assert!(b[0].is_nan() && b[1] == 4.0);
    assert_eq!(t.info[2].kind, ColumnKind::Text);
}

#[test]
fn semicolon_files_are_sniffed() {
    let t = read_bytes(b"CUST_ID;A\nx;1\n", "t.csv", &spec(&["A"])).unwrap();
    assert_eq!(t.column("A").unwrap().values, vec![1.0]);
}

#[test]
fn errors_name_line_column_and_value() {
    let e = read_bytes(b"CUST_ID,A\nx,1\ny,abc\n", "t.csv", &spec(&["A"]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.csv:3: column A: \"abc\" is not a number"),
        "{e}"
    );
    let e = read_bytes(b"CUST_ID,A\nx,1,2\n", "t.csv", &spec(&["A"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("t.csv:2:") && e.contains("3 fields"), "{e}");
    let e = read_bytes(b"CUST_ID,B\nx,1\n", "t.csv", &spec(&["A"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("column A not found"), "{e}");
    let e = read_bytes(b"", "t.csv", &spec(&["A"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
    let e = read_bytes(b"CUST_ID,A\n", "t.csv", &spec(&["A"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no customer rows"), "{e}");
}

#[test]
fn unclosed_quotes_do_not_swallow_customers() {
    let e = read_bytes(
        b"CUST_ID,A,NOTE\nx,1,ok\ny,2,\"open\nz,3,ok\nw,4,ok\n",
        "t.csv",
        &spec(&["A"]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("t.csv:3: column NOTE: a quote opens"), "{e}");
    // A quoted field may span lines when it is text, not rows.
    let t = read_bytes(
        b"CUST_ID,A,NOTE\nx,1,\"two\nlines\"\ny,2,ok\n",
        "t.csv",
        &spec(&["A"]),
    )
    .unwrap();
    assert_eq!(t.rows(), 2);
    // Closed where the field ends, it is read whatever it holds, rows of CSV included.
    let t = read_bytes(
        b"CUST_ID,A,NOTE\nx,1,\"a,1,b\nc,2,d\r\ne,3,\"\"f\"\"\n\"\ny,2,ok\n",
        "t.csv",
        &spec(&["A"]),
    )
    .unwrap();
    assert_eq!(t.rows(), 2);
    assert_eq!(t.ids.get(1), "y");
    // Closed by a quote followed by more text: the lines between were swallowed.
    let e = read_bytes(
        b"CUST_ID,A,NOTE\nx,1,\"open\ny,2,\"note\"\nz,3,ok\n",
        "t.csv",
        &spec(&["A"]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("t.csv:2: column NOTE: a quote opens"), "{e}");
    assert_eq!(unclosed_field(b"a,\"b\"c,d", b','), None);
    assert_eq!(unclosed_field(b"a,\"b\nx\"c,d", b','), Some(1));
    assert_eq!(unclosed_field(b"\"a\nb", b','), Some(0));
    assert_eq!(unclosed_field(b"\"a\nb\"\r\n", b','), None);
}

#[test]
fn limits_refuse_wide_headers_and_long_records() {
    let limits = Limits {
        max_columns: 3,
        max_record_bytes: 20,
    };
    let read = |data: &[u8], block: usize| {
        read_bytes_with(
            data,
            "t.csv",
            &spec(&["A"]),
            &limits,
            Chunking { block, chunks: 2 },
        )
        .map(|t| t.rows())
        .map_err(|e| e.to_string())
    };
    for block in [16, 1 << 20] {
        let e = read(b"CUST_ID,A,B,C\nx,1,2,3\n", block).unwrap_err();
        assert!(e.contains("4 columns") && e.contains("max_columns"), "{e}");
        assert_eq!(read(b"CUST_ID,A,B\nx,1,2\ny,2,3\n", block), Ok(2));
        let e = read(b"CUST_ID,A,B\nx,1,2\ny,2,123456789012345678901\n", block).unwrap_err();
        assert!(
            e.starts_with("t.csv:3: this row is longer than 20 bytes"),
            "{e}"
        );
        let e = read(
            b"CUST_ID,A,B\nx,1,2\ny,2,\"1234567890\n12345678901\"\n",
            block,
        )
        .unwrap_err();
        assert!(
            e.starts_with("t.csv:3: this row is longer than 20 bytes"),
            "{e}"
        );
        let e = read(b"CUST_ID,A,BBBBBBBBBBBBBBBBBBBBBB\nx,1,2\n", block).unwrap_err();
        assert!(e.starts_with("t.csv:1: this row is longer"), "{e}");
    }
}

/// Reads `data` record by record (the reference) and in chunks of every size in
/// `blocks`, and checks both give the same table, or the same error.
fn same_chunked(data: &[u8], spec: &ReadSpec, blocks: &[usize]) -> String {
    let whole = match read_from(BufReader::new(data), "t.csv", spec, &Limits::default()) {
        Ok(t) => format!("{t:?}"),
        Err(e) => format!("error: {e}"),
    };
    for &block in blocks {
        for chunks in [1, 3, 8] {
            let got = match read_chunked(
                &mut &data[..],
                "t.csv",
                spec,
                &Limits::default(),
                Some(data.len() as u64),
                Chunking { block, chunks },
                None,
            ) {
                Ok((t, _)) => format!("{t:?}"),
                Err(e) => format!("error: {e}"),
            };
            assert_eq!(
                got,
                whole,
                "block {block}, {chunks} chunks, input {:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
    whole
}

#[test]
fn chunks_split_at_records_not_inside_quotes() {
    let mut data = b"CUST_ID,A,NOTE\n".to_vec();
    for i in 0..400 {
        let note = match i % 7 {
            0 => "\"two\nlines, with a comma\"".to_string(),
            3 => "\"say \"\"hi\"\"\r\nthere\"".to_string(),
            _ => format!("n{i}"),
        };
        data.extend_from_slice(format!("c{i},{i}.5,{note}\n").as_bytes());
    }
    let t = same_chunked(&data, &spec(&["A"]), &[16, 64, 100, 1000, 1 << 20]);
    assert!(t.contains("c399"), "{t}");
    // Quotes only late in the file: chunks first, then record by record.
    let mut data = b"CUST_ID,A\n".to_vec();
    for i in 0..300 {
        data.extend_from_slice(format!("c{i},{i}\n").as_bytes());
    }
    data.extend_from_slice(b"\"q\nq\",7\nlast,8\n");
    let t = same_chunked(&data, &spec(&["A"]), &[32, 200, 1 << 20]);
    assert!(t.contains("c299q\\nqlast"), "{t}");
}

#[test]
fn errors_from_later_chunks_keep_line_and_column() {
    let mut data = b"CUST_ID,A,B\n".to_vec();
    for i in 0..1000 {
        let b = match i {
            700 => "x7".to_string(),
            900 => "1,2".to_string(),
            _ => format!("{i}"),
        };
        data.extend_from_slice(format!("c{i},{i},{b}\n").as_bytes());
    }
    let e = same_chunked(&data, &spec(&["A", "B"]), &[50, 999, 4096, 1 << 20]);
    assert_eq!(
        e,
        "error: t.csv:702: column B: \"x7\" is not a number; fix the cell, or leave it empty to mark it missing; if the column holds text (such as categories), name it in categorical B instead of features / profile_features"
    );
    // The first error in file order wins, even when a later chunk fails too.
    let e = same_chunked(&data[..data.len() - 1], &spec(&["A"]), &[50, 4096]);
    assert!(e.contains("t.csv:902:") && e.contains("4 fields"), "{e}");
    // Not required: B turns to text at its first non-number, whatever chunk it is in.
    let mut fixed = data.clone();
    let at = fixed.windows(4).position(|w| w == b"1,2\n").unwrap();
    fixed[at + 1] = b'.';
    let t = same_chunked(&fixed, &spec(&["A"]), &[50, 4096]);
    assert!(t.contains("first_text: Some((702, \"\\\"x7\\\"\"))"), "{t}");
}

#[test]
fn chunked_reading_equals_record_by_record_reading() {
    // Random small files over an alphabet with every troublesome byte: CR, LF,
    // quotes, blank lines, bad numbers, spaces, short and long rows.
    let alphabet: &[&[u8]] = &[
        b"1",
        b"2.5",
        b"-3",
        b"",
        b" ",
        b"x",
        b",",
        b"\n",
        b"\r\n",
        b"\r",
        b"\"",
        b"\n\n",
        b"1e3",
        b"\xff",
        b"7",
        b"8",
        b"9,",
        b"+1",
        b".5",
        b"5.",
        b"-0",
        b"1.5 ",
        b"-",
        b".",
        b"2e15",
        b"99999999999999999999",
        b"123456789.123",
        b"1000000000000001",
        b"0.000000001",
    ];
    let mut x: u64 = 12345;
    for case in 0..600 {
        let mut data = b"CUST_ID,A,B\n".to_vec();
        let rows = 1 + case % 40;
        for r in 0..rows {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x.is_multiple_of(5) {
                let mut piece = alphabet[(x >> 8) as usize % alphabet.len()];
                if case % 3 == 0 && piece == b"\"" {
                    // Some files without any quote: chunked from start to end.
                    piece = b"\r\r\n";
                }
                data.extend_from_slice(format!("c{r},").as_bytes());
                data.extend_from_slice(piece);
                data.extend_from_slice(b",1\n");
            } else if x.is_multiple_of(7) {
                data.extend_from_slice(format!("c{r},{},\r\n", r).as_bytes());
            } else {
                data.extend_from_slice(format!("c{r},{r}.25,{}\n", x % 100).as_bytes());
            }
        }
        let required: &[&str] = if case % 2 == 0 { &["A"] } else { &["A", "B"] };
        let mut spec = spec(required);
        // Columns not asked for are skipped from the start.
        spec.other_numeric = case % 5 != 0;
        same_chunked(&data, &spec, &[8, 33, 1 << 20]);
    }
}

#[test]
fn default_id_column_may_be_absent() {
    let t = read_bytes(b"A\n1\n2\n", "t.csv", &spec(&["A"])).unwrap();
    assert_eq!(t.id_column, None);
    assert_eq!(t.ids.get(1), "2");
}

/// A file reports the same line numbers whatever its line ends (LF, CRLF, CR), on every
/// path: record by record, chunked in blocks of every size, from a quote on.
#[test]
fn line_numbers_do_not_depend_on_line_ends() {
    let lines = [
        "CUST_ID,A,NOTE",
        "c1,1,x",
        "",
        "c2,2,\"two\nlines\"",
        "c3,3,y",
        "c4,4,z",
        "c5,oops,w",
    ];
    for eol in ["\n", "\r\n", "\r"] {
        for quoted in [false, true] {
            let text = lines
                .iter()
                .map(|l| {
                    let l = if quoted {
                        l.to_string()
                    } else {
                        l.replace("\"two\nlines\"", "two")
                    };
                    l.replace('\n', eol)
                })
                .collect::<Vec<_>>()
                .join(eol);
            let e = same_chunked(text.as_bytes(), &spec(&["A"]), &[16, 20, 33, 64, 1 << 20]);
            let want = if quoted { 8 } else { 7 };
            assert!(
                e.starts_with(&format!("error: t.csv:{want}: column A: \"oops\"")),
                "{eol:?}, quoted {quoted}: {e}"
            );
        }
    }
}
