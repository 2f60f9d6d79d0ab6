//! The evidence store's records: what a run reads back of the ledger and how evidence is stored
//! and verified, over the [`EvidenceStore`] port (S3 in production, memory in unit tests). Every
//! object is hashed with SHA-256 and never overwritten, and a manifest per run lists them all, so
//! that anyone can check later that nothing was altered. The key layout and the record shapes
//! are [`crate::ledger`]'s.

use crate::error::AwsError;
use crate::ledger::{
    EvidenceObject, Manifest, RELEASED_OBJECT, ROOT, Release, Reports, identity_center_folder,
    releases_principal, run_of,
};
use crate::ports::EvidenceStore;
use crate::principal::Principal;
use crate::report::Evidence;
use aws_sdk_s3::types::ObjectLockMode;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What went wrong with the evidence store. The messages name the object or prefix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The objects under a prefix could not be listed.
    #[error("cannot list {location}/{prefix}: {}", source.detail)]
    List {
        /// The store (`s3://bucket`).
        location: String,
        /// The prefix.
        prefix: String,
        /// The store's error.
        #[source]
        source: AwsError,
    },
    /// An object could not be stored (`PreconditionFailed`: its key exists already).
    #[error("{location}/{key}: {}", source.detail)]
    Put {
        /// The store.
        location: String,
        /// The object's key.
        key: String,
        /// The store's error.
        #[source]
        source: AwsError,
    },
    /// An object could not be read.
    #[error("{}", source.detail)]
    Read {
        /// The object's key.
        key: String,
        /// The store's error.
        #[source]
        source: AwsError,
    },
    /// An object is not the record its key says it is.
    #[error("{key} is not {record}: {source}")]
    NotRecord {
        /// The object's key.
        key: String,
        /// What it should be (`a report`, `a release record`, `a manifest`).
        record: &'static str,
        /// Why it does not parse.
        #[source]
        source: serde_json::Error,
    },
    /// Nothing is stored under an incident.
    #[error("no evidence under {location}/{prefix}")]
    Empty {
        /// The store.
        location: String,
        /// The incident's prefix.
        prefix: String,
    },
}

impl EvidenceError {
    /// Whether a write-once put found its key taken: someone stored it first.
    pub fn is_key_taken(&self) -> bool {
        matches!(self, EvidenceError::Put { source, .. } if source.is("PreconditionFailed"))
    }
}

/// Every object key of an incident, oldest run first (run prefixes sort by time). An error means
/// the incident's objects could not be listed.
pub async fn incident_keys(
    store: &dyn EvidenceStore,
    incident_id: &str,
) -> Result<Vec<String>, EvidenceError> {
    let prefix = format!("{ROOT}/{incident_id}/");
    store
        .list(&prefix)
        .await
        .map_err(|source| EvidenceError::List {
            location: store.location(),
            prefix,
            source,
        })
}

