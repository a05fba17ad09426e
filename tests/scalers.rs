//! `--scaler` (issue 17): standard and robust scaling agree with scikit-learn (inertia per
//! k no worse than StandardScaler/RobustScaler + KMeans(n_init=10)), and `predict` and
//! `serve` reproduce the run's labels for every customer, log-minmax included. A minmax
//! model stays format 1 with no `kind`, so older cardseg keeps reading default models.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;

const FEATURES: &str = "BALANCE,PURCHASES,CREDIT_LIMIT";
const USED: &str = "BALANCE,PURCHASES,CREDIT_LIMIT,PAYMENTS,TENURE";

fn run_scaled(data: &Path, out: &Path, scaler: &str) {
    let o = run(&[
        "run",
        "--quiet",
        "--no-dashboard",
        "--input",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--missing",
        "drop",
        "--k-min",
        "2",
        "--k-max",
        "8",
        "--scaler",
        scaler,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The first three fields of every line (id, segment, name), parsed as CSV.
fn first_three(text: &str) -> Vec<String> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            format!("{}|{}|{}", &rec[0], &rec[1], &rec[2])
        })
        .collect()
}

fn predict_matches(data: &Path, out: &Path) {
    let pred = out.with_extension("predict.csv");
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
    let want = first_three(&std::fs::read_to_string(out.join("labels.csv")).unwrap());
    let got = first_three(&std::fs::read_to_string(&pred).unwrap());
    assert_eq!(want.len(), 8951);
    assert_eq!(want, got, "predict differs from run");
}

/// POSTs the CSV to a fresh `cardseg serve` and returns the answer's body.
fn serve_csv(model: &Path, body: &[u8]) -> String {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--model",
            model.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("listening on http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let mut body = raw[end + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + size]);
            rest = &rest[nl + 2 + size + 2..];
        }
        body = out;
    }
    String::from_utf8(body).unwrap()
}

fn inertias(out: &Path) -> Vec<(usize, f64)> {
    let text = std::fs::read_to_string(out.join("k_selection.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let mut f = l.split(',');
            (
                f.next().unwrap().parse().unwrap(),
                f.next().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn standard_and_robust_match_scikit_learn_and_score_identically() {
    let Some(data) = real_data() else {
        return;
    };
    let Some(py) = python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for kind in ["standard", "robust"] {
        let out = dir.path().join(kind);
        run_scaled(&data, &out, kind);
        let ours = inertias(&out);
        let ks: Vec<String> = ours.iter().map(|(k, _)| k.to_string()).collect();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/scaler_check.py");
        let o = Command::new(&py)
            .arg(script)
            .arg(&data)
            .arg(kind)
            .arg(FEATURES)
            .arg(USED)
            .arg(ks.join(","))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["rows"], 8949);
        for (i, (k, inertia)) in ours.iter().enumerate() {
            let sk = r["inertia"][i].as_f64().unwrap();
            eprintln!("{kind} k={k}: cardseg {inertia:.6}, scikit-learn {sk:.6}");
            assert!(
                *inertia <= sk * (1.0 + 1e-6),
                "{kind} k={k}: {inertia} > {sk}"
            );
        }
        // The model says which scaler, with scikit-learn's scale, and needs format 2.
        let model: Value =
            serde_json::from_slice(&std::fs::read(out.join("model.json")).unwrap()).unwrap();
        assert_eq!(model["format_version"], 2);
        assert_eq!(model["model"]["scaler"]["kind"], kind);
        for (j, s) in model["model"]["scaler"]["scale"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let ours = s.as_f64().unwrap();
            let theirs = 1.0 / r["scale"][j].as_f64().unwrap();
            assert!(
                (ours - theirs).abs() <= 1e-12 * theirs.abs(),
                "{kind} scale {j}: {ours} vs {theirs}"
            );
        }
        predict_matches(&data, &out);
        let served = serve_csv(&out.join("model.json"), &std::fs::read(&data).unwrap());
        let want = first_three(&std::fs::read_to_string(out.join("labels.csv")).unwrap());
        let got = first_three(&served);
        assert_eq!(want.len(), got.len());
        for (i, (w, g)) in want.iter().zip(&got).enumerate().skip(1) {
            assert_eq!(w, g, "{kind}: serve differs from run on line {}", i + 1);
        }
    }
}

#[test]
fn log_minmax_scores_identically_and_minmax_models_stay_format_1() {
    let Some(data) = real_data() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("log");
    run_scaled(&data, &out, "log-minmax");
    let model: Value =
        serde_json::from_slice(&std::fs::read(out.join("model.json")).unwrap()).unwrap();
    assert_eq!(model["format_version"], 2);
    assert_eq!(model["model"]["scaler"]["kind"], "log-minmax");
    predict_matches(&data, &out);
    let served = serve_csv(&out.join("model.json"), &std::fs::read(&data).unwrap());
    let want = first_three(&std::fs::read_to_string(out.join("labels.csv")).unwrap());
    assert_eq!(want[1..], first_three(&served)[1..]);

    let out = dir.path().join("minmax");
    run_scaled(&data, &out, "minmax");
    let text = std::fs::read_to_string(out.join("model.json")).unwrap();
    let model: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(model["format_version"], 1);
    assert!(
        model["model"]["scaler"].get("kind").is_none(),
        "minmax writes no kind"
    );
    let o = run(&[
        "run",
        "--quiet",
        "--input",
        data.to_str().unwrap(),
        "--out",
        dir.path().join("x").to_str().unwrap(),
        "--scaler",
        "zscore",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("minmax, standard, robust or log-minmax"),
        "{}",
        stderr(&o)
    );
}
