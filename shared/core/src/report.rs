//! The report: what was found, planned and done, returned to the caller, logged and stored.

use crate::step::{Action, Route};
use serde::{Deserialize, Serialize};

/// The version of the ledger's schema (the report's step fields a release reads): 1 is typed
/// actions and routes, and the undo facts as fields.
pub const LEDGER_VERSION: u32 = 1;

/// How a run, or one target of it, ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every step is in place.
    Contained,
    /// At least one step failed; the function returns an error so the event is retried.
    Partial,
    /// Dry run: the steps are what a real run would do; nothing was written.
    Planned,
    /// The principal must not or cannot be contained by Tourniquet; the message says what to do.
    Refused,
    /// The event is not one to act on.
    Ignored,
    /// `snapshot` only: the evidence was captured; nothing was contained.
    Captured,
    /// `release` only: the containment is undone, but for the documented residue.
    Released,
    /// `contain` only: the incident was fanned out; its work items run from the work queue
    /// (ask for its status with `{"incident_id": ..., "status": true}`).
    Dispatched,
    /// `hunt` only: the credentials' activity was read, and it left nothing to contain.
    Hunted,
}

/// How one step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Written now.
    Applied,
    /// Already so before this run (a replay, or a change made by hand); nothing was changed.
    AlreadyInPlace,
    /// Dry run: would be written.
    Planned,
    /// Not attempted; the detail says why.
    Skipped,
    /// Attempted and refused by AWS; the detail carries AWS's error.
    Failed,
}

/// One step and its outcome: a line of the ledger. A release reads only the typed fields, never
/// `detail`, which is for humans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    /// What the step does (`attach_deny_all`, `deactivate_access_key`, `tag_principal`, ...).
    pub action: Action,
    /// What it acts on: a key id, a policy name, a tag.
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Why, in words; AWS's error for a failure.
    pub detail: String,
    /// For policy steps: how the policy was put in place (`inline`, `managed`,
    /// `quarantine_group`), which a release needs to undo it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Route>,
    /// For `deactivate_access_key`: whether the event named the key as compromised.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub named_in_event: bool,
    /// For `deactivate_access_key`: whether the key was Active when this run read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was_active: Option<bool>,
    /// For policy steps: the inline policy's name, or the managed policy's ARN, that carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// For the `quarantine_group` route: the group the user joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// For `revoke_sessions`: the cutoff in force (UTC, RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutoff: Option<String>,
    /// For `deny_identity_center_user`: the permission set's inline policy before the deny (`""`
    /// when it had none), which a release puts back when nothing else changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_policy: Option<String>,
}

impl StepReport {
    /// A step with no undo facts (yet).
    pub fn new(
        action: Action,
        target: impl Into<String>,
        outcome: Outcome,
        detail: String,
    ) -> Self {
        Self {
            action,
            target: target.into(),
            outcome,
            detail,
            route: None,
            named_in_event: false,
            was_active: None,
            policy: None,
            group: None,
            cutoff: None,
            prior_policy: None,
        }
    }
}

/// One principal of the incident.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetReport {
    /// The principal's ARN (with its path once IAM has told it).
    pub principal_arn: String,
    /// Its account.
    pub account_id: String,
    /// How its containment ended.
    pub status: Status,
    /// For refusals and failures: what a human must do instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For a principal the hunt found: the CloudTrail events that led to it
    /// (`cloudtrail:<eventID> (<eventName>)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// Every step, in plan order.
    pub steps: Vec<StepReport>,
}

impl TargetReport {
    /// A target nothing was done to: refused, or failed before its first step; `message` says why.
    pub fn stopped(
        principal_arn: String,
        account_id: &str,
        status: Status,
        message: String,
    ) -> Self {
        Self {
            principal_arn,
            account_id: account_id.to_owned(),
            status,
            message: Some(message),
            cause: None,
            steps: Vec::new(),
        }
    }

    /// The target's status from its steps' outcomes.
    pub fn status_from_steps(steps: &[StepReport]) -> Status {
        if steps.iter().any(|s| s.outcome == Outcome::Failed) {
            Status::Partial
        } else if steps.iter().any(|s| s.outcome == Outcome::Planned) {
            Status::Planned
        } else {
            Status::Contained
        }
    }
}

