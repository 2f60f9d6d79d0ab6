//! The responder: the one place that talks to AWS. It takes an event through intake and the
//! planner and carries out the plan for the whole incident, in phases:
//!
//! 1. **Resolve** every target to its principal (a key's owner looked up once), one principal
//!    once however many keys, findings or entities name it, its named keys merged;
//! 2. **Contain** every principal at once: the IAM requests of the invocation share one paced,
//!    prioritised queue ([`crate::pace`]), so every containment write goes out before any
//!    snapshot read, and each principal's key listing starts its own key deactivations;
//! 3. **Investigate**: the snapshot's reads, after the writes, each managed policy read once
//!    ([`snapshot::Policies`]); stopped before the function's deadline;
//! 4. **Record** each principal's snapshot and plan the moment it is done, then let them go;
//! 5. **Report**: the event, the report and the manifest.
//!
//! This file is the invocation from end to end (intake, the wave before the first write, the
//! phases in order, the report); `resolve.rs`, `contain.rs` (containment and investigation of one
//! principal) and `record.rs` are the phases; `accounts.rs` enters other accounts; `release.rs`
//! is the release playbook; `audit.rs` is the readiness audit's reads and output.

use crate::config::Config;
use crate::error::{Error, InputError, describe};
use crate::evidence;
use crate::execute::{Route, WriteError, Writer, Written};
use crate::fanout;
use crate::intake::{self, Incident, Intake, Source, Target, Trigger};
use crate::ledger;
use crate::ledger::EvidenceObject;
use crate::pace::{self, PacedClient, Ticket};
use crate::plan::{self, Action, Options, Playbook, PrincipalState, Step};
use crate::ports::EvidenceStore;
use crate::principal::{Principal, PrincipalKind};
use crate::report::{
    Evidence, LEDGER_VERSION, Outcome, Report, Skipped, Status, StepReport, TargetReport,
};
use crate::sdk::S3Evidence;
use crate::snapshot::{self, Snapshot};
use aws_config::{BehaviorVersion, SdkConfig};
use chrono::{SecondsFormat, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::sync::OnceCell;
use tracing::{info, warn};

mod accounts;
mod audit;
mod contain;
mod dispatch;
mod hunt;
mod identity_center;
mod notify;
mod record;
mod release;
mod resolve;
mod respond;

use accounts::{Accounts, Blocked};
use dispatch::{WorkRun, fanout_records, protected_account};
use record::{Extra, Upload};
use resolve::account_of;

pub use hunt::{LOOKUPS_PER_SECOND, MAX_CREDENTIALS, MAX_PAGES, Request as HuntRequest};
pub use identity_center::{Center, PROVISION_WAIT};

/// Attempts per AWS call, the first included, in the SDK's standard retry mode (each attempt
/// paced; a throttled containment write is also sent again from the bucket, for up to
/// [`pace::CONTAINMENT_PERSISTENCE`]).
pub const RETRY_ATTEMPTS: u32 = 4;

/// Principals whose snapshots are read at once, at most this many (their key listings and every
/// containment write are not held back): the queue of requests waiting inside the SDK, and so the
/// memory, stays bounded by them rather than by the event's principals.
pub const INVESTIGATIONS: usize = 8;

/// Evidence objects uploaded at once, at most this many.
pub const UPLOAD_CONCURRENCY: usize = 8;

/// The investigation stops this long before the function's deadline (or at half the time left,
/// when less than twice this is left), so that what was read is recorded and reported.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(15);

/// The SDK clients and configuration, built once per cold start and shared by every invocation.
pub struct Responder {
    iam: aws_sdk_iam::Client,
    evidence: Arc<dyn EvidenceStore>,
    sts: aws_sdk_sts::Client,
    sns: aws_sdk_sns::Client,
    securityhub: aws_sdk_securityhub::Client,
    sqs: aws_sdk_sqs::Client,
    organizations: aws_sdk_organizations::Client,
    /// What the hunt's CloudTrail clients are built from (one per account and region, each paced);
    /// `None`: the hunt reads nothing and says so.
    trail: Option<SdkConfig>,
    /// Identity Center clients a test gives; `None`: built from `trail` for the instance's account.
    center: Option<identity_center::Center>,
    config: Config,
    playbook: Playbook,
    identity: OnceCell<Principal>,
    clock: Clock,
    /// The paced HTTP client of the own account's IAM client, when the responder built it:
    /// another account's client gets one of its own (IAM's rate is per account).
    paced: Option<PacedClient>,
    uploads: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Where a run reads the time: the system clock, or a test's.
pub type Clock = std::sync::Arc<dyn Fn() -> chrono::DateTime<Utc> + Send + Sync>;

/// The evidence store's error on a read every target of an invocation shares.
type SharedError = Arc<evidence::EvidenceError>;

/// What every target of one invocation shares.
#[derive(Clone, Copy)]
struct Invocation<'a> {
    me: &'a Principal,
    accounts: &'a Accounts,
    /// Accounts nothing is contained in, and why.
    protected: &'a BTreeMap<String, String>,
    incident: &'a Incident,
    /// The incident's evidence keys: its ledger and release records (see `Responder::released`
    /// and `ledger::prior_cutoff`), or why they could not be listed.
    ledger: &'a Result<Vec<String>, SharedError>,
    /// The incident's reports, read once (by the first principal that needs them) and shared.
    reports: &'a OnceCell<Result<ledger::Reports, SharedError>>,
    /// Managed policies read in this invocation, shared by every snapshot.
    policies: &'a snapshot::Policies,
    /// The snapshots that may read at once ([`INVESTIGATIONS`]).
    investigations: &'a tokio::sync::Semaphore,
    dry_run: bool,
    now: &'a str,
    started: chrono::DateTime<Utc>,
    /// The session cutoff this run writes: its start's, or its dispatched incident's.
    cutoff: &'a str,
    /// When the investigation stops, if the function has a deadline.
    stop_reading: Option<tokio::time::Instant>,
    /// The run's evidence prefix.
    prefix: &'a str,
}

/// What one principal's containment produced.
struct TargetRun {
    report: TargetReport,
    /// Its snapshot and plan, on their way to the evidence bucket.
    records: Vec<Upload>,
    waves: u32,
}

/// A target resolved to its principal, or stopped before its first step (refused, failed).
type Resolved<'a> = Result<(Principal, Vec<String>, &'a aws_sdk_iam::Client), TargetRun>;

