//! Phase 1, resolve: every target of the event to the principal IAM knows, each principal once.

use super::*;
use crate::error::AwsError;
use crate::principal::PrincipalError;

impl Responder {
    /// Resolves every target to its principal, all at once (a key's owner and a path are read
    /// ahead of every other request), and merges the targets that name the same principal: one
    /// principal is contained once per invocation, with every key any of its targets named.
    /// Returns the principals in the order the event first names them, and the waves it took.
    pub(super) async fn resolve<'a>(&'a self, run: &Invocation<'a>) -> (Vec<Resolved<'a>>, u32) {
        let urgent = Ticket {
            lane: 0,
            urgent: true,
        };
        let each = run
            .incident
            .targets
            .iter()
            .map(|t| pace::ticket(urgent, self.resolve_target(t, run)));
        let mut merged: Vec<Resolved<'a>> = Vec::new();
        let mut waves = 0;
        for (resolved, w) in futures::future::join_all(each).await {
            waves = waves.max(w);
            let Ok((principal, keys, iam)) = resolved else {
                merged.push(resolved);
                continue;
            };
            let same = merged
                .iter_mut()
                .find_map(|m| m.as_mut().ok().filter(|(p, _, _)| p.same_as(&principal)));
            match same {
                Some((_, known, _)) => {
                    for key in keys {
                        if !known.contains(&key) {
                            known.push(key);
                        }
                    }
                }
                None => merged.push(Ok((principal, keys, iam))),
            }
        }
        (merged, waves)
    }

    /// One target's principal as IAM knows it (its owner for a lone key, its path where a
    /// protected pattern needs one), and its account's IAM client; or why it stops here.
    async fn resolve_target<'a>(
        &'a self,
        target: &Target,
        run: &Invocation<'a>,
    ) -> (Resolved<'a>, u32) {
        let Invocation {
            me,
            accounts,
            protected,
            ..
        } = *run;
        let mut waves = 0;
        let account = account_of(target, me);
        let named = |principal: &Option<Principal>| match principal {
            Some(p) => p.arn(),
            None => format!("(owner of {})", target.access_key_ids[0]),
        };
        if let Some(why) = protected.get(&account) {
            let arn = named(&target.principal);
            return (
                Err(stop(Status::Refused, arn, &account, why.clone(), waves)),
                waves,
            );
        }
        let iam = match accounts.iam(&self.iam, &account) {
            Ok(iam) => iam,
            Err(blocked) => {
                let (status, why) = match blocked {
                    Blocked::Failed(why) => (Status::Partial, why),
                    Blocked::NotConfigured(why) => (Status::Refused, why),
                };
                let arn = named(&target.principal);
                return (Err(stop(status, arn, &account, why, waves)), waves);
            }
        };
        let principal = match &target.principal {
            Some(p) => p.clone(),
            None => {
                let key = &target.access_key_ids[0];
                waves += 1;
                match owner_of_key(iam, key, &account, &me.partition).await {
                    Ok(p) => p,
                    Err(why) => {
                        let why = why.to_string();
                        let stopped = stop(Status::Partial, named(&None), &account, why, waves);
                        return (Err(stopped), waves);
                    }
                }
            }
        };
        // A protected pattern with a path can only be decided once IAM has told the path.
        if !self
            .config
            .guard
            .protected
            .iter()
            .any(|p| p.needs_path(&principal))
        {
            return (Ok((principal, target.access_key_ids.clone(), iam)), waves);
        }
        waves += 1;
        match principal_with_path(iam, &principal).await {
            Ok(p) => (Ok((p, target.access_key_ids.clone(), iam)), waves),
            Err(e) => {
                let why = format!(
                    "could not read the principal's path, which a protected pattern needs; \
                     nothing was changed: {e}"
                );
                let (arn, account) = (principal.arn(), principal.account_id);
                (Err(stop(Status::Partial, arn, &account, why, waves)), waves)
            }
        }
    }
}

/// The account a target lives in: its principal's, the event's for a lone key, or our own.
pub(super) fn account_of(target: &Target, me: &Principal) -> String {
    target
        .principal
        .as_ref()
        .map(|p| p.account_id.clone())
        .or_else(|| target.account_id.clone())
        .unwrap_or_else(|| me.account_id.clone())
}

/// Why IAM would not give a principal's path.
#[derive(Debug, thiserror::Error)]
enum PathUnread {
    /// IAM refused or did not answer.
    #[error("{}", .0.detail)]
    Aws(#[source] AwsError),
    /// IAM answered without the ARN.
    #[error("IAM returned no ARN for {0}")]
    NoArn(String),
}

/// Why the owner of an access key is not known: nothing was changed.
#[derive(Debug, thiserror::Error)]
enum OwnerUnknown {
    /// A temporary key, which IAM cannot place.
    #[error(
        "{key} is a temporary (STS) key: IAM cannot tell which role issued it, so nothing \
         was changed. Find the role in CloudTrail (userIdentity.sessionContext.sessionIssuer) \
         and run revoke-sessions on it."
    )]
    Temporary {
        /// The key.
        key: String,
    },
    /// IAM would not say.
    #[error(
        "could not find the owner of access key {key} in account {account}: {}; nothing was changed",
        .error.detail
    )]
    Unread {
        /// The key.
        key: String,
        /// The account asked.
        account: String,
        /// IAM's error.
        #[source]
        error: AwsError,
    },
    /// IAM named an owner that is not a user of the account and partition.
    #[error("IAM named the owner of {key} as {error}")]
    Named {
        /// The key.
        key: String,
        /// What is wrong with the owner.
        #[source]
        error: PrincipalError,
    },
}

/// The principal as IAM knows it, path included.
async fn principal_with_path(
    iam: &aws_sdk_iam::Client,
    principal: &Principal,
) -> Result<Principal, PathUnread> {
    let arn = match principal.kind {
        PrincipalKind::Role => iam
            .get_role()
            .role_name(&principal.name)
            .send()
            .await
            .map_err(|e| PathUnread::Aws(AwsError::from_sdk("GetRole", e)))?
            .role
            .map(|r| r.arn),
        _ => iam
            .get_user()
            .user_name(&principal.name)
            .send()
            .await
            .map_err(|e| PathUnread::Aws(AwsError::from_sdk("GetUser", e)))?
            .user
            .map(|u| u.arn),
    };
    arn.and_then(|arn| Principal::parse_arn(&arn).ok())
        .ok_or_else(|| PathUnread::NoArn(principal.to_string()))
}

/// Finds the user that owns an access key in `account`.
async fn owner_of_key(
    iam: &aws_sdk_iam::Client,
    key: &str,
    account: &str,
    partition: &str,
) -> Result<Principal, OwnerUnknown> {
    if plan::is_temporary_key(key) {
        return Err(OwnerUnknown::Temporary {
            key: key.to_owned(),
        });
    }
    let out = iam
        .get_access_key_last_used()
        .access_key_id(key)
        .send()
        .await
        .map_err(|e| OwnerUnknown::Unread {
            key: key.to_owned(),
            account: account.to_owned(),
            error: AwsError::from_sdk("GetAccessKeyLastUsed", e),
        })?;
    let name = out.user_name.unwrap_or_default();
    // A key's owner lives in the responder's partition: IAM answers for no other.
    Principal::user(account, &name)
        .and_then(|p| p.in_partition(partition))
        .map_err(|error| OwnerUnknown::Named {
            key: key.to_owned(),
            error,
        })
}
