//! The memory of a running process, read from Linux's `/proc/<pid>/status`.
//!
//! `VmHWM` is the kernel's own high-water mark of the resident set, so sampling it
//! now and then still yields the true peak, however briefly it was reached.

use std::io;

/// Resident memory of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
    /// The highest resident set size since the process started (`VmHWM`).
    pub peak_rss_kib: u64,
    /// The part of `rss_kib` that is the process's own memory (`RssAnon`): the rest is
    /// mapped files, mostly the executable's code, shared with every process running
    /// it and dropped by the kernel whenever it needs the room.
    pub anon_kib: u64,
}

impl ProcessMemory {
    /// The memory of process `pid`; an error when it has exited or this is not Linux.
    pub fn of(pid: u32) -> io::Result<ProcessMemory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        parse_status(&status).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("/proc/{pid}/status has no VmRSS or VmHWM line"),
            )
        })
    }

    /// The memory of this process.
    pub fn of_self() -> io::Result<ProcessMemory> {
        ProcessMemory::of(std::process::id())
    }

    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }

    pub fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }
}

fn parse_status(status: &str) -> Option<ProcessMemory> {
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(ProcessMemory {
        rss_kib: kib("VmRSS:")?,
        peak_rss_kib: kib("VmHWM:")?,
        anon_kib: kib("RssAnon:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_file_gives_the_resident_set_and_its_peak() {
        let status =
            "Name:\tsync1688\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\nRssAnon:\t    8192 kB\n";
        assert_eq!(
            parse_status(status),
            Some(ProcessMemory {
                rss_kib: 20480,
                peak_rss_kib: 40960,
                anon_kib: 8192,
            })
        );
        assert_eq!(parse_status("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn this_process_has_a_resident_set_no_larger_than_its_peak() {
        let memory = ProcessMemory::of_self().unwrap();
        assert!(memory.rss_kib > 0);
        assert!(memory.rss_kib <= memory.peak_rss_kib);
        assert!(memory.anon_kib > 0 && memory.anon_kib <= memory.rss_kib);
    }
}
