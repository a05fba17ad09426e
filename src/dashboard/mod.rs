//! The interactive dashboard (`dashboard.html`): one self-contained page that opens from
//! disk, by e-mail or on a share, with no network at all.
//!
//! # Why plotly.js is embedded this way
//! Plotly is what analysts know, and its `scatter3d` trace is the 3D view the issue asks
//! for. The page must work offline, so the library travels inside it. We embed the npm
//! package `plotly.js-gl3d-dist-min` 4.1.1 (MIT): it holds `scatter3d` and `scatter`, all
//! the page draws (bars and the strip view are drawn with `scatter` or plain HTML), in
//! 1.75 MB, a third of the full bundle, so the page parses quickly even for a 10M-customer
//! run. It is committed gzip-compressed (556 KB, under the 2 MB limit for committed files)
//! in `assets/plotly/` with its LICENSE and provenance, pinned by SHA-256 (checked by a
//! unit test), and decompressed with `flate2`, already a dependency: no build script, no
//! download at build time, no new crate. The `plotly` Rust crate was rejected: it adds
//! about 20 crates (askama, darling, serde_with, rand and their proc macros) to build only
//! the JSON figure spec we write ourselves, and still needs a bundle to work offline.
//!
//! # Safety of data strings
//! Every string from the data (ids, column names, segment names from a rules file) goes
//! into the page only as JSON inside `<script type="application/json">`, with `<`, `>`,
//! `&`, U+2028 and U+2029 written as `\uXXXX`, so no value can close the element. The
//! script builds the DOM with `textContent` only, and escapes text it hands to plotly,
//! whose labels understand a few HTML tags. A Content-Security-Policy allows only the
//! page's own three scripts (by hash) and no network source, as a second line of defence.
//!
//! # Determinism
//! The page holds no timestamp and no random id; the scatter sample is seeded by the
//! model's seed, so the same input and seed give a byte-identical file.

pub mod data;
mod flows;
mod pca;
mod sample;
mod silhouettes;
mod style;

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::report::summary::Summary;
use crate::segmentation::Segmentation;

/// Version of the Plotly bundle inlined in every page (checked by [`PLOTLY_SHA256`]).
pub const PLOTLY_VERSION: &str = "4.1.1";
/// SHA-256 of the decompressed `plotly-gl3d.min.js` from the npm tarball.
pub const PLOTLY_SHA256: &str = "aab04dcd9c103a92b18723f8c837712fe820f325d0bcd2421e415e8124a75b9f";
static PLOTLY_GZ: &[u8] = include_bytes!("../../assets/plotly/plotly-gl3d-4.1.1.min.js.gz");

const STYLE: &str = include_str!("style.css");
/// Runs first: records errors, alerts and policy violations for the self-check.
const GUARD_JS: &str = include_str!("guard.js");
const APP_JS: &str = include_str!("app.js");

/// The embedded plotly.js source.
pub fn plotly_js() -> Result<String> {
    let mut text = String::with_capacity(1_800_000);
    flate2::read::GzDecoder::new(PLOTLY_GZ)
        .read_to_string(&mut text)
        .map_err(|e| {
            Error::usage(format!(
                "the embedded plotly.js is damaged ({e}); rebuild cardseg"
            ))
        })?;
    Ok(text)
}

/// The dashboard page of a run (`dashboard.html`), published beside the report files.
pub struct DashboardFile<'a> {
    /// Where the page goes.
    pub path: std::path::PathBuf,
    /// The run's summary (its findings head the page).
    pub summary: &'a Summary,
}

impl crate::segmentation::Sink for DashboardFile<'_> {
    fn publish(&mut self, seg: &Segmentation) -> Result<()> {
        write_for_run(&self.path, seg, self.summary)
    }
}

/// Writes `dashboard.html` for a finished run (inside the run's temporary directory).
pub fn write_for_run(path: &Path, r: &Segmentation, summary: &Summary) -> Result<()> {
    crate::output::write_file(path, |w| render(w, r, summary, path))
}

/// Serializes `value` as JSON that is safe inside a `<script>` element: the characters
/// that could end the element or start a comment, and the two line separators JavaScript
/// once treated as newlines, are written as `\uXXXX` (they only occur inside strings).
pub fn script_json<T: serde::Serialize>(value: &T) -> Result<String> {
    let raw = serde_json::to_string(value)
        .map_err(|e| Error::usage(format!("cannot serialize dashboard data: {e}")))?;
    let mut out = String::with_capacity(raw.len() + raw.len() / 32);
    for ch in raw.chars() {
        match ch {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// CSP source for one inline script.
fn csp_hash(script: &str) -> String {
    format!("'sha256-{}'", base64(&Sha256::digest(script.as_bytes())))
}

/// Writes the whole page. `path` is only used in error messages.
pub fn render(w: &mut dyn Write, r: &Segmentation, summary: &Summary, path: &Path) -> Result<()> {
    // The bundle is unpacked and hashed while the page's data is gathered.
    let (plotly, json) = rayon::join(
        || -> Result<(String, String)> {
            let plotly = plotly_js()?;
            // The bundle is inlined as is; it must not be able to end its own element.
            if memchr::memchr_iter(b'<', plotly.as_bytes()).any(|i| {
                plotly.as_bytes()[i..]
                    .get(..8)
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"</script"))
            }) {
                return Err(Error::usage(
                    "the embedded plotly.js contains </script>; it cannot be inlined",
                ));
            }
            let hash = csp_hash(&plotly);
            Ok((plotly, hash))
        },
        || script_json(&data::PageData::build(r, summary)),
    );
    let (json, (plotly, plotly_hash)) = (json?, plotly?);
    let csp = format!(
        "default-src 'none'; script-src {} {} {}; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(GUARD_JS),
        plotly_hash,
        csp_hash(APP_JS)
    );
    let e = crate::output::werr(path);
    write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n\
<meta name=\"referrer\" content=\"no-referrer\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<meta name=\"generator\" content=\"cardseg {version}\">\n\
<title>Customer segments</title>\n<style>\n{STYLE}</style>\n<script>{GUARD_JS}</script>\n</head>\n<body>\n{BODY}",
        version = env!("CARGO_PKG_VERSION"),
    )
    .map_err(&e)?;
    writeln!(
        w,
        "<script type=\"application/json\" id=\"cardseg-data\">{json}</script>"
    )
    .map_err(&e)?;
    write!(
        w,
        "<script>{plotly}</script>\n<script>{APP_JS}</script>\n</body>\n</html>\n"
    )
    .map_err(&e)?;
    Ok(())
}

