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

pub use manual::{
    IdentityCenterRelease, ReleaseRequest, parse_identity_center_release, parse_release,
};
mod securityhub;

use crate::error::{ConfigError, InputError};
use crate::principal::Principal;
use crate::setting;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Where an incident came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
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

impl Source {
    /// The name in reports (`aws.guardduty`, ..., `cloudtrail`, `manual`), as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::GuardDuty => "aws.guardduty",
            Source::Health => "aws.health",
            Source::SecurityHub => "aws.securityhub",
            Source::CloudTrail => "cloudtrail",
            Source::Manual => "manual",
        }
    }
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
    /// A target naming `principal` and the keys the event names for it.
    pub fn principal(principal: Principal, keys: impl IntoIterator<Item = String>) -> Self {
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

/// Who chose the principals an incident names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// An AWS detection, delivered by an EventBridge rule with nobody in the loop.
    Automatic,
    /// A human: a Security Hub custom action on findings they selected, or a manual request.
    Human,
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
    /// Whether a detection or a human chose the targets.
    pub trigger: Trigger,
    /// When the signal last saw the activity (GuardDuty's `eventLastSeen`, Security Hub's
    /// `LastObservedAt`): later than a release of the same incident, it is new activity.
    pub last_seen: Option<DateTime<Utc>>,
    /// When the signal first saw the activity (GuardDuty's `eventFirstSeen`, Security Hub's
    /// `FirstObservedAt`): where the hunt's window starts ([`crate::hunt::window`]).
    pub first_seen: Option<DateTime<Utc>>,
    /// The hunt function's request: credentials to hunt besides the targets', and which hunt.
    pub hunt: Option<Box<crate::hunt::Seeds>>,
    /// Malformed entities of an otherwise valid event, left out of `targets` (field named).
    pub skipped: Vec<InputError>,
    /// A human's cap for this invocation (`max_principals` in the payload), replacing
    /// `MAX_PRINCIPALS_PER_EVENT`.
    pub max_principals: Option<usize>,
    /// The severity its source gave it (`LOW` .. `CRITICAL`, see [`severity_label`]), if any.
    pub severity: Option<String>,
    /// The Security Hub findings acted on, to update with what was done.
    pub findings: Vec<FindingRef>,
    /// When every imported finding acted on carries Tourniquet's own mark for one incident
    /// (`UserDefinedFields` `tourniquet:incident`): that incident. Security Hub re-emits a finding
    /// Tourniquet updated; the responder ignores it only if its ledger shows the update (anyone
    /// allowed `securityhub:BatchUpdateFindings` can write the mark).
    pub echo_of: Option<String>,
    /// An organization-wide request: one principal in every account of a set, resolved by the
    /// responder through AWS Organizations into `targets`.
    pub across: Option<Box<Across>>,
    /// Identity Center users to contain in Identity Center (a finding's `AWSReservedSSO_`
    /// session, a manual request's `identity_center_user`), each once.
    pub identity_center_users: Vec<crate::identity_center::UserClaim>,
}

/// The same principal in many accounts, as a manual request names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Across {
    /// The principal, with a placeholder account (`000000000000`): see [`Across::in_account`].
    pub principal: Principal,
    /// Which accounts.
    pub accounts: AccountSet,
}

impl Across {
    /// The principal in `account`, in `partition`.
    pub fn in_account(&self, account: &str, partition: &str) -> Principal {
        Principal {
            account_id: account.to_owned(),
            partition: partition.to_owned(),
            ..self.principal.clone()
        }
    }

    /// The principal without an account (`role/ci-deployer`), for messages.
    pub fn name(&self) -> String {
        let arn = self.principal.arn();
        arn.split_once(":iam::000000000000:")
            .map_or(arn.clone(), |(_, name)| name.to_owned())
    }
}

/// The accounts an organization-wide request selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccountSet {
    /// Every active account of the organization (`organizations:ListAccounts`).
    All,
    /// These accounts.
    Listed(Vec<String>),
    /// Every active account under this organizational unit or root, nested units included.
    Ou(String),
}

