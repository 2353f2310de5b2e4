//! The `sync1688` binary as a separate process: started with a configuration file,
//! awaited, or killed without warning.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A configuration file in a temporary directory of its own, with the process logs
/// beside it.
pub struct ConfigDir {
    dir: tempfile::TempDir,
}

impl ConfigDir {
    /// Writes the configuration `toml(dir)` returns; `dir` is removed with the
    /// `ConfigDir`, so it is a good place for the process's state directory.
    pub fn new(toml: impl FnOnce(&Path) -> String) -> ConfigDir {
        let dir = tempfile::Builder::new()
            .prefix("sync1688-proc-")
            .tempdir()
            .expect("a temporary directory");
        let text = toml(dir.path());
        std::fs::write(dir.path().join("sync1688.toml"), text).expect("the config is written");
        ConfigDir { dir }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("sync1688.toml")
    }

    fn log(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.log"))
    }
}

/// A running `sync1688` process.
pub struct Sync1688 {
    child: Child,
    log: PathBuf,
    started: Instant,
}

impl Sync1688 {
    /// Starts `sync1688 --config <file> <args…>`. Its stderr goes to `<name>.log` in the
    /// config's directory: a pipe nobody reads would block the process once full.
    pub fn start(config: &ConfigDir, name: &str, args: &[&str]) -> Sync1688 {
        let log = config.log(name);
        let stderr = std::fs::File::create(&log).expect("the log file is created");
        let child = Command::new(env!("CARGO_BIN_EXE_sync1688"))
            .arg("--config")
            .arg(config.config())
            .args(args)
            .env_remove("SYNC1688_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the sync1688 binary starts");
        Sync1688 {
            child,
            log,
            started: Instant::now(),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Time since the process was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// SIGKILL (what `std` sends on Unix): no signal handler, no destructor, no
    /// flush runs. Returns whether the process was still running when killed.
    pub fn kill_hard(mut self) -> bool {
        let was_running = matches!(self.child.try_wait(), Ok(None));
        let _ = self.child.kill();
        let _ = self.child.wait();
        was_running
    }

    /// Waits for the exit, at most `limit` (then kills the process and panics with its
    /// log).
    pub async fn wait(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Finished {
                        status,
                        took: self.started.elapsed(),
                        log: read_log(&self.log),
                    };
                }
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "sync1688 did not exit within {limit:?}; its log:\n{}",
                        tail(&read_log(&self.log), 60)
                    );
                }
                Err(e) => panic!("cannot wait for sync1688: {e}"),
            }
        }
    }

    /// The log written so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }
}

impl Drop for Sync1688 {
    fn drop(&mut self) {
        // A test that fails half way must not leave a daemon behind.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How a process ended.
pub struct Finished {
    pub status: ExitStatus,
    pub took: Duration,
    pub log: String,
}

impl Finished {
    /// Panics with the log unless the process exited with status 0.
    pub fn expect_success(&self, what: &str) {
        assert!(
            self.status.success(),
            "{what} exited with {}; its log:\n{}",
            self.status,
            tail(&self.log, 60)
        );
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
