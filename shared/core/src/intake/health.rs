//! AWS Health risk events: exposed, suspected or compromised credentials, and AWS's own quarantine.
//! Every affected entity is an access key id without its user, which the responder looks up.

use super::{Incident, Intake, Source, Target, Trigger, check_incident_id, digest, ignored};
use crate::error::InputError;
use crate::principal::check_access_key_id;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};

/// The event type codes Tourniquet acts on.
pub const RISK_CODES: [&str; 5] = [
    "AWS_RISK_CREDENTIALS_EXPOSED",
    "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
    "AWS_RISK_CREDENTIALS_COMPROMISED",
    "AWS_RISK_CREDENTIALS_COMPROMISE_SUSPECTED",
    "AWS_RISK_IAM_QUARANTINE",
];

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct HealthEvent {
    event_arn: String,
    event_type_code: String,
    #[serde(default)]
    affected_entities: Vec<Entity>,
    affected_account: Option<String>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entity {
    entity_value: String,
}

pub(super) fn parse(event: EventBridgeEvent<HealthEvent>) -> Result<Intake, InputError> {
    let detail = event.detail;
    let code = detail.event_type_code.as_str();
    if !RISK_CODES.contains(&code) {
        return ignored(format!("AWS Health event {code} is not a credential risk"));
    }
    if detail.affected_entities.is_empty() {
        return Err(InputError::new(
            "detail.affectedEntities",
            format!("empty: a {code} event must name the exposed access keys"),
        ));
    }
    let account = detail.affected_account.or(event.account);
    let mut targets = Vec::new();
    let mut skipped = Vec::new();
    for (i, entity) in detail.affected_entities.into_iter().enumerate() {
        let field = format!("detail.affectedEntities[{i}].entityValue");
        // One malformed entity must not keep the other leaked keys from being contained.
        match check_access_key_id(&entity.entity_value) {
            Ok(()) => targets.push(Target::key(entity.entity_value, account.clone())),
            Err(e) => skipped.push(InputError::new(&field, e)),
        }
    }
    if targets.is_empty()
        && let Some(first) = skipped.first()
    {
        return Err(first.clone());
    }
    // The backup copy from the second region carries the same event ARN: the same incident.
    let tail = detail.event_arn.rsplit('/').next().unwrap_or_default();
    let id = if check_incident_id("detail.eventArn", tail).is_ok() && tail.len() <= 100 {
        format!("health-{tail}")
    } else {
        format!("health-{}", digest(&detail.event_arn))
    };
    Ok(Intake::Incident(Box::new(Incident {
        reason: Some(detail.event_type_code),
        skipped,
        ..Incident::new(id, Source::Health, Trigger::Automatic, targets)
    })))
}