/// A Security Hub finding's identifiers (what `BatchUpdateFindings` takes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindingRef {
    /// The finding's `Id`.
    pub id: String,
    /// The finding's `ProductArn`.
    pub product_arn: String,
}

/// A severity label from a score on GuardDuty's 0-10 scale (GuardDuty's own ranges; Security
/// Hub's normalized 0-100 divided by 10 falls in the same bands as its labels).
pub fn severity_label(score: f64) -> &'static str {
    match score {
        s if s >= 9.0 => "CRITICAL",
        s if s >= 7.0 => "HIGH",
        s if s >= 4.0 => "MEDIUM",
        s if s >= 1.0 => "LOW",
        _ => "INFORMATIONAL",
    }
}

impl Incident {
    /// An incident with the defaults a parser fills in only where it knows better.
    pub fn new(id: String, source: Source, trigger: Trigger, targets: Vec<Target>) -> Self {
        Self {
            id,
            source,
            reason: None,
            dry_run: false,
            targets,
            trigger,
            last_seen: None,
            first_seen: None,
            hunt: None,
            skipped: Vec::new(),
            max_principals: None,
            severity: None,
            findings: Vec::new(),
            echo_of: None,
            across: None,
            identity_center_users: Vec::new(),
        }
    }

    /// Why this incident must not be contained automatically: it names more principals than an
    /// event whose content a third party shapes (an imported Security Hub finding, a CloudTrail
    /// event) may aim at without a human, or a custom action may aim at with one click (the
    /// findings a human selects were shaped by whoever imported them). AWS Health's own list of
    /// leaked keys, GuardDuty and manual requests are not capped; a payload's `max_principals`
    /// sets the cap.
    pub fn over_cap(&self, options: &Options) -> Option<String> {
        let capped = match self.source {
            Source::SecurityHub => true,
            Source::CloudTrail => self.trigger == Trigger::Automatic,
            _ => false,
        };
        let cap = match self.max_principals {
            Some(cap) => cap,
            None if capped => options.max_principals_per_event,
            None => return None,
        };
        let named = self.targets.len();
        (named > cap).then(|| {
            format!(
                "the event names {named} principals, more than the {cap} that may be contained \
                 without a human (MAX_PRINCIPALS_PER_EVENT); nothing was changed. This needs a \
                 human: check the event is genuine, then invoke contain with the same event and \
                 \"max_principals\": {named} added at its top level"
            )
        })
    }
}

/// What an event amounts to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Intake {
    /// Something to act on.
    Incident(Box<Incident>),
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
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Findings below this severity (GuardDuty's 0-10 scale; Security Hub's normalized 0-100 is
    /// divided by 10) are ignored. `SEVERITY_THRESHOLD`, default 4.0: Medium and above.
    pub severity_threshold: f64,
    /// `MAX_PRINCIPALS_PER_EVENT`, default 25: an automatic event whose content a third party
    /// shapes and that names more principals than this contains none (see [`Incident::over_cap`]).
    pub max_principals_per_event: usize,
    /// `SECURITYHUB_PRODUCTS`, default `guardduty`: the AWS-owned Security Hub products
    /// (`product/aws/<name>`) whose imported findings are acted on.
    pub securityhub_products: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            severity_threshold: 4.0,
            max_principals_per_event: 25,
            securityhub_products: vec!["guardduty".into()],
        }
    }
}

impl Options {
    /// Reads `SEVERITY_THRESHOLD`, `MAX_PRINCIPALS_PER_EVENT` and `SECURITYHUB_PRODUCTS` through
    /// `lookup`, each one's default when unset; a malformed one is an error naming it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let severity_threshold = match setting::set(&lookup, "SEVERITY_THRESHOLD") {
            None => defaults.severity_threshold,
            Some(text) => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|t| (0.0..=10.0).contains(t))
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "SEVERITY_THRESHOLD",
                        "a number from 0 to 10 (GuardDuty's scale)",
                        &text,
                    )
                })?,
        };
        let max_principals_per_event = setting::count(
            &lookup,
            "MAX_PRINCIPALS_PER_EVENT",
            defaults.max_principals_per_event,
        )?;
        let securityhub_products = match setting::set(&lookup, "SECURITYHUB_PRODUCTS") {
            None => defaults.securityhub_products,
            Some(text) => text
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(securityhub_product)
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            severity_threshold,
            max_principals_per_event,
            securityhub_products,
        })
    }
}

