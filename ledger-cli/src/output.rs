//! Output helpers shared by the subcommands: byte fields in JSON, writing to stdout or a file.
//!
//! Nothing here panics when stdout is closed early (`ledger list ... | head`): writes return
//! errors, and `main` ends quietly on a broken pipe.

/// `println!` that returns the write's error instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err(anyhow::Error::from)
    }};
}

/// `eprintln!` that ignores a failed write to stderr.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub(crate) use {errln, outln};

use std::fs;
use std::io::{self, IsTerminal as _, Write};
use std::path::Path;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use serde_json::{Map, Value};

/// Puts `bytes` into `object` under `name` as a JSON string when they are UTF-8, else under
/// `{name}Base64` as standard base64: every byte field of every JSON output follows this rule.
pub(crate) fn put_bytes(object: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            object.insert(name.to_owned(), Value::String(text.to_owned()));
        }
        Err(_) => {
            object.insert(
                format!("{name}Base64"),
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
        }
    }
}

/// `bytes` for a line of human-readable output: the text with control characters escaped,
/// or `base64:<...>` when not UTF-8.
pub(crate) fn show_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.escape_debug().to_string(),
        Err(_) => format!(
            "base64:{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ),
    }
}

/// Prints `value` as one line of JSON on stdout.
pub(crate) fn print_json(value: &Value) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, value).context("writing to stdout")?;
    out.write_all(b"\n").context("writing to stdout")?;
    out.flush().context("writing to stdout")
}

/// Writes `bytes` to `path`, or to stdout when `path` is `None`. Binary output (`binary`) is
/// refused on a terminal.
pub(crate) fn write_output(path: Option<&Path>, bytes: &[u8], binary: bool) -> anyhow::Result<()> {
    match path {
        Some(path) => {
            fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut out = io::stdout().lock();
            if binary && out.is_terminal() {
                bail!("refusing to write binary output to a terminal: give --output FILE or redirect stdout");
            }
            out.write_all(bytes).context("writing to stdout")?;
            out.flush().context("writing to stdout")
        }
    }
}
