//! The checks: each with an id, the practice it comes from, a severity and a remedy, and the
//! function that turns an [`Account`] into its verdicts. A check gives a verdict only where it
//! applies (the console MFA check, to users with a password); every verdict names its resource.

use super::credential_report::KeySlot;
use super::policy::{self, Statement};
use super::{
    Account, Compliance, CredentialRow, Options, Resource, ResourceKind, Role, User, Verdict,
};
use crate::guard::ProtectedPattern;
use crate::principal::{Principal, PrincipalKind};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// How bad a failure is, as Security Hub labels severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    /// Worth knowing.
    Low,
    /// Fix in the normal course.
    Medium,
    /// Fix soon: it widens what a leaked credential can do.
    High,
    /// Fix now: the account's own keys.
    Critical,
}

impl Severity {
    /// Security Hub's label.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// One practice the audit checks.
#[derive(Debug)]
pub struct Check {
    /// Stable id: part of every finding's id.
    pub id: &'static str,
    /// What the practice is, as a finding's title.
    pub title: &'static str,
    /// Where the practice comes from (the CIS AWS Foundations Benchmark v3.0.0, AWS Foundational
    /// Security Best Practices, the IAM User Guide).
    pub practice: &'static str,
    /// The requirements it meets, as ASFF's `Compliance.RelatedRequirements` names them.
    pub requirements: &'static [&'static str],
    /// How bad a failure is.
    pub severity: Severity,
    /// What to do.
    pub remedy: &'static str,
    /// The page that explains the remedy.
    pub url: &'static str,
}

const BEST_PRACTICES: &str = "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html";

/// Every check, in the order the summary lists them.
pub const CHECKS: &[Check] = &[
    Check {
        id: "root-mfa",
        title: "The root user has MFA",
        practice: "CIS 1.5; AWS FSBP IAM.9",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.5"],
        severity: Severity::Critical,
        remedy: "Sign in as the root user and assign an MFA device (a hardware key where you can).",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/enable-mfa-for-root.html",
    },
    Check {
        id: "root-access-keys",
        title: "The root user has no access keys",
        practice: "CIS 1.4; AWS FSBP IAM.4",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.4"],
        severity: Severity::Critical,
        remedy: "Sign in as the root user, deactivate and delete its access keys; give the work a role.",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_root-user_manage_delete-key.html",
    },
    Check {
        id: "root-unused",
        title: "The root user is not used for daily work",
        practice: "CIS 1.7",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.7"],
        severity: Severity::High,
        remedy: "Find who used the root user and why (CloudTrail, userIdentity.type Root); move the task to a role.",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/root-user-tasks.html",
    },
    Check {
        id: "console-mfa",
        title: "Every user with a console password has MFA",
        practice: "CIS 1.10; AWS FSBP IAM.5",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.10"],
        severity: Severity::High,
        remedy: "Assign the user an MFA device, or remove the console password if nobody signs in as them.",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable.html",
    },
    Check {
        id: "key-rotated",
        title: "Active access keys are rotated",
        practice: "CIS 1.14; AWS FSBP IAM.3",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.14"],
        severity: Severity::Medium,
        remedy: "Create a new key, move the application to it, deactivate the old one, then delete it; better, move the application to a role.",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id-credentials-access-keys-update.html",
    },
    Check {
        id: "unused-credentials",
        title: "Passwords and access keys nobody uses are disabled",
        practice: "CIS 1.12; AWS FSBP IAM.8",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.12"],
        severity: Severity::Medium,
        remedy: "Deactivate the unused key or remove the unused password (a key can be reactivated if something breaks).",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_finding-unused.html",
    },
    Check {
        id: "one-active-key",
        title: "A user has at most one active access key",
        practice: "CIS 1.13",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.13"],
        severity: Severity::Medium,
        remedy: "Find which key the application uses (access key last used), deactivate the other.",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
    },
    Check {
        id: "password-length",
        title: "The password policy asks for 14 characters or more",
        practice: "CIS 1.8; AWS FSBP IAM.15",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.8"],
        severity: Severity::Medium,
        remedy: "aws iam update-account-password-policy --minimum-password-length 14 (with the other settings you keep).",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_account-policy.html",
    },
    Check {
        id: "password-reuse",
        title: "The password policy prevents reusing the last 24 passwords",
        practice: "CIS 1.9; AWS FSBP IAM.16",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.9"],
        severity: Severity::Low,
        remedy: "aws iam update-account-password-policy --password-reuse-prevention 24 (with the other settings you keep).",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_account-policy.html",
    },
    Check {
        id: "password-complexity",
        title: "The password policy asks for upper and lower case letters, numbers and symbols",
        practice: "AWS FSBP IAM.7",
        requirements: &[],
        severity: Severity::Low,
        remedy: "aws iam update-account-password-policy --require-uppercase-characters --require-lowercase-characters --require-numbers --require-symbols (with the other settings you keep).",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_passwords_account-policy.html",
    },
    Check {
        id: "direct-policies",
        title: "Users receive permissions only through groups",
        practice: "CIS 1.15; AWS FSBP IAM.2",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.15"],
        severity: Severity::Low,
        remedy: "Move the user's policies to a group (or a role the user assumes) and add the user to it.",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_groups_manage_attach-policy.html",
    },
    Check {
        id: "admin-policy",
        title: "No policy grants every action on every resource",
        practice: "CIS 1.16; AWS FSBP IAM.1",
        requirements: &["CIS AWS Foundations Benchmark v3.0.0/1.16"],
        severity: Severity::High,
        remedy: "Replace `\"Action\": \"*\"` on `\"Resource\": \"*\"` with the actions the holders need; keep full access to a break-glass role that requires MFA.",
        url: BEST_PRACTICES,
    },
    Check {
        id: "open-trust",
        title: "Roles trust nobody outside the account, and no web identity, without a condition that pins the caller",
        practice: "IAM User Guide: the confused deputy problem; cross-account access; OIDC federation",
        requirements: &[],
        severity: Severity::High,
        remedy: "Name the exact principals in the trust policy and add a condition on sts:ExternalId (third parties) or aws:PrincipalOrgID (your organization); for an OIDC provider, a condition on its `:sub` (the repository, branch or service account).",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html",
    },
    Check {
        id: "unbounded-delegation",
        title: "Principals that create roles or attach policies must set a permissions boundary",
        practice: "IAM User Guide: permissions boundaries for IAM entities",
        requirements: &[],
        severity: Severity::Medium,
        remedy: "Add a condition on iam:PermissionsBoundary to the statements that allow creating users and roles or writing their policies.",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_boundaries.html",
    },
    Check {
        id: "application-keys",
        title: "Applications use roles, not long-term access keys",
        practice: "IAM best practices: require workloads to use temporary credentials",
        requirements: &[],
        severity: Severity::Medium,
        remedy: "Give the workload a role (instance profile, task role, IAM Roles Anywhere, OIDC federation for CI) and deactivate the user's keys.",
        url: BEST_PRACTICES,
    },
    Check {
        id: "break-glass-exists",
        title: "Every protected (break-glass) principal exists",
        practice: "Tourniquet readiness: PROTECTED_PRINCIPALS",
        requirements: &[],
        severity: Severity::Medium,
        remedy: "Create the break-glass principal, or correct PROTECTED_PRINCIPALS: a pattern that matches nothing protects nothing.",
        url: "https://docs.aws.amazon.com/whitepapers/latest/organizing-your-aws-environment/break-glass-access.html",
    },
    Check {
        id: "break-glass-unused",
        title: "Break-glass principals are not used in normal operation",
        practice: "Tourniquet readiness: PROTECTED_PRINCIPALS",
        requirements: &[],
        severity: Severity::Medium,
        remedy: "Find out who used the break-glass principal and why (CloudTrail); rotate its credentials if it was not a drill.",
        url: "https://docs.aws.amazon.com/whitepapers/latest/organizing-your-aws-environment/break-glass-access.html",
    },
    Check {
        id: "break-glass-mfa",
        title: "Break-glass users have MFA and break-glass roles require it",
        practice: "IAM User Guide: MFA-protected API access",
        requirements: &[],
        severity: Severity::High,
        remedy: "Assign the user an MFA device; add `\"Condition\": {\"Bool\": {\"aws:MultiFactorAuthPresent\": \"true\"}}` to every statement of the role's trust policy that lets AWS principals in.",
        url: "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_configure-api-require.html",
    },
];