impl Responder {
    /// Builds the responder from the environment: the SDK's own variables (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, credentials) and the contract's (`EVIDENCE_BUCKET`, ...).
    pub async fn from_env(playbook: Playbook) -> Result<Self, Error> {
        let config = Config::from_env().map_err(Error::Configuration)?;
        // IAM's request rate is per account and cannot be raised: every IAM request is paced
        // (`IAM_REQUESTS_PER_SECOND`, crate::pace), and retried in the SDK's standard mode.
        // The SDK's own AWS_RETRY_MODE and AWS_MAX_ATTEMPTS, when set, win.
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if std::env::var_os("AWS_RETRY_MODE").is_none()
            && std::env::var_os("AWS_MAX_ATTEMPTS").is_none()
        {
            // Standard, not adaptive: the pacer keeps the rate; the adaptive mode's own limiter
            // would cut the whole client's rate at every throttle and recover slowly.
            let retry =
                aws_config::retry::RetryConfig::standard().with_max_attempts(RETRY_ATTEMPTS);
            loader = loader.retry_config(retry);
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(Error::Configuration(crate::error::ConfigError::Unset {
                variable: "AWS_REGION",
                needed: "the SDK needs a region",
            }));
        }
        Ok(Self::new(&sdk, config).playing(playbook))
    }

