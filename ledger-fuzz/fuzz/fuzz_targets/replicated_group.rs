#![no_main]
//! libFuzzer entry point of `ledger_fuzz::replicated_group`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::replicated_group(data));
