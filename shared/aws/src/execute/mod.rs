//! Writes: each step against IAM, and the fallback routes when a policy does not fit inline.
//!
//! The IAM calls are grouped by what they do, one module each, so that what a function may call
//! can be read off the source (`tests/tests/template.rs` checks `template.yaml` against it):
//! `inline` and `managed` (policies), `quarantine` (the group), `keys`, `credentials`, `tags` for
//! containment;
//! `undo` for release, the only module that removes anything, and only Tourniquet's own.

use crate::error::describe;
use crate::plan::{self, Action, Step};
use crate::principal::{Principal, PrincipalKind};
use aws_sdk_iam::Client;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::StatusType;
use std::fmt::Debug;

mod credentials;
mod inline;
mod keys;
pub mod managed;
mod quarantine;
mod tags;
mod undo;

pub use crate::plan::Route;

/// A write that went through: by which route, after how many sequential calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The route, for policy steps.
    pub route: Option<Route>,
    /// Sequential IAM calls it took.
    pub calls: u32,
    /// The managed policy a fallback route attached, when it took one, and the look-alike it
    /// found holding Tourniquet's name.
    pub managed: Option<managed::Managed>,
}

/// A write that did not go through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteError {
    /// AWS's error code and message.
    pub message: String,
    /// IAM said `LimitExceeded`: the policy does not fit by this route; another may.
    pub limit_exceeded: bool,
    /// Sequential IAM calls it took.
    pub calls: u32,
}

pub(crate) fn failed<E, R>(err: SdkError<E, R>, calls: u32) -> WriteError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::error::HttpStatus + Debug + 'static,
{
    WriteError {
        limit_exceeded: err.code() == Some("LimitExceeded"),
        message: describe(&err),
        calls,
    }
}

/// `EntityAlreadyExists` is success for a create whose result is deterministic.
pub(crate) fn exists_is_ok<T, E, R>(
    result: Result<T, SdkError<E, R>>,
    calls: u32,
) -> Result<(), WriteError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: crate::error::HttpStatus + Debug + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("EntityAlreadyExists") => Ok(()),
        Err(e) => Err(failed(e, calls)),
    }
}

/// Writes steps for one principal.
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    /// The IAM client.
    pub iam: &'a Client,
    /// Whose steps.
    pub principal: &'a Principal,
    /// The session cutoff of this run.
    pub cutoff: &'a str,
}

impl Writer<'_> {
    fn is_role(&self) -> bool {
        self.principal.kind == PrincipalKind::Role
    }

    fn name(&self) -> &str {
        &self.principal.name
    }

    /// The first attempt at a step: policies go inline.
    pub async fn apply(&self, step: &Step) -> Result<Written, WriteError> {
        let inline = |document: String| self.put_inline(&step.target, document);
        let done = |route| Written {
            route,
            calls: 1,
            managed: None,
        };
        match step.action {
            Action::AttachDenyAll => inline(plan::deny_all_document())
                .await
                .map(|()| done(Some(Route::Inline))),
            Action::RevokeSessions => inline(plan::revoke_sessions_document(self.cutoff))
                .await
                .map(|()| done(Some(Route::Inline))),
            Action::DeactivateAccessKey => self
                .set_key_status(&step.target, StatusType::Inactive)
                .await
                .map(|()| done(None)),
            Action::DeactivateCredential => self
                .set_credential_status(&step.target, StatusType::Inactive)
                .await
                .map(|()| done(None)),
            Action::TagPrincipal => self.tag(&step.tags).await.map(|()| done(None)),
            other => Err(WriteError {
                message: format!("{other} is a release's step, not a containment's"),
                limit_exceeded: false,
                calls: 0,
            }),
        }
    }

    /// Puts back an earlier containment's session cutoff, which this run's first wave replaced.
    pub async fn restore_cutoff(&self, cutoff: &str) -> Result<Written, WriteError> {
        self.put_inline(
            plan::REVOKE_POLICY_NAME,
            plan::revoke_sessions_document(cutoff),
        )
        .await
        .map(|()| Written {
            route: Some(Route::Inline),
            calls: 1,
            managed: None,
        })
    }

    /// After the inline policy did not fit: a managed policy, then (users only) the quarantine group.
    pub async fn fallback(&self, step: &Step) -> Result<Written, WriteError> {
        let (name, document) = match step.action {
            Action::AttachDenyAll => (
                plan::DENY_POLICY_NAME.to_string(),
                plan::deny_all_document(),
            ),
            Action::RevokeSessions => (
                plan::managed_revoke_policy_name(self.principal),
                plan::revoke_sessions_document(self.cutoff),
            ),
            _ => {
                return Err(WriteError {
                    message: format!("{} has no fallback route", step.action.as_str()),
                    limit_exceeded: false,
                    calls: 0,
                });
            }
        };
        // An existing policy is reused only when it holds this very document (for the session
        // policy, the cutoff the run wants in force); a look-alike or a stale cutoff is left as
        // it is and Tourniquet's own goes on under a scoped name.
        let managed = self.managed_policy(&name, document, 0).await?;
        match self.attach(&managed.arn, managed.calls).await {
            Ok(()) => Ok(Written {
                route: Some(Route::Managed),
                calls: managed.calls + 1,
                managed: Some(managed),
            }),
            Err(e)
                if e.limit_exceeded && step.action == Action::AttachDenyAll && !self.is_role() =>
            {
                self.quarantine(managed).await
            }
            Err(e) => Err(e),
        }
    }
}
