//! Intake: turns an invocation payload (an EventBridge event or a responder's manual request) into
//! an [`Incident`], or says why the event is ignored. Pure: no AWS call happens here.
//!
//! Each source has its module. The event types are our own serde structs, not
//! `aws_lambda_events`': that crate has no GuardDuty or Security Hub types, its Health type rejects
//! real events that lack `tags`, and its CloudTrail `UserIdentity` has no `accessKeyId`.

mod cloudtrail;
mod guardduty;
mod health;
mod manual;

pub use manual::{ReleaseRequest, parse_release};
mod securityhub;

use crate::error::InputError;
use crate::principal::Principal;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where an incident came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Source {
    /// A GuardDuty finding.
    #[serde(rename = "aws.guardduty")]
    GuardDuty,
    /// An AWS Health risk event (exposed or compromised credentials).
    #[serde(rename = "aws.health")]
    Health,
    /// Security Hub findings (a custom action, or imported findings).
    #[serde(rename = "aws.securityhub")]
    SecurityHub,
    /// A CloudTrail event through EventBridge: the acting principal is the target.
    #[serde(rename = "cloudtrail")]
    CloudTrail,
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
    /// For a key without a principal: the account the event says it belongs to.
    pub account_id: Option<String>,
}

impl Target {
    fn principal(principal: Principal, keys: impl IntoIterator<Item = String>) -> Self {
        Self {
            principal: Some(principal),
            access_key_ids: keys.into_iter().collect(),
            account_id: None,
        }
    }

    fn key(key: String, account_id: Option<String>) -> Self {
        Self {
            principal: None,
            access_key_ids: vec![key],
            account_id,
        }
    }
}

/// A compromise to respond to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    /// Stable across replays of the same event (GuardDuty's finding id, Health's event ARN, ...).
    pub id: String,
    /// Where it came from.
    pub source: Source,
    /// Why, in words, for the report.
    pub reason: Option<String>,
    /// The request asked for a plan only.
    pub dry_run: bool,
    /// The principals to contain, each once.
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

fn ignored(reason: impl Into<String>) -> Result<Intake, InputError> {
    Ok(Intake::Ignored {
        reason: reason.into(),
    })
}

/// What intake needs from the configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Findings below this severity (GuardDuty's 0-10 scale; Security Hub's normalized 0-100 is
    /// divided by 10) are ignored. `SEVERITY_THRESHOLD`, default 4.0: Medium and above.
    pub severity_threshold: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            severity_threshold: 4.0,
        }
    }
}

/// Reads an invocation payload.
///
/// An EventBridge event of a source or type we do not act on is ignored; a malformed event of one
/// we do act on, or a malformed manual request, is an error naming the field.
pub fn parse(event: &Value, options: &Options) -> Result<Intake, InputError> {
    let Some(object) = event.as_object() else {
        return Err(InputError::new(
            "(event)",
            "expected a JSON object: an EventBridge event or a manual request",
        ));
    };
    if !(object.contains_key("detail-type") || object.contains_key("source")) {
        return manual::parse(event);
    }
    let envelope: EventBridgeEvent<Value> = deserialize(event)?;
    let intake = match (envelope.source.as_str(), envelope.detail_type.as_str()) {
        ("aws.guardduty", "GuardDuty Finding") => guardduty::parse(deserialize(event)?, options),
        ("aws.health", "AWS Health Event") => health::parse(deserialize(event)?),
        (
            "aws.securityhub",
            "Security Hub Findings - Custom Action" | "Security Hub Findings - Imported",
        ) => securityhub::parse(deserialize(event)?, options),
        (_, "AWS API Call via CloudTrail" | "AWS Console Sign In via CloudTrail") => {
            cloudtrail::parse(deserialize(event)?)
        }
        (source, detail_type) => ignored(format!(
            "`{source}` events of type `{detail_type}` are not compromise signals Tourniquet acts on"
        )),
    }?;
    Ok(match intake {
        Intake::Incident(mut incident) => {
            merge_targets(&mut incident.targets);
            if incident.targets.is_empty() {
                Intake::Ignored {
                    reason: format!("incident {} names no IAM principal", incident.id),
                }
            } else {
                Intake::Incident(incident)
            }
        }
        ignored => ignored,
    })
}

/// One target per principal (and per lone key), keys merged, in first-seen order.
fn merge_targets(targets: &mut Vec<Target>) {
    let mut merged: Vec<Target> = Vec::new();
    for target in targets.drain(..) {
        let same = merged
            .iter_mut()
            .find(|m| match (&m.principal, &target.principal) {
                (Some(a), Some(b)) => a.same_as(b),
                (None, None) => m.access_key_ids == target.access_key_ids,
                _ => false,
            });
        match same {
            Some(existing) => {
                for key in target.access_key_ids {
                    if !existing.access_key_ids.contains(&key) {
                        existing.access_key_ids.push(key);
                    }
                }
            }
            None => merged.push(target),
        }
    }
    *targets = merged;
}

/// Deserializes with the JSON path of the offending field in the error.
fn deserialize<T: DeserializeOwned>(event: &Value) -> Result<T, InputError> {
    serde_path_to_error::deserialize(event).map_err(|err| {
        let path = err.path().to_string();
        let field = if path.is_empty() || path == "." {
            "(event)".to_string()
        } else {
            path
        };
        InputError::new(field, err.into_inner().to_string())
    })
}

/// Incident ids become S3 key segments and tag values: letters, digits, `.`, `_`, `-`.
fn check_incident_id(field: &str, id: &str) -> Result<(), InputError> {
    let valid = (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(InputError::new(
            field,
            format!("`{id}` must be 1-128 letters, digits, `.`, `_` or `-`"),
        ))
    }
}

/// A short, stable id from text that may hold any character (ARNs, several finding ids).
fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text))[..16].to_string()
}

/// The principal an ARN names, or an error about `field`.
fn principal_at(field: &str, arn: &str) -> Result<Principal, InputError> {
    Principal::parse_arn(arn).map_err(|e| InputError::new(field, e))
}
