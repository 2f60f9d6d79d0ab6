//! The hunt's core (pure): what a stolen credential did, read from CloudTrail records, and what
//! Tourniquet may do about each thing it finds. The classification table maps an event to a kind of
//! persistence and to the one follow-up the hunt may take; everything that is not a credential or a
//! principal is reported with the command a human would run, never changed.
//!
//! Only a call that succeeded (no `errorCode`) may lead to a containment: a spray of failed calls
//! must not aim Tourniquet at anyone. The search window runs from the credential's first suspicious
//! use (or its creation) to now, never more than CloudTrail's 90 days of event history.
//!
//! A record is the hunted credential's only if its `userIdentity` says so: `LookupEvents` by
//! `Username` also answers with the events of any role session that chose that name
//! ([`is_by`]). What the hunt may contain ([`follow_ons`]) goes through every guard the first
//! principal went through; the responder (`responder/hunt.rs`) reads and contains.

use crate::error::ConfigError;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The evidence object that holds the events the hunt found, each whole.
pub const ACTIVITY_OBJECT: &str = "activity.json";

/// CloudTrail's event history: `LookupEvents` sees 90 days back at most.
pub const HISTORY_DAYS: i64 = 90;

/// What an event left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A new IAM principal or credential.
    NewCredential,
    /// Permissions granted or trust opened.
    PrivilegeChange,
    /// Into other roles and accounts, or new temporary credentials.
    LateralMovement,
    /// Logging or detection turned down.
    DefenceEvasion,
    /// Compute and code that outlive the credential.
    ComputePersistence,
}

/// What the hunt may do about one event, under every guard the first principal had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Follow {
    /// Deactivate the access key the event created.
    DeactivateKey,
    /// Contain the user the event created, or whose console password it set.
    ContainUser,
    /// Cut the sessions of the role the credential assumed.
    CutRoleSessions,
    /// Hunt the temporary key the event issued as well.
    HuntKey,
    /// Nothing but the report, with the command a human would run.
    Report,
}

/// One row of the classification table.
struct Rule {
    /// `eventSource`.
    source: &'static str,
    /// `eventName`, or its prefix when it ends in `*` (Lambda's names carry an API version:
    /// `CreateFunction20150331`).
    name: &'static str,
    kind: Kind,
    follow: Follow,
}

const fn rule(source: &'static str, name: &'static str, kind: Kind, follow: Follow) -> Rule {
    Rule {
        source,
        name,
        kind,
        follow,
    }
}

const IAM: &str = "iam.amazonaws.com";
const STS: &str = "sts.amazonaws.com";

