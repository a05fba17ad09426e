//! `cardseg serve` end to end: the real binary on an ephemeral loopback port, spoken to
//! with a minimal HTTP/1.1 client over std::net. Every wait is bounded, and each server is
//! killed by a Drop guard if a test fails midway.
//!
//! Tests that need the real CC GENERAL file skip (with a message) when it is absent,
//! unless CARDSEG_REQUIRE_REFERENCE=1, when they fail instead.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::serve::Server;
use common::BIN;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

fn tmpdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("cardseg-serve-test")
        .tempdir()
        .unwrap()
}

/// Runs a cardseg command to completion (bounded) and asserts success.
fn cardseg(args: &[&str]) {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--quiet")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert!(status.success(), "cardseg {args:?} failed: {err}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("cardseg {args:?} took more than 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A model trained on synthetic customers (no real data needed).
fn synthetic_model(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let data = dir.join(format!("{name}.csv"));
    if !data.exists() {
        cardseg(&[
            "generate",
            "--rows",
            "3000",
            "--seed",
            "7",
            "--out",
            data.to_str().unwrap(),
        ]);
    }
    let out = dir.join(name);
    let mut args = vec![
        "run",
        "--input",
        data.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-dashboard",
        "--n-init",
        "2",
    ];
    args.extend_from_slice(extra);
    cardseg(&args);
    out.join("model.json")
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill failed");
}

impl Server {
    fn start(model: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args([
            "serve",
            "--model",
            model.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        Server::spawn(cmd, Duration::from_secs(20))
    }

    fn wait_log(&self, needle: &str) -> String {
        self.wait_log_times(needle, 1, Duration::from_secs(20))
    }

    fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(self.port, method, path, headers, body)
    }

    fn json(&self, body: &str) -> Resp {
        self.req(
            "POST",
            "/v1/score",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    }

    /// Polls /metrics until `name` reaches `at_least` (a readiness signal, not a sleep);
    /// returns the last metrics text.
    fn wait_metric(&self, name: &str, at_least: f64, within: Duration) -> String {
        self.wait_metrics(within, &format!("{name} >= {at_least}"), |m| {
            metric(m, name) >= at_least
        })
    }

    /// Polls /metrics until `ready` holds on its text; returns that text.
    fn wait_metrics(&self, within: Duration, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let m = self.req("GET", "/metrics", &[], b"").text();
            if ready(&m) {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "{what} did not hold within {within:?}: {m}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {within:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// Asserts a JSON error with this status; returns the body.
    fn error(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert!(
            self.header("content-type")
                .unwrap_or("")
                .starts_with("application/json"),
            "{:?}",
            self.headers
        );
        let v = self.json();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        v
    }
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn head(method: &str, path: &str, headers: &[(&str, &str)], len: Option<usize>) -> Vec<u8> {
    let mut h = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(n) = len {
        h.push_str(&format!("Content-Length: {n}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// Sends one request on a new connection and reads until the server closes it.
fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Vec<u8>> {
    let mut s = connect(port);
    let mut msg = head(
        method,
        path,
        headers,
        (method != "GET" || !body.is_empty()).then_some(body.len()),
    );
    msg.extend_from_slice(body);
    s.write_all(&msg)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Ok(raw)
}

fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    parse_response(&exchange(port, method, path, headers, body).unwrap())
}

/// `request` for a connection the server may close at once (over --max-connections):
/// None when it sends nothing.
fn try_request(port: u16, method: &str, path: &str) -> Option<Resp> {
    let raw = exchange(port, method, path, &[], b"").ok()?;
    (!raw.is_empty()).then(|| parse_response(&raw))
}

/// One response read from a connection left open (keep-alive): the head, then
/// Content-Length bytes of body.
fn read_one_response(s: &mut TcpStream) -> Resp {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).unwrap(),
            1,
            "closed before a response head"
        );
        raw.push(byte[0]);
    }
    let len = parse_response(&raw)
        .header("content-length")
        .map_or(0, |v| v.parse::<usize>().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    raw.extend_from_slice(&body);
    parse_response(&raw)
}

fn read_response(s: &mut TcpStream) -> Resp {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
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
    Resp {
        status,
        headers,
        body,
    }
}

/// `cardseg run` + `cardseg predict` on the real file: the model and predict's labels.
fn real_model_and_labels(dir: &Path, real: &str) -> (PathBuf, String) {
    let out = dir.join("run");
    cardseg(&[
        "run",
        "--input",
        real,
        "--out",
        out.to_str().unwrap(),
        "--no-dashboard",
    ]);
    let labels = dir.join("predict.csv");
    let model = out.join("model.json");
    cardseg(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--input",
        real,
        "--out",
        labels.to_str().unwrap(),
    ]);
    (model, std::fs::read_to_string(labels).unwrap())
}

fn first_three(line: &str) -> String {
    // Segment names may be quoted and contain commas: parse properly.
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let rec = r.records().next().unwrap().unwrap();
    format!("{}|{}|{}", &rec[0], &rec[1], &rec[2])
}

#[test]
fn csv_and_json_scores_equal_predict_on_the_real_file() {
    let Some(real) = common::real_data() else {
        return;
    };
    let real = real.to_str().unwrap();
    let dir = tmpdir();
    let (model, predicted) = real_model_and_labels(dir.path(), real);
    let server = Server::start(&model, &[], &[]);
    let raw = std::fs::read(real).unwrap();

    // CSV in, CSV out: the first three columns are predict's, byte for byte.
    let r = server.req("POST", "/v1/score", &[("Content-Type", "text/csv")], &raw);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let served = r.text();
    let want: Vec<&str> = predicted.lines().collect();
    let got: Vec<&str> = served.lines().collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(want.len(), 8951);
    assert_eq!(
        got[0],
        "CUST_ID,segment,segment_name,distance,second_distance,distance_percentile,outlier"
    );
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(first_three(g), first_three(w), "line {}", i + 1);
    }
    // Distances: the CSV's, per customer, to compare with the JSON answers.
    let mut csv_dist = std::collections::HashMap::new();
    let mut rdr = csv::Reader::from_reader(served.as_bytes());
    for rec in rdr.records() {
        let rec = rec.unwrap();
        csv_dist.insert(
            rec[0].to_string(),
            (
                rec[3].parse::<f64>().unwrap(),
                rec[4].parse::<f64>().unwrap(),
            ),
        );
    }
    let want_by_id: std::collections::HashMap<String, (String, String)> = want[1..]
        .iter()
        .map(|l| {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(l.as_bytes());
            let rec = r.records().next().unwrap().unwrap();
            (rec[0].to_string(), (rec[1].to_string(), rec[2].to_string()))
        })
        .collect();

    // JSON in batches of 1,000: every column of the file, numbers as JSON numbers (and
    // every third customer's as numeric strings), empty cells as null.
    let text = String::from_utf8(raw).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<&str> = lines.collect();
    let mut seen = 0;
    for (b, chunk) in rows.chunks(1000).enumerate() {
        let mut body = String::from("[");
        for (i, row) in chunk.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push('{');
            for (j, (name, cell)) in header.iter().zip(row.split(',')).enumerate() {
                if j > 0 {
                    body.push(',');
                }
                let value = if *name == "CUST_ID" || (i % 3 == 2 && !cell.is_empty()) {
                    format!("\"{cell}\"")
                } else if cell.is_empty() {
                    "null".to_string()
                } else {
                    cell.to_string()
                };
                body.push_str(&format!("\"{name}\":{value}"));
            }
            body.push('}');
        }
        body.push(']');
        let r = server.json(&body);
        assert_eq!(r.status, 200, "batch {b}: {}", r.text());
        let v = r.json();
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), chunk.len());
        assert_eq!(v["customers"], chunk.len());
        for (i, res) in results.iter().enumerate() {
            let id = res["id"].as_str().unwrap();
            assert_eq!(res["index"], i);
            let (seg, name) = &want_by_id[id];
            assert_eq!(res["segment"].to_string(), *seg, "{id}");
            assert_eq!(res["segment_name"].as_str().unwrap(), name, "{id}");
            let (d1, d2) = csv_dist[id];
            assert_eq!(res["distance"].as_f64().unwrap(), d1, "{id}");
            assert_eq!(res["second_distance"].as_f64().unwrap(), d2, "{id}");
            assert!(d1 <= d2, "{id}");
            seen += 1;
        }
    }
    assert_eq!(seen, 8950);

    // One customer object (not an array) works too; metrics counted everything.
    let r = server
        .json(r#"{"CUST_ID":"C10001","BALANCE":40.900749,"PURCHASES":95.4,"CREDIT_LIMIT":1000}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(
        v["results"][0]["segment"].to_string(),
        want_by_id["C10001"].0
    );
    let m = server.req("GET", "/metrics", &[], b"").text();
    assert!(
        m.contains(&format!("cardseg_customers_scored_total {}", 8950 * 2 + 1)),
        "{m}"
    );
    assert!(
        m.contains("cardseg_http_requests_total{route=\"/v1/score\",status=\"200\"} 11"),
        "{m}"
    );
}

#[test]
fn bad_requests_get_json_errors_with_the_right_status() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let server = Server::start(&model, &["--max-body", "4096"], &[]);

    // 400 naming the field and the index.
    let cases = [
        (
            r#"[{"BALANCE":1,"PURCHASES":2,"CREDIT_LIMIT":3},{"BALANCE":"12abc"}]"#,
            1,
            "BALANCE",
        ),
        (r#"[{"PURCHASES":"NaN"}]"#, 0, "PURCHASES"),
        (r#"[{"PURCHASES":"-inf"}]"#, 0, "PURCHASES"),
        (r#"[{},{},{"CREDIT_LIMIT":NaN}]"#, 2, "CREDIT_LIMIT"),
        (r#"[{"CREDIT_LIMIT":Infinity}]"#, 0, "CREDIT_LIMIT"),
        (r#"[{"CREDIT_LIMIT":1e999}]"#, 0, "CREDIT_LIMIT"),
        (r#"[{},{"CREDIT_LIMIT":2e15}]"#, 1, "CREDIT_LIMIT"),
        (
            r#"[{"CREDIT_LIMIT":-12345678901234567}]"#,
            0,
            "CREDIT_LIMIT",
        ),
        (r#"[{"CREDIT_LIMIT":"1e16"}]"#, 0, "CREDIT_LIMIT"),
        (r#"[{"BALANCE":true}]"#, 0, "BALANCE"),
        (r#"[{},{"BALANCE":[1]}]"#, 1, "BALANCE"),
        (r#"{"BALANCE":{"x":1}}"#, 0, "BALANCE"),
        (r#"[{"BALANCE":"1,234.5"}]"#, 0, "BALANCE"),
        (r#"[{"BALANCE":1,"BALANCE":2}]"#, 0, "BALANCE"),
        (r#"[{"CUST_ID":{"a":1}}]"#, 0, "CUST_ID"),
    ];
    for (body, index, field) in cases {
        let v = server.json(body).error(400);
        assert_eq!(v["index"], index, "{body}: {v}");
        assert_eq!(v["field"], field, "{body}: {v}");
        let msg = v["error"].as_str().unwrap();
        assert!(
            msg.contains(&format!("customer {index}")) && msg.contains(field),
            "{body}: {msg}"
        );
    }
    // 400 for bodies that are not customers at all.
    for body in [
        "", "[", "nope", "42", "\"x\"", "[1]", "[{}", "{}{}", "[{}] x", "null",
    ] {
        let v = server.json(body).error(400);
        assert!(v.get("field").is_none(), "{body}: {v}");
    }
    // CSV errors name the line and the column.
    let r = server.req(
        "POST",
        "/v1/score",
        &[("Content-Type", "text/csv")],
        b"CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT\nc1,1,2,3\nc2,1,x,3\n",
    );
    let msg = r.error(400)["error"].as_str().unwrap().to_string();
    assert!(
        msg.contains(":3:") && msg.contains("PURCHASES") && msg.contains("\"x\""),
        "{msg}"
    );
    let r = server.req(
        "POST",
        "/v1/score",
        &[("Content-Type", "text/csv")],
        b"CUST_ID,BALANCE\nc1,1\n",
    );
    let msg = r.error(400)["error"].as_str().unwrap().to_string();
    assert!(msg.contains("PURCHASES not found"), "{msg}");
    // An HTTP client has no command-line flags: it is told which columns to send.
    assert!(
        msg.contains(
            "send a header row with the model's columns: CUST_ID, BALANCE, PURCHASES, CREDIT_LIMIT"
        ) && !msg.contains("--"),
        "{msg}"
    );
    let r = server.req(
        "POST",
        "/v1/score",
        &[("Content-Type", "text/csv")],
        b" CUST_ID ,BALANCE,PURCHASES,CREDIT_LIMIT\nc1,1,2,3\n",
    );
    let msg = r.error(400)["error"].as_str().unwrap().to_string();
    assert!(
        msg.contains("name the id column CUST_ID exactly") && !msg.contains("--"),
        "{msg}"
    );

    // 413: over --max-body by Content-Length, and by a chunked body that keeps going.
    let big = format!("[{}]", vec![r#"{"BALANCE":1}"#; 400].join(","));
    assert!(big.len() > 4096);
    let v = server.json(&big).error(413);
    assert!(v["error"].as_str().unwrap().contains("4096"), "{v}");
    let mut s = connect(server.port);
    let mut msg = head(
        "POST",
        "/v1/score",
        &[
            ("Content-Type", "application/json"),
            ("Transfer-Encoding", "chunked"),
        ],
        None,
    );
    for _ in 0..3 {
        msg.extend_from_slice(format!("{:x}\r\n", 2000).as_bytes());
        msg.extend_from_slice(&[b' '; 2000]);
        msg.extend_from_slice(b"\r\n");
    }
    msg.extend_from_slice(b"0\r\n\r\n");
    s.write_all(&msg).unwrap();
    read_response(&mut s).error(413);
    // 413 for a small gzip CSV body that inflates past --max-body.
    let mut plain = b"CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT\n".to_vec();
    for _ in 0..20_000 {
        plain.extend_from_slice(b"c,1,2,3\n");
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 4096, "{}", gz.len());
    let v = server
        .req("POST", "/v1/score", &[("Content-Type", "text/csv")], &gz)
        .error(413);
    assert!(v["error"].as_str().unwrap().contains("decompressed"), "{v}");
    // 413 for more customers than one request may carry (limit 10,000).
    let server2 = Server::start(&model, &[], &[]);
    let many = format!("[{}]", vec!["{}"; 10_001].join(","));
    let v = server2.json(&many).error(413);
    assert!(v["error"].as_str().unwrap().contains("10000"), "{v}");
    let ok = format!("[{}]", vec!["{}"; 10_000].join(","));
    assert_eq!(server2.json(&ok).status, 200);

    // 415: no or an unsupported Content-Type / Content-Encoding.
    server.req("POST", "/v1/score", &[], b"{}").error(415);
    server
        .req(
            "POST",
            "/v1/score",
            &[("Content-Type", "text/plain")],
            b"{}",
        )
        .error(415);
    server
        .req(
            "POST",
            "/v1/score",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"a=1",
        )
        .error(415);
    server
        .req(
            "POST",
            "/v1/score",
            &[
                ("Content-Type", "application/json"),
                ("Content-Encoding", "gzip"),
            ],
            b"{}",
        )
        .error(415);
    assert_eq!(
        server
            .req(
                "POST",
                "/v1/score",
                &[("Content-Type", "application/json; charset=utf-8")],
                b"{}"
            )
            .status,
        200
    );

    // 404 and 405, as JSON.
    server.req("GET", "/nope", &[], b"").error(404);
    server.req("GET", "/v1/score/extra", &[], b"").error(404);
    let r = server.req("GET", "/v1/score", &[], b"");
    r.error(405);
    assert_eq!(r.header("allow"), Some("POST"));
    server.req("DELETE", "/v1/model", &[], b"").error(405);
    server
        .req(
            "POST",
            "/healthz",
            &[("Content-Type", "application/json")],
            b"{}",
        )
        .error(405);

    // Garbage on the wire does not hurt the server.
    for junk in [
        &b"\x00\x01\x02\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST /v1/score HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        &[b'A'; 70_000],
    ] {
        let mut s = connect(server.port);
        let _ = s.write_all(junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    let r = server.req("GET", "/healthz", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let m = server.req("GET", "/metrics", &[], b"").text();
    assert!(
        m.contains("cardseg_http_requests_total{route=\"/v1/score\",status=\"400\"}"),
        "{m}"
    );
    assert!(
        m.contains("cardseg_http_requests_total{route=\"other\",status=\"404\"} 2"),
        "{m}"
    );
    assert!(
        m.contains("cardseg_http_request_duration_seconds_bucket{route=\"/v1/score\",le=\"+Inf\"}"),
        "{m}"
    );
    assert!(m.contains("cardseg_panics_total 0"), "{m}");
}

#[test]
fn token_is_required_except_for_healthz() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let server = Server::start(
        &model,
        &["--token-env", "CARDSEG_TEST_TOKEN"],
        &[("CARDSEG_TEST_TOKEN", "s3cret-token")],
    );
    let body = br#"{"BALANCE":1,"PURCHASES":2,"CREDIT_LIMIT":3}"#;
    let json = ("Content-Type", "application/json");
    let r = server.req("POST", "/v1/score", &[json], body);
    r.error(401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    server
        .req(
            "POST",
            "/v1/score",
            &[json, ("Authorization", "Bearer wrong")],
            body,
        )
        .error(401);
    server
        .req(
            "POST",
            "/v1/score",
            &[json, ("Authorization", "Bearer s3cret-toke")],
            body,
        )
        .error(401);
    server
        .req(
            "POST",
            "/v1/score",
            &[json, ("Authorization", "Basic s3cret-token")],
            body,
        )
        .error(401);
    server.req("GET", "/v1/model", &[], b"").error(401);
    server.req("GET", "/metrics", &[], b"").error(401);
    let r = server.req(
        "POST",
        "/v1/score",
        &[json, ("Authorization", "Bearer s3cret-token")],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        server
            .req(
                "GET",
                "/v1/model",
                &[("Authorization", "bearer s3cret-token")],
                b""
            )
            .status,
        200
    );
    assert_eq!(server.req("GET", "/healthz", &[], b"").status, 200);

    // An unset variable is a startup error, not an open server.
    let out = Command::new(BIN)
        .args([
            "serve",
            "--model",
            model.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--token-env",
            "CARDSEG_TEST_UNSET_VAR",
        ])
        .env_remove("CARDSEG_TEST_UNSET_VAR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    common::assert_clean_error(&out, "CARDSEG_TEST_UNSET_VAR");
}

#[test]
fn single_customers_missing_values_ids_and_model_metadata() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let server = Server::start(&model, &[], &[]);
    let info = server.req("GET", "/v1/model", &[], b"").json();
    let saved: Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(info["checksum"], saved["checksum"]);
    assert_eq!(info["features"], saved["model"]["features"]);
    let k = saved["model"]["k"].as_u64().unwrap() as usize;
    assert_eq!(info["segments"].as_array().unwrap().len(), k);
    for (seg, meta) in info["segments"]
        .as_array()
        .unwrap()
        .iter()
        .zip(saved["model"]["segments"].as_array().unwrap())
    {
        assert_eq!(seg["name"], meta["name"]);
        assert_eq!(seg["action"], meta["action"]);
        assert!(seg["rationale"].is_string() && seg["centroid"]["BALANCE"].is_number());
    }
    assert_eq!(info["limits"]["max_customers_per_request"], 10000);

    // Missing values (null, absent, "") are filled like predict fills them: a customer
    // with only some features lands where one with the fill values does, and is marked.
    let fill = &info["fill_values"];
    let filled = format!(
        r#"{{"BALANCE":{},"PURCHASES":{},"CREDIT_LIMIT":{}}}"#,
        fill["BALANCE"], fill["PURCHASES"], fill["CREDIT_LIMIT"]
    );
    let a = server.json(&filled).json();
    let b = server
        .json(&format!(
            r#"[{{"BALANCE":null,"PURCHASES":"","CREDIT_LIMIT":{},"EXTRA":[1,{{"x":null}}]}}]"#,
            fill["CREDIT_LIMIT"]
        ))
        .json();
    assert_eq!(a["results"][0]["segment"], b["results"][0]["segment"]);
    assert_eq!(a["results"][0]["distance"], b["results"][0]["distance"]);
    assert_eq!(b["results"][0]["id"], "0");
    assert_eq!(
        b["results"][0]["imputed"],
        serde_json::json!(["BALANCE", "PURCHASES"])
    );
    // A customer with only nulls has none of the features: an error item, not scored.
    let c = server
        .json(r#"[{"BALANCE":null,"PURCHASES":"","EXTRA":[1,{"x":null}]}]"#)
        .json();
    assert!(c["results"][0]["segment"].is_null(), "{c}");
    assert!(c["results"][0]["error"].is_string(), "{c}");
    // Out-of-range values are allowed, numbers may be strings, ids are echoed.
    let r = server.json(r#"[{"CUST_ID":"X1","BALANCE":-5,"PURCHASES":"1e7","CREDIT_LIMIT":12345678},{"CUST_ID":77}]"#).json();
    assert_eq!(r["scored"], 1);
    assert_eq!(r["results"][0]["id"], "X1");
    assert_eq!(r["results"][1]["id"], "77");
    let res = &r["results"][0];
    assert!(res["distance"].as_f64().unwrap() <= res["second_distance"].as_f64().unwrap());
    assert!((1..=k as u64).contains(&res["segment"].as_u64().unwrap()));
    assert_eq!(server.json("[]").json()["customers"], 0);

    // A gzip-compressed CSV body gives the same answer as the plain one.
    let csv_body = b"CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT\nx,100,200,3000\ny,5000,,12000\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(csv_body).unwrap();
    let gz = gz.finish().unwrap();
    let csv = ("Content-Type", "text/csv");
    let plain = server.req("POST", "/v1/score", &[csv], csv_body);
    assert_eq!(plain.status, 200, "{}", plain.text());
    assert_eq!(plain.text().lines().count(), 3);
    assert_eq!(
        server.req("POST", "/v1/score", &[csv], &gz).text(),
        plain.text()
    );
}

#[test]
fn drop_policy_gives_per_customer_errors() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "drop", &["--missing", "drop"]);
    let server = Server::start(&model, &[], &[]);
    let r = server.json(r#"[{"CUST_ID":"a","BALANCE":10,"PURCHASES":20,"CREDIT_LIMIT":3000},{"CUST_ID":"b","BALANCE":10,"CREDIT_LIMIT":null}]"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["scored"], 1);
    assert!(v["results"][0]["segment"].is_u64());
    assert!(v["results"][0].get("error").is_none());
    let bad = &v["results"][1];
    assert!(bad["segment"].is_null() && bad["segment_name"].is_null() && bad["distance"].is_null());
    let msg = bad["error"].as_str().unwrap();
    assert!(
        msg.contains("PURCHASES, CREDIT_LIMIT") && msg.contains("drop"),
        "{msg}"
    );
    // CSV: the customer keeps its row, unlabelled, as in predict's output.
    let r = server.req(
        "POST",
        "/v1/score",
        &[("Content-Type", "text/csv")],
        b"CUST_ID,BALANCE,PURCHASES,CREDIT_LIMIT\na,10,20,3000\nb,10,,\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert_eq!(text.lines().nth(2), Some("b,,,,,,"), "{text}");
}

#[test]
fn sighup_reloads_a_good_model_and_refuses_a_bad_one() {
    let dir = tmpdir();
    let first = synthetic_model(dir.path(), "m", &["--k", "3"]);
    let second = synthetic_model(dir.path(), "m2", &["--k", "4"]);
    let served = dir.path().join("served.json");
    std::fs::copy(&first, &served).unwrap();
    let mut server = Server::start(&served, &["--drain-seconds", "0"], &[]);
    let checksum = |p: &Path| -> Value {
        serde_json::from_slice::<Value>(&std::fs::read(p).unwrap()).unwrap()["checksum"].clone()
    };
    let (c1, c2) = (checksum(&first), checksum(&second));
    assert_ne!(c1, c2);
    assert_eq!(
        server.req("GET", "/v1/model", &[], b"").json()["checksum"],
        c1
    );

    // A good new file: swapped in.
    let tmp = dir.path().join("served.json.tmp");
    std::fs::copy(&second, &tmp).unwrap();
    std::fs::rename(&tmp, &served).unwrap();
    signal(&server.child, libc::SIGHUP);
    server.wait_log("reloaded");
    let info = server.req("GET", "/v1/model", &[], b"").json();
    assert_eq!(info["checksum"], c2);
    assert_eq!(info["k"], 4);
    let r = server
        .json(r#"{"BALANCE":1,"PURCHASES":2,"CREDIT_LIMIT":3}"#)
        .json();
    assert_eq!(r["model_checksum"], c2);

    // A damaged file (edited after cardseg wrote it): refused, the old model keeps serving.
    let text = std::fs::read_to_string(&second)
        .unwrap()
        .replacen("\"k\": 4", "\"k\": 5", 1);
    std::fs::write(&served, text).unwrap();
    signal(&server.child, libc::SIGHUP);
    let log = server.wait_log("reload refused");
    assert!(log.contains("checksum mismatch"), "{log}");
    // Not a model at all, and a missing file: refused too.
    // (One signal at a time: signals sent while one is pending coalesce.)
    let refusals = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.log().matches("reload refused").count() < n {
            assert!(Instant::now() < deadline, "{}", server.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    std::fs::write(&served, b"{ not json").unwrap();
    signal(&server.child, libc::SIGHUP);
    refusals(2);
    std::fs::remove_file(&served).unwrap();
    signal(&server.child, libc::SIGHUP);
    refusals(3);
    assert!(server.log().contains("no such file"), "{}", server.log());
    assert_eq!(
        server.req("GET", "/v1/model", &[], b"").json()["checksum"],
        c2
    );
    assert_eq!(server.json(r#"{"BALANCE":1}"#).status, 200);
    let m = server.req("GET", "/metrics", &[], b"").text();
    assert!(
        m.contains("cardseg_model_reloads_total{result=\"ok\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("cardseg_model_reloads_total{result=\"refused\"} 3"),
        "{m}"
    );
    signal(&server.child, libc::SIGTERM);
    assert!(server.wait_exit(Duration::from_secs(20)).success());
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_then_exits_zero() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let mut server = Server::start(&model, &["--drain-seconds", "0"], &[]);
    // A slow client: the head and half the body now, the rest after SIGTERM.
    let body = br#"[{"CUST_ID":"slow","BALANCE":100,"PURCHASES":200,"CREDIT_LIMIT":3000}]"#;
    let mut s = connect(server.port);
    s.write_all(&head(
        "POST",
        "/v1/score",
        &[("Content-Type", "application/json")],
        Some(body.len()),
    ))
    .unwrap();
    s.write_all(&body[..20]).unwrap();
    // The head is parsed once the request has reserved its body in the memory budget.
    server.wait_metric(
        "cardseg_request_memory_reserved_bytes",
        body.len() as f64,
        Duration::from_secs(20),
    );
    signal(&server.child, libc::SIGTERM);
    server.wait_log("shutting down");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    s.write_all(&body[20..]).unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"][0]["id"], "slow");
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "{status:?}: {}", server.log());
    // No new connections after shutdown.
    assert!(TcpStream::connect(("127.0.0.1", server.port)).is_err());
}

#[test]
fn startup_errors_are_one_clear_line() {
    let dir = tmpdir();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"{}").unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--model",
            bad.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: model ") && err.contains("not a cardseg model"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

// ---------------------------------------------------------------------------------
// Hardening (issue 16): connection limits, timeouts, the memory budget, incomplete items

/// Raises this process's open-files soft limit so the test can hold thousands of sockets.
fn raise_nofile(want: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    assert!(
        lim.rlim_cur >= want,
        "this test needs {want} open files; the hard limit is {}",
        lim.rlim_max
    );
}

/// True when the server has closed the connection (EOF or reset), false while it is open.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. a 408 answer before the close
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// A counter that has no line until its first increment.
fn metric_or_zero(text: &str, name: &str) -> f64 {
    if text
        .lines()
        .any(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
    {
        metric(text, name)
    } else {
        0.0
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

/// 2,000 idle and 500 half-sent connections do not starve /healthz (answered within a
/// second), and the server itself closes them after --header-timeout / --idle-timeout.
#[test]
fn idle_and_half_sent_connections_cannot_starve_the_server() {
    raise_nofile(4096);
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let server = Server::start(
        &model,
        &[
            "--header-timeout",
            "2",
            "--idle-timeout",
            "8",
            "--max-connections",
            "3000",
        ],
        &[],
    );
    let mut idle: Vec<TcpStream> = (0..2000).map(|_| connect(server.port)).collect();
    let mut half: Vec<TcpStream> = (0..500)
        .map(|_| {
            let mut s = connect(server.port);
            s.write_all(
                b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n",
            )
            .unwrap();
            s
        })
        .collect();
    // Every connection accepted (the metrics requests are accepted connections too).
    server.wait_metrics(
        Duration::from_secs(30),
        "2,500 test connections accepted",
        |m| {
            metric(m, "cardseg_connections_accepted_total")
                - metric_or_zero(
                    m,
                    "cardseg_http_requests_total{route=\"/metrics\",status=\"200\"}",
                )
                >= 2500.0
        },
    );
    let t = Instant::now();
    let r = server.req("GET", "/healthz", &[], b"");
    let took = t.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(took < Duration::from_secs(1), "/healthz took {took:?}");
    // Half-sent heads are closed after the header timeout, idle ones are still open.
    server.wait_metric(
        "cardseg_connections_timed_out_total{reason=\"header\"}",
        500.0,
        Duration::from_secs(30),
    );
    assert!(
        half.iter_mut().all(closed_by_server),
        "half-sent connections still open after --header-timeout"
    );
    assert!(
        idle.iter_mut().rev().take(50).all(|s| !closed_by_server(s)),
        "idle connections closed before --idle-timeout"
    );
    // Idle ones after the idle timeout.
    server.wait_metric(
        "cardseg_connections_timed_out_total{reason=\"idle\"}",
        2000.0,
        Duration::from_secs(30),
    );
    assert!(
        idle.iter_mut().all(closed_by_server),
        "idle connections still open after --idle-timeout"
    );
    let m = server.req("GET", "/metrics", &[], b"").text();
    assert!(
        metric(&m, "cardseg_connections_timed_out_total{reason=\"header\"}") >= 500.0,
        "{m}"
    );
    assert!(
        metric(&m, "cardseg_connections_timed_out_total{reason=\"idle\"}") >= 2000.0,
        "{m}"
    );
    assert_eq!(metric(&m, "cardseg_limit_max_connections"), 3000.0);
    assert!(metric(&m, "cardseg_connections_open") <= 2.0, "{m}");
}

/// Connections beyond --max-connections are closed at once (and counted); the server
/// answers again as soon as others go.
#[test]
fn connections_beyond_the_limit_are_closed_and_counted() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let server = Server::start(&model, &["--max-connections", "20"], &[]);
    let mut held: Vec<TcpStream> = (0..20).map(|_| connect(server.port)).collect();
    // The server accepts in arrival order: an answer on the last held connection means
    // all twenty are open on its side.
    let last = held.last_mut().unwrap();
    last.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_one_response(last).status, 200);
    let mut extra = connect(server.port);
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut buf = Vec::new();
    let _ = extra.read_to_end(&mut buf);
    assert!(
        buf.is_empty(),
        "a connection beyond the limit was served: {}",
        String::from_utf8_lossy(&buf)
    );
    drop(held);
    // Answered again once the server has seen the held connections go.
    let deadline = Instant::now() + Duration::from_secs(20);
    let m = loop {
        if let Some(r) = try_request(server.port, "GET", "/metrics") {
            break r.text();
        }
        assert!(
            Instant::now() < deadline,
            "not answered after the held connections closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        metric(&m, "cardseg_connections_refused_total") >= 1.0,
        "{m}"
    );
}

/// The server process's peak resident memory (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// Six concurrent gzip CSV bodies (85 KB each, 15 MB decompressed) are all scored, and the
/// server's peak memory grows by no more than --memory-budget.
#[test]
fn concurrent_gzip_bodies_stay_within_the_memory_budget() {
    use std::io::Write as _;
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let header = std::fs::read_to_string(dir.path().join("m.csv"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    let ncol = header.split(',').count();
    let row = format!("C1{}\n", ",0".repeat(ncol - 1));
    let mut csv = header.clone() + "\n";
    while csv.len() + row.len() < 15 << 20 {
        csv.push_str(&row);
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(csv.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let budget: u64 = 256 << 20;
    let server = Server::start(&model, &["--memory-budget", "256M"], &[]);
    let _ = server.req("GET", "/healthz", &[], b"");
    let base = peak_rss(server.child.id());
    let port = server.port;
    let gz = Arc::new(gz);
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let gz = gz.clone();
            std::thread::spawn(move || {
                request(
                    port,
                    "POST",
                    "/v1/score",
                    &[("Content-Type", "text/csv")],
                    &gz,
                )
            })
        })
        .collect();
    for h in handles {
        let r = h.join().unwrap();
        assert_eq!(
            r.status,
            200,
            "{}",
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        );
    }
    let grew = peak_rss(server.child.id()).saturating_sub(base);
    eprintln!(
        "gzip body {} bytes; peak RSS grew {} MB (budget {} MB)",
        gz.len(),
        grew >> 20,
        budget >> 20
    );
    assert!(
        grew <= budget,
        "peak RSS grew {} MB, over the {} MB budget",
        grew >> 20,
        budget >> 20
    );
    let m = server.req("GET", "/metrics", &[], b"").text();
    assert!(
        metric(&m, "cardseg_request_memory_waits_total") >= 1.0,
        "{m}"
    );
    assert_eq!(
        metric(&m, "cardseg_request_memory_reserved_bytes"),
        0.0,
        "{m}"
    );
    // One request larger than the whole budget is refused with 413, not queued forever.
    let small = Server::start(&model, &["--memory-budget", "8M"], &[]);
    small
        .req("POST", "/v1/score", &[("Content-Type", "text/csv")], &gz)
        .error(413);
}

/// `{}` and keys in the wrong case are error items (not scored, with a did-you-mean);
/// items with some features filled in are marked "imputed" and counted in the metrics.
#[test]
fn incomplete_items_are_errors_or_marked_imputed() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let server = Server::start(&model, &[], &[]);
    let info = server.req("GET", "/v1/model", &[], b"").json();
    let features: Vec<String> = info["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let f0 = &features[0];
    let wrong_case = f0.to_lowercase();
    assert_ne!(&wrong_case, f0);
    let full: serde_json::Map<String, Value> = features
        .iter()
        .map(|f| (f.clone(), serde_json::json!(1.0)))
        .collect();
    let mut partial = full.clone();
    partial.remove(f0);
    let body = serde_json::json!([{}, {wrong_case.clone(): 5.0}, partial, full]).to_string();
    let v = server.json(&body).json();
    assert_eq!(v["scored"], 2, "{v}");
    let r = &v["results"];
    for i in [0, 1] {
        assert!(r[i]["segment"].is_null(), "{v}");
        assert!(
            r[i]["error"]
                .as_str()
                .unwrap()
                .contains("none of the model's features"),
            "{v}"
        );
    }
    let e1 = r[1]["error"].as_str().unwrap();
    assert!(e1.contains(&format!("did you mean \"{f0}\"")), "{e1}");
    assert_eq!(r[2]["imputed"], serde_json::json!([f0]), "{v}");
    assert!(r[2]["segment"].is_u64(), "{v}");
    assert!(r[3].get("imputed").is_none(), "{v}");
    let m = server.req("GET", "/metrics", &[], b"").text();
    assert_eq!(metric(&m, "cardseg_customers_imputed_total"), 1.0, "{m}");
    assert_eq!(metric(&m, "cardseg_customers_scored_total"), 2.0, "{m}");
    assert_eq!(metric(&m, "cardseg_customers_unscored_total"), 2.0, "{m}");
}

// ---------------------------------------------------------------------------------
// Operating the service: probes and drain, access log, metrics, reload and token rules

/// Sends one request on a kept-alive connection and reads its answer (by Content-Length).
fn keep_alive_request(s: &mut TcpStream, path: &str, body: &[u8]) -> std::io::Result<Resp> {
    let mut msg = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    msg.extend_from_slice(body);
    s.write_all(&msg)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            if raw.len() >= end + 4 + len {
                return Ok(parse_response(&raw[..end + 4 + len]));
            }
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("connection closed after {} bytes of an answer", raw.len()),
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

/// 50 clients score over kept-alive connections; SIGTERM arrives mid-load. /readyz turns
/// 503 within 100 ms, every request sent before the listener closes is answered (answers
/// during the drain say `Connection: close`, so clients reconnect), then the listener
/// closes and the server exits 0.
#[test]
fn sigterm_drains_keep_alive_clients_without_a_failed_request() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Mutex;
    const CLIENTS: usize = 50;
    let drain = Duration::from_secs(2);
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let mut server = Server::start(&model, &["--drain-seconds", "2"], &[]);
    let port = server.port;
    let answered = Arc::new(AtomicUsize::new(0));
    let closing_answers = Arc::new(AtomicUsize::new(0));
    let signalled: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let give_up = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (answered, closing, signalled, failures, give_up) = (
                answered.clone(),
                closing_answers.clone(),
                signalled.clone(),
                failures.clone(),
                give_up.clone(),
            );
            std::thread::spawn(move || {
                let body = format!(
                    r#"{{"CUST_ID":"c{c}","BALANCE":{c},"PURCHASES":20,"CREDIT_LIMIT":3000}}"#
                );
                let mut conn: Option<TcpStream> = None;
                while !give_up.load(SeqCst) {
                    let fresh = conn.is_none();
                    let mut s = match conn.take() {
                        Some(s) => s,
                        None => match TcpStream::connect(("127.0.0.1", port)) {
                            Ok(s) => s,
                            // The listener is closed: this client is done.
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                                let sig = *signalled.lock().unwrap();
                                if sig.is_none_or(|t| t.elapsed() < drain) {
                                    failures.lock().unwrap().push(format!(
                                        "client {c}: connection refused {:?} after SIGTERM",
                                        sig.map(|t| t.elapsed())
                                    ));
                                }
                                return;
                            }
                            Err(e) => panic!("connect: {e}"),
                        },
                    };
                    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    match keep_alive_request(&mut s, "/v1/score", body.as_bytes()) {
                        Ok(r) if r.status == 200 => {
                            answered.fetch_add(1, SeqCst);
                            let close = r
                                .header("connection")
                                .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                            if close {
                                closing.fetch_add(1, SeqCst);
                            } else {
                                conn = Some(s);
                            }
                        }
                        Ok(r) => failures.lock().unwrap().push(format!(
                            "client {c}: status {} {}",
                            r.status,
                            r.text()
                        )),
                        Err(e) => {
                            // A fresh connection the closing listener had queued but not
                            // accepted is reset: that happens after the drain, not before.
                            let sig = *signalled.lock().unwrap();
                            let after_drain = sig.is_some_and(|t| t.elapsed() >= drain);
                            if !(fresh && after_drain) {
                                failures.lock().unwrap().push(format!(
                                    "client {c}: {e} on a {} connection, {:?} after SIGTERM",
                                    if fresh { "fresh" } else { "kept-alive" },
                                    sig.map(|t| t.elapsed())
                                ));
                            }
                        }
                    }
                }
            })
        })
        .collect();
    // Mid-load: every client has had a few answers on its kept-alive connection.
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(SeqCst) < CLIENTS * 20 {
        assert!(Instant::now() < deadline, "the load never got going");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = answered.load(SeqCst);
    *signalled.lock().unwrap() = Some(Instant::now());
    let t = Instant::now();
    signal(&server.child, libc::SIGTERM);
    // /readyz is 503 within 100 ms of the signal.
    loop {
        let r = request(port, "GET", "/readyz", &[], b"");
        if r.status == 503 {
            assert_eq!(r.json()["status"], "draining");
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "/readyz never turned 503"
        );
    }
    let readyz_after = t.elapsed();
    // The clients run until the listener refuses them (bounded).
    let deadline = Instant::now() + drain + Duration::from_secs(30);
    while clients.iter().any(|c| !c.is_finished()) {
        if Instant::now() > deadline {
            give_up.store(true, SeqCst);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for c in clients {
        c.join().unwrap();
    }
    let status = server.wait_exit(Duration::from_secs(30));
    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    assert!(
        readyz_after < Duration::from_millis(100),
        "/readyz turned 503 only {readyz_after:?} after SIGTERM"
    );
    let during = answered.load(SeqCst) - before;
    assert!(during > CLIENTS, "only {during} answers after SIGTERM");
    assert!(
        closing_answers.load(SeqCst) >= CLIENTS,
        "answers during the drain did not close their connections"
    );
    assert!(status.success(), "{status:?}: {}", server.log());
    let log = server.log();
    assert!(log.contains("drain over"), "{log}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// Every request gets one JSON access-log line on stderr with its id (the client's
/// X-Request-Id, echoed back; or one the server made), route, status, customers, duration
/// and the model's checksum; `--log-format text` writes the same as key=value text.
#[test]
fn access_log_lines_are_json_with_the_echoed_request_id() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let server = Server::start(&model, &[], &[]);
    let checksum = server.req("GET", "/v1/model", &[], b"").json()["checksum"].clone();
    let body = br#"[{"CUST_ID":"a","BALANCE":1,"PURCHASES":2,"CREDIT_LIMIT":3},{"CUST_ID":"b","BALANCE":9}]"#;
    let r = server.req(
        "POST",
        "/v1/score",
        &[
            ("Content-Type", "application/json"),
            ("X-Request-Id", "trace-4f2a.1"),
        ],
        body,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-request-id"), Some("trace-4f2a.1"));
    // Without an id (or with one that is not sensible), the server makes one and says it.
    let made = server.req(
        "GET",
        "/nowhere",
        &[("X-Request-Id", "bad id \"quoted\"")],
        b"",
    );
    made.error(404);
    let made_id = made.header("x-request-id").unwrap().to_string();
    assert_eq!(made_id.len(), 32, "{made_id}");
    let log = server.wait_log(&made_id);
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let mine: Vec<&Value> = lines
        .iter()
        .filter(|v| v["request_id"] == "trace-4f2a.1")
        .collect();
    assert_eq!(mine.len(), 1, "{log}");
    let a = mine[0];
    assert_eq!(a["route"], "/v1/score");
    assert_eq!(a["method"], "POST");
    assert_eq!(a["status"], 200);
    assert_eq!(a["customers"], 2);
    assert_eq!(a["model_checksum"], checksum);
    assert!(a["duration_ms"].as_f64().unwrap() > 0.0, "{a}");
    assert!(a["time"].as_str().unwrap().ends_with('Z'), "{a}");
    let other = lines
        .iter()
        .find(|v| v["request_id"] == made_id.as_str())
        .unwrap();
    assert_eq!(
        (other["route"].as_str(), other["status"].as_u64()),
        (Some("other"), Some(404))
    );
    // One line per request: /v1/model, /v1/score, /nowhere.
    assert_eq!(
        lines
            .iter()
            .filter(|v| v.get("request_id").is_some())
            .count(),
        3,
        "{log}"
    );

    let text = Server::start(&model, &["--log-format", "text"], &[]);
    text.req("GET", "/livez", &[("X-Request-Id", "t-9")], b"");
    let log = text.wait_log("request_id=t-9");
    assert!(
        log.contains("request_id=t-9 method=GET route=/livez status=200 customers=0 duration_ms="),
        "{log}"
    );
}

/// Sends raw bytes on a new connection and reads until the server closes it.
fn raw_exchange(port: u16, bytes: &[u8]) -> Resp {
    let mut s = connect(port);
    s.write_all(bytes).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    read_response(&mut s)
}

/// A request head hyper cannot parse never reaches the router; its answer is still a JSON
/// error with a request id, one access-log line and a count under route="unparsed".
#[test]
fn unparsable_request_heads_get_json_errors_logged_and_counted() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let server = Server::start(&model, &[], &[]);
    let long_line = [
        &b"GET /healthz?"[..],
        &vec![b'a'; 70_000],
        b" HTTP/1.1\r\nHost: x\r\n\r\n",
    ]
    .concat();
    let big_header = [
        &b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: "[..],
        &vec![b'a'; 2_000_000],
        b"\r\n\r\n",
    ]
    .concat();
    let many_headers = [
        b"GET /healthz HTTP/1.1\r\n".to_vec(),
        (0..5000)
            .flat_map(|i| format!("X{i}: a\r\n").into_bytes())
            .collect(),
        b"\r\n".to_vec(),
    ]
    .concat();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"GARBAGE\r\n\r\n".to_vec(), 400, "method"),
        (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(),
            400,
            "Name: value",
        ),
        (
            b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
            400,
            "Content-Length",
        ),
        (
            b"POST /v1/score HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n".to_vec(),
            400,
            "Content-Length",
        ),
        (
            b"POST /v1/score HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n".to_vec(),
            400,
            "Content-Length",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nX: a\x01b\r\n\r\n".to_vec(),
            400,
            "control",
        ),
        (b"GET /healthz HTTP/9.9\r\n\r\n".to_vec(), 400, "HTTP/1.1"),
        (long_line, 414, "POST /v1/score body"),
        (big_header, 431, "headers"),
        (many_headers, 431, "headers"),
    ];
    let mut ids = Vec::new();
    for (bytes, status, says) in &cases {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
        let r = raw_exchange(server.port, bytes);
        let v = r.error(*status);
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains(says), "{shown}: {msg}");
        let id = r
            .header("x-request-id")
            .unwrap_or_else(|| panic!("{shown}: no x-request-id in {:?}", r.headers));
        assert_eq!(id.len(), 32, "{shown}: {id}");
        ids.push(id.to_string());
    }
    // A good request, then garbage on the same connection: the good one is answered as
    // usual, the garbage like the cases above.
    let r = raw_exchange(
        server.port,
        b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rest = r.text();
    assert!(
        rest.contains("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json"),
        "{rest}"
    );

    // A body without Content-Length or Transfer-Encoding: 411, and the body is not read
    // as another request (the connection closes).
    let r = raw_exchange(
        server.port,
        b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n{\"BALANCE\":1}",
    );
    let v = r.error(411);
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("send Content-Length or Transfer-Encoding: chunked"),
        "{v}"
    );
    assert!(!r.text().contains("HTTP/1.1"), "{}", r.text());

    let m = server.wait_metric(
        "cardseg_http_requests_total{route=\"unparsed\",status=\"400\"}",
        8.0,
        Duration::from_secs(10),
    );
    assert_eq!(
        metric(
            &m,
            "cardseg_http_requests_total{route=\"unparsed\",status=\"414\"}"
        ),
        1.0
    );
    assert_eq!(
        metric(
            &m,
            "cardseg_http_requests_total{route=\"unparsed\",status=\"431\"}"
        ),
        2.0
    );
    assert!(
        metric(&m, "cardseg_http_errors_total{class=\"client\"}") >= 11.0,
        "{m}"
    );
    let log = server.wait_log(ids.last().unwrap());
    for id in &ids {
        let lines: Vec<Value> = log
            .lines()
            .filter(|l| l.contains(id.as_str()))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1, "{id}: {log}");
        assert_eq!(lines[0]["route"], "unparsed", "{log}");
        assert_eq!(lines[0]["method"], "-", "{log}");
    }
}

/// The metrics name the model (checksum, generation, the cardseg version that trained
/// it, when it was written), the build, and the process's memory, CPU and files.
#[test]
fn metrics_describe_the_model_the_build_and_the_process() {
    let dir = tmpdir();
    let first = synthetic_model(dir.path(), "m", &[]);
    let second = synthetic_model(dir.path(), "m2", &["--previous", first.to_str().unwrap()]);
    let server = Server::start(&second, &[], &[]);
    let info = server.req("GET", "/v1/model", &[], b"").json();
    let m = server.req("GET", "/metrics", &[], b"").text();
    let line = m
        .lines()
        .find(|l| l.starts_with("cardseg_model_info{"))
        .unwrap_or_else(|| panic!("{m}"));
    assert!(
        line.contains(&format!("checksum={}", info["checksum"])),
        "{line}"
    );
    assert!(line.contains("generation=\"2\""), "{line}");
    assert!(
        line.contains(&format!("cardseg_version={}", info["cardseg_version"])),
        "{line}"
    );
    assert!(line.contains("trained_at=\"20"), "{line}");
    assert!(line.ends_with("} 1"), "{line}");
    assert!(
        m.contains(&format!(
            "cardseg_build_info{{version=\"{}\"",
            env!("CARGO_PKG_VERSION")
        )),
        "{m}"
    );
    assert!(metric(&m, "process_resident_memory_bytes") > 1e6, "{m}");
    assert!(metric(&m, "process_cpu_seconds_total") >= 0.0, "{m}");
    assert!(metric(&m, "process_open_fds") >= 3.0, "{m}");
    // The names that were there before stay.
    for name in [
        "cardseg_customers_scored_total",
        "cardseg_connections_open",
        "cardseg_model_loaded_timestamp_seconds",
    ] {
        metric(&m, name);
    }
}

/// A reload whose model has other features (or another id column or scaler kind) is
/// refused, logged and counted, unless --allow-schema-change; --expect-checksum pins the
/// model at start and on reload; /v1/model names files, never where they are.
#[test]
fn reloads_keep_the_schema_and_the_pinned_checksum() {
    let dir = tmpdir();
    let first = synthetic_model(dir.path(), "m", &[]);
    let same_schema = synthetic_model(dir.path(), "m2", &["--k", "3"]);
    let other = synthetic_model(
        dir.path(),
        "m3",
        &["--features", "BALANCE,PURCHASES,PAYMENTS"],
    );
    let served = dir.path().join("served.json");
    let put = |p: &Path| {
        let tmp = dir.path().join("served.tmp");
        std::fs::copy(p, &tmp).unwrap();
        std::fs::rename(&tmp, &served).unwrap();
    };
    let checksum = |p: &Path| -> String {
        serde_json::from_slice::<Value>(&std::fs::read(p).unwrap()).unwrap()["checksum"]
            .as_str()
            .unwrap()
            .to_string()
    };
    put(&first);
    let server = Server::start(&served, &[], &[]);
    let info = server.req("GET", "/v1/model", &[], b"").json();
    assert_eq!(info["path"], "served.json");
    assert_eq!(info["training_source"], "m.csv");
    put(&other);
    signal(&server.child, libc::SIGHUP);
    let log = server.wait_log("reload refused");
    assert!(
        log.contains("PAYMENTS") && log.contains("--allow-schema-change"),
        "{log}"
    );
    assert_eq!(
        server.req("GET", "/v1/model", &[], b"").json()["checksum"],
        checksum(&first)
    );
    let r = server
        .json(r#"{"BALANCE":1,"PURCHASES":2,"CREDIT_LIMIT":3}"#)
        .json();
    assert!(r["results"][0].get("imputed").is_none(), "{r}");
    let m = server.req("GET", "/metrics", &[], b"").text();
    assert_eq!(
        metric(&m, "cardseg_model_reload_refusals_total{reason=\"schema\"}"),
        1.0
    );
    assert_eq!(
        metric(&m, "cardseg_model_reloads_total{result=\"refused\"}"),
        1.0
    );
    drop(server);

    // With --allow-schema-change the same reload is taken.
    put(&first);
    let server = Server::start(&served, &["--allow-schema-change"], &[]);
    put(&other);
    signal(&server.child, libc::SIGHUP);
    server.wait_log("SIGHUP: reloaded");
    assert_eq!(
        server.req("GET", "/v1/model", &[], b"").json()["checksum"],
        checksum(&other)
    );
    drop(server);

    // --expect-checksum: a start with another model fails in one line; a reload to a
    // model with the same schema but another checksum is refused and counted.
    put(&first);
    let out = Command::new(BIN)
        .args([
            "serve",
            "--model",
            served.to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
            "--expect-checksum",
            &checksum(&same_schema),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("--expect-checksum") && err.lines().count() == 1,
        "{err}"
    );
    let pin = checksum(&first);
    let server = Server::start(
        &served,
        &["--expect-checksum", pin.trim_start_matches("sha256:")],
        &[],
    );
    put(&same_schema);
    signal(&server.child, libc::SIGHUP);
    let log = server.wait_log("reload refused");
    assert!(log.contains("--expect-checksum"), "{log}");
    assert_eq!(
        server.req("GET", "/v1/model", &[], b"").json()["checksum"],
        pin
    );
    let m = server.req("GET", "/metrics", &[], b"").text();
    assert_eq!(
        metric(
            &m,
            "cardseg_model_reload_refusals_total{reason=\"checksum\"}"
        ),
        1.0
    );
}

/// Tokens from --token-file rotate on SIGHUP: the new one works after the reload, the old
/// one stops working once removed. A metrics token opens /metrics only, and scoring tokens
/// do not open /metrics; --public-metrics opens it to anyone. Probes need no token.
#[test]
fn token_files_rotate_on_sighup_and_metrics_have_their_own_rule() {
    let dir = tmpdir();
    let model = synthetic_model(dir.path(), "m", &[]);
    let tokens = dir.path().join("tokens");
    let scrape = dir.path().join("scrape");
    std::fs::write(&tokens, "# scoring\nold-token\n").unwrap();
    std::fs::write(&scrape, "scrape-token\n").unwrap();
    let server = Server::start(
        &model,
        &[
            "--token-file",
            tokens.to_str().unwrap(),
            "--metrics-token-file",
            scrape.to_str().unwrap(),
        ],
        &[],
    );
    let get = |path: &str, token: &str| {
        let h = format!("Bearer {token}");
        server
            .req("GET", path, &[("Authorization", h.as_str())], b"")
            .status
    };
    assert_eq!(get("/v1/model", "old-token"), 200);
    assert_eq!(get("/v1/model", "new-token"), 401);
    assert_eq!(get("/metrics", "old-token"), 401);
    assert_eq!(get("/metrics", "scrape-token"), 200);
    assert_eq!(get("/v1/model", "scrape-token"), 401);
    for probe in ["/livez", "/readyz", "/healthz", "/openapi.json"] {
        assert_eq!(server.req("GET", probe, &[], b"").status, 200, "{probe}");
    }
    // Rotation: add the new token, reload; then remove the old one, reload.
    std::fs::write(&tokens, "old-token\nnew-token\n").unwrap();
    signal(&server.child, libc::SIGHUP);
    server.wait_log_times("token files read again", 1, Duration::from_secs(20));
    assert_eq!(get("/v1/model", "new-token"), 200);
    assert_eq!(get("/v1/model", "old-token"), 200);
    std::fs::write(&tokens, "new-token\n").unwrap();
    signal(&server.child, libc::SIGHUP);
    server.wait_log_times("token files read again", 2, Duration::from_secs(20));
    assert_eq!(get("/v1/model", "new-token"), 200);
    assert_eq!(get("/v1/model", "old-token"), 401);
    // A token file emptied by mistake keeps the tokens in use.
    std::fs::write(&tokens, "\n").unwrap();
    signal(&server.child, libc::SIGHUP);
    let log = server.wait_log("token files not read again");
    assert!(log.contains("holds no token"), "{log}");
    assert_eq!(get("/v1/model", "new-token"), 200);
    drop(server);

    std::fs::write(&tokens, "new-token\n").unwrap();
    let public = Server::start(
        &model,
        &["--token-file", tokens.to_str().unwrap(), "--public-metrics"],
        &[],
    );
    assert_eq!(public.req("GET", "/metrics", &[], b"").status, 200);
    public.req("GET", "/v1/model", &[], b"").error(401);
}
