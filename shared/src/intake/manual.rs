//! The manual request of the public contract, as a responder types it into the console.

use super::{Incident, Intake, Source, Target, check_incident_id, digest};
use crate::error::InputError;
use crate::principal::{Principal, check_access_key_id};
use serde::Deserialize;
use serde_json::Value;

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

pub(super) fn parse(event: &Value) -> Result<Intake, InputError> {
    let request: ManualRequest = super::deserialize(event)?;
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
        Some(id) => check_incident_id("incident_id", &id).map(|()| id)?,
        // The same request replayed gets the same id, so it is recognised as the same incident.
        None => format!(
            "manual-{}",
            digest(&format!(
                "{}|{}",
                request.principal_arn.as_deref().unwrap_or_default(),
                request.access_key_id.as_deref().unwrap_or_default()
            ))
        ),
    };
    let keys = request.access_key_id.clone().into_iter();
    let target = match principal {
        Some(p) => Target::principal(p, keys),
        None => Target::key(request.access_key_id.unwrap_or_default(), None),
    };
    Ok(Intake::Incident(Incident {
        id,
        source: Source::Manual,
        reason: request.reason,
        dry_run: request.dry_run,
        targets: vec![target],
    }))
}