/// The classification table, the one place that says what an event means.
const TABLE: &[Rule] = &[
    rule(IAM, "CreateUser", Kind::NewCredential, Follow::ContainUser),
    rule(
        IAM,
        "CreateAccessKey",
        Kind::NewCredential,
        Follow::DeactivateKey,
    ),
    rule(
        IAM,
        "CreateLoginProfile",
        Kind::NewCredential,
        Follow::ContainUser,
    ),
    rule(
        IAM,
        "UpdateLoginProfile",
        Kind::NewCredential,
        Follow::ContainUser,
    ),
    rule(
        IAM,
        "CreateServiceSpecificCredential",
        Kind::NewCredential,
        Follow::Report,
    ),
    rule(
        IAM,
        "UploadSSHPublicKey",
        Kind::NewCredential,
        Follow::Report,
    ),
    rule(
        IAM,
        "UploadSigningCertificate",
        Kind::NewCredential,
        Follow::Report,
    ),
    rule(
        IAM,
        "CreateVirtualMFADevice",
        Kind::NewCredential,
        Follow::Report,
    ),
    rule(IAM, "EnableMFADevice", Kind::NewCredential, Follow::Report),
    rule(
        IAM,
        "AttachUserPolicy",
        Kind::PrivilegeChange,
        Follow::Report,
    ),
    rule(
        IAM,
        "AttachRolePolicy",
        Kind::PrivilegeChange,
        Follow::Report,
    ),
    rule(
        IAM,
        "AttachGroupPolicy",
        Kind::PrivilegeChange,
        Follow::Report,
    ),
    rule(IAM, "PutUserPolicy", Kind::PrivilegeChange, Follow::Report),
    rule(IAM, "PutRolePolicy", Kind::PrivilegeChange, Follow::Report),
    rule(IAM, "PutGroupPolicy", Kind::PrivilegeChange, Follow::Report),
    rule(
        IAM,
        "CreatePolicyVersion",
        Kind::PrivilegeChange,
        Follow::Report,
    ),
    rule(
        IAM,
        "SetDefaultPolicyVersion",
        Kind::PrivilegeChange,
        Follow::Report,
    ),
    rule(IAM, "AddUserToGroup", Kind::PrivilegeChange, Follow::Report),
    rule(
        IAM,
        "UpdateAssumeRolePolicy",
        Kind::PrivilegeChange,
        Follow::Report,
    ),
    rule(IAM, "CreateRole", Kind::PrivilegeChange, Follow::Report),
    rule(
        IAM,
        "DeleteUserPermissionsBoundary",
        Kind::PrivilegeChange,
        Follow::Report,
    ),
    rule(
        IAM,
        "DeleteRolePermissionsBoundary",
        Kind::PrivilegeChange,
        Follow::Report,
    ),
    rule(
        STS,
        "AssumeRole",
        Kind::LateralMovement,
        Follow::CutRoleSessions,
    ),
    rule(
        STS,
        "GetFederationToken",
        Kind::LateralMovement,
        Follow::HuntKey,
    ),
    rule(
        STS,
        "GetSessionToken",
        Kind::LateralMovement,
        Follow::HuntKey,
    ),
    rule(
        "cloudtrail.amazonaws.com",
        "StopLogging",
        Kind::DefenceEvasion,
        Follow::Report,
    ),
    rule(
        "cloudtrail.amazonaws.com",
        "DeleteTrail",
        Kind::DefenceEvasion,
        Follow::Report,
    ),
    rule(
        "cloudtrail.amazonaws.com",
        "UpdateTrail",
        Kind::DefenceEvasion,
        Follow::Report,
    ),
    rule(
        "cloudtrail.amazonaws.com",
        "PutEventSelectors",
        Kind::DefenceEvasion,
        Follow::Report,
    ),
    rule(
        "guardduty.amazonaws.com",
        "DeleteDetector",
        Kind::DefenceEvasion,
        Follow::Report,
    ),
    rule(
        "guardduty.amazonaws.com",
        "UpdateDetector",
        Kind::DefenceEvasion,
        Follow::Report,
    ),
    rule(
        "guardduty.amazonaws.com",
        "CreateFilter",
        Kind::DefenceEvasion,
        Follow::Report,
    ),
    rule(
        "ec2.amazonaws.com",
        "RunInstances",
        Kind::ComputePersistence,
        Follow::Report,
    ),
    rule(
        "lambda.amazonaws.com",
        "CreateFunction*",
        Kind::ComputePersistence,
        Follow::Report,
    ),
    rule(
        "lambda.amazonaws.com",
        "UpdateFunctionCode*",
        Kind::ComputePersistence,
        Follow::Report,
    ),
    rule(
        "lambda.amazonaws.com",
        "AddPermission*",
        Kind::ComputePersistence,
        Follow::Report,
    ),
    rule(
        "lambda.amazonaws.com",
        "CreateEventSourceMapping*",
        Kind::ComputePersistence,
        Follow::Report,
    ),
    rule(
        "s3.amazonaws.com",
        "PutBucketPolicy",
        Kind::ComputePersistence,
        Follow::Report,
    ),
];

/// One event the hunt found, classified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// CloudTrail's `eventID`: the `cause` of any follow-on containment.
    pub event_id: String,
    /// `eventTime`.
    pub event_time: String,
    /// `eventSource`.
    pub event_source: String,
    /// `eventName`.
    pub event_name: String,
    /// `awsRegion`.
    pub region: String,
    /// What it left behind.
    pub kind: Kind,
    /// What the hunt may do about it (`report` for a call that failed, whatever the table says).
    pub follow: Follow,
    /// The thing it names: a user or role ARN, an access key id, a trail, an instance, a function...
    pub resource: String,
    /// The principal a follow-up contains: the user created, whose key or password was made, the
    /// role assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Who made the call (`userIdentity.arn`).
    #[serde(default)]
    pub actor: String,
    /// `errorCode`, for a call that failed: reported, never followed.
    pub error: Option<String>,
    /// A new access key id it issued (AssumeRole, GetSessionToken, GetFederationToken,
    /// CreateAccessKey), to hunt as well.
    pub issued_key: Option<String>,
    /// For what is only reported: the command a human would run to look at it or undo it.
    pub advice: Option<String>,
    /// The CloudTrail record itself, as `LookupEvents` returned it (the evidence).
    #[serde(default)]
    pub record: Value,
}

fn text<'a>(record: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(record, |v, key| v.get(key))
        .and_then(Value::as_str)
}

/// The event's rule, if the table has one.
fn rule_of(source: &str, name: &str) -> Option<&'static Rule> {
    TABLE.iter().find(|r| {
        r.source == source
            && match r.name.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => r.name == name,
            }
    })
}

