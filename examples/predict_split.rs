//! Where does `cardseg predict` spend its time? Runs the same library calls the command
//! makes, timed one by one: read (CSV parse of the model's features:
//! `predict::read_for_model`), score (fill, scale, nearest centre: `predict::score_table`),
//! write (labels CSV: `report::files::write_label_rows`).
//!
//! Usage: cargo run --release --example predict_split -- --model model.json
//!        --input F.csv --out labels.csv
//! Prints one JSON object on stdout.

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let (mut model, mut input, mut out) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--model" => model = args.next().map(PathBuf::from),
            "--input" => input = args.next(),
            "--out" => out = args.next().map(PathBuf::from),
            _ => usage(),
        }
    }
    let (Some(model), Some(input), Some(out)) = (model, input, out) else {
        usage()
    };
    let fail = |e: cardseg::Error| -> ! {
        eprintln!("error: {e}");
        std::process::exit(1)
    };
    cardseg::progress::set_quiet(true);
    let t_all = Instant::now();
    let (model, _) = cardseg::model::Model::load(&model).unwrap_or_else(|e| fail(e));
    let t = Instant::now();
    let table = cardseg::predict::read_for_model(
        &model,
        &cardseg::ingest::Source::new(input.clone()),
        None,
    )
    .unwrap_or_else(|e| fail(e));
    let read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let cardseg::predict::Scores { labels, distances } =
        cardseg::predict::score_table_with_distances(&model, &table).unwrap_or_else(|e| fail(e));
    let score = t.elapsed().as_secs_f64();
    let t = Instant::now();
    cardseg::output::write_file_atomic(&out, true, |w| {
        cardseg::report::files::write_label_rows(
            w,
            &out,
            &model,
            &cardseg::labels::Labels::per_row(&table.ids, &labels),
            &|l| {
                cardseg::lifecycle::outliers::Outlier::of(
                    &model,
                    l.segment.unwrap_or(0) as usize,
                    distances[l.row].0,
                )
            },
            false,
        )
    })
    .unwrap_or_else(|e| fail(e));
    let write = t.elapsed().as_secs_f64();
    let total = t_all.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "rows": table.rows(),
            "read_seconds": read,
            "score_seconds": score,
            "write_seconds": write,
            "total_seconds": total,
            "score_share": score / total,
            "read_share": read / total,
            "write_share": write / total,
        })
    );
}

fn usage() -> ! {
    eprintln!("usage: predict_split --model model.json --input F.csv --out labels.csv");
    std::process::exit(2);
}
