//! Memory of an instance process, from Linux's /proc.
//!
//! Peak resident memory per invocation: before the invocation the kernel's high-water mark is
//! reset (`echo 5 > /proc/PID/clear_refs`), after it `VmHWM` is the invocation's peak. Only the
//! instance's main process is measured; a function that spawns helpers is under-counted.

use std::fs;

/// Resets the peak resident memory of `pid`; false if the kernel refused.
pub fn reset_peak(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Peak resident memory since the last reset, KiB.
pub fn peak_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

/// Current resident memory, KiB.
pub fn resident_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory() {
        let pid = std::process::id();
        let rss = resident_kib(pid).expect("VmRSS");
        let peak = peak_kib(pid).expect("VmHWM");
        assert!(rss > 0 && peak >= rss / 2, "rss {rss} peak {peak}");
    }
}
