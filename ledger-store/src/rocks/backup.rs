//! Online backup (a RocksDB checkpoint plus a manifest) and verified restore.
//!
//! # Format
//!
//! A backup directory holds the files of a RocksDB checkpoint (table files hard-linked when
//! the backup is on the same file system, the MANIFEST, OPTIONS and WAL files copied) and a
//! text manifest `LEDGER-BACKUP`:
//!
//! ```text
//! ledger-store-backup 1
//! format <store format version>
//! last_seqno <n>
//! committed_seqno <n>
//! file <name> <size> <sha256 hex>      (one line per file, sorted by name)
//! end <sha256 hex of every preceding line, newlines included>
//! ```
//!
//! Restoring checks the manifest's own digest, the format version, that the directory holds
//! exactly the listed files, and each file's size and digest as it is copied; then it opens the
//! copy read-only and checks its state and every entry's digest. The checkpoint is taken with
//! the writer lock held, so it holds exactly the groups appended before the backup began; a
//! store opened from it recovers to `committed_seqno`.
//!
//! Last, the restore opens the copy for writing (which runs recovery, so the copy then holds
//! exactly the committed prefix) and writes one synced commit group that puts the metadata
//! key [`crate::META_RESTORED`] (value `1`): the restored store says that its bytes came
//! from a backup, and the program that opens it can tell it from the original (the engine
//! starts a new view and a new instance epoch, then deletes the key). The backup itself
//! never holds the key, unless the store it was taken from was itself a restored copy whose
//! program had not yet deleted it.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rocksdb::checkpoint::Checkpoint;
use sha2::{Digest as _, Sha256};

use super::{io_at, RocksStore, FORMAT_VERSION};
use crate::{BackupInfo, Group, Store, StoreConfig, StoreError, META_RESTORED};

/// Name of the manifest file in a backup directory.
pub(super) const MANIFEST: &str = "LEDGER-BACKUP";
const HEADER: &str = "ledger-store-backup 1";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `path` is missing or an empty directory (`Ok(true)`: missing).
fn require_empty(path: &Path) -> Result<bool, StoreError> {
    match fs::read_dir(path) {
        Ok(mut it) => {
            if it.next().is_some() {
                Err(StoreError::TargetNotEmpty {
                    path: path.to_path_buf(),
                })
            } else {
                Ok(false)
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            Err(StoreError::TargetNotEmpty {
                path: path.to_path_buf(),
            })
        }
        Err(e) => Err(io_at("listing", path, e)),
    }
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_at("syncing directory", path, e))
}

/// Size and SHA-256 of a file, streamed.
fn digest_file(path: &Path) -> Result<(u64, [u8; 32]), StoreError> {
    let mut f = fs::File::open(path).map_err(|e| io_at("opening", path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| io_at("reading", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}

pub(super) fn backup(store: &RocksStore, dir: &Path) -> Result<BackupInfo, StoreError> {
    if store.read_only {
        return Err(StoreError::Unsupported {
            what: "backup through a read-only handle".into(),
        });
    }
    if !require_empty(dir)? {
        // RocksDB creates the checkpoint directory itself.
        fs::remove_dir(dir).map_err(|e| io_at("removing empty", dir, e))?;
    }
    let (last, committed) = {
        let w = store.writer.lock();
        let checkpoint = Checkpoint::new(&store.db)?;
        checkpoint.create_checkpoint(dir)?;
        (w.last_seqno, w.committed_seqno)
    };
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io_at("listing", dir, e))? {
        let entry = entry.map_err(|e| io_at("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        names.push(name);
    }
    names.sort();
    let mut text = format!(
        "{HEADER}\nformat {FORMAT_VERSION}\nlast_seqno {last}\ncommitted_seqno {committed}\n"
    );
    let mut bytes = 0;
    for name in &names {
        let (size, digest) = digest_file(&dir.join(name))?;
        bytes += size;
        text.push_str(&format!("file {name} {size} {}\n", hex(&digest)));
    }
    let end = hex(&crate::sha256(text.as_bytes()));
    text.push_str(&format!("end {end}\n"));
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    let mut f = fs::File::create(&tmp).map_err(|e| io_at("creating", &tmp, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io_at("writing", &tmp, e))?;
    fs::rename(&tmp, dir.join(MANIFEST)).map_err(|e| io_at("renaming", &tmp, e))?;
    sync_dir(dir)?;
    Ok(BackupInfo {
        dir: dir.to_path_buf(),
        last_seqno: last,
        committed_seqno: committed,
        files: names.len(),
        bytes,
    })
}

struct Manifest {
    last: u64,
    committed: u64,
    files: Vec<(String, u64, String)>,
}

fn parse_manifest(backup_dir: &Path) -> Result<Manifest, StoreError> {
    let path = backup_dir.join(MANIFEST);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::NotALedger {
                path: backup_dir.to_path_buf(),
                reason: format!("it is not a ledger backup (no {MANIFEST})"),
            })
        }
        Err(e) => return Err(io_at("reading", &path, e)),
    };
    let bad = |detail: &str| {
        StoreError::corruption(format!("backup manifest {}", path.display()), detail)
    };
    let body_end = text.rfind("end ").ok_or_else(|| bad("no end line"))?;
    let (body, end) = text.split_at(body_end);
    if end.trim_end() != format!("end {}", hex(&crate::sha256(body.as_bytes()))) {
        return Err(bad("its checksum does not match"));
    }
    let mut lines = body.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad("unknown header"));
    }
    let mut field = |name: &str| -> Result<u64, StoreError> {
        lines
            .next()
            .and_then(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| bad(&format!("missing {name}")))
    };
    let format = field("format ")?;
    let last = field("last_seqno ")?;
    let committed = field("committed_seqno ")?;
    if format != u64::from(FORMAT_VERSION) {
        return Err(StoreError::IncompatibleFormat {
            found: u32::try_from(format).unwrap_or(u32::MAX),
            supported: FORMAT_VERSION,
        });
    }
    let mut files = Vec::new();
    for line in lines {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["file", name, size, digest]
                if !name.contains('/') && *name != "." && *name != ".." && *name != MANIFEST =>
            {
                let size = size
                    .parse()
                    .map_err(|_| bad("a file size is not a number"))?;
                files.push((name.to_string(), size, digest.to_string()));
            }
            _ => return Err(bad("malformed file line")),
        }
    }
    Ok(Manifest {
        last,
        committed,
        files,
    })
}