/// The check with this id.
pub fn check(id: &str) -> Option<&'static Check> {
    CHECKS.iter().find(|c| c.id == id)
}

/// What the checks need beyond the account.
pub struct Context<'a> {
    /// The thresholds.
    pub options: &'a Options,
    /// `PROTECTED_PRINCIPALS`: the break-glass principals.
    pub protected: &'a [ProtectedPattern],
    /// Whether a principal is Tourniquet's own (its stack's roles, its member roles): those must
    /// write policies, and their power is bounded by the guardrails, not a permissions boundary.
    pub own: &'a dyn Fn(&Principal) -> bool,
    /// The audit's time.
    pub now: DateTime<Utc>,
}

/// The actions that hand out permissions: creating principals and writing their policies.
pub const DELEGATION_ACTIONS: [&str; 6] = [
    "iam:CreateRole",
    "iam:CreateUser",
    "iam:AttachRolePolicy",
    "iam:PutRolePolicy",
    "iam:AttachUserPolicy",
    "iam:PutUserPolicy",
];

/// The conditions that pin a trust policy to known callers.
const TRUST_CONDITIONS: [&str; 3] = [
    "sts:ExternalId",
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
];

/// The conditions that say the caller signed in with MFA.
const MFA_CONDITIONS: [&str; 2] = ["aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge"];

