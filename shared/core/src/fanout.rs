//! Fan-out, the pure part: an incident too large for one invocation (more accounts than
//! `FANOUT_ACCOUNTS_THRESHOLD`, or more principals than `FANOUT_PRINCIPALS_PER_ITEM`) becomes a
//! dispatch: work items of one account each (at most `FANOUT_PRINCIPALS_PER_ITEM` principals),
//! recorded in the evidence store as the incident's intent (`<run>/dispatch.json`), one SQS
//! message each. A message only points at its item: the worker takes the targets from the
//! dispatch, so a message sent by anyone else can at most replay a genuine item.
//!
//! A work item's run lives beside the others, `incidents/<id>/<worker start>-item-<n>-of-<dispatch
//! start>/`, and leaves `outcome.<status>.json` there: the incident's progress is read from one
//! listing of its keys, without opening a report.

use crate::error::{ConfigError, InputError};
use crate::intake::{Incident, Source, Target, Trigger};
use crate::ledger::{DISPATCH_OBJECT, stamp};
use crate::principal::Principal;
use crate::report::Status;
use crate::setting;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What every work-item message says it is (`"tourniquet": "work-item"`).
pub const MESSAGE_KIND: &str = "work-item";

/// When an incident is dispatched rather than contained in one invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// `WORK_QUEUE_URL`: the queue of work items. Unset: no fan-out.
    pub queue_url: Option<String>,
    /// `FANOUT_ACCOUNTS_THRESHOLD`, default 5: an incident spanning more accounts is dispatched.
    pub accounts_threshold: usize,
    /// `FANOUT_PRINCIPALS_PER_ITEM`, default 100: an incident naming more principals is
    /// dispatched, and no work item holds more.
    pub principals_per_item: usize,
    /// `PROTECTED_ACCOUNTS`: accounts nothing is ever contained in (the organization's
    /// management account is added to them for organization-wide requests).
    pub protected_accounts: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            queue_url: None,
            accounts_threshold: 5,
            principals_per_item: 100,
            protected_accounts: Vec::new(),
        }
    }
}

impl Options {
    /// Reads `WORK_QUEUE_URL`, `FANOUT_ACCOUNTS_THRESHOLD`, `FANOUT_PRINCIPALS_PER_ITEM` and
    /// `PROTECTED_ACCOUNTS` through `lookup`, each one's default when unset; a malformed one is an
    /// error naming it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let queue_url = setting::trimmed(&lookup, "WORK_QUEUE_URL");
        if let Some(url) = &queue_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(ConfigError::invalid(
                "WORK_QUEUE_URL",
                "an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)",
                url,
            ));
        }
        let protected_accounts = setting::list(&lookup, "PROTECTED_ACCOUNTS")
            .into_iter()
            .map(|a| {
                crate::principal::check_account(&a)
                    .map(|()| a)
                    .map_err(|error| ConfigError::Account {
                        variable: "PROTECTED_ACCOUNTS",
                        error,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            queue_url,
            accounts_threshold: setting::count(
                &lookup,
                "FANOUT_ACCOUNTS_THRESHOLD",
                defaults.accounts_threshold,
            )?,
            principals_per_item: setting::count(
                &lookup,
                "FANOUT_PRINCIPALS_PER_ITEM",
                defaults.principals_per_item,
            )?,
            protected_accounts,
        })
    }

    /// Why an incident of `principals` principals in `accounts` accounts is dispatched, or `None`
    /// when one invocation takes it (or no queue is configured).
    pub fn fan_out(&self, accounts: usize, principals: usize) -> Option<String> {
        self.queue_url.as_ref()?;
        if accounts > self.accounts_threshold {
            Some(format!(
                "it spans {accounts} accounts, more than FANOUT_ACCOUNTS_THRESHOLD ({})",
                self.accounts_threshold
            ))
        } else if principals > self.principals_per_item {
            Some(format!(
                "it names {principals} principals, more than FANOUT_PRINCIPALS_PER_ITEM ({})",
                self.principals_per_item
            ))
        } else {
            None
        }
    }
}

