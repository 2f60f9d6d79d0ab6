//! Many accounts: the IAM client for each account an invocation touches. The function's own
//! account uses its own client; any other is entered by assuming the function's member role there
//! (`MEMBER_ROLE_NAME` followed by `Read`, `Contain` or `Release`, by what the function does), once
//! per account per invocation, all accounts at once. Evidence always goes to the central bucket.

use super::Responder;
use crate::error::describe;
use crate::plan;
use crate::principal::Principal;
use aws_sdk_iam::config::Credentials;
use std::collections::{BTreeMap, BTreeSet};

/// Shortest session STS allows: the credentials outlive one invocation and no more.
const SESSION_SECONDS: i32 = 900;

/// How another account can be reached in this invocation.
#[derive(Clone)]
enum Entry {
    Entered(aws_sdk_iam::Client, Credentials),
    NotConfigured(String),
    Failed(String),
}

/// The accounts of one invocation.
#[derive(Clone)]
pub(super) struct Accounts {
    own: String,
    others: BTreeMap<String, Entry>,
}

/// Why a target's account cannot be reached.
pub(super) enum Blocked {
    /// No member role is configured: the target is refused, with what to do instead.
    NotConfigured(String),
    /// The member role could not be assumed: the target failed; the others go on.
    Failed(String),
}

impl Accounts {
    /// Whether `account` is the own or was entered (or tried).
    pub(super) fn has(&self, account: &str) -> bool {
        account == self.own || self.others.contains_key(account)
    }

    /// These accounts and `more`'s.
    pub(super) fn with(mut self, more: Accounts) -> Self {
        self.others.extend(more.others);
        self
    }

    /// The member role's credentials in another account (for its other clients: CloudTrail's).
    pub(super) fn credentials(&self, account: &str) -> Result<Credentials, Blocked> {
        match self.others.get(account) {
            Some(Entry::Entered(_, credentials)) => Ok(credentials.clone()),
            Some(Entry::NotConfigured(why)) => Err(Blocked::NotConfigured(why.clone())),
            Some(Entry::Failed(why)) => Err(Blocked::Failed(why.clone())),
            None => Err(Blocked::Failed(format!(
                "account {account} was not entered"
            ))),
        }
    }

    /// The IAM client for `account`.
    pub(super) fn iam<'a>(
        &'a self,
        own: &'a aws_sdk_iam::Client,
        account: &str,
    ) -> Result<&'a aws_sdk_iam::Client, Blocked> {
        if account == self.own {
            return Ok(own);
        }
        match self.others.get(account) {
            Some(Entry::Entered(client, _)) => Ok(client),
            Some(Entry::NotConfigured(why)) => Err(Blocked::NotConfigured(why.clone())),
            Some(Entry::Failed(why)) => Err(Blocked::Failed(why.clone())),
            None => Err(Blocked::Failed(format!(
                "account {account} was not entered"
            ))),
        }
    }
}

impl Responder {
    /// Enters every account of `accounts` that is not the function's own, all at once (one wave
    /// when there is any), and says how many waves it took.
    pub(super) async fn enter(
        &self,
        me: &Principal,
        accounts: BTreeSet<String>,
        incident_id: &str,
    ) -> (Accounts, u32) {
        let foreign: Vec<String> = accounts
            .into_iter()
            .filter(|a| *a != me.account_id)
            .collect();
        let waves = u32::from(!foreign.is_empty() && self.config.guard.member_role_name.is_some());
        let entries = futures::future::join_all(foreign.iter().map(|account| async move {
            let entry = match &self.config.guard.member_role_name {
                None => Entry::NotConfigured(plan::other_account(account, &me.account_id)),
                Some(base) => match self.assume(me, account, base, incident_id).await {
                    Ok((client, credentials)) => Entry::Entered(client, credentials),
                    Err(why) => Entry::Failed(why),
                },
            };
            (account.clone(), entry)
        }))
        .await;
        let accounts = Accounts {
            own: me.account_id.clone(),
            others: entries.into_iter().collect(),
        };
        (accounts, waves)
    }

    /// Assumes this function's member role (named from `base`) in `account` through the regional
    /// STS endpoint (the SDK's default), with a session name carrying the incident and the
    /// shortest duration, and builds an IAM client.
    async fn assume(
        &self,
        me: &Principal,
        account: &str,
        base: &str,
        incident_id: &str,
    ) -> Result<(aws_sdk_iam::Client, Credentials), String> {
        let Some(kind) = self.playbook.member_role() else {
            return Err(format!(
                "`{}` works in its own account only: it has no member role",
                self.playbook.name()
            ));
        };
        let role = format!("{base}{}", kind.suffix());
        let arn = format!("arn:{}:iam::{account}:role/{role}", me.partition);
        let session: String = format!("tourniquet-{incident_id}")
            .chars()
            .take(64)
            .collect();
        let out = self
            .sts
            .assume_role()
            .role_arn(&arn)
            .role_session_name(session)
            .duration_seconds(SESSION_SECONDS)
            .set_external_id(self.config.member_external_id.clone())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot enter account {account}: sts:AssumeRole on {arn} failed ({}); nothing was \
                     changed there. Check that member-role.yaml is deployed in {account} and trusts \
                     this function's role",
                    describe(&e)
                )
            })?;
        let credentials = out
            .credentials
            .ok_or_else(|| format!("sts:AssumeRole on {arn} returned no credentials"))?;
        let credentials = Credentials::new(
            credentials.access_key_id,
            credentials.secret_access_key,
            Some(credentials.session_token),
            std::time::SystemTime::try_from(credentials.expiration).ok(),
            "tourniquet-member-role",
        );
        let mut config = self.iam.config().to_builder();
        config.set_credentials_provider(Some(aws_sdk_iam::config::SharedCredentialsProvider::new(
            credentials.clone(),
        )));
        // IAM's rate is the account's: another account gets a bucket of its own.
        if let Some(paced) = &self.paced {
            config.set_http_client(Some(aws_sdk_iam::config::SharedHttpClient::new(
                paced.fresh(),
            )));
        }
        let config = config.build();
        Ok((aws_sdk_iam::Client::from_conf(config), credentials))
    }
}
