//! GuardDuty findings: every IAM credential finding (`resourceType: AccessKey`) and the extended
//! threat detection sequence `AttackSequence:IAM/CompromisedCredentials`.

use super::{
    Incident, Intake, Options, Source, Target, Trigger, check_incident_id, ignored, timestamp,
};
use crate::error::InputError;
use crate::principal::{Principal, check_access_key_id};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The parts of a finding (EventBridge `detail`) that decide what to contain.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Finding {
    id: String,
    /// The principal's account; the envelope's `account` may be the delegated administrator.
    account_id: String,
    /// The principal's partition (`aws`, `aws-cn`, `aws-us-gov`).
    #[serde(default = "default_partition")]
    partition: String,
    #[serde(rename = "type")]
    finding_type: String,
    severity: f64,
    resource: Resource,
    #[serde(default)]
    service: Service,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    resource_type: String,
    access_key_details: Option<AccessKeyDetails>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessKeyDetails {
    access_key_id: Option<String>,
    principal_id: Option<String>,
    user_name: String,
    user_type: String,
}

#[derive(Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    additional_info: Value,
    #[serde(default)]
    detection: Option<Detection>,
    event_last_seen: Option<String>,
    event_first_seen: Option<String>,
}

#[derive(Deserialize, Serialize)]
struct Detection {
    sequence: Option<Sequence>,
}

#[derive(Deserialize, Serialize)]
struct Sequence {
    #[serde(default)]
    actors: Vec<Actor>,
}

