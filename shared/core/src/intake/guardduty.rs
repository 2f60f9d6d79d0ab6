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
use std::ops::ControlFlow;

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
    let mut finding = event.detail;
    let id = finding.id.clone();
    if let Some(why) = not_acted_on(&finding, options) {
        return ignored(format!("GuardDuty finding {id} {why}"));
    }
    check_incident_id("detail.id", &id)?;
    crate::principal::check_partition(&finding.partition)
        .map_err(|e| InputError::new("detail.partition", e))?;
    let (targets, skipped) = if finding.finding_type.starts_with("AttackSequence:IAM/") {
        sequence_targets(&mut finding)?
    } else if finding.resource.resource_type == "AccessKey" {
        match access_key_target(&finding)? {
            ControlFlow::Continue(target) => (vec![target], Vec::new()),
            ControlFlow::Break(intake) => return Ok(intake),
        }
    } else {
        return ignored(format!(
            "GuardDuty finding {id} ({}) is about a {}, not IAM credentials",
            finding.finding_type, finding.resource.resource_type
        ));
    };
    Ok(Intake::Incident(Box::new(Incident {
        skipped,
        ..incident(&finding, targets)
    })))
}

/// Why the finding is not acted on (a sample, archived, below `SEVERITY_THRESHOLD`), as the end of
/// a sentence about it.
fn not_acted_on(finding: &Finding, options: &Options) -> Option<String> {
    if let Some(why) = sample(finding) {
        return Some(why);
    }
    if finding.service.archived {
        return Some("is archived".into());
    }
    (finding.severity < options.severity_threshold).then(|| {
        format!(
            "has severity {} (below the threshold {}, SEVERITY_THRESHOLD)",
            finding.severity, options.severity_threshold
        )
    })
}

/// The incident of `finding` with `targets`: its id, reason, times and severity.
fn incident(finding: &Finding, targets: Vec<Target>) -> Incident {
    Incident {
        reason: Some(finding.finding_type.clone()),
        last_seen: timestamp(finding.service.event_last_seen.as_deref()),
        first_seen: timestamp(finding.service.event_first_seen.as_deref()),
        severity: Some(super::severity_label(finding.severity).into()),
        ..Incident::new(
            format!("guardduty-{}", finding.id),
            Source::GuardDuty,
            Trigger::Automatic,
            targets,
        )
    }
}

/// The actors of an attack sequence, and the errors of the actors that could not be read: an
/// error only when no actor could be.
fn sequence_targets(finding: &mut Finding) -> Result<(Vec<Target>, Vec<InputError>), InputError> {
    let Some(sequence) = finding.service.detection.take().and_then(|d| d.sequence) else {
        return Err(InputError::new(
            "detail.service.detection.sequence",
            "missing: an attack sequence finding must list its actors",
        ));
    };
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for (i, actor) in sequence.actors.into_iter().enumerate() {
        let Some(user) = actor.user else { continue };
        let field = format!("detail.service.detection.sequence.actors[{i}].user.name");
        let account = user
            .account
            .as_ref()
            .map_or(finding.account_id.as_str(), |a| a.uid.as_str());
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
    Ok((targets, skipped))
}

/// The principal of an `AccessKey` finding, or (`Break`) what the finding is instead: an
/// Identity Center user's incident, or ignored.
fn access_key_target(finding: &Finding) -> Result<ControlFlow<Intake, Target>, InputError> {
    let Some(details) = &finding.resource.access_key_details else {
        return Err(InputError::new(
            "detail.resource.accessKeyDetails",
            "missing: an AccessKey finding must say whose credentials they are",
        ));
    };
    let field = "detail.resource.accessKeyDetails.userName";
    let principal = principal(
        &finding.partition,
        &finding.account_id,
        &details.user_type,
        &details.user_name,
        field,
    )?;
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
        return Ok(ControlFlow::Break(Intake::Incident(Box::new(Incident {
            identity_center_users: vec![crate::identity_center::UserClaim {
                user: user.to_owned(),
                seen_as: principal.map(|r| r.arn()),
                from_session: true,
            }],
            ..incident(finding, Vec::new())
        }))));
    }
    match principal {
        Some(p) => Ok(ControlFlow::Continue(Target::principal(
            p,
            key(details.access_key_id.clone()),
        ))),
        None => ignored(format!(
            "GuardDuty finding {} is about a `{}` identity, which IAM cannot contain",
            finding.id, details.user_type
        ))
        .map(ControlFlow::Break),
    }
}
