//! The write contract of [`crate::Group`], checked identically by every backend.

use crate::{Group, StoreError};

/// Checks the part of `group` that does not depend on the store's state: contiguity among the
/// entries themselves. (Their digests match their bytes by construction of
/// [`crate::EntryRecord`].)
pub(crate) fn check_self(group: &Group) -> Result<(), StoreError> {
    for (i, e) in group.entries.iter().enumerate() {
        if i > 0 && e.seqno != group.entries[i - 1].seqno.wrapping_add(1) {
            return Err(StoreError::invalid(format!(
                "entry seqnos are not contiguous: {} follows {}",
                e.seqno,
                group.entries[i - 1].seqno
            )));
        }
    }
    Ok(())
}

/// Checks `group` against a store whose last entry is `last_seqno`, returning the seqno range
/// rows must lie in (`lo..=hi`) and the store's `last_seqno` after the group.
pub(crate) fn check_against(group: &Group, last_seqno: u64) -> Result<(u64, u64, u64), StoreError> {
    let (lo, hi, new_last) = match (group.entries.first(), group.entries.last()) {
        (Some(first), Some(last)) => {
            let expected = last_seqno.checked_add(1).ok_or_else(|| {
                StoreError::invalid("the store's seqnos are exhausted".to_string())
            })?;
            if first.seqno != expected {
                return Err(StoreError::invalid(format!(
                    "first entry has seqno {}, expected {expected} (the store's last seqno is {last_seqno})",
                    first.seqno
                )));
            }
            (first.seqno, last.seqno, last.seqno)
        }
        _ => (1, last_seqno, last_seqno),
    };
    // `what` is a closure so that the description is only formatted for an error: this runs
    // for every row of every group.
    let check = |what: &dyn Fn() -> String, seqno: u64| -> Result<(), StoreError> {
        if seqno < lo || seqno > hi {
            let what = what();
            let allowed = if group.entries.is_empty() {
                format!("1..={last_seqno} for a group without entries")
            } else {
                format!("the group's entries {lo}..={hi}")
            };
            return Err(StoreError::invalid(format!(
                "{what} has seqno {seqno}, outside {allowed}"
            )));
        }
        Ok(())
    };
    for (c, s) in &group.collection_rows {
        check(&|| format!("collection row {c:?}"), *s)?;
    }
    for w in &group.table_writes {
        check(&|| format!("table write {:?}", w.table), w.seqno)?;
    }
    for (s, _) in &group.signatures {
        check(&|| "signature".to_owned(), *s)?;
    }
    Ok((lo, hi, new_last))
}
