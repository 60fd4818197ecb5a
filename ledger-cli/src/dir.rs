//! The ledger directory: what `ledger init` creates and every other subcommand opens.
//!
//! # Format
//!
//! ```text
//! DIR/
//!   ledger.json    the directory's settings (below), UTF-8 JSON
//!   store/         the ledger itself: the RocksDB store of `ledger_core::Ledger`, opened with
//!                  `LedgerConfig::new(DIR/store)` (its format: ledger-store's `rocks` module)
//! ```
//!
//! `ledger.json` is one JSON object:
//!
//! | key | type | meaning |
//! | --- | --- | --- |
//! | `format` | string | always `"ledger-directory"`: marks the directory as a ledger |
//! | `version` | integer | the settings version, currently [`SETTINGS_VERSION`] (1) |
//! | `service_name` | string | a name for people and servers (default `"ledger"`) |
//! | `listen` | string | the `ADDR:PORT` a server of this directory listens on (default `127.0.0.1:8443`) |
//!
//! Other keys are kept as they are when the command rewrites the file, so settings that later
//! versions or other tools add (cluster nodes, TLS names) survive; a `version` greater than
//! this build knows is refused rather than misread. The file is replaced atomically (written
//! beside it, synced, renamed).
//!
//! A directory is a ledger when `ledger.json` exists, parses with the `format` marker, and
//! `store/` holds a store. Anything else is refused with a message naming what is missing; in
//! particular no subcommand but `init` (and `restore`, into an empty target) ever creates a
//! store.
//!
//! # Locking
//!
//! The store is RocksDB's: one process at a time opens it for writing (a running `ledger
//! serve` holds it). Subcommands that write or need the engine (`append`, `get`, `receipt`,
//! `users set`, ...) fail with a clear message while another process holds it; `inspect`,
//! `export` and `audit` open the store read-only and work alongside.

use std::fs;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _};
use ledger_core::{Error, Ledger, LedgerConfig};
use ledger_store::{RocksStore, StoreError};
use serde::{Deserialize, Serialize};

/// The settings file's name inside a ledger directory.
pub(crate) const SETTINGS_FILE: &str = "ledger.json";
/// The store's directory name inside a ledger directory.
pub(crate) const STORE_DIR: &str = "store";
/// The value of the `format` key.
pub(crate) const FORMAT_MARKER: &str = "ledger-directory";
/// The settings version this build reads and writes.
pub(crate) const SETTINGS_VERSION: u32 = 1;
/// Default = 127.0.0.1:8443: loopback only, the port Azure Confidential Ledger serves on.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8443";
/// Default service name.
pub(crate) const DEFAULT_SERVICE_NAME: &str = "ledger";

/// The contents of `ledger.json` (see the module's `# Format`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Settings {
    /// Always [`FORMAT_MARKER`].
    pub(crate) format: String,
    /// The settings version.
    pub(crate) version: u32,
    /// Default = [`DEFAULT_SERVICE_NAME`].
    #[serde(default = "default_service_name")]
    pub(crate) service_name: String,
    /// Default = [`DEFAULT_LISTEN`].
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    /// Keys this build does not know, kept as they are.
    #[serde(flatten)]
    pub(crate) other: serde_json::Map<String, serde_json::Value>,
}

fn default_service_name() -> String {
    DEFAULT_SERVICE_NAME.to_owned()
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}

impl Settings {
    /// Settings of a new directory.
    pub(crate) fn new(service_name: String, listen: SocketAddr) -> Self {
        Settings {
            format: FORMAT_MARKER.to_owned(),
            version: SETTINGS_VERSION,
            service_name,
            listen,
            other: serde_json::Map::new(),
        }
    }

    /// Parses and checks `ledger.json`'s text.
    pub(crate) fn parse(text: &str, file: &Path) -> anyhow::Result<Self> {
        let settings: Settings = serde_json::from_str(text)
            .with_context(|| format!("{} is not a valid ledger settings file", file.display()))?;
        if settings.format != FORMAT_MARKER {
            bail!(
                "{} is not a ledger settings file: \"format\" is {:?}, expected {FORMAT_MARKER:?}",
                file.display(),
                settings.format
            );
        }
        if settings.version == 0 || settings.version > SETTINGS_VERSION {
            bail!(
                "{} has settings version {}, which this `ledger` does not read (it reads version {SETTINGS_VERSION}); use a newer `ledger`",
                file.display(),
                settings.version
            );
        }
        Ok(settings)
    }
}

/// An opened ledger directory: its path and settings, the store not yet opened.
#[derive(Debug)]
pub(crate) struct LedgerDir {
    root: PathBuf,
    settings: Settings,
}