/// The incident's intent when it is fanned out: the incident as intake read it, its one session
/// cutoff, and every work item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispatch {
    /// The ledger schema ([`crate::report::LEDGER_VERSION`]).
    pub ledger_version: u32,
    /// The incident.
    pub incident_id: String,
    /// Where it came from.
    pub source: Source,
    /// Who chose its targets.
    pub trigger: Trigger,
    /// Why, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The source's severity label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    /// When the signal last saw the activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<DateTime<Utc>>,
    /// The one session cutoff of the whole incident, whichever account runs when.
    pub cutoff: String,
    /// The work items, numbered from 0.
    pub items: Vec<WorkItem>,
    /// Accounts left out, and why (protected): nothing is sent for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedAccount>,
}

/// One work item: principals of one account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItem {
    /// Its number in the dispatch.
    pub item: u32,
    /// The account its principals live in.
    pub account_id: String,
    /// Its principals (or lone keys).
    pub targets: Vec<ItemTarget>,
}

/// One target of a work item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemTarget {
    /// The principal, when known; `None` for a key whose owner is looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_arn: Option<String>,
    /// The keys named as compromised.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_key_ids: Vec<String>,
}

/// An account a dispatch leaves out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedAccount {
    /// The account.
    pub account_id: String,
    /// Why nothing is contained there.
    pub reason: String,
}

/// The body of one work item's SQS message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Always [`MESSAGE_KIND`].
    pub tourniquet: String,
    /// The incident.
    pub incident_id: String,
    /// The dispatch's run (its start, as in its key).
    pub dispatch: String,
    /// The item's number.
    pub item: u32,
    /// The item's account, as the dispatch says.
    pub account_id: String,
    /// The incident's cutoff, as the dispatch says.
    pub cutoff: String,
}

impl Dispatch {
    /// The dispatch of `incident`, whose targets are in `accounts` (parallel to its targets):
    /// one item per account in first-seen order, split every `per_item` targets; targets in a
    /// `protected` account (with its reason) are left out and listed.
    pub fn new(
        incident: &Incident,
        accounts: &[String],
        cutoff: String,
        per_item: usize,
        protected: &BTreeMap<String, String>,
    ) -> Self {
        let mut by_account: Vec<(String, Vec<ItemTarget>)> = Vec::new();
        let mut refused: Vec<RefusedAccount> = Vec::new();
        for (target, account) in incident.targets.iter().zip(accounts) {
            if let Some(reason) = protected.get(account) {
                if !refused.iter().any(|r| &r.account_id == account) {
                    refused.push(RefusedAccount {
                        account_id: account.clone(),
                        reason: reason.clone(),
                    });
                }
                continue;
            }
            let item = ItemTarget {
                principal_arn: target.principal.as_ref().map(Principal::arn),
                access_key_ids: target.access_key_ids.clone(),
            };
            match by_account.iter_mut().find(|(a, _)| a == account) {
                Some((_, targets)) => targets.push(item),
                None => by_account.push((account.clone(), vec![item])),
            }
        }
        let items = by_account
            .into_iter()
            .flat_map(|(account, targets)| {
                targets
                    .chunks(per_item.max(1))
                    .map(|chunk| (account.clone(), chunk.to_vec()))
                    .collect::<Vec<_>>()
            })
            .enumerate()
            .map(|(n, (account_id, targets))| WorkItem {
                item: u32::try_from(n).unwrap_or(u32::MAX),
                account_id,
                targets,
            })
            .collect();
        Self {
            ledger_version: crate::report::LEDGER_VERSION,
            incident_id: incident.id.clone(),
            source: incident.source,
            trigger: incident.trigger,
            reason: incident.reason.clone(),
            severity: incident.severity.clone(),
            last_seen: incident.last_seen,
            cutoff,
            items,
            refused,
        }
    }

    /// The message of item `n` of this dispatch, started at `dispatch` (its stamp).
    pub fn message(&self, dispatch: &str, item: &WorkItem) -> Message {
        Message {
            tourniquet: MESSAGE_KIND.into(),
            incident_id: self.incident_id.clone(),
            dispatch: dispatch.into(),
            item: item.item,
            account_id: item.account_id.clone(),
            cutoff: self.cutoff.clone(),
        }
    }

