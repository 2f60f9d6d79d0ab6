//! Tourniquet's managed policies under `/tourniquet/`: created once, attached to the principal.

use super::{WriteError, Writer, failed};
use crate::plan;
use aws_sdk_iam::error::ProvideErrorMetadata;
use sha2::{Digest, Sha256};
use std::hash::{BuildHasher, Hasher};

/// A scope from a fresh random state: its keys are seeded from the operating system.
fn random_scope() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Tourniquet's managed policy as a run found or created it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Managed {
    /// Its ARN (the ledger records it, so that a release detaches this one).
    pub arn: String,
    /// Sequential IAM calls it took.
    pub calls: u32,
    /// A policy that held the name with content Tourniquet did not write, left alone.
    pub look_alike: Option<String>,
}

impl Writer<'_> {
    /// Tourniquet's managed policy `name` with `document`: created, or found. A name proves
    /// nothing (anyone allowed `iam:CreatePolicy` can take `/tourniquet/TourniquetDenyAll`):
    /// `EntityAlreadyExists` counts only when the policy's default version says what Tourniquet
    /// writes. Otherwise the look-alike is left as it is, and Tourniquet's own is created under
    /// a name nobody can guess ([`plan::scoped_policy_name`]).
    pub(super) async fn managed_policy(
        &self,
        name: &str,
        document: String,
        calls: u32,
    ) -> Result<Managed, WriteError> {
        let arn = plan::managed_policy_arn(self.principal, name);
        match self.create_policy(name, &document).await {
            Ok(()) => {
                return Ok(Managed {
                    arn,
                    calls: calls + 1,
                    look_alike: None,
                });
            }
            Err(e) if e.code() == Some("EntityAlreadyExists") => {}
            Err(e) => return Err(failed(e, calls + 1)),
        }
        if self.holds_own_document(&arn, &document).await {
            return Ok(Managed {
                arn,
                calls: calls + 3,
                look_alike: None,
            });
        }
        // First the name this very document always gets (a replay finds it again, and the
        // principal does not collect a policy per replay), then, if someone took that one too,
        // a random one nobody can take beforehand.
        let digest = Sha256::digest(document.as_bytes());
        let of_document = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
        let mut calls = calls + 3;
        for scope in [of_document, random_scope()] {
            let own = plan::scoped_policy_name(name, scope);
            let own_arn = plan::managed_policy_arn(self.principal, &own);
            calls += 1;
            match self.create_policy(&own, &document).await {
                Ok(()) => {}
                Err(e) if e.code() == Some("EntityAlreadyExists") => {
                    calls += 2;
                    if !self.holds_own_document(&own_arn, &document).await {
                        continue;
                    }
                }
                Err(e) => return Err(failed(e, calls)),
            }
            return Ok(Managed {
                arn: own_arn,
                calls,
                look_alike: Some(arn),
            });
        }
        Err(WriteError {
            message: format!(
                "{arn} and its scoped names are held by documents Tourniquet did not write"
            ),
            limit_exceeded: false,
            calls,
        })
    }

    async fn create_policy(
        &self,
        name: &str,
        document: &str,
    ) -> Result<
        (),
        aws_sdk_iam::error::SdkError<aws_sdk_iam::operation::create_policy::CreatePolicyError>,
    > {
        self.iam
            .create_policy()
            .policy_name(name)
            .path(plan::MANAGED_PATH)
            .policy_document(document)
            .description("Tourniquet containment; see the incident tags on the principal")
            .send()
            .await
            .map(drop)
    }

    /// Whether the managed policy `arn`'s default version is Tourniquet's `document` (compared
    /// parsed: IAM answers documents URL-encoded). An unreadable one is not.
    async fn holds_own_document(&self, arn: &str, document: &str) -> bool {
        let Ok(policy) = self.iam.get_policy().policy_arn(arn).send().await else {
            return false;
        };
        let Some(version) = policy.policy.and_then(|p| p.default_version_id) else {
            return false;
        };
        let Ok(out) = self
            .iam
            .get_policy_version()
            .policy_arn(arn)
            .version_id(version)
            .send()
            .await
        else {
            return false;
        };
        out.policy_version
            .and_then(|v| v.document)
            .and_then(|d| crate::snapshot::decode_policy(&d).ok())
            .is_some_and(|existing| plan::is_own_document(&existing, document))
    }

    pub(super) async fn attach(&self, arn: &str, calls: u32) -> Result<(), WriteError> {
        if self.is_role() {
            let out = self
                .iam
                .attach_role_policy()
                .role_name(self.name())
                .policy_arn(arn)
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, calls + 1))
        } else {
            let out = self
                .iam
                .attach_user_policy()
                .user_name(self.name())
                .policy_arn(arn)
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, calls + 1))
        }
    }
}
