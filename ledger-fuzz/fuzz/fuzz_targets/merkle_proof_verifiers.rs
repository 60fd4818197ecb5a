#![no_main]
//! libFuzzer entry point of `ledger_fuzz::merkle_proof_verifiers`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ledger_fuzz::merkle_proof_verifiers(data));