/// Every check's verdicts on `account`, failures first, then by check and resource.
pub fn audit(account: &Account, cx: &Context) -> Vec<Verdict> {
    let mut out = Verdicts::default();
    let users: BTreeMap<&str, &User> = account.users.iter().map(|u| (u.name.as_str(), u)).collect();
    root(account, cx, &mut out);
    for row in account.credentials.iter().filter(|r| !r.is_root()) {
        credentials(row, users.get(row.user.as_str()).copied(), cx, &mut out);
    }
    password_policy(account, &mut out);
    for user in &account.users {
        // Tourniquet's own deny and session cutoff on a contained user are the containment, not
        // how the user gets its permissions.
        let direct: Vec<String> = user
            .inline
            .iter()
            .filter(|p| !tourniquets_deny(p))
            .map(|p| format!("inline {}", p.name))
            .chain(
                user.attached
                    .iter()
                    .filter(|a| !a.contains(&format!(":policy{}", crate::plan::MANAGED_PATH)))
                    .map(|a| format!("attached {}", name_of(a))),
            )
            .collect();
        out.push(
            "direct-policies",
            direct.is_empty(),
            user_resource(&user.arn),
            if direct.is_empty() {
                "no policy of its own".into()
            } else {
                format!("policies of its own: {}", direct.join(", "))
            },
        );
    }
    administrators(account, &mut out);
    for role in &account.roles {
        trust(account, role, &mut out);
    }
    delegation(account, cx, &mut out);
    break_glass(account, cx, &mut out);
    let mut verdicts = out.0;
    verdicts.sort_by(|a, b| {
        (a.status, order(&a.check), &a.resource).cmp(&(b.status, order(&b.check), &b.resource))
    });
    verdicts
}

