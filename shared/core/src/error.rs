//! The core's errors: an event or request that cannot be read, naming the field; a
//! configuration variable the function cannot run with, naming the variable; and a read that did
//! not answer, saying why.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An event or request that cannot be read: names the field and says what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputError {
    /// The JSON path of the offending field (`detail.resource.accessKeyDetails`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl InputError {
    /// An error about `field`; `message` is what is wrong, a sentence or a typed error's.
    pub fn new(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for InputError {}

/// A configuration variable the function cannot run with. Its `Display` is the sentence a
/// responder reads in the function's error: it names the variable and, when set, the value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable the function cannot run without is unset (or blank).
    #[error("{variable} is not set: {needed}")]
    Unset {
        /// The variable (`EVIDENCE_BUCKET`).
        variable: &'static str,
        /// What it must name.
        needed: &'static str,
    },
    /// A value the variable does not take.
    #[error("{variable} must be {expected}, not `{value}`")]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// What it takes, in words (`` `true` or `false` ``).
        expected: String,
        /// The value as set.
        value: String,
    },
    /// An entry of a comma-separated list that the variable does not take, for the reason
    /// `problem` says.
    #[error("{variable}: `{entry}` {problem}")]
    Entry {
        /// The variable.
        variable: &'static str,
        /// The entry, as set.
        entry: String,
        /// What is wrong with it, a predicate (`is not an ARN pattern (...)`).
        problem: &'static str,
    },
    /// A glob (of a list of globs) that does not parse.
    #[error("{variable}: `{pattern}` is not a valid glob: {error}")]
    Glob {
        /// The variable.
        variable: &'static str,
        /// The entry, as set.
        pattern: String,
        /// Why it does not parse.
        #[source]
        error: glob::PatternError,
    },
    /// An account id (of a list of them) that is not one.
    #[error("{variable}: {error}")]
    Account {
        /// The variable.
        variable: &'static str,
        /// What is wrong with the id, naming it.
        #[source]
        error: crate::principal::PrincipalError,
    },
    /// `HUNT_REGIONS` with an entry that is not a region name.
    #[error(
        "{variable} must be region names separated by commas (`us-east-1,eu-west-1`), not \
         `{value}`: `{entry}` is not a region"
    )]
    Regions {
        /// The variable.
        variable: &'static str,
        /// The whole value, as set.
        value: String,
        /// The entry that is not a region.
        entry: String,
    },
    /// The audit's function was handed a compromise event: it takes none.
    #[error("the audit takes no compromise event: invoke it (Responder::invoke) with {{}}")]
    AuditTakesNoEvent,
}

impl ConfigError {
    /// `variable` set to `value`, which is not what it takes (`expected`, in words).
    pub fn invalid(variable: &'static str, expected: impl Into<String>, value: &str) -> Self {
        Self::Invalid {
            variable,
            expected: expected.into(),
            value: value.to_owned(),
        }
    }
}

/// A read of AWS that did not answer, and why, in the words the shell had for it: the plan is
/// made with the part missing. It is recorded in the evidence as its reason alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(transparent)]
#[error("{reason}")]
pub struct Unread {
    /// Why it was not read (`AccessDenied: ...`, `not read yet`).
    pub reason: String,
}

impl From<String> for Unread {
    fn from(reason: String) -> Self {
        Self { reason }
    }
}

impl From<&str> for Unread {
    fn from(reason: &str) -> Self {
        reason.to_owned().into()
    }
}
