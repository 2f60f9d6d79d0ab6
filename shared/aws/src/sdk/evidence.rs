//! The evidence store in S3: `If-None-Match: *` keeps every object write-once, S3 checks the
//! SHA-256 on arrival, and Object Lock keeps it for the retention.

use crate::error::AwsError;
use crate::evidence::Retention;
use crate::ledger::EvidenceObject;
use crate::ports::EvidenceStore;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The evidence bucket.
#[derive(Clone, Debug)]
pub struct S3Evidence {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Evidence {
    /// The store in `bucket`, through `s3`.
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            s3,
            bucket: bucket.into(),
        }
    }
}

impl EvidenceStore for S3Evidence {
    fn location(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, AwsError>> {
        Box::pin(async move {
            let pages = self
                .s3
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .into_paginator()
                .send()
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AwsError::from_sdk("ListObjectsV2", e))?;
            let mut keys: Vec<String> = pages
                .into_iter()
                .flat_map(|page| page.contents.unwrap_or_default())
                .filter_map(|o| o.key)
                .collect();
            keys.sort();
            Ok(keys)
        })
    }

    /// `ListObjectVersions` pages by two markers, which the SDK's paginators do not cover.
    fn versions<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<BTreeMap<String, usize>, AwsError>> {
        Box::pin(async move {
            let mut counts = BTreeMap::new();
            let (mut key_marker, mut version_marker) = (None, None);
            loop {
                let page = self
                    .s3
                    .list_object_versions()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .set_key_marker(key_marker.take())
                    .set_version_id_marker(version_marker.take())
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk("ListObjectVersions", e))?;
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
        })
    }

    fn get<'a>(
        &'a self,
        key: &'a str,
        version_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<u8>, AwsError>> {
        Box::pin(async move {
            let object = self
                .s3
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .set_version_id(version_id.map(str::to_owned))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("GetObject", e))?;
            object
                .body
                .collect()
                .await
                .map(|b| b.to_vec())
                .map_err(|e| AwsError {
                    operation: "GetObject",
                    code: None,
                    detail: format!("the body could not be read: {e}"),
                    source: Some(Box::new(e)),
                })
        })
    }

    fn put<'a>(
        &'a self,
        object: &'a EvidenceObject,
        retention: Option<(&'a Retention, DateTime<Utc>)>,
    ) -> BoxFuture<'a, Result<Option<String>, AwsError>> {
        Box::pin(async move {
            let digest = Sha256::digest(&object.body);
            let mut request = self
                .s3
                .put_object()
                .bucket(&self.bucket)
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
                .map_err(|e| AwsError::from_sdk("PutObject", e))?;
            // An unversioned bucket answers no version (or "null"): nothing to record.
            Ok(out.version_id.filter(|v| v != "null"))
        })
    }
}
