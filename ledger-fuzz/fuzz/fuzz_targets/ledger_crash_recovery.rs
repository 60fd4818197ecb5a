#![no_main]
//! libFuzzer entry point of `ledger_fuzz::ledger_crash_recovery`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::ledger_crash_recovery(data));
