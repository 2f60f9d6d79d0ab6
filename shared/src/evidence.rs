//! The evidence store: JSON objects in S3, each hashed with SHA-256, never overwritten, and a
//! manifest per run that lists them all, so that anyone can check later that nothing was altered.
//!
//! Layout of one run of one incident, under `incidents/<incident id>/<run start, UTC>/`:
//! `intent.json` (before the first IAM write), `event.json`, then per principal
//! `<account>/<user|role>/<name>/snapshot.json` and `plan.json`,
//! then `report.json` and `manifest.json`. A replay is a new run with its own timestamp, so it
//! never touches an earlier run's objects; keys sort by incident, then time.

use crate::error::describe;
use crate::principal::{Principal, PrincipalKind};
use crate::report::Evidence;
use aws_sdk_s3::types::ObjectLockMode;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The key prefix of every incident.
pub const ROOT: &str = "incidents";

/// The key prefix of one run of one incident.
pub fn run_prefix(incident_id: &str, started: DateTime<Utc>) -> String {
    format!(
        "{ROOT}/{incident_id}/{}",
        crate::fanout::format_stamp(started)
    )
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

/// Every object key of an incident, oldest run first (run prefixes sort by time). An error means
/// the incident's objects could not be listed.
pub async fn incident_keys(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    incident_id: &str,
) -> Result<Vec<String>, String> {
    let prefix = format!("{ROOT}/{incident_id}/");
    let mut keys: Vec<String> = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .into_paginator()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot list s3://{bucket}/{prefix}: {}", describe(&e)))?
        .into_iter()
        .flat_map(|page| page.contents.unwrap_or_default())
        .filter_map(|o| o.key)
        .collect();
    keys.sort();
    Ok(keys)
}

/// The run prefix (`incidents/<id>/<run>`) of an object key, and when the run started.
fn run_of(key: &str) -> Option<(&str, DateTime<Utc>)> {
    let mut parts = key.splitn(4, '/');
    let (root, id, run) = (parts.next()?, parts.next()?, parts.next()?);
    parts.next()?;
    // A work item's run carries its item after the start (`crate::fanout::item_run`).
    let started = crate::fanout::stamp(run)?;
    let prefix_len = root.len() + id.len() + run.len() + 2;
    Some((&key[..prefix_len], started))
}

/// Whether `key` is the release record of `principal` (names compare case-insensitively).
fn releases_principal(key: &str, principal: &Principal) -> bool {
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

/// Every report of an incident (whose objects are `keys`, from [`incident_keys`]), newest run
/// first, each with when its run started: read once per invocation and shared by its principals.
pub async fn reports(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
) -> Result<Reports, String> {
    let runs: Vec<(&String, DateTime<Utc>)> = keys
        .iter()
        .filter(|k| k.ends_with("/report.json"))
        .filter_map(|k| run_of(k).map(|(_, at)| (k, at)))
        .collect();
    futures::stream::iter(runs.into_iter().rev().map(|(key, at)| async move {
        let bytes = read(s3, bucket, key, None).await?;
        serde_json::from_slice(&bytes)
            .map(|report| (at, report))
            .map_err(|e| format!("{key} is not a report: {e}"))
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect()
}

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

/// The latest of an incident's `keys` that releases `principal`, read back.
pub async fn latest_release(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
    principal: &Principal,
) -> Result<Option<Release>, String> {
    // Names are unique case-insensitively: a release of `Alice` is a release of `alice`.
    latest_release_where(s3, bucket, keys, |k| releases_principal(k, principal)).await
}

/// The folder of an Identity Center user within a run: `<run>/identity-center/<user id>`.
pub fn identity_center_folder(run_prefix: &str, user_id: &str) -> String {
    format!("{run_prefix}/identity-center/{user_id}")
}

/// The latest release record of an Identity Center user, as [`latest_release`].
pub async fn latest_identity_center_release(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
    user_id: &str,
) -> Result<Option<Release>, String> {
    let tail = format!("{}/{RELEASED_OBJECT}", identity_center_folder("", user_id));
    latest_release_where(s3, bucket, keys, |k| k.ends_with(&tail)).await
}

async fn latest_release_where(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    keys: &[String],
    releases: impl Fn(&str) -> bool,
) -> Result<Option<Release>, String> {
    let Some(key) = keys.iter().rev().find(|k| releases(k)) else {
        return Ok(None);
    };
    let bytes = read(s3, bucket, key, None).await?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{key} is not a release record: {e}"))
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

/// Object Lock retention for every evidence object (`EVIDENCE_RETENTION_MODE`, `..._DAYS`).
#[derive(Clone, Debug, PartialEq)]
pub struct Retention {
    /// Governance (privileged users may shorten it) or compliance (nobody may).
    pub mode: ObjectLockMode,
    /// How long.
    pub days: u32,
}

/// Uploads one object. S3 checks the SHA-256 on arrival; `If-None-Match: *` refuses to replace an
/// object that already exists, so evidence is never overwritten; with `retention`, S3 Object Lock
/// keeps anyone from deleting or changing it until the date.
pub async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: &EvidenceObject,
    retention: Option<(&Retention, DateTime<Utc>)>,
) -> Result<Evidence, String> {
    let digest = Sha256::digest(&object.body);
    let mut request = s3
        .put_object()
        .bucket(bucket)
        .key(&object.key)
        .content_type(object.content_type)
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .checksum_sha256(aws_smithy_types::base64::encode(digest))
        .if_none_match("*")
        .body(object.body.clone().into());
    if let Some((retention, started)) = retention {
        let until = started + chrono::TimeDelta::days(i64::from(retention.days));
        request = request
            .object_lock_mode(retention.mode.clone())
            .object_lock_retain_until_date(aws_smithy_types::DateTime::from_secs(
                until.timestamp(),
            ));
    }
    let out = request
        .send()
        .await
        .map_err(|e| format!("s3://{bucket}/{}: {}", object.key, describe(&e)))?;
    Ok(Evidence {
        // An unversioned bucket answers no version (or "null"): nothing to record.
        version_id: out.version_id.filter(|v| v != "null"),
        ..object.evidence()
    })
}

/// What checking one object found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result")]
pub enum Check {
    /// Its bytes hash to what the manifest says.
    Verified {
        /// The object.
        key: String,
    },
    /// Its bytes do not: it was altered.
    Mismatch {
        /// The object.
        key: String,
        /// What the manifest says.
        expected: String,
        /// What its bytes hash to now.
        actual: String,
    },
    /// The manifest lists it, the bucket does not have it.
    Missing {
        /// The object.
        key: String,
        /// S3's answer.
        error: String,
    },
    /// The bucket has it under the run, the manifest does not list it.
    Unlisted {
        /// The object.
        key: String,
    },
    /// The bucket holds more than the one version Tourniquet wrote (it never writes a key twice),
    /// or a delete marker: someone wrote over it or deleted it since.
    Replaced {
        /// The object.
        key: String,
        /// How many versions and delete markers the key has.
        versions: usize,
    },
}

impl Check {
    /// Whether the object is as it was written.
    pub fn is_verified(&self) -> bool {
        matches!(self, Check::Verified { .. })
    }
}

/// Every version and delete marker under `prefix`, counted per key. (`ListObjectVersions` pages
/// by two markers, which the SDK's paginators do not cover.)
async fn versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<std::collections::BTreeMap<String, usize>, String> {
    let mut counts = std::collections::BTreeMap::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.take())
            .set_version_id_marker(version_marker.take())
            .send()
            .await
            .map_err(|e| format!("cannot list s3://{bucket}/{prefix}: {}", describe(&e)))?;
        let keys = page
            .versions()
            .iter()
            .filter_map(|v| v.key())
            .chain(page.delete_markers().iter().filter_map(|m| m.key()));
        for key in keys {
            *counts.entry(key.to_owned()).or_insert(0) += 1;
        }
        if page.is_truncated() != Some(true) {
            return Ok(counts);
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
    }
}

/// Recomputes the hash of every object of every run of an incident and compares it with the run's
/// manifest, reading the version the manifest recorded; flags any key that holds another version
/// or a delete marker (Tourniquet writes each key once). An error means the incident's objects
/// could not be listed at all.
pub async fn verify(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    incident_id: &str,
) -> Result<Vec<Check>, String> {
    let prefix = format!("{ROOT}/{incident_id}/");
    let versions = versions(s3, bucket, &prefix).await?;
    let keys: Vec<String> = versions.keys().cloned().collect();
    if keys.is_empty() {
        return Err(format!("no evidence under s3://{bucket}/{prefix}"));
    }
    let replaced = |key: &str| {
        let count = versions.get(key).copied().unwrap_or(0);
        (count > 1).then(|| Check::Replaced {
            key: key.to_owned(),
            versions: count,
        })
    };
    let mut checks = Vec::new();
    let manifests: Vec<&String> = keys
        .iter()
        .filter(|k| k.ends_with("/manifest.json"))
        .collect();
    for manifest_key in &manifests {
        let run = manifest_key.trim_end_matches("manifest.json");
        if let Some(check) = replaced(manifest_key) {
            checks.push(check);
        }
        let manifest: Manifest = match read(s3, bucket, manifest_key, None).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{manifest_key} is not a manifest: {e}"))?,
            Err(error) => {
                checks.push(Check::Missing {
                    key: manifest_key.to_string(),
                    error,
                });
                continue;
            }
        };
        let results = futures::stream::iter(manifest.objects.iter().map(|entry| async move {
            if let Some(check) = replaced(&entry.key) {
                return check;
            }
            match read(s3, bucket, &entry.key, entry.version_id.as_deref()).await {
                Ok(bytes) => {
                    let actual = hex::encode(Sha256::digest(&bytes));
                    if actual == entry.sha256 {
                        Check::Verified {
                            key: entry.key.clone(),
                        }
                    } else {
                        Check::Mismatch {
                            key: entry.key.clone(),
                            expected: entry.sha256.clone(),
                            actual,
                        }
                    }
                }
                Err(error) => Check::Missing {
                    key: entry.key.clone(),
                    error,
                },
            }
        }))
        .buffered(8)
        .collect::<Vec<_>>()
        .await;
        checks.extend(results);
        checks.extend(
            keys.iter()
                .filter(|k| k.starts_with(run) && k != manifest_key)
                .filter(|k| !manifest.objects.iter().any(|e| &e.key == *k))
                .map(|k| Check::Unlisted { key: k.clone() }),
        );
    }
    // A run without a manifest (its upload failed) has nothing to check against.
    checks.extend(
        keys.iter()
            .filter(|k| {
                !manifests
                    .iter()
                    .any(|m| k.starts_with(m.trim_end_matches("manifest.json")))
            })
            .map(|k| Check::Unlisted { key: k.clone() }),
    );
    Ok(checks)
}

/// One object's bytes (a given version, or the current one).
pub(crate) async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<Vec<u8>, String> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_owned))
        .send()
        .await
        .map_err(|e| describe(&e))?;
    object
        .body
        .collect()
        .await
        .map(|b| b.to_vec())
        .map_err(|e| e.to_string())
}
