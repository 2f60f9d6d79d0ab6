//! The readiness audit: the IAM practices that prevent the next leak, checked against one
//! account. Pure: the responder reads the account into an [`Account`] (the credential report, the
//! account summary, the password policy, the authorization details), [`audit`] turns it into one
//! [`Verdict`] per check and resource, and [`findings`] renders them as Security Hub findings.

pub mod checks;
pub mod credential_report;
pub mod findings;
pub mod policy;

use crate::error::ConfigError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub use checks::{CHECKS, Check, audit};
pub use credential_report::CredentialRow;

/// One account's IAM configuration, as the audit reads it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Account {
    /// The account audited.
    pub account_id: String,
    /// Its partition (`aws`, ...).
    pub partition: String,
    /// The credential report's rows (the root user's included, when IAM gives it).
    pub credentials: Vec<CredentialRow>,
    /// `GetAccountSummary`'s map (`AccountMFAEnabled`, `AccountAccessKeysPresent`, ...).
    pub summary: BTreeMap<String, i64>,
    /// The password policy; `None` when the account has none (IAM's defaults apply).
    pub password_policy: Option<PasswordPolicy>,
    /// Every user.
    pub users: Vec<User>,
    /// Every group.
    pub groups: Vec<Group>,
    /// Every role.
    pub roles: Vec<Role>,
    /// Every managed policy the authorization details list (customer managed, and the AWS
    /// managed ones attached), each with its default version's document.
    pub policies: Vec<ManagedPolicy>,
}

/// The account's password policy, the fields the checks read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// `MinimumPasswordLength`.
    pub minimum_length: i32,
    /// `PasswordReusePrevention` (0: none).
    pub reuse_prevention: i32,
    /// `RequireUppercaseCharacters`.
    pub uppercase: bool,
    /// `RequireLowercaseCharacters`.
    pub lowercase: bool,
    /// `RequireNumbers`.
    pub numbers: bool,
    /// `RequireSymbols`.
    pub symbols: bool,
}

/// A policy embedded in a principal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InlinePolicy {
    /// Its name.
    pub name: String,
    /// Its document, decoded.
    pub document: Value,
}

/// A user of the authorization details.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Inline policies.
    pub inline: Vec<InlinePolicy>,
    /// ARNs of the managed policies attached.
    pub attached: Vec<String>,
    /// Names of the groups the user is in.
    pub groups: Vec<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// The permissions boundary's ARN, if any.
    pub boundary: Option<String>,
}

/// A group of the authorization details.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Inline policies.
    pub inline: Vec<InlinePolicy>,
    /// ARNs of the managed policies attached.
    pub attached: Vec<String>,
}

/// A role of the authorization details.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Role {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// The trust policy, decoded.
    pub trust: Value,
    /// Inline policies.
    pub inline: Vec<InlinePolicy>,
    /// ARNs of the managed policies attached.
    pub attached: Vec<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// When the role was last used (IAM tracks the last 400 days).
    pub last_used: Option<DateTime<Utc>>,
    /// The permissions boundary's ARN, if any.
    pub boundary: Option<String>,
}

/// A managed policy of the authorization details.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedPolicy {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// Its default version's document, decoded (`None` when IAM gave none).
    pub document: Option<Value>,
}

/// `AUDIT_*`: the thresholds and names the checks use.
#[derive(Clone, Debug)]
pub struct Options {
    /// `AUDIT_KEY_MAX_AGE_DAYS`, default 90: an active key older is reported.
    pub key_max_age_days: i64,
    /// `AUDIT_UNUSED_DAYS`, default 90: a password or active key unused this long is reported.
    pub unused_days: i64,
    /// `AUDIT_ROOT_USE_DAYS`, default 90: root used within this is reported.
    pub root_use_days: i64,
    /// `AUDIT_APPLICATION_USERS`: globs of user names (and `key=value` tags) that mark a user as
    /// an application's.
    pub application_users: Vec<String>,
    /// `AUDIT_SECURITYHUB`, default `true`: import the findings to Security Hub.
    pub securityhub: bool,
}

/// The names an application's user commonly has, and the tags that say so.
pub const DEFAULT_APPLICATION_USERS: &str = "svc-*,*-svc,service-*,*-service,app-*,*-app,ci-*,*-ci,bot-*,*-bot,*deploy*,*pipeline*,*automation*,*terraform*,*jenkins*,type=application,type=service,type=machine,purpose=application,purpose=ci";

impl Default for Options {
    fn default() -> Self {
        Self {
            key_max_age_days: 90,
            unused_days: 90,
            root_use_days: 90,
            application_users: DEFAULT_APPLICATION_USERS
                .split(',')
                .map(str::to_owned)
                .collect(),
            securityhub: true,
        }
    }
}

