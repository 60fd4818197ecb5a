#![no_main]
//! libFuzzer entry point of `ledger_fuzz::txid_parse`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::txid_parse(data));
