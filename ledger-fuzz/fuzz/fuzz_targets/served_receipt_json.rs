#![no_main]
//! libFuzzer entry point of `ledger_fuzz::served_receipt_json`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::served_receipt_json(data));
