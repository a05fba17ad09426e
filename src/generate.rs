//! `cardseg generate`: synthetic customers with the CC GENERAL schema, for demos, tests
//! and benchmarks at any size. Several behavioural groups (transactors, revolvers,
//! high-limit spenders, dormant accounts, cash-advance users, new accounts) with heavy
//! right tails, zeros where real cards have them, and missing values at the real
//! file's rates. Deterministic per seed whatever the thread count: rows are made in
//! fixed blocks, each from its own stream.

use std::io::Write;

use rayon::prelude::*;

use crate::rng::Rng;

/// The CC GENERAL schema, in the real file's column order, so generated data reads
/// like the real extract.
pub const COLUMNS: [&str; 18] = [
    "CUST_ID",
    "BALANCE",
    "BALANCE_FREQUENCY",
    "PURCHASES",
    "ONEOFF_PURCHASES",
    "INSTALLMENTS_PURCHASES",
    "CASH_ADVANCE",
    "PURCHASES_FREQUENCY",
    "ONEOFF_PURCHASES_FREQUENCY",
    "PURCHASES_INSTALLMENTS_FREQUENCY",
    "CASH_ADVANCE_FREQUENCY",
    "CASH_ADVANCE_TRX",
    "PURCHASES_TRX",
    "CREDIT_LIMIT",
    "PAYMENTS",
    "MINIMUM_PAYMENTS",
    "PRC_FULL_PAYMENT",
    "TENURE",
];

const BLOCK: u64 = 16_384;
/// Real-file rates: 313 of 8,950 MINIMUM_PAYMENTS and 1 of 8,950 CREDIT_LIMIT are empty.
const MISSING_MIN_PAYMENTS: f64 = 313.0 / 8950.0;
const MISSING_CREDIT_LIMIT: f64 = 1.0 / 8950.0;

struct Group {
    weight: f64,
    balance: (f64, f64),
    purchases: (f64, f64),
    zero_purchases: f64,
    oneoff_share: f64,
    cash: (f64, f64),
    zero_cash: f64,
    limit: (f64, f64),
    full_pay: (f64, f64),
    tenure_short: f64,
}

/// (median, log-sd) pairs for log-normal amounts.
const GROUPS: [Group; 6] = [
    // transactors: spend a lot, pay in full, little balance
    Group {
        weight: 0.22,
        balance: (350.0, 1.0),
        purchases: (1800.0, 0.8),
        zero_purchases: 0.0,
        oneoff_share: 0.55,
        cash: (300.0, 1.0),
        zero_cash: 0.85,
        limit: (5500.0, 0.5),
        full_pay: (0.75, 0.2),
        tenure_short: 0.1,
    },
    // revolvers: carry a balance, buy little
    Group {
        weight: 0.24,
        balance: (3200.0, 0.6),
        purchases: (250.0, 1.2),
        zero_purchases: 0.3,
        oneoff_share: 0.5,
        cash: (600.0, 1.0),
        zero_cash: 0.55,
        limit: (5000.0, 0.5),
        full_pay: (0.02, 0.05),
        tenure_short: 0.1,
    },
    // high-limit spenders
    Group {
        weight: 0.08,
        balance: (2600.0, 0.8),
        purchases: (6500.0, 0.6),
        zero_purchases: 0.0,
        oneoff_share: 0.7,
        cash: (800.0, 1.0),
        zero_cash: 0.7,
        limit: (13000.0, 0.35),
        full_pay: (0.35, 0.3),
        tenure_short: 0.05,
    },
    // dormant / low engagement
    Group {
        weight: 0.26,
        balance: (120.0, 1.2),
        purchases: (80.0, 1.0),
        zero_purchases: 0.65,
        oneoff_share: 0.4,
        cash: (200.0, 1.0),
        zero_cash: 0.85,
        limit: (2500.0, 0.5),
        full_pay: (0.1, 0.2),
        tenure_short: 0.12,
    },
    // cash-advance users
    Group {
        weight: 0.13,
        balance: (2700.0, 0.7),
        purchases: (150.0, 1.2),
        zero_purchases: 0.45,
        oneoff_share: 0.5,
        cash: (2600.0, 0.7),
        zero_cash: 0.0,
        limit: (4500.0, 0.5),
        full_pay: (0.01, 0.03),
        tenure_short: 0.15,
    },
    // new accounts
    Group {
        weight: 0.07,
        balance: (700.0, 1.0),
        purchases: (500.0, 1.0),
        zero_purchases: 0.25,
        oneoff_share: 0.5,
        cash: (400.0, 1.0),
        zero_cash: 0.6,
        limit: (2000.0, 0.5),
        full_pay: (0.1, 0.2),
        tenure_short: 0.9,
    },
];