/// Classifies one CloudTrail record (the JSON of `LookupEvents`' `CloudTrailEvent`); `None` for an
/// event the table does not name.
pub fn classify(record: &Value) -> Option<Activity> {
    let source = text(record, &["eventSource"])?;
    let name = text(record, &["eventName"])?;
    let rule = rule_of(source, name)?;
    let account = text(record, &["recipientAccountId"]).unwrap_or_default();
    let partition = text(record, &["userIdentity", "arn"])
        .and_then(|arn| arn.split(':').nth(1))
        .unwrap_or("aws");
    let request = |key: &str| text(record, &["requestParameters", key]);
    let user_arn = |user: &str| format!("arn:{partition}:iam::{account}:user/{user}");
    let issued_key = text(record, &["responseElements", "credentials", "accessKeyId"])
        .or_else(|| text(record, &["responseElements", "accessKey", "accessKeyId"]))
        .map(str::to_owned);
    let resource = resource(record, name, issued_key.as_deref(), &user_arn);
    let error = text(record, &["errorCode"]).map(str::to_owned);
    let actor = text(record, &["userIdentity", "arn"]).unwrap_or_default();
    let principal = match name {
        "CreateUser" | "CreateLoginProfile" | "UpdateLoginProfile" | "AssumeRole" => {
            Some(resource.clone()).filter(|r| r.starts_with("arn:"))
        }
        // A key for another user names it; a key for oneself does not.
        "CreateAccessKey" => request("userName").map(user_arn).or_else(|| {
            (text(record, &["userIdentity", "type"]) == Some("IAMUser")).then(|| actor.to_owned())
        }),
        _ => None,
    };
    let follow = if error.is_some() {
        Follow::Report
    } else {
        rule.follow
    };
    Some(Activity {
        event_id: text(record, &["eventID"]).unwrap_or_default().to_owned(),
        event_time: text(record, &["eventTime"]).unwrap_or_default().to_owned(),
        event_source: source.to_owned(),
        event_name: name.to_owned(),
        region: text(record, &["awsRegion"]).unwrap_or_default().to_owned(),
        kind: rule.kind,
        advice: (follow == Follow::Report).then(|| advice(name, &resource)),
        follow,
        resource,
        principal,
        actor: actor.to_owned(),
        error,
        issued_key: issued_key.filter(|_| text(record, &["errorCode"]).is_none()),
        record: record.clone(),
    })
}