/// Whether an inline policy is Tourniquet's deny or session cutoff: its name, and nothing but
/// `Deny` in it (a name anyone may give an `Allow` policy is not enough).
fn tourniquets_deny(policy: &crate::audit::InlinePolicy) -> bool {
    let statements = match &policy.document["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    crate::plan::is_own_inline_policy(&policy.name)
        && !statements.is_empty()
        && statements.iter().all(|s| s["Effect"] == "Deny")
}

/// The place of a check in [`CHECKS`].
fn order(id: &str) -> usize {
    CHECKS.iter().position(|c| c.id == id).unwrap_or(usize::MAX)
}

#[derive(Default)]
struct Verdicts(Vec<Verdict>);

impl Verdicts {
    fn push(&mut self, check: &'static str, passed: bool, resource: Resource, detail: String) {
        self.push_related(check, passed, resource, detail, Vec::new());
    }

    fn push_related(
        &mut self,
        check: &'static str,
        passed: bool,
        resource: Resource,
        detail: String,
        related: Vec<String>,
    ) {
        debug_assert!(
            super::checks::check(check).is_some(),
            "{check} is in CHECKS"
        );
        self.0.push(Verdict {
            check: check.into(),
            status: if passed {
                Compliance::Passed
            } else {
                Compliance::Failed
            },
            resource,
            detail,
            related,
        });
    }
}

fn account_resource(account: &Account) -> Resource {
    Resource {
        kind: ResourceKind::AwsAccount,
        id: format!("AWS::::Account:{}", account.account_id),
    }
}

fn user_resource(arn: &str) -> Resource {
    Resource {
        kind: ResourceKind::AwsIamUser,
        id: arn.to_owned(),
    }
}

fn role_resource(arn: &str) -> Resource {
    Resource {
        kind: ResourceKind::AwsIamRole,
        id: arn.to_owned(),
    }
}

fn policy_resource(id: String) -> Resource {
    Resource {
        kind: ResourceKind::AwsIamPolicy,
        id,
    }
}

/// The last part of an ARN (a policy's name).
fn name_of(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn day(date: DateTime<Utc>) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// Whole days from `date` to `now`.
fn days_since(now: DateTime<Utc>, date: DateTime<Utc>) -> i64 {
    (now - date).num_days()
}

fn root(account: &Account, cx: &Context, out: &mut Verdicts) {
    let row = account.credentials.iter().find(|r| r.is_root());
    let summary = |key: &str| account.summary.get(key).copied();
    let resource = || account_resource(account);
    // The credential report's root row, else the account summary's flags.
    let mfa = row
        .map(|r| r.mfa_active)
        .or(summary("AccountMFAEnabled").map(|n| n > 0));
    if let Some(mfa) = mfa {
        let detail = if mfa {
            "the root user has MFA"
        } else {
            "the root user has no MFA device"
        };
        out.push("root-mfa", mfa, resource(), detail.into());
    }
    let row_keys = row.map(|r| r.keys.iter().filter(|k| k.active).count());
    let summary_keys = summary("AccountAccessKeysPresent");
    if row_keys.is_some() || summary_keys.is_some() {
        let present = row_keys.unwrap_or(0) > 0 || summary_keys.unwrap_or(0) > 0;
        let detail = if present {
            "the root user has access keys: whoever holds them holds the whole account".into()
        } else {
            "the root user has no access keys".into()
        };
        out.push("root-access-keys", !present, resource(), detail);
    }
    if let Some(row) = row {
        let recent = row
            .last_used()
            .filter(|d| days_since(cx.now, *d) < cx.options.root_use_days);
        let detail = match (recent, row.last_used()) {
            (Some(d), _) => format!(
                "the root user was used on {} (within {} days)",
                day(d),
                cx.options.root_use_days
            ),
            (None, Some(d)) => format!("last used on {}", day(d)),
            (None, None) => "no use recorded".into(),
        };
        out.push("root-unused", recent.is_none(), resource(), detail);
    }
}

/// The checks of one user's row: console MFA, key age, unused credentials, two keys, and
/// application keys.
fn credentials(row: &CredentialRow, user: Option<&User>, cx: &Context, out: &mut Verdicts) {
    let resource = || user_resource(&row.arn);
    if row.password_enabled {
        let detail = if row.mfa_active {
            "console password with MFA"
        } else {
            "console password without MFA: a phished or reused password is enough to sign in"
        };
        out.push("console-mfa", row.mfa_active, resource(), detail.into());
    }
    let active: Vec<(usize, &KeySlot)> = row
        .keys
        .iter()
        .enumerate()
        .filter(|(_, k)| k.active)
        .map(|(i, k)| (i + 1, k))
        .collect();
    if !active.is_empty() {
        key_age_and_count(&row.arn, &active, cx, out);
    }
    unused_credentials(row, &active, cx, out);
    if let Some(user) = user
        && let Some(mark) = application_mark(user, &cx.options.application_users)
    {
        let detail = if active.is_empty() {
            format!("an application's user ({mark}) without an active access key")
        } else {
            format!(
                "an application's user ({mark}) with {} active long-term access key(s)",
                active.len()
            )
        };
        out.push("application-keys", active.is_empty(), resource(), detail);
    }
}

/// The checks of a user's active keys (at least one): each one's age, and that there is only one.
fn key_age_and_count(arn: &str, active: &[(usize, &KeySlot)], cx: &Context, out: &mut Verdicts) {
    let resource = || user_resource(arn);
    let old: Vec<String> = active
        .iter()
        .filter_map(|(slot, k)| {
            let rotated = k.last_rotated?;
            let age = days_since(cx.now, rotated);
            (age > cx.options.key_max_age_days).then(|| {
                format!(
                    "access key {slot} is {age} days old (since {})",
                    day(rotated)
                )
            })
        })
        .collect();
    let detail = if old.is_empty() {
        format!(
            "every active key is at most {} days old",
            cx.options.key_max_age_days
        )
    } else {
        old.join("; ")
    };
    out.push("key-rotated", old.is_empty(), resource(), detail);
    let two = active.len() > 1;
    let detail = if two {
        "two active access keys".into()
    } else {
        "one active access key".into()
    };
    out.push("one-active-key", !two, resource(), detail);
}

/// The check that every credential the user holds (console password, active keys) was used, or
/// set, within `AUDIT_UNUSED_DAYS`; none held, no verdict.
fn unused_credentials(
    row: &CredentialRow,
    active: &[(usize, &KeySlot)],
    cx: &Context,
    out: &mut Verdicts,
) {
    let resource = || user_resource(&row.arn);
    // Unused: the last use, or (never used) the date the credential was set, older than the
    // threshold.
    let mut unused = Vec::new();
    let mut held = false;
    if row.password_enabled {
        held = true;
        if let Some(since) = row
            .password_last_used
            .or(row.password_last_changed)
            .or(row.created)
            && days_since(cx.now, since) > cx.options.unused_days
        {
            let what = if row.password_last_used.is_some() {
                "last used"
            } else {
                "never used, set"
            };
            unused.push(format!("console password {what} {}", day(since)));
        }
    }
    for (slot, key) in active {
        held = true;
        if let Some(since) = key.last_used.or(key.last_rotated)
            && days_since(cx.now, since) > cx.options.unused_days
        {
            let what = if key.last_used.is_some() {
                "last used"
            } else {
                "never used, created"
            };
            unused.push(format!("access key {slot} {what} {}", day(since)));
        }
    }
    if held {
        let detail = if unused.is_empty() {
            format!(
                "every credential was used or set within {} days",
                cx.options.unused_days
            )
        } else {
            unused.join("; ")
        };
        out.push("unused-credentials", unused.is_empty(), resource(), detail);
    }
}

/// What marks `user` as an application's: the first pattern (`name glob` or `tag=value glob`)
/// that matches, in words.
fn application_mark(user: &User, patterns: &[String]) -> Option<String> {
    fn matches(pattern: &str, text: &str) -> bool {
        let ignore_case = glob::MatchOptions {
            case_sensitive: false,
            ..glob::MatchOptions::default()
        };
        glob::Pattern::new(pattern).is_ok_and(|p| p.matches_with(text, ignore_case))
    }
    patterns
        .iter()
        .find_map(|pattern| match pattern.split_once('=') {
            Some((key, value)) => user
                .tags
                .iter()
                .find(|(k, v)| k.eq_ignore_ascii_case(key) && matches(value, v))
                .map(|(k, v)| format!("tag {k}={v}")),
            None => matches(pattern, &user.name).then(|| format!("name matches `{pattern}`")),
        })
}

fn password_policy(account: &Account, out: &mut Verdicts) {
    let resource = || account_resource(account);
    let Some(policy) = &account.password_policy else {
        let none = "no password policy: IAM's default asks for 8 characters and nothing else";
        for id in ["password-length", "password-reuse", "password-complexity"] {
            out.push(id, false, resource(), none.into());
        }
        return;
    };
    out.push(
        "password-length",
        policy.minimum_length >= 14,
        resource(),
        format!("minimum length {}", policy.minimum_length),
    );
    out.push(
        "password-reuse",
        policy.reuse_prevention >= 24,
        resource(),
        match policy.reuse_prevention {
            0 => "reuse is not prevented".into(),
            n => format!("the last {n} passwords cannot be reused"),
        },
    );
    let missing: Vec<&str> = [
        (policy.uppercase, "upper case"),
        (policy.lowercase, "lower case"),
        (policy.numbers, "numbers"),
        (policy.symbols, "symbols"),
    ]
    .into_iter()
    .filter(|(required, _)| !required)
    .map(|(_, what)| what)
    .collect();
    out.push(
        "password-complexity",
        missing.is_empty(),
        resource(),
        if missing.is_empty() {
            "upper and lower case, numbers and symbols required".into()
        } else {
            format!("not required: {}", missing.join(", "))
        },
    );
}

/// Who holds each managed policy, by ARN.
fn holders(account: &Account) -> BTreeMap<&str, Vec<&str>> {
    let mut holders: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let attached = account
        .users
        .iter()
        .map(|u| (&u.arn, &u.attached))
        .chain(account.groups.iter().map(|g| (&g.arn, &g.attached)))
        .chain(account.roles.iter().map(|r| (&r.arn, &r.attached)));
    for (holder, policies) in attached {
        for policy in policies {
            holders
                .entry(policy.as_str())
                .or_default()
                .push(holder.as_str());
        }
    }
    holders
}

fn administrators(account: &Account, out: &mut Verdicts) {
    let holders = holders(account);
    for managed in &account.policies {
        let everything = managed
            .document
            .as_ref()
            .is_some_and(policy::grants_everything);
        let held: Vec<String> = holders
            .get(managed.arn.as_str())
            .into_iter()
            .flatten()
            .map(|h| (*h).to_owned())
            .collect();
        let aws_managed = managed.arn.contains(":iam::aws:policy/");
        if aws_managed && (!everything || held.is_empty()) {
            // AWS's own policies are reported only when they give someone everything.
            continue;
        }
        let detail = match (everything, held.len()) {
            (false, _) => "no statement allows `*` on `*`".into(),
            (true, 0) => "allows `*` on `*`; attached to nobody yet".into(),
            (true, n) => format!("allows `*` on `*`; held by {n}: {}", names(&held)),
        };
        out.push_related(
            "admin-policy",
            !everything,
            policy_resource(managed.arn.clone()),
            detail,
            held,
        );
    }
    let inline = account
        .users
        .iter()
        .map(|u| (&u.arn, &u.inline))
        .chain(account.groups.iter().map(|g| (&g.arn, &g.inline)))
        .chain(account.roles.iter().map(|r| (&r.arn, &r.inline)));
    for (holder, policies) in inline {
        for inline in policies
            .iter()
            .filter(|p| policy::grants_everything(&p.document))
        {
            out.push_related(
                "admin-policy",
                false,
                policy_resource(format!("{holder}/inline/{}", inline.name)),
                format!(
                    "inline policy `{}` of {} allows `*` on `*`",
                    inline.name,
                    name_of(holder)
                ),
                vec![holder.clone()],
            );
        }
    }
}

/// A list of ARNs as names, at most five and a count.
fn names(arns: &[String]) -> String {
    let shown: Vec<&str> = arns.iter().take(5).map(|a| name_of(a)).collect();
    match arns.len() {
        0..=5 => shown.join(", "),
        n => format!("{} and {} more", shown.join(", "), n - 5),
    }
}

fn trust(account: &Account, role: &Role, out: &mut Verdicts) {
    if role.arn.contains(":role/aws-service-role/") {
        return;
    }
    let mut open = Vec::new();
    for statement in policy::statements(&role.trust).iter().filter(|s| s.allow) {
        let pinned = TRUST_CONDITIONS.iter().any(|k| statement.conditions_on(k));
        for aws in policy::trusted(statement).aws {
            match policy::principal_account(&aws) {
                _ if pinned => {}
                None if aws == "*" => open.push("everyone (`*`)".to_owned()),
                Some(other) if other != account.account_id => {
                    open.push(format!("account {other} ({aws})"))
                }
                _ => {}
            }
        }
        // A web identity provider (GitHub Actions, an EKS cluster, ...) vouches for every one of its
        // identities: without a condition on the token's subject, any repository or service account
        // of the provider may assume the role. Cognito's identities are pinned by their pool (`aud`).
        for provider in policy::trusted(statement).federated {
            let Some(host) = provider
                .split_once(":oidc-provider/")
                .map(|(_, h)| h.to_owned())
                .or_else(|| {
                    (provider == "cognito-identity.amazonaws.com").then(|| provider.clone())
                })
            else {
                continue;
            };
            let key = if host == "cognito-identity.amazonaws.com" {
                format!("{host}:aud")
            } else {
                format!("{host}:sub")
            };
            if !statement.conditions_on(&key) {
                open.push(format!(
                    "every identity of {host} (no condition on `{key}`)"
                ));
            }
        }
    }
    let detail = if open.is_empty() {
        "trusts only this account, AWS services, pinned federated identities or conditioned callers"
            .into()
    } else {
        format!(
            "trusts {} without an external id, organization or subject condition",
            open.join(", ")
        )
    };
    out.push(
        "open-trust",
        open.is_empty(),
        role_resource(&role.arn),
        detail,
    );
}

/// Each principal's policy documents: its own, its groups', the managed ones attached, by name.
fn documents<'a>(
    account: &'a Account,
    managed: &BTreeMap<&str, &'a super::ManagedPolicy>,
    inline: &'a [super::InlinePolicy],
    attached: &'a [String],
    groups: &[String],
) -> Vec<(String, &'a Value)> {
    let of_groups = account.groups.iter().filter(|g| groups.contains(&g.name));
    let mut docs: Vec<(String, &Value)> = inline
        .iter()
        .map(|p| (format!("inline {}", p.name), &p.document))
        .collect();
    let mut arns: BTreeSet<&str> = attached.iter().map(String::as_str).collect();
    for group in of_groups {
        docs.extend(group.inline.iter().map(|p| {
            (
                format!("inline {} of group {}", p.name, group.name),
                &p.document,
            )
        }));
        arns.extend(group.attached.iter().map(String::as_str));
    }
    for arn in arns {
        if let Some(doc) = managed.get(arn).and_then(|p| p.document.as_ref()) {
            docs.push((format!("managed {}", name_of(arn)), doc));
        }
    }
    docs
}

fn delegation(account: &Account, cx: &Context, out: &mut Verdicts) {
    let managed: BTreeMap<&str, &super::ManagedPolicy> = account
        .policies
        .iter()
        .map(|p| (p.arn.as_str(), p))
        .collect();
    let principals = account
        .users
        .iter()
        .map(|u| {
            (
                &u.arn,
                documents(account, &managed, &u.inline, &u.attached, &u.groups),
                ResourceKind::AwsIamUser,
            )
        })
        .chain(account.roles.iter().map(|r| {
            (
                &r.arn,
                documents(account, &managed, &r.inline, &r.attached, &[]),
                ResourceKind::AwsIamRole,
            )
        }));
    for (arn, docs, kind) in principals {
        if arn.contains(":role/aws-service-role/")
            || Principal::parse_arn(arn).is_ok_and(|p| (cx.own)(&p))
            // Administrators are the admin-policy check's.
            || docs.iter().any(|(_, d)| policy::grants_everything(d))
        {
            continue;
        }
        let open = docs.iter().find_map(|(name, doc)| {
            policy::allows_unconditioned(doc, &DELEGATION_ACTIONS, "iam:PermissionsBoundary").map(
                |action| {
                    format!("{name} allows {action} without an iam:PermissionsBoundary condition")
                },
            )
        });
        let delegates = docs.iter().any(|(_, doc)| {
            policy::statements(doc)
                .iter()
                .any(|s: &Statement| DELEGATION_ACTIONS.iter().any(|a| s.allows(a)))
        });
        let resource = Resource {
            kind,
            id: arn.clone(),
        };
        match open {
            Some(detail) => out.push("unbounded-delegation", false, resource, detail),
            None if delegates => out.push(
                "unbounded-delegation",
                true,
                resource,
                "creates principals or writes policies only with a permissions boundary".into(),
            ),
            None => {}
        }
    }
}

fn break_glass(account: &Account, cx: &Context, out: &mut Verdicts) {
    let rows: BTreeMap<&str, &CredentialRow> = account
        .credentials
        .iter()
        .map(|r| (r.arn.as_str(), r))
        .collect();
    let principals: Vec<(Principal, &str)> = account
        .users
        .iter()
        .map(|u| u.arn.as_str())
        .chain(account.roles.iter().map(|r| r.arn.as_str()))
        .filter_map(|arn| Principal::parse_arn(arn).ok().map(|p| (p, arn)))
        .collect();
    let mut seen = BTreeSet::new();
    for pattern in cx.protected {
        // A pattern naming another account is that account's audit's.
        let pattern_account = pattern.as_str().split(':').nth(4).unwrap_or("*");
        if pattern_account != "*" && pattern_account != account.account_id {
            continue;
        }
        let matched: Vec<&(Principal, &str)> = principals
            .iter()
            .filter(|(p, _)| pattern.matches(p))
            .collect();
        let kind = if pattern.as_str().contains(":user/") {
            ResourceKind::AwsIamUser
        } else {
            ResourceKind::AwsIamRole
        };
        out.push(
            "break-glass-exists",
            !matched.is_empty(),
            Resource {
                kind,
                id: pattern.as_str().to_owned(),
            },
            if matched.is_empty() {
                "PROTECTED_PRINCIPALS names it, and no user or role of the account matches".into()
            } else {
                format!(
                    "matches {}",
                    matched
                        .iter()
                        .map(|(p, _)| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            },
        );
        for (principal, arn) in matched {
            // A principal two patterns match is checked once.
            if seen.insert(*arn) {
                break_glass_principal(principal.kind, arn, &rows, account, cx, out);
            }
        }
    }
}

/// The checks of one break-glass principal: MFA, and no recent use. A user without a credential
/// report row, or a role not in the authorization details, has none.
fn break_glass_principal(
    kind: PrincipalKind,
    arn: &str,
    rows: &BTreeMap<&str, &CredentialRow>,
    account: &Account,
    cx: &Context,
    out: &mut Verdicts,
) {
    match kind {
        PrincipalKind::User => {
            let Some(row) = rows.get(arn) else { return };
            out.push(
                "break-glass-mfa",
                row.mfa_active,
                user_resource(arn),
                if row.mfa_active {
                    "has MFA"
                } else {
                    "a break-glass user without MFA"
                }
                .into(),
            );
            recent_use(
                "break-glass-unused",
                row.last_used(),
                user_resource(arn),
                cx,
                out,
            );
        }
        PrincipalKind::Role => {
            let Some(role) = account.roles.iter().find(|r| r.arn == arn) else {
                return;
            };
            role_mfa(role, out);
            recent_use(
                "break-glass-unused",
                role.last_used,
                role_resource(arn),
                cx,
                out,
            );
        }
        PrincipalKind::Root => {}
    }
}

fn recent_use(
    check: &'static str,
    last_used: Option<DateTime<Utc>>,
    resource: Resource,
    cx: &Context,
    out: &mut Verdicts,
) {
    let window = cx.options.unused_days;
    let recent = last_used.filter(|d| days_since(cx.now, *d) < window);
    let detail = match (recent, last_used) {
        (Some(d), _) => format!("used on {} (within {window} days)", day(d)),
        (None, Some(d)) => format!("last used on {}", day(d)),
        (None, None) => "no use recorded".into(),
    };
    out.push(check, recent.is_none(), resource, detail);
}

/// A break-glass role's trust policy requires MFA of every AWS principal it lets in.
fn role_mfa(role: &Role, out: &mut Verdicts) {
    let statements = policy::statements(&role.trust);
    let human: Vec<&Statement> = statements
        .iter()
        .filter(|s| s.allow && !policy::trusted(s).aws.is_empty())
        .collect();
    if human.is_empty() {
        // Only services or federation: MFA is the identity provider's to require.
        return;
    }
    let without = human
        .iter()
        .filter(|s| !MFA_CONDITIONS.iter().any(|k| s.conditions_on(k)))
        .count();
    out.push(
        "break-glass-mfa",
        without == 0,
        role_resource(&role.arn),
        if without == 0 {
            "its trust policy requires MFA".into()
        } else {
            format!(
                "{without} trust statement(s) let AWS principals assume it without MFA (aws:MultiFactorAuthPresent)"
            )
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{InlinePolicy, ManagedPolicy};
    use serde_json::json;

    const ACCOUNT: &str = "111122223333";

    fn run(account: &Account, own: &dyn Fn(&Principal) -> bool) -> Vec<Verdict> {
        let options = Options::default();
        let cx = Context {
            options: &options,
            protected: &[],
            own,
            now: Utc::now(),
        };
        audit(account, &cx)
    }

    fn of<'a>(verdicts: &'a [Verdict], check: &str) -> Vec<(&'a str, Compliance)> {
        verdicts
            .iter()
            .filter(|v| v.check == check)
            .map(|v| (v.resource.id.as_str(), v.status))
            .collect()
    }

    fn role(name: &str, trust: Value, inline: Option<Value>) -> Role {
        Role {
            name: name.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:role/{name}"),
            trust: json!({"Statement": [trust]}),
            inline: inline
                .map(|d| InlinePolicy {
                    name: "work".into(),
                    document: d,
                })
                .into_iter()
                .collect(),
            ..Role::default()
        }
    }

    #[test]
    fn trusting_everyone_or_another_account_needs_an_external_id_or_an_organization() {
        let account = Account {
            account_id: ACCOUNT.into(),
            roles: vec![
                role(
                    "star",
                    json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
                    None,
                ),
                role(
                    "org",
                    json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}}),
                    None,
                ),
                role(
                    "other",
                    json!({"Effect": "Allow", "Principal": {"AWS": "444455556666"}, "Action": "sts:AssumeRole"}),
                    None,
                ),
                role(
                    "own",
                    json!({"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/x")}, "Action": "sts:AssumeRole"}),
                    None,
                ),
                role(
                    "denied",
                    json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}),
                    None,
                ),
            ],
            ..Account::default()
        };
        let verdicts = run(&account, &|_| false);
        let got: BTreeMap<&str, Compliance> = of(&verdicts, "open-trust").into_iter().collect();
        let role = |n: &str| format!("arn:aws:iam::{ACCOUNT}:role/{n}");
        assert_eq!(got[role("star").as_str()], Compliance::Failed);
        assert_eq!(got[role("other").as_str()], Compliance::Failed);
        assert_eq!(got[role("org").as_str()], Compliance::Passed);
        assert_eq!(got[role("own").as_str()], Compliance::Passed);
        assert_eq!(got[role("denied").as_str()], Compliance::Passed);
        let github =
            format!("arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com");
        let oidc = |condition: Value| Account {
            account_id: ACCOUNT.into(),
            roles: vec![self::role(
                "ci",
                json!({"Effect": "Allow", "Principal": {"Federated": github},
                "Action": "sts:AssumeRoleWithWebIdentity", "Condition": condition}),
                None,
            )],
            ..Account::default()
        };
        let any_repository = oidc(
            json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}),
        );
        let one_repository = oidc(
            json!({"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/deploy:*"}}),
        );
        let verdict = |a: &Account| of(&run(a, &|_| false), "open-trust")[0].1;
        assert_eq!(
            verdict(&any_repository),
            Compliance::Failed,
            "any GitHub repository may assume it"
        );
        assert_eq!(verdict(&one_repository), Compliance::Passed);
        assert_eq!(verdicts[0].status, Compliance::Failed, "failures first");
    }

    #[test]
    fn a_contained_users_tourniquet_policies_are_not_its_direct_policies() {
        let deny: Value = serde_json::from_str(&crate::plan::deny_all_document()).unwrap();
        let allow = json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]});
        let user = |name: &str, inline: &[(&str, &Value)], attached: &[&str]| User {
            name: name.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
            inline: inline
                .iter()
                .map(|(n, d)| InlinePolicy {
                    name: (*n).into(),
                    document: (*d).clone(),
                })
                .collect(),
            attached: attached.iter().map(|a| (*a).to_owned()).collect(),
            ..User::default()
        };
        let account = Account {
            account_id: ACCOUNT.into(),
            users: vec![
                user(
                    "contained",
                    &[(crate::plan::DENY_POLICY_NAME, &deny)],
                    &[&format!(
                        "arn:aws:iam::{ACCOUNT}:policy/tourniquet/TourniquetDenyAll"
                    )],
                ),
                // An Allow policy named like Tourniquet's deny is the user's own.
                user("direct", &[(crate::plan::DENY_POLICY_NAME, &allow)], &[]),
            ],
            ..Account::default()
        };
        let verdicts = run(&account, &|_| false);
        assert_eq!(
            of(&verdicts, "direct-policies"),
            [
                (
                    format!("arn:aws:iam::{ACCOUNT}:user/direct").as_str(),
                    Compliance::Failed
                ),
                (
                    format!("arn:aws:iam::{ACCOUNT}:user/contained").as_str(),
                    Compliance::Passed
                ),
            ]
        );
        let direct = verdicts
            .iter()
            .find(|v| v.check == "direct-policies" && v.status == Compliance::Failed)
            .unwrap();
        assert_eq!(
            direct.detail,
            "policies of its own: inline TourniquetDenyAll"
        );
    }

    #[test]
    fn delegation_skips_administrators_and_tourniquets_own_roles() {
        let lambda = json!({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"});
        let writes = json!({"Statement": [{"Effect": "Allow", "Action": "iam:PutRolePolicy", "Resource": "*"}]});
        let admin_arn = format!("arn:aws:iam::{ACCOUNT}:policy/Everything");
        let mut admin = role("admin", lambda.clone(), None);
        admin.attached = vec![admin_arn.clone()];
        let account = Account {
            account_id: ACCOUNT.into(),
            roles: vec![
                role("deployer", lambda.clone(), Some(writes.clone())),
                role(
                    "tourniquet-ContainFunctionRole-X",
                    lambda.clone(),
                    Some(writes),
                ),
                admin,
            ],
            policies: vec![ManagedPolicy {
                name: "Everything".into(),
                arn: admin_arn.clone(),
                document: Some(
                    json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
                ),
            }],
            ..Account::default()
        };
        let own = |p: &Principal| p.name.starts_with("tourniquet-");
        let verdicts = run(&account, &own);
        assert_eq!(
            of(&verdicts, "unbounded-delegation"),
            [(
                format!("arn:aws:iam::{ACCOUNT}:role/deployer").as_str(),
                Compliance::Failed
            )]
        );
        let admin = verdicts.iter().find(|v| v.check == "admin-policy").unwrap();
        assert_eq!(
            (admin.status, admin.related.clone()),
            (
                Compliance::Failed,
                vec![format!("arn:aws:iam::{ACCOUNT}:role/admin")]
            )
        );
    }

    #[test]
    fn a_name_glob_or_a_tag_marks_an_applications_user() {
        let patterns: Vec<String> = ["svc-*", "type=app*"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let user = |name: &str, tags: &[(&str, &str)]| User {
            name: name.into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..User::default()
        };
        assert!(
            application_mark(&user("SVC-build", &[]), &patterns)
                .unwrap()
                .contains("svc-*")
        );
        assert!(
            application_mark(&user("alice", &[("Type", "Application")]), &patterns)
                .unwrap()
                .contains("Type=Application")
        );
        assert_eq!(
            application_mark(&user("alice", &[("team", "app")]), &patterns),
            None
        );
    }
}