fn lognormal(rng: &mut Rng, (median, sd): (f64, f64)) -> f64 {
    median * (sd * rng.normal()).exp()
}

fn clamp01(v: f64) -> f64 {
    v.clamp(0.0, 1.0)
}

fn push_num(buf: &mut Vec<u8>, v: f64) {
    buf.push(b',');
    let _ = write!(buf, "{:.6}", v);
}

fn push_int(buf: &mut Vec<u8>, v: u64) {
    buf.push(b',');
    buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn round_cents(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn write_row(buf: &mut Vec<u8>, id: u64, rng: &mut Rng) {
    let r = rng.uniform();
    let mut acc = 0.0;
    let mut g = &GROUPS[GROUPS.len() - 1];
    for grp in &GROUPS {
        acc += grp.weight;
        if r < acc {
            g = grp;
            break;
        }
    }
    let tenure: u64 = if rng.uniform() < g.tenure_short {
        6 + rng.below(6)
    } else {
        12
    };
    let mut limit = (lognormal(rng, g.limit) / 50.0).round() * 50.0;
    limit = limit.clamp(50.0, 30_000.0);
    let balance = lognormal(rng, g.balance).min(limit * 1.6);
    let purchases = if rng.uniform() < g.zero_purchases {
        0.0
    } else {
        round_cents(lognormal(rng, g.purchases))
    };
    let oneoff_share = clamp01(g.oneoff_share + 0.25 * rng.normal());
    let oneoff = round_cents(purchases * oneoff_share);
    let installments = round_cents(purchases - oneoff).max(0.0);
    let cash = if rng.uniform() < g.zero_cash {
        0.0
    } else {
        lognormal(rng, g.cash)
    };
    let purchases_trx: u64 = if purchases > 0.0 {
        1 + (purchases / (40.0 + 60.0 * rng.uniform())) as u64
    } else {
        0
    };
    let purchases_trx = purchases_trx.min(360);
    let pf = if purchases > 0.0 {
        clamp01(purchases_trx as f64 / 24.0 + 0.1 * rng.normal()).max(1.0 / 12.0)
    } else {
        0.0
    };
    let ooff = if oneoff > 0.0 {
        clamp01(pf * oneoff_share + 0.05 * rng.normal()).max(1.0 / 12.0)
    } else {
        0.0
    };
    let inf = if installments > 0.0 {
        clamp01(pf * (1.0 - oneoff_share) + 0.05 * rng.normal()).max(1.0 / 12.0)
    } else {
        0.0
    };
    let cash_trx: u64 = if cash > 0.0 {
        1 + (cash / (150.0 + 300.0 * rng.uniform())) as u64
    } else {
        0
    };
    let caf = if cash > 0.0 {
        (cash_trx as f64 / 12.0).min(1.5)
    } else {
        0.0
    };
    let bf = if balance < 50.0 {
        clamp01(0.3 + 0.4 * rng.uniform())
    } else {
        clamp01(0.85 + 0.2 * rng.uniform())
    };
    let full_pay = clamp01(g.full_pay.0 + g.full_pay.1 * rng.normal());
    let min_pay =
        (balance * (0.03 + 0.1 * rng.uniform())).max(if balance > 0.0 { 0.02 } else { 0.0 });
    let payments = (balance * (0.2 + full_pay) + purchases * (0.6 + 0.4 * full_pay) + cash * 0.8)
        * (0.5 + rng.uniform());

    buf.push(b'C');
    buf.extend_from_slice(itoa::Buffer::new().format(10_001 + id).as_bytes());
    push_num(buf, balance);
    push_num(buf, bf);
    push_num(buf, purchases);
    push_num(buf, oneoff);
    push_num(buf, installments);
    push_num(buf, cash);
    push_num(buf, pf);
    push_num(buf, ooff);
    push_num(buf, inf);
    push_num(buf, caf);
    push_int(buf, cash_trx);
    push_int(buf, purchases_trx);
    if rng.uniform() < MISSING_CREDIT_LIMIT {
        buf.push(b',');
    } else {
        push_num(buf, limit);
    }
    push_num(buf, payments);
    if rng.uniform() < MISSING_MIN_PAYMENTS {
        buf.push(b',');
    } else {
        push_num(buf, min_pay);
    }
    push_num(buf, full_pay);
    push_int(buf, tenure);
    buf.push(b'\n');
}

fn block(seed: u64, b: u64, rows: u64) -> Vec<u8> {
    let start = b * BLOCK;
    let end = (start + BLOCK).min(rows);
    let mut rng = Rng::derive(seed, &[0x6E4, b]);
    let mut buf = Vec::with_capacity(((end - start) * 180) as usize);
    for id in start..end {
        write_row(&mut buf, id, &mut rng);
    }
    buf
}

/// Blocks per batch made in parallel; a batch is one part of [`generate_parts`].
const BATCH_BLOCKS: u64 = 64;

/// Customers per part of [`generate_parts`] (the last part may hold fewer).
pub const PART_ROWS: u64 = BLOCK * BATCH_BLOCKS;

/// Blocks `b..end` of a run of `rows` customers, made in parallel, in order.
fn batch(seed: u64, rows: u64, b: u64, end: u64) -> Vec<Vec<u8>> {
    (b..end)
        .into_par_iter()
        .map(|i| block(seed, i, rows))
        .collect()
}

/// Writes `rows` synthetic customers as CSV (header included).
pub fn generate(
    rows: u64,
    seed: u64,
    w: &mut dyn Write,
    on_rows: &dyn Fn(u64),
) -> std::io::Result<()> {
    writeln!(w, "{}", COLUMNS.join(","))?;
    let blocks = rows.div_ceil(BLOCK);
    let mut b = 0;
    while b < blocks {
        let end = (b + BATCH_BLOCKS).min(blocks);
        for (i, p) in (b..end).zip(&batch(seed, rows, b, end)) {
            w.write_all(p)?;
            on_rows((((i + 1) * BLOCK).min(rows)) - i * BLOCK);
        }
        b = end;
    }
    Ok(())
}

/// The customers [`generate`] writes, as CSV parts of [`PART_ROWS`] rows each with the
/// header, handed to `on_part` in order: memory stays one part's worth at any size.
pub fn generate_parts<E, F>(rows: u64, seed: u64, on_part: F) -> Result<(), E>
where
    F: FnMut(&[u8], u64) -> Result<(), E>,
{
    parts_of(rows, seed, BATCH_BLOCKS, on_part)
}

/// [`generate_parts`] with parts of `part_blocks` blocks.
fn parts_of<E, F>(rows: u64, seed: u64, part_blocks: u64, mut on_part: F) -> Result<(), E>
where
    F: FnMut(&[u8], u64) -> Result<(), E>,
{
    let blocks = rows.div_ceil(BLOCK);
    let mut buf = Vec::new();
    let mut b = 0;
    while b < blocks {
        let end = (b + part_blocks).min(blocks);
        buf.clear();
        buf.extend_from_slice(COLUMNS.join(",").as_bytes());
        buf.push(b'\n');
        for p in batch(seed, rows, b, end) {
            buf.extend_from_slice(&p);
        }
        on_part(&buf, (end * BLOCK).min(rows) - b * BLOCK)?;
        b = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_well_formed() {
        let mut a = Vec::new();
        generate(2000, 7, &mut a, &|_| {}).unwrap();
        let mut b = Vec::new();
        generate(2000, 7, &mut b, &|_| {}).unwrap();
        assert_eq!(a, b);
        let mut c = Vec::new();
        generate(2000, 8, &mut c, &|_| {}).unwrap();
        assert_ne!(a, c);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), 2001);
        assert!(text.lines().all(|l| l.split(',').count() == 18));
        // In parts, the same rows: each part its header, then its rows.
        let rows = 2 * BLOCK + 3;
        let mut whole = Vec::new();
        generate(rows, 7, &mut whole, &|_| {}).unwrap();
        let mut joined = Vec::new();
        let mut counts = Vec::new();
        parts_of::<(), _>(rows, 7, 2, |p, n| {
            let body = p.splitn(2, |b| *b == b'\n').nth(1).unwrap();
            if joined.is_empty() {
                joined.extend_from_slice(&p[..p.len() - body.len()]);
            }
            joined.extend_from_slice(body);
            counts.push(n);
            Ok(())
        })
        .unwrap();
        assert_eq!(counts, vec![2 * BLOCK, 3]);
        assert!(joined == whole);
    }
}
