//! The constitution: the text the consortium agreed on, and the rule that resolves proposals.
//!
//! The rule is part of the text, so the constitution's digest covers everything that decides
//! a vote: replacing the rule means replacing the constitution, which only an accepted
//! proposal can do once members exist.
//!
//! # Format
//!
//! A constitution is UTF-8 text of at most [`MAX_CONSTITUTION_LEN`] bytes, with no NUL
//! character, containing exactly one *rule line*: a line whose content, after leading
//! whitespace, is `rule:` followed by one of
//!
//! | rule | a proposal is accepted when | and rejected when |
//! | --- | --- | --- |
//! | `strict-majority` | more than half of the Active members approve | a reject ballot was cast and approval can no longer reach a majority of the Active members |
//! | `threshold <k>` (k >= 1) | at least `k` Active members approve | a reject ballot was cast and fewer than `k` Active members are left who approved or have not voted |
//!
//! Ballots are counted only for members that are Active when the count happens (after each
//! ballot). The text is stored byte for byte in `gov.constitution` under key `text`; its
//! digest is SHA-256 of those bytes. A ledger with no stored constitution follows
//! [`DEFAULT_CONSTITUTION`].

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use super::codec::shorten;
use crate::{Error, Problem};

/// Largest constitution text, in bytes.
pub(crate) const MAX_CONSTITUTION_LEN: usize = 256 * 1024;

/// The constitution a ledger follows until one is recorded.
pub const DEFAULT_CONSTITUTION: &str = "\
This ledger is governed by its members. A member becomes active by acknowledging the
ledger's signed state. Active members propose changes and vote on them; a change is applied
once more than half of the active members approve it.
rule: strict-majority
";

/// How proposals are decided (see the module's `# Format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// More than half of the Active members approve.
    StrictMajority,
    /// At least this many Active members approve.
    Threshold(NonZeroU32),
}

/// Where a count of ballots stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tally {
    Accepted,
    Rejected,
    Open,
}

impl Rule {
    /// Approvals needed with `active` Active members.
    pub fn required(self, active: usize) -> usize {
        match self {
            Rule::StrictMajority => active / 2 + 1,
            Rule::Threshold(k) => usize::try_from(k.get()).unwrap_or(usize::MAX),
        }
    }

    /// Fewest Active members with which a proposal can still be accepted: the ledger refuses
    /// changes that would leave fewer.
    pub fn min_active(self) -> usize {
        match self {
            Rule::StrictMajority => 1,
            Rule::Threshold(k) => usize::try_from(k.get()).unwrap_or(usize::MAX),
        }
    }

    /// Resolves a count among `active` Active members.
    pub(crate) fn tally(self, active: usize, approvals: usize, rejections: usize) -> Tally {
        let needed = self.required(active);
        let undecided = active.saturating_sub(approvals + rejections);
        if approvals >= needed {
            Tally::Accepted
        } else if rejections > 0 && approvals + undecided < needed {
            Tally::Rejected
        } else {
            Tally::Open
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::StrictMajority => f.write_str("strict-majority"),
            Rule::Threshold(k) => write!(f, "threshold {k}"),
        }
    }
}

impl FromStr for Rule {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["strict-majority"] => Ok(Rule::StrictMajority),
            ["threshold", k]
                if !k.is_empty() && k.len() <= 9 && k.bytes().all(|b| b.is_ascii_digit()) =>
            {
                k.parse::<u32>()
                    .ok()
                    .and_then(NonZeroU32::new)
                    .map(Rule::Threshold)
                    .ok_or_else(|| {
                        // Nine digits at most: it parses, and so is 0.
                        Error::invalid(
                            "constitution rule threshold",
                            Problem::TooSmall {
                                size: 0,
                                minimum: 1,
                            },
                        )
                    })
            }
            _ => Err(Error::malformed(
                "constitution rule",
                shorten(text),
                "expected \"strict-majority\" or \"threshold <k>\"",
            )),
        }
    }
}

/// A constitution: its text, the rule parsed from it and the text's SHA-256 digest.
///
/// ```
/// use std::num::NonZeroU32;
/// use ledger_core::governance::{Constitution, Rule};
/// let c = Constitution::with_rule("Three banks share this ledger.", Rule::Threshold(NonZeroU32::new(2).unwrap()))?;
/// assert_eq!(c.rule(), Rule::Threshold(NonZeroU32::new(2).unwrap()));
/// assert_eq!(Constitution::parse(c.text())?, c);
/// # Ok::<(), ledger_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Constitution {
    text: String,
    rule: Rule,
    digest: [u8; 32],
}

