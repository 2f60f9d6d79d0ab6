//! The evidence store: JSON objects in S3, each hashed with SHA-256, never overwritten.
//!
//! Layout: `incidents/<incident id>/<run started, UTC>/event.json`, then
//! `.../<account>/<user|role>/<name>/snapshot.json` per principal, and `.../report.json`.
//! A replay is a new run with its own timestamp, so it never touches an earlier run's objects.

use crate::error::describe;
use crate::report::Evidence;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The key prefix of one run of one incident; sorts by incident, then time.
pub fn run_prefix(incident_id: &str, started: DateTime<Utc>) -> String {
    format!(
        "incidents/{incident_id}/{}",
        started.format("%Y%m%dT%H%M%S%.3fZ")
    )
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
}

impl EvidenceObject {
    /// Serializes `value` and hashes the bytes that will be stored.
    pub fn json(key: String, value: &impl serde::Serialize) -> Self {
        // Serializing our own types into a Vec cannot fail.
        let body = serde_json::to_vec_pretty(value).unwrap_or_default();
        let sha256 = hex::encode(Sha256::digest(&body));
        Self { key, body, sha256 }
    }

    /// The report entry for this object.
    pub fn evidence(&self) -> Evidence {
        Evidence {
            key: self.key.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

/// Uploads one object. S3 checks the SHA-256 on arrival; `If-None-Match: *` refuses to replace an
/// object that already exists, so evidence is never overwritten.
pub async fn put(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    object: &EvidenceObject,
) -> Result<Evidence, String> {
    let digest = Sha256::digest(&object.body);
    s3.put_object()
        .bucket(bucket)
        .key(&object.key)
        .content_type("application/json")
        .checksum_sha256(aws_smithy_types::base64::encode(digest))
        .if_none_match("*")
        .body(object.body.clone().into())
        .send()
        .await
        .map_err(|e| format!("s3://{bucket}/{}: {}", object.key, describe(&e)))?;
    Ok(object.evidence())
}
