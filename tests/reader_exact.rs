//! The CSV reader reads every number exactly as the standard library's parser does, and
//! refuses exactly what it refused before: every cell of the real CC GENERAL file and
//! millions of random decimal strings (1 to 25 digits, a dot anywhere or none, signs,
//! leading zeros, exponents from e-320 to e308, malformed ones) go through
//! `ingest::csv::read_bytes` in bulk and through `ingest::number::parse_number` one by
//! one; a number is accepted when, and only when, `str::parse::<f64>` reads it (after the
//! spaces around it) as a finite value within 1e15, and then with the same bits.

#[path = "common/reference.rs"]
mod reference;

use cardseg::ingest::csv::{read_bytes, read_bytes_with, Chunking};
use cardseg::ingest::number::{parse_number, Cell, MAX_ABS};
use cardseg::ingest::{IdSpec, Limits, ReadSpec};

/// What the reader must make of a cell: None for a refusal, NaN bits for an empty cell.
fn expected(cell: &[u8]) -> Option<u64> {
    let t = std::str::from_utf8(cell.trim_ascii()).ok()?;
    if t.is_empty() {
        return Some(f64::NAN.to_bits());
    }
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= MAX_ABS => Some(v.to_bits()),
        _ => None,
    }
}

fn spec(required: &[&str], id: bool) -> ReadSpec {
    ReadSpec {
        id: if id {
            IdSpec::default_column()
        } else {
            IdSpec::RowNumber
        },
        required: required.iter().map(|s| s.to_string()).collect(),
        other_numeric: true,
        delimiter: None,
    }
}

/// xorshift64: the same strings on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random decimal string: sign, leading zeros, 1 to 25 digits with a dot anywhere (or
/// none), sometimes an exponent from e-320 to e308.
fn decimal(rng: &mut Rng) -> String {
    let mut s = String::new();
    match rng.below(4) {
        0 => s.push('-'),
        1 if rng.below(4) == 0 => s.push('+'),
        _ => {}
    }
    if rng.below(5) == 0 {
        for _ in 0..=rng.below(4) {
            s.push('0');
        }
    }
    let digits = 1 + rng.below(25) as usize;
    let mut body: String = (0..digits)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect();
    // Most numbers the size of amounts: few digits before the dot.
    if rng.below(4) != 0 {
        let dot = match rng.below(8) {
            0 => 0,
            1 => digits,
            _ => rng.below(digits.min(16) as u64 + 1) as usize,
        };
        body.insert(dot, '.');
    }
    s.push_str(&body);
    if rng.below(8) == 0 {
        let e = rng.below(629) as i64 - 320;
        s.push(if rng.below(2) == 0 { 'e' } else { 'E' });
        s.push_str(&e.to_string());
    }
    s
}

/// A string of number-like bytes that is often not a number.
fn malformed(rng: &mut Rng) -> String {
    const BYTES: &[u8] = b"0123456789..--++eE x";
    let len = 1 + rng.below(12) as usize;
    (0..len)
        .map(|_| char::from(BYTES[rng.below(BYTES.len() as u64) as usize]))
        .collect()
}

/// Checks `parse_number` on one cell; true when it holds a number.
fn check_cell(c: &str) -> bool {
    match (parse_number(c.as_bytes()), expected(c.as_bytes())) {
        (Cell::Value(v), Some(bits)) => {
            assert_eq!(v.to_bits(), bits, "{c:?}: parse_number gave {v:e}");
            true
        }
        (Cell::Missing, Some(bits)) if bits == f64::NAN.to_bits() => false,
        (Cell::Bad(_), None) => false,
        (got, want) => panic!("{c:?}: parse_number gave {got:?}, expected bits {want:?}"),
    }
}

/// Reads `cells` as column A of a CSV file through the reader: accepted ones all in one
/// file, refused ones one file each (a sample), refused with the line, column and value.
fn check_through_reader(cells: &[String]) {
    let mut good = b"A\n".to_vec();
    let mut want = Vec::new();
    let mut refused = Vec::new();
    for c in cells {
        match expected(c.as_bytes()) {
            Some(bits) => {
                good.extend_from_slice(c.as_bytes());
                good.push(b'\n');
                want.push((c, bits));
            }
            None => refused.push(c),
        }
    }
    let t = read_bytes(&good, "x.csv", &spec(&["A"], false)).expect("every cell is accepted");
    let got = &t.column("A").expect("column A").values;
    assert_eq!(got.len(), want.len());
    for (v, (c, bits)) in got.iter().zip(&want) {
        assert_eq!(v.to_bits(), *bits, "{c:?}: read {v:e}");
    }
    for (i, c) in refused.iter().take(3000).enumerate() {
        let text = format!("A\n1\n{c}\n");
        let e = read_bytes(text.as_bytes(), "x.csv", &spec(&["A"], false))
            .expect_err(c)
            .to_string();
        assert!(e.starts_with("x.csv:3: column A: "), "{c:?} ({i}): {e}");
    }
}