    /// The item `message` points at, if the message agrees with this dispatch on everything it
    /// says (incident, account, cutoff); otherwise why not.
    pub fn check(&self, message: &Message) -> Result<&WorkItem, DispatchError> {
        if message.incident_id != self.incident_id {
            return Err(DispatchError::Incident {
                message: message.incident_id.clone(),
                dispatch: self.incident_id.clone(),
            });
        }
        let item =
            self.items
                .iter()
                .find(|i| i.item == message.item)
                .ok_or(DispatchError::NoItem {
                    item: message.item,
                    items: self.items.len(),
                })?;
        if item.account_id != message.account_id {
            return Err(DispatchError::Account {
                item: message.item,
                message: message.account_id.clone(),
                dispatch: item.account_id.clone(),
            });
        }
        if message.cutoff != self.cutoff {
            return Err(DispatchError::Cutoff {
                message: message.cutoff.clone(),
                dispatch: self.cutoff.clone(),
            });
        }
        Ok(item)
    }

    /// The incident one work item contains: the dispatch's incident with the item's targets.
    pub fn incident(&self, item: &WorkItem) -> Result<Incident, DispatchError> {
        let targets = item
            .targets
            .iter()
            .map(|t| {
                let principal = t
                    .principal_arn
                    .as_deref()
                    .map(Principal::parse_arn)
                    .transpose()?;
                Ok(Target {
                    principal,
                    access_key_ids: t.access_key_ids.clone(),
                    account_id: Some(item.account_id.clone()),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| DispatchError::Target {
                item: item.item,
                error,
            })?;
        let mut incident =
            Incident::new(self.incident_id.clone(), self.source, self.trigger, targets);
        incident.reason = self.reason.clone();
        incident.severity = self.severity.clone();
        incident.last_seen = self.last_seen;
        Ok(incident)
    }
}

/// A work item's message that disagrees with its dispatch, or an item naming what is no
/// principal: the work item is not acted on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// The message is of another incident.
    #[error("the message names incident {message}, the dispatch is of {dispatch}")]
    Incident {
        /// The incident the message names.
        message: String,
        /// The dispatch's.
        dispatch: String,
    },
    /// The message's item is not one of the dispatch's.
    #[error("the dispatch has no item {item} (it has {items})")]
    NoItem {
        /// The item the message names.
        item: u32,
        /// How many the dispatch has.
        items: usize,
    },
    /// The message puts the item in another account.
    #[error("the message says item {item} is in account {message}, the dispatch says {dispatch}")]
    Account {
        /// The item.
        item: u32,
        /// The account the message names.
        message: String,
        /// The dispatch's.
        dispatch: String,
    },
    /// The message carries another cutoff.
    #[error("the message carries the cutoff {message}, the dispatch {dispatch}")]
    Cutoff {
        /// The message's cutoff.
        message: String,
        /// The dispatch's.
        dispatch: String,
    },
    /// An item's target whose ARN is not a principal's.
    #[error("item {item} names {error}")]
    Target {
        /// The item.
        item: u32,
        /// What is wrong with the ARN.
        #[source]
        error: crate::principal::PrincipalError,
    },
}

/// A stable id of at most 64 characters from any text (SQS's deduplication id).
pub fn digest(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text))
}

/// Reads a work item's message body; the error names what is wrong.
pub fn parse_message(body: &str) -> Result<Message, InputError> {
    let value: serde_json::Value = serde_json::from_str(body)
        .map_err(|e| InputError::new("body", format!("not JSON: {e}")))?;
    let message: Message = crate::intake::deserialize(&value)?;
    if message.tourniquet != MESSAGE_KIND {
        return Err(InputError::new(
            "tourniquet",
            format!("`{}` is not a work item", message.tourniquet),
        ));
    }
    crate::intake::check_incident_id("incident_id", &message.incident_id)?;
    if stamp(&message.dispatch).is_none() {
        return Err(InputError::new(
            "dispatch",
            format!(
                "`{}` is not a run's start (like 20261202T090000.000Z)",
                message.dispatch
            ),
        ));
    }
    crate::principal::check_account(&message.account_id)
        .map_err(|e| InputError::new("account_id", e))?;
    if DateTime::parse_from_rfc3339(&message.cutoff).is_err() {
        return Err(InputError::new(
            "cutoff",
            format!("`{}` is not a time (RFC 3339)", message.cutoff),
        ));
    }
    Ok(message)
}

