//! IAM's credential report (`GetCredentialReport`, CSV): one row per user, the root user's row
//! named `<root_account>`. Columns are read by name, so a column IAM adds later changes nothing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The `user` of the root user's row.
pub const ROOT_ROW: &str = "<root_account>";

/// One user's row, its dates parsed (`N/A`, `no_information`, `not_supported` are `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialRow {
    /// The user name (`<root_account>` for the root user).
    pub user: String,
    /// The user's ARN.
    pub arn: String,
    /// When the user was created.
    pub created: Option<DateTime<Utc>>,
    /// Whether the user has a console password (the root user's row says `not_supported`: `true`).
    pub password_enabled: bool,
    /// When the password was last used.
    pub password_last_used: Option<DateTime<Utc>>,
    /// When the password was last set.
    pub password_last_changed: Option<DateTime<Utc>>,
    /// Whether an MFA device is enabled.
    pub mfa_active: bool,
    /// The two access key slots.
    pub keys: [KeySlot; 2],
}

/// One access key slot of a row.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySlot {
    /// Whether a key is in the slot and active.
    pub active: bool,
    /// When the key was created or last rotated.
    pub last_rotated: Option<DateTime<Utc>>,
    /// When the key was last used.
    pub last_used: Option<DateTime<Utc>>,
}

impl CredentialRow {
    /// Whether this is the root user's row.
    pub fn is_root(&self) -> bool {
        self.user == ROOT_ROW
    }

    /// The last time any of the row's credentials was used.
    pub fn last_used(&self) -> Option<DateTime<Utc>> {
        self.keys
            .iter()
            .filter_map(|k| k.last_used)
            .chain(self.password_last_used)
            .max()
    }
}

/// The columns the audit reads, as IAM names them.
#[derive(Deserialize)]
struct Raw {
    user: String,
    arn: String,
    user_creation_time: String,
    password_enabled: String,
    password_last_used: String,
    password_last_changed: String,
    mfa_active: String,
    access_key_1_active: String,
    access_key_1_last_rotated: String,
    access_key_1_last_used_date: String,
    access_key_2_active: String,
    access_key_2_last_rotated: String,
    access_key_2_last_used_date: String,
}

/// A credential report IAM should not have written: its `Display` names the line, and the column
/// and the value.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A line that is no row (a column missing, a malformed line).
    #[error("credential report line {line}: {error}")]
    Line {
        /// The line, counting the header as 1.
        line: usize,
        /// What the CSV reader said.
        #[source]
        error: csv::Error,
    },
    /// A date column whose value is no date.
    #[error("credential report line {line} ({user}), {column}: `{value}` is not a date: {error}")]
    Date {
        /// The line.
        line: usize,
        /// The row's user.
        user: String,
        /// The column.
        column: &'static str,
        /// The value.
        value: String,
        /// Why it is no RFC 3339 date.
        #[source]
        error: chrono::ParseError,
    },
    /// A flag column whose value is neither `true` nor `false`.
    #[error(
        "credential report line {line} ({user}), {column}: `{value}` is neither true nor false"
    )]
    Flag {
        /// The line.
        line: usize,
        /// The row's user.
        user: String,
        /// The column.
        column: &'static str,
        /// The value.
        value: String,
    },
}

/// Parses the report; an error names the line, the column and the value.
pub fn parse(csv_text: &[u8]) -> Result<Vec<CredentialRow>, ReportError> {
    let mut reader = csv::Reader::from_reader(csv_text);
    let mut rows = Vec::new();
    for (i, record) in reader.deserialize::<Raw>().enumerate() {
        let line = i + 2;
        let raw = record.map_err(|error| ReportError::Line { line, error })?;
        let date = |column: &'static str, value: &str| match value {
            "N/A" | "no_information" | "not_supported" | "" => Ok(None),
            text => DateTime::parse_from_rfc3339(text)
                .map(|d| Some(d.with_timezone(&Utc)))
                .map_err(|error| ReportError::Date {
                    line,
                    user: raw.user.clone(),
                    column,
                    value: text.to_owned(),
                    error,
                }),
        };
        let flag = |column: &'static str, value: &str| match value {
            "true" | "not_supported" => Ok(value == "true" || column == "password_enabled"),
            "false" | "N/A" => Ok(false),
            text => Err(ReportError::Flag {
                line,
                user: raw.user.clone(),
                column,
                value: text.to_owned(),
            }),
        };
        rows.push(CredentialRow {
            created: date("user_creation_time", &raw.user_creation_time)?,
            password_enabled: flag("password_enabled", &raw.password_enabled)?,
            password_last_used: date("password_last_used", &raw.password_last_used)?,
            password_last_changed: date("password_last_changed", &raw.password_last_changed)?,
            mfa_active: flag("mfa_active", &raw.mfa_active)?,
            keys: [
                KeySlot {
                    active: flag("access_key_1_active", &raw.access_key_1_active)?,
                    last_rotated: date(
                        "access_key_1_last_rotated",
                        &raw.access_key_1_last_rotated,
                    )?,
                    last_used: date(
                        "access_key_1_last_used_date",
                        &raw.access_key_1_last_used_date,
                    )?,
                },
                KeySlot {
                    active: flag("access_key_2_active", &raw.access_key_2_active)?,
                    last_rotated: date(
                        "access_key_2_last_rotated",
                        &raw.access_key_2_last_rotated,
                    )?,
                    last_used: date(
                        "access_key_2_last_used_date",
                        &raw.access_key_2_last_used_date,
                    )?,
                },
            ],
            user: raw.user,
            arn: raw.arn,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    #[test]
    fn rows_as_iam_writes_them() {
        let text = format!(
            "{HEADER}\n\
             <root_account>,arn:aws:iam::111122223333:root,2020-01-01T00:00:00+00:00,not_supported,2026-11-30T10:00:00+00:00,not_supported,not_supported,false,true,2020-01-02T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
             alice,arn:aws:iam::111122223333:user/alice,2021-03-04T05:06:07+00:00,true,no_information,2021-03-04T05:06:07+00:00,N/A,true,true,2021-03-04T05:06:07+00:00,2026-11-01T00:00:00+00:00,us-east-1,s3,true,2022-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let rows = parse(text.as_bytes()).unwrap();
        assert!(rows[0].is_root() && rows[0].password_enabled && !rows[0].mfa_active);
        assert!(rows[0].keys[0].active && rows[0].keys[0].last_used.is_none());
        assert_eq!(
            rows[0].last_used().unwrap().to_rfc3339(),
            "2026-11-30T10:00:00+00:00"
        );
        let alice = &rows[1];
        assert!(!alice.is_root() && alice.mfa_active && alice.password_last_used.is_none());
        assert!(alice.keys.iter().all(|k| k.active));
        assert_eq!(
            alice.last_used().unwrap().to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
    }

    #[test]
    fn a_malformed_value_names_its_line_column_and_value() {
        let text = format!(
            "{HEADER}\nbob,arn:aws:iam::111122223333:user/bob,yesterday,false,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let err = parse(text.as_bytes()).unwrap_err().to_string();
        assert!(
            err.contains("line 2 (bob), user_creation_time: `yesterday`"),
            "{err}"
        );
        let missing = parse(b"user,arn\nbob,arn:aws:iam::111122223333:user/bob\n")
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("line 2") && missing.contains("user_creation_time"),
            "{missing}"
        );
    }
}
