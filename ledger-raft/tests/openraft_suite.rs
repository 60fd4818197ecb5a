//! openraft's own storage test suite (`openraft::testing::Suite::test_all`, 35 checks of the
//! log store, vote, state machine and snapshot transfer) against both backends.

use ledger_raft::{LogStore, StateMachine, StorageError, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};

struct MemoryBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, ()> for MemoryBuilder {
    async fn build(&self) -> Result<((), LogStore, StateMachine), StorageError> {
        let (log, sm) = ledger_raft::open_memory();
        Ok(((), log, sm))
    }
}

struct RocksBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for RocksBuilder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| {
            StorageError::from_io_error(
                openraft::ErrorSubject::Store,
                openraft::ErrorVerb::Write,
                e,
            )
        })?;
        let (log, sm) = ledger_raft::open_rocks(dir.path()).map_err(|e| {
            StorageError::from(openraft::StorageIOError::write(openraft::AnyError::new(&e)))
        })?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_suite_memory() {
    if let Err(err) = Suite::test_all(MemoryBuilder) {
        panic!("openraft's storage suite failed on the memory backend: {err}");
    }
}

#[test]
fn openraft_suite_rocksdb() {
    if let Err(err) = Suite::test_all(RocksBuilder) {
        panic!("openraft's storage suite failed on the RocksDB backend: {err}");
    }
}
