//! Shared helpers for the criterion benchmarks in `benches/benches/`.
//!
//! Run them with `cargo bench -p ledger-benches`; see the README for what each measures.

#[cfg(feature = "engine")]
pub mod floors;

/// The resident set size of this process in KiB (0 where `/proc/self/status` does not say).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
