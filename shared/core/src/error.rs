//! The core's one error: an event or request that cannot be read, naming the field.

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
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.field, self.message)
    }
}

impl std::error::Error for InputError {}
