//! Atomic outputs. A run writes into a hidden temporary sibling of its output directory
//! and renames it into place only when every file is complete, so a crash or an error
//! never leaves a half-written result, and `--force` swaps the old result out in one
//! step (Linux `renameat2(RENAME_EXCHANGE)`): the earlier result survives until the new
//! one is whole.

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
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
    let Ok(entries) = fs::read_dir(parent) else { return };
    for e in entries.flatten() {
        let file_name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&prefix) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else { continue };
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = fs::remove_dir_all(e.path()).or_else(|_| fs::remove_file(e.path()));
        }
    }
}

/// Refuses an existing output unless `force`; empty directories may be reused.
pub fn check_target(path: &Path, force: bool) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => {
            let empty = fs::read_dir(path)
                .map_err(|e| Error::io(path, "reading", e))?
                .next()
                .is_none();
            if empty || force {
                Ok(())
            } else {
                Err(Error::OutputExists {
                    path: path.display().to_string(),
                })
            }
        }
        Ok(_) if force => Ok(()),
        Ok(_) => Err(Error::OutputExists {
            path: path.display().to_string(),
        }),
    }
}

/// An output directory under construction.
pub struct OutputDir {
    target: PathBuf,
    tmp: PathBuf,
    done: bool,
}

impl OutputDir {
    /// Checks the target and creates the temporary sibling (so an unwritable place fails
    /// before any work is done).
    pub fn create(target: &Path, force: bool) -> Result<Self> {
        check_target(target, force)?;
        if let Ok(m) = fs::symlink_metadata(target) {
            if !m.is_dir() {
                return Err(Error::usage(format!(
                    "{} exists and is not a directory; choose another --out",
                    target.display()
                )));
            }
        }
        let (parent, name) = split(target)?;
        fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, "creating directory", e))?;
        sweep_stale(&parent, &name);
        let tmp = parent.join(format!(".{name}{TMP_TAG}{}", unique_suffix()));
        fs::create_dir(&tmp).map_err(|e| Error::io(&parent, "creating output directory in", e))?;
        Ok(OutputDir {
            target: target.to_path_buf(),
            tmp,
            done: false,
        })
    }

    /// Where files are written until [`commit`](Self::commit).
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Moves the finished directory into place, replacing an earlier one atomically.
    pub fn commit(mut self) -> Result<PathBuf> {
        if fs::symlink_metadata(&self.target).is_ok() {
            if exchange(&self.tmp, &self.target).is_ok() {
                let _ = fs::remove_dir_all(&self.tmp);
            } else {
                // Fallback for file systems without RENAME_EXCHANGE: a short window where
                // the old result sits in a hidden sibling.
                let (parent, name) = split(&self.target)?;
                let old = parent.join(format!(".{name}{TMP_TAG}{}-old", unique_suffix()));
                fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, "replacing", e))?;
                fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, "replacing", e))?;
                let _ = fs::remove_dir_all(&old);
            }
        } else {
            fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, "creating", e))?;
        }
        self.done = true;
        Ok(self.target.clone())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_dir_all(&self.tmp);
        }
    }
}

fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both are valid NUL-terminated paths; the call does not retain them.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Writes one file atomically: a temporary sibling, then a rename. The file gets the
/// permissions the user's umask allows (0666 minus umask), like any file they create.
pub fn write_file_atomic(path: &Path, force: bool, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    check_target(path, force)?;
    if path.is_dir() {
        return Err(Error::usage(format!(
            "{} is a directory; give a file name for --out",
            path.display()
        )));
    }
    let (parent, name) = split(path)?;
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, "creating directory", e))?;
    sweep_stale(&parent, &name);
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}{TMP_TAG}{}-", std::process::id()))
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(&parent)
        .map_err(|e| Error::io(&parent, "creating a file in", e))?;
    {
        let mut w = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file());
        write(&mut w)?;
        w.flush().map_err(|e| Error::io(path, "writing", e))?;
    }
    tmp.persist(path)
        .map_err(|e| Error::io(path, "writing", e.error))?;
    Ok(())
}

/// Writes a file inside a directory under construction (no rename needed: the whole
/// directory is renamed at the end). Honors the umask like any created file.
pub fn write_file(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let f = fs::File::create(path).map_err(|e| Error::io(path, "creating", e))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
    write(&mut w)?;
    w.flush().map_err(|e| Error::io(path, "writing", e))?;
    Ok(())
}

/// Maps a write error to the library error for `path`.
pub fn werr(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, "writing", e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_then_replaces_with_force() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let o = OutputDir::create(&target, false).unwrap();
        fs::write(o.file("a.txt"), "one").unwrap();
        o.commit().unwrap();
        assert!(OutputDir::create(&target, false).is_err());
        let o = OutputDir::create(&target, true).unwrap();
        fs::write(o.file("a.txt"), "two").unwrap();
        // Before commit, the old result is intact.
        assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "one");
        o.commit().unwrap();
        assert_eq!(fs::read_to_string(target.join("a.txt")).unwrap(), "two");
        // No temporary siblings remain.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_output_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        {
            let o = OutputDir::create(&target, false).unwrap();
            fs::write(o.file("a.txt"), "x").unwrap();
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
