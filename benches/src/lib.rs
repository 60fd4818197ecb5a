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

/// The median time of a 4 KiB write followed by `fdatasync` on a file in `dir` (200 samples):
/// the cost of one durable write on the disk the benchmarks use.
///
/// # Panics
///
/// If the probe file cannot be created or written.
pub fn fsync_cost(dir: &std::path::Path) -> std::time::Duration {
    use std::io::Write as _;
    let path = dir.join("fsync-probe");
    let mut file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("probe file: {e}"));
    let mut samples: Vec<std::time::Duration> = (0..200)
        .map(|_| {
            let start = std::time::Instant::now();
            file.write_all(&[0u8; 4096])
                .unwrap_or_else(|e| panic!("write: {e}"));
            file.sync_data().unwrap_or_else(|e| panic!("fsync: {e}"));
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}

/// The `p` quantile (0 to 1) of `sorted`, by nearest rank.
///
/// # Panics
///
/// If `sorted` is empty.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}