impl Options {
    /// Reads `AUDIT_*` through `lookup`; an error names the variable and the value.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let days = |name: &'static str, default: i64| match lookup(name)
            .filter(|t| !t.trim().is_empty())
        {
            None => Ok(default),
            Some(text) => text
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|d| (0..=3650).contains(d))
                .ok_or_else(|| {
                    ConfigError::invalid(name, "a whole number of days (0 to 3650)", &text)
                }),
        };
        let application_users = match lookup("AUDIT_APPLICATION_USERS") {
            None => defaults.application_users,
            Some(text) => {
                let list: Vec<String> = text
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                for pattern in &list {
                    let name = pattern.split_once('=').map_or(pattern.as_str(), |(_, v)| v);
                    glob::Pattern::new(name).map_err(|error| ConfigError::Glob {
                        variable: "AUDIT_APPLICATION_USERS",
                        pattern: pattern.clone(),
                        error,
                    })?;
                }
                list
            }
        };
        let securityhub = match lookup("AUDIT_SECURITYHUB").as_deref().map(str::trim) {
            None | Some("") | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(ConfigError::invalid(
                    "AUDIT_SECURITYHUB",
                    "true or false",
                    other,
                ));
            }
        };
        Ok(Self {
            key_max_age_days: days("AUDIT_KEY_MAX_AGE_DAYS", defaults.key_max_age_days)?,
            unused_days: days("AUDIT_UNUSED_DAYS", defaults.unused_days)?,
            root_use_days: days("AUDIT_ROOT_USE_DAYS", defaults.root_use_days)?,
            application_users,
            securityhub,
        })
    }
}

/// Whether the resource passes the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compliance {
    /// It breaks the practice.
    Failed,
    /// It follows the practice.
    Passed,
}

/// What a verdict is about, as Security Hub names resource types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceKind {
    /// The account (root, password policy).
    AwsAccount,
    /// A user.
    AwsIamUser,
    /// A role.
    AwsIamRole,
    /// A managed or inline policy.
    AwsIamPolicy,
    /// An access key.
    AwsIamAccessKey,
}

/// The resource of a verdict.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Resource {
    /// Its type.
    pub kind: ResourceKind,
    /// Its ARN (the account's is `AWS::::Account:<id>`; an inline policy's, its principal's ARN
    /// followed by `/inline/<name>`; an access key's, its user's followed by `/key/<slot>`).
    pub id: String,
}

/// One check's verdict on one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The check's id ([`CHECKS`]).
    pub check: String,
    /// Passed or failed.
    pub status: Compliance,
    /// What it is about.
    pub resource: Resource,
    /// What was found, in words (for a failure, what is wrong; for a pass, why it passes).
    pub detail: String,
    /// Other principals the verdict concerns (those holding an administrator policy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<String>,
}

impl Verdict {
    /// The verdict's stable identity in the account: the check and the resource.
    pub fn key(&self) -> String {
        format!("{}/{}", self.check, self.resource.id)
    }
}

/// What one audit found: the document stored as `audits/<account>/<stamp>/report.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// The account audited.
    pub account_id: String,
    /// When the audit read the account.
    pub audited_at: String,
    /// When IAM generated the credential report it read.
    pub credential_report_at: Option<String>,
    /// The thresholds in force.
    pub thresholds: BTreeMap<String, i64>,
    /// Counts: checks, resources, passed, failed, by severity.
    pub counts: BTreeMap<String, usize>,
    /// Every verdict, failures first.
    pub verdicts: Vec<Verdict>,
    /// When each failing verdict (by [`Verdict::key`]) was first seen failing, carried from the
    /// previous report.
    pub first_seen: BTreeMap<String, String>,
    /// Verdicts that failed in the previous report and are no longer found failing.
    pub resolved: Vec<String>,
    /// What could not be read or sent, in words.
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(vars: &[(&str, &str)]) -> Result<Options, String> {
        Options::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn each_malformed_setting_is_named_with_its_value() {
        let defaults = options(&[]).unwrap();
        assert_eq!(
            (defaults.key_max_age_days, defaults.securityhub),
            (90, true)
        );
        assert_eq!(
            options(&[("AUDIT_UNUSED_DAYS", "45")]).unwrap().unused_days,
            45
        );
        for (name, value) in [
            ("AUDIT_KEY_MAX_AGE_DAYS", "ninety"),
            ("AUDIT_UNUSED_DAYS", "-1"),
            ("AUDIT_ROOT_USE_DAYS", "4000"),
            ("AUDIT_SECURITYHUB", "yes"),
            ("AUDIT_APPLICATION_USERS", "svc-[,ci-*"),
        ] {
            let err = options(&[(name, value)]).unwrap_err();
            assert!(
                err.contains(name) && err.contains(value.split(',').next().unwrap()),
                "{err}"
            );
        }
    }
}
