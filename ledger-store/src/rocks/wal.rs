//! A check of the RocksDB write-ahead log files, run before RocksDB replays them.
//!
//! RocksDB's log reader (`log::Reader::ReadRecord`, RocksDB 11.x) loops forever on one kind of
//! damage: a physical record header of a *recyclable* type (5 to 8, 11, 131) after the first
//! record of a log that is not recyclable. `ReadPhysicalRecord` then returns `kBadRecord`
//! without consuming the header, and `ReadRecord` asks for the same record again. The store
//! never enables WAL recycling, so such a header can only come from damage (a flipped type
//! byte, garbage appended). Opening would hang, read-only opens included; this check turns
//! that damage into [`StoreError::Corruption`] first.
//!
//! # The format walked
//!
//! A log is a sequence of 32 KiB blocks (the last one shorter). A block holds physical
//! records, each a 7-byte header (masked CRC-32C of the type byte and payload, 4 bytes
//! little-endian; payload length, 2 bytes little-endian; type, 1 byte) and its payload; fewer
//! than 7 bytes left in a block are padding. The walk follows the reader: a record whose
//! length runs past its block, a zero-type empty record, or a checksum mismatch ends the
//! block (the reader drops the rest of it), and a full or last fragment marks the first
//! record as read.
//!
//! Only the hanging case is reported: every other damage is left to RocksDB, whose point in
//! time recovery reports or drops it, and the checks of the store's own records.

use std::path::Path;

use crate::StoreError;

/// Size of a log block.
const BLOCK: usize = 32 * 1024;
/// Size of a physical record header of a log that is not recyclable.
const HEADER: usize = 7;
/// The delta RocksDB adds when masking a stored CRC.
const MASK_DELTA: u32 = 0xa282_ead8;

/// The record types of recyclable logs.
fn is_recyclable(record_type: u8) -> bool {
    matches!(record_type, 5..=8 | 11 | 131)
}

/// Undoes RocksDB's CRC masking (`crc32c::Unmask`).
fn unmask(masked: u32) -> u32 {
    let rot = masked.wrapping_sub(MASK_DELTA);
    rot.rotate_left(15)
}

/// Checks every `*.log` file in `dir`.
///
/// # Errors
///
/// [`StoreError::Corruption`] naming the file and offset of a record that would make
/// RocksDB's replay loop forever; an I/O error reading the directory or a file.
pub(crate) fn check_logs(dir: &Path) -> Result<(), StoreError> {
    let io = |op: &'static str| {
        move |source: std::io::Error| StoreError::Io {
            op: op.to_owned(),
            source,
        }
    };
    let entries = std::fs::read_dir(dir).map_err(io("list the store directory"))?;
    for entry in entries {
        let entry = entry.map_err(io("list the store directory"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".log") {
            continue;
        }
        let file = std::fs::File::open(entry.path()).map_err(io("open a write-ahead log"))?;
        if let Some(offset) = hanging_record_in(file).map_err(io("read a write-ahead log"))? {
            return Err(StoreError::corruption(
                format!("write-ahead log {name}"),
                format!(
                    "a record of a recyclable type at offset {offset} in a log that is not \
                     recyclable"
                ),
            ));
        }
    }
    Ok(())
}

