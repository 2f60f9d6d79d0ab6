//! Organization scale, the part that talks to AWS: where an incident's targets are (an
//! organization-wide request's accounts through AWS Organizations, a lone key's account through
//! `sts:GetAccessKeyInfo`), the dispatch of an incident too large for one invocation to the work
//! queue, the work items the queue brings back (each checked against the dispatch in the evidence
//! store), the incident's status, and its one summary when the last item ends.

use super::*;
use crate::error::AwsError;
use crate::evidence::EvidenceError;
use crate::fanout::{Dispatch, ItemState};
use crate::intake::AccountSet;
use crate::ledger;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::StreamExt;

/// Messages per `SendMessageBatch` (SQS's limit).
const MESSAGES_PER_BATCH: usize = 10;

/// `SendMessageBatch` requests in flight at once.
const BATCHES_AT_ONCE: usize = 8;

/// A work item's run: the item of which dispatch, and the incident's cutoff.
pub(super) struct WorkRun {
    /// The dispatch's start, as in its key.
    pub(super) dispatch: String,
    /// The item.
    pub(super) item: u32,
    /// The dispatch itself, as the evidence store holds it (its cutoff is the run's).
    pub(super) record: Dispatch,
}

/// Whether `event` is a batch of SQS records (the work queue's event source mapping).
pub(super) fn fanout_records(event: &Value) -> bool {
    event
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

/// Why nothing is contained in a `PROTECTED_ACCOUNTS` account.
pub(super) fn protected_account(account: &str) -> String {
    format!(
        "account {account} is protected (PROTECTED_ACCOUNTS): nothing is contained there; a \
         human must act in it directly"
    )
}

/// The accounts an organization-wide request selects, and the organization's management account.
struct OrganizationAccounts {
    accounts: Vec<String>,
    management: Option<String>,
}

/// The ids of the accounts that are active (suspended and closing accounts are left out).
#[allow(deprecated)]
fn active(
    accounts: impl IntoIterator<Item = aws_sdk_organizations::types::Account>,
) -> Vec<String> {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    accounts
        .into_iter()
        .filter(|a| match (&a.state, &a.status) {
            (Some(state), _) => *state == AccountState::Active,
            (None, Some(status)) => *status == AccountStatus::Active,
            (None, None) => true,
        })
        .filter_map(|a| a.id)
        .collect()
}

/// A dispatch's targets for the report: each item's, and those of protected accounts, refused.
fn dispatched_targets(
    incident: &Incident,
    accounts: &[String],
    protected: &BTreeMap<String, String>,
    dispatch: &Dispatch,
    dry_run: bool,
) -> Vec<TargetReport> {
    let each = if dry_run {
        Status::Planned
    } else {
        Status::Dispatched
    };
    let mut targets: Vec<TargetReport> = dispatch
        .items
        .iter()
        .flat_map(|item| {
            item.targets.iter().map(move |t| {
                let arn = t.principal_arn.clone().unwrap_or_else(|| {
                    format!("(owner of {})", t.access_key_ids.first().map_or("", |k| k))
                });
                TargetReport {
                    message: None,
                    ..TargetReport::stopped(arn, &item.account_id, each, String::new())
                }
            })
        })
        .collect();
    for (target, account) in incident.targets.iter().zip(accounts) {
        if let Some(reason) = protected.get(account) {
            let arn = target.principal.as_ref().map_or_else(
                || format!("(owner of {})", target.access_key_ids[0]),
                Principal::arn,
            );
            targets.push(TargetReport::stopped(
                arn,
                account,
                Status::Refused,
                reason.clone(),
            ));
        }
    }
    targets
}

/// What a dispatch says of itself: its status and how to follow its progress.
fn dispatch_message(
    incident: &Incident,
    dispatch: &Dispatch,
    why: &str,
    dry_run: bool,
) -> (Status, String) {
    if dry_run {
        (
            Status::Planned,
            format!(
                "would be fanned out ({why}): {} work items for the work queue; nothing was sent",
                dispatch.items.len()
            ),
        )
    } else {
        (
            Status::Dispatched,
            format!(
                "fanned out ({why}): {} work items sent to the work queue with the session \
                 cutoff {}; ask for its progress with {{\"incident_id\": \"{}\", \"status\": true}}",
                dispatch.items.len(),
                dispatch.cutoff,
                incident.id
            ),
        )
    }
}

/// What an organization-wide request that cannot list its accounts tells the responder.
const ORGANIZATION_ADVICE: &str = "nothing was changed. An organization-wide request runs in \
                                   the management account or a delegated administrator for AWS \
                                   Organizations, with organizations:ListAccounts, \
                                   ListAccountsForParent, ListOrganizationalUnitsForParent and \
                                   DescribeOrganization";

/// Why `sts:GetAccessKeyInfo` gave no account for a key.
#[derive(Debug, thiserror::Error)]
enum KeyAccountError {
    /// STS refused or did not answer.
    #[error("sts:GetAccessKeyInfo failed: {}", .0.detail)]
    Aws(#[source] AwsError),
    /// STS answered without an account.
    #[error("sts:GetAccessKeyInfo named no account")]
    NoAccount,
}

/// The organization's accounts could not be listed: nothing was changed.
#[derive(Debug, thiserror::Error)]
enum OrganizationError {
    /// The organization's accounts.
    #[error(
        "organizations:{} failed ({}); {}",
        .0.operation,
        .0.detail,
        ORGANIZATION_ADVICE
    )]
    List(#[source] AwsError),
    /// The accounts or units under a parent.
    #[error(
        "organizations:{} on {parent} failed ({}); {}",
        .error.operation,
        .error.detail,
        ORGANIZATION_ADVICE
    )]
    Under {
        /// The organizational unit (or root).
        parent: String,
        /// AWS's error.
        #[source]
        error: AwsError,
    },
}

