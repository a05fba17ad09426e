//! Reading the files cardseg reads back (models, labels files, naming rules): only
//! regular files, opened without blocking, and never more than a bound. A FIFO would block
//! the open (and a SIGHUP reload with it) for good, and `/dev/zero` or a file of one
//! endless line would fill the memory; each is refused with a message instead.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Largest line of a labels file (an id, a segment, its name and the outlier figures): far
/// above what cardseg writes (an id is at most one input record, 16 MB by default).
pub const MAX_LABEL_LINE_BYTES: u64 = 64 << 20;

/// Opens `path` for reading if it is a regular file. The open does not wait for a writer
/// (a FIFO is opened non-blocking, then refused), and the check is made on the opened file,
/// so a file swapped in after a check cannot slip through.
pub fn open_regular(path: &Path, action: &'static str) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io(path, action, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, action, e))?;
    let ft = meta.file_type();
    if !ft.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a named pipe (FIFO)"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(Error::input(
            path.display().to_string(),
            format!("is {what}, not a regular file; give the file itself"),
        ));
    }
    // Reads of a regular file never block; clear the flag all the same.
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a descriptor this function owns, with valid flag arguments.
    unsafe {
        let fd = file.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(file)
}

/// Reads a small regular file whole, at most `limit` bytes: None when it is larger.
pub fn read_small(path: &Path, limit: u64, action: &'static str) -> Result<Option<Vec<u8>>> {
    let file = open_regular(path, action)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, action, e))?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// A line longer than the bound of a [`LineBound`] reader.
#[derive(Debug)]
pub struct LineTooLong {
    /// The line, counted from 1.
    pub line: u64,
    /// The bound, in bytes.
    pub limit: u64,
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.limit >= 1 << 20 {
            write!(
                f,
                "line {} is longer than {} MB",
                self.line,
                self.limit >> 20
            )
        } else {
            write!(f, "line {} is longer than {} bytes", self.line, self.limit)
        }
    }
}

impl std::error::Error for LineTooLong {}

/// A reader that fails (with a [`LineTooLong`] inside the `io::Error`) as soon as one line
/// exceeds `limit` bytes, so a streaming parser never buffers an endless record, however
/// large the whole file is.
pub struct LineBound<R> {
    inner: R,
    run: u64,
    line: u64,
    limit: u64,
}

impl<R: Read> LineBound<R> {
    /// Bounds the lines of `inner` to `limit` bytes.
    pub fn new(inner: R, limit: u64) -> Self {
        LineBound {
            inner,
            run: 0,
            line: 1,
            limit,
        }
    }
}

impl<R: Read> Read for LineBound<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.run = 0;
                self.line += 1;
            } else {
                self.run += 1;
                if self.run > self.limit {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        LineTooLong {
                            line: self.line,
                            limit: self.limit,
                        },
                    ));
                }
            }
        }
        Ok(n)
    }
}

/// The [`LineTooLong`] behind a CSV reader's error, if that is what stopped it.
pub fn line_too_long(e: &csv::Error) -> Option<&LineTooLong> {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.get_ref().and_then(|x| x.downcast_ref::<LineTooLong>()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_pipes_and_long_lines_are_refused() {
        let e = read_small(Path::new("/dev/zero"), 10, "reading")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("is a device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = open_regular(&fifo, "reading").err().unwrap().to_string();
        assert!(e.contains("named pipe"), "{e}");
        let f = dir.path().join("f");
        std::fs::write(&f, "abc").unwrap();
        assert_eq!(read_small(&f, 3, "reading").unwrap().unwrap(), b"abc");
        assert!(read_small(&f, 2, "reading").unwrap().is_none());
        let mut out = Vec::new();
        let e = LineBound::new(&b"ab\nabcdef\n"[..], 4)
            .read_to_end(&mut out)
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "line 2 is longer than 4 bytes");
    }
}
