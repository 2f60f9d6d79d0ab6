//! Reading configuration variables: what the subsystems' `Options::from_lookup` share, so that a
//! variable of one kind is read, and its error worded, one way.

use crate::error::ConfigError;

/// The variable's value as set, when it is set to more than blanks: untrimmed, because an error
/// quotes it as it was set.
pub fn set(lookup: impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|t| !t.trim().is_empty())
}

/// The variable's value trimmed, when it is set to more than blanks.
pub fn trimmed(lookup: impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A count of 1 or more; `default` when the variable is unset or blank.
pub fn count(
    lookup: impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: usize,
) -> Result<usize, ConfigError> {
    match set(lookup, name) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ConfigError::invalid(name, "a whole number, 1 or more", &text)),
    }
}

/// The entries of a comma-separated list, trimmed, blanks left out (an unset list has none).
pub fn list(lookup: impl Fn(&str) -> Option<String>, name: &str) -> Vec<String> {
    lookup(name)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}