    /// Builds the clients from one SDK configuration, IAM's paced ([`crate::pace`]). Against an
    /// emulator (`AWS_ENDPOINT_URL`), S3 uses path-style addressing, which loopback endpoints need.
    pub fn new(sdk: &SdkConfig, config: Config) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        let inner = sdk.http_client().unwrap_or_else(pace::default_https_client);
        let paced = PacedClient::new(inner, config.iam_requests_per_second);
        // A request waits for its turn inside the HTTP client, after the SDK has started the
        // attempt: the SDK's stalled-stream protection would take a wait of more than its grace
        // period (20 s, common with a hundred principals) for a stalled upload and fail the call.
        // IAM's requests and answers are small; nothing streams.
        let iam = aws_sdk_iam::config::Builder::from(sdk)
            .http_client(paced.clone())
            .stalled_stream_protection(
                aws_sdk_iam::config::StalledStreamProtectionConfig::disabled(),
            )
            .build();
        Self {
            paced: Some(paced),
            trail: Some(sdk.clone()),
            ..Self::with_clients(
                aws_sdk_iam::Client::from_conf(iam),
                aws_sdk_s3::Client::from_conf(s3),
                aws_sdk_sts::Client::new(sdk),
                config,
            )
            .with_notify_clients(
                aws_sdk_sns::Client::new(sdk),
                aws_sdk_securityhub::Client::new(sdk),
            )
            .with_fanout_clients(
                aws_sdk_sqs::Client::new(sdk),
                aws_sdk_organizations::Client::new(sdk),
            )
        }
    }

    /// The same responder fanning out through these clients (a test's);
    /// [`Self::with_clients`] alone has clients that reach no endpoint.
    pub fn with_fanout_clients(
        self,
        sqs: aws_sdk_sqs::Client,
        organizations: aws_sdk_organizations::Client,
    ) -> Self {
        Self {
            sqs,
            organizations,
            ..self
        }
    }

    /// The same responder hunting through CloudTrail clients built from `sdk` (a test's, pointed at
    /// its CloudTrail double).
    pub fn with_trail(self, sdk: &SdkConfig) -> Self {
        Self {
            trail: Some(sdk.clone()),
            ..self
        }
    }

    /// The same responder reaching Identity Center through these clients (a test's, with fault
    /// injection), whatever `IDENTITY_CENTER_ACCOUNT` says.
    pub fn with_identity_center(self, center: Center) -> Self {
        Self {
            center: Some(center),
            ..self
        }
    }

    /// The same responder telling the humans through these clients (a test's, with fault
    /// injection); [`Self::with_clients`] alone has clients that reach no endpoint.
    pub fn with_notify_clients(
        self,
        sns: aws_sdk_sns::Client,
        securityhub: aws_sdk_securityhub::Client,
    ) -> Self {
        Self {
            sns,
            securityhub,
            ..self
        }
    }

    /// Builds the responder from ready clients (a test's, with fault injection).
    pub fn with_clients(
        iam: aws_sdk_iam::Client,
        s3: aws_sdk_s3::Client,
        sts: aws_sdk_sts::Client,
        config: Config,
    ) -> Self {
        let unconfigured = || {
            aws_config::SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .build()
        };
        let evidence = Arc::new(S3Evidence::new(s3, config.evidence_bucket.clone()));
        Self {
            iam,
            evidence,
            sts,
            sns: aws_sdk_sns::Client::new(&unconfigured()),
            securityhub: aws_sdk_securityhub::Client::new(&unconfigured()),
            sqs: aws_sdk_sqs::Client::new(&unconfigured()),
            organizations: aws_sdk_organizations::Client::new(&unconfigured()),
            trail: None,
            center: None,
            config,
            playbook: Playbook::Contain,
            identity: OnceCell::new(),
            clock: std::sync::Arc::new(Utc::now),
            paced: None,
            uploads: std::sync::Arc::new(tokio::sync::Semaphore::new(UPLOAD_CONCURRENCY)),
        }
    }

    /// The same responder keeping its evidence in `store` (a test's in-memory one) instead of the
    /// `EVIDENCE_BUCKET` through the S3 client.
    pub fn with_evidence(self, store: Arc<dyn EvidenceStore>) -> Self {
        Self {
            evidence: store,
            ..self
        }
    }

    /// The same responder running another function's playbook (the default is `contain`).
    pub fn playing(self, playbook: Playbook) -> Self {
        Self { playbook, ..self }
    }

    /// The same responder reading the time from `clock` (a test's, so that no test sleeps).
    pub fn with_clock(
        self,
        clock: impl Fn() -> chrono::DateTime<Utc> + Send + Sync + 'static,
    ) -> Self {
        Self {
            clock: std::sync::Arc::new(clock),
            ..self
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles one invocation without a deadline (a test's, the demo's): see [`Self::handle_until`].
    pub async fn handle(&self, event: Value) -> Result<Report, Error> {
        self.handle_until(event, None).await
    }

    /// Handles one invocation: the function's playbook for every principal the event names. With
    /// a `deadline` (Lambda's), the investigation stops [`DEADLINE_MARGIN`] before it, and what was
    /// read is recorded and reported.
    ///
    /// Malformed input is an error before any AWS call. A containment that could not finish is an
    /// error too (after every independent step was tried and the report stored), so that Lambda's
    /// retries and dead-letter queue see it.
    pub async fn handle_until(
        &self,
        event: Value,
        deadline: Option<std::time::SystemTime>,
    ) -> Result<Report, Error> {
        if self.playbook == Playbook::Audit {
            return Err(Error::Configuration(
                crate::error::ConfigError::AuditTakesNoEvent,
            ));
        }
        if self.playbook == Playbook::Release {
            // Boxed: the two playbooks' futures nested in one are too deep for the compiler's
            // layout computation.
            return Box::pin(self.release(event)).await;
        }
        let incident = match intake::parse(&event, &self.config.intake) {
            Err(err) => {
                warn!(field = %err.field, error = %err.message, "invalid event; nothing was changed");
                return Err(err.into());
            }
            Ok(Intake::Ignored { reason }) => {
                info!(%reason, "event ignored");
                return Ok(Report {
                    source: event
                        .get("source")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    message: Some(reason),
                    ..Report::new("", Status::Ignored, self.config.dry_run)
                });
            }
            Ok(Intake::Incident(incident)) => *incident,
        };
        Box::pin(self.respond(incident, &event, deadline, None)).await
    }

    /// Handles any invocation and answers as Lambda should: a work queue's batch (SQS records)
    /// with the items that failed, a status request with the incident's status, any other event
    /// with its report.
    pub async fn invoke(
        &self,
        event: Value,
        deadline: Option<std::time::SystemTime>,
    ) -> Result<Value, Error> {
        let answer = if self.playbook == Playbook::Audit {
            serde_json::to_value(Box::pin(self.audit(event)).await?)
        } else if self.playbook == Playbook::Hunt {
            return Box::pin(self.hunt_invocation(event, deadline)).await;
        } else if fanout_records(&event) {
            serde_json::to_value(Box::pin(self.work(event, deadline)).await?)
        } else if event.get("status").is_some() && self.playbook != Playbook::Release {
            Ok(Box::pin(self.status(&event)).await?)
        } else {
            serde_json::to_value(self.handle_until(event, deadline).await?)
        };
        answer.map_err(|e| Error::Aws(format!("the answer could not be serialized: {e}")))
    }

    /// The report of an incident that names more principals than may be contained without a
    /// human: every principal it names, refused, and nothing written to IAM. The event and the
    /// report are stored as evidence (unless a dry run), so the humans can see what was asked.
    async fn needs_a_human(
        &self,
        incident: &Incident,
        dry_run: bool,
        why: String,
        started: chrono::DateTime<Utc>,
        event: &Value,
    ) -> Report {
        warn!(incident = %incident.id, reason = %why, "refused: needs a human");
        let targets = incident
            .targets
            .iter()
            .map(|t| {
                let (arn, account) = match &t.principal {
                    Some(p) => (p.arn(), p.account_id.clone()),
                    None => (
                        format!("(owner of {})", t.access_key_ids[0]),
                        t.account_id.clone().unwrap_or_default(),
                    ),
                };
                TargetReport::stopped(arn, &account, Status::Refused, "needs a human".into())
            })
            .collect();
        let mut report = Report {
            source: Some(incident.source.as_str().into()),
            reason: incident.reason.clone(),
            message: Some(why),
            targets,
            ..Report::new(&incident.id, Status::Refused, dry_run)
        };
        // The ledger says whether this refusal was told already; read only if it would be told.
        let ledger = match self.channels(&report, Some(incident)) {
            (None, []) => Vec::new(),
            _ => evidence::incident_keys(&*self.evidence, &incident.id)
                .await
                .unwrap_or_default(),
        };
        let prefix = ledger::run_prefix(&incident.id, started);
        let extra = Extra::default();
        self.tell_and_store(
            &mut report,
            Some(incident),
            &ledger,
            &prefix,
            started,
            event,
            extra,
        )
        .await;
        report
    }

    /// The run's intent: what it may change, for every target of the incident. `None` when it
    /// writes nothing to IAM (a dry run, the snapshot function).
    fn intent(&self, incident: &Incident, dry_run: bool, cutoff: &str) -> Option<ledger::Intent> {
        if dry_run || self.playbook == Playbook::Snapshot {
            return None;
        }
        let deny_roles = self.config.role_deny_all || self.playbook == Playbook::AttachDenyAll;
        let targets = incident
            .targets
            .iter()
            .map(|t| {
                let role = t
                    .principal
                    .as_ref()
                    .is_some_and(|p| p.kind == PrincipalKind::Role);
                ledger::IntendedTarget {
                    principal_arn: t.principal.as_ref().map(Principal::arn),
                    access_key_ids: t.access_key_ids.clone(),
                    actions: Action::CONTAINMENT
                        .into_iter()
                        .filter(|a| self.playbook.runs(*a))
                        .filter(|a| !(role && *a == Action::AttachDenyAll && !deny_roles))
                        .collect(),
                    every_key: matches!(
                        self.playbook,
                        Playbook::Contain | Playbook::DeactivateAccessKeys
                    ),
                }
            })
            .collect();
        Some(ledger::Intent {
            ledger_version: LEDGER_VERSION,
            incident_id: incident.id.clone(),
            function: self.playbook.name().into(),
            cutoff: cutoff.to_owned(),
            targets,
            identity_center_users: incident
                .identity_center_users
                .iter()
                .map(|c| c.user.clone())
                .collect(),
        })
    }

    /// Stores the intent before the first IAM write. If it cannot be stored, the containment goes
    /// on (stopping would make things worse) and the final evidence wave reports the failure.
    async fn store_intent(
        &self,
        intent: Option<ledger::Intent>,
        prefix: &str,
        started: chrono::DateTime<Utc>,
    ) -> Option<(EvidenceObject, Option<String>)> {
        let intent = intent?;
        let object = EvidenceObject::json(format!("{prefix}/{}", ledger::INTENT_OBJECT), &intent);
        let retention = self.config.retention.as_ref().map(|r| (r, started));
        match evidence::put(&*self.evidence, &object, retention).await {
            Ok(stored) => Some((object, stored.version_id)),
            Err(e) => {
                warn!(error = %e, "intent not stored; containing anyway");
                None
            }
        }
    }

    /// Who this function runs as (asked once per cold start: one wave the first time).
    async fn me(&self, waves: &mut u32) -> Result<&Principal, Error> {
        if let Some(me) = self.identity.get() {
            return Ok(me);
        }
        *waves += 1;
        self.identity.get_or_try_init(|| self.own_identity()).await
    }

    /// Who this function runs as, so that it never contains itself.
    async fn own_identity(&self) -> Result<Principal, Error> {
        let out =
            self.sts.get_caller_identity().send().await.map_err(|e| {
                Error::Aws(format!("sts:GetCallerIdentity failed: {}", describe(&e)))
            })?;
        let arn = out.arn.unwrap_or_default();
        Principal::parse_arn(&arn)
            .map_err(|e| Error::Aws(format!("sts:GetCallerIdentity returned {e}")))
    }
}

/// A target stopped before its first step: refused, or failed (partial), with why.
fn stop(
    status: Status,
    principal_arn: String,
    account_id: &str,
    why: String,
    waves: u32,
) -> TargetRun {
    TargetRun {
        report: TargetReport::stopped(principal_arn, account_id, status, why),
        records: Vec::new(),
        waves,
    }
}
