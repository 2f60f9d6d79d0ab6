//! Configuration from the function's environment, checked once at start-up.

use crate::guard::{Guard, ProtectedPattern};
use tourniquet_core::error::ConfigError;
use tourniquet_core::setting;

/// What the environment configures (see the README's configuration table).
#[derive(Clone, Debug)]
pub struct Config {
    /// `PROTECTED_PRINCIPALS`, `STACK_NAME`, `MEMBER_ROLE_NAME`: who is never contained.
    pub guard: Guard,
    /// `EVIDENCE_BUCKET`: where evidence and reports are written.
    pub evidence_bucket: String,
    /// `DRY_RUN`: plan only, write nothing anywhere.
    pub dry_run: bool,
    /// `ROLE_DENY_ALL`: `contain` also denies everything to a role, not only its older sessions.
    pub role_deny_all: bool,
    /// `SEVERITY_THRESHOLD` and the like: what intake needs.
    pub intake: crate::intake::Options,
    /// `EVIDENCE_RETENTION_MODE` and `EVIDENCE_RETENTION_DAYS`: Object Lock on every evidence
    /// object. Unset: the bucket's default retention, if it has one.
    pub retention: Option<crate::evidence::Retention>,
    /// `MEMBER_EXTERNAL_ID`: the external id the member role's trust policy asks for, if any.
    pub member_external_id: Option<String>,
    /// `IAM_REQUESTS_PER_SECOND`: the rate each account's IAM requests are paced to
    /// ([`crate::pace::DEFAULT_REQUESTS_PER_SECOND`] when unset).
    pub iam_requests_per_second: f64,
    /// How the humans are told.
    pub notify: Notify,
    /// `WORK_QUEUE_URL`, `FANOUT_ACCOUNTS_THRESHOLD`, `FANOUT_PRINCIPALS_PER_ITEM`,
    /// `PROTECTED_ACCOUNTS`: when an incident is fanned out, and where nothing is contained.
    pub fanout: crate::fanout::Options,
    /// `AUDIT_*`: the readiness audit's thresholds ([`crate::audit::Options`]).
    pub audit: crate::audit::Options,
    /// `HUNT*`: the hunt for what the credential did ([`crate::hunt::Options`]).
    pub hunt: crate::hunt::Options,
    /// `IDENTITY_CENTER_*`: where Identity Center is, and whether a containment also removes the
    /// user's assignments ([`crate::identity_center::Options`]).
    pub identity_center: crate::identity_center::Options,
}

/// `NOTIFY_TOPIC_ARN`, `NOTIFY_FORMAT`, `NOTIFY_DRY_RUN`, `SECURITYHUB_UPDATE_FINDINGS`.
#[derive(Clone, Debug)]
pub struct Notify {
    /// `NOTIFY_TOPIC_ARN`: the SNS topic every run that is not ignored is told to. Unset: none.
    pub topic_arn: Option<String>,
    /// `NOTIFY_FORMAT`: `email` (default), or `chatbot` (AWS Chatbot's custom notifications).
    pub format: crate::notify::Format,
    /// `NOTIFY_DRY_RUN`: dry runs are told too (with "DRY RUN" in the subject). Default `false`.
    pub dry_run: bool,
    /// `SECURITYHUB_UPDATE_FINDINGS`: the Security Hub findings a run acted on get a note,
    /// `Workflow.Status` `NOTIFIED` and the incident's id. Default `false`; the template sets it.
    pub update_findings: bool,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a test's map). Each subsystem
    /// reads its own variables; the first malformed one, in the order they are read here, is the
    /// error.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let evidence_bucket =
            setting::set(&lookup, "EVIDENCE_BUCKET").ok_or(ConfigError::Unset {
                variable: "EVIDENCE_BUCKET",
                needed: "name the S3 bucket that keeps the evidence",
            })?;
        let dry_run = flag(&lookup, "DRY_RUN")?;
        let role_deny_all = flag(&lookup, "ROLE_DENY_ALL")?;
        let intake = crate::intake::Options::from_lookup(&lookup)?;
        let protected = setting::list(&lookup, "PROTECTED_PRINCIPALS")
            .iter()
            .map(|p| ProtectedPattern::new(p))
            .collect::<Result<_, _>>()?;
        let retention = retention(&lookup)?;
        let member_role_name = member_role_name(&lookup)?;
        let member_external_id = setting::trimmed(&lookup, "MEMBER_EXTERNAL_ID");
        let stack_name = stack_name(&lookup)?;
        let iam_requests_per_second = iam_requests_per_second(&lookup)?;
        let notify = Notify::from_lookup(&lookup)?;
        let fanout = crate::fanout::Options::from_lookup(&lookup)?;
        let audit = crate::audit::Options::from_lookup(&lookup)?;
        let hunt = crate::hunt::Options::from_lookup(&lookup)?;
        let identity_center = crate::identity_center::Options::from_lookup(&lookup)?;
        Ok(Self {
            audit,
            hunt,
            identity_center,
            fanout,
            notify,
            iam_requests_per_second,
            member_external_id,
            retention,
            evidence_bucket,
            guard: Guard {
                protected,
                stack_name,
                member_role_name,
            },
            dry_run,
            role_deny_all,
            intake,
        })
    }
}