/// One entry of `SECURITYHUB_PRODUCTS`, lower-cased: an AWS product's name, as Security Hub's
/// product ARNs end.
fn securityhub_product(name: &str) -> Result<String, ConfigError> {
    let valid = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
    valid
        .then(|| name.to_ascii_lowercase())
        .ok_or_else(|| ConfigError::Entry {
            variable: "SECURITYHUB_PRODUCTS",
            entry: name.to_owned(),
            problem: "is not the name of an AWS product (the last part of \
                      arn:aws:securityhub:REGION::product/aws/NAME, like guardduty)",
        })
}

/// The `source` that each AWS event type arrives with. Customers cannot put events whose source
/// begins with `aws.`, but `detail-type` is free text: an event that claims an AWS type under
/// another source is somebody's forgery.
const AWS_EVENT_TYPES: [(&str, &str); 6] = [
    ("GuardDuty Finding", "aws.guardduty"),
    ("AWS Health Event", "aws.health"),
    ("Security Hub Findings - Custom Action", "aws.securityhub"),
    ("Security Hub Findings - Imported", "aws.securityhub"),
    ("AWS API Call via CloudTrail", "aws.*"),
    ("AWS Console Sign In via CloudTrail", "aws.*"),
];

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
    let max_principals = max_principals(event)?;
    if !(object.contains_key("detail-type") || object.contains_key("source")) {
        return manual::parse(event).map(|intake| with_cap(intake, max_principals));
    }
    let envelope: EventBridgeEvent<Value> = deserialize(event)?;
    let (source, detail_type) = (envelope.source.as_str(), envelope.detail_type.as_str());
    if let Some(why) = spoofed(source, detail_type) {
        return ignored(why);
    }
    let intake = match (source, detail_type) {
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
    Ok(match with_cap(intake, max_principals) {
        Intake::Incident(mut incident) => {
            merge_targets(&mut incident.targets);
            if incident.targets.is_empty() && incident.identity_center_users.is_empty() {
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

/// Why an event that claims an AWS event type cannot be AWS's: its `source` is not the one AWS
/// sends that type with. `None` for events of other types, and for genuine sources.
pub fn spoofed(source: &str, detail_type: &str) -> Option<String> {
    let (_, expected) = AWS_EVENT_TYPES.iter().find(|(t, _)| *t == detail_type)?;
    let genuine = match expected.strip_suffix('*') {
        Some(prefix) => source.starts_with(prefix) && source.len() > prefix.len(),
        None => source == *expected,
    };
    (!genuine).then(|| {
        format!(
            "the event claims to be `{detail_type}`, which AWS sends only with source \
             `{expected}`, but its source is `{source}`: anyone allowed events:PutEvents can send \
             that, so it is no AWS signal and nothing was done"
        )
    })
}

/// The payload's own `max_principals`: EventBridge never adds fields to an event, so only a human
/// invoking the function can set it.
fn max_principals(event: &Value) -> Result<Option<usize>, InputError> {
    match event.get("max_principals") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .filter(|n| *n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                InputError::new(
                    "max_principals",
                    format!("`{value}` must be a whole number of principals, 1 or more"),
                )
            }),
    }
}

fn with_cap(intake: Intake, max_principals: Option<usize>) -> Intake {
    match intake {
        Intake::Incident(incident) => Intake::Incident(Box::new(Incident {
            max_principals: max_principals.or(incident.max_principals),
            ..*incident
        })),
        ignored => ignored,
    }
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
pub fn deserialize<T: DeserializeOwned>(event: &Value) -> Result<T, InputError> {
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
pub fn check_incident_id(field: &str, id: &str) -> Result<(), InputError> {
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

/// A timestamp of an AWS event (RFC 3339), if it is one.
fn timestamp(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The principal an ARN names, or an error about `field`.
fn principal_at(field: &str, arn: &str) -> Result<Principal, InputError> {
    Principal::parse_arn(arn).map_err(|e| InputError::new(field, e))
}
