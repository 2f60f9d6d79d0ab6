//! Writes: each step against IAM, and the fallback routes when a deny does not fit inline.
//! Nothing here deletes anything; every write is one IAM considers idempotent.

use crate::error::describe;
use crate::plan::{self, Action, Step};
use crate::principal::{Principal, PrincipalKind};
use aws_sdk_iam::Client;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::{StatusType, Tag};
use std::fmt::Debug;

/// How a policy step was carried out (kept in the report, so that a release can undo it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// An inline policy on the principal.
    Inline,
    /// A managed policy under `/tourniquet/`, attached to the principal.
    Managed,
    /// The user was added to the quarantine group, which carries the managed deny.
    QuarantineGroup,
}

impl Route {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Inline => "inline",
            Route::Managed => "managed",
            Route::QuarantineGroup => "quarantine_group",
        }
    }
}

/// A write that went through: by which route, after how many sequential calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The route, for policy steps.
    pub route: Option<Route>,
    /// Sequential IAM calls it took.
    pub calls: u32,
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

fn failed<E, R>(err: SdkError<E, R>, calls: u32) -> WriteError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    WriteError {
        limit_exceeded: err.code() == Some("LimitExceeded"),
        message: describe(&err),
        calls,
    }
}

/// `EntityAlreadyExists` is success for a create whose result is deterministic.
fn exists_is_ok<T, E, R>(result: Result<T, SdkError<E, R>>, calls: u32) -> Result<(), WriteError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some("EntityAlreadyExists") => Ok(()),
        Err(e) => Err(failed(e, calls)),
    }
}

/// Writes steps for one principal.
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
        let done = |route| Written { route, calls: 1 };
        match step.action {
            Action::AttachDenyAll => inline(plan::deny_all_document())
                .await
                .map(|()| done(Some(Route::Inline))),
            Action::RevokeSessions => inline(plan::revoke_sessions_document(self.cutoff))
                .await
                .map(|()| done(Some(Route::Inline))),
            Action::DeactivateAccessKey => self
                .iam
                .update_access_key()
                .user_name(self.name())
                .access_key_id(&step.target)
                .status(StatusType::Inactive)
                .send()
                .await
                .map(|_| done(None))
                .map_err(|e| failed(e, 1)),
            Action::TagPrincipal => self.tag(&step.tags).await.map(|()| done(None)),
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
        })
    }

    async fn put_inline(&self, name: &str, document: String) -> Result<(), WriteError> {
        if self.is_role() {
            self.iam
                .put_role_policy()
                .role_name(self.name())
                .policy_name(name)
                .policy_document(document)
                .send()
                .await
                .map(drop)
                .map_err(|e| failed(e, 1))
        } else {
            self.iam
                .put_user_policy()
                .user_name(self.name())
                .policy_name(name)
                .policy_document(document)
                .send()
                .await
                .map(drop)
                .map_err(|e| failed(e, 1))
        }
    }

    async fn tag(&self, tags: &[(String, String)]) -> Result<(), WriteError> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WriteError {
                message: e.to_string(),
                limit_exceeded: false,
                calls: 0,
            })?;
        if self.is_role() {
            let out = self
                .iam
                .tag_role()
                .role_name(self.name())
                .set_tags(Some(tags))
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, 1))
        } else {
            let out = self
                .iam
                .tag_user()
                .user_name(self.name())
                .set_tags(Some(tags))
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, 1))
        }
    }

    /// Undoes a deny by the route it was put in place: the inline policy comes off, the managed one
    /// is detached (not deleted: other principals may carry it), or the user leaves the group.
    pub async fn remove_deny(&self, name: &str, route: &str) -> Result<(), WriteError> {
        let arn = format!(
            "arn:{}:iam::{}:policy{}{name}",
            self.principal.partition,
            self.principal.account_id,
            plan::MANAGED_PATH
        );
        let user = self.name();
        match (route, self.is_role()) {
            ("managed", true) => {
                let out = self
                    .iam
                    .detach_role_policy()
                    .role_name(user)
                    .policy_arn(arn)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            ("managed", false) => {
                let out = self
                    .iam
                    .detach_user_policy()
                    .user_name(user)
                    .policy_arn(arn)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            ("quarantine_group", _) => {
                let out = self
                    .iam
                    .remove_user_from_group()
                    .group_name(plan::QUARANTINE_GROUP)
                    .user_name(user)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            (_, true) => {
                let out = self
                    .iam
                    .delete_role_policy()
                    .role_name(user)
                    .policy_name(name)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            (_, false) => {
                let out = self
                    .iam
                    .delete_user_policy()
                    .user_name(user)
                    .policy_name(name)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
        }
    }

    /// Sets a key Active again.
    pub async fn reactivate_key(&self, key: &str) -> Result<(), WriteError> {
        self.iam
            .update_access_key()
            .user_name(self.name())
            .access_key_id(key)
            .status(StatusType::Active)
            .send()
            .await
            .map(drop)
            .map_err(|e| failed(e, 1))
    }

    /// Removes tags by key.
    pub async fn untag(&self, keys: &[&str]) -> Result<(), WriteError> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        if self.is_role() {
            let out = self
                .iam
                .untag_role()
                .role_name(self.name())
                .set_tag_keys(Some(keys))
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, 1))
        } else {
            let out = self
                .iam
                .untag_user()
                .user_name(self.name())
                .set_tag_keys(Some(keys))
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, 1))
        }
    }

    /// Writes tags.
    pub async fn add_tags(&self, tags: &[(String, String)]) -> Result<(), WriteError> {
        self.tag(tags).await
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
        // An existing policy keeps its document: for the session policy, that keeps an earlier
        // containment's cutoff.
        let arn = self.managed_policy(&name, document, 0).await?;
        match self.attach(&arn, 1).await {
            Ok(()) => Ok(Written {
                route: Some(Route::Managed),
                calls: 2,
            }),
            Err(e)
                if e.limit_exceeded && step.action == Action::AttachDenyAll && !self.is_role() =>
            {
                self.quarantine(&arn).await
            }
            Err(e) => Err(e),
        }
    }

    async fn managed_policy(
        &self,
        name: &str,
        document: String,
        calls: u32,
    ) -> Result<String, WriteError> {
        let created = self
            .iam
            .create_policy()
            .policy_name(name)
            .path(plan::MANAGED_PATH)
            .policy_document(document)
            .description("Tourniquet containment; see the incident tags on the principal")
            .send()
            .await;
        exists_is_ok(created, calls + 1)?;
        Ok(format!(
            "arn:{}:iam::{}:policy{}{name}",
            self.principal.partition,
            self.principal.account_id,
            plan::MANAGED_PATH
        ))
    }

    async fn attach(&self, arn: &str, calls: u32) -> Result<(), WriteError> {
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

    async fn quarantine(&self, deny_arn: &str) -> Result<Written, WriteError> {
        let group = plan::QUARANTINE_GROUP;
        let created = self
            .iam
            .create_group()
            .group_name(group)
            .path(plan::MANAGED_PATH)
            .send()
            .await;
        exists_is_ok(created, 3)?;
        self.iam
            .attach_group_policy()
            .group_name(group)
            .policy_arn(deny_arn)
            .send()
            .await
            .map_err(|e| failed(e, 4))?;
        self.iam
            .add_user_to_group()
            .group_name(group)
            .user_name(self.name())
            .send()
            .await
            .map_err(|e| failed(e, 5))?;
        Ok(Written {
            route: Some(Route::QuarantineGroup),
            calls: 5,
        })
    }
}