/// Whether an incident's `key` belongs to the ledger of item `item` of dispatch `dispatch`: the
/// incident's own runs (its containments, releases, the dispatch) and this item's runs, not the
/// other items' (each names other principals, and reading their reports in every item made the
/// reads of an incident grow with the square of its accounts).
pub fn in_item_ledger(key: &str, dispatch: &str, item: u32) -> bool {
    let run = key.split('/').nth(2).unwrap_or_default();
    !run.contains("-item-") || run.ends_with(&format!("-item-{item}-of-{dispatch}"))
}

/// The object a work item's run leaves to say how it ended.
pub fn outcome_object(status: Status) -> String {
    format!("outcome.{}.json", crate::notify::status_name(status))
}

/// What a work item's run leaves in its folder ([`outcome_object`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The incident.
    pub incident_id: String,
    /// The dispatch's start.
    pub dispatch: String,
    /// The item.
    pub item: u32,
    /// How the run ended.
    pub status: Status,
    /// The report's one line.
    pub summary: String,
}

/// Where an item stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum ItemState {
    /// No run of it has started.
    Pending,
    /// A run started and has not ended (or stopped without a report: SQS delivers it again).
    Started {
        /// The run's folder.
        run: String,
    },
    /// Its latest run ended so.
    Ended {
        /// How (`contained`, `partial`, `refused`, ...).
        status: String,
        /// The run's folder.
        run: String,
    },
}

/// One item's progress, for the status answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ItemProgress {
    /// The item.
    pub item: u32,
    /// Its account.
    pub account_id: String,
    /// How many principals it names.
    pub principals: usize,
    /// Where it stands.
    #[serde(flatten)]
    pub state: ItemState,
    /// How many runs of it there were (a redelivery is one more).
    pub runs: usize,
}

