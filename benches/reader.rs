//! The CSV reader on one core: `ingest::csv::read_bytes_with` over generated customers
//! in the CC GENERAL layout (CUST_ID and 17 numeric columns, as `cardseg generate`
//! writes them), inside a one-thread pool, throughput in bytes of CSV. Two reads: every
//! column loaded (what `run` asks for: the features and every other numeric column for
//! the profile) and the three default features only (the other columns skipped without
//! parsing their numbers). A third group parses the cells one by one with
//! `ingest::number::parse_number`, the parser every text source shares.
//!
//! Time is the process's CPU time, not wall time: on a shared machine the figure stays
//! what one core does (bytes per CPU second: MB/s per core), whatever else runs.
//!
//! Run: cargo bench --bench reader [-- FILTER]; the size is
//! `CARDSEG_BENCH_READER_ROWS` (default 200,000 rows, about 31 MB).

use std::hint::black_box;

use cardseg::ingest::csv::{read_bytes_with, Chunking};
use cardseg::ingest::number::{parse_number, Cell};
use cardseg::ingest::{IdSpec, Limits, ReadSpec};
use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// CPU time of the whole process (every thread), in nanoseconds.
struct CpuTime;

fn process_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for clock_gettime to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        process_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        process_cpu_ns().saturating_sub(start)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Milliseconds of CPU time; bytes per CPU second as MB/s per core.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, _typical: f64, values: &mut [f64]) -> &'static str {
        values.iter_mut().for_each(|v| *v /= 1e6);
        "ms cpu"
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        match t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => {
                values.iter_mut().for_each(|v| *v = *n as f64 * 1e3 / *v);
                "MB/s per core"
            }
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n, .. } => {
                values.iter_mut().for_each(|v| *v = *n as f64 * 1e3 / *v);
                "M elements/s per core"
            }
            Throughput::Bits(n) => {
                values.iter_mut().for_each(|v| *v = *n as f64 * 1e3 / *v);
                "Mbit/s per core"
            }
        }
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns cpu"
    }
}

fn rows() -> u64 {
    std::env::var("CARDSEG_BENCH_READER_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn spec(all: bool) -> ReadSpec {
    let required = if all {
        cardseg::DEFAULT_FEATURES
            .iter()
            .chain(&cardseg::DEFAULT_PROFILE_FEATURES)
            .map(|s| s.to_string())
            .collect()
    } else {
        cardseg::DEFAULT_FEATURES
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    ReadSpec {
        id: IdSpec::default_column(),
        required,
        other_numeric: all,
        delimiter: None,
    }
}

fn reader(c: &mut Criterion<CpuTime>) {
    let mut buf = Vec::new();
    cardseg::generate::generate(rows(), 3, &mut buf, &|_| {}).expect("generate into memory");
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a one-thread pool");
    let mut g = c.benchmark_group(format!("read_bytes {} CC rows, one thread", rows()));
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.sample_size(10);
    for (name, all) in [("every column", true), ("three features", false)] {
        let spec = spec(all);
        g.bench_function(name, |b| {
            b.iter(|| {
                one.install(|| {
                    black_box(
                        read_bytes_with(
                            black_box(&buf),
                            "bench.csv",
                            &spec,
                            &Limits::default(),
                            Chunking::default(),
                        )
                        .expect("parses"),
                    )
                })
            })
        });
    }
    g.finish();

    // Every numeric cell of the same text, parsed one by one.
    let cells: Vec<&[u8]> = buf
        .split(|&b| b == b'\n')
        .skip(1)
        .flat_map(|line| line.split(|&b| b == b',').skip(1))
        .collect();
    let bytes: usize = cells.iter().map(|c| c.len()).sum();
    let mut g = c.benchmark_group("parse_number, CC cells");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.bench_function("one by one", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            for cell in &cells {
                if let Cell::Value(v) = parse_number(black_box(cell)) {
                    sum += v;
                }
            }
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = reader
}
criterion_main!(benches);
