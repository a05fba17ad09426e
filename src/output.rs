//! Atomic outputs. A run writes into a hidden temporary sibling of its output directory
//! and renames it into place only when every file is complete, so a crash or an error
//! never leaves a half-written result, and `--force` swaps the old result out in one
//! step (Linux `renameat2(RENAME_EXCHANGE)`): the earlier result survives until the new
//! one is whole.
//!
//! The commit never replaces what it did not check: a target that was absent at the start
//! is created with a no-replace rename (`RENAME_NOREPLACE`), so a directory or file that
//! appeared meanwhile (another run, a user's file) makes the command fail instead of being
//! deleted; a target that existed is swapped out and the swapped-out entry is verified to
//! be the one checked at the start (same inode, still empty or still a cardseg result),
//! else it is swapped back and the command fails. Files and directories are fsynced before
//! the rename and the parent directory after it, so a power loss leaves the old or the new
//! output, never an empty file under the final name. [`Inputs`], which every writer takes,
//! keeps a command from writing over, or into, its own inputs.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const TMP_TAG: &str = ".cardseg-tmp-";

fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

fn split(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != "." && n != "..")
        .ok_or_else(|| Error::usage(format!("{}: not a usable output name", path.display())))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// Removes temporary siblings left by runs that were killed (their process is gone).
fn sweep_stale(parent: &Path, name: &str) {
    let prefix = format!(".{name}{TMP_TAG}");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = fs::remove_dir_all(e.path()).or_else(|_| fs::remove_file(e.path()));
        }
    }
}

/// Temporary outputs of this process not yet committed or dropped, by a number of their
/// own, with the parent directories created for them: what a signal removes.
type Pending = Vec<(u64, PathBuf, Vec<PathBuf>)>;
static PENDING: std::sync::Mutex<Pending> = std::sync::Mutex::new(Vec::new());
/// The write end of the pipe through which the signal handler wakes the cleaner.
static SIGNAL_PIPE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
/// Set by the signal handler: the command is ending by a signal, whatever it reports.
static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn pending() -> std::sync::MutexGuard<'static, Pending> {
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

fn register(tmp: &Path, parents: &[PathBuf]) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    pending().push((id, tmp.to_path_buf(), parents.to_vec()));
    id
}

/// Blocks for good once the cleaner has started, so nothing is renamed into place
/// while it removes the temporaries.
fn unregister(id: u64) {
    pending().retain(|(i, _, _)| *i != id);
}

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNALLED.store(true, std::sync::atomic::Ordering::SeqCst);
    let fd = SIGNAL_PIPE.load(std::sync::atomic::Ordering::SeqCst);
    let b = sig as u8;
    // SAFETY: write(2) is async-signal-safe; `b` lives through the call.
    unsafe { libc::write(fd, (&b as *const u8).cast(), 1) };
}

/// On SIGINT or SIGTERM, removes this process's uncommitted temporary outputs (at any
/// stage: reading a slow source too), then ends the process by the same signal with
/// its default action, so the exit status is what it would be without this. A signal
/// the process ignores (a background job of a script) stays ignored. For commands that
/// do not handle these signals themselves (`serve` does).
pub fn remove_temporaries_on_signal() {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return;
    }
    SIGNAL_PIPE.store(fds[1], std::sync::atomic::Ordering::SeqCst);
    let cleaner = std::thread::Builder::new()
        .name("cardseg-signals".into())
        .spawn(move || {
            let mut b = 0u8;
            loop {
                // SAFETY: reads one byte into `b`.
                let n = unsafe { libc::read(fds[0], (&mut b as *mut u8).cast(), 1) };
                if n == 1 {
                    break;
                }
                if n == 0
                    || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                {
                    return;
                }
            }
            // Held until the process ends: no commit or drop runs meanwhile.
            let held = pending();
            for (_, tmp, parents) in held.iter() {
                let _ = fs::remove_dir_all(tmp).or_else(|_| fs::remove_file(tmp));
                for d in parents.iter().rev() {
                    let _ = fs::remove_dir(d);
                }
            }
            let sig = libc::c_int::from(b);
            // SAFETY: restores the default action and raises the signal, which ends the
            // process as if no handler had been installed.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
            std::process::exit(128 + sig);
        });
    if cleaner.is_err() {
        return;
    }
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction with a zeroed struct queries the current action, then
        // installs `on_signal`, which only does async-signal-safe work.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                || old.sa_sigaction == libc::SIG_IGN
            {
                continue;
            }
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            new.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut new.sa_mask);
            libc::sigaction(sig, &new, std::ptr::null_mut());
        }
    }
}

