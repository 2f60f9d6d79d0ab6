//! The ledger's grammar: every object key Tourniquet writes to the evidence store, the stamps in
//! them, and the records a run leaves (intent, release, manifest), as typed data. Pure: the
//! evidence store's I/O lives elsewhere and speaks these shapes.
//!
//! Layout of one run of one incident, under `incidents/<incident id>/<run start, UTC>/`:
//! `intent.json` (before the first IAM write), `event.json`, then per principal
//! `<account>/<user|role>/<name>/snapshot.json` and `plan.json`,
//! then `report.json` and `manifest.json`. A replay is a new run with its own timestamp, so it
//! never touches an earlier run's objects; keys sort by incident, then time.

use crate::principal::{Principal, PrincipalKind};
use crate::report::Evidence;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The key prefix of every incident.
pub const ROOT: &str = "incidents";

/// The key prefix of one run of one incident.
pub fn run_prefix(incident_id: &str, started: DateTime<Utc>) -> String {
    format!("{ROOT}/{incident_id}/{}", format_stamp(started))
}

/// The folder of one principal within a run: `<run>/<account>/<user|role|root>/<name>`.
pub fn principal_folder(run_prefix: &str, principal: &Principal) -> String {
    let kind = match principal.kind {
        PrincipalKind::User => "user",
        PrincipalKind::Role => "role",
        PrincipalKind::Root => "root",
    };
    format!(
        "{run_prefix}/{}/{kind}/{}",
        principal.account_id, principal.name
    )
}

/// The object a release leaves in its run's principal folder, which says the principal was
/// released from the incident (listed in the run's manifest like every other object).
pub const RELEASED_OBJECT: &str = "released.json";

/// A release of one principal from one incident, as `release` recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    /// The incident the principal was released from.
    pub incident_id: String,
    /// The principal.
    pub principal_arn: String,
    /// When (UTC).
    pub released_at: DateTime<Utc>,
    /// Why, in the release request's words.
    pub reason: Option<String>,
}

/// The run prefix (`incidents/<id>/<run>`) of an object key, and when the run started.
pub fn run_of(key: &str) -> Option<(&str, DateTime<Utc>)> {
    let mut parts = key.splitn(4, '/');
    let (root, id, run) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next()?;
    // A work item's run carries its item after the start ([`item_run`]).
    let started = stamp(run)?;
    let prefix_len = root.len() + id.len() + run.len() + 2;
    Some((&key[..prefix_len], started))
}

/// Whether `key` is the release record of `principal` (names compare case-insensitively).
pub fn releases_principal(key: &str, principal: &Principal) -> bool {
    let folder = principal_folder("", principal).to_ascii_lowercase();
    key.to_ascii_lowercase()
        .ends_with(&format!("{folder}/{RELEASED_OBJECT}"))
}

/// What an incident's own ledger says of a principal's session cutoff.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PriorCutoff {
    /// The cutoff in force after the latest containment of this incident since the principal's
    /// last release, if there was one.
    pub cutoff: Option<String>,
    /// When the incident's first run since that release started: no restored cutoff is earlier.
    pub first_run: Option<DateTime<Utc>>,
    /// Whether a run of the incident since that release took containment steps on the principal:
    /// what a first-wave write finds in place was there before only then.
    pub contained: bool,
}

/// An incident's reports, newest run first, each with when its run started.
pub type Reports = Vec<(DateTime<Utc>, crate::report::Report)>;

/// The cutoff of the latest containment of the incident since `principal` was last released,
/// from the incident's `keys` and `reports` (newest first, from [`reports`]). The principal's own
/// tags are never asked: a compromised principal may write them.
pub fn prior_cutoff(
    keys: &[String],
    reports: &[(DateTime<Utc>, crate::report::Report)],
    principal: &Principal,
) -> PriorCutoff {
    let released = keys
        .iter()
        .filter(|k| releases_principal(k, principal))
        .filter_map(|k| run_of(k).map(|(_, at)| at))
        .max();
    let since: Vec<&crate::report::Report> = reports
        .iter()
        .filter(|(at, _)| released.is_none_or(|r| *at > r))
        .map(|(_, report)| report)
        .collect();
    let mut prior = PriorCutoff {
        cutoff: None,
        first_run: reports
            .iter()
            .map(|(at, _)| *at)
            .filter(|at| released.is_none_or(|r| *at > r))
            .min(),
        contained: false,
    };
    for report in since {
        let in_force: Vec<&crate::report::StepReport> = report
            .targets
            .iter()
            .filter(|t| Principal::parse_arn(&t.principal_arn).is_ok_and(|p| p.same_as(principal)))
            .flat_map(|t| &t.steps)
            .filter(|s| s.action.is_containment())
            .filter(|s| {
                matches!(
                    s.outcome,
                    crate::report::Outcome::Applied | crate::report::Outcome::AlreadyInPlace
                )
            })
            .collect();
        prior.contained |= !in_force.is_empty();
        let cutoff = in_force
            .iter()
            .filter(|s| s.action == crate::plan::Action::RevokeSessions)
            .find_map(|s| s.cutoff.clone());
        if cutoff.is_some() {
            prior.cutoff = cutoff;
            break;
        }
    }
    prior
}

/// The folder of an Identity Center user within a run: `<run>/identity-center/<user id>`.
pub fn identity_center_folder(run_prefix: &str, user_id: &str) -> String {
    format!("{run_prefix}/identity-center/{user_id}")
}

