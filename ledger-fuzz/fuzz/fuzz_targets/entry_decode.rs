#![no_main]
//! libFuzzer entry point of `ledger_fuzz::entry_decode`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::entry_decode(data));
