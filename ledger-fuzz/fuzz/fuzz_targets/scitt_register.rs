#![no_main]
//! libFuzzer entry point of `ledger_fuzz::scitt_register`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::scitt_register(data));