/// Every item of `dispatch` (started at `dispatch_stamp`) and where it stands, from the
/// incident's `keys` (one listing).
pub fn progress(dispatch: &Dispatch, dispatch_stamp: &str, keys: &[String]) -> Vec<ItemProgress> {
    let suffix = format!("-of-{dispatch_stamp}");
    // item -> (run folder, outcome) for every run of this dispatch, in key order (= time order).
    let mut runs: BTreeMap<u32, Vec<(String, Option<String>)>> = BTreeMap::new();
    for key in keys {
        let mut parts = key.splitn(4, '/');
        let (Some(_), Some(_), Some(run), Some(rest)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let Some(item) = run
            .strip_suffix(&suffix)
            .and_then(|r| r.split_once("-item-"))
            .and_then(|(_, n)| n.parse::<u32>().ok())
        else {
            continue;
        };
        let folder = key[..key.len() - rest.len() - 1].to_owned();
        let outcome = rest
            .strip_prefix("outcome.")
            .and_then(|r| r.strip_suffix(".json"))
            .map(str::to_owned);
        let entries = runs.entry(item).or_default();
        match entries.iter_mut().find(|(f, _)| *f == folder) {
            Some(entry) => {
                if outcome.is_some() {
                    entry.1 = outcome;
                }
            }
            None => entries.push((folder, outcome)),
        }
    }
    dispatch
        .items
        .iter()
        .map(|item| {
            let of_item = runs.remove(&item.item).unwrap_or_default();
            let state = match of_item.last() {
                None => ItemState::Pending,
                Some((run, None)) => ItemState::Started { run: run.clone() },
                Some((run, Some(status))) => ItemState::Ended {
                    status: status.clone(),
                    run: run.clone(),
                },
            };
            ItemProgress {
                item: item.item,
                account_id: item.account_id.clone(),
                principals: item.targets.len(),
                state,
                runs: of_item.len(),
            }
        })
        .collect()
}

/// The whole incident's status from its items: `in_progress` while any has not ended, then
/// `partial` if any ended partial, `contained` if any was contained, else what they all were.
pub fn overall(items: &[ItemProgress]) -> String {
    let ended: Vec<&str> = items
        .iter()
        .filter_map(|i| match &i.state {
            ItemState::Ended { status, .. } => Some(status.as_str()),
            _ => None,
        })
        .collect();
    if ended.len() < items.len() {
        "in_progress".into()
    } else if ended.contains(&"partial") {
        "partial".into()
    } else if ended.contains(&"contained") {
        "contained".into()
    } else {
        ended.first().copied().unwrap_or("contained").into()
    }
}

/// Counts of items by state (`pending`, `started`, or the status they ended with).
pub fn counts(items: &[ItemProgress]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        let name = match &item.state {
            ItemState::Pending => "pending",
            ItemState::Started { .. } => "started",
            ItemState::Ended { status, .. } => status.as_str(),
        };
        *counts.entry(name.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// The latest dispatch among an incident's `keys`: its key and its stamp.
pub fn latest_dispatch(keys: &[String]) -> Option<(&str, &str)> {
    keys.iter()
        .filter(|k| k.ends_with(&format!("/{DISPATCH_OBJECT}")))
        .filter_map(|k| {
            let run = k.split('/').nth(2)?;
            stamp(run).map(|_| (k.as_str(), run))
        })
        .max_by_key(|(_, run)| *run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(arns: &[&str]) -> Incident {
        let targets = arns
            .iter()
            .map(|a| Target {
                principal: Some(Principal::parse_arn(a).unwrap()),
                access_key_ids: Vec::new(),
                account_id: None,
            })
            .collect();
        Incident::new("IR-1".into(), Source::Manual, Trigger::Human, targets)
    }

    fn accounts(arns: &[&str]) -> Vec<String> {
        arns.iter()
            .map(|a| a.split(':').nth(4).unwrap().to_owned())
            .collect()
    }

    const ARNS: [&str; 4] = [
        "arn:aws:iam::111111111111:role/ci-deployer",
        "arn:aws:iam::222222222222:role/ci-deployer",
        "arn:aws:iam::111111111111:user/alice",
        "arn:aws:iam::333333333333:role/ci-deployer",
    ];

    #[test]
    fn one_item_per_account_in_first_seen_order_split_by_size() {
        let dispatch = Dispatch::new(
            &incident(&ARNS),
            &accounts(&ARNS),
            "2026-12-02T09:00:00Z".into(),
            1,
            &BTreeMap::new(),
        );
        let items: Vec<(u32, &str, usize)> = dispatch
            .items
            .iter()
            .map(|i| (i.item, i.account_id.as_str(), i.targets.len()))
            .collect();
        assert_eq!(
            items,
            [
                (0, "111111111111", 1),
                (1, "111111111111", 1),
                (2, "222222222222", 1),
                (3, "333333333333", 1)
            ]
        );
        let together = Dispatch::new(
            &incident(&ARNS),
            &accounts(&ARNS),
            "2026-12-02T09:00:00Z".into(),
            100,
            &BTreeMap::new(),
        );
        assert_eq!(together.items.len(), 3);
        assert_eq!(together.items[0].targets.len(), 2);
    }

    #[test]
    fn a_protected_account_gets_no_item_and_is_listed_with_why() {
        let protected = BTreeMap::from([("222222222222".to_owned(), "management".to_owned())]);
        let dispatch = Dispatch::new(
            &incident(&ARNS),
            &accounts(&ARNS),
            "2026-12-02T09:00:00Z".into(),
            100,
            &protected,
        );
        assert!(
            dispatch
                .items
                .iter()
                .all(|i| i.account_id != "222222222222")
        );
        assert_eq!(dispatch.refused[0].account_id, "222222222222");
    }

    #[test]
    fn a_message_that_disagrees_with_its_dispatch_is_refused() {
        let dispatch = Dispatch::new(
            &incident(&ARNS),
            &accounts(&ARNS),
            "2026-12-02T09:00:00Z".into(),
            100,
            &BTreeMap::new(),
        );
        let genuine = dispatch.message("20261202T090000.000Z", &dispatch.items[1]);
        assert_eq!(dispatch.check(&genuine).unwrap().account_id, "222222222222");
        let elsewhere = Message {
            account_id: "999999999999".into(),
            ..genuine.clone()
        };
        assert!(
            dispatch
                .check(&elsewhere)
                .unwrap_err()
                .to_string()
                .contains("999999999999")
        );
        let later = Message {
            cutoff: "2026-12-02T10:00:00Z".into(),
            ..genuine.clone()
        };
        assert!(
            dispatch
                .check(&later)
                .unwrap_err()
                .to_string()
                .contains("cutoff")
        );
        let beyond = Message {
            item: 7,
            ..genuine.clone()
        };
        assert!(
            dispatch
                .check(&beyond)
                .unwrap_err()
                .to_string()
                .contains("no item 7")
        );
        let other = Message {
            incident_id: "IR-2".into(),
            ..genuine
        };
        assert!(dispatch.check(&other).is_err());
    }

    #[test]
    fn a_message_body_is_checked_field_by_field() {
        let body = |v: serde_json::Value| parse_message(&v.to_string());
        let good = serde_json::json!({"tourniquet": "work-item", "incident_id": "IR-1",
            "dispatch": "20261202T090000.000Z", "item": 0, "account_id": "111111111111",
            "cutoff": "2026-12-02T09:00:00Z"});
        assert!(body(good.clone()).is_ok());
        for (field, value) in [
            ("incident_id", serde_json::json!("../other")),
            ("dispatch", serde_json::json!("../../x")),
            ("account_id", serde_json::json!("12")),
            ("cutoff", serde_json::json!("yesterday")),
            ("tourniquet", serde_json::json!("something")),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            assert_eq!(body(bad).unwrap_err().field, field);
        }
        let mut extra = good;
        extra["principal_arn"] = "arn:aws:iam::111111111111:role/admin".into();
        assert!(body(extra).is_err(), "a message carries no targets");
    }

    #[test]
    fn progress_is_read_from_the_keys_alone() {
        let dispatch = Dispatch::new(
            &incident(&ARNS),
            &accounts(&ARNS),
            "2026-12-02T09:00:00Z".into(),
            100,
            &BTreeMap::new(),
        );
        let d = "20261202T090000.000Z";
        let keys: Vec<String> = [
            format!("incidents/IR-1/{d}/dispatch.json"),
            format!("incidents/IR-1/20261202T090001.000Z-item-0-of-{d}/intent.json"),
            format!("incidents/IR-1/20261202T090001.000Z-item-0-of-{d}/outcome.partial.json"),
            format!("incidents/IR-1/20261202T090009.000Z-item-0-of-{d}/outcome.contained.json"),
            format!("incidents/IR-1/20261202T090001.000Z-item-1-of-{d}/intent.json"),
            // another dispatch's item 2 does not count for this one
            "incidents/IR-1/20261202T090001.000Z-item-2-of-20261201T000000.000Z/outcome.contained.json".into(),
        ]
        .into();
        let own: Vec<&String> = keys.iter().filter(|k| in_item_ledger(k, d, 0)).collect();
        assert_eq!(
            own.len(),
            4,
            "the dispatch, item 0's runs, not item 1's: {own:?}"
        );
        let items = progress(&dispatch, d, &keys);
        assert_eq!(items[0].runs, 2);
        assert!(
            matches!(&items[0].state, ItemState::Ended { status, .. } if status == "contained")
        );
        assert!(matches!(items[1].state, ItemState::Started { .. }));
        assert_eq!(items[2].state, ItemState::Pending);
        assert_eq!(overall(&items), "in_progress");
        assert_eq!(counts(&items)["pending"], 1);
        assert_eq!(latest_dispatch(&keys).map(|(_, s)| s), Some(d));
    }
}