/// The offset of the first record header in `log` RocksDB's reader would loop on, if any.
/// Reads one block at a time, as the reader does, so memory stays at one block.
fn hanging_record_in(mut log: impl std::io::Read) -> std::io::Result<Option<usize>> {
    let mut walk = Walk::default();
    let mut block = vec![0u8; BLOCK];
    let mut offset = 0;
    loop {
        let mut filled = 0;
        while filled < BLOCK {
            match log.read(&mut block[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            return Ok(None);
        }
        if let Some(at) = walk.block(&block[..filled]) {
            return Ok(Some(offset + at));
        }
        offset += filled;
        if filled < BLOCK || walk.ended {
            return Ok(None);
        }
    }
}

/// The reader's state carried from block to block.
#[derive(Default)]
struct Walk {
    first_record_read: bool,
    /// The log turned out to be a recycled one: nothing more to check.
    ended: bool,
}

impl Walk {
    /// Walks one block; returns the offset within it of a header the reader would loop on.
    fn block(&mut self, block: &[u8]) -> Option<usize> {
        let mut at = 0;
        while block.len() - at >= HEADER {
            let header = &block[at..at + HEADER];
            let length = usize::from(u16::from_le_bytes([header[4], header[5]]));
            let record_type = header[6];
            if is_recyclable(record_type) {
                // The reader treats a log whose first record is recyclable as a recycled log,
                // and never loops on it; it loops on one found later. Either way the walk
                // ends: what a recycled log holds next is beyond this check.
                self.ended = true;
                return self.first_record_read.then_some(at);
            }
            if HEADER + length > block.len() - at || (record_type == 0 && length == 0) {
                return None;
            }
            let stored = unmask(u32::from_le_bytes([
                header[0], header[1], header[2], header[3],
            ]));
            let actual = crc32c::crc32c(&block[at + HEADER - 1..at + HEADER + length]);
            if stored != actual {
                return None;
            }
            if record_type == 1 || record_type == 4 {
                self.first_record_read = true;
            }
            at += HEADER + length;
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn hanging_record(log: &[u8]) -> Option<usize> {
        hanging_record_in(log).unwrap()
    }

    /// A physical record as RocksDB's writer lays it out.
    fn record(record_type: u8, payload: &[u8]) -> Vec<u8> {
        let mut crc_input = vec![record_type];
        crc_input.extend_from_slice(payload);
        let crc = crc32c::crc32c(&crc_input);
        let masked = crc.rotate_right(15).wrapping_add(MASK_DELTA);
        let mut out = masked.to_le_bytes().to_vec();
        out.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_le_bytes());
        out.push(record_type);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn masking_round_trips() {
        for crc in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask(crc.rotate_right(15).wrapping_add(MASK_DELTA)), crc);
        }
    }

    #[test]
    fn a_clean_log_passes() {
        let mut log = record(1, b"first");
        log.extend(record(2, b"frag-a"));
        log.extend(record(4, b"frag-b"));
        log.extend(record(1, &[7; 100]));
        assert_eq!(hanging_record(&log), None);
        assert_eq!(hanging_record(&[]), None);
    }

    #[test]
    fn a_recyclable_header_after_the_first_record_is_found() {
        let mut log = record(1, b"first");
        let at = log.len();
        log.extend(record(1, b"second"));
        // A flipped type byte: 1 (full) becomes 5 (recyclable full).
        log[at + 6] = 5;
        assert_eq!(hanging_record(&log), Some(at));
        // Garbage appended after the records, starting with a recyclable type byte.
        let mut log = record(1, b"first");
        let end = log.len();
        log.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 0x05, 0x00, 0x07, 0xff]);
        assert_eq!(hanging_record(&log), Some(end));
    }

    #[test]
    fn what_the_reader_drops_is_not_walked() {
        // A checksum mismatch ends the block: a recyclable header after it is never read.
        let mut log = record(1, b"first");
        let bad = log.len();
        log.extend(record(1, b"second"));
        log[bad + 8] ^= 1;
        let mut garbage = record(5, b"recyclable");
        log.append(&mut garbage);
        assert_eq!(hanging_record(&log), None);
        // A log that starts recyclable is a recycled log: the reader does not loop on it,
        // in this block or the next.
        assert_eq!(hanging_record(&record(5, b"x")), None);
        let mut recycled = record(5, &vec![0; BLOCK - HEADER]);
        recycled.extend(record(1, b"next block"));
        recycled.extend(record(5, b"later"));
        assert_eq!(hanging_record(&recycled), None);
    }

    #[test]
    fn records_continue_in_the_next_block() {
        // Fill the first block to within 6 bytes of its end: those are padding.
        let mut log = record(1, &vec![0; BLOCK - HEADER - 6]);
        log.extend_from_slice(&[0; 6]);
        assert_eq!(log.len(), BLOCK);
        log.extend(record(1, b"next block"));
        assert_eq!(hanging_record(&log), None);
        let at = log.len();
        log.extend(record(6, b"recyclable first"));
        assert_eq!(hanging_record(&log), Some(at));
    }
}
