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
use crate::principal::{Principal, PrincipalKind};
use crate::report::{
    Evidence, LEDGER_VERSION, Outcome, Report, Skipped, Status, StepReport, TargetReport,
};
use crate::snapshot::{self, Snapshot};
use aws_config::{BehaviorVersion, SdkConfig};
use chrono::{SecondsFormat, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
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
    s3: aws_sdk_s3::Client,
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
    ledger: &'a Result<Vec<String>, String>,
    /// The incident's reports, read once (by the first principal that needs them) and shared.
    reports: &'a OnceCell<Result<ledger::Reports, String>>,
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
        Self {
            iam,
            s3,
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

    /// Carries out the function's playbook for `incident`: the whole of it, or one work item of
    /// a dispatched incident (`work`), or the dispatch itself when the incident is too large.
    async fn respond(
        &self,
        mut incident: Incident,
        event: &Value,
        deadline: Option<std::time::SystemTime>,
        work: Option<WorkRun>,
    ) -> Result<Report, Error> {
        let stop_reading = deadline.map(|d| {
            let left = d
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            tokio::time::Instant::now() + left.saturating_sub(DEADLINE_MARGIN.min(left / 2))
        });
        let started = (self.clock)();
        if work.is_none()
            && let Some(reason) = Box::pin(self.echo(&incident)).await
        {
            info!(%reason, "event ignored");
            return Ok(Report {
                source: Some(incident.source.as_str().into()),
                reason: incident.reason.clone(),
                message: Some(reason),
                waves: 1,
                ..Report::new(&incident.id, Status::Ignored, incident.dry_run)
            });
        }
        let dry_run = self.config.dry_run || incident.dry_run;
        let now = started.to_rfc3339_opts(SecondsFormat::Millis, true);
        info!(incident = %incident.id, source = ?incident.source, dry_run, function = self.playbook.name(), work_item = ?work.as_ref().map(|w| w.item), "incident received");

        if work.is_none()
            && let Some(why) = incident.over_cap(&self.config.intake)
        {
            return Ok(self
                .needs_a_human(&incident, dry_run, why, started, event)
                .await);
        }

        // Where the targets are: an organization-wide request's accounts, a lone key's owning
        // account (sts:GetAccessKeyInfo), and the accounts nothing may be contained in. One wave
        // when there is anything to ask, beside the identity on a cold start.
        let mut waves = 0;
        let (placed, protected) = if work.is_none() {
            let (placed, w) = Box::pin(self.place(&mut incident)).await;
            waves += w;
            placed?
        } else {
            (
                None,
                self.config
                    .fanout
                    .protected_accounts
                    .iter()
                    .map(|a| (a.clone(), protected_account(a)))
                    .collect(),
            )
        };
        if work.is_none() && self.playbook == Playbook::Contain {
            // Whether to fan out needs no identity: a target of no known account is the
            // function's own, whichever that is.
            let known = |t: &Target| {
                t.principal
                    .as_ref()
                    .map(|p| p.account_id.clone())
                    .or_else(|| t.account_id.clone())
            };
            let distinct: BTreeSet<Option<String>> = incident.targets.iter().map(known).collect();
            if let Some(why) = self
                .config
                .fanout
                .fan_out(distinct.len(), incident.targets.len())
            {
                let me = match placed {
                    Some(me) => me,
                    None => {
                        let mut identity = 0;
                        let me = self.me(&mut identity).await?;
                        waves += identity;
                        me
                    }
                };
                let accounts: Vec<String> =
                    incident.targets.iter().map(|t| account_of(t, me)).collect();
                return Box::pin(self.dispatch(
                    &incident, event, &accounts, &protected, why, started, dry_run, waves,
                ))
                .await;
            }
        }

        let cutoff = match &work {
            Some(w) => w.record.cutoff.clone(),
            None => plan::session_cutoff(started),
        };
        let prefix = match &work {
            Some(w) => format!(
                "{}/{}/{}",
                ledger::ROOT,
                incident.id,
                ledger::item_run(started, w.item, &w.dispatch)
            ),
            None => ledger::run_prefix(&incident.id, started),
        };

        // One wave before the first IAM write: the run's intent is stored (a run that dies before
        // its report still leaves a ledger a release understands) and the incident's ledger is
        // listed (a detection re-delivered after a release must not undo the humans' decision; a
        // replay keeps the cutoff its ledger records), beside the identity call on a cold start.
        let bucket = &self.config.evidence_bucket;
        let intent = self.intent(&incident, dry_run, &cutoff);
        let mut identity = 0;
        let (me, ledger, intent) = tokio::join!(
            self.me(&mut identity),
            evidence::incident_keys(&self.s3, bucket, &incident.id),
            self.store_intent(intent, &prefix, started)
        );
        let me = me?;
        // A work item's ledger is the incident's own runs and its item's, not the other items'.
        let ledger = match &work {
            Some(w) => ledger.map(|keys| {
                keys.into_iter()
                    .filter(|k| fanout::in_item_ledger(k, &w.dispatch, w.item))
                    .collect()
            }),
            None => ledger,
        };
        // The identity (on a cold start), the ledger's listing and the intent went out together:
        // one wave before the first IAM write.
        waves += 1;
        // Tourniquet's own IAM calls show up in CloudTrail: they must never trigger it again.
        if incident.source == Source::CloudTrail
            && incident
                .targets
                .iter()
                .any(|t| t.principal.as_ref().is_some_and(|p| p.same_as(me)))
        {
            let reason = format!(
                "{} was caused by Tourniquet's own identity {me}",
                incident.id
            );
            info!(%reason, "event ignored");
            return Ok(Report {
                source: Some(Source::CloudTrail.as_str().into()),
                reason: incident.reason.clone(),
                message: Some(reason),
                waves,
                ..Report::new(&incident.id, Status::Ignored, dry_run)
            });
        }

        let accounts = incident
            .targets
            .iter()
            .map(|t| account_of(t, me))
            .filter(|a| !protected.contains_key(a))
            .chain(
                (!incident.identity_center_users.is_empty())
                    .then(|| self.identity_center_account(me)),
            )
            .collect();
        let (accounts, entering) = self.enter(me, accounts, &incident.id).await;
        waves += entering;

        let reports = OnceCell::new();
        let policies = snapshot::Policies::default();
        let investigations = tokio::sync::Semaphore::new(INVESTIGATIONS);
        let invocation = Invocation {
            me,
            accounts: &accounts,
            protected: &protected,
            incident: &incident,
            ledger: &ledger,
            reports: &reports,
            policies: &policies,
            investigations: &investigations,
            dry_run,
            now: &now,
            started,
            cutoff: &cutoff,
            stop_reading,
            prefix: &prefix,
        };

        // 1. Resolve: every target to its principal, each principal once.
        let (resolved, resolving) = self.resolve(&invocation).await;
        waves += resolving;
        // 2-4. Contain, investigate, record: every principal at once, in its own lane of the
        // paced queue (the order the event names them), writes ahead of reads; and every
        // Identity Center user, in Identity Center, beside them.
        let centered = futures::future::join_all(
            incident
                .identity_center_users
                .iter()
                .map(|claim| self.contain_identity_center(claim, &invocation)),
        );
        let contained =
            futures::future::join_all(resolved.into_iter().enumerate().map(|(lane, r)| {
                let ticket = Ticket {
                    lane: u32::try_from(lane).unwrap_or(u32::MAX),
                    urgent: false,
                };
                pace::ticket(ticket, async {
                    match r {
                        Err(stopped) => stopped,
                        Ok((principal, keys, iam)) => {
                            self.contain_resolved(iam, principal, &keys, &invocation, &prefix)
                                .await
                        }
                    }
                })
            }));
        let (mut runs, centered): (Vec<TargetRun>, Vec<TargetRun>) =
            tokio::join!(contained, centered);
        runs.extend(centered);
        waves += runs.iter().map(|r| r.waves).max().unwrap_or(0);

        // 5. Hunt: what the credentials did, after every containment write above; what they left
        // is contained as more targets of the incident.
        let hunted = match self.hunts(work.is_some()) {
            true => Box::pin(self.hunt(&invocation, &runs)).await,
            false => None,
        };
        let (runs, hunted, follow_intent) = match hunted {
            Some(hunted) => {
                waves += hunted.waves;
                let mut all = runs;
                all.extend(hunted.runs);
                (all, Some((hunted.summary, hunted.activity)), hunted.intent)
            }
            None => (runs, None, None),
        };

        // 6. Report.
        let skipped: Vec<Skipped> = incident
            .skipped
            .iter()
            .map(|e| Skipped {
                field: e.field.clone(),
                error: e.message.clone(),
            })
            .collect();
        for s in &skipped {
            warn!(field = %s.field, error = %s.error, "malformed entity skipped; the rest of the event is contained");
        }
        let (targets, records): (Vec<TargetReport>, Vec<Vec<Upload>>) =
            runs.into_iter().map(|r| (r.report, r.records)).unzip();
        let mut status =
            Report::status_from_targets(&targets, dry_run && self.playbook != Playbook::Snapshot);
        if !skipped.is_empty() && !dry_run {
            // The skipped part needs a human: the error puts it in front of the alarm and the
            // dead-letter queue, and a retry finds the rest already in place.
            status = Status::Partial;
        }
        if status == Status::Ignored && targets.is_empty() && hunted.is_some() {
            status = Status::Hunted;
        }
        let (activity, events) = hunted.unzip();
        let mut report = Report {
            source: Some(incident.source.as_str().into()),
            reason: incident.reason.clone(),
            waves,
            targets,
            skipped,
            activity,
            ..Report::new(&incident.id, status, dry_run)
        };
        // The humans first: the message names where the evidence is going. A work item tells
        // nobody: the incident's summary does, once, when its last item ends.
        let ledger_keys = ledger.as_deref().unwrap_or_default();
        let notified = match work {
            Some(_) => None,
            // Boxed: nested, the futures are too deep for the compiler's layout computation.
            None => Box::pin(self.notify(&mut report, Some(&incident), ledger_keys, &prefix)).await,
        };
        if !dry_run {
            let outcome = work.as_ref().map(|w| {
                let object = EvidenceObject::json(
                    format!("{prefix}/{}", fanout::outcome_object(report.status)),
                    &fanout::Outcome {
                        incident_id: incident.id.clone(),
                        dispatch: w.dispatch.clone(),
                        item: w.item,
                        status: report.status,
                        summary: report.summary(),
                    },
                );
                self.upload(object, started)
            });
            let extra = Extra {
                stored: intent.into_iter().chain(follow_intent).collect(),
                uploads: records
                    .into_iter()
                    .flatten()
                    .chain(notified.map(|o| self.upload(o, started)))
                    .chain(outcome)
                    .chain(events.map(|events| {
                        let key = format!("{prefix}/{}", crate::hunt::ACTIVITY_OBJECT);
                        self.upload(EvidenceObject::json(key, &events), started)
                    }))
                    .collect(),
                ..Extra::default()
            };
            self.store_evidence(&mut report, &prefix, &incident.id, started, event, extra)
                .await;
        }
        info!(
            incident = %report.incident_id,
            status = ?report.status,
            waves = report.waves,
            report = %serde_json::to_string(&report).unwrap_or_default(),
            "{}", report.summary()
        );
        if let Some(w) = &work
            && !dry_run
        {
            Box::pin(self.conclude(&incident.id, w)).await;
        }
        record::answer(report)
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
            _ => {
                let bucket = &self.config.evidence_bucket;
                evidence::incident_keys(&self.s3, bucket, &incident.id)
                    .await
                    .unwrap_or_default()
            }
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
        let bucket = &self.config.evidence_bucket;
        match evidence::put(&self.s3, bucket, &object, retention).await {
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