/// Copies `src` to `dst`, returning its size and SHA-256 as read.
fn copy_and_digest(src: &Path, dst: &Path) -> Result<(u64, [u8; 32]), StoreError> {
    let mut input = fs::File::open(src).map_err(|e| io_at("opening", src, e))?;
    let mut out = fs::File::create_new(dst).map_err(|e| io_at("creating", dst, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(|e| io_at("reading", src, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| io_at("writing", dst, e))?;
        size += n as u64;
    }
    out.sync_all().map_err(|e| io_at("syncing", dst, e))?;
    Ok((size, hasher.finalize().into()))
}

pub(super) fn restore(backup_dir: &Path, target: &Path) -> Result<BackupInfo, StoreError> {
    let target_missing = require_empty(target)?;
    let manifest = parse_manifest(backup_dir)?;
    // The directory must hold exactly the listed files.
    let mut present = Vec::new();
    for entry in fs::read_dir(backup_dir).map_err(|e| io_at("listing", backup_dir, e))? {
        let entry = entry.map_err(|e| io_at("listing", backup_dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != MANIFEST {
            present.push(name);
        }
    }
    present.sort();
    let mut listed: Vec<&str> = manifest.files.iter().map(|(n, _, _)| n.as_str()).collect();
    listed.sort_unstable();
    if present != listed {
        let missing = listed.iter().find(|n| !present.iter().any(|p| p == *n));
        let extra = present.iter().find(|p| !listed.contains(&p.as_str()));
        return Err(StoreError::corruption(
            format!("backup {}", backup_dir.display()),
            format!("files differ from its manifest (missing {missing:?}, unexpected {extra:?})"),
        ));
    }
    if target_missing {
        fs::create_dir_all(target).map_err(|e| io_at("creating", target, e))?;
    }
    let result = copy_and_verify(backup_dir, target, &manifest);
    if result.is_err() {
        // Remove what this restore created; the target was missing or empty before.
        let _ = remove_contents(target);
        if target_missing {
            let _ = fs::remove_dir(target);
        }
    }
    result
}

fn remove_contents(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn copy_and_verify(
    backup_dir: &Path,
    target: &Path,
    manifest: &Manifest,
) -> Result<BackupInfo, StoreError> {
    let mut bytes = 0;
    for (name, size, digest) in &manifest.files {
        let (got_size, got_digest) = copy_and_digest(&backup_dir.join(name), &target.join(name))?;
        if got_size != *size || hex(&got_digest) != *digest {
            return Err(StoreError::corruption(
                format!("backup file {name}"),
                format!(
                    "{got_size} bytes with digest {}, the manifest says {size} bytes with digest {digest}",
                    hex(&got_digest)
                ),
            ));
        }
        bytes += size;
    }
    sync_dir(target)?;
    let store = RocksStore::open_read_only(target)?;
    let state = store.state();
    if (state.last_seqno, state.committed_seqno) != (manifest.last, manifest.committed) {
        return Err(StoreError::corruption(
            "restored store",
            format!(
                "state ({}, {}) differs from the manifest ({}, {})",
                state.last_seqno, state.committed_seqno, manifest.last, manifest.committed
            ),
        ));
    }
    store.verify_entries()?;
    drop(store);
    mark_restored(target)?;
    Ok(BackupInfo {
        dir: PathBuf::from(target),
        last_seqno: manifest.last,
        committed_seqno: manifest.committed,
        files: manifest.files.len(),
        bytes,
    })
}

/// Opens the restored store for writing (running its recovery) and records
/// [`META_RESTORED`] in one synced commit group.
fn mark_restored(target: &Path) -> Result<(), StoreError> {
    let config = StoreConfig::default()
        .create_if_missing(false)
        .durability(crate::Durability::Fsync);
    let (store, _) = RocksStore::open(target, config)?;
    store.write_group(&Group {
        meta: vec![(META_RESTORED.to_owned(), Some(b"1".to_vec()))],
        commit: true,
        ..Group::default()
    })?;
    store.sync()
}

impl RocksStore {
    /// Restores the backup in `backup_dir` (written by [`Store::backup`]) into `target_dir`,
    /// which must not exist or be empty, verifying every file against the backup's manifest
    /// and every entry's digest. The restored store holds the backup's committed prefix,
    /// [`BackupInfo::committed_seqno`], and the metadata key [`crate::META_RESTORED`] (see
    /// the module's `# Format`).
    ///
    /// # Errors
    ///
    /// [`StoreError::TargetNotEmpty`] (nothing is changed); [`StoreError::NotALedger`] if
    /// `backup_dir` holds no backup manifest; [`StoreError::IncompatibleFormat`];
    /// [`StoreError::Corruption`] if a file or the restored store does not verify (what was
    /// copied is removed again); file-system failures.
    pub fn restore(
        backup_dir: impl AsRef<Path>,
        target_dir: impl AsRef<Path>,
    ) -> Result<BackupInfo, StoreError> {
        restore(backup_dir.as_ref(), target_dir.as_ref())
    }
}
