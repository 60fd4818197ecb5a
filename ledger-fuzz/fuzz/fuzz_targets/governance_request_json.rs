#![no_main]
//! libFuzzer entry point of `ledger_fuzz::governance_request_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::governance_request_json(data));