/// A dispatch record that cannot be read back.
#[derive(Debug, thiserror::Error)]
enum DispatchUnread {
    /// The evidence store would not give it.
    #[error("s3://{bucket}/{key} cannot be read ({source})")]
    Read {
        /// The evidence bucket.
        bucket: String,
        /// The record's key.
        key: String,
        /// The store's error.
        #[source]
        source: EvidenceError,
    },
    /// It is not a dispatch.
    #[error(transparent)]
    NotDispatch(EvidenceError),
}

impl Responder {
    /// Finds where the incident's targets are, before anything is written: an organization-wide
    /// request becomes one target per selected account, a lone key without an account gets the
    /// one `sts:GetAccessKeyInfo` names. Returns the function's identity when it was asked, the
    /// accounts nothing may be contained in (with why), and the waves it took.
    #[allow(clippy::type_complexity)]
    pub(super) async fn place<'a>(
        &'a self,
        incident: &mut Incident,
    ) -> (
        Result<(Option<&'a Principal>, BTreeMap<String, String>), Error>,
        u32,
    ) {
        let mut protected: BTreeMap<String, String> = self
            .config
            .fanout
            .protected_accounts
            .iter()
            .map(|a| (a.clone(), protected_account(a)))
            .collect();
        let lone: Vec<(usize, String)> = incident
            .targets
            .iter()
            .enumerate()
            .filter(|(_, t)| t.principal.is_none() && t.account_id.is_none())
            .map(|(i, t)| (i, t.access_key_ids[0].clone()))
            .collect();
        let across = incident.across.clone();
        if lone.is_empty() && across.is_none() {
            return (Ok((None, protected)), 0);
        }
        let mut identity = 0;
        let (me, organization, owners) = tokio::join!(
            self.me(&mut identity),
            async {
                match &across {
                    Some(a) => Some(self.organization_accounts(&a.accounts).await),
                    None => None,
                }
            },
            futures::future::join_all(lone.iter().map(|(_, key)| self.key_account(key)))
        );
        let me = match me {
            Ok(me) => me,
            Err(e) => return (Err(e), 1),
        };
        for ((i, key), owner) in lone.iter().zip(owners) {
            match owner {
                Ok(account) => {
                    info!(key = %key, account = %account, "sts:GetAccessKeyInfo placed the key");
                    incident.targets[*i].account_id = Some(account);
                }
                Err(e) => {
                    warn!(key = %key, error = %e, "the key's account is unknown: looking for it in the function's own");
                }
            }
        }
        if let (Some(across), Some(organization)) = (across, organization) {
            let organization = match organization {
                Ok(o) => o,
                Err(e) => return (Err(Error::Aws(e.to_string())), 1),
            };
            if let Some(management) = organization.management {
                protected.entry(management.clone()).or_insert_with(|| {
                    format!(
                        "account {management} is the organization's management account: an \
                         organization-wide request never contains anything there (a human acts \
                         in it directly)"
                    )
                });
            }
            if organization.accounts.is_empty() {
                let err =
                    InputError::new("accounts", "selects no active account of the organization");
                return (Err(err.into()), 1);
            }
            incident.targets = organization
                .accounts
                .iter()
                .map(|a| Target {
                    principal: Some(across.in_account(a, &me.partition)),
                    access_key_ids: Vec::new(),
                    account_id: None,
                })
                .collect();
        }
        (Ok((Some(me), protected)), 1)
    }

    /// The account that owns an access key, as `sts:GetAccessKeyInfo` says.
    async fn key_account(&self, key: &str) -> Result<String, KeyAccountError> {
        self.sts
            .get_access_key_info()
            .access_key_id(key)
            .send()
            .await
            .map_err(|e| KeyAccountError::Aws(AwsError::from_sdk("GetAccessKeyInfo", e)))?
            .account
            .ok_or(KeyAccountError::NoAccount)
    }

    /// The active accounts under an organizational unit, its children's included: each level's
    /// accounts and child units asked at once.
    async fn accounts_under(&self, root: &str) -> Result<Vec<String>, OrganizationError> {
        let org = &self.organizations;
        let mut parents = vec![root.to_owned()];
        let mut found = Vec::new();
        while let Some(parent) = parents.pop() {
            let (accounts, units) = tokio::join!(
                org.list_accounts_for_parent()
                    .parent_id(&parent)
                    .into_paginator()
                    .send()
                    .collect::<Vec<_>>(),
                org.list_organizational_units_for_parent()
                    .parent_id(&parent)
                    .into_paginator()
                    .send()
                    .collect::<Vec<_>>()
            );
            for page in accounts {
                let page = page.map_err(|e| OrganizationError::Under {
                    parent: parent.clone(),
                    error: AwsError::from_sdk("ListAccountsForParent", e),
                })?;
                found.extend(active(page.accounts.unwrap_or_default()));
            }
            for page in units {
                let page = page.map_err(|e| OrganizationError::Under {
                    parent: parent.clone(),
                    error: AwsError::from_sdk("ListOrganizationalUnitsForParent", e),
                })?;
                let units = page.organizational_units.unwrap_or_default();
                parents.extend(units.into_iter().filter_map(|u| u.id));
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    /// The active accounts `set` selects, and the management account. `all` and an OU need
    /// AWS Organizations (the management account, or a delegated administrator); a list is taken
    /// as it is, and only the management account is asked for.
    async fn organization_accounts(
        &self,
        set: &AccountSet,
    ) -> Result<OrganizationAccounts, OrganizationError> {
        let org = &self.organizations;
        let management = async {
            match org.describe_organization().send().await {
                Ok(out) => out.organization.and_then(|o| o.master_account_id),
                Err(e) => {
                    warn!(error = %describe(&e), "the organization's management account is unknown: only PROTECTED_ACCOUNTS are left out");
                    None
                }
            }
        };
        let accounts = async {
            match set {
                AccountSet::Listed(ids) => Ok::<_, OrganizationError>(ids.clone()),
                AccountSet::All => {
                    let pages: Vec<_> = org
                        .list_accounts()
                        .into_paginator()
                        .send()
                        .collect::<Vec<_>>()
                        .await
                        .into_iter()
                        .collect::<Result<_, _>>()
                        .map_err(|e| {
                            OrganizationError::List(AwsError::from_sdk("ListAccounts", e))
                        })?;
                    Ok(active(
                        pages
                            .into_iter()
                            .flat_map(|p| p.accounts.unwrap_or_default()),
                    ))
                }
                AccountSet::Ou(root) => self.accounts_under(root).await,
            }
        };
        let (management, accounts) = tokio::join!(management, accounts);
        Ok(OrganizationAccounts {
            accounts: accounts?,
            management,
        })
    }

    /// Sends an incident too large for one invocation to the work queue: the dispatch (its
    /// intent, with every item and the one cutoff) is stored first, then one message per item.
    /// A dry run shows the items and sends nothing.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn dispatch(
        &self,
        incident: &Incident,
        event: &Value,
        accounts: &[String],
        protected: &BTreeMap<String, String>,
        why: String,
        started: chrono::DateTime<Utc>,
        dry_run: bool,
        mut waves: u32,
    ) -> Result<Report, Error> {
        let per_item = self.config.fanout.principals_per_item;
        let cutoff = plan::session_cutoff(started);
        let dispatch = Dispatch::new(incident, accounts, cutoff, per_item, protected);
        let stamp = crate::ledger::format_stamp(started);
        let prefix = ledger::run_prefix(&incident.id, started);
        info!(incident = %incident.id, items = dispatch.items.len(), reason = %why, "fanned out");
        let targets = dispatched_targets(incident, accounts, protected, &dispatch, dry_run);
        let (status, mut message) = dispatch_message(incident, &dispatch, &why, dry_run);
        let mut report = Report {
            source: Some(incident.source.as_str().into()),
            reason: incident.reason.clone(),
            targets,
            work_items: dispatch
                .items
                .iter()
                .map(|i| crate::report::WorkItemRef {
                    item: i.item,
                    account_id: i.account_id.clone(),
                    principals: i.targets.len(),
                })
                .collect(),
            ..Report::new(&incident.id, status, dry_run)
        };
        let mut stored = Vec::new();
        if !dry_run {
            // The intent first: a message is acted on only if its dispatch is in the store.
            waves += 1;
            stored.push(
                self.store_dispatch(incident, &dispatch, &prefix, started)
                    .await?,
            );
            waves += 1;
            let unsent = self.send_items(&dispatch, &stamp).await;
            if !unsent.is_empty() {
                report.status = Status::Partial;
                message = format!(
                    "{message}. {} work items could NOT be sent: {}; invoke contain again with \
                     the same event (items already contained report already_in_place)",
                    unsent.len(),
                    unsent.join("; ")
                );
            }
        }
        report.message = Some(message);
        report.waves = waves;
        let extra = Extra {
            stored,
            ..Extra::default()
        };
        self.tell_and_store(
            &mut report,
            Some(incident),
            &[],
            &prefix,
            started,
            event,
            extra,
        )
        .await;
        record::answer(report)
    }

    /// The dispatch record, stored before any message is sent; an error when it could not be.
    async fn store_dispatch(
        &self,
        incident: &Incident,
        dispatch: &Dispatch,
        prefix: &str,
        started: chrono::DateTime<Utc>,
    ) -> Result<(EvidenceObject, Option<String>), Error> {
        let object = EvidenceObject::json(
            format!("{prefix}/{}", crate::ledger::DISPATCH_OBJECT),
            dispatch,
        );
        let retention = self.config.retention.as_ref().map(|r| (r, started));
        match evidence::put(&*self.evidence, &object, retention).await {
            Ok(put) => Ok((object, put.version_id)),
            Err(e) => {
                let why = format!(
                    "the dispatch could not be stored ({e}): no work item was sent, nothing \
                     was changed; invoke contain again"
                );
                warn!(incident = %incident.id, error = %e, "dispatch not stored");
                Err(Error::Aws(why))
            }
        }
    }

    /// Sends one message per item, ten to a request; returns what could not be sent, each with
    /// why.
    async fn send_items(&self, dispatch: &Dispatch, stamp: &str) -> Vec<String> {
        let Some(queue) = self.config.fanout.queue_url.as_deref() else {
            return vec!["no WORK_QUEUE_URL".into()];
        };
        // A FIFO queue runs one account's items one after another (its message group): IAM's
        // rate is the account's, and each item paces only its own requests. A dispatch sent
        // again within SQS's five minutes is deduplicated.
        let fifo = queue.ends_with(".fifo");
        let batches: Vec<Vec<SendMessageBatchRequestEntry>> = dispatch
            .items
            .chunks(MESSAGES_PER_BATCH)
            .map(|chunk| {
                chunk
                    .iter()
                    .filter_map(|item| {
                        let message = dispatch.message(stamp, item);
                        let body = serde_json::to_string(&message).ok()?;
                        let dedup = format!("{}.{stamp}.{}", message.incident_id, item.item);
                        SendMessageBatchRequestEntry::builder()
                            .id(item.item.to_string())
                            .message_body(body)
                            .set_message_group_id(fifo.then(|| item.account_id.clone()))
                            .set_message_deduplication_id(
                                fifo.then(|| crate::fanout::digest(&dedup)),
                            )
                            .build()
                            .ok()
                    })
                    .collect()
            })
            .collect();
        futures::stream::iter(batches.into_iter().map(|entries| async move {
            let ids: Vec<String> = entries.iter().map(|e| e.id().to_owned()).collect();
            match self
                .sqs
                .send_message_batch()
                .queue_url(queue)
                .set_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => out
                    .failed
                    .iter()
                    .map(|f| {
                        format!(
                            "item {}: {} {}",
                            f.id,
                            f.code,
                            f.message.as_deref().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>(),
                Err(e) => {
                    let why = describe(&e);
                    ids.iter().map(|id| format!("item {id}: {why}")).collect()
                }
            }
        }))
        .buffer_unordered(BATCHES_AT_ONCE)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect()
    }

    /// A batch of work items from the queue: each run in turn; the answer names the messages
    /// that did not end contained (or refused, or ignored), so that SQS delivers them again and
    /// the dead-letter queue keeps them after its `maxReceiveCount`.
    pub(super) async fn work(
        &self,
        event: Value,
        deadline: Option<std::time::SystemTime>,
    ) -> Result<SqsBatchResponse, Error> {
        if self.playbook != Playbook::Contain {
            return Err(InputError::new(
                "Records",
                format!(
                    "{} does not take work items: only contain consumes the work queue",
                    self.playbook.name()
                ),
            )
            .into());
        }
        each_message(&event, deadline, |record| async move {
            Box::pin(self.work_item(&record, deadline)).await
        })
        .await
    }

    /// One work item: its message read and checked against its dispatch in the evidence store,
    /// then the item's targets contained with the incident's cutoff.
    async fn work_item(
        &self,
        record: &SqsMessage,
        deadline: Option<std::time::SystemTime>,
    ) -> Result<Report, Error> {
        let body = record.body.as_deref().unwrap_or_default();
        let message = crate::fanout::parse_message(body)?;
        let key = format!(
            "{}/{}/{}/{}",
            ledger::ROOT,
            message.incident_id,
            message.dispatch,
            crate::ledger::DISPATCH_OBJECT
        );
        let dispatch = self.read_dispatch(&key).await.map_err(|e| {
            InputError::new(
                "body",
                format!(
                    "a work item is acted on only when its incident's dispatch is in the evidence \
                     store, and {e}; nothing was changed"
                ),
            )
        })?;
        let item = dispatch
            .check(&message)
            .map_err(|e| InputError::new("body", format!("{e}; nothing was changed")))?;
        let incident = dispatch
            .incident(item)
            .map_err(|e| InputError::new("body", e))?;
        let item = item.item;
        let work = WorkRun {
            dispatch: message.dispatch,
            item,
            record: dispatch,
        };
        let event = serde_json::to_value(record).unwrap_or_default();
        Box::pin(self.respond(incident, &event, deadline, Some(work))).await
    }

    /// A dispatch record, read back.
    async fn read_dispatch(&self, key: &str) -> Result<Dispatch, DispatchUnread> {
        let bytes = evidence::read(&*self.evidence, key, None)
            .await
            .map_err(|source| DispatchUnread::Read {
                bucket: self.config.evidence_bucket.clone(),
                key: key.to_owned(),
                source,
            })?;
        serde_json::from_slice(&bytes).map_err(|source| {
            DispatchUnread::NotDispatch(EvidenceError::NotRecord {
                key: key.to_owned(),
                record: "a dispatch",
                source,
            })
        })
    }

    /// `{"incident_id": ..., "status": true}`: the incident's progress from the evidence store.
    pub(super) async fn status(&self, event: &Value) -> Result<Value, Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct StatusRequest {
            incident_id: String,
            status: bool,
        }
        let request: StatusRequest = intake::deserialize(event)?;
        if !request.status {
            return Err(InputError::new(
                "status",
                "`false` asks for nothing: send `true` for the incident's status, or leave it out",
            )
            .into());
        }
        intake::check_incident_id("incident_id", &request.incident_id)?;
        let keys = evidence::incident_keys(&*self.evidence, &request.incident_id)
            .await
            .map_err(|e| Error::Aws(e.to_string()))?;
        let Some((key, stamp)) = crate::fanout::latest_dispatch(&keys) else {
            let runs: BTreeSet<&str> = keys.iter().filter_map(|k| k.split('/').nth(2)).collect();
            let answer = if runs.is_empty() {
                "unknown: the evidence store has no run of this incident".to_owned()
            } else {
                format!(
                    "not dispatched: {} run(s) of this incident, each with its report in the evidence store",
                    runs.len()
                )
            };
            return Ok(serde_json::json!({
                "incident_id": request.incident_id,
                "status": answer,
                "runs": runs,
            }));
        };
        let dispatch = self
            .read_dispatch(key)
            .await
            .map_err(|e| Error::Aws(e.to_string()))?;
        let items = crate::fanout::progress(&dispatch, stamp, &keys);
        let summary = crate::ledger::summary_key(&request.incident_id, stamp);
        Ok(serde_json::json!({
            "incident_id": request.incident_id,
            "status": crate::fanout::overall(&items),
            "dispatched_at": stamp,
            "cutoff": dispatch.cutoff,
            "counts": crate::fanout::counts(&items),
            "refused_accounts": dispatch.refused,
            "summary": keys.contains(&summary).then_some(summary),
            "items": items,
        }))
    }

    /// After a work item's run: when every item of its dispatch has ended, the incident's summary
    /// is stored once (the first run to get there writes it; S3 refuses any second writer) and
    /// the humans are told, once.
    pub(super) async fn conclude(&self, incident_id: &str, work: &WorkRun) {
        // The dispatch was read to start this item: only the incident's keys are listed again.
        let dispatch = &work.record;
        let keys = match evidence::incident_keys(&*self.evidence, incident_id).await {
            Ok(keys) => keys,
            Err(e) => {
                warn!(incident = %incident_id, error = %e, "the incident's progress cannot be read: no summary from this item");
                return;
            }
        };
        let items = crate::fanout::progress(dispatch, &work.dispatch, &keys);
        let overall = crate::fanout::overall(&items);
        if overall == "in_progress" {
            return;
        }
        let counts = crate::fanout::counts(&items);
        let key = crate::ledger::summary_key(incident_id, &work.dispatch);
        let summary = serde_json::json!({
            "incident_id": incident_id,
            "status": overall,
            "dispatched_at": work.dispatch,
            "cutoff": dispatch.cutoff,
            "counts": counts,
            "refused_accounts": dispatch.refused,
            "items": items,
        });
        let started = (self.clock)();
        let retention = self.config.retention.as_ref().map(|r| (r, started));
        let object = EvidenceObject::json(key.clone(), &summary);
        match evidence::put(&*self.evidence, &object, retention).await {
            Ok(_) => {
                info!(incident = %incident_id, status = %overall, summary = %key, "the last work item ended: the incident is summarised")
            }
            Err(e) if e.is_key_taken() => {
                info!(incident = %incident_id, "another work item summarised the incident");
                return;
            }
            Err(e) => {
                warn!(incident = %incident_id, error = %e, "the incident's summary could not be stored: the humans are not told by this item");
                return;
            }
        }
        let mut report = self.summary_report(dispatch, &items, &overall, counts);
        let prefix = format!("{}/{incident_id}/{}", ledger::ROOT, work.dispatch);
        Box::pin(self.notify(&mut report, None, &[], &prefix)).await;
        info!(incident = %incident_id, report = %serde_json::to_string(&report).unwrap_or_default(), "{}", report.summary());
    }

    /// The incident's summary as a report, for the humans: each principal with its item's
    /// status.
    fn summary_report(
        &self,
        dispatch: &Dispatch,
        items: &[crate::fanout::ItemProgress],
        overall: &str,
        counts: BTreeMap<String, usize>,
    ) -> Report {
        let status = match overall {
            "partial" => Status::Partial,
            "refused" => Status::Refused,
            "ignored" => Status::Ignored,
            _ => Status::Contained,
        };
        let targets = dispatch
            .items
            .iter()
            .zip(items)
            .flat_map(|(item, progress)| {
                let (status, run) = match &progress.state {
                    ItemState::Ended { status, run } => (status.as_str(), run.as_str()),
                    _ => ("partial", ""),
                };
                let status: Status =
                    serde_json::from_value(Value::String(status.into())).unwrap_or(Status::Partial);
                item.targets.iter().map(move |t| {
                    let arn = t.principal_arn.clone().unwrap_or_else(|| {
                        format!("(owner of {})", t.access_key_ids.first().map_or("", |k| k))
                    });
                    TargetReport {
                        message: (status != Status::Contained)
                            .then(|| format!("work item {}: see the report in {run}/", item.item)),
                        ..TargetReport::stopped(arn, &item.account_id, status, String::new())
                    }
                })
            })
            .chain(dispatch.refused.iter().map(|r| {
                TargetReport::stopped(
                    format!("(account {})", r.account_id),
                    &r.account_id,
                    Status::Refused,
                    r.reason.clone(),
                )
            }))
            .collect();
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        Report {
            source: Some(dispatch.source.as_str().into()),
            reason: dispatch.reason.clone(),
            message: Some(format!(
                "every work item has ended: {} of {} items",
                counts.join(", "),
                items.len()
            )),
            targets,
            ..Report::new(&dispatch.incident_id, status, false)
        }
    }
}

/// Each message of an SQS batch through `handle`, one after another. A message not done (an
/// error, a partial report, or too little time left to start it) is one of the batch's failures:
/// SQS delivers it again, and its dead-letter queue keeps it after `maxReceiveCount`.
pub(super) async fn each_message<F, Fut>(
    event: &Value,
    deadline: Option<std::time::SystemTime>,
    mut handle: F,
) -> Result<SqsBatchResponse, Error>
where
    F: FnMut(SqsMessage) -> Fut,
    Fut: std::future::Future<Output = Result<Report, Error>>,
{
    let batch: SqsEvent = intake::deserialize(event)?;
    let mut response = SqsBatchResponse::default();
    for record in batch.records {
        let id = record.message_id.clone().unwrap_or_default();
        let left = deadline.map(|d| {
            d.duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
        });
        let ended = if left.is_some_and(|l| l < DEADLINE_MARGIN * 2) {
            warn!(message = %id, "too little time left for this message: SQS delivers it again");
            false
        } else {
            match handle(record).await {
                Ok(report) => report.status != Status::Partial,
                Err(e) => {
                    warn!(message = %id, error = %e, "message not done: SQS delivers it again, the dead-letter queue keeps it after maxReceiveCount");
                    false
                }
            }
        };
        if !ended {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    Ok(response)
}