/// Whether SIGINT or SIGTERM arrived (after [`remove_temporaries_on_signal`]): the
/// process is about to end by it, so an error the interruption caused is not the
/// command's result. Waits for that end when so.
pub fn wait_if_signalled() {
    if SIGNALLED.load(std::sync::atomic::Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// The standard output, for `--out -`: a single-file output written there instead of a
/// file (nothing named `-` is ever created).
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// This build's version, as outputs record it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The file inside an output directory that says cardseg wrote it (the command, version
/// and model): what lets `--force` replace that directory later, and nothing else.
pub const DIR_MARKER: &str = ".cardseg-output.json";

/// Appended to a single-file output's name for its sidecar (`labels.csv.meta.json`):
/// who wrote the file, from which model, and the file's SHA-256, which is how `--force`
/// recognises the file as cardseg's own.
pub const SIDECAR_SUFFIX: &str = ".meta.json";

/// The `format` member of markers and sidecars.
const MARK_FORMAT: &str = "cardseg-output";

/// Who wrote an output and from which model: every output records it (a directory's
/// marker, a file's sidecar, a field of JSON outputs, a header line of SQL, Parquet
/// key-value metadata).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// The command, e.g. "cardseg predict".
    pub created_by: String,
    /// The cardseg version that wrote it.
    pub cardseg_version: String,
    /// The checksum of the model the output came from (none for generated data).
    pub model_checksum: Option<String>,
    /// Customers (rows) in the output, when it has rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

impl Provenance {
    /// `command` is the subcommand ("predict"); `model_checksum` the model's, if any.
    pub fn new(command: &str, model_checksum: Option<&str>) -> Self {
        Provenance {
            created_by: format!("cardseg {command}"),
            cardseg_version: VERSION.to_string(),
            model_checksum: model_checksum.map(str::to_string),
            rows: None,
        }
    }

    /// The same record with a row count.
    pub fn with_rows(mut self, rows: u64) -> Self {
        self.rows = Some(rows);
        self
    }
}

/// Parquet key-value metadata recording `p` (keys `cardseg.created_by`,
/// `cardseg.version`, `cardseg.model_checksum`, `cardseg.rows`), for writers of Parquet
/// outputs to put in the file's footer.
pub fn parquet_metadata(p: &Provenance) -> Vec<(String, String)> {
    let mut kv = vec![
        ("cardseg.created_by".to_string(), p.created_by.clone()),
        ("cardseg.version".to_string(), p.cardseg_version.clone()),
    ];
    if let Some(c) = &p.model_checksum {
        kv.push(("cardseg.model_checksum".to_string(), c.clone()));
    }
    if let Some(r) = p.rows {
        kv.push(("cardseg.rows".to_string(), r.to_string()));
    }
    kv
}

/// A directory's marker file.
#[derive(serde::Serialize, serde::Deserialize)]
struct DirMark {
    format: String,
    #[serde(flatten)]
    provenance: Provenance,
}

/// A single file's sidecar: its provenance and content hash. `previous_sha256` is the
/// file it replaced: the sidecar is renamed into place before the file, so a crash
/// between the two renames leaves a file the sidecar still vouches for.
#[derive(serde::Serialize, serde::Deserialize)]
struct Sidecar {
    format: String,
    file: String,
    #[serde(flatten)]
    provenance: Provenance,
    bytes: u64,
    sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    previous_sha256: Option<String>,
}

/// Where the sidecar of single-file output `path` is.
pub fn sidecar_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(SIDECAR_SUFFIX);
    PathBuf::from(s)
}

/// Reads a small JSON file cardseg wrote (markers, sidecars, model.json headers), at most
/// a few megabytes.
fn read_small_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let m = fs::symlink_metadata(path).ok()?;
    if !m.is_file() || m.len() > 64 << 20 {
        return None;
    }
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

fn read_sidecar(path: &Path) -> Option<Sidecar> {
    read_small_json::<Sidecar>(path).filter(|s| s.format == MARK_FORMAT)
}

fn hex(digest: &[u8]) -> String {
    let mut s = String::with_capacity(7 + 2 * digest.len());
    s.push_str("sha256:");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// SHA-256 of a file's content (None when it cannot be read).
fn file_sha256(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut f = fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).ok()?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Some(hex(&h.finalize()))
}

/// The content hash of `path` if cardseg wrote it: its sidecar names it and holds its
/// SHA-256 (or the one it replaced). A file without a sidecar, or changed since, is
/// someone else's.
fn owned_file(path: &Path) -> Option<String> {
    let (_, name) = split(path).ok()?;
    let side = read_sidecar(&sidecar_path(path))?;
    if side.file != name {
        return None;
    }
    let sum = file_sha256(path)?;
    (sum == side.sha256 || side.previous_sha256.as_deref() == Some(sum.as_str())).then_some(sum)
}

/// The checksum of the model a labels file came from: its sidecar's (a predict output),
/// else the `checksum` of the model.json beside it (a run's directory).
pub fn model_checksum_of(labels: &Path) -> Option<String> {
    if let Some(c) = read_sidecar(&sidecar_path(labels)).and_then(|s| s.provenance.model_checksum) {
        return Some(c);
    }
    #[derive(serde::Deserialize)]
    struct ModelHead {
        format: String,
        checksum: String,
    }
    let dir = match labels.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    read_small_json::<ModelHead>(&dir.join("model.json"))
        .filter(|m| m.format == "cardseg-model")
        .map(|m| m.checksum)
}

/// Every name cardseg writes inside an output directory (run, demo, drift, compare).
/// `--force` replaces a directory only when it holds nothing else: a file someone added
/// to an earlier result is theirs. `tests/harden_cmds.rs` checks that each command's
/// directory stays within this list.
pub const OUTPUT_DIR_FILES: &[&str] = &[
    DIR_MARKER,
    ".cardseg-demo",
    "dashboard.html",
    "demo_input.csv",
    "drift.json",
    "drift.md",
    "k_selection.csv",
    "labels.csv",
    "labels.parquet",
    "migration.csv",
    "migration.json",
    "migration.md",
    "model.json",
    "segments.csv",
    "segments.json",
    "stability.csv",
    "summary.json",
    "summary.md",
];

/// Whether `--force` may replace a non-empty directory.
enum Ownership {
    /// A cardseg result holding only files cardseg writes.
    Ours,
    /// A cardseg result that also holds this entry (the first by name), someone else's.
    Holds(String),
    /// No cardseg marker nor a run's model.json.
    NotOurs,
}

/// Whether a directory holds a cardseg result (its marker, or the model.json of a run,
/// checked by content: a cardseg model file, not just any file of that name) and nothing
/// but the files cardseg writes there.
fn ownership(dir: &Path) -> Ownership {
    #[derive(serde::Deserialize)]
    struct ModelHead {
        format: String,
    }
    let marked =
        read_small_json::<DirMark>(&dir.join(DIR_MARKER)).is_some_and(|m| m.format == MARK_FORMAT);
    let run = || {
        read_small_json::<ModelHead>(&dir.join("model.json"))
            .is_some_and(|m| m.format == "cardseg-model")
    };
    if !marked && !run() {
        return Ownership::NotOurs;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return Ownership::NotOurs;
    };
    let mut foreign: Vec<String> = Vec::new();
    for e in entries {
        let Ok(e) = e else {
            return Ownership::NotOurs;
        };
        let name = e.file_name();
        let known = name.to_str().is_some_and(|n| OUTPUT_DIR_FILES.contains(&n));
        if !known || !e.file_type().is_ok_and(|t| t.is_file()) {
            foreign.push(name.to_string_lossy().into_owned());
        }
    }
    match foreign.into_iter().min() {
        Some(name) => Ownership::Holds(name),
        None => Ownership::Ours,
    }
}

fn owned_dir(dir: &Path) -> bool {
    matches!(ownership(dir), Ownership::Ours)
}

/// A `Write` that hashes what goes through it.
struct Hashing<W> {
    inner: W,
    hash: sha2::Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Standard output for `--out -`: a closed pipe (`| head`) ends the output quietly.
struct PipeSafe<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> Write for PipeSafe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.inner.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

/// Writes a single-file output to standard output (`--out -`).
fn write_stdout(write: impl FnOnce(&mut (dyn Write + Send)) -> Result<()>) -> Result<()> {
    let name = Path::new("standard output");
    let pipe = PipeSafe {
        inner: std::io::stdout(),
        closed: false,
    };
    let mut w = std::io::BufWriter::with_capacity(1 << 20, pipe);
    write(&mut w)?;
    w.flush().map_err(werr(name))
}

/// Refuses a single-file output named like a directory (`gdir/`, `gdir/.`): its file would
/// have no name of its own, and its sidecar would land inside a folder that may not exist.
pub fn check_file_name(path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    if bytes.ends_with(b"/") || bytes.ends_with(b"/.") {
        return Err(Error::usage(format!(
            "--out {}: must be a file path, not a directory; give a file name",
            path.display()
        )));
    }
    Ok(())
}

/// [`check_file_name`] and [`check_target`]: what a single-file output is checked for
/// before any work.
pub fn check_file_target(path: &Path, force: bool) -> Result<()> {
    check_file_name(path)?;
    check_target(path, force)
}

/// Refuses an existing output unless `force`; empty directories may be reused. With
/// `force`, only an output cardseg wrote is replaced: a directory holding a cardseg
/// marker (or a run's model.json), or a file its sidecar vouches for (same name, same
/// SHA-256). Anything else is someone's data, which `--force` never replaces.
pub fn check_target(path: &Path, force: bool) -> Result<()> {
    if is_stdout(path) {
        return Ok(());
    }
    match fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.file_type().is_symlink() && fs::metadata(path).is_err() => {
            let to = fs::read_link(path)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            Err(Error::usage(format!(
                "{} is a dangling symbolic link (to {to}, which does not exist); remove the link or choose another output",
                path.display()
            )))
        }
        Ok(m) if m.is_dir() => {
            let empty = fs::read_dir(path)
                .map_err(|e| Error::io(path, "reading", e))?
                .next()
                .is_none();
            if empty {
                Ok(())
            } else if !force {
                Err(Error::OutputExists {
                    path: path.display().to_string(),
                })
            } else {
                match ownership(path) {
                    Ownership::Ours => Ok(()),
                    Ownership::Holds(name) => Err(holds_foreign(path, &name)),
                    Ownership::NotOurs => Err(not_owned_dir(path)),
                }
            }
        }
        Ok(_) if !force => Err(Error::OutputExists {
            path: path.display().to_string(),
        }),
        Ok(_) if owned_file(path).is_some() => Ok(()),
        Ok(_) => Err(not_owned_file(path)),
    }
}

fn not_owned_dir(path: &Path) -> Error {
    Error::usage(format!(
        "{} is not a cardseg output directory (it has no {DIR_MARKER} or model.json written by cardseg), so --force will not replace it; choose another --out",
        path.display()
    ))
}

fn holds_foreign(path: &Path, name: &str) -> Error {
    Error::usage(format!(
        "{} holds {name:?}, which cardseg does not write, so --force will not replace the directory; move {name:?} out of it or choose another --out",
        path.display()
    ))
}

fn not_owned_file(path: &Path) -> Error {
    Error::usage(format!(
        "{} was not written by cardseg (no {} records it, or the file changed since), so --force will not replace it; remove it yourself or choose another --out",
        path.display(),
        sidecar_path(path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ))
}

/// A path's identity (device, inode, change time): what the commit re-checks. The change
/// time tells a new file that reused a deleted one's inode, and an entry written since.
type Identity = (u64, u64, i64, i64);

fn identity(path: &Path) -> Option<Identity> {
    fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
}

/// The local file behind an `--input` string (a path or `sqlite://PATH`); `None` for
/// network sources.
pub fn local_input(input: &str) -> Option<PathBuf> {
    if let Some(p) = input.strip_prefix("sqlite://") {
        return Some(PathBuf::from(p));
    }
    (!input.contains("://")).then(|| PathBuf::from(input))
}

/// Everything a command reads (and any database file it writes besides its output): the
/// files and directories its output may not be, hold, or sit inside. Every writer of this
/// module takes one, checks it before anything is created or replaced, and checks it again
/// at the moment of the commit, so no command can forget it and `--force` never replaces
/// the data being read.
#[derive(Debug, Clone, Default)]
pub struct Inputs(Vec<Input>);

/// One input: its path, and whether an output inside it (a directory) is refused too.
#[derive(Debug, Clone)]
struct Input {
    path: PathBuf,
    no_inside: bool,
}

impl Inputs {
    /// A command that reads no file (generated data).
    pub fn none() -> Self {
        Inputs(Vec::new())
    }

    /// Adds a file or directory the command reads; no output may be written inside such
    /// a directory either (a run folder given to `compare`).
    pub fn path(mut self, p: impl Into<PathBuf>) -> Self {
        self.0.push(Input {
            path: p.into(),
            no_inside: true,
        });
        self
    }

    /// Adds an optional file (a flag that may be absent).
    pub fn maybe(self, p: Option<&Path>) -> Self {
        match p {
            Some(p) => self.path(p),
            None => self,
        }
    }

    /// Adds the local file behind an `--input` or database URL (nothing for network
    /// sources). A source folder (Parquet parts) is read by its `*.parquet` files, which
    /// no output changes, so an output inside it is left to the reader to judge (a
    /// directory that is not a source gets the reader's own error).
    pub fn source(mut self, input: &str) -> Self {
        if let Some(path) = local_input(input) {
            self.0.push(Input {
                path,
                no_inside: false,
            });
        }
        self
    }

    /// Refuses an output that is one of these inputs (the same file or directory, by
    /// device and inode, whatever path names it), a directory holding one, or a path
    /// inside an input directory: writing there would replace or change the data read.
    pub fn check(&self, out: &Path) -> Result<()> {
        let out_real = resolve(out);
        let out_id = fs::metadata(out)
            .ok()
            .map(|m| (m.dev(), m.ino(), m.is_dir()));
        for Input {
            path: input,
            no_inside,
        } in &self.0
        {
            let Ok(real) = fs::canonicalize(input) else {
                continue;
            };
            let Ok(meta) = fs::metadata(&real) else {
                continue;
            };
            let in_id = (meta.dev(), meta.ino());
            let refuse = |what: &str| {
                Err(Error::usage(format!(
                    "{} {what} {}; writing there would replace or change the data being read, so choose another output",
                    out.display(),
                    input.display()
                )))
            };
            if let Some((dev, ino, out_is_dir)) = out_id {
                if (dev, ino) == in_id {
                    return refuse("is this command's input");
                }
                if out_is_dir && real.ancestors().skip(1).any(|a| same(a, (dev, ino))) {
                    return refuse("holds this command's input");
                }
            }
            if *no_inside && meta.is_dir() {
                if let Some(o) = &out_real {
                    if o.ancestors().skip(1).any(|a| same(a, in_id)) {
                        return refuse("is inside this command's input directory");
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether `p` (followed through links) is the file or directory `id`.
fn same(p: &Path, id: (u64, u64)) -> bool {
    fs::metadata(p).is_ok_and(|m| (m.dev(), m.ino()) == id)
}

/// The real path `p` names: its longest existing prefix with links resolved, then the
/// rest as written (None when not even the current directory resolves).
fn resolve(p: &Path) -> Option<PathBuf> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(p)
    };
    let mut rest = Vec::new();
    let mut head = abs.as_path();
    loop {
        if let Ok(real) = fs::canonicalize(head) {
            let mut out = real;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return Some(out);
        }
        rest.push(head.file_name()?.to_os_string());
        head = head.parent()?;
    }
}

/// Refuses an output (`out`, about to be created or replaced) that is, holds or sits
/// inside one of `inputs`, and an existing one unless `force`: what every command checks
/// before any work.
pub fn check_output(out: &Path, force: bool, inputs: &Inputs) -> Result<()> {
    if is_stdout(out) {
        return Ok(());
    }
    inputs.check(out)?;
    check_target(out, force)
}

/// Flushes a file's or directory's contents to the disk.
fn sync_path(path: &Path) -> std::io::Result<()> {
    fs::File::open(path)?.sync_all()
}

/// Directories created for an output's parent path: removed again (when still empty) if
/// the output is not completed, so a failed command leaves the file system as it was.
#[derive(Default)]
struct CreatedDirs(Vec<PathBuf>);

impl CreatedDirs {
    fn keep(&mut self) {
        self.0.clear();
    }
}

impl Drop for CreatedDirs {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// Creates `parent` and its missing ancestors. A part of the path that is a file is named
/// as such (the operating system would only say "File exists").
fn create_parent(parent: &Path) -> Result<CreatedDirs> {
    let mut missing = Vec::new();
    let mut p = parent.to_path_buf();
    loop {
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                return Err(Error::usage(format!(
                    "{} is a file, not a directory, so nothing can be created inside it; choose another output path",
                    p.display()
                )))
            }
            Err(_) => {
                missing.push(p.clone());
                match p.parent() {
                    Some(q) if !q.as_os_str().is_empty() => p = q.to_path_buf(),
                    _ => break,
                }
            }
        }
    }
    missing.reverse();
    let created = CreatedDirs(missing);
    fs::create_dir_all(parent).map_err(|e| Error::io(parent, "creating directory", e))?;
    Ok(created)
}

/// A directory `--force` may replace: empty, or an earlier cardseg result (its marker,
/// or a run's model.json). Anything else is someone's data, which --force never deletes.
fn replaceable(dir: &Path) -> bool {
    let empty = fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false);
    empty || owned_dir(dir)
}

/// An output directory under construction.
pub struct OutputDir {
    target: PathBuf,
    tmp: PathBuf,
    /// Its entry among the temporaries a signal removes.
    registered: u64,
    done: bool,
    created: CreatedDirs,
    force: bool,
    /// The target's identity when it was checked (`None`: it did not exist).
    checked: Option<Identity>,
    /// What the command reads: checked again at the commit.
    inputs: Inputs,
}

impl OutputDir {
    /// Checks the target (not one of `inputs`, nor holding or inside one; absent, empty,
    /// or a cardseg result with `force`) and creates the temporary sibling (so an
    /// unwritable place fails before any work is done).
    pub fn create(target: &Path, force: bool, inputs: &Inputs) -> Result<Self> {
        let (parent, name) = split(target)?;
        if let Ok(to) = fs::read_link(target) {
            if fs::metadata(target).is_ok() {
                return Err(Error::usage(format!(
                    "{} is a symbolic link (to {}); cardseg does not write an output directory through a link; give the directory itself or another --out",
                    target.display(),
                    to.display()
                )));
            }
        }
        if is_stdout(target) {
            return Err(Error::usage(
                "this command writes a directory of files, so --out - (standard output) cannot hold it; give a directory",
            ));
        }
        inputs.check(target)?;
        if let Ok(m) = fs::metadata(target) {
            if !m.is_dir() && force {
                return Err(Error::usage(format!(
                    "{} exists and is not a directory; choose another --out",
                    target.display()
                )));
            }
        }
        check_output(target, force, inputs)?;
        let checked = identity(target);
        let created = create_parent(&parent)?;
        sweep_stale(&parent, &name);
        let tmp = parent.join(format!(".{name}{TMP_TAG}{}", unique_suffix()));
        fs::create_dir(&tmp).map_err(|e| Error::io(target, "creating output directory", e))?;
        let registered = register(&tmp, &created.0);
        Ok(OutputDir {
            target: target.to_path_buf(),
            registered,
            tmp,
            done: false,
            created,
            force,
            checked,
            inputs: inputs.clone(),
        })
    }

    /// Writes the directory's marker ([`DIR_MARKER`]): it records who wrote the result
    /// and from which model, and lets a later `--force` of the same kind replace it.
    pub fn mark(&self, provenance: &Provenance) -> Result<()> {
        write_json(
            &self.file(DIR_MARKER),
            &DirMark {
                format: MARK_FORMAT.to_string(),
                provenance: provenance.clone(),
            },
        )
    }

    /// Where files are written until [`commit`](Self::commit).
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Where to write output file `name` now: inside the temporary directory, so it
    /// appears in the target only when the run commits.
    pub fn file(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    /// The directory the outputs end up in after [`commit`](Self::commit).
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the finished directory into place. An absent target is created with a
    /// no-replace rename; an existing one is swapped out and must still be the directory
    /// checked at the start (same inode, and empty, or a cardseg result with `--force`),
    /// else it is swapped back and the command fails with nothing lost.
    pub fn commit(mut self) -> Result<PathBuf> {
        let changed = || {
            Error::usage(format!(
                "{} changed while this command ran (something was created or written there); nothing was replaced, the new result was discarded; run again with another --out",
                self.target.display()
            ))
        };
        sync_tree(&self.tmp).map_err(|e| Error::io(&self.target, "writing", e))?;
        self.inputs.check(&self.target)?;
        unregister(self.registered);
        match self.checked {
            None => match rename_noreplace(&self.tmp, &self.target) {
                Ok(()) => {}
                Err(e)
                    if e.raw_os_error() == Some(libc::EEXIST)
                        || e.raw_os_error() == Some(libc::ENOTEMPTY) =>
                {
                    return Err(changed())
                }
                Err(e)
                    if e.raw_os_error() == Some(libc::EINVAL)
                        || e.raw_os_error() == Some(libc::ENOSYS) =>
                {
                    // A file system without RENAME_NOREPLACE: check, then rename.
                    if fs::symlink_metadata(&self.target).is_ok() {
                        return Err(changed());
                    }
                    fs::rename(&self.tmp, &self.target)
                        .map_err(|e| Error::io(&self.target, "creating", e))?;
                }
                Err(e) => return Err(Error::io(&self.target, "creating", e)),
            },
            Some(id) => {
                if identity(&self.target) != Some(id) {
                    return Err(changed());
                }
                // Renaming changes the change time: after the swap, device and inode tell.
                let acceptable = |old: &Path| {
                    identity(old).map(|i| (i.0, i.1)) == Some((id.0, id.1))
                        && fs::symlink_metadata(old).is_ok_and(|m| m.is_dir())
                        && (is_empty(old) || (self.force && replaceable(old)))
                };
                if exchange(&self.tmp, &self.target).is_ok() {
                    // The old directory now sits at the temporary name.
                    if !acceptable(&self.tmp) {
                        let _ = exchange(&self.tmp, &self.target);
                        return Err(changed());
                    }
                    if self.force {
                        let _ = fs::remove_dir_all(&self.tmp);
                    } else if fs::remove_dir(&self.tmp).is_err() {
                        // Something was written into it after the check: put it back.
                        let _ = exchange(&self.tmp, &self.target);
                        return Err(changed());
                    }
                } else {
                    // Fallback for file systems without RENAME_EXCHANGE: a short window
                    // where the old result sits in a hidden sibling.
                    let (parent, name) = split(&self.target)?;
                    let old = parent.join(format!(".{name}{TMP_TAG}{}-old", unique_suffix()));
                    fs::rename(&self.target, &old)
                        .map_err(|e| Error::io(&self.target, "replacing", e))?;
                    if !acceptable(&old) {
                        let _ = fs::rename(&old, &self.target);
                        return Err(changed());
                    }
                    if let Err(e) = rename_noreplace(&self.tmp, &self.target) {
                        let _ = fs::rename(&old, &self.target);
                        return Err(Error::io(&self.target, "replacing", e));
                    }
                    if self.force {
                        let _ = fs::remove_dir_all(&old);
                    } else {
                        let _ = fs::remove_dir(&old);
                    }
                }
            }
        }
        let (parent, _) = split(&self.target)?;
        let _ = sync_path(&parent);
        self.done = true;
        self.created.keep();
        Ok(self.target.clone())
    }
}

fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

/// fsyncs every file of a finished output directory, then the directory itself.
fn sync_tree(dir: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            sync_tree(&e.path())?;
        } else if e.file_type()?.is_file() {
            sync_path(&e.path())?;
        }
    }
    sync_path(dir)
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        unregister(self.registered);
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    renameat2(a, b, libc::RENAME_EXCHANGE)
}

/// Renames `a` to `b` only if `b` does not exist (the check and the rename are one step).
fn rename_noreplace(a: &Path, b: &Path) -> std::io::Result<()> {
    renameat2(a, b, libc::RENAME_NOREPLACE)
}

fn renameat2(a: &Path, b: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; the call does not retain them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            flags,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Writes one single-file output atomically, with its sidecar ([`SIDECAR_SUFFIX`]):
/// [`StagedFile::create`] then [`StagedFile::write`].
pub fn write_file_atomic(
    path: &Path,
    force: bool,
    inputs: &Inputs,
    provenance: &Provenance,
    write: impl FnOnce(&mut (dyn Write + Send)) -> Result<()>,
) -> Result<()> {
    StagedFile::create(path, force, inputs)?.write(provenance, write)
}

/// A single-file output whose target is checked and whose temporary files exist, not yet
/// written. A command with another side effect (a database write) stages its file first,
/// so an output that cannot be written refuses the command before anything changes.
/// Dropped unwritten, it removes its temporary files and the directories it created.
pub struct StagedFile(Option<Staged>);

/// The state of a staged file (`None` in [`StagedFile`]: standard output). Fields drop in
/// order: the temporary files go before the directories created for them.
struct Staged {
    tmp: tempfile::NamedTempFile,
    side_tmp: tempfile::NamedTempFile,
    created: CreatedDirs,
    path: PathBuf,
    parent: PathBuf,
    name: String,
    side_path: PathBuf,
    /// The target's identity when it was checked (`None`: it did not exist).
    checked: Option<Identity>,
    /// The hash of the cardseg file being replaced, for the sidecar.
    replaced: Option<String>,
    side_checked: Option<Identity>,
    inputs: Inputs,
}

impl StagedFile {
    /// Checks the target (not a directory, not one of `inputs`, absent or cardseg's own
    /// with `force`, its sidecar cardseg's if present), creates its missing parent
    /// directories and the temporary siblings of the file and its sidecar. `--out -`
    /// ([`is_stdout`]) stages nothing.
    pub fn create(path: &Path, force: bool, inputs: &Inputs) -> Result<Self> {
        if is_stdout(path) {
            return Ok(StagedFile(None));
        }
        check_file_name(path)?;
        let (parent, name) = split(path)?;
        if path.is_dir() {
            return Err(Error::usage(format!(
                "{} is a directory; give a file name for --out",
                path.display()
            )));
        }
        check_output(path, force, inputs)?;
        let checked = identity(path);
        let replaced = checked.and_then(|_| owned_file(path));
        let side_path = sidecar_path(path);
        let (_, side_name) = split(&side_path)?;
        let side_checked = identity(&side_path);
        if side_checked.is_some() && read_sidecar(&side_path).is_none() {
            return Err(Error::usage(format!(
                "{} exists and is not a cardseg sidecar, so it will not be replaced; remove it yourself or choose another --out",
                side_path.display()
            )));
        }
        let created = create_parent(&parent)?;
        sweep_stale(&parent, &name);
        sweep_stale(&parent, &side_name);
        use std::os::unix::fs::PermissionsExt;
        let temp = |name: &str| {
            tempfile::Builder::new()
                .prefix(&format!(".{name}{TMP_TAG}{}-", std::process::id()))
                .permissions(fs::Permissions::from_mode(0o666))
                .tempfile_in(&parent)
                .map_err(|e| Error::io(path, "creating file", e))
        };
        let tmp = temp(&name)?;
        let side_tmp = temp(&side_name)?;
        Ok(StagedFile(Some(Staged {
            tmp,
            side_tmp,
            created,
            path: path.to_path_buf(),
            parent,
            name,
            side_path,
            checked,
            replaced,
            side_checked,
            inputs: inputs.clone(),
        })))
    }

    /// Writes the file and puts it in place: the temporary file is written and fsynced,
    /// then renamed (a no-replace rename when the target was absent, so a file that
    /// appeared meanwhile is never replaced) and the directory fsynced. With `force`, the
    /// file replaced must still be the one checked at [`create`](Self::create). The inputs
    /// are checked again before the rename. The sidecar goes into place first and names
    /// the replaced file's hash too, so the pair stays consistent whatever moment a crash
    /// hits. The file gets the permissions the user's umask allows (0666 minus umask), like
    /// any file they create.
    pub fn write(
        self,
        provenance: &Provenance,
        write: impl FnOnce(&mut (dyn Write + Send)) -> Result<()>,
    ) -> Result<()> {
        let Some(mut s) = self.0 else {
            return write_stdout(write);
        };
        let path = s.path.as_path();
        let (sha256, bytes) = {
            let mut w = Hashing {
                inner: std::io::BufWriter::with_capacity(1 << 20, s.tmp.as_file()),
                hash: <sha2::Sha256 as sha2::Digest>::new(),
                bytes: 0,
            };
            write(&mut w)?;
            w.flush().map_err(werr(path))?;
            (hex(&sha2::Digest::finalize(w.hash)), w.bytes)
        };
        s.tmp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io(path, "writing", e))?;
        {
            let side = Sidecar {
                format: MARK_FORMAT.to_string(),
                file: s.name.clone(),
                provenance: provenance.clone(),
                bytes,
                sha256,
                previous_sha256: s.replaced.clone(),
            };
            let mut text = serde_json::to_vec_pretty(&side).unwrap_or_default();
            text.push(b'\n');
            let mut f = s.side_tmp.as_file();
            f.write_all(&text)
                .and_then(|_| f.sync_all())
                .map_err(werr(&s.side_path))?;
        }
        let changed = |p: &Path| {
            Error::usage(format!(
                "{} was created or changed by someone else while this command ran; nothing was replaced; run again",
                p.display()
            ))
        };
        s.inputs.check(path)?;
        if identity(path) != s.checked || (s.checked.is_some() && owned_file(path).is_none()) {
            return Err(changed(path));
        }
        let side_path = s.side_path.as_path();
        match s.side_checked {
            None => {
                s.side_tmp.persist_noclobber(side_path).map_err(|e| {
                    if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                        changed(side_path)
                    } else {
                        Error::io(side_path, "writing", e.error)
                    }
                })?;
            }
            Some(id) => {
                if identity(side_path) != Some(id) {
                    return Err(changed(side_path));
                }
                s.side_tmp
                    .persist(side_path)
                    .map_err(|e| Error::io(side_path, "writing", e.error))?;
            }
        }
        match s.checked {
            None => {
                s.tmp.persist_noclobber(path).map_err(|e| {
                    if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                        changed(path)
                    } else {
                        Error::io(path, "writing", e.error)
                    }
                })?;
            }
            Some(id) => {
                if identity(path) != Some(id) {
                    return Err(changed(path));
                }
                s.tmp
                    .persist(path)
                    .map_err(|e| Error::io(path, "writing", e.error))?;
            }
        }
        let _ = sync_path(&s.parent);
        s.created.keep();
        Ok(())
    }
}

/// Records a sidecar for a single-file output another writer has just put in place (the
/// Parquet writer): hashes the file and writes `FILE.meta.json` atomically.
pub fn record_sidecar(path: &Path, provenance: &Provenance) -> Result<()> {
    let (parent, name) = split(path)?;
    let side_path = sidecar_path(path);
    let sha256 = file_sha256(path)
        .ok_or_else(|| Error::io(path, "reading", std::io::Error::other("cannot read back")))?;
    let bytes = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if fs::symlink_metadata(&side_path).is_ok() && read_sidecar(&side_path).is_none() {
        return Err(Error::usage(format!(
            "{} exists and is not a cardseg sidecar, so it will not be replaced; remove it yourself",
            side_path.display()
        )));
    }
    let side = Sidecar {
        format: MARK_FORMAT.to_string(),
        file: name,
        provenance: provenance.clone(),
        bytes,
        sha256,
        previous_sha256: None,
    };
    let mut text = serde_json::to_vec_pretty(&side).unwrap_or_default();
    text.push(b'\n');
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::Builder::new()
        .prefix(".cardseg-tmp-sidecar-")
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(&parent)
        .map_err(|e| Error::io(&side_path, "creating file", e))?;
    let mut f = tmp.as_file();
    f.write_all(&text)
        .and_then(|_| f.sync_all())
        .map_err(werr(&side_path))?;
    tmp.persist(&side_path)
        .map_err(|e| Error::io(&side_path, "writing", e.error))?;
    Ok(())
}

/// Writes a file inside a directory under construction (no rename needed: the whole
/// directory is renamed at the end). Honors the umask like any created file.
pub fn write_file(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let f = fs::File::create(path).map_err(|e| Error::io(path, "creating", e))?;
    let mut w = std::io::BufWriter::with_capacity(
        1 << 20,
        EarlyWriteback {
            file: f,
            unsynced: 0,
        },
    );
    write(&mut w)?;
    w.flush().map_err(|e| Error::io(path, "writing", e))?;
    w.get_ref()
        .file
        .sync_all()
        .map_err(|e| Error::io(path, "writing", e))?;
    Ok(())
}

/// Bytes written between two requests to the kernel to start writing a file to disk.
const WRITEBACK_BYTES: usize = 32 << 20;

/// A file that asks the kernel to start writing its pages to disk every
/// [`WRITEBACK_BYTES`], without waiting: a large output (labels.csv at millions of rows)
/// then reaches the disk while it is still being written, and the fsync that ends it
/// waits for the last part only.
struct EarlyWriteback {
    file: fs::File,
    unsynced: usize,
}

impl Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n;
        if self.unsynced >= WRITEBACK_BYTES {
            self.unsynced = 0;
            #[cfg(target_os = "linux")]
            {
                use std::os::fd::AsRawFd;
                // Only a hint: the fsync at the end is what makes the file durable.
                // SAFETY: the descriptor is this open file's; the call reads no memory.
                unsafe {
                    libc::sync_file_range(self.file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE)
                };
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Maps a write error to the library error for `path`.
pub fn werr(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, "writing", e)
}

/// Writes `value` as pretty JSON with a final newline, atomically like every output.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    write_file(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|e| {
            crate::error::Error::io(path, "writing", std::io::Error::other(e.to_string()))
        })?;
        w.write_all(b"\n").map_err(werr(path))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_then_replaces_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let o = OutputDir::create(&target, false, &Inputs::none()).unwrap();
        fs::write(o.file("summary.md"), "one").unwrap();
        o.mark(&Provenance::new("test", None)).unwrap();
        o.commit().unwrap();
        assert!(OutputDir::create(&target, false, &Inputs::none()).is_err());
        let o = OutputDir::create(&target, true, &Inputs::none()).unwrap();
        fs::write(o.file("summary.md"), "two").unwrap();
        // Before commit, the old result is intact.
        assert_eq!(
            fs::read_to_string(target.join("summary.md")).unwrap(),
            "one"
        );
        o.commit().unwrap();
        assert_eq!(
            fs::read_to_string(target.join("summary.md")).unwrap(),
            "two"
        );
        // No temporary siblings remain.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn force_never_replaces_foreign_directories() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("data");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("precious.txt"), "x").unwrap();
        let e = OutputDir::create(&target, true, &Inputs::none())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not a cardseg output directory"), "{e}");
        // A file of the marker's name is not enough: its content must be cardseg's.
        fs::write(target.join("model.json"), "{}").unwrap();
        fs::write(target.join(DIR_MARKER), "{}").unwrap();
        assert!(OutputDir::create(&target, true, &Inputs::none()).is_err());
        fs::write(
            target.join("model.json"),
            r#"{"format": "cardseg-model", "format_version": 9}"#,
        )
        .unwrap();
        // A run's model.json beside someone's file: the directory is not only cardseg's.
        let e = OutputDir::create(&target, true, &Inputs::none())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("holds \"precious.txt\""), "{e}");
        fs::remove_file(target.join("precious.txt")).unwrap();
        assert!(OutputDir::create(&target, true, &Inputs::none()).is_ok());
        fs::remove_file(target.join("model.json")).unwrap();
        let o = OutputDir::create(&dir.path().join("m"), false, &Inputs::none()).unwrap();
        o.mark(&Provenance::new("drift", Some("sha256:x"))).unwrap();
        fs::copy(o.file(DIR_MARKER), target.join(DIR_MARKER)).unwrap();
        assert!(OutputDir::create(&target, true, &Inputs::none()).is_ok());
    }

    #[test]
    fn force_keeps_a_result_someone_added_files_to() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let o = OutputDir::create(&target, false, &Inputs::none()).unwrap();
        fs::write(o.file("summary.md"), "one").unwrap();
        o.mark(&Provenance::new("drift", None)).unwrap();
        o.commit().unwrap();
        // A file or a directory of someone's, even under a name cardseg writes.
        for (name, dir_entry) in [("notes.txt", false), ("sub", true), ("labels.csv", true)] {
            let p = target.join(name);
            if dir_entry {
                fs::create_dir(&p).unwrap();
            } else {
                fs::write(&p, "mine").unwrap();
            }
            let e = OutputDir::create(&target, true, &Inputs::none())
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains(&format!("holds {name:?}")), "{e}");
            if dir_entry {
                fs::remove_dir(&p).unwrap();
            } else {
                fs::remove_file(&p).unwrap();
            }
        }
        // Checked again at the commit: a file added while the command runs survives.
        let o = OutputDir::create(&target, true, &Inputs::none()).unwrap();
        fs::write(o.file("summary.md"), "two").unwrap();
        fs::write(target.join("notes.txt"), "mine").unwrap();
        let e = o.commit().err().unwrap().to_string();
        assert!(e.contains("changed while this command ran"), "{e}");
        assert_eq!(
            fs::read_to_string(target.join("notes.txt")).unwrap(),
            "mine"
        );
        assert_eq!(
            fs::read_to_string(target.join("summary.md")).unwrap(),
            "one"
        );
    }

    #[test]
    fn failed_output_removes_the_directories_it_created() {
        let dir = tempfile::tempdir().unwrap();
        {
            let _o =
                OutputDir::create(&dir.path().join("a/b/out"), false, &Inputs::none()).unwrap();
            assert!(dir.path().join("a/b").is_dir());
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        fs::write(dir.path().join("f"), "x").unwrap();
        let e = OutputDir::create(&dir.path().join("f/x/out"), false, &Inputs::none())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is a file, not a directory"), "{e}");
    }

    #[test]
    fn dropped_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        {
            let o = OutputDir::create(&target, false, &Inputs::none()).unwrap();
            fs::write(o.file("a.txt"), "x").unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_file_written_into_the_target_during_the_run_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        fs::create_dir(&target).unwrap();
        let o = OutputDir::create(&target, false, &Inputs::none()).unwrap();
        fs::write(o.file("model.json"), "{}").unwrap();
        fs::write(target.join("mine.txt"), "precious").unwrap();
        let e = o.commit().err().unwrap().to_string();
        assert!(e.contains("changed while this command ran"), "{e}");
        assert_eq!(
            fs::read_to_string(target.join("mine.txt")).unwrap(),
            "precious"
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_target_created_during_the_run_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let a = OutputDir::create(&target, false, &Inputs::none()).unwrap();
        let b = OutputDir::create(&target, false, &Inputs::none()).unwrap();
        fs::write(a.file("who"), "a").unwrap();
        fs::write(b.file("who"), "b").unwrap();
        a.commit().unwrap();
        let e = b.commit().err().unwrap().to_string();
        assert!(e.contains("changed while this command ran"), "{e}");
        assert_eq!(fs::read_to_string(target.join("who")).unwrap(), "a");
        // Even with --force, a result that appeared after the check is not replaced.
        let c = OutputDir::create(&dir.path().join("o2"), true, &Inputs::none()).unwrap();
        fs::create_dir(dir.path().join("o2")).unwrap();
        fs::write(dir.path().join("o2/model.json"), "{}").unwrap();
        assert!(c.commit().is_err());
        assert_eq!(
            fs::read_to_string(dir.path().join("o2/model.json")).unwrap(),
            "{}"
        );
    }

    #[test]
    fn a_replaced_target_must_be_the_one_checked() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        {
            let o = OutputDir::create(&target, false, &Inputs::none()).unwrap();
            o.mark(&Provenance::new("test", None)).unwrap();
            o.commit().unwrap();
        }
        let o = OutputDir::create(&target, true, &Inputs::none()).unwrap();
        // Someone swaps in another directory with their data.
        fs::rename(&target, dir.path().join("moved")).unwrap();
        fs::create_dir(&target).unwrap();
        fs::write(target.join("theirs.txt"), "x").unwrap();
        assert!(o.commit().is_err());
        assert_eq!(fs::read_to_string(target.join("theirs.txt")).unwrap(), "x");
    }

    #[test]
    fn a_file_created_while_writing_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.csv");
        let p = Provenance::new("test", Some("sha256:m"));
        let e = write_file_atomic(&path, false, &Inputs::none(), &p, |w| {
            fs::write(&path, "theirs").unwrap();
            w.write_all(b"ours").map_err(werr(&path))
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("nothing was replaced"), "{e}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "theirs");
        // A file cardseg did not write is refused even with --force.
        let e = write_file_atomic(&path, true, &Inputs::none(), &p, |w| {
            w.write_all(b"ours").map_err(werr(&path))
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("was not written by cardseg"), "{e}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "theirs");
        let names = |d: &Path| {
            let mut v: Vec<String> = fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(dir.path()), ["labels.csv"]);
        fs::remove_file(&path).unwrap();
        write_file_atomic(&path, false, &Inputs::none(), &p, |w| {
            w.write_all(b"ours").map_err(werr(&path))
        })
        .unwrap();
        assert_eq!(names(dir.path()), ["labels.csv", "labels.csv.meta.json"]);
        // With --force, the file replaced must be the one checked.
        let e = write_file_atomic(&path, true, &Inputs::none(), &p, |w| {
            fs::remove_file(&path).unwrap();
            fs::write(&path, "theirs again").unwrap();
            w.write_all(b"ours 2").map_err(werr(&path))
        });
        assert!(e.is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "theirs again");
        fs::write(&path, "ours").unwrap();
        // Its own earlier output is replaced, and the sidecar follows the new content.
        write_file_atomic(&path, true, &Inputs::none(), &p, |w| {
            w.write_all(b"ours 3").map_err(werr(&path))
        })
        .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "ours 3");
        write_file_atomic(&path, true, &Inputs::none(), &p, |w| {
            w.write_all(b"ours 4").map_err(werr(&path))
        })
        .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "ours 4");
        let side: serde_json::Value =
            serde_json::from_slice(&fs::read(sidecar_path(&path)).unwrap()).unwrap();
        assert_eq!(side["model_checksum"], "sha256:m");
        assert_eq!(side["created_by"], "cardseg test");
        assert_eq!(side["bytes"], 6);
        // An edited file is no longer cardseg's.
        fs::write(&path, "edited").unwrap();
        assert!(write_file_atomic(&path, true, &Inputs::none(), &p, |w| {
            w.write_all(b"x").map_err(werr(&path))
        })
        .is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), "edited");
    }

    #[test]
    fn own_inputs_are_refused_as_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.csv");
        fs::write(&input, "x").unwrap();
        let link = dir.path().join("alias.csv");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        let e = Inputs::none()
            .path(&input)
            .check(&link)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is this command's input"), "{e}");
        let sub = dir.path().join("res");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("labels.csv"), "x").unwrap();
        let e = Inputs::none()
            .path(sub.join("labels.csv"))
            .check(&sub)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("holds this command's input"), "{e}");
        // Inside an input directory, even where nothing exists yet.
        let e = Inputs::none()
            .path(&sub)
            .check(&sub.join("new/out.csv"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is inside this command's input"), "{e}");
        let inputs = Inputs::none().path(&input);
        assert!(inputs.check(&dir.path().join("other.csv")).is_ok());
        assert!(inputs.check(&sub).is_ok());
        // A file input has no inside: its siblings are fine.
        assert!(Inputs::none()
            .path(sub.join("labels.csv"))
            .check(&sub.join("x"))
            .is_ok());
        assert_eq!(
            local_input("sqlite:///a/b.db"),
            Some(PathBuf::from("/a/b.db"))
        );
        assert_eq!(local_input("https://x/y"), None);
        // The commit checks again: an input that appeared inside the target meanwhile.
        let target = dir.path().join("out");
        let late = target.join("late.csv");
        let o = OutputDir::create(&target, false, &Inputs::none().path(&late)).unwrap();
        fs::create_dir(&target).unwrap();
        fs::write(&late, "x").unwrap();
        let e = o.commit().err().unwrap().to_string();
        assert!(e.contains("holds this command's input"), "{e}");
        assert!(late.is_file());
    }

    #[test]
    fn links_are_named_as_links() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("out");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &link).unwrap();
        for force in [false, true] {
            let e = OutputDir::create(&link, force, &Inputs::none())
                .err()
                .unwrap()
                .to_string();
            assert!(e.contains("is a dangling symbolic link"), "{e}");
        }
        let e = check_target(&link, false).err().unwrap().to_string();
        assert!(e.contains("dangling symbolic link"), "{e}");
    }
}