impl Notify {
    /// Reads `NOTIFY_TOPIC_ARN`, `NOTIFY_FORMAT`, `NOTIFY_DRY_RUN` and
    /// `SECURITYHUB_UPDATE_FINDINGS` through `lookup`; a malformed one is an error naming it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let topic_arn = setting::trimmed(&lookup, "NOTIFY_TOPIC_ARN");
        if let Some(arn) = &topic_arn
            && !is_topic_arn(arn)
        {
            return Err(ConfigError::invalid(
                "NOTIFY_TOPIC_ARN",
                "an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
                arn,
            ));
        }
        let format = match lookup("NOTIFY_FORMAT").as_deref().map(str::trim) {
            None | Some("") | Some("email") => crate::notify::Format::Email,
            Some("chatbot") => crate::notify::Format::Chatbot,
            Some(other) => {
                return Err(ConfigError::invalid(
                    "NOTIFY_FORMAT",
                    "`email` or `chatbot`",
                    other,
                ));
            }
        };
        Ok(Self {
            topic_arn,
            format,
            dry_run: flag(&lookup, "NOTIFY_DRY_RUN")?,
            update_findings: flag(&lookup, "SECURITYHUB_UPDATE_FINDINGS")?,
        })
    }
}

/// A `true` or `false` variable; `false` when unset or blank.
fn flag(lookup: impl Fn(&str) -> Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match lookup(name).as_deref().map(str::trim) {
        None | Some("") | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(ConfigError::invalid(name, "`true` or `false`", other)),
    }
}

