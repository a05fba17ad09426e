//! A PostgreSQL server for one test (tests/sources.rs, tests/export.rs): in a temporary
//! directory, on 127.0.0.1 and an ephemeral port, with password (SCRAM) authentication for
//! the user `cardseg`. Started with the newest installed initdb/pg_ctl (as the `postgres`
//! system user when the tests run as root: initdb refuses root), stopped on drop, also when
//! the test fails.

use std::path::PathBuf;
use std::process::Command;

use super::{free_port, s, skip};

/// The password of the server's `cardseg` user; tests check it never reaches a message.
pub const PG_PASSWORD: &str = "Pw-7f3a9c1e-secret";

/// A running server; see the module documentation.
pub struct Pg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    as_user: Option<String>,
}

impl Pg {
    /// The bin directory of the newest PostgreSQL under /usr/lib/postgresql.
    fn find_bin() -> Option<PathBuf> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").is_file() && p.join("pg_ctl").is_file())
            .collect();
        dirs.sort();
        dirs.pop()
    }

    fn cmd(&self, prog: &str) -> Command {
        let path = self.bin.join(prog);
        match &self.as_user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    /// Starts a server, or None (saying why, or failing under
    /// `CARDSEG_REQUIRE_REFERENCE=1`) when PostgreSQL is not installed.
    pub fn start() -> Option<Pg> {
        let Some(bin) = Self::find_bin() else {
            return skip(
                "PostgreSQL is not installed (apt-get install postgresql; scripts/setup.sh does it)",
            );
        };
        let root = unsafe { libc::geteuid() } == 0;
        let as_user = root.then(|| "postgres".to_string());
        let dir = tempfile::Builder::new()
            .prefix("cardseg-pg-")
            .tempdir()
            .unwrap();
        if root {
            let id = |flag: &str| -> Option<u32> {
                let o = Command::new("id").args([flag, "postgres"]).output().ok()?;
                String::from_utf8_lossy(&o.stdout).trim().parse().ok()
            };
            let (Some(uid), Some(gid)) = (id("-u"), id("-g")) else {
                return skip("running as root and there is no postgres user to run the server");
            };
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, format!("{PG_PASSWORD}\n")).unwrap();
        if let Some(u) = &as_user {
            let st = Command::new("chown")
                .args([u.as_str(), s(&pwfile)])
                .status()
                .unwrap();
            assert!(st.success());
        }
        let pg = Pg {
            port: free_port(),
            bin,
            as_user,
            dir,
        };
        let data = pg.dir.path().join("data");
        let o = pg
            .cmd("initdb")
            .args([
                "-D",
                s(&data),
                "-U",
                "cardseg",
                "--pwfile",
                s(&pwfile),
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
            pg.port,
            pg.dir.path().display()
        );
        let o = pg
            .cmd("pg_ctl")
            .args([
                "-D",
                s(&data),
                "-l",
                s(&pg.dir.path().join("log")),
                "-o",
                &opts,
                "-w",
                "-t",
                "60",
                "start",
            ])
            .output()
            .unwrap();
        let log = std::fs::read_to_string(pg.dir.path().join("log")).unwrap_or_default();
        assert!(
            o.status.success(),
            "pg_ctl start: {} {log}",
            String::from_utf8_lossy(&o.stderr)
        );
        Some(pg)
    }

    /// The server's URL with `password` for the `cardseg` user.
    pub fn url(&self, password: &str) -> String {
        format!(
            "postgres://cardseg:{password}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// A client logged in as `cardseg`.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(PG_PASSWORD), postgres::NoTls).unwrap()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self
            .cmd("pg_ctl")
            .args([
                "-D",
                s(&self.dir.path().join("data")),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .output();
    }
}
