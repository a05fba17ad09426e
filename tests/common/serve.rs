//! A `cardseg serve` child process for the tests that start a real server: its stderr
//! collected, its port read from the "listening on" line it prints when ready, killed on
//! drop. Each test binary adds its own requests with an `impl Server` of its own.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `cardseg serve`; killed on drop.
pub struct Server {
    /// The server process.
    pub child: Child,
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    /// Everything it wrote to stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `cmd` (a `cardseg serve ... --addr 127.0.0.1:0`) and waits, at most `within`,
    /// for the line that says where it listens.
    pub fn spawn(mut cmd: Command, within: Duration) -> Server {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                log2.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let mut server = Server {
            child,
            port: 0,
            stderr: log,
        };
        let line = match rx.recv_timeout(within) {
            Ok(l) => l,
            Err(_) => panic!(
                "the server printed no listening line within {within:?}; stderr: {}",
                server.log()
            ),
        };
        let port = line
            .strip_prefix("listening on http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        server.port = port.parse().unwrap();
        assert_ne!(server.port, 0, "{line}");
        server
    }

    /// What the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (at most `within`) until stderr shows `needle` `times` times; returns it.
    pub fn wait_log_times(&self, needle: &str, times: usize, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.matches(needle).count() >= times {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "stderr never showed {needle:?} {times} times: {log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