/// The static skeleton; the script fills it from the data (with `textContent` only).
const BODY: &str = r#"<header class="top">
  <div class="wrap">
    <h1>Customer segments</h1>
    <p class="sub" id="subtitle"></p>
  </div>
</header>
<main class="wrap">
  <section class="kpis" id="kpis" aria-label="Key figures"></section>
  <noscript><p class="note">This dashboard needs JavaScript to draw its charts.</p></noscript>
  <section class="grid two-one">
    <div class="card">
      <div class="card-head">
        <h2 id="scatter-title">Customers in feature space</h2>
        <span id="axis-pick"></span>
        <label class="toggle"><input type="checkbox" id="log-axes" autocomplete="off"> Log axes</label>
      </div>
      <p class="note" id="scatter-note"></p>
      <div id="scatter" class="plot plot-main"></div>
      <p class="hint" id="scatter-hint"></p>
    </div>
    <div class="card">
      <h2>Segment sizes</h2>
      <div id="sizes" class="sizes"></div>
    </div>
  </section>
  <section class="grid halves">
    <div class="card">
      <h2>Elbow: inertia by number of segments</h2>
      <div id="elbow" class="plot plot-small"></div>
    </div>
    <div class="card">
      <h2>Silhouette by number of segments</h2>
      <div id="silhouette" class="plot plot-small"></div>
    </div>
  </section>
  <section class="grid halves">
    <div class="card" id="dist-card">
      <div class="card-head">
        <h2>Distributions by segment</h2>
        <label class="toggle">Column <select id="dist-col" autocomplete="off"></select></label>
      </div>
      <div id="boxes" class="plot plot-small"></div>
      <p class="note" id="dist-note"></p>
    </div>
    <div class="card">
      <h2 id="silplot-title">Silhouette of each customer</h2>
      <div id="silplot" class="plot plot-small"></div>
      <p class="note" id="silplot-note"></p>
    </div>
  </section>
  <section class="card" id="pca-card">
    <div class="card-head">
      <h2>Principal components of the clustering features</h2>
      <label class="toggle"><input type="checkbox" id="pca-3d" autocomplete="off"> 3D</label>
    </div>
    <p class="note" id="pca-note"></p>
    <div id="pca" class="plot plot-main"></div>
  </section>
  <section class="card" id="cat-card">
    <h2>Category mix by segment</h2>
    <p class="note">Share of each segment's customers with each value; shaded by the share against the portfolio's. "few": fewer than 30 customers, too few for a comparison.</p>
    <div class="table-wrap"><table id="categories" class="profile"></table></div>
  </section>
  <section class="card" id="outcome-card" hidden>
    <h2>Outcomes by segment</h2>
    <p class="note">Rate or mean per segment with its 95% interval (Wilson for 0/1 rates, normal approximation for means); the dashed line is the portfolio. A segment differs when its interval excludes the portfolio's figure.</p>
    <div id="outcomes"></div>
  </section>
  <section class="card">
    <h2>Executive summary</h2>
    <p id="structure"></p>
    <p id="caution" class="caution" hidden></p>
    <ul id="findings" class="findings"></ul>
    <h3>How the number of segments was chosen</h3>
    <p id="k-reason"></p>
    <div id="segment-cards" class="segment-cards"></div>
  </section>
  <section class="card">
    <div class="card-head">
      <h2>Segment profiles</h2>
      <label class="toggle">Show
        <select id="profile-stat" autocomplete="off">
          <option value="mean">mean</option>
          <option value="median">median</option>
          <option value="index">index (100 = portfolio average)</option>
        </select>
      </label>
    </div>
    <p class="note">Cells are shaded by the segment's index against the portfolio: blue above average, red below.</p>
    <div class="table-wrap"><table id="profile" class="profile"></table></div>
  </section>
  <section class="card">
    <h2>Data quality</h2>
    <ul id="quality" class="quality"></ul>
  </section>
  <footer id="footer" class="foot"></footer>
</main>
<pre id="selfcheck" hidden></pre>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_plotly_matches_the_pin() {
        let js = plotly_js().unwrap();
        let digest = Sha256::digest(js.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex, PLOTLY_SHA256,
            "assets/plotly changed without updating PLOTLY_SHA256"
        );
        assert!(js.contains(&format!("v{PLOTLY_VERSION}")));
        assert!(!js.to_ascii_lowercase().contains("</script"));
    }

    #[test]
    fn script_json_cannot_close_the_element() {
        let v = vec![
            "</script><script>alert(1)</script>",
            "a&b",
            "x\u{2028}y\u{2029}",
            "<!--",
        ];
        let s = script_json(&v).unwrap();
        for bad in ["<", ">", "&", "\u{2028}", "\u{2029}"] {
            assert!(!s.contains(bad), "{bad:?} left in {s}");
        }
        let back: Vec<String> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn base64_known_answers() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