/// What the call acted on, as the report names it: the ARN of a user created or a role assumed,
/// a key issued, instances run, else the first resource its request parameters name.
fn resource(
    record: &Value,
    name: &str,
    issued_key: Option<&str>,
    user_arn: &dyn Fn(&str) -> String,
) -> String {
    let request = |key: &str| text(record, &["requestParameters", key]);
    match name {
        "CreateUser" => text(record, &["responseElements", "user", "arn"])
            .map(str::to_owned)
            .or_else(|| request("userName").map(user_arn)),
        // A refused call issued no key: the user it was for.
        "CreateAccessKey" => issued_key
            .map(str::to_owned)
            .or_else(|| request("userName").map(user_arn)),
        "AssumeRole" => request("roleArn").map(str::to_owned),
        "RunInstances" => record["responseElements"]["instancesSet"]["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["instanceId"].as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
        _ => [
            "userName",
            "roleName",
            "groupName",
            "policyArn",
            "name",
            "functionName",
            "bucketName",
            "detectorId",
            "serialNumber",
            "trailName",
        ]
        .iter()
        .find_map(|k| request(k))
        .map(|r| match (r, request("userName")) {
            (r, Some(user)) if r == user => user_arn(user),
            (r, _) => r.to_owned(),
        }),
    }
    .unwrap_or_default()
}

/// The command a human would run about something the hunt only reports.
fn advice(name: &str, resource: &str) -> String {
    match name {
        "StopLogging" | "DeleteTrail" | "UpdateTrail" | "PutEventSelectors" => format!(
            "aws cloudtrail get-trail-status --name {resource} (then start-logging / restore the trail's configuration)"
        ),
        "DeleteDetector" | "UpdateDetector" | "CreateFilter" => {
            format!(
                "aws guardduty get-detector --detector-id {resource} (and list-filters: look for auto-archive)"
            )
        }
        "RunInstances" => format!(
            "aws ec2 describe-instances --instance-ids {}",
            resource.replace(',', " ")
        ),
        "PutBucketPolicy" => format!("aws s3api get-bucket-policy --bucket {resource}"),
        n if n.starts_with("CreateFunction")
            || n.starts_with("UpdateFunctionCode")
            || n.starts_with("AddPermission")
            || n.starts_with("CreateEventSourceMapping") =>
        {
            format!(
                "aws lambda get-function --function-name {resource} (and get-policy, list-event-source-mappings)"
            )
        }
        "EnableMFADevice" | "CreateVirtualMFADevice" => format!(
            "aws iam list-mfa-devices --user-name {} (an attacker's MFA device keeps the account's owner out: deactivate it)",
            resource.rsplit('/').next().unwrap_or(resource)
        ),
        _ => format!(
            "aws iam: review {name} on {resource} in CloudTrail and revert what you did not do"
        ),
    }
}

/// The records of a `LookupEvents` answer (each `CloudTrailEvent` is a JSON document in a string);
/// an event whose record is not JSON is an error naming its id.
pub fn records(lookup_events: &Value) -> Result<Vec<Value>, RecordError> {
    lookup_events["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| record(e["EventId"].as_str(), e["CloudTrailEvent"].as_str()))
        .collect()
}

/// One event's record, from its `EventId` and `CloudTrailEvent`; an error naming the event when
/// the record is missing or not JSON.
pub fn record(
    event_id: Option<&str>,
    cloudtrail_event: Option<&str>,
) -> Result<Value, RecordError> {
    let id = event_id.unwrap_or("?");
    let raw = cloudtrail_event.ok_or_else(|| RecordError::Missing { id: id.to_owned() })?;
    serde_json::from_str(raw).map_err(|error| RecordError::NotJson {
        id: id.to_owned(),
        error,
    })
}

/// A `LookupEvents` event without a readable record; the `Display` names the event (`?` when it
/// has no id).
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// No `CloudTrailEvent`.
    #[error("LookupEvents event {id}: no CloudTrailEvent")]
    Missing {
        /// The event's id.
        id: String,
    },
    /// A `CloudTrailEvent` that is not JSON.
    #[error("LookupEvents event {id}: CloudTrailEvent is not JSON: {error}")]
    NotJson {
        /// The event's id.
        id: String,
        /// Why it does not parse.
        #[source]
        error: serde_json::Error,
    },
}

/// What `LookupEvents` is asked for: one lookup attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Attribute {
    /// `AccessKeyId`: every call signed with the key.
    AccessKeyId,
    /// `Username`: every call of the IAM user (also, in CloudTrail's index, of any role session
    /// of that name: see [`is_by`]).
    Username,
}

/// A credential to hunt, in one account.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Credential {
    /// How it is looked up.
    pub attribute: Attribute,
    /// The key id, or the user's name.
    pub value: String,
    /// For a user: its ARN, which every record's `userIdentity.arn` must be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The account whose CloudTrail is read.
    pub account_id: String,
    /// The CloudTrail event that issued it, for a key the hunt found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<String>,
}

impl Credential {
    /// An access key id to hunt.
    pub fn key(id: &str, account_id: &str, issued_by: Option<String>) -> Self {
        Self {
            attribute: Attribute::AccessKeyId,
            value: id.to_owned(),
            owner: None,
            account_id: account_id.to_owned(),
            issued_by,
        }
    }

    /// An IAM user to hunt by name, its records checked against its ARN.
    pub fn user(name: &str, arn: &str, account_id: &str) -> Self {
        Self {
            attribute: Attribute::Username,
            value: name.to_owned(),
            owner: Some(arn.to_owned()),
            account_id: account_id.to_owned(),
            issued_by: None,
        }
    }
}

impl std::fmt::Display for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.attribute {
            Attribute::AccessKeyId => write!(f, "access key {}", self.value),
            Attribute::Username => write!(f, "user {}", self.value),
        }
    }
}

/// Whether `record` is a call made with `credential`: for a key, `userIdentity.accessKeyId` is
/// it; for a user, `userIdentity` is that IAM user (CloudTrail's `Username` index also holds the
/// calls of any role session named like the user, which anyone allowed to assume a role can name).
pub fn is_by(record: &Value, credential: &Credential) -> bool {
    let identity = |key: &str| text(record, &["userIdentity", key]);
    let account = text(record, &["recipientAccountId"]);
    account == Some(credential.account_id.as_str())
        && match credential.attribute {
            Attribute::AccessKeyId => identity("accessKeyId") == Some(credential.value.as_str()),
            Attribute::Username => {
                identity("type") == Some("IAMUser")
                    && identity("arn") == credential.owner.as_deref()
            }
        }
}

