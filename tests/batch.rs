//! Batch jobs that can be retried and traced: `--force` replaces a command's own earlier
//! output and nothing else, `--json` prints one JSON result on every command (also with
//! `--quiet`), `--out -` writes a single-file output to standard output, and every output
//! records the model it came from.
//!
//! Every test runs the real binary; `CARDSEG_TEST_BIN` points them at another build (to
//! see them fail on a build without these features).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> String {
    std::env::var("CARDSEG_TEST_BIN").unwrap_or_else(|_| common::BIN.to_string())
}

/// Runs `cardseg ARGS` in `dir` (stdin closed).
fn cardseg_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok_in(dir: &Path, args: &[&str]) -> Output {
    let o = cardseg_in(dir, args);
    assert!(
        o.status.success(),
        "cardseg {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Asserts a clean failure: exit 1, one `error:` line holding `needle`.
fn clean_error(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "expected exit 1: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(snapshot(&p));
        } else {
            v.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    v.sort();
    v
}

/// 1,500 synthetic customers (data.csv) and two runs on them (a/ and b/, k = 3), in `dir`.
fn fixture(dir: &Path) {
    ok_in(
        dir,
        &[
            "--quiet", "generate", "--rows", "1500", "--seed", "3", "--out", "data.csv",
        ],
    );
    for (name, seed) in [("a", "1"), ("b", "2")] {
        ok_in(
            dir,
            &[
                "--quiet",
                "run",
                "--input",
                "data.csv",
                "--out",
                name,
                "--k",
                "3",
                "--k-max",
                "3",
                "--n-init",
                "1",
                "--seed",
                seed,
                "--no-dashboard",
            ],
        );
    }
}

/// The commands of a batch job, each writing `out` (a directory or one file).
fn jobs(out: &str) -> Vec<Vec<String>> {
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        v(&[
            "drift",
            "--model",
            "a/model.json",
            "--input",
            "data.csv",
            "--out",
            out,
        ]),
        v(&["compare", "--before", "a", "--after", "b", "--out", out]),
        v(&[
            "predict",
            "--model",
            "a/model.json",
            "--input",
            "data.csv",
            "--out",
            out,
        ]),
        v(&[
            "export",
            "--model",
            "a/model.json",
            "--format",
            "sql",
            "--out",
            out,
        ]),
        v(&[
            "export",
            "--model",
            "a/model.json",
            "--format",
            "pmml",
            "--out",
            out,
        ]),
        v(&[
            "dashboard",
            "--model",
            "a/model.json",
            "--labels",
            "a/labels.csv",
            "--input",
            "data.csv",
            "--out",
            out,
        ]),
        v(&["generate", "--rows", "50", "--out", out]),
    ]
}

#[test]
fn force_replaces_a_commands_own_output_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture(d);
    for (i, job) in jobs("OUT").into_iter().enumerate() {
        let out = match job[0].as_str() {
            "drift" | "compare" => format!("dir{i}"),
            "export" if job.contains(&"pmml".to_string()) => format!("model{i}.pmml"),
            "export" => format!("model{i}.sql"),
            "dashboard" => format!("page{i}.html"),
            _ => format!("file{i}.csv"),
        };
        let args: Vec<&str> = job
            .iter()
            .map(|a| if a == "OUT" { out.as_str() } else { a.as_str() })
            .collect();
        let mut quiet = vec!["--quiet"];
        quiet.extend(&args);
        ok_in(d, &quiet);
        let first = snapshot(d);
        // Without --force the earlier output is refused; with it, replaced (a retry).
        clean_error(&cardseg_in(d, &quiet), "already exists");
        assert_eq!(snapshot(d), first, "{args:?} changed files when refused");
        let mut forced = quiet.clone();
        forced.push("--force");
        ok_in(d, &forced);
        ok_in(d, &forced);

        // Someone else's directory or file under that name: refused, untouched, even
        // with --force.
        let foreign = d.join(format!("foreign{i}"));
        std::fs::create_dir(&foreign).unwrap();
        let target = if matches!(job[0].as_str(), "drift" | "compare") {
            std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
            // A file named like cardseg's marker, but not written by cardseg.
            std::fs::write(foreign.join("drift.json"), "{}").unwrap();
            std::fs::write(foreign.join("model.json"), "{}").unwrap();
            foreign.clone()
        } else {
            let f = foreign.join(&out);
            std::fs::write(&f, "mine\n").unwrap();
            f
        };
        let before = snapshot(d);
        let t = target.to_str().unwrap().to_string();
        let foreign_args: Vec<&str> = forced
            .iter()
            .map(|a| if *a == out.as_str() { t.as_str() } else { a })
            .collect();
        let o = cardseg_in(d, &foreign_args);
        clean_error(&o, "--force will not replace it");
        assert_eq!(snapshot(d), before, "{foreign_args:?} changed files");
        // An own output edited since is no longer cardseg's to replace.
        if !matches!(job[0].as_str(), "drift" | "compare") {
            let own = d.join(&out);
            let mut bytes = std::fs::read(&own).unwrap();
            bytes.extend_from_slice(b"\n");
            std::fs::write(&own, &bytes).unwrap();
            clean_error(&cardseg_in(d, &forced), "--force will not replace it");
            assert_eq!(std::fs::read(&own).unwrap(), bytes);
        }
    }
}

