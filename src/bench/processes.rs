//! The sandbox and the sync as processes of their own, so that the memory of the
//! syncing process is its own and not the sandbox's.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::ProcessMemory;

/// The options of `sync1688 sandbox` a benchmark varies.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    pub orders: usize,
    pub lines_per_order: Option<u32>,
    pub days: u32,
    pub seed: u64,
    pub latency_ms: u64,
    pub rate_limit: Option<u32>,
    /// Have every order rendered before serving (`--prerender`).
    pub prerender: bool,
}

/// A `sync1688 sandbox` child, killed when dropped.
pub struct SandboxProcess {
    child: Child,
    base_url: String,
}

impl SandboxProcess {
    pub fn start(exe: &Path, spec: &SandboxSpec) -> anyhow::Result<SandboxProcess> {
        let mut command = Command::new(exe);
        command
            .arg("sandbox")
            .args(["--listen", "127.0.0.1:0"])
            .args(["--orders", &spec.orders.to_string()])
            .args(["--days", &spec.days.to_string()])
            .args(["--seed", &spec.seed.to_string()])
            .args(["--latency-ms", &spec.latency_ms.to_string()]);
        if let Some(n) = spec.lines_per_order {
            command.args(["--lines-per-order", &n.to_string()]);
        }
        if spec.prerender {
            command.arg("--prerender");
        }
        if let Some(qps) = spec.rate_limit {
            command.args(["--rate-limit", &qps.to_string()]);
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {} sandbox", exe.display()))?;
        // The sandbox prints `sandbox listening on <base url> (app_key …)` once it serves.
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the sandbox's first line")?;
        let base_url = line
            .strip_prefix("sandbox listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned);
        let Some(base_url) = base_url else {
            let _ = child.kill();
            bail!("the sandbox did not start: it printed {line:?}");
        };
        Ok(SandboxProcess { child, base_url })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a finished child process went.
#[derive(Debug, Clone, Copy)]
pub struct Finished {
    pub wall: Duration,
    /// Exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// The peak resident set of the process, KiB (`VmHWM`).
    pub peak_rss_kib: u64,
}

/// Runs `sync1688 --config <config> run --once` to its end.
pub fn sync_once(exe: &Path, config: &Path) -> anyhow::Result<Finished> {
    let started = Instant::now();
    let child = Command::new(exe)
        .arg("--config")
        .arg(config)
        .args(["run", "--once"])
        .env_remove("SYNC1688_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {} run --once", exe.display()))?;
    let finished = wait_sampling_peak(child, started)?;
    if finished.code != Some(0) {
        bail!(
            "`sync1688 run --once` with {} ended with {:?}",
            config.display(),
            finished.code
        );
    }
    Ok(finished)
}

/// A `sync1688 --config <config> run` daemon, stopped with SIGTERM when dropped.
pub struct DaemonProcess {
    child: Option<Child>,
}

impl DaemonProcess {
    pub fn start(exe: &Path, config: &Path) -> anyhow::Result<DaemonProcess> {
        let child = Command::new(exe)
            .arg("--config")
            .arg(config)
            .arg("run")
            .env_remove("SYNC1688_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {} run", exe.display()))?;
        Ok(DaemonProcess { child: Some(child) })
    }

    pub fn memory(&self) -> anyhow::Result<ProcessMemory> {
        let pid = self.child.as_ref().expect("running").id();
        ProcessMemory::of(pid).context("reading the daemon's memory")
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(mut self) -> anyhow::Result<Finished> {
        let child = self.child.take().expect("running");
        terminate(child.id());
        wait_sampling_peak(child, Instant::now())
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(child.id());
            let _ = child.wait();
        }
    }
}

fn terminate(pid: u32) {
    // SAFETY: kill(2) on our own child's pid; it cannot have been reaped and reused,
    // since only this code waits for it.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

/// Waits for `child` while sampling its `VmHWM`. The kernel's high-water mark is
/// monotonic, so the last sample misses at most the growth of the last few
/// milliseconds. (wait4's `ru_maxrss` would be exact, but it counts the parent's memory
/// too: a child spawned with vfork inherits the parent's high-water mark at exec.)
fn wait_sampling_peak(mut child: Child, started: Instant) -> anyhow::Result<Finished> {
    let pid = child.id();
    let exited = Arc::new(AtomicBool::new(false));
    let sampler = std::thread::spawn({
        let exited = exited.clone();
        move || {
            let mut peak = 0;
            while !exited.load(Ordering::Relaxed) {
                match ProcessMemory::of(pid) {
                    Ok(memory) => peak = peak.max(memory.peak_rss_kib),
                    // Exited: a zombie's status has no memory lines.
                    Err(_) => break,
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        }
    });
    let status = child.wait().context("waiting for a child process");
    exited.store(true, Ordering::Relaxed);
    let peak_rss_kib = sampler.join().unwrap_or(0);
    let status = status?;
    Ok(Finished {
        wall: started.elapsed(),
        code: status.code(),
        peak_rss_kib,
    })
}

/// A scratch directory for config files and SQLite databases, removed when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub fn new() -> anyhow::Result<Scratch> {
        let path = std::env::temp_dir().join(format!("sync1688-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Scratch { path })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `text` to `name` and returns the path.
    pub fn write(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.path(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
