//! Core engine acceptance tests (issue 3): cross-check against scikit-learn on the real
//! file, predict reproducing labels, determinism across thread counts, clear errors.

mod common;

use std::path::Path;
use std::process::Command;

use cardseg::clean::{self, MissingPolicy};
use cardseg::cluster::kmeans::{fit_sweep, KMeansParams};
use cardseg::cluster::{select_k, silhouette};
use cardseg::ingest::{self, IdSpec, ReadSpec};
use cardseg::scale::MinMaxScaler;
use common::*;

const FEATURES: [&str; 3] = ["BALANCE", "PURCHASES", "CREDIT_LIMIT"];
const USED: [&str; 5] = ["BALANCE", "PURCHASES", "CREDIT_LIMIT", "PAYMENTS", "TENURE"];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn cross_check_against_scikit_learn_on_the_real_file() {
    let Some(data) = real_data() else { return };
    let Some(py) = python() else { return };
    // cardseg, through the library, with --missing drop.
    let mut table = ingest::read(
        &ingest::Source::new(data.to_str().unwrap()),
        &ReadSpec {
            id: IdSpec::default_column(),
            required: strings(&USED),
            other_numeric: true,
            delimiter: None,
        },
    )
    .unwrap();
    clean::clean(&mut table, &strings(&USED), MissingPolicy::Drop).unwrap();
    assert_eq!(table.rows(), 8949);
    let scaler = MinMaxScaler::fit(&table, &strings(&FEATURES)).unwrap();
    let x = scaler.transform(&table).unwrap();
    let ks: Vec<usize> = (2..=10).collect();
    let fits = fit_sweep(
        &x,
        &ks,
        &KMeansParams {
            seed: 42,
            n_init: 10,
            ..Default::default()
        },
        &|| {},
        &cardseg::cancel::Cancel::default(),
    )
    .unwrap();
    let labelings: Vec<(&[u32], usize)> = fits.iter().map(|f| (f.labels.as_slice(), f.k)).collect();
    let sils = silhouette::exact_many(&x, &labelings);
    let inertia: Vec<f64> = fits.iter().map(|f| f.inertia).collect();
    let xs: Vec<f64> = ks.iter().map(|&k| k as f64).collect();
    let knee = select_k::kneedle(&xs, &inertia).map(|k| k as i64);

    // Hand our labels to the reference.
    let dir = tempfile::tempdir().unwrap();
    let labels_path = dir.path().join("labels.csv");
    let mut text = ks
        .iter()
        .map(|k| format!("k{k}"))
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    for i in 0..x.n {
        text += &fits
            .iter()
            .map(|f| f.labels[i].to_string())
            .collect::<Vec<_>>()
            .join(",");
        text.push('\n');
    }
    std::fs::write(&labels_path, text).unwrap();
    let inertia_arg = inertia
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(",");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/sklearn_check.py");
    let out = Command::new(py)
        .arg(script)
        .arg(&data)
        .arg(&labels_path)
        .arg(FEATURES.join(","))
        .arg(USED.join(","))
        .arg(&inertia_arg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["rows"], 8949);
    for (i, k) in ks.iter().enumerate() {
        let sk = r["sklearn_inertia"][i].as_f64().unwrap();
        let ours = inertia[i];
        eprintln!(
            "k={k}: cardseg inertia {ours:.6}, scikit-learn {sk:.6}; silhouette {:.9}",
            sils[i]
        );
        assert!(
            ours <= sk * (1.0 + 1e-6),
            "k={k}: cardseg inertia {ours} > scikit-learn {sk}"
        );
        let sk_sil = r["silhouette_of_our_labels"][i].as_f64().unwrap();
        assert!(
            (sils[i] - sk_sil).abs() < 1e-6,
            "k={k}: silhouette {} vs sklearn {sk_sil}",
            sils[i]
        );
        // Our inertia is the squared distance to our centroids; recomputed from the labels'
        // means it can only be lower (means minimise it), and only slightly.
        let from_labels = r["inertia_of_our_labels"][i].as_f64().unwrap();
        assert!(
            from_labels <= ours * (1.0 + 1e-9) && from_labels >= ours * (1.0 - 1e-3),
            "k={k}: {from_labels} vs {ours}"
        );
    }
    assert_eq!(
        r["kneed_knee"].as_i64(),
        knee,
        "Kneedle knee differs from the kneed package"
    );

    // The CLI reports the same figures and picks that knee.
    let out_dir = dir.path().join("run");
    let o = run(&[
        "run",
        "--quiet",
        "--input",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--missing",
        "drop",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ksel = std::fs::read_to_string(out_dir.join("k_selection.csv")).unwrap();
    for (i, line) in ksel.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0].parse::<usize>().unwrap(), ks[i]);
        assert_eq!(f[1].parse::<f64>().unwrap(), inertia[i]);
        assert_eq!(f[2].parse::<f64>().unwrap(), sils[i]);
        assert_eq!(f[3], "exact");
    }
    let model: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("model.json")).unwrap()).unwrap();
    assert_eq!(model["model"]["k"].as_i64(), knee);
    assert_eq!(model["model"]["training_rows"], 8949);
    // Dropped customers are still listed, unlabelled.
    let labels = std::fs::read_to_string(out_dir.join("labels.csv")).unwrap();
    assert_eq!(labels.lines().count(), 8951);
    assert_eq!(labels.lines().filter(|l| l.ends_with(",,")).count(), 1);
}