/// What the hunt function is asked to hunt, beside the incident's own targets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds {
    /// The credentials.
    pub credentials: Vec<Credential>,
    /// Which hunt: 2 for the one `contain` queued.
    pub round: u32,
}

/// A principal the hunt contains, and the event that is why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowOn {
    /// The principal's ARN.
    pub principal_arn: String,
    /// Keys the attacker created for it, deactivated first.
    pub access_key_ids: Vec<String>,
    /// The CloudTrail events (`eventID`, `eventName`) that lead to it, in the order found.
    pub causes: Vec<(String, String)>,
}

impl FollowOn {
    /// The report's `cause`: `cloudtrail:<eventID> (<eventName>)`, each event that led here.
    pub fn cause(&self) -> String {
        self.causes
            .iter()
            .map(|(id, name)| format!("cloudtrail:{id} ({name})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The principals to contain, each once, from the events that may be followed (a call that
/// succeeded, with a principal); `already` says which are the incident's own (contained already,
/// not again).
pub fn follow_ons(activity: &[Activity], already: impl Fn(&str) -> bool) -> Vec<FollowOn> {
    let mut out: Vec<FollowOn> = Vec::new();
    for a in activity {
        let (Some(arn), None) = (&a.principal, &a.error) else {
            continue;
        };
        if !matches!(
            a.follow,
            Follow::ContainUser | Follow::DeactivateKey | Follow::CutRoleSessions
        ) || already(arn)
        {
            continue;
        }
        let key = (a.follow == Follow::DeactivateKey)
            .then(|| a.resource.clone())
            .filter(|k| !k.is_empty());
        let cause = (a.event_id.clone(), a.event_name.clone());
        match out.iter_mut().find(|f| f.principal_arn == *arn) {
            Some(f) => {
                f.access_key_ids.extend(key);
                f.causes.push(cause);
            }
            None => out.push(FollowOn {
                principal_arn: arn.clone(),
                access_key_ids: key.into_iter().collect(),
                causes: vec![cause],
            }),
        }
    }
    out
}

/// The report's `activity`: what was hunted, where, and what was found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// 1 for the hunt beside the containment, 2 for the later one (CloudTrail's lag).
    pub round: u32,
    /// The credentials hunted (`access key AKIA...`, `user alice`), those the hunt found included.
    pub hunted: Vec<String>,
    /// The regions read.
    pub regions: Vec<String>,
    /// The window read, from.
    pub from: String,
    /// The window read, to.
    pub to: String,
    /// Events found, per kind.
    pub counts: BTreeMap<Kind, usize>,
    /// Events found in all (the events themselves are in the evidence: `activity.json`).
    pub events: usize,
    /// One line per event, in time order: what the attacker did.
    pub lines: Vec<String>,
    /// Principals it led to, contained (or refused: see the targets with a `cause`).
    pub followed: usize,
    /// When and where the second hunt was queued, for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_hunt: Option<String>,
    /// What could not be read (a region, a page past the cap); the rest was hunted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Summary {
    /// Counts and lines from the events found (in time order).
    pub fn of(mut self, activity: &[Activity]) -> Self {
        for a in activity {
            *self.counts.entry(a.kind).or_default() += 1;
        }
        self.events = activity.len();
        self.lines = activity.iter().map(line).collect();
        self
    }
}

/// One event in words: `2026-12-02T10:00:00Z CreateUser arn:aws:iam::...:user/x by <actor>`.
fn line(a: &Activity) -> String {
    let failed = a
        .error
        .as_deref()
        .map(|e| format!(" (failed: {e})"))
        .unwrap_or_default();
    let advice = a
        .advice
        .as_deref()
        .filter(|_| a.error.is_none())
        .map(|x| format!("; {x}"))
        .unwrap_or_default();
    format!(
        "{} {} {} in {}{failed}{advice}",
        a.event_time, a.event_name, a.resource, a.region
    )
}

/// The window to search: from the credential's first suspicious use (a finding's
/// `eventFirstSeen`), else its creation or last rotation, else the history's start, to `now`;
/// never longer than CloudTrail's 90 days, and never starting after `now`.
pub fn window(
    first_seen: Option<DateTime<Utc>>,
    created: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let oldest = now - TimeDelta::days(HISTORY_DAYS);
    let start = first_seen.or(created).unwrap_or(oldest).clamp(oldest, now);
    (start, now)
}

/// SQS's longest delay for a message: the second hunt waits this long at most.
pub const MAX_DELAY_SECONDS: u32 = 900;

/// `HUNT`, `HUNT_REGIONS`, `HUNT_QUEUE_URL`, `HUNT_DELAY_SECONDS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `HUNT`: `contain` hunts after containing. Default `true`.
    pub enabled: bool,
    /// `HUNT_REGIONS`: the regions whose CloudTrail event history is read. Empty: the function's
    /// region and `us-east-1` (where IAM, and STS's global endpoint, are logged).
    pub regions: Vec<String>,
    /// `HUNT_QUEUE_URL`: the queue the second hunt waits in (the template's `HuntQueue`). Unset:
    /// no second hunt.
    pub queue_url: Option<String>,
    /// `HUNT_DELAY_SECONDS`: how long after the first the second hunt runs (CloudTrail's event
    /// history lags 5 to 15 minutes). Default and most: 900 (SQS's longest delay).
    pub delay_seconds: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            enabled: true,
            regions: Vec::new(),
            queue_url: None,
            delay_seconds: MAX_DELAY_SECONDS,
        }
    }
}

