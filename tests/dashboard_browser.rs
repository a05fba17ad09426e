//! The dashboard in a real browser. Headless Chromium opens the page from disk with every
//! host name unresolvable; once every chart has drawn, the page writes a JSON self-check
//! into `<pre id="selfcheck">` (errors caught by `window.onerror`, `alert` calls, CSP
//! violations, resources fetched, the legend read back from the rendered plot, WebGL
//! state, a pixel count of the 3D scene). The test reads it from `--dump-dom`, scans the
//! console log for network and script errors, and checks the screenshot's pixels where
//! the scene is drawn, using the segment colours.
//!
//! WebGL without a GPU: `--use-angle=swiftshader --enable-unsafe-swiftshader` selects
//! ANGLE's CPU renderer. `--disable-gpu` alone still gets WebGL only through a deprecated
//! automatic fallback (Chromium logs an error about it), and `--use-gl=swiftshader` is
//! refused by current Chromium (no WebGL at all).
//!
//! Skips with a message when Chromium or the reference file is absent, unless
//! `CARDSEG_REQUIRE_REFERENCE=1` (CI), which turns a skip into a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{model_segment_names, run_ok, s};
use serde_json::Value;

const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=90000",
    "--window-size=1400,1000",
    "--hide-scrollbars",
];

fn chromium() -> Option<PathBuf> {
    // CARDSEG_CHROMIUM names another browser binary (for machines that keep it elsewhere).
    let candidates: Vec<PathBuf> = match std::env::var("CARDSEG_CHROMIUM") {
        Ok(p) => vec![PathBuf::from(p)],
        Err(_) => [
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]
        .map(PathBuf::from)
        .to_vec(),
    };
    let found = candidates.into_iter().find(|p| p.is_file());
    if found.is_none() {
        common::skip_or_fail(
            "Chromium is not installed (apt-get install chromium; scripts/setup.sh does it)",
        );
    }
    found
}

/// Where a test keeps its page, DOM, log and screenshot, for a look after a failure.
fn workdir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("dashboard_browser")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Screenshot {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Screenshot {
    fn load(path: &Path) -> Screenshot {
        let file = std::fs::File::open(path)
            .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let step = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("unexpected screenshot colour type {other:?}"),
        };
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(step)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Screenshot {
            width: info.width as usize,
            height: info.height as usize,
            rgb,
        }
    }
}

struct Page {
    html: String,
    check: Value,
    dom: String,
    log: String,
    shot: Screenshot,
    dir: PathBuf,
}

fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in s(path).bytes() {
        if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

/// Undoes the escaping of text in serialized HTML (all `--dump-dom` produces in text).
fn unescape_text(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// How a text node holding `s` appears in serialized HTML.
fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

/// Opens `html` in Chromium once: DOM after the virtual-time budget, console log, screenshot.
fn open(chrome: &Path, html: &Path, dir: &Path) -> Page {
    std::fs::create_dir_all(dir).unwrap();
    let profile = dir.join("profile");
    let shot = dir.join("screenshot.png");
    let dom_path = dir.join("dom.html");
    let log_path = dir.join("console.log");
    let mut child = Command::new(chrome)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", s(&profile)))
        .arg(format!("--screenshot={}", s(&shot)))
        .arg("--dump-dom")
        .arg(file_url(html))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&dom_path).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("chromium starts");
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish within 180 s; see {}",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = std::fs::remove_dir_all(&profile);
    let dom = std::fs::read_to_string(&dom_path).unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        status.success(),
        "chromium failed ({status}); log in {}",
        log_path.display()
    );
    let open_tag = "<pre id=\"selfcheck\" hidden=\"\">";
    let start = dom.find(open_tag).unwrap_or_else(|| {
        panic!(
            "no self-check element in the DOM; see {}",
            dom_path.display()
        )
    }) + open_tag.len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = unescape_text(&dom[start..end]);
    assert!(
        !text.is_empty(),
        "the page wrote no self-check: the charts never finished drawing; see {}",
        dir.display()
    );
    let check: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("self-check is not JSON ({e}): {text}"));
    Page {
        html: std::fs::read_to_string(html).unwrap(),
        check,
        dom,
        log,
        shot: Screenshot::load(&shot),
        dir: dir.to_path_buf(),
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// Nothing went wrong and nothing left the machine; the legend lists every segment.
fn assert_healthy(p: &Page, names: &[String], kind: &str) {
    let c = &p.check;
    let at = p.dir.display();
    for key in [
        "errors",
        "alerts",
        "violations",
        "resources",
        "external_urls",
    ] {
        assert_eq!(
            c[key],
            Value::Array(vec![]),
            "self-check {key} is not empty (see {at})"
        );
    }
    assert_eq!(c["ok"], true, "self-check: {c}");
    assert_eq!(c["kind"], kind);
    assert_eq!(
        (
            c["scripts"].as_u64(),
            c["images"].as_u64(),
            c["iframes"].as_u64()
        ),
        (Some(4), Some(0), Some(0))
    );
    let legend = strings(&c["legend"]);
    for n in names {
        assert!(legend.contains(n), "legend {legend:?} lacks segment {n:?}");
    }
    assert_eq!(legend.len(), names.len(), "legend {legend:?}");
    // The console: no network failure, no blocked load, no script error.
    for line in p.log.lines() {
        let l = line.to_ascii_lowercase();
        assert!(
            !l.contains("net::err_"),
            "network request attempted: {line}"
        );
        if l.contains(":console") {
            for bad in [
                "error", "uncaught", "refused", "failed", "blocked", "violat",
            ] {
                assert!(!l.contains(bad), "console says {bad}: {line}");
            }
        }
    }
    // The markup itself (outside scripts) points nowhere.
    assert_eq!(
        common::external_refs(&common::markup_only(&p.html)),
        Vec::<String>::new()
    );
}

fn hex_rgb(c: &str) -> Option<[f64; 3]> {
    let h = c.strip_prefix('#')?;
    let v = u32::from_str_radix(h, 16).ok()?;
    Some([(v >> 16) as f64, ((v >> 8) & 255) as f64, (v & 255) as f64])
}

/// The 3D scene drew: WebGL is live, plotly's own render of the scene has content, and
/// in the screenshot, between the top of the plot and its legend, there are points of
/// every segment colour (markers are 80% opaque, so blends with white count too).
fn assert_scene_drawn(p: &Page, min_pixels_per_segment: usize) {
    let c = &p.check;
    assert_eq!(c["webgl"], true, "no WebGL scene (see {})", p.dir.display());
    assert!(c["gl_canvases"].as_u64().unwrap() >= 1);
    let px = &c["scene_pixels"];
    let (non_white, total) = (
        px["non_white"].as_f64().unwrap(),
        px["total"].as_f64().unwrap(),
    );
    assert!(
        non_white > 0.02 * total && px["colours"].as_u64().unwrap() > 20,
        "plotly's scene image is nearly blank: {px}"
    );

    let r = &c["plot_rect"];
    let x0 = r["x"].as_f64().unwrap().max(0.0) as usize;
    let y0 = r["y"].as_f64().unwrap().max(0.0) as usize;
    let x1 = ((r["x"].as_f64().unwrap() + r["width"].as_f64().unwrap()) as usize).min(p.shot.width);
    let legend_top = c["legend_rect"]["y"].as_f64().unwrap_or(f64::MAX) as usize;
    let y1 = legend_top
        .min(y0 + r["height"].as_f64().unwrap() as usize)
        .min(p.shot.height);
    assert!(
        x1 > x0 + 100 && y1 > y0 + 100,
        "the scene is not in the screenshot: {r}"
    );
    let colours: Vec<[f64; 3]> = c["segment_colors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| hex_rgb(v.as_str()?))
        .collect();
    let mut hits = vec![0usize; colours.len()];
    let (mut ink, mut seen) = (0usize, std::collections::HashSet::new());
    for y in y0..y1 {
        for x in x0..x1 {
            let q = p.shot.rgb[y * p.shot.width + x];
            seen.insert(q);
            if q.iter().any(|&v| v < 235) {
                ink += 1;
            }
            for (h, col) in hits.iter_mut().zip(&colours) {
                let near = [1.0, 0.8, 0.64].iter().any(|a| {
                    let d: f64 = (0..3)
                        .map(|i| (f64::from(q[i]) - (a * col[i] + (1.0 - a) * 255.0)).powi(2))
                        .sum();
                    d.sqrt() < 24.0
                });
                if near {
                    *h += 1;
                }
            }
        }
    }
    let area = (x1 - x0) * (y1 - y0);
    assert!(
        seen.len() > 30,
        "the scene area has only {} colours: blank (see {})",
        seen.len(),
        p.dir.display()
    );
    assert!(
        ink * 100 > area,
        "only {ink} of {area} scene pixels are not white (see {})",
        p.dir.display()
    );
    for (i, h) in hits.iter().enumerate() {
        assert!(
            *h >= min_pixels_per_segment,
            "segment {} colour has {h} pixels in the scene (see {})",
            i + 1,
            p.dir.display()
        );
    }
}

fn run_dashboard(input: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["run", "--input", s(input), "--out", s(out)];
    args.extend_from_slice(extra);
    run_ok(&args);
    out.join("dashboard.html")
}

#[test]
fn real_file_dashboard_draws_in_a_browser() {
    let Some(real) = common::real_data() else {
        return;
    };
    let Some(chrome) = chromium() else { return };
    let dir = workdir("real");
    let out = dir.join("run");
    let page = open(&chrome, &run_dashboard(&real, &out, &[]), &dir);
    let names = model_segment_names(&out.join("model.json"));
    assert_healthy(&page, &names, "3d");
    assert_scene_drawn(&page, 40);
    let c = &page.check;
    assert_eq!(
        (
            c["sampled"].as_bool(),
            c["points"].as_u64(),
            c["total"].as_u64()
        ),
        (Some(false), Some(8_950), Some(8_950))
    );
    assert_eq!(c["size_rows"].as_u64(), Some(names.len() as u64));
    // The log toggle reaches every axis (all three features have positive values) and back.
    assert_eq!(
        c["axis_types"]["log"],
        serde_json::json!(["log", "log", "log"])
    );
    assert_eq!(
        c["axis_types"]["linear"],
        serde_json::json!(["linear", "linear", "linear"])
    );
    // Profile table: every numeric column of CC GENERAL (17) plus six indicators, plus
    // two section rows.
    assert_eq!(c["profile_rows"].as_u64(), Some(17 + 6 + 2));
    // Box plots of every profiled column: the portfolio and each segment, drawn.
    let k = names.len() as u64;
    assert_eq!(c["box_traces"].as_u64(), Some(k + 1), "{c}");
    assert_eq!(c["boxes_drawn"].as_u64(), Some(k + 1), "{c}");
    // The per-customer silhouette plot: one bar per sampled customer (2,000 of 8,950).
    assert_eq!(c["silhouette_shown"].as_u64(), Some(2_000));
    assert_eq!(c["silhouette_bars"].as_u64(), Some(2_000), "{c}");
    assert_eq!(c["silhouette_mean_line"].as_u64(), Some(1), "{c}");
    // Three features: no principal-component view, no axis choice.
    assert_eq!(c["pca_kind"], Value::Null);
    assert_eq!(c["axis_selects"].as_u64(), Some(0));
    // The typical customers are real ids of the file.
    let ids = std::fs::read_to_string(&real).unwrap();
    for line in strings(&c["typical"]) {
        let listed = line.rsplit(": ").next().unwrap();
        for id in listed.split(", ") {
            assert!(
                ids.contains(&format!("\n{id},")),
                "{id} is not a customer of the file"
            );
        }
    }
}

#[test]
fn large_input_is_sampled_and_draws_quickly() {
    let Some(chrome) = chromium() else { return };
    let dir = workdir("large");
    let input = common::generate(&dir, 200_000, 42);
    let out = dir.join("run");
    let html = run_dashboard(&input, &out, &["--k-max", "5", "--n-init", "2"]);
    let size = std::fs::metadata(&html).unwrap().len();
    assert!(size < 15_000_000, "page is {size} bytes");
    let started = Instant::now();
    let page = open(&chrome, &html, &dir);
    eprintln!(
        "200k customers: page {size} bytes, browser {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let names = model_segment_names(&out.join("model.json"));
    assert_healthy(&page, &names, "3d");
    assert_scene_drawn(&page, 20);
    let c = &page.check;
    assert_eq!(c["sampled"], true);
    assert_eq!(c["total"], 200_000);
    let shown = c["points"].as_u64().unwrap();
    assert_eq!(
        c["shown"].as_u64(),
        Some(shown),
        "every sampled point is plotted"
    );
    assert!(
        (50_000..=50_000 + 25 * names.len() as u64).contains(&shown),
        "{shown} points plotted"
    );
    // The page says it is a sample, with the true counts.
    let note_start = page.dom.find("id=\"scatter-note\"").expect("scatter note");
    let note = &page.dom[note_start..note_start + 400];
    assert!(
        note.contains(&format!(
            "sample of {} of 200,000 customers",
            thousands(shown)
        )),
        "{note}"
    );
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[test]
fn hostile_ids_and_names_show_as_text_and_never_run() {
    let Some(chrome) = chromium() else { return };
    let dir = workdir("hostile");
    let (input, rules) = common::hostile_fixture(&dir);
    let base = [
        "--naming-rules",
        s(&rules),
        "--id-column",
        common::HOSTILE_ID_COLUMN,
        "--k",
        "2",
        "--k-min",
        "2",
        "--k-max",
        "3",
    ];

    // 3D: legend, cards, sizes and the profile table.
    let out = dir.join("run3d");
    let page = open(
        &chrome,
        &run_dashboard(&input, &out, &base),
        &dir.join("3d"),
    );
    let names = model_segment_names(&out.join("model.json"));
    assert!(
        names.iter().any(|n| n == common::HOSTILE_SEGMENT_A),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(common::HOSTILE_SEGMENT_B)),
        "{names:?}"
    );
    assert_healthy(&page, &names, "3d");
    assert_scene_drawn(&page, 5);
    for n in &names {
        assert!(
            page.dom.contains(&escape_text(n)),
            "segment name {n:?} is not shown as text"
        );
    }
    assert!(
        page.dom.contains(&escape_text(common::HOSTILE_COLUMN)),
        "the column name is not shown as text"
    );
    let typical = strings(&page.check["typical"]);
    let label = format!(
        "Typical customers ({}, nearest the centre): ",
        common::HOSTILE_ID_COLUMN
    );
    for line in &typical {
        let ids = line
            .strip_prefix(&label)
            .unwrap_or_else(|| panic!("{line:?}"));
        assert!(
            common::HOSTILE_IDS.iter().any(|h| ids.contains(h)),
            "{line:?} shows no id literally"
        );
    }

    // 2D: the hover label, rendered by plotly from the same escaped text.
    let out = dir.join("run2d");
    let html = run_dashboard(
        &input,
        &out,
        &[&base[..], &["--features", "BALANCE,PURCHASES"]].concat(),
    );
    let page = open(&chrome, &html, &dir.join("2d"));
    let names = model_segment_names(&out.join("model.json"));
    assert_healthy(&page, &names, "2d");
    let first_of_segment_1 = csv::Reader::from_path(out.join("labels.csv"))
        .unwrap()
        .records()
        .map(|r| r.unwrap())
        .find(|r| &r[1] == "1")
        .map(|r| r[0].to_string())
        .unwrap();
    let hover = strings(&page.check["hover"]);
    assert_eq!(hover[0], names[0]);
    assert_eq!(
        hover[1],
        format!("{}: {first_of_segment_1}", common::HOSTILE_ID_COLUMN)
    );
    assert!(hover[2].starts_with("BALANCE: "), "{hover:?}");
}

#[test]
fn two_and_one_feature_views_draw() {
    let Some(chrome) = chromium() else { return };
    let dir = workdir("views");
    let input = common::generate(&dir, 3_000, 8);
    for (features, kind) in [("BALANCE,PURCHASES", "2d"), ("CREDIT_LIMIT", "strip")] {
        let out = dir.join(kind);
        let html = run_dashboard(&input, &out, &["--features", features, "--k-max", "5"]);
        let page = open(&chrome, &html, &dir.join(format!("{kind}-page")));
        let names = model_segment_names(&out.join("model.json"));
        assert_healthy(&page, &names, kind);
        let c = &page.check;
        assert_eq!(c["points"], 3_000);
        // One SVG marker per customer plus one per centre.
        assert_eq!(c["svg_points"].as_u64(), Some(3_000 + names.len() as u64));
        let hover = strings(&c["hover"]);
        assert_eq!(hover.len(), 2 + features.split(',').count(), "{hover:?}");
        assert!(hover[1].starts_with("CUST_ID: C"), "{hover:?}");
        let dims = features.split(',').count();
        assert_eq!(c["axis_types"]["log"], serde_json::json!(vec!["log"; dims]));
    }
}

#[test]
fn more_features_add_a_principal_component_view_and_axis_choice() {
    let Some(real) = common::real_data() else {
        return;
    };
    let Some(chrome) = chromium() else { return };
    let dir = workdir("pca");
    let out = dir.join("run");
    let html = run_dashboard(
        &real,
        &out,
        &[
            "--features",
            "BALANCE,PURCHASES,CREDIT_LIMIT,CASH_ADVANCE,PAYMENTS",
            "--k",
            "4",
        ],
    );
    let page = open(&chrome, &html, &dir);
    let names = model_segment_names(&out.join("model.json"));
    assert_healthy(&page, &names, "3d");
    let c = &page.check;
    assert_eq!(c["pca_kind"], "2d", "{c}");
    assert_eq!(c["pca_points"].as_u64(), Some(8_950), "{c}");
    assert_eq!(c["pca_svg_points"].as_u64(), Some(8_950), "{c}");
    assert_eq!(c["axis_selects"].as_u64(), Some(3));
    assert_eq!(c["box_traces"].as_u64(), Some(5));
}
