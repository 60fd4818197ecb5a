//! [`SnapshotData`]: the bytes of a Raft snapshot as openraft moves them; its documentation
//! gives the forms and the I/O rules.

use std::fmt;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// A read-only producer of a snapshot's bytes: [`Read`] and [`Seek`] over bytes of a fixed
/// length, which it may compute as they are read.
pub trait SnapshotSource: Read + Seek + Send + Sync + fmt::Debug {}

impl<T: Read + Seek + Send + Sync + fmt::Debug> SnapshotSource for T {}

enum Backing {
    Memory(Cursor<Vec<u8>>),
    File(std::fs::File),
    Source(Box<dyn SnapshotSource>),
}

/// The bytes of a Raft snapshot as openraft moves them (`TypeConfig`'s `SnapshotData`),
/// without holding them in memory unless they are small.
///
/// openraft 0.9 reads a snapshot it sends through `AsyncSeek` and `AsyncRead` (first
/// `SeekFrom::End(0)` for its length, then each chunk at its offset), and writes a snapshot it
/// receives through `AsyncWrite` into the data
/// [`openraft::storage::RaftStateMachine::begin_receiving_snapshot`] returned. It is one of:
///
/// * **bytes in memory** ([`SnapshotData::from_bytes`]): the opaque [`crate::StateMachine`]'s
///   snapshots, and tests;
/// * **an anonymous temporary file** ([`SnapshotData::temp_file_in`] a directory, or
///   [`SnapshotData::temp_file`] in the system's temporary directory; gone when the data is
///   dropped): what a ledger node receives a snapshot into, in its ledger's directory;
/// * **a read-only source** ([`SnapshotData::from_source`]) that produces the bytes as they are
///   read, from a known length: a ledger node's own snapshot, streamed from its ledger
///   ([`crate::ledger_machine`], Snapshots).
///
/// All three do their I/O inline (the `poll_*` calls complete at once): the file and the ledger
/// are local disks, read and written a chunk at a time, and doing it inline keeps the
/// deterministic simulation (a current-thread runtime under a paused clock) free of blocking
/// threads. The sync [`Read`], [`Write`] and [`Seek`] are implemented too, for the code that
/// checks and installs a received snapshot on a blocking thread.
pub struct SnapshotData {
    backing: Backing,
    /// The outcome of the seek `start_seek` began, for `poll_complete`.
    seek: Option<io::Result<u64>>,
}

impl fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.backing {
            Backing::Memory(cursor) => f
                .debug_struct("SnapshotData::Memory")
                .field("len", &cursor.get_ref().len())
                .field("position", &cursor.position())
                .finish(),
            Backing::File(file) => f
                .debug_struct("SnapshotData::File")
                .field("file", file)
                .finish(),
            Backing::Source(source) => f
                .debug_struct("SnapshotData::Source")
                .field("source", source)
                .finish(),
        }
    }
}

impl SnapshotData {
    fn new(backing: Backing) -> Self {
        Self {
            backing,
            seek: None,
        }
    }