impl Options {
    /// Reads the `HUNT*` variables through `lookup`; a malformed one is an error naming it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let enabled = match set("HUNT").as_deref().map(str::trim) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => return Err(ConfigError::invalid("HUNT", "`true` or `false`", other)),
        };
        let regions = match set("HUNT_REGIONS") {
            None => Vec::new(),
            Some(text) => text
                .split(',')
                .map(str::trim)
                .map(|r| {
                    let parts: Vec<&str> = r.split('-').collect();
                    let ok = parts.len() >= 3
                        && parts.iter().all(|p| {
                            !p.is_empty()
                                && p.chars()
                                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                        })
                        && parts
                            .last()
                            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()));
                    ok.then(|| r.to_owned())
                        .ok_or_else(|| ConfigError::Regions {
                            variable: "HUNT_REGIONS",
                            value: text.clone(),
                            entry: r.to_owned(),
                        })
                })
                .collect::<Result<_, _>>()?,
        };
        let delay_seconds = match set("HUNT_DELAY_SECONDS") {
            None => MAX_DELAY_SECONDS,
            Some(text) => text
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|d| *d <= MAX_DELAY_SECONDS)
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "HUNT_DELAY_SECONDS",
                        format!(
                            "a whole number of seconds from 0 to {MAX_DELAY_SECONDS} (SQS's \
                             longest delay)"
                        ),
                        &text,
                    )
                })?,
        };
        Ok(Self {
            enabled,
            regions,
            queue_url: set("HUNT_QUEUE_URL").map(|u| u.trim().to_owned()),
            delay_seconds,
        })
    }

    /// The regions to read: the configured ones, else `home` and `us-east-1`.
    pub fn regions(&self, home: &str) -> Vec<String> {
        if !self.regions.is_empty() {
            return self.regions.clone();
        }
        let mut regions = vec![home.to_owned()];
        if home != "us-east-1" {
            regions.push("us-east-1".to_owned());
        }
        regions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Real-shaped CloudTrail records (the documented record format), one per kind and follow-up.
    fn fixture() -> Vec<Value> {
        let raw = include_str!("../fixtures/cloudtrail-hunt-records.json");
        serde_json::from_str(raw).expect("the fixture is JSON")
    }

    fn by_name(name: &str) -> Activity {
        fixture()
            .iter()
            .filter_map(classify)
            .find(|a| a.event_name.starts_with(name))
            .unwrap_or_else(|| panic!("{name} in the fixture"))
    }

    #[test]
    fn every_kind_is_classified_with_its_resource_and_follow_up() {
        let key = by_name("CreateAccessKey");
        assert_eq!(
            (key.kind, key.follow),
            (Kind::NewCredential, Follow::DeactivateKey)
        );
        assert_eq!(key.resource, "AKIAI44QH8DHBEXAMPLE");
        let user = by_name("CreateUser");
        assert_eq!(user.follow, Follow::ContainUser);
        assert_eq!(user.resource, "arn:aws:iam::111122223333:user/backup-svc");
        let login = by_name("CreateLoginProfile");
        assert_eq!(
            (login.follow, login.resource.as_str()),
            (Follow::ContainUser, "arn:aws:iam::111122223333:user/alice")
        );
        let attach = by_name("AttachUserPolicy");
        assert_eq!(
            (attach.kind, attach.follow),
            (Kind::PrivilegeChange, Follow::Report)
        );
        assert!(attach.advice.is_some());
        let assume = by_name("AssumeRole");
        assert_eq!(
            (assume.kind, assume.follow),
            (Kind::LateralMovement, Follow::CutRoleSessions)
        );
        assert_eq!(
            assume.resource,
            "arn:aws:iam::444455556666:role/OrganizationAccountAccessRole"
        );
        assert_eq!(assume.issued_key.as_deref(), Some("ASIAIOSFODNN7EXAMPLE"));
        let session = by_name("GetSessionToken");
        assert_eq!(session.follow, Follow::HuntKey);
        let stop = by_name("StopLogging");
        assert_eq!(
            (stop.kind, stop.resource.as_str()),
            (Kind::DefenceEvasion, "management-events")
        );
        assert!(stop.advice.unwrap().contains("start-logging"));
        let run = by_name("RunInstances");
        assert_eq!(
            (run.kind, run.resource.as_str()),
            (Kind::ComputePersistence, "i-0abcd1234ef567890")
        );
        let function = by_name("CreateFunction");
        assert_eq!(
            (function.kind, function.resource.as_str()),
            (Kind::ComputePersistence, "miner")
        );
        // Every record of the fixture is one the table names.
        assert!(fixture().iter().all(|r| classify(r).is_some()));
    }

    #[test]
    fn a_failed_call_is_reported_never_followed() {
        let mut record = fixture()
            .into_iter()
            .find(|r| r["eventName"] == "CreateAccessKey")
            .unwrap();
        record["errorCode"] = json!("AccessDenied");
        record["responseElements"] = Value::Null;
        let failed = classify(&record).unwrap();
        assert_eq!(failed.follow, Follow::Report);
        assert_eq!(failed.error.as_deref(), Some("AccessDenied"));
        assert_eq!(failed.issued_key, None);
        let mut assume = fixture()
            .into_iter()
            .find(|r| r["eventName"] == "AssumeRole")
            .unwrap();
        assume["errorCode"] = json!("AccessDenied");
        let denied = classify(&assume).unwrap();
        assert_eq!(
            (denied.follow, denied.issued_key),
            (Follow::Report, None),
            "no key to hunt from a refused call"
        );
    }

    #[test]
    fn events_outside_the_table_are_left_out() {
        let read =
            json!({"eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "eventID": "1"});
        assert_eq!(classify(&read), None);
        let other = json!({"eventSource": "s3.amazonaws.com", "eventName": "CreateUser"});
        assert_eq!(
            classify(&other),
            None,
            "a name is the table's only with its source"
        );
    }

    #[test]
    fn lookup_events_records_are_parsed_and_a_broken_one_is_named() {
        let answer = json!({"Events": [
            {"EventId": "a", "CloudTrailEvent": fixture()[0].to_string()},
            {"EventId": "b", "CloudTrailEvent": fixture()[1].to_string()}
        ]});
        assert_eq!(records(&answer).unwrap().len(), 2);
        let broken = json!({"Events": [{"EventId": "c", "CloudTrailEvent": "{not json"}]});
        assert!(
            records(&broken)
                .unwrap_err()
                .to_string()
                .contains("event c")
        );
        assert!(records(&json!({})).unwrap().is_empty());
    }

    fn other_key() -> Credential {
        Credential::key("AKIAJ7OTHERKEYEXAMPLE", "111122223333", None)
    }

    #[test]
    fn a_record_is_the_credentials_only_if_its_identity_says_so() {
        let record = fixture()
            .into_iter()
            .find(|r| r["eventName"] == "CreateUser")
            .unwrap();
        let key = record["userIdentity"]["accessKeyId"].as_str().unwrap();
        let arn = record["userIdentity"]["arn"].as_str().unwrap();
        let name = record["userIdentity"]["userName"].as_str().unwrap();
        assert!(is_by(&record, &Credential::key(key, "111122223333", None)));
        assert!(is_by(&record, &Credential::user(name, arn, "111122223333")));
        assert!(!is_by(&record, &other_key()), "another key");
        assert!(
            !is_by(&record, &Credential::key(key, "444455556666", None)),
            "another account's trail"
        );
        // CloudTrail's Username index also holds a role session named like the user: anyone who
        // may assume a role chooses the session name.
        let mut session = record.clone();
        session["userIdentity"] = json!({
            "type": "AssumedRole",
            "arn": format!("arn:aws:sts::111122223333:assumed-role/ops/{name}"),
            "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
        });
        assert!(!is_by(
            &session,
            &Credential::user(name, arn, "111122223333")
        ));
        // Nor is another user of the same name on another path.
        let mut other = record.clone();
        other["userIdentity"]["arn"] = json!(format!("arn:aws:iam::111122223333:user/x/{name}"));
        assert!(!is_by(&other, &Credential::user(name, arn, "111122223333")));
    }

    #[test]
    fn follow_ons_are_each_principal_once_with_every_cause_and_never_a_failed_call() {
        let mut activity: Vec<Activity> = fixture().iter().filter_map(classify).collect();
        let mut failed = activity
            .iter()
            .find(|a| a.event_name == "CreateUser")
            .unwrap()
            .clone();
        failed.error = Some("AccessDenied".into());
        failed.follow = Follow::Report;
        failed.principal = Some("arn:aws:iam::111122223333:user/victim".into());
        activity.push(failed);
        let follow = follow_ons(&activity, |_| false);
        let arns: Vec<&str> = follow.iter().map(|f| f.principal_arn.as_str()).collect();
        assert!(!arns.contains(&"arn:aws:iam::111122223333:user/victim"));
        assert!(arns.contains(&"arn:aws:iam::444455556666:role/OrganizationAccountAccessRole"));
        let backup = follow
            .iter()
            .find(|f| f.principal_arn.ends_with("user/backup-svc"))
            .unwrap();
        assert_eq!(
            arns.iter()
                .filter(|a| a.ends_with("user/backup-svc"))
                .count(),
            1
        );
        assert_eq!(backup.access_key_ids, ["AKIAI44QH8DHBEXAMPLE"]);
        assert!(
            backup.cause().contains("(CreateUser)") && backup.cause().contains("(CreateAccessKey)")
        );
        // Only what may be followed: reported kinds (a policy attached, a trail stopped) are not.
        assert!(follow.iter().all(|f| f.causes.iter().all(|(_, n)| {
            [
                "CreateUser",
                "CreateAccessKey",
                "CreateLoginProfile",
                "UpdateLoginProfile",
                "AssumeRole",
            ]
            .contains(&n.as_str())
        })));
        // The incident's own principals are not contained a second time.
        let none = follow_ons(&activity, |arn| arn.ends_with("user/backup-svc"));
        assert!(
            none.iter()
                .all(|f| !f.principal_arn.ends_with("user/backup-svc"))
        );
    }

    #[test]
    fn the_summary_counts_each_kind_and_says_each_event_in_a_line() {
        let activity: Vec<Activity> = fixture().iter().filter_map(classify).collect();
        let summary = Summary::default().of(&activity);
        assert_eq!(summary.events, activity.len());
        assert_eq!(summary.counts.values().sum::<usize>(), activity.len());
        assert_eq!(summary.counts[&Kind::DefenceEvasion], 1);
        let stop = summary
            .lines
            .iter()
            .find(|l| l.contains("StopLogging"))
            .unwrap();
        assert!(
            stop.contains("management-events") && stop.contains("start-logging"),
            "{stop}"
        );
    }

    #[test]
    fn hunt_settings_are_checked_and_named_when_wrong() {
        let options = |vars: &[(&str, &str)]| {
            Options::from_lookup(|name| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            })
            .map_err(|e| e.to_string())
        };
        let default = options(&[]).unwrap();
        assert!(default.enabled);
        assert_eq!(default.regions("eu-west-1"), ["eu-west-1", "us-east-1"]);
        assert_eq!(default.regions("us-east-1"), ["us-east-1"]);
        assert_eq!(default.delay_seconds, 900);
        let set = options(&[
            ("HUNT", "false"),
            ("HUNT_REGIONS", "eu-central-1, us-gov-west-1"),
            ("HUNT_DELAY_SECONDS", "0"),
            (
                "HUNT_QUEUE_URL",
                "https://sqs.us-east-1.amazonaws.com/1/hunt",
            ),
        ])
        .unwrap();
        assert!(!set.enabled);
        assert_eq!(set.regions("x"), ["eu-central-1", "us-gov-west-1"]);
        assert_eq!(set.delay_seconds, 0);
        for (name, value) in [
            ("HUNT", "yes"),
            ("HUNT_REGIONS", "us-east-1,Mars"),
            ("HUNT_REGIONS", "us-east-1;eu-west-1"),
            ("HUNT_DELAY_SECONDS", "901"),
            ("HUNT_DELAY_SECONDS", "-1"),
        ] {
            let err = options(&[(name, value)]).unwrap_err();
            assert!(err.contains(name) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn the_window_starts_at_first_use_else_creation_and_never_past_ninety_days() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let day = |d: i64| now - TimeDelta::days(d);
        assert_eq!(window(Some(day(3)), Some(day(400)), now), (day(3), now));
        assert_eq!(window(None, Some(day(10)), now), (day(10), now));
        assert_eq!(window(None, Some(day(400)), now), (day(90), now));
        assert_eq!(window(Some(day(200)), None, now), (day(90), now));
        assert_eq!(window(None, None, now), (day(90), now));
        assert_eq!(
            window(Some(now + TimeDelta::hours(1)), None, now),
            (now, now),
            "a claim of the future is now"
        );
    }
}
