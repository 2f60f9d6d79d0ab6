//! The evidence store: JSON objects in S3, each hashed with SHA-256, never overwritten, and a
//! manifest per run that lists them all, so that anyone can check later that nothing was altered.
//! The key layout and the record shapes are [`crate::ledger`]'s.

use crate::error::describe;
use crate::ledger::{
    EvidenceObject, Manifest, RELEASED_OBJECT, ROOT, Release, Reports, identity_center_folder,
    releases_principal, run_of,
};
use crate::principal::Principal;
use crate::report::Evidence;
use aws_sdk_s3::types::ObjectLockMode;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

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
