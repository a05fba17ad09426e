//! Where does `cardseg predict` spend its time? Runs the same library calls the command
//! makes, timed one by one: read (CSV parse of the model's features:
//! `predict::read_for_model`), score (fill, scale, nearest centre: `predict::score_table`),
//! write (labels CSV: `report::files::write_label_rows`).
//!
//! Usage: cargo bench --bench predict_split -- --model model.json --input F.csv
//!        --out labels.csv   (or `bash bench/run.sh predict`)
//! Prints one JSON object on stdout. Without any argument (as `cargo test --all-targets`
//! runs it) it is a smoke run: 3,000 generated customers, a model trained on them by the
//! cardseg binary, scored back.

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let (mut model, mut input, mut out) = (None, None, None);
    // `cargo bench` appends --bench; `cargo test` passes nothing: a smoke run.
    let _smoke_dir = (std::env::args().len() == 1).then(|| {
        let (m, i, o, dir) = smoke_inputs();
        (model, input, out) = (Some(m), Some(i), Some(o));
        dir
    });
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
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
    let inputs = cardseg::output::Inputs::none().path(&model).source(&input);
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
    let provenance = cardseg::output::Provenance::new("predict", None);
    cardseg::output::write_file_atomic(&out, true, &inputs, &provenance, |w| {
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
            cardseg::report::files::LabelStyle::default(),
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

/// 3,000 generated customers and a model trained on them with `cardseg run`, in a
/// temporary directory: (model, input, labels output, the directory).
fn smoke_inputs() -> (PathBuf, String, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let input = dir.path().join("customers.csv");
    let mut csv = Vec::new();
    cardseg::generate::generate(3_000, 1, &mut csv, &|_| {}).expect("generate customers");
    std::fs::write(&input, csv).expect("write customers");
    let run = dir.path().join("run");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_cardseg"))
        .args(["run", "--quiet", "--no-dashboard", "--k", "3", "--input"])
        .arg(&input)
        .arg("--out")
        .arg(&run)
        .status()
        .expect("run cardseg");
    assert!(status.success(), "cardseg run failed");
    let input = input.to_string_lossy().into_owned();
    (
        run.join("model.json"),
        input,
        dir.path().join("labels.csv"),
        dir,
    )
}

fn usage() -> ! {
    eprintln!("usage: predict_split --model model.json --input F.csv --out labels.csv");
    std::process::exit(2);
}