/// An object written to the evidence store, with the SHA-256 of its bytes (hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The S3 object key in the evidence bucket.
    pub key: String,
    /// Lower-case hex SHA-256 of the object's bytes.
    pub sha256: String,
    /// The S3 version S3 gave it, in a versioned bucket: the manifest records it, and verification
    /// reads that version and flags any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The ledger schema this report's steps follow ([`LEDGER_VERSION`]; 0 before it was typed).
    #[serde(default)]
    pub ledger_version: u32,
    /// The incident; stable across replays of the same event.
    pub incident_id: String,
    /// The overall status (see [`Report::status_from_targets`]).
    pub status: Status,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Where the event came from (`aws.guardduty`, `manual`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Why the incident was raised (the finding type, or the responder's words).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For ignored events: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// How many sequential waves of AWS calls the run took (time to contain is counted in these).
    pub waves: u32,
    /// One entry per principal.
    pub targets: Vec<TargetReport>,
    /// What was written to the evidence store.
    pub evidence: Vec<Evidence>,
    /// How the evidence is locked: the Object Lock mode and date every object carries, or that
    /// it is not locked by Tourniquet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_lock: Option<String>,
    /// Malformed entities of an otherwise valid event, left out (each field named): the rest was
    /// contained, and the run is `partial` so that a human sees them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// How the humans were told, one entry per channel (`sns`, `securityhub`); a failure here
    /// never changes the run's status, which is about the containment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Notice>,
    /// For a `dispatched` incident: the work items sent to the work queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub work_items: Vec<WorkItemRef>,
    /// What the hunt found the credentials did (the events themselves: `activity.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity: Option<crate::hunt::Summary>,
}

/// A work item of a dispatched incident, as its report lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItemRef {
    /// Its number.
    pub item: u32,
    /// Its account.
    pub account_id: String,
    /// How many principals it names.
    pub principals: usize,
}

/// How one channel told the humans of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// `sns` or `securityhub`.
    pub channel: String,
    /// The topic, or the findings.
    pub target: String,
    /// `applied` (told), `skipped` (an earlier run already told it), `failed` (the detail says why).
    pub outcome: Outcome,
    /// What was sent, or why not.
    pub detail: String,
}

impl Notice {
    /// A channel's notice.
    pub fn new(channel: &str, target: impl Into<String>, outcome: Outcome, detail: String) -> Self {
        Self {
            channel: channel.to_owned(),
            target: target.into(),
            outcome,
            detail,
        }
    }
}

/// A malformed entity of an event, not contained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Its JSON path in the event.
    pub field: String,
    /// What is wrong with it.
    pub error: String,
}

impl Report {
    /// A report of `incident_id` with its status and nothing else yet (no targets, evidence or
    /// waves), in the current ledger schema.
    pub fn new(incident_id: impl Into<String>, status: Status, dry_run: bool) -> Self {
        Self {
            ledger_version: LEDGER_VERSION,
            incident_id: incident_id.into(),
            status,
            dry_run,
            source: None,
            reason: None,
            message: None,
            waves: 0,
            targets: Vec::new(),
            evidence: Vec::new(),
            evidence_lock: None,
            skipped: Vec::new(),
            notify: Vec::new(),
            work_items: Vec::new(),
            activity: None,
        }
    }

    /// The overall status: partial if any target is; ignored if every target was (released
    /// before); refused if every other target was refused; otherwise planned for a dry run, or
    /// contained.
    pub fn status_from_targets(targets: &[TargetReport], dry_run: bool) -> Status {
        let targets: Vec<&TargetReport> = targets
            .iter()
            .filter(|t| t.status != Status::Ignored)
            .collect();
        if targets.is_empty() {
            Status::Ignored
        } else if targets.iter().any(|t| t.status == Status::Partial) {
            Status::Partial
        } else if targets.iter().all(|t| t.status == Status::Refused) {
            Status::Refused
        } else if targets.iter().any(|t| t.status == Status::Captured) {
            Status::Captured
        } else if targets.iter().any(|t| t.status == Status::Released) {
            Status::Released
        } else if dry_run {
            Status::Planned
        } else {
            Status::Contained
        }
    }

    /// One line for the logs and for a Lambda error: the status and every step that failed.
    pub fn summary(&self) -> String {
        let skipped = self
            .skipped
            .iter()
            .map(|s| format!("`{}` skipped: {}", s.field, s.error));
        let failed: Vec<String> = self
            .targets
            .iter()
            .flat_map(|t| {
                t.steps
                    .iter()
                    .filter(|s| s.outcome == Outcome::Failed)
                    .map(move |s| {
                        format!(
                            "{} {} on {}: {}",
                            s.action, s.target, t.principal_arn, s.detail
                        )
                    })
                    .chain(
                        (t.status == Status::Partial && t.steps.is_empty()).then(|| {
                            format!(
                                "{}: {}",
                                t.principal_arn,
                                t.message.clone().unwrap_or_default()
                            )
                        }),
                    )
            })
            .chain(skipped)
            .collect();
        let stored = self
            .evidence
            .iter()
            .find(|e| e.key.ends_with("/report.json"))
            .map(|e| format!("; report stored at {}", e.key))
            .unwrap_or_default();
        let status = serde_json::to_value(self.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let note = self
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        if failed.is_empty() {
            format!("incident {}: {status}{note}{stored}", self.incident_id)
        } else {
            format!(
                "incident {}: {status}: {} to look at: {}{note}{stored}",
                self.incident_id,
                failed.len(),
                failed.join("; ")
            )
        }
    }
}
