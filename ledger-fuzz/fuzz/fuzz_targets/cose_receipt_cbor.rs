#![no_main]
//! libFuzzer entry point of `ledger_fuzz::cose_receipt_cbor`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::cose_receipt_cbor(data));
