//! The manual request of the public contract, as a responder types it into the console.

use super::{Incident, Intake, Source, Target, Trigger, check_incident_id, digest};
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
    /// Read by [`super::parse`] for every payload; accepted here so it is not an unknown field.
    #[serde(default, rename = "max_principals")]
    _max_principals: Option<Value>,
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
        reason: request.reason,
        dry_run: request.dry_run,
        ..Incident::new(id, Source::Manual, Trigger::Human, vec![target])
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    principal_arn: Option<String>,
    incident_id: Option<String>,
    #[serde(default)]
    reactivate_access_keys: Vec<String>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    dry_run: bool,
    reason: Option<String>,
}

/// What `release` is asked to undo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// The principal to release.
    pub principal: Principal,
    /// The containment to undo.
    pub incident_id: String,
    /// Keys named as compromised to set Active again (by default they stay inactive).
    pub reactivate_access_keys: Vec<String>,
    /// Release despite drift, undoing only what still matches the ledger.
    pub force: bool,
    /// Plan only.
    pub dry_run: bool,
    /// Why, for the report.
    pub reason: Option<String>,
}

/// Reads a release request:
/// `{"principal_arn": ..., "incident_id": ..., "reactivate_access_keys": [...], "force": false, "dry_run": true}`.
pub fn parse_release(event: &Value) -> Result<ReleaseRequest, InputError> {
    if !event.is_object() {
        return Err(InputError::new(
            "(event)",
            "expected a JSON object: a release request",
        ));
    }
    let body: ReleaseBody = super::deserialize(event)?;
    let Some(arn) = body.principal_arn else {
        return Err(InputError::new(
            "principal_arn",
            "missing: name the user or role to release",
        ));
    };
    let principal = Principal::parse_arn(&arn).map_err(|e| InputError::new("principal_arn", e))?;
    let Some(incident_id) = body.incident_id else {
        return Err(InputError::new(
            "incident_id",
            "missing: name the containment to undo (the principal's tourniquet:incident tag)",
        ));
    };
    check_incident_id("incident_id", &incident_id)?;
    for (i, key) in body.reactivate_access_keys.iter().enumerate() {
        check_access_key_id(key)
            .map_err(|e| InputError::new(format!("reactivate_access_keys[{i}]"), e))?;
    }
    Ok(ReleaseRequest {
        principal,
        incident_id,
        reactivate_access_keys: body.reactivate_access_keys,
        force: body.force,
        dry_run: body.dry_run,
        reason: body.reason,
    })
}