#[test]
fn random_decimals_read_exactly() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let cells: Vec<String> = (0..3_000_000)
        .map(|i| {
            if i % 10 == 9 {
                malformed(&mut rng)
            } else {
                decimal(&mut rng)
            }
        })
        .collect();
    let accepted = cells.iter().filter(|c| check_cell(c)).count();
    // Both kinds are there in numbers: the test sees acceptance and refusal.
    assert!(
        accepted > 1_000_000 && accepted < cells.len() - 100_000,
        "{accepted}"
    );
    check_through_reader(&cells);
}

#[test]
fn edge_decimals_read_exactly() {
    let mut cells: Vec<String> = [
        "0",
        "-0",
        "+0",
        "-0.0",
        "00",
        ".5",
        "5.",
        "-.5",
        "+.5",
        "-5.",
        ".",
        "-",
        "+",
        "-.",
        "..5",
        "5..",
        "1.2.3",
        "--1",
        "+-1",
        "1-",
        " 1.5",
        "1.5 ",
        " ",
        "9007199254740992",
        "9007199254740993",
        "9007199254740993.0",
        "900719925474099.3",
        "1234567890123456789",
        "12345678901234567890",
        "0.1234567890123456789",
        "0.12345678901234567890123",
        "1000000000000000",
        "1000000000000000.1",
        "-999999999999999.9",
        "999999999999999.99",
        "0.000000000000000000000000000001",
        "4.9e-324",
        "2.5e-324",
        "1e-400",
        "1e15",
        "1e16",
        "1e308",
        "1e309",
        "0x10",
        "1_000",
        "12345678",
        "123456789",
        "1234567.8",
        "12345678.9",
        "0.00000001",
        "99999999.99999999",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every digit count around the eight-byte words, with the dot everywhere.
    for digits in 1..=21 {
        let body: String = (0..digits)
            .map(|i| char::from(b'1' + (i % 9) as u8))
            .collect();
        for dot in 0..=digits {
            let mut s = body.clone();
            s.insert(dot, '.');
            cells.push(s.clone());
            cells.push(format!("-{s}"));
        }
        cells.push(body);
    }
    for c in &cells {
        check_cell(c);
    }
    check_through_reader(&cells);
}

#[test]
fn real_file_reads_exactly() {
    let Some(path) = reference::real_data() else {
        return;
    };
    let bytes = std::fs::read(&path).expect("read the real file");
    let t = read_bytes(&bytes, "cc_general.csv", &spec(&[], true)).expect("reads");
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let mut cells = 0usize;
    for (r, line) in lines.enumerate() {
        for (name, cell) in header.iter().zip(line.split(',')).skip(1) {
            let v = t.column(name).expect("numeric column").values[r];
            let bits = expected(cell.as_bytes()).expect("every cell is a number or empty");
            assert_eq!(v.to_bits(), bits, "line {}, {name}: {cell:?}", r + 2);
            cells += 1;
        }
    }
    assert_eq!(cells, 8950 * 17);
}

/// Rows the quick path reads (plain decimals, empty cells) and rows it leaves to the
/// general one (exponents, spaces, long or odd numbers) mixed in every column, with
/// block and chunk edges everywhere: every value as the standard parser reads it.
#[test]
fn mixed_rows_read_exactly_at_every_block_size() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut text = b"ID,A,B,C\n".to_vec();
    let mut want: Vec<[u64; 3]> = Vec::new();
    while want.len() < 3000 {
        let cells: Vec<String> = (0..3)
            .map(|_| match rng.below(20) {
                0 => String::new(),
                1..=4 => decimal(&mut rng),
                _ => format!("{}.{:06}", rng.below(100_000), rng.below(1_000_000)),
            })
            .collect();
        let Some(bits) = cells
            .iter()
            .map(|c| expected(c.as_bytes()))
            .collect::<Option<Vec<u64>>>()
        else {
            continue;
        };
        text.extend_from_slice(format!("c{},{}\n", want.len(), cells.join(",")).as_bytes());
        want.push([bits[0], bits[1], bits[2]]);
    }
    for block in [16, 61, 64, 100, 4096, 1 << 20] {
        let t = read_bytes_with(
            &text,
            "m.csv",
            &spec(&["A", "B", "C"], true),
            &Limits::default(),
            Chunking { block, chunks: 3 },
        )
        .expect("reads");
        for (k, name) in ["A", "B", "C"].iter().enumerate() {
            let got = &t.column(name).expect("column").values;
            assert_eq!(got.len(), want.len());
            for (r, w) in want.iter().enumerate() {
                assert_eq!(got[r].to_bits(), w[k], "block {block}, row {r}, {name}");
            }
        }
    }
}
