//! The hunt's core (pure): what a stolen credential did, read from CloudTrail records, and what
//! Tourniquet may do about each thing it finds. The classification table maps an event to a kind of
//! persistence and to the one follow-up the hunt may take; everything that is not a credential or a
//! principal is reported with the command a human would run, never changed.
//!
//! Only a call that succeeded (no `errorCode`) may lead to a containment: a spray of failed calls
//! must not aim Tourniquet at anyone. The search window runs from the credential's first suspicious
//! use (or its creation) to now, never more than CloudTrail's 90 days of event history.
//!
//! Not yet wired into `contain`: the responder's `LookupEvents` reads, the follow-on targets and the
//! report's `activity` are the next step.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

/// CloudTrail's event history: `LookupEvents` sees 90 days back at most.
pub const HISTORY_DAYS: i64 = 90;

/// What an event left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
    /// `errorCode`, for a call that failed: reported, never followed.
    pub error: Option<String>,
    /// A new access key id it issued (AssumeRole, GetSessionToken, GetFederationToken,
    /// CreateAccessKey), to hunt as well.
    pub issued_key: Option<String>,
    /// For what is only reported: the command a human would run to look at it or undo it.
    pub advice: Option<String>,
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
    let resource = match name {
        "CreateUser" => text(record, &["responseElements", "user", "arn"])
            .map(str::to_owned)
            .or_else(|| request("userName").map(user_arn)),
        "CreateAccessKey" => issued_key.clone(),
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
    .unwrap_or_default();
    let error = text(record, &["errorCode"]).map(str::to_owned);
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
        error,
        issued_key: issued_key.filter(|_| text(record, &["errorCode"]).is_none()),
    })
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
pub fn records(lookup_events: &Value) -> Result<Vec<Value>, String> {
    lookup_events["Events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let id = e["EventId"].as_str().unwrap_or("?");
            let raw = e["CloudTrailEvent"]
                .as_str()
                .ok_or_else(|| format!("LookupEvents event {id}: no CloudTrailEvent"))?;
            serde_json::from_str(raw).map_err(|err| {
                format!("LookupEvents event {id}: CloudTrailEvent is not JSON: {err}")
            })
        })
        .collect()
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
        assert!(records(&broken).unwrap_err().contains("event c"));
        assert!(records(&json!({})).unwrap().is_empty());
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
