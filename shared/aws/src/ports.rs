//! The ports: one narrow trait per role the phases need from the outside world, so that a phase
//! can run against the SDK adapters ([`crate::sdk`]) in production and the in-memory ones
//! ([`crate::memory`]) in its unit tests. Futures are boxed (`&dyn` ports), as the SDK's are.

use crate::error::AwsError;
use crate::evidence::Retention;
use crate::ledger::EvidenceObject;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::collections::BTreeMap;

/// The evidence store: write-once objects under keys of the ledger's grammar.
///
/// The contract both adapters keep (`tests/tests/evidence_store.rs` holds them to it): keys are
/// listed in order; a `put` to a key that exists is refused with `PreconditionFailed` and leaves
/// the object as it was; `get` of a key that does not exist is `NoSuchKey`; a versioned store
/// answers each object's version.
pub trait EvidenceStore: Send + Sync {
    /// Where the objects are, for messages (`s3://tourniquet-evidence`).
    fn location(&self) -> String;

    /// Every key under `prefix`, sorted.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, AwsError>>;

    /// How many versions and delete markers each key under `prefix` has.
    fn versions<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<BTreeMap<String, usize>, AwsError>>;

    /// One object's bytes: the version given, or the current one.
    fn get<'a>(
        &'a self,
        key: &'a str,
        version_id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<u8>, AwsError>>;

    /// Stores `object` unless its key exists, with its SHA-256 checked on arrival and, with
    /// `retention`, locked until the run's start plus the retention; answers the version stored
    /// (`None` in an unversioned store).
    fn put<'a>(
        &'a self,
        object: &'a EvidenceObject,
        retention: Option<(&'a Retention, DateTime<Utc>)>,
    ) -> BoxFuture<'a, Result<Option<String>, AwsError>>;
}
