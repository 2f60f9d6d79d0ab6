//! The evidence store in memory: write-once keys, every version kept, and faults on demand.

use crate::error::AwsError;
use crate::evidence::Retention;
use crate::ledger::EvidenceObject;
use crate::ports::EvidenceStore;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// An evidence bucket in memory, versioned like the deployed one.
#[derive(Debug, Default)]
pub struct MemoryEvidence {
    objects: Mutex<BTreeMap<String, Vec<Stored>>>,
    failing: Mutex<BTreeMap<&'static str, String>>,
}

/// One version of one object.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// Its bytes.
    pub body: Vec<u8>,
    /// The version id the store gave it.
    pub version_id: String,
    /// The Object Lock retention it was stored with, and until when.
    pub retention: Option<(Retention, DateTime<Utc>)>,
}

impl MemoryEvidence {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, every `operation` (`PutObject`, `GetObject`, `ListObjectsV2`,
    /// `ListObjectVersions`) fails with the service error `code`.
    pub fn fail(&self, operation: &'static str, code: &str) {
        self.lock_failing().insert(operation, code.to_owned());
    }

    /// Writes over `key` without the write-once check, as an attacker with `s3:PutObject` on
    /// an unlocked bucket could.
    pub fn overwrite(&self, key: &str, body: &[u8]) {
        let mut objects = self.lock_objects();
        let versions = objects.entry(key.to_owned()).or_default();
        let version_id = format!("v{}", versions.len() + 1);
        versions.push(Stored {
            body: body.to_vec(),
            version_id,
            retention: None,
        });
    }

    /// Every version of `key`, oldest first.
    pub fn stored(&self, key: &str) -> Vec<Stored> {
        self.lock_objects().get(key).cloned().unwrap_or_default()
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.lock_objects().keys().cloned().collect()
    }

    fn lock_objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<Stored>>> {
        // A test that panicked while holding the lock has failed already; its data stays usable.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_failing(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, String>> {
        self.failing.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check(&self, operation: &'static str) -> Result<(), AwsError> {
        match self.lock_failing().get(operation) {
            Some(code) => Err(AwsError::service(operation, code, "injected by the test")),
            None => Ok(()),
        }
    }
}

impl EvidenceStore for MemoryEvidence {
    fn location(&self) -> String {
        "memory://evidence".to_owned()
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, AwsError>> {
        Box::pin(async move {
            self.check("ListObjectsV2")?;
            Ok(self
                .lock_objects()
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect())
        })
    }

    fn versions<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<BTreeMap<String, usize>, AwsError>> {
        Box::pin(async move {
            self.check("ListObjectVersions")?;
            Ok(self
                .lock_objects()
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.len()))
                .collect())
        })
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
        version_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<u8>, AwsError>> {
        Box::pin(async move {
            self.check("GetObject")?;
            let objects = self.lock_objects();
            let versions = objects.get(key).map(Vec::as_slice).unwrap_or_default();
            let found = match version_id {
                Some(id) => versions.iter().find(|v| v.version_id == id),
                None => versions.last(),
            };
            found.map(|v| v.body.clone()).ok_or_else(|| {
                AwsError::service(
                    "GetObject",
                    "NoSuchKey",
                    "The specified key does not exist.",
                )
            })
        })
    }

    fn put<'a>(
        &'a self,
        object: &'a EvidenceObject,
        retention: Option<(&'a Retention, DateTime<Utc>)>,
    ) -> BoxFuture<'a, Result<Option<String>, AwsError>> {
        Box::pin(async move {
            self.check("PutObject")?;
            let mut objects = self.lock_objects();
            let versions = objects.entry(object.key.clone()).or_default();
            if !versions.is_empty() {
                return Err(AwsError::service(
                    "PutObject",
                    "PreconditionFailed",
                    "At least one of the pre-conditions you specified did not hold",
                ));
            }
            let version_id = "v1".to_owned();
            versions.push(Stored {
                body: object.body.clone(),
                version_id: version_id.clone(),
                retention: retention.map(|(r, started)| {
                    (
                        r.clone(),
                        started + chrono::TimeDelta::days(i64::from(r.days)),
                    )
                }),
            });
            Ok(Some(version_id))
        })
    }
}