impl Constitution {
    /// Parses constitution text (see the module's `# Format`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the text is too long (`what = "constitution"`,
    /// [`Problem::TooLarge`]), contains NUL or no rule line (`"constitution"`,
    /// [`Problem::Malformed`]), has more than one rule line (`"constitution rule line"`,
    /// [`Problem::Duplicate`]), or its rule is not valid (`"constitution rule"` or
    /// `"constitution rule threshold"`).
    pub fn parse(text: impl Into<String>) -> Result<Self, Error> {
        let text = text.into();
        if text.len() > MAX_CONSTITUTION_LEN {
            return Err(Error::too_large(
                "constitution",
                text.len(),
                MAX_CONSTITUTION_LEN,
            ));
        }
        if text.contains('\0') {
            return Err(Error::malformed(
                "constitution",
                shorten(&text),
                "contains a NUL character",
            ));
        }
        let mut rules = text
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("rule:"));
        let rule = match (rules.next(), rules.next()) {
            (Some(rule), None) => rule.parse::<Rule>()?,
            (None, _) => {
                return Err(Error::malformed(
                    "constitution",
                    shorten(&text),
                    "has no \"rule:\" line",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "constitution rule line",
                    Problem::Duplicate {
                        value: "rule:".to_owned(),
                    },
                ))
            }
        };
        let digest = Sha256::digest(text.as_bytes()).into();
        Ok(Self { text, rule, digest })
    }

    /// `prose` followed by a rule line for `rule`.
    ///
    /// # Errors
    ///
    /// As [`Constitution::parse`] (for example if `prose` already has a rule line).
    pub fn with_rule(prose: &str, rule: Rule) -> Result<Self, Error> {
        let mut text = prose.trim_end().to_owned();
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("rule: {rule}\n"));
        Self::parse(text)
    }

    /// The text, byte for byte as recorded.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The rule.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// SHA-256 of the text.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// SHA-256 of the text, lowercase hex.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }
}

impl Default for Constitution {
    /// The [`DEFAULT_CONSTITUTION`].
    fn default() -> Self {
        Self {
            text: DEFAULT_CONSTITUTION.to_owned(),
            rule: Rule::StrictMajority,
            digest: Sha256::digest(DEFAULT_CONSTITUTION.as_bytes()).into(),
        }
    }
}

impl fmt::Debug for Constitution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Constitution")
            .field("rule", &self.rule)
            .field("digest", &self.digest_hex())
            .field("len", &self.text.len())
            .finish()
    }
}

impl Serialize for Constitution {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Constitution {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Constitution::parse(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_parses_to_itself() {
        let parsed = Constitution::parse(DEFAULT_CONSTITUTION).unwrap();
        assert_eq!(parsed, Constitution::default());
    }

    #[test]
    fn rules_parse_strictly() {
        assert!(matches!(
            Constitution::parse("no rule here"),
            Err(Error::InvalidInput {
                what: "constitution",
                problem: Problem::Malformed { .. }
            })
        ));
        assert!(matches!(
            Constitution::parse("rule: strict-majority\nrule: threshold 2"),
            Err(Error::InvalidInput {
                what: "constitution rule line",
                problem: Problem::Duplicate { .. }
            })
        ));
        assert!(matches!(
            Constitution::parse("rule: threshold 0"),
            Err(Error::InvalidInput {
                what: "constitution rule threshold",
                problem: Problem::TooSmall {
                    size: 0,
                    minimum: 1
                }
            })
        ));
        assert!(Constitution::parse("rule: threshold -1").is_err());
        assert!(Constitution::parse("rule: threshold 99999999999").is_err());
        assert!(matches!(
            Constitution::parse("rule: majority"),
            Err(Error::InvalidInput {
                what: "constitution rule",
                problem: Problem::Malformed { .. }
            })
        ));
        assert!(Constitution::parse("x\0\nrule: strict-majority").is_err());
        let c = Constitution::parse("  rule:   threshold   3  ").unwrap();
        assert_eq!(c.rule(), Rule::Threshold(NonZeroU32::new(3).unwrap()));
    }

    #[test]
    fn tallies() {
        let m = Rule::StrictMajority;
        assert_eq!(m.tally(3, 2, 0), Tally::Accepted);
        assert_eq!(m.tally(3, 1, 0), Tally::Open);
        assert_eq!(m.tally(3, 1, 1), Tally::Open);
        assert_eq!(m.tally(3, 0, 2), Tally::Rejected);
        assert_eq!(m.tally(4, 2, 2), Tally::Rejected);
        assert_eq!(m.tally(4, 2, 1), Tally::Open);
        let t = Rule::Threshold(NonZeroU32::new(3).unwrap());
        assert_eq!(t.tally(3, 2, 0), Tally::Open);
        assert_eq!(t.tally(3, 3, 0), Tally::Accepted);
        assert_eq!(t.tally(3, 2, 1), Tally::Rejected);
        // Too few Active members to ever reach k: open until someone rejects.
        assert_eq!(t.tally(2, 2, 0), Tally::Open);
        assert_eq!(t.tally(2, 1, 1), Tally::Rejected);
    }
}