/// `EVIDENCE_RETENTION_MODE` and `EVIDENCE_RETENTION_DAYS` (365 days when unset); `None`
/// without a mode, whatever the days say (the bucket's default retention applies then).
fn retention(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::evidence::Retention>, ConfigError> {
    let mode = match lookup("EVIDENCE_RETENTION_MODE").as_deref().map(str::trim) {
        None | Some("") => return Ok(None),
        Some("GOVERNANCE") => aws_sdk_s3::types::ObjectLockMode::Governance,
        Some("COMPLIANCE") => aws_sdk_s3::types::ObjectLockMode::Compliance,
        Some(other) => {
            return Err(ConfigError::invalid(
                "EVIDENCE_RETENTION_MODE",
                "GOVERNANCE or COMPLIANCE",
                other,
            ));
        }
    };
    let days = match lookup("EVIDENCE_RETENTION_DAYS").as_deref().map(str::trim) {
        None | Some("") => 365,
        Some(text) => text.parse::<u32>().ok().filter(|d| *d > 0).ok_or_else(|| {
            ConfigError::invalid("EVIDENCE_RETENTION_DAYS", "a whole number of days", text)
        })?,
    };
    Ok(Some(crate::evidence::Retention { mode, days }))
}

/// `MEMBER_ROLE_NAME`: the member roles' common start, short enough that the longest of them,
/// `<name>Release`, fits IAM's 64 characters.
fn member_role_name(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let name = setting::trimmed(&lookup, "MEMBER_ROLE_NAME");
    if let Some(name) = &name {
        let valid = name.len() <= 57
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !valid {
            return Err(ConfigError::invalid(
                "MEMBER_ROLE_NAME",
                "the start of a role name (1-57 of letters, digits, +=,.@_-; the roles are it \
                 followed by Read, Contain, Release)",
                name,
            ));
        }
    }
    Ok(name)
}

/// `STACK_NAME`: a CloudFormation stack name, whose roles are protected.
fn stack_name(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let name = setting::trimmed(&lookup, "STACK_NAME");
    if let Some(name) = &name
        && !(name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(ConfigError::invalid(
            "STACK_NAME",
            "a CloudFormation stack name (letters, digits, -)",
            name,
        ));
    }
    Ok(name)
}

/// `IAM_REQUESTS_PER_SECOND`: 1 or more, finite; [`crate::pace::DEFAULT_REQUESTS_PER_SECOND`]
/// when unset.
fn iam_requests_per_second(lookup: impl Fn(&str) -> Option<String>) -> Result<f64, ConfigError> {
    match setting::set(&lookup, "IAM_REQUESTS_PER_SECOND") {
        None => Ok(crate::pace::DEFAULT_REQUESTS_PER_SECOND),
        Some(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r >= 1.0)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "IAM_REQUESTS_PER_SECOND",
                    "a number of requests a second, 1 or more",
                    &text,
                )
            }),
    }
}