#[test]
fn median_labels_everyone_and_predict_reproduces_labels_byte_for_byte() {
    let Some(data) = real_data() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = run(&[
        "run",
        "--quiet",
        "--input",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let labels = std::fs::read(out.join("labels.csv")).unwrap();
    let text = String::from_utf8(labels.clone()).unwrap();
    assert_eq!(text.lines().count(), 8951);
    assert!(text.starts_with("CUST_ID,segment,segment_name,distance,distance_percentile,outlier\n"));
    assert!(text.lines().skip(1).all(|l| !l.ends_with(",,")));
    let pred = dir.path().join("pred.csv");
    let o = run(&[
        "predict",
        "--quiet",
        "--model",
        out.join("model.json").to_str().unwrap(),
        "--input",
        data.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        std::fs::read(&pred).unwrap() == labels,
        "predict output differs from labels.csv"
    );
    // predict refuses to overwrite without --force, and leaves the file alone.
    let o = run(&[
        "predict",
        "--model",
        out.join("model.json").to_str().unwrap(),
        "--input",
        data.to_str().unwrap(),
        "--out",
        pred.to_str().unwrap(),
    ]);
    assert_clean_error(&o, "already exists");
    // Segments are numbered largest first and shares sum to 1.
    let seg = std::fs::read_to_string(out.join("segments.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(seg.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let sizes: Vec<u64> = rows.iter().map(|r| r[2].parse().unwrap()).collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    assert_eq!(sizes.iter().sum::<u64>(), 8950);
    let share: f64 = rows.iter().map(|r| r[3].parse::<f64>().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-9);
}

fn run_dir(
    data: &Path,
    out: &Path,
    threads: &str,
    extra: &[&str],
) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut args = vec![
        "run",
        "--quiet",
        "--input",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run_env(&args, &[("RAYON_NUM_THREADS", threads)]);
    assert!(o.status.success(), "{}", stderr(&o));
    snapshot(out)
}

#[test]
fn same_input_and_seed_give_byte_identical_outputs_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    // A generated file large enough for the sampled silhouette (rows > 20,000).
    let gen = dir.path().join("gen.csv");
    let o = run(&[
        "generate",
        "--rows",
        "30000",
        "--seed",
        "7",
        "--out",
        gen.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut inputs = vec![(gen, vec!["--k-max", "6", "--n-init", "3"])];
    if let Some(real) = real_data() {
        inputs.push((real, vec![]));
    }
    for (i, (data, extra)) in inputs.iter().enumerate() {
        let a = run_dir(data, &dir.path().join(format!("a{i}")), "1", extra);
        let b = run_dir(data, &dir.path().join(format!("b{i}")), "2", extra);
        let c = run_dir(data, &dir.path().join(format!("c{i}")), "2", extra);
        assert_eq!(a.len(), b.len());
        for ((na, ba), (nb, bb)) in a.iter().zip(&b) {
            assert_eq!(na, nb);
            assert!(
                ba == bb,
                "{} differs between 1 and 2 threads for {}",
                na.display(),
                data.display()
            );
        }
        assert!(b == c, "two runs with 2 threads differ");
    }
    let ksel = std::fs::read_to_string(dir.path().join("a0/k_selection.csv")).unwrap();
    assert!(
        ksel.lines().skip(1).all(|l| l.contains(",sampled,")),
        "{ksel}"
    );
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn bad_input_gets_a_clear_error_and_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = d.join("out");
    let out_s = out.to_str().unwrap().to_string();
    let good_rows: String = (0..30)
        .map(|i| {
            format!(
                "c{i},{},{},{},{},12\n",
                i * 10,
                (i * 37) % 100,
                1000 + i * 50,
                i
            )
        })
        .collect();
    let header = "CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT,PAYMENTS,TENURE\n";
    let cases: Vec<(String, Vec<String>, &str)> = vec![
        (
            write(
                d,
                "nocol.csv",
                "CUST_ID,BALANCE,PURCHASES,PAYMENTS,TENURE\nc1,1,2,3,4\n",
            ),
            vec![],
            "column CREDIT_LIMIT not found",
        ),
        (
            write(
                d,
                "text.csv",
                &format!("{header}{good_rows}c99,12,abc,100,1,12\n"),
            ),
            vec![],
            ":32: column PURCHASES: \"abc\" is not a number",
        ),
        (write(d, "empty.csv", ""), vec![], "empty"),
        (
            write(
                d,
                "few.csv",
                &format!("{header}a,1,2,3,4,12\nb,2,3,4,5,12\nc,5,1,7,1,12\n"),
            ),
            vec![],
            "lower --k-max",
        ),
        (
            d.join("missing.csv").to_str().unwrap().to_string(),
            vec![],
            "no such file",
        ),
        (d.to_str().unwrap().to_string(), vec![], "is a directory"),
        (
            write(d, "good.csv", &format!("{header}{good_rows}")),
            vec!["--k-min".into(), "5".into(), "--k-max".into(), "3".into()],
            "larger than --k-max",
        ),
        (
            write(d, "good2.csv", &format!("{header}{good_rows}")),
            vec!["--k".into(), "1".into()],
            "at least 2",
        ),
    ];
    for (input, extra, needle) in &cases {
        let mut args = vec!["run", "--input", input.as_str(), "--out", out_s.as_str()];
        args.extend(extra.iter().map(String::as_str));
        let o = run(&args);
        assert_clean_error(&o, needle);
        assert!(!out.exists(), "output dir left behind for {input}");
        assert_eq!(
            std::fs::read_dir(d)
                .unwrap()
                .filter(|e| e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .contains("cardseg-tmp"))
                .count(),
            0
        );
    }
    // A non-empty output directory is refused and left untouched.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("mine.txt"), "keep").unwrap();
    let good = write(d, "good3.csv", &format!("{header}{good_rows}"));
    let o = run(&["run", "--input", &good, "--out", &out_s, "--k-max", "4"]);
    assert_clean_error(&o, "pass --force");
    assert_eq!(
        std::fs::read_to_string(out.join("mine.txt")).unwrap(),
        "keep"
    );
    // --force does not delete a directory that is not a cardseg output...
    let o = run(&[
        "run", "--quiet", "--input", &good, "--out", &out_s, "--k-max", "4", "--force",
    ]);
    assert_clean_error(&o, "not a cardseg output");
    assert_eq!(
        std::fs::read_to_string(out.join("mine.txt")).unwrap(),
        "keep"
    );
    // ...but replaces an earlier result as a whole.
    std::fs::remove_dir_all(&out).unwrap();
    let o = run(&[
        "run", "--quiet", "--input", &good, "--out", &out_s, "--k-max", "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = snapshot(&out);
    let o = run(&[
        "run", "--quiet", "--input", &good, "--out", &out_s, "--k-max", "3", "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        snapshot(&out) != first,
        "the second run should have replaced the first"
    );
}

#[test]
fn tampered_truncated_future_and_mismatched_models_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("gen.csv");
    assert!(
        run(&["generate", "--rows", "500", "--out", data.to_str().unwrap()])
            .status
            .success()
    );
    let out = d.join("run");
    let o = run(&[
        "run",
        "--quiet",
        "--input",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--k-max",
        "4",
        "--n-init",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let model = std::fs::read_to_string(out.join("model.json")).unwrap();
    let predict = |m: &str, input: &str| {
        let mp = d.join("m.json");
        std::fs::write(&mp, m).unwrap();
        let target = d.join("p.csv");
        let _ = std::fs::remove_file(&target);
        let o = run(&[
            "predict",
            "--model",
            mp.to_str().unwrap(),
            "--input",
            input,
            "--out",
            target.to_str().unwrap(),
        ]);
        assert!(!target.exists() || o.status.success());
        o
    };
    let input = data.to_str().unwrap();
    assert!(predict(&model, input).status.success());
    // Change one digit of a number inside the model.
    let pos = model.find("\"inertia\": ").unwrap() + 11;
    let mut edited = model.clone().into_bytes();
    edited[pos] = if edited[pos] == b'1' { b'2' } else { b'1' };
    assert_clean_error(
        &predict(&String::from_utf8(edited).unwrap(), input),
        "checksum mismatch",
    );
    assert_clean_error(&predict(&model[..model.len() / 2], input), "truncated");
    let future = model.replacen("\"format_version\": 1", "\"format_version\": 99", 1);
    assert_clean_error(&predict(&future, input), "newer cardseg");
    assert_clean_error(&predict("{\"hello\": 1}", input), "not a cardseg model");
    let other = write(d, "other.csv", "CUST_ID,BALANCE,PURCHASES\na,1,2\n");
    assert_clean_error(&predict(&model, &other), "column CREDIT_LIMIT not found");
}

#[test]
fn demo_runs_and_can_be_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo");
    for _ in 0..2 {
        let o = run(&[
            "demo",
            "--out",
            out.to_str().unwrap(),
            "--rows",
            "3000",
            "--n-init",
            "2",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(stdout.contains("Segmented 3000 customers"), "{stdout}");
    }
    for f in [
        "labels.csv",
        "segments.csv",
        "k_selection.csv",
        "summary.md",
        "model.json",
        "demo_input.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // A directory that is not the demo's own is not replaced.
    let other = dir.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("x"), "keep").unwrap();
    let o = run(&["demo", "--out", other.to_str().unwrap(), "--rows", "500"]);
    assert_clean_error(&o, "--force");
}

/// Too few customers for the k asked: the message names the parameter to lower, with its
/// value — the sweep's top with a fixed k that fits, the fixed k when it does not.
#[test]
fn too_few_customers_names_the_k_to_lower() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows: String = (0..5)
        .map(|i| format!("c{i},{i},{},{},1,12\n", i * 2, i * 3))
        .collect();
    let data = write(
        d,
        "five.csv",
        &format!("CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT,PAYMENTS,TENURE\n{rows}"),
    );
    let err = |extra: &[&str]| {
        let out = d.join("out");
        let mut args = vec!["run", "--input", &data, "--out", s(&out)];
        args.extend_from_slice(extra);
        let o = quiet(&args);
        assert!(!o.status.success());
        assert!(!out.exists());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = err(&["--k", "2"]);
    assert!(
        e.contains("the k sweep goes up to --k-max 10") && e.contains("lower --k-max below 5"),
        "{e}"
    );
    let e = err(&["--k", "7", "--k-max", "4"]);
    assert!(
        e.contains("--k 7 asks for 7 segments") && e.contains("lower --k below 5"),
        "{e}"
    );
    let e = err(&["--k", "5"]);
    assert!(e.contains("lower --k and --k-max below 5"), "{e}");
    let e = err(&["--k-min", "6", "--k-max", "8"]);
    assert!(
        e.contains("the k sweep starts at --k-min 6")
            && e.contains("lower --k-min and --k-max below 5"),
        "{e}"
    );
    // Fewer than 3 customers: no k fits, so the message asks for customers instead.
    let header = "CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT,PAYMENTS,TENURE\n";
    for (n, words) in [
        (1, "only 1 customer to segment;"),
        (2, "only 2 customers to segment;"),
    ] {
        let rows: String = (0..n).map(|i| format!("c{i},{i},2,3,1,12\n")).collect();
        let small = write(d, "small.csv", &format!("{header}{rows}"));
        let out = d.join("out");
        let o = quiet(&["run", "--input", &small, "--out", s(&out)]);
        assert_clean_error(&o, words);
        assert_clean_error(&o, "at least 3 customers are needed");
        assert!(!stderr(&o).contains("lower"), "{}", stderr(&o));
        assert!(!out.exists());
    }
}