/// The object each run writes before its first IAM write: what it intends to change, so that a
/// run that dies before its report leaves a ledger a release understands.
pub const INTENT_OBJECT: &str = "intent.json";

/// What a run intends to change, written before its first IAM write (`<run>/intent.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// The ledger schema ([`crate::report::LEDGER_VERSION`]).
    pub ledger_version: u32,
    /// The incident.
    pub incident_id: String,
    /// The function (`contain`, `attach-deny-all`, ...).
    pub function: String,
    /// The session cutoff this run writes (UTC, RFC 3339).
    pub cutoff: String,
    /// Each principal (or lone key) the run may change, and how.
    pub targets: Vec<IntendedTarget>,
    /// The Identity Center users it may deny, as the event names them (a user name or id): a
    /// release of one finds Tourniquet's statements in the user's permission sets by their id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identity_center_users: Vec<String>,
}

/// The changes a run intends for one target of its event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntendedTarget {
    /// The principal, when the event names it; `None` for a key whose owner is looked up.
    pub principal_arn: Option<String>,
    /// The keys the event names.
    pub access_key_ids: Vec<String>,
    /// The containment actions the run may take on it.
    pub actions: Vec<crate::plan::Action>,
    /// Whether it may deactivate every active key of the user, not only the named ones.
    pub every_key: bool,
}

/// An object ready to upload: its key, its bytes and their SHA-256.
#[derive(Clone, Debug)]
pub struct EvidenceObject {
    /// Where it goes.
    pub key: String,
    /// Pretty-printed JSON.
    pub body: Vec<u8>,
    /// Lower-case hex SHA-256 of `body`.
    pub sha256: String,
    /// Its media type (`application/json` but for the audit's Markdown summary).
    pub content_type: &'static str,
}

impl EvidenceObject {
    /// Serializes `value` and hashes the bytes that will be stored.
    pub fn json(key: String, value: &impl Serialize) -> Self {
        // Serializing our own types into a Vec cannot fail.
        let body = serde_json::to_vec_pretty(value).unwrap_or_default();
        Self::text(key, body, "application/json")
    }

    /// Text of another type (the audit's Markdown summary), hashed like the JSON.
    pub fn text(key: String, body: Vec<u8>, content_type: &'static str) -> Self {
        let sha256 = hex::encode(Sha256::digest(&body));
        Self {
            key,
            body,
            sha256,
            content_type,
        }
    }

    /// The manifest's entry for this object, stored as `version_id`.
    pub fn entry(&self, version_id: Option<String>) -> ManifestEntry {
        ManifestEntry {
            key: self.key.clone(),
            sha256: self.sha256.clone(),
            bytes: self.body.len(),
            version_id,
        }
    }

    /// The report entry for this object (before it is stored: no version yet).
    pub fn evidence(&self) -> Evidence {
        Evidence {
            key: self.key.clone(),
            sha256: self.sha256.clone(),
            version_id: None,
        }
    }
}

/// One object as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// The object key.
    pub key: String,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub bytes: usize,
    /// The S3 version stored, in a versioned bucket: verification reads this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

/// Every object of one run, with its hash: written last, in the same wave as the others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The incident.
    pub incident_id: String,
    /// The run's key prefix.
    pub run: String,
    /// The objects, the report included.
    pub objects: Vec<ManifestEntry>,
}

/// The manifest of `objects` as stored (each with the version S3 gave it, if any), as an object
/// of its own under `prefix`. It is written after them, so that it can record their versions.
pub fn manifest(incident_id: &str, prefix: &str, objects: Vec<ManifestEntry>) -> EvidenceObject {
    let manifest = Manifest {
        incident_id: incident_id.to_owned(),
        run: prefix.to_owned(),
        objects,
    };
    EvidenceObject::json(format!("{prefix}/manifest.json"), &manifest)
}

/// The dispatch record a fanned-out incident's first run writes before any message is sent.
pub const DISPATCH_OBJECT: &str = "dispatch.json";

/// The folder of an incident's summaries, one per dispatch, written once (`If-None-Match`).
pub const SUMMARIES: &str = "summaries";

/// The key of the summary of the incident's dispatch started at `dispatch` (its stamp).
pub fn summary_key(incident_id: &str, dispatch: &str) -> String {
    format!("{}/{incident_id}/{SUMMARIES}/{dispatch}.json", ROOT)
}

/// The format of a run's start in its key.
pub const STAMP: &str = "%Y%m%dT%H%M%S%.3fZ";

/// The start a run's key segment begins with (`20261202T090000.000Z`), if it is one.
pub fn stamp(segment: &str) -> Option<DateTime<Utc>> {
    let head = segment.get(..20)?;
    let rest = &segment[20..];
    if !(rest.is_empty() || rest.starts_with("-item-")) {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(head, STAMP)
        .ok()
        .map(|t| t.and_utc())
}

/// A run's start as it appears in its key.
pub fn format_stamp(at: DateTime<Utc>) -> String {
    at.format(STAMP).to_string()
}

/// The key segment of a work item's run: its own start, the item and the dispatch's start, so
/// that two items of one incident starting in the same millisecond never share a folder.
pub fn item_run(started: DateTime<Utc>, item: u32, dispatch: &str) -> String {
    format!("{}-item-{item}-of-{dispatch}", format_stamp(started))
}
