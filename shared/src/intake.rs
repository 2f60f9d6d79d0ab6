//! Intake: turns an invocation payload (an EventBridge event or a responder's manual request) into
//! an [`Incident`], or says why the event is ignored. Pure: no AWS call happens here.

use crate::error::InputError;
use crate::principal::{Principal, check_access_key_id};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where an incident came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Source {
    /// A GuardDuty finding through EventBridge.
    #[serde(rename = "aws.guardduty")]
    GuardDuty,
    /// A responder's request, from the console's Test tab or an `aws lambda invoke`.
    #[serde(rename = "manual")]
    Manual,
}

/// A principal to contain, as the event names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The principal, when the event names it; `None` when only a key id is known.
    pub principal: Option<Principal>,
    /// Access key ids the event names as compromised.
    pub access_key_ids: Vec<String>,
}

/// A compromise to respond to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    /// Stable across replays of the same event: GuardDuty's finding id, or the request's own.
    pub id: String,
    /// Where it came from.
    pub source: Source,
    /// Why, in words, for the report and the tags.
    pub reason: Option<String>,
    /// The request asked for a plan only.
    pub dry_run: bool,
    /// The principals to contain.
    pub targets: Vec<Target>,
}

/// What an event amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intake {
    /// Something to act on.
    Incident(Incident),
    /// Nothing to do, and why (a sample finding, an archived one, an unrelated event).
    Ignored {
        /// Why the event is ignored, for the report.
        reason: String,
    },
}

/// Reads an invocation payload.
///
/// An EventBridge event of a source we do not act on is ignored; a malformed event of a source we
/// do act on, or a malformed manual request, is an error naming the field.
pub fn parse(event: &Value) -> Result<Intake, InputError> {
    let Some(object) = event.as_object() else {
        return Err(InputError::new(
            "(event)",
            "expected a JSON object: an EventBridge event or a manual request",
        ));
    };
    if object.contains_key("detail-type") || object.contains_key("source") {
        let envelope: EventBridgeEvent<Value> = deserialize(event)?;
        match envelope.source.as_str() {
            "aws.guardduty" => guardduty(deserialize(event)?),
            other => Ok(Intake::Ignored {
                reason: format!(
                    "events from `{other}` ({}) are not compromise signals Tourniquet acts on",
                    envelope.detail_type
                ),
            }),
        }
    } else {
        manual(deserialize(event)?)
    }
}

/// Deserializes with the JSON path of the offending field in the error.
fn deserialize<T: DeserializeOwned>(event: &Value) -> Result<T, InputError> {
    serde_path_to_error::deserialize(event).map_err(|err| {
        let path = err.path().to_string();
        let field = if path == "." {
            "(event)".to_string()
        } else {
            path
        };
        InputError::new(field, err.into_inner().to_string())
    })
}

/// The manual request of the public contract.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualRequest {
    principal_arn: Option<String>,
    access_key_id: Option<String>,
    incident_id: Option<String>,
    reason: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

fn manual(request: ManualRequest) -> Result<Intake, InputError> {
    if request.principal_arn.is_none() && request.access_key_id.is_none() {
        return Err(InputError::new(
            "principal_arn",
            "give `principal_arn` (an IAM user or role ARN), `access_key_id`, or both",
        ));
    }
    let principal = request
        .principal_arn
        .as_deref()
        .map(Principal::parse_arn)
        .transpose()
        .map_err(|e| InputError::new("principal_arn", e))?;
    if let Some(key) = &request.access_key_id {
        check_access_key_id(key).map_err(|e| InputError::new("access_key_id", e))?;
        if principal.is_none() && key.starts_with("ASIA") {
            return Err(InputError::new(
                "access_key_id",
                format!(
                    "{key} is a temporary (STS) key, whose role IAM cannot look up: name the role \
                     with `principal_arn` (CloudTrail's userIdentity.sessionContext.sessionIssuer \
                     shows it)"
                ),
            ));
        }
    }
    let id = match request.incident_id {
        Some(id) => check_incident_id(&id).map(|()| id)?,
        // The same request replayed gets the same id, so it is recognised as the same incident.
        None => {
            let seed = format!(
                "{}|{}",
                request.principal_arn.as_deref().unwrap_or_default(),
                request.access_key_id.as_deref().unwrap_or_default()
            );
            format!("manual-{}", &hex::encode(Sha256::digest(seed))[..16])
        }
    };
    Ok(Intake::Incident(Incident {
        id,
        source: Source::Manual,
        reason: request.reason,
        dry_run: request.dry_run,
        targets: vec![Target {
            principal,
            access_key_ids: request.access_key_id.into_iter().collect(),
        }],
    }))
}

/// Incident ids become S3 key segments and tag values: keep them to a safe alphabet.
fn check_incident_id(id: &str) -> Result<(), InputError> {
    let valid = (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(InputError::new(
            "incident_id",
            format!("`{id}` must be 1-128 letters, digits, `.`, `_` or `-`"),
        ))
    }
}

/// The parts of a GuardDuty finding (EventBridge `detail`) that decide what to contain.
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Finding {
    id: String,
    account_id: String,
    #[serde(rename = "type")]
    finding_type: String,
    resource: FindingResource,
    #[serde(default)]
    service: FindingService,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct FindingResource {
    resource_type: String,
    access_key_details: Option<AccessKeyDetails>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct AccessKeyDetails {
    access_key_id: Option<String>,
    user_name: String,
    user_type: String,
}

#[derive(Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct FindingService {
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    additional_info: Value,
}

fn guardduty(event: EventBridgeEvent<Finding>) -> Result<Intake, InputError> {
    let finding = event.detail;
    let ignored = |reason: String| Ok(Intake::Ignored { reason });
    if finding.service.additional_info.get("sample") == Some(&Value::Bool(true)) {
        return ignored(format!(
            "GuardDuty finding {} is a sample finding",
            finding.id
        ));
    }
    if finding.service.archived {
        return ignored(format!("GuardDuty finding {} is archived", finding.id));
    }
    if finding.resource.resource_type != "AccessKey" {
        return ignored(format!(
            "GuardDuty finding {} ({}) is about a {}, not IAM credentials",
            finding.id, finding.finding_type, finding.resource.resource_type
        ));
    }
    let Some(details) = finding.resource.access_key_details else {
        return Err(InputError::new(
            "detail.resource.accessKeyDetails",
            "missing: an AccessKey finding must say whose credentials they are",
        ));
    };
    let account = finding.account_id.as_str();
    let principal = match details.user_type.as_str() {
        "IAMUser" => Principal::user(account, &details.user_name),
        "AssumedRole" => Principal::role(account, &details.user_name),
        "Root" => Principal::root(account),
        other => {
            return ignored(format!(
                "GuardDuty finding {} is about a `{other}` identity, which IAM cannot contain",
                finding.id
            ));
        }
    }
    .map_err(|e| InputError::new("detail.resource.accessKeyDetails.userName", e))?;
    // GuardDuty fills in a placeholder where it has no key id.
    let key = details
        .access_key_id
        .filter(|k| check_access_key_id(k).is_ok());
    check_incident_id(&finding.id).map_err(|e| InputError::new("detail.id", e.message))?;
    Ok(Intake::Incident(Incident {
        id: format!("guardduty-{}", finding.id),
        source: Source::GuardDuty,
        reason: Some(finding.finding_type),
        dry_run: false,
        targets: vec![Target {
            principal: Some(principal),
            access_key_ids: key.into_iter().collect(),
        }],
    }))
}
