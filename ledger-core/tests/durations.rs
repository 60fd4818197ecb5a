//! Every public call that takes a `Duration` (`LedgerConfig::sig_interval`,
//! `Ledger::wait_for_commit`, `UserSession::wait_for_commit`) driven with extreme values:
//! nothing panics, an invalid interval is a typed error, a wait returns the status it should,
//! and no wait on a signature transaction makes the ledger write.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ledger_core::{Error, Ledger, LedgerConfig, Problem, TxId, TxStatus};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

/// Durations at and near the extremes, and a few ordinary ones.
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_millis(1),
            Duration::from_secs(u64::MAX / 2),
            Duration::new(u64::MAX, 0),
            Duration::MAX,
        ]),
        1 => (0u64..50).prop_map(Duration::from_millis),
    ]
}

/// Waits short enough to spend on a transaction that stays Pending.
fn short() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        (0u64..5).prop_map(Duration::from_millis),
    ]
}

proptest! {
    #![proptest_config(Config {
        cases: 48,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x000d_07a7_10e5),
        ..Config::default()
    })]

    #[test]
    fn extreme_durations_answer_or_refuse_typed(
        interval in duration(),
        wait in duration(),
        on_signature in short(),
    ) {
        let config = LedgerConfig::new("").sig_interval(interval);
        let ledger = match Ledger::in_memory_with(config) {
            Ok(ledger) => ledger,
            Err(Error::InvalidInput { what, problem: Problem::TooSmall { .. } }) => {
                prop_assert!(interval.is_zero(), "{interval:?} refused as {what}");
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("{interval:?}: {e}"))),
        };
        prop_assert!(!interval.is_zero());
        ledger.governance().set_user("reader", "Reader").unwrap();
        let session = ledger.session("reader").unwrap();

        let id = ledger.append("audit", b"entry").unwrap();
        let status = ledger.wait_for_commit(id, wait).unwrap();
        prop_assert!(matches!(status, TxStatus::Pending | TxStatus::Committed));
        if wait >= Duration::from_secs(1) {
            // A long wait asks for a signature, which comes at once.
            prop_assert_eq!(status, TxStatus::Committed);
        }
        let status = session.wait_for_commit(id, wait).unwrap();
        prop_assert!(matches!(status, TxStatus::Pending | TxStatus::Committed));

        // Ids the ledger does not hold answer at once, however long the wait.
        let beyond = TxId::new(id.view(), id.seqno() + 1_000).unwrap();
        prop_assert_eq!(ledger.wait_for_commit(beyond, wait).unwrap(), TxStatus::Unknown);
        let later_view = TxId::new(id.view() + 1, 1).unwrap();
        prop_assert_eq!(session.wait_for_commit(later_view, wait).unwrap(), TxStatus::Unknown);

        // Waiting on the newest signature transaction leaves it Pending and writes nothing.
        ledger.flush().unwrap();
        let mut last = id.seqno();
        while ledger.status(TxId::new(id.view(), last + 1).unwrap()) != TxStatus::Unknown {
            last += 1;
        }
        let signature = TxId::new(id.view(), last).unwrap();
        prop_assert_eq!(ledger.wait_for_commit(signature, on_signature).unwrap(), TxStatus::Pending);
        prop_assert_eq!(session.wait_for_commit(signature, on_signature).unwrap(), TxStatus::Pending);
        let next = TxId::new(id.view(), last + 1).unwrap();
        prop_assert_eq!(ledger.status(next), TxStatus::Unknown);
        ledger.close().unwrap();
    }
}
