#![no_main]
//! libFuzzer entry point of `ledger_fuzz::store_crash_recovery`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::store_crash_recovery(data));