impl LedgerDir {
    /// Opens the ledger directory at `root`, checking that it is one.
    pub(crate) fn open(root: &Path) -> anyhow::Result<Self> {
        match fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!("{} is not a directory", root.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("no such ledger directory: {}", root.display())
            }
            Err(e) => return Err(anyhow!(e).context(format!("cannot read {}", root.display()))),
        }
        let file = root.join(SETTINGS_FILE);
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
                "{} is not a ledger directory: it has no {SETTINGS_FILE} (create one with `ledger init`)",
                root.display()
            ),
            Err(e) => return Err(anyhow!(e).context(format!("cannot read {}", file.display()))),
        };
        let settings = Settings::parse(&text, &file)?;
        let store = root.join(STORE_DIR);
        let has_store = fs::read_dir(&store)
            .map(|mut entries| entries.next().is_some())
            .unwrap_or(false);
        if !has_store {
            bail!(
                "the ledger directory {} has no store ({} is missing or empty); restore it from a backup with `ledger restore`",
                root.display(),
                store.display()
            );
        }
        Ok(LedgerDir {
            root: root.to_path_buf(),
            settings,
        })
    }

    /// Creates a new ledger directory at `root` (missing, or an empty directory) and its
    /// ledger, and returns the opened ledger.
    pub(crate) fn create(root: &Path, settings: Settings) -> anyhow::Result<(Self, Ledger)> {
        require_empty(root)?;
        fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        let dir = LedgerDir {
            root: root.to_path_buf(),
            settings,
        };
        // The store first: a directory with settings but no store is never left behind.
        let ledger = dir.open_ledger()?;
        dir.write_settings()?;
        Ok((dir, ledger))
    }

    /// Writes a restored ledger directory at `root` (missing or empty): `settings` and the
    /// store restored from `store_backup`.
    pub(crate) fn restore(
        store_backup: &Path,
        root: &Path,
        settings: Settings,
    ) -> anyhow::Result<(Self, ledger_core::BackupInfo)> {
        require_empty(root)?;
        fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
        let dir = LedgerDir {
            root: root.to_path_buf(),
            settings,
        };
        let info = Ledger::restore(store_backup, dir.store_path())
            .map_err(|e| describe(e, &dir.root))
            .context("restore failed")?;
        dir.write_settings()?;
        Ok((dir, info))
    }

    /// The directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Its settings.
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// `DIR/store`.
    pub(crate) fn store_path(&self) -> PathBuf {
        self.root.join(STORE_DIR)
    }

    /// Opens the ledger for reading and writing (the engine runs until it is dropped or
    /// closed).
    pub(crate) fn open_ledger(&self) -> anyhow::Result<Ledger> {
        Ledger::open(LedgerConfig::new(self.store_path())).map_err(|e| describe(e, &self.root))
    }

    /// Opens the store read-only: nothing is written, no lock is taken, no recovery runs.
    pub(crate) fn open_store_read_only(&self) -> anyhow::Result<RocksStore> {
        RocksStore::open_read_only(self.store_path())
            .map_err(|e| describe(Error::from(e), &self.root))
    }

    /// Writes `ledger.json` atomically.
    pub(crate) fn write_settings(&self) -> anyhow::Result<()> {
        write_settings_file(&self.root, &self.settings)
    }
}

/// Writes `settings` to `root/ledger.json` atomically.
pub(crate) fn write_settings_file(root: &Path, settings: &Settings) -> anyhow::Result<()> {
    let file = root.join(SETTINGS_FILE);
    let tmp = root.join(format!(".{SETTINGS_FILE}.tmp"));
    let mut text = serde_json::to_string_pretty(settings).context("encoding the settings")?;
    text.push('\n');
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &file)?;
        fs::File::open(root)?.sync_all()
    };
    write().with_context(|| format!("cannot write {}", file.display()))
}

/// Fails unless `path` is missing or an empty directory.
pub(crate) fn require_empty(path: &Path) -> anyhow::Result<()> {
    match fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!("{} exists and is not empty", path.display());
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            bail!("{} exists and is not a directory", path.display())
        }
        Err(e) => Err(anyhow!(e).context(format!("cannot read {}", path.display()))),
    }
}

/// One clear sentence for an engine error met while working on the ledger at `dir`.
pub(crate) fn describe(err: Error, dir: &Path) -> anyhow::Error {
    let shown = dir.display();
    match &err {
        Error::Store(StoreError::Locked { .. }) => anyhow!(
            "the ledger at {shown} is in use by another process (a running `ledger serve`?): stop it first, or manage the ledger through its REST API"
        ),
        Error::Store(StoreError::NotALedger { reason, .. }) => {
            anyhow!("the store of {shown} is not a ledger store: {reason}")
        }
        Error::Store(StoreError::Missing { .. }) => {
            anyhow!("the ledger directory {shown} has no store")
        }
        Error::Store(StoreError::IncompatibleFormat { .. }) => {
            anyhow!("the store of {shown} cannot be read by this `ledger`: {err}")
        }
        Error::Corruption { .. } => anyhow!(
            "the ledger store at {shown} is damaged ({err}); `ledger audit` locates the damage, `ledger restore` brings back a backup"
        ),
        _ => anyhow!(err),
    }
}
