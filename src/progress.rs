//! Progress bars on stderr, shown only when stderr is a terminal and `--quiet` is off,
//! so logs and pipes stay clean.

use std::io::{IsTerminal, Read};
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences every progress bar (the `--quiet` flag).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether progress bars were silenced with `--quiet` ([`set_quiet`]).
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

fn enabled() -> bool {
    !is_quiet() && std::io::stderr().is_terminal()
}

/// A bar that may be hidden; every method is a no-op when it is.
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// A bar counting bytes of an input of `total` bytes, with an estimated time left.
    pub fn bytes(total: u64, label: &str) -> Self {
        Self::make(
            total,
            label,
            "{msg:>10} [{bar:30}] {bytes}/{total_bytes} {eta}",
        )
    }
    /// A bar counting `total` steps (fits of the k sweep, files read, rows generated),
    /// with the time elapsed.
    pub fn steps(total: u64, label: &str) -> Self {
        Self::make(total, label, "{msg:>10} [{bar:30}] {pos}/{len} {elapsed}")
    }
    fn make(total: u64, label: &str, template: &str) -> Self {
        if !enabled() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_string());
        Progress(Some(bar))
    }
    /// Advances the bar by `n` bytes or steps.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }
    /// Clears the bar, so it leaves nothing behind on the terminal.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
    /// Wraps a reader so that bytes read advance the bar.
    pub fn wrap_read<R: Read>(&self, inner: R) -> CountingReader<R> {
        CountingReader {
            inner,
            bar: self.0.clone(),
        }
    }
}

/// A reader that advances a bar by every byte read (see [`Progress::wrap_read`]).
pub struct CountingReader<R> {
    inner: R,
    bar: Option<indicatif::ProgressBar>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
        Ok(n)
    }
}