    /// Data held in memory, positioned at its start.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self::new(Backing::Memory(Cursor::new(bytes)))
    }

    /// Empty data in an anonymous temporary file (removed when the data is dropped).
    ///
    /// # Errors
    ///
    /// The I/O error creating the file.
    pub fn temp_file() -> io::Result<Self> {
        Ok(Self::new(Backing::File(tempfile::tempfile()?)))
    }

    /// Empty data in an anonymous temporary file in `dir` (on Linux never visible in the
    /// directory's listing; removed when the data is dropped).
    ///
    /// # Errors
    ///
    /// The I/O error creating the file (say `dir` does not exist).
    pub fn temp_file_in(dir: &std::path::Path) -> io::Result<Self> {
        Ok(Self::new(Backing::File(tempfile::tempfile_in(dir)?)))
    }

    /// Read-only data produced by `source` as it is read; writes fail.
    pub fn from_source(source: Box<dyn SnapshotSource>) -> Self {
        Self::new(Backing::Source(source))
    }

    /// Reads the whole data from its start.
    ///
    /// # Errors
    ///
    /// The backing's I/O error.
    pub fn read_all(&mut self) -> io::Result<Vec<u8>> {
        if let Backing::Memory(cursor) = &self.backing {
            return Ok(cursor.get_ref().clone());
        }
        self.seek(SeekFrom::Start(0))?;
        let mut out = Vec::new();
        self.read_to_end(&mut out)?;
        Ok(out)
    }

    /// The data's length in bytes (seeks to its end and back).
    ///
    /// # Errors
    ///
    /// The backing's I/O error.
    pub fn len(&mut self) -> io::Result<u64> {
        let here = self.stream_position()?;
        let end = self.seek(SeekFrom::End(0))?;
        self.seek(SeekFrom::Start(here))?;
        Ok(end)
    }

    /// Whether the data is empty.
    ///
    /// # Errors
    ///
    /// The backing's I/O error.
    pub fn is_empty(&mut self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

impl From<Vec<u8>> for SnapshotData {
    fn from(bytes: Vec<u8>) -> Self {
        Self::from_bytes(bytes)
    }
}

impl Read for SnapshotData {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.backing {
            Backing::Memory(cursor) => cursor.read(buf),
            Backing::File(file) => file.read(buf),
            Backing::Source(source) => source.read(buf),
        }
    }
}

impl Write for SnapshotData {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.backing {
            Backing::Memory(cursor) => cursor.write(buf),
            Backing::File(file) => file.write(buf),
            Backing::Source(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a snapshot streamed from its source is read-only",
            )),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.backing {
            Backing::Memory(_) | Backing::Source(_) => Ok(()),
            Backing::File(file) => file.flush(),
        }
    }
}

impl Seek for SnapshotData {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match &mut self.backing {
            Backing::Memory(cursor) => cursor.seek(pos),
            Backing::File(file) => file.seek(pos),
            Backing::Source(source) => source.seek(pos),
        }
    }
}

impl AsyncRead for SnapshotData {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = match this.read(buf.initialize_unfilled()) {
            Ok(n) => n,
            Err(e) => return Poll::Ready(Err(e)),
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for SnapshotData {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(self.get_mut().write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().flush())
    }
}

impl AsyncSeek for SnapshotData {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        this.seek = Some(this.seek(position));
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        Poll::Ready(match this.seek.take() {
            Some(result) => result,
            // No seek in flight: report the current position, as tokio's types do.
            None => this.stream_position(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, Cursor, SeekFrom};

    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

    use super::SnapshotData;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    }

    /// Written, sought and read as openraft does, temporary files and memory give the same
    /// bytes; a source is read-only.
    #[test]
    fn memory_file_and_source_read_alike() {
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 31) as u8).collect();
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let mut files = [
                SnapshotData::temp_file().unwrap(),
                SnapshotData::temp_file_in(dir.path()).unwrap(),
            ];
            for file in &mut files {
                for chunk in bytes.chunks(777) {
                    file.write_all(chunk).await.unwrap();
                }
                file.flush().await.unwrap();
            }
            // The file in `dir` is anonymous: nothing is left there to clean up or to confuse
            // whatever else reads the directory.
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
            let [file, file_in] = files;
            let sources = [
                file,
                file_in,
                SnapshotData::from_bytes(bytes.clone()),
                SnapshotData::from_source(Box::new(Cursor::new(bytes.clone()))),
            ];
            for mut data in sources {
                assert_eq!(data.seek(SeekFrom::End(0)).await.unwrap(), 10_000);
                data.seek(SeekFrom::Start(5_000)).await.unwrap();
                let mut half = Vec::new();
                data.read_to_end(&mut half).await.unwrap();
                assert_eq!(half, bytes[5_000..], "{data:?}");
                assert_eq!(data.read_all().unwrap(), bytes);
                assert_eq!(data.len().unwrap(), 10_000);
            }
            let mut source = SnapshotData::from_source(Box::new(Cursor::new(bytes.clone())));
            let err = source.write_all(b"x").await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        });
    }
}