/// The subcommands `cardseg help` lists (besides help itself).
fn subcommands() -> Vec<String> {
    let o = Command::new(bin()).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.split("Commands:")
        .nth(1)
        .unwrap_or("")
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect()
}

#[test]
fn json_with_quiet_prints_one_json_result_on_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture(d);
    let v = |a: &[&str]| a.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "demo",
            v(&["demo", "--rows", "300", "--out", "demo", "--k", "3"]),
        ),
        (
            "run",
            v(&[
                "run", "--input", "data.csv", "--out", "r", "--k", "3", "--n-init", "1",
            ]),
        ),
        ("inspect", v(&["inspect", "--input", "data.csv"])),
        (
            "predict",
            v(&[
                "predict",
                "--model",
                "a/model.json",
                "--input",
                "data.csv",
                "--out",
                "p.csv",
            ]),
        ),
        (
            "generate",
            v(&["generate", "--rows", "20", "--out", "g.csv"]),
        ),
        (
            "dashboard",
            v(&[
                "dashboard",
                "--model",
                "a/model.json",
                "--labels",
                "a/labels.csv",
                "--input",
                "data.csv",
                "--out",
                "page.html",
            ]),
        ),
        (
            "export",
            v(&[
                "export",
                "--model",
                "a/model.json",
                "--format",
                "sql",
                "--out",
                "m.sql",
            ]),
        ),
        (
            "compare",
            v(&["compare", "--before", "a", "--after", "b", "--out", "cmp"]),
        ),
        (
            "drift",
            v(&[
                "drift",
                "--model",
                "a/model.json",
                "--input",
                "data.csv",
                "--out",
                "dr",
            ]),
        ),
    ];
    // Every batch command is walked here; serve (a service), completions and man (which
    // print a script or a page) are checked after.
    let walked: Vec<&str> = cases.iter().map(|(c, _)| *c).collect();
    for c in subcommands() {
        assert!(
            walked.contains(&c.as_str()) || ["serve", "completions", "man"].contains(&c.as_str()),
            "subcommand {c} is not walked"
        );
    }
    let checksum = {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("a/model.json")).unwrap()).unwrap();
        m["checksum"].as_str().unwrap().to_string()
    };
    for (name, args) in &cases {
        for flags in [["--json", "--quiet"], ["--quiet", "--json"]] {
            let _ = std::fs::remove_dir_all(d.join("demo"));
            let mut a: Vec<&str> = flags.to_vec();
            a.extend(args.iter().map(String::as_str));
            if *name != "inspect" {
                a.push("--force");
            }
            let o = ok_in(d, &a);
            let text = String::from_utf8(o.stdout).unwrap();
            let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!("{name}: stdout is not one JSON document ({e}): {text}")
            });
            assert!(value.is_object(), "{name}: {text}");
            if ["predict", "dashboard", "export", "drift"].contains(name) {
                assert_eq!(value["model_checksum"], checksum, "{name}: {text}");
            }
            if ["run", "demo", "predict", "generate", "dashboard", "export"].contains(name) {
                assert_eq!(value["command"], *name, "{name}: {text}");
            }
        }
    }
    // completions and man: their text inside one JSON object.
    for (args, key) in [
        (&["completions", "bash"][..], "script"),
        (&["man"][..], "roff"),
    ] {
        let mut a = vec!["--json", "--quiet"];
        a.extend(args);
        let o = ok_in(d, &a);
        let value: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(value["command"], args[0]);
        assert!(value[key].as_str().unwrap().len() > 1000, "{args:?}");
    }
    // serve: its one result is the readiness line, as JSON; logs stay on stderr.
    let mut child = Command::new(bin())
        .current_dir(d)
        .args(["--json", "--quiet", "serve", "--model", "a/model.json"])
        .args(["--addr", "127.0.0.1:0", "--drain-seconds", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let value: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("serve --json: not JSON ({e}): {line:?}"));
    assert_eq!(value["command"], "serve");
    assert_eq!(value["model_checksum"], checksum);
    assert!(value["listening"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
}

#[test]
fn out_dash_writes_a_single_file_output_to_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture(d);
    for job in jobs("OUT") {
        let single = !matches!(job[0].as_str(), "drift" | "compare");
        let to_file: Vec<&str> = job
            .iter()
            .map(|a| if a == "OUT" { "file.out" } else { a.as_str() })
            .collect();
        let to_stdout: Vec<&str> = job
            .iter()
            .map(|a| if a == "OUT" { "-" } else { a.as_str() })
            .collect();
        let o = cardseg_in(d, &to_stdout);
        if !single {
            clean_error(&o, "standard output");
            assert!(!d.join("-").exists());
            continue;
        }
        assert!(
            o.status.success(),
            "{to_stdout:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !d.join("-").exists(),
            "{to_stdout:?} created a file named -"
        );
        assert!(!d.join("-.meta.json").exists());
        let mut quiet_file = vec!["--quiet"];
        quiet_file.extend(&to_file);
        // predict checks the name's extension.
        let quiet_file: Vec<&str> = quiet_file
            .iter()
            .map(|a| if *a == "file.out" { "file.csv" } else { a })
            .collect();
        ok_in(d, &quiet_file);
        let written = std::fs::read(d.join("file.csv")).unwrap();
        if job[0] != "dashboard" {
            assert_eq!(
                o.stdout, written,
                "{to_stdout:?}: stdout differs from the file"
            );
        } else {
            assert!(o.stdout.starts_with(b"<!DOCTYPE html>"));
        }
        std::fs::remove_file(d.join("file.csv")).unwrap();
        std::fs::remove_file(d.join("file.csv.meta.json")).unwrap();
        // With --json too, both would go to stdout: refused.
        let mut both = vec!["--json"];
        both.extend(&to_stdout);
        clean_error(&cardseg_in(d, &both), "--json and --out -");
    }
    // A closed pipe ends quietly.
    let mut child = Command::new(bin())
        .current_dir(d)
        .args(["generate", "--rows", "200000", "--out", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Read;
        let mut first = [0u8; 100];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
    }
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!d.join("-").exists());
}

#[test]
fn every_output_records_the_model_it_came_from() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture(d);
    let json = |p: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join(p)).unwrap()).unwrap()
    };
    let checksum_a = json("a/model.json")["checksum"]
        .as_str()
        .unwrap()
        .to_string();
    let checksum_b = json("b/model.json")["checksum"]
        .as_str()
        .unwrap()
        .to_string();
    let sha = |p: &str| {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(std::fs::read(d.join(p)).unwrap());
        format!(
            "sha256:{}",
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        )
    };
    // predict on the training data reproduces the run's labels byte for byte; the sidecar
    // is a separate file recording the model, the rows and the file's hash.
    ok_in(
        d,
        &[
            "--quiet",
            "predict",
            "--model",
            "a/model.json",
            "--input",
            "data.csv",
            "--out",
            "p.csv",
        ],
    );
    assert_eq!(
        std::fs::read(d.join("p.csv")).unwrap(),
        std::fs::read(d.join("a/labels.csv")).unwrap()
    );
    let side = json("p.csv.meta.json");
    assert_eq!(side["model_checksum"], checksum_a.as_str());
    assert_eq!(side["created_by"], "cardseg predict");
    assert_eq!(side["cardseg_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(side["rows"], 1500);
    assert_eq!(side["file"], "p.csv");
    assert_eq!(side["sha256"], sha("p.csv").as_str());
    // SQL: a header comment line; PMML: the header.
    for (format, out) in [("sql", "m.sql"), ("pmml", "m.pmml")] {
        ok_in(
            d,
            &[
                "--quiet",
                "export",
                "--model",
                "a/model.json",
                "--format",
                format,
                "--out",
                out,
            ],
        );
        let text = std::fs::read_to_string(d.join(out)).unwrap();
        let head: String = text.lines().take(12).collect::<Vec<_>>().join("\n");
        assert!(head.contains(&checksum_a), "{out}: {head}");
        assert_eq!(
            json(&format!("{out}.meta.json"))["model_checksum"],
            checksum_a.as_str()
        );
    }
    assert!(std::fs::read_to_string(d.join("m.sql"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .contains(&checksum_a));
    // JSON outputs: a field.
    ok_in(
        d,
        &[
            "--quiet",
            "drift",
            "--model",
            "a/model.json",
            "--input",
            "data.csv",
            "--out",
            "dr",
        ],
    );
    assert_eq!(json("dr/drift.json")["model_checksum"], checksum_a.as_str());
    assert_eq!(
        json("dr/.cardseg-output.json")["model_checksum"],
        checksum_a.as_str()
    );
    ok_in(
        d,
        &[
            "--quiet", "compare", "--before", "a", "--after", "p.csv", "--out", "c1",
        ],
    );
    let m = json("c1/migration.json");
    assert_eq!(m["model_checksum_before"], checksum_a.as_str());
    assert_eq!(m["model_checksum_after"], checksum_a.as_str());
    ok_in(
        d,
        &[
            "--quiet", "compare", "--before", "a", "--after", "b", "--out", "c2",
        ],
    );
    assert_eq!(
        json("c2/migration.json")["model_checksum_after"],
        checksum_b.as_str()
    );
    // The page and generated data have their sidecars too (generated data: no model).
    ok_in(
        d,
        &[
            "--quiet",
            "dashboard",
            "--model",
            "a/model.json",
            "--labels",
            "a/labels.csv",
            "--input",
            "data.csv",
            "--out",
            "page.html",
        ],
    );
    assert_eq!(
        json("page.html.meta.json")["model_checksum"],
        checksum_a.as_str()
    );
    assert_eq!(
        json("data.csv.meta.json")["model_checksum"],
        serde_json::Value::Null
    );
    assert_eq!(json("data.csv.meta.json")["rows"], 1500);
}

#[test]
fn version_names_the_commit_and_completions_and_man_are_generated() {
    let o = Command::new(bin()).arg("--version").output().unwrap();
    let v = String::from_utf8(o.stdout).unwrap();
    let want = format!("cardseg {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(v.starts_with(&want), "{v}");
    let commit = v
        .trim_end()
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap();
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
    // Built inside the repository: the commit is HEAD's (or a later one, if HEAD moved
    // since the build).
    if let Ok(g) = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    {
        if g.status.success() && std::env::var("CARDSEG_TEST_BIN").is_err() {
            assert_ne!(commit, "unknown", "{v}");
        }
    }
    for (shell, needle) in [
        ("bash", "_cardseg()"),
        ("zsh", "#compdef cardseg"),
        ("fish", "complete -c cardseg"),
    ] {
        let o = Command::new(bin())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(o.status.success(), "{shell}");
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(
            text.contains(needle),
            "{shell}: {}",
            &text[..text.len().min(200)]
        );
        assert!(
            text.contains("drift") && text.contains("--force"),
            "{shell}"
        );
    }
    let o = Command::new(bin()).arg("man").output().unwrap();
    assert!(o.status.success());
    let page = String::from_utf8(o.stdout).unwrap();
    assert!(
        page.contains(".TH cardseg 1"),
        "{}",
        &page[..page.len().min(300)]
    );
    for sub in ["predict", "drift", "compare", "serve", "completions"] {
        assert!(
            page.contains(&format!(".TH cardseg-{sub} 1")),
            "no page for {sub}"
        );
    }
    let bad = Command::new(bin())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