/// `arn:<partition>:sns:<region>:<account>:<name>`, the name as SNS allows it.
fn is_topic_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    let ["arn", partition, "sns", region, account, name] = parts[..] else {
        return false;
    };
    let base = name.strip_suffix(".fifo").unwrap_or(name);
    partition.starts_with("aws")
        && !region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && (1..=256).contains(&base.len())
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::Principal;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn missing_bucket_is_a_clear_error() {
        assert!(config(&[]).unwrap_err().contains("EVIDENCE_BUCKET"));
    }

    #[test]
    fn dry_run_accepts_only_true_or_false() {
        let base = [("EVIDENCE_BUCKET", "b")];
        assert!(!config(&base).unwrap().dry_run);
        assert!(config(&[base[0], ("DRY_RUN", "true")]).unwrap().dry_run);
        assert!(
            config(&[base[0], ("DRY_RUN", "yes")])
                .unwrap_err()
                .contains("DRY_RUN")
        );
    }

    #[test]
    fn notification_settings_are_checked_and_name_the_variable() {
        let base = ("EVIDENCE_BUCKET", "b");
        let none = config(&[base]).unwrap().notify;
        assert!(none.topic_arn.is_none() && !none.dry_run && !none.update_findings);
        assert_eq!(none.format, crate::notify::Format::Email);
        let set = config(&[
            base,
            (
                "NOTIFY_TOPIC_ARN",
                "arn:aws:sns:us-east-1:111122223333:tq-notify",
            ),
            ("NOTIFY_FORMAT", "chatbot"),
            ("NOTIFY_DRY_RUN", "true"),
            ("SECURITYHUB_UPDATE_FINDINGS", "true"),
        ])
        .unwrap()
        .notify;
        assert_eq!(
            set.topic_arn.as_deref(),
            Some("arn:aws:sns:us-east-1:111122223333:tq-notify")
        );
        assert_eq!(set.format, crate::notify::Format::Chatbot);
        assert!(set.dry_run && set.update_findings);
        for (name, value) in [
            ("NOTIFY_TOPIC_ARN", "arn:aws:sqs:us-east-1:111122223333:q"),
            ("NOTIFY_TOPIC_ARN", "tq-notify"),
            ("NOTIFY_FORMAT", "slack"),
            ("NOTIFY_DRY_RUN", "yes"),
        ] {
            let err = config(&[base, (name, value)]).unwrap_err();
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn the_severity_threshold_is_on_guarddutys_scale() {
        let base = ("EVIDENCE_BUCKET", "b");
        assert_eq!(config(&[base]).unwrap().intake.severity_threshold, 4.0);
        let seven = config(&[base, ("SEVERITY_THRESHOLD", "7")]).unwrap();
        assert_eq!(seven.intake.severity_threshold, 7.0);
        let err = config(&[base, ("SEVERITY_THRESHOLD", "70")]).unwrap_err();
        assert!(
            err.contains("SEVERITY_THRESHOLD") && err.contains("`70`"),
            "{err}"
        );
    }

    #[test]
    fn the_cap_and_the_product_allowlist_are_checked() {
        let base = ("EVIDENCE_BUCKET", "b");
        let defaults = config(&[base]).unwrap().intake;
        assert_eq!(defaults.max_principals_per_event, 25);
        assert_eq!(defaults.securityhub_products, ["guardduty"]);
        let set = config(&[
            base,
            ("MAX_PRINCIPALS_PER_EVENT", "3"),
            ("SECURITYHUB_PRODUCTS", "GuardDuty, inspector"),
        ])
        .unwrap()
        .intake;
        assert_eq!(set.max_principals_per_event, 3);
        assert_eq!(set.securityhub_products, ["guardduty", "inspector"]);
        let err = config(&[base, ("MAX_PRINCIPALS_PER_EVENT", "0")]).unwrap_err();
        assert!(
            err.contains("MAX_PRINCIPALS_PER_EVENT") && err.contains("`0`"),
            "{err}"
        );
        let err = config(&[base, ("SECURITYHUB_PRODUCTS", "product/aws/guardduty")]).unwrap_err();
        assert!(err.contains("`product/aws/guardduty`"), "{err}");
    }

    #[test]
    fn a_pattern_without_path_protects_the_name_on_any_path() {
        let c = config(&[
            ("EVIDENCE_BUCKET", "b"),
            (
                "PROTECTED_PRINCIPALS",
                "arn:aws:iam::*:role/BreakGlass*, arn:aws:iam::111122223333:user/admin",
            ),
        ])
        .unwrap();
        let on_path =
            Principal::parse_arn("arn:aws:iam::111122223333:role/ops/BreakGlassAdmin").unwrap();
        let by_name = Principal::role("444455556666", "BreakGlass").unwrap();
        let admin = Principal::user("111122223333", "admin").unwrap();
        let other = Principal::user("111122223333", "alice").unwrap();
        assert!(c.guard.protecting(&on_path).is_some());
        assert!(c.guard.protecting(&by_name).is_some());
        assert!(c.guard.protecting(&admin).is_some());
        assert!(c.guard.protecting(&other).is_none());
    }

    #[test]
    fn protection_cannot_be_dodged_by_case() {
        let c = config(&[
            ("EVIDENCE_BUCKET", "b"),
            ("PROTECTED_PRINCIPALS", "arn:*:iam::*:role/BreakGlass*"),
        ])
        .unwrap();
        for name in ["breakglass", "BREAKGLASSADMIN", "bReAkGlAsS-1"] {
            let role = Principal::role("111122223333", name).unwrap();
            let rule = c.guard.protecting(&role).expect(name);
            assert!(rule.contains("PROTECTED_PRINCIPALS"), "{rule}");
        }
        let cn = Principal::parse_arn("arn:aws-cn:iam::111122223333:role/BreakGlass").unwrap();
        assert!(c.guard.protecting(&cn).is_some(), "every partition");
    }

    #[test]
    fn a_stack_name_that_is_no_stack_name_is_named() {
        let err = config(&[("EVIDENCE_BUCKET", "b"), ("STACK_NAME", "tq/*")]).unwrap_err();
        assert!(
            err.contains("STACK_NAME") && err.contains("`tq/*`"),
            "{err}"
        );
    }

    #[test]
    fn a_member_role_name_whose_roles_would_not_fit_is_named() {
        let long = "M".repeat(58);
        for bad in [long.as_str(), "Tourniquet/Member", "Member*"] {
            let err = config(&[("EVIDENCE_BUCKET", "b"), ("MEMBER_ROLE_NAME", bad)]).unwrap_err();
            assert!(
                err.contains("MEMBER_ROLE_NAME") && err.contains(&format!("`{bad}`")),
                "{err}"
            );
        }
        let fits = "M".repeat(57);
        let c = config(&[("EVIDENCE_BUCKET", "b"), ("MEMBER_ROLE_NAME", &fits)]).unwrap();
        assert_eq!(c.guard.member_role_name.as_deref(), Some(fits.as_str()));
    }

    #[test]
    fn the_iam_rate_is_a_positive_number_or_the_default() {
        let default = config(&[("EVIDENCE_BUCKET", "b")]).unwrap();
        assert_eq!(
            default.iam_requests_per_second,
            crate::pace::DEFAULT_REQUESTS_PER_SECOND
        );
        let set = config(&[
            ("EVIDENCE_BUCKET", "b"),
            ("IAM_REQUESTS_PER_SECOND", "12.5"),
        ]);
        assert_eq!(set.unwrap().iam_requests_per_second, 12.5);
        for bad in ["0", "-3", "fast", "NaN", "inf"] {
            let err =
                config(&[("EVIDENCE_BUCKET", "b"), ("IAM_REQUESTS_PER_SECOND", bad)]).unwrap_err();
            assert!(
                err.contains("IAM_REQUESTS_PER_SECOND") && err.contains(&format!("`{bad}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn built_in_protection_holds_whatever_the_configuration() {
        let c = config(&[
            ("EVIDENCE_BUCKET", "b"),
            ("STACK_NAME", "tourniquet"),
            ("MEMBER_ROLE_NAME", "TourniquetMember"),
        ])
        .unwrap();
        for (name, says) in [
            ("Tourniquet-ContainFunctionRole-AB12", "own stack"),
            ("tourniquetmember", "MEMBER_ROLE_NAME"),
            ("TourniquetMemberContain", "MEMBER_ROLE_NAME"),
            ("tourniquetmemberread", "MEMBER_ROLE_NAME"),
            ("TourniquetMemberRelease", "MEMBER_ROLE_NAME"),
            ("organizationaccountaccessrole", "administers"),
            ("AWSControlTowerExecution", "administers"),
            ("stacksets-exec-0123456789abcdef", "administers"),
        ] {
            let role = Principal::role("111122223333", name).unwrap();
            let rule = c
                .guard
                .protecting(&role)
                .unwrap_or_else(|| panic!("{name} unprotected"));
            assert!(
                rule.contains("built-in") && rule.contains(says),
                "{name}: {rule}"
            );
        }
        let reserved = Principal::parse_arn(
            "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/Anything",
        )
        .unwrap();
        assert!(
            c.guard
                .protecting(&reserved)
                .unwrap()
                .contains("/aws-reserved/")
        );
        for other in [
            Principal::role("111122223333", "tourniquetish").unwrap(),
            Principal::user("111122223333", "OrganizationAccountAccessRole").unwrap(),
        ] {
            assert_eq!(c.guard.protecting(&other), None, "{other}");
        }
    }

    #[test]
    fn a_pattern_with_a_path_asks_for_the_path() {
        let p = ProtectedPattern::new("arn:aws:iam::*:user/admins/*").unwrap();
        let unknown = Principal::user("111122223333", "alice").unwrap();
        assert!(p.needs_path(&unknown));
        let known = Principal::parse_arn("arn:aws:iam::111122223333:user/admins/alice").unwrap();
        assert!(!p.needs_path(&known) && p.matches(&known));
        let elsewhere = Principal::parse_arn("arn:aws:iam::111122223333:user/dev/alice").unwrap();
        assert!(!p.matches(&elsewhere));
    }

    #[test]
    fn a_malformed_pattern_is_named() {
        let err = config(&[
            ("EVIDENCE_BUCKET", "b"),
            ("PROTECTED_PRINCIPALS", "BreakGlass"),
        ])
        .unwrap_err();
        assert!(err.contains("`BreakGlass`"), "{err}");
    }
}
