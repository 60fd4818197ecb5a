//! Shared helpers for the criterion benchmarks in `benches/benches/`.
//!
//! Run them with `cargo bench -p ledger-benches`; see the README for what each measures.

#[cfg(feature = "engine")]
pub mod floors;