/// Every report of an incident (whose objects are `keys`, from [`incident_keys`]), newest run
/// first, each with when its run started: read once per invocation and shared by its principals.
pub async fn reports(store: &dyn EvidenceStore, keys: &[String]) -> Result<Reports, EvidenceError> {
    let runs: Vec<(&String, DateTime<Utc>)> = keys
        .iter()
        .filter(|k| k.ends_with("/report.json"))
        .filter_map(|k| run_of(k).map(|(_, at)| (k, at)))
        .collect();
    futures::stream::iter(runs.into_iter().rev().map(|(key, at)| async move {
        let report = read_record(store, key, "a report").await?;
        Ok((at, report))
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await
    .into_iter()
    .collect()
}

/// The latest of an incident's `keys` that releases `principal`, read back.
pub async fn latest_release(
    store: &dyn EvidenceStore,
    keys: &[String],
    principal: &Principal,
) -> Result<Option<Release>, EvidenceError> {
    // Names are unique case-insensitively: a release of `Alice` is a release of `alice`.
    latest_release_where(store, keys, |k| releases_principal(k, principal)).await
}

/// The latest release record of an Identity Center user, as [`latest_release`].
pub async fn latest_identity_center_release(
    store: &dyn EvidenceStore,
    keys: &[String],
    user_id: &str,
) -> Result<Option<Release>, EvidenceError> {
    let tail = format!("{}/{RELEASED_OBJECT}", identity_center_folder("", user_id));
    latest_release_where(store, keys, |k| k.ends_with(&tail)).await
}

async fn latest_release_where(
    store: &dyn EvidenceStore,
    keys: &[String],
    releases: impl Fn(&str) -> bool,
) -> Result<Option<Release>, EvidenceError> {
    let Some(key) = keys.iter().rev().find(|k| releases(k)) else {
        return Ok(None);
    };
    read_record(store, key, "a release record").await.map(Some)
}

/// One object read back as the record its key says it is.
pub async fn read_record<T: serde::de::DeserializeOwned>(
    store: &dyn EvidenceStore,
    key: &str,
    record: &'static str,
) -> Result<T, EvidenceError> {
    let bytes = read(store, key, None).await?;
    serde_json::from_slice(&bytes).map_err(|source| EvidenceError::NotRecord {
        key: key.to_owned(),
        record,
        source,
    })
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
    store: &dyn EvidenceStore,
    object: &EvidenceObject,
    retention: Option<(&Retention, DateTime<Utc>)>,
) -> Result<Evidence, EvidenceError> {
    let version_id = store
        .put(object, retention)
        .await
        .map_err(|source| EvidenceError::Put {
            location: store.location(),
            key: object.key.clone(),
            source,
        })?;
    Ok(Evidence {
        version_id,
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

/// Recomputes the hash of every object of every run of an incident and compares it with the run's
/// manifest, reading the version the manifest recorded; flags any key that holds another version
/// or a delete marker (Tourniquet writes each key once). An error means the incident's objects
/// could not be listed at all.
pub async fn verify(
    store: &dyn EvidenceStore,
    incident_id: &str,
) -> Result<Vec<Check>, EvidenceError> {
    let prefix = format!("{ROOT}/{incident_id}/");
    let versions = store
        .versions(&prefix)
        .await
        .map_err(|source| EvidenceError::List {
            location: store.location(),
            prefix: prefix.clone(),
            source,
        })?;
    let keys: Vec<String> = versions.keys().cloned().collect();
    if keys.is_empty() {
        return Err(EvidenceError::Empty {
            location: store.location(),
            prefix,
        });
    }
    let mut checks = Vec::new();
    let manifests: Vec<&String> = keys
        .iter()
        .filter(|k| k.ends_with("/manifest.json"))
        .collect();
    for manifest_key in &manifests {
        checks.extend(check_run(store, manifest_key, &keys, &versions).await?);
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

/// A key that holds more than the one version Tourniquet wrote, or a delete marker.
fn replaced(versions: &BTreeMap<String, usize>, key: &str) -> Option<Check> {
    let count = versions.get(key).copied().unwrap_or(0);
    (count > 1).then(|| Check::Replaced {
        key: key.to_owned(),
        versions: count,
    })
}

/// One run's objects against its manifest: each listed object's hash, and every object of the
/// run the manifest does not list. A manifest that is not one is an error, not a check.
async fn check_run(
    store: &dyn EvidenceStore,
    manifest_key: &str,
    keys: &[String],
    versions: &BTreeMap<String, usize>,
) -> Result<Vec<Check>, EvidenceError> {
    let run = manifest_key.trim_end_matches("manifest.json");
    let mut checks: Vec<Check> = replaced(versions, manifest_key).into_iter().collect();
    let manifest: Manifest = match read_record(store, manifest_key, "a manifest").await {
        Ok(manifest) => manifest,
        Err(error @ EvidenceError::NotRecord { .. }) => return Err(error),
        Err(error) => {
            checks.push(Check::Missing {
                key: manifest_key.to_string(),
                error: error.to_string(),
            });
            return Ok(checks);
        }
    };
    let results = futures::stream::iter(manifest.objects.iter().map(|entry| async move {
        match replaced(versions, &entry.key) {
            Some(check) => check,
            None => check_entry(store, entry).await,
        }
    }))
    .buffered(8)
    .collect::<Vec<_>>()
    .await;
    checks.extend(results);
    checks.extend(
        keys.iter()
            .filter(|k| k.starts_with(run) && *k != manifest_key)
            .filter(|k| !manifest.objects.iter().any(|e| &e.key == *k))
            .map(|k| Check::Unlisted { key: k.clone() }),
    );
    Ok(checks)
}

/// One listed object: the version the manifest recorded, hashed and compared.
async fn check_entry(store: &dyn EvidenceStore, entry: &crate::ledger::ManifestEntry) -> Check {
    match read(store, &entry.key, entry.version_id.as_deref()).await {
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
            error: error.to_string(),
        },
    }
}

/// One object's bytes (a given version, or the current one).
pub async fn read(
    store: &dyn EvidenceStore,
    key: &str,
    version_id: Option<&str>,
) -> Result<Vec<u8>, EvidenceError> {
    store
        .get(key, version_id)
        .await
        .map_err(|source| EvidenceError::Read {
            key: key.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{ManifestEntry, manifest};
    use crate::memory::MemoryEvidence;

    const RUN: &str = "incidents/IR-7/20261208T010000.000Z";

    fn alice() -> Principal {
        Principal::user("111122223333", "alice").unwrap()
    }

    /// A run with an event, a release record of alice and its manifest, stored as a run stores it.
    async fn stored_run(store: &MemoryEvidence) -> Vec<ManifestEntry> {
        let event = EvidenceObject::json(format!("{RUN}/event.json"), &serde_json::json!({}));
        let release = Release {
            incident_id: "IR-7".into(),
            principal_arn: alice().arn(),
            released_at: "2026-12-08T01:00:00Z".parse().unwrap(),
            reason: Some("investigation closed".into()),
        };
        let folder = crate::ledger::principal_folder(RUN, &alice());
        let released = EvidenceObject::json(format!("{folder}/{RELEASED_OBJECT}"), &release);
        let mut entries = Vec::new();
        for object in [&event, &released] {
            let stored = put(store, object, None).await.unwrap();
            entries.push(object.entry(stored.version_id));
        }
        put(store, &manifest("IR-7", RUN, entries.clone()), None)
            .await
            .unwrap();
        entries
    }

    #[tokio::test]
    async fn a_release_is_read_back_from_the_ledger_whatever_the_names_case() {
        // GIVEN a ledger holding a release of alice
        let store = MemoryEvidence::new();
        stored_run(&store).await;

        // WHEN the ledger is listed and the release looked up for `Alice`
        let keys = incident_keys(&store, "IR-7").await.unwrap();
        let shouted = Principal::user("111122223333", "Alice").unwrap();
        let release = latest_release(&store, &keys, &shouted).await.unwrap();

        // THEN it is alice's release, with its reason
        let release = release.expect("released");
        assert_eq!(release.principal_arn, alice().arn());
        assert_eq!(release.reason.as_deref(), Some("investigation closed"));
    }

    #[tokio::test]
    async fn an_untouched_run_verifies_and_an_overwritten_object_is_flagged() {
        // GIVEN a stored run
        let store = MemoryEvidence::new();
        let entries = stored_run(&store).await;
        let checks = verify(&store, "IR-7").await.unwrap();
        assert!(checks.iter().all(Check::is_verified), "{checks:?}");

        // WHEN someone writes over one of its objects, past the write-once check
        store.overwrite(&entries[0].key, b"{\"forged\": true}");

        // THEN the verification says it was replaced, and nothing else changed
        let checks = verify(&store, "IR-7").await.unwrap();
        let replaced: Vec<&Check> = checks.iter().filter(|c| !c.is_verified()).collect();
        assert_eq!(
            replaced,
            [&Check::Replaced {
                key: entries[0].key.clone(),
                versions: 2
            }]
        );
    }

    #[tokio::test]
    async fn a_second_write_of_a_key_is_refused_as_taken_and_a_failing_store_is_named() {
        // GIVEN a stored run
        let store = MemoryEvidence::new();
        let entries = stored_run(&store).await;

        // WHEN its event is stored again
        let again = EvidenceObject::json(entries[0].key.clone(), &serde_json::json!({"x": 1}));
        let err = put(&store, &again, None).await.unwrap_err();

        // THEN the error says the key is taken and names the object
        assert!(err.is_key_taken(), "{err}");
        assert!(
            err.to_string().starts_with(&format!(
                "memory://evidence/{}: PreconditionFailed",
                entries[0].key
            )),
            "{err}"
        );

        // AND a store that cannot list says which prefix it could not list
        store.fail("ListObjectsV2", "AccessDenied");
        let err = incident_keys(&store, "IR-7").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot list memory://evidence/incidents/IR-7/: AccessDenied: injected by the test"
        );
        assert!(!err.is_key_taken());
    }

    #[tokio::test]
    async fn no_evidence_under_an_incident_is_an_error_naming_it() {
        let store = MemoryEvidence::new();
        let err = verify(&store, "IR-404").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "no evidence under memory://evidence/incidents/IR-404/"
        );
    }
}