#[derive(Deserialize, Serialize)]
struct Actor {
    user: Option<ActorUser>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct ActorUser {
    name: String,
    #[serde(rename = "type")]
    user_type: String,
    credential_uid: Option<String>,
    account: Option<ActorAccount>,
}

#[derive(Deserialize, Serialize)]
struct ActorAccount {
    uid: String,
}

fn default_partition() -> String {
    "aws".into()
}

/// The principal GuardDuty names by `userType` and `userName` (for `AssumedRole`, the role name).
fn principal(
    partition: &str,
    account: &str,
    user_type: &str,
    user_name: &str,
    field: &str,
) -> Result<Option<Principal>, InputError> {
    let principal = match user_type {
        "IAMUser" => Principal::user(account, user_name),
        "AssumedRole" => Principal::role(account, user_name),
        "Root" => Principal::root(account),
        _ => return Ok(None),
    };
    principal
        .and_then(|p| p.in_partition(partition))
        .map(Some)
        .map_err(|e| InputError::new(field, e))
}

/// GuardDuty fills in a placeholder (`GeneratedFindingAccessKeyId`) where it has no key id.
fn key(id: Option<String>) -> Option<String> {
    id.filter(|k| check_access_key_id(k).is_ok())
}

/// The prefix of every placeholder GuardDuty puts in a sample finding
/// (`GeneratedFindingUserName`, `GeneratedFindingAccessKeyId`, `GeneratedFindingPrincipalId`).
const SAMPLE_PLACEHOLDER: &str = "GeneratedFinding";

/// Why a finding is one of GuardDuty's samples: the `sample` flag, which `additionalInfo` carries
/// either as an object or as `{"value": "<JSON text>", "type": "default"}`, or a placeholder where
/// the principal or its key should be (a sample with its flag stripped is still a sample).
fn sample(finding: &Finding) -> Option<String> {
    let info = &finding.service.additional_info;
    let unwrapped = info
        .get("value")
        .and_then(Value::as_str)
        .and_then(|text| serde_json::from_str::<Value>(text).ok());
    let flagged = [Some(info), unwrapped.as_ref()]
        .into_iter()
        .flatten()
        .any(|info| {
            matches!(info.get("sample"), Some(Value::Bool(true)))
                || info.get("sample").and_then(Value::as_str) == Some("true")
        });
    if flagged {
        return Some("is a sample finding (service.additionalInfo.sample)".into());
    }
    let details = finding.resource.access_key_details.as_ref();
    let placeholders = details
        .into_iter()
        .flat_map(|d| {
            [
                Some(&d.user_name),
                d.access_key_id.as_ref(),
                d.principal_id.as_ref(),
            ]
        })
        .flatten()
        .chain(finding.service.detection.iter().flat_map(|d| {
            d.sequence.iter().flat_map(|s| {
                s.actors
                    .iter()
                    .filter_map(|a| a.user.as_ref())
                    .flat_map(|u| [Some(&u.name), u.credential_uid.as_ref()])
                    .flatten()
            })
        }));
    for value in placeholders {
        if value.starts_with(SAMPLE_PLACEHOLDER) {
            return Some(format!(
                "names `{value}`, a placeholder of GuardDuty's sample findings"
            ));
        }
    }
    None
}

pub(super) fn parse(
    event: EventBridgeEvent<Finding>,
    options: &Options,
) -> Result<Intake, InputError> {
    let finding = event.detail;
    let id = &finding.id;
    if let Some(why) = sample(&finding) {
        return ignored(format!("GuardDuty finding {id} {why}"));
    }
    if finding.service.archived {
        return ignored(format!("GuardDuty finding {id} is archived"));
    }
    if finding.severity < options.severity_threshold {
        return ignored(format!(
            "GuardDuty finding {id} has severity {} (below the threshold {}, SEVERITY_THRESHOLD)",
            finding.severity, options.severity_threshold
        ));
    }
    check_incident_id("detail.id", id)?;
    crate::principal::check_partition(&finding.partition)
        .map_err(|e| InputError::new("detail.partition", e))?;
    let account = finding.account_id.as_str();
    let last_seen = timestamp(finding.service.event_last_seen.as_deref());
    let first_seen = timestamp(finding.service.event_first_seen.as_deref());
    let mut skipped = Vec::new();
    let targets = if finding.finding_type.starts_with("AttackSequence:IAM/") {
        let Some(sequence) = finding.service.detection.and_then(|d| d.sequence) else {
            return Err(InputError::new(
                "detail.service.detection.sequence",
                "missing: an attack sequence finding must list its actors",
            ));
        };
        let mut targets = Vec::new();
        for (i, actor) in sequence.actors.into_iter().enumerate() {
            let Some(user) = actor.user else { continue };
            let field = format!("detail.service.detection.sequence.actors[{i}].user.name");
            let account = user.account.as_ref().map_or(account, |a| a.uid.as_str());
            // One malformed actor must not keep the others from being contained.
            match principal(
                &finding.partition,
                account,
                &user.user_type,
                &user.name,
                &field,
            ) {
                Ok(Some(p)) => targets.push(Target::principal(p, key(user.credential_uid))),
                Ok(None) => {}
                Err(err) => skipped.push(err),
            }
        }
        if targets.is_empty()
            && let Some(first) = skipped.first()
        {
            return Err(first.clone());
        }
        targets
    } else if finding.resource.resource_type == "AccessKey" {
        let Some(details) = finding.resource.access_key_details else {
            return Err(InputError::new(
                "detail.resource.accessKeyDetails",
                "missing: an AccessKey finding must say whose credentials they are",
            ));
        };
        let field = "detail.resource.accessKeyDetails.userName";
        // A session of an Identity Center role is a user of Identity Center: the session name
        // (after the colon of `principalId`) is their user name. The role itself stays IAM's to
        // refuse: without a session name nobody can tell whose session it was.
        if details.user_type == "AssumedRole"
            && crate::identity_center::is_identity_center_role(&details.user_name)
            && let Some(user) = details
                .principal_id
                .as_deref()
                .and_then(crate::identity_center::session_user)
        {
            let role = principal(
                &finding.partition,
                account,
                &details.user_type,
                &details.user_name,
                field,
            )?;
            return Ok(Intake::Incident(Box::new(Incident {
                reason: Some(finding.finding_type),
                last_seen,
                first_seen,
                severity: Some(super::severity_label(finding.severity).into()),
                identity_center_users: vec![crate::identity_center::UserClaim {
                    user: user.to_owned(),
                    seen_as: role.map(|r| r.arn()),
                    from_session: true,
                }],
                ..Incident::new(
                    format!("guardduty-{id}"),
                    Source::GuardDuty,
                    Trigger::Automatic,
                    Vec::new(),
                )
            })));
        }
        match principal(
            &finding.partition,
            account,
            &details.user_type,
            &details.user_name,
            field,
        )? {
            Some(p) => vec![Target::principal(p, key(details.access_key_id))],
            None => {
                return ignored(format!(
                    "GuardDuty finding {id} is about a `{}` identity, which IAM cannot contain",
                    details.user_type
                ));
            }
        }
    } else {
        return ignored(format!(
            "GuardDuty finding {id} ({}) is about a {}, not IAM credentials",
            finding.finding_type, finding.resource.resource_type
        ));
    };
    Ok(Intake::Incident(Box::new(Incident {
        reason: Some(finding.finding_type),
        last_seen,
        first_seen,
        skipped,
        severity: Some(super::severity_label(finding.severity).into()),
        ..Incident::new(
            format!("guardduty-{id}"),
            Source::GuardDuty,
            Trigger::Automatic,
            targets,
        )
    })))
}
