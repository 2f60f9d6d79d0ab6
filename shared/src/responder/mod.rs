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

use crate::config::Config;
use crate::error::{Error, describe};
use crate::evidence::{self, EvidenceObject};
use crate::execute::{Route, WriteError, Writer, Written};
use crate::intake::{self, Incident, Intake, Source, Target, Trigger};
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
use tokio::sync::OnceCell;
use tracing::{info, warn};

mod accounts;
mod release;

use accounts::{Accounts, Blocked};

/// Attempts per AWS call, the first included, in the SDK's standard retry mode (each attempt
/// paced; a throttled containment write is also sent again from the bucket, [`pace::WRITE_RESENDS`]).
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
    incident: &'a Incident,
    /// The incident's evidence keys: its ledger and release records (see `Responder::released`
    /// and `evidence::prior_cutoff`), or why they could not be listed.
    ledger: &'a Result<Vec<String>, String>,
    /// The incident's reports, read once (by the first principal that needs them) and shared.
    reports: &'a OnceCell<Result<evidence::Reports, String>>,
    /// Managed policies read in this invocation, shared by every snapshot.
    policies: &'a snapshot::Policies,
    /// The snapshots that may read at once ([`INVESTIGATIONS`]).
    investigations: &'a tokio::sync::Semaphore,
    dry_run: bool,
    now: &'a str,
    started: chrono::DateTime<Utc>,
    /// When the investigation stops, if the function has a deadline.
    stop_reading: Option<tokio::time::Instant>,
}

/// What the incident's ledger says for one principal's first-wave steps.
struct Prior {
    /// An earlier cutoff of this incident to put back ([`plan::cutoff_to_restore`]).
    earlier: Option<String>,
    /// An earlier run of this incident contained the principal: a first-wave write found in
    /// place was there before.
    contained_before: bool,
    /// Why the ledger could not be read, if it could not: this run's (later) cutoff stays.
    unread: Option<String>,
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

/// An evidence object on its way to S3: what the report and manifest need of it, and the upload.
struct Upload {
    entry: evidence::ManifestEntry,
    stored: tokio::task::JoinHandle<Result<Evidence, String>>,
}

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
            return Err(Error::Configuration(
                "AWS_REGION is not set: the SDK needs a region".into(),
            ));
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
            ..Self::with_clients(
                aws_sdk_iam::Client::from_conf(iam),
                aws_sdk_s3::Client::from_conf(s3),
                aws_sdk_sts::Client::new(sdk),
                config,
            )
        }
    }

    /// Builds the responder from ready clients (a test's, with fault injection).
    pub fn with_clients(
        iam: aws_sdk_iam::Client,
        s3: aws_sdk_s3::Client,
        sts: aws_sdk_sts::Client,
        config: Config,
    ) -> Self {
        Self {
            iam,
            s3,
            sts,
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
        if self.playbook == Playbook::Release {
            // Boxed: the two playbooks' futures nested in one are too deep for the compiler's
            // layout computation.
            return Box::pin(self.release(event)).await;
        }
        let stop_reading = deadline.map(|d| {
            let left = d
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            tokio::time::Instant::now() + left.saturating_sub(DEADLINE_MARGIN.min(left / 2))
        });
        let started = (self.clock)();
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
            Ok(Intake::Incident(incident)) => incident,
        };
        let dry_run = self.config.dry_run || incident.dry_run;
        let now = started.to_rfc3339_opts(SecondsFormat::Millis, true);
        info!(incident = %incident.id, source = ?incident.source, dry_run, function = self.playbook.name(), "incident received");

        if let Some(why) = incident.over_cap(&self.config.intake) {
            return Ok(self
                .needs_a_human(&incident, dry_run, why, started, &event)
                .await);
        }

        // One wave before the first IAM write: the run's intent is stored (a run that dies before
        // its report still leaves a ledger a release understands) and the incident's ledger is
        // listed (a detection re-delivered after a release must not undo the humans' decision; a
        // replay keeps the cutoff its ledger records), beside the identity call on a cold start.
        let bucket = &self.config.evidence_bucket;
        let intent = self.intent(&incident, dry_run, started);
        let mut identity = 0;
        let (me, ledger, intent) = tokio::join!(
            self.me(&mut identity),
            evidence::incident_keys(&self.s3, bucket, &incident.id),
            self.store_intent(intent, started)
        );
        let me = me?;
        // The identity (on a cold start), the ledger's listing and the intent went out together:
        // one wave before the first IAM write.
        let mut waves = 1;
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

        let accounts = incident.targets.iter().map(|t| account_of(t, me)).collect();
        let (accounts, entering) = self.enter(me, accounts, &incident.id).await;
        waves += entering;

        let reports = OnceCell::new();
        let policies = snapshot::Policies::default();
        let investigations = tokio::sync::Semaphore::new(INVESTIGATIONS);
        let prefix = evidence::run_prefix(&incident.id, started);
        let invocation = Invocation {
            me,
            accounts: &accounts,
            incident: &incident,
            ledger: &ledger,
            reports: &reports,
            policies: &policies,
            investigations: &investigations,
            dry_run,
            now: &now,
            started,
            stop_reading,
        };

        // 1. Resolve: every target to its principal, each principal once.
        let (resolved, resolving) = self.resolve(&invocation).await;
        waves += resolving;
        // 2-4. Contain, investigate, record: every principal at once, in its own lane of the
        // paced queue (the order the event names them), writes ahead of reads.
        let runs: Vec<TargetRun> =
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
            }))
            .await;
        waves += runs.iter().map(|r| r.waves).max().unwrap_or(0);

        // 5. Report.
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
        let mut report = Report {
            source: Some(incident.source.as_str().into()),
            reason: incident.reason.clone(),
            waves,
            targets,
            skipped,
            ..Report::new(&incident.id, status, dry_run)
        };
        if !dry_run {
            let extra = Extra {
                stored: intent.into_iter().collect(),
                uploads: records.into_iter().flatten().collect(),
                ..Extra::default()
            };
            self.store_evidence(&mut report, &incident.id, started, &event, extra)
                .await;
        }
        info!(
            incident = %report.incident_id,
            status = ?report.status,
            waves = report.waves,
            report = %serde_json::to_string(&report).unwrap_or_default(),
            "{}", report.summary()
        );
        if report.status == Status::Partial {
            return Err(Error::Partial {
                summary: report.summary(),
                report: Box::new(report),
            });
        }
        Ok(report)
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
        if !dry_run {
            let extra = Extra::default();
            self.store_evidence(&mut report, &incident.id, started, event, extra)
                .await;
        }
        info!(incident = %report.incident_id, status = ?report.status, "{}", report.summary());
        report
    }

    /// The run's intent: what it may change, for every target of the incident. `None` when it
    /// writes nothing to IAM (a dry run, the snapshot function).
    fn intent(
        &self,
        incident: &Incident,
        dry_run: bool,
        started: chrono::DateTime<Utc>,
    ) -> Option<evidence::Intent> {
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
                evidence::IntendedTarget {
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
        Some(evidence::Intent {
            ledger_version: LEDGER_VERSION,
            incident_id: incident.id.clone(),
            function: self.playbook.name().into(),
            cutoff: plan::session_cutoff(started),
            targets,
        })
    }

    /// Stores the intent before the first IAM write. If it cannot be stored, the containment goes
    /// on (stopping would make things worse) and the final evidence wave reports the failure.
    async fn store_intent(
        &self,
        intent: Option<evidence::Intent>,
        started: chrono::DateTime<Utc>,
    ) -> Option<(EvidenceObject, Option<String>)> {
        let intent = intent?;
        let prefix = evidence::run_prefix(&intent.incident_id, started);
        let object = EvidenceObject::json(format!("{prefix}/{}", evidence::INTENT_OBJECT), &intent);
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

    /// Resolves every target to its principal, all at once (a key's owner and a path are read
    /// ahead of every other request), and merges the targets that name the same principal: one
    /// principal is contained once per invocation, with every key any of its targets named.
    /// Returns the principals in the order the event first names them, and the waves it took.
    async fn resolve<'a>(&'a self, run: &Invocation<'a>) -> (Vec<Resolved<'a>>, u32) {
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
        let Invocation { me, accounts, .. } = *run;
        let mut waves = 0;
        let account = account_of(target, me);
        let named = |principal: &Option<Principal>| match principal {
            Some(p) => p.arn(),
            None => format!("(owner of {})", target.access_key_ids[0]),
        };
        let iam = match accounts.iam(&self.iam, &account) {
            Ok(iam) => iam,
            Err(Blocked::Failed(why)) => {
                let arn = named(&target.principal);
                return (Err(stop(Status::Partial, arn, &account, why, waves)), waves);
            }
            Err(Blocked::NotConfigured(why)) => {
                let arn = named(&target.principal);
                return (Err(stop(Status::Refused, arn, &account, why, waves)), waves);
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
                        let stopped = stop(Status::Partial, named(&None), &account, why, waves);
                        return (Err(stopped), waves);
                    }
                }
            }
        };
        // A protected pattern with a path can only be decided once IAM has told the path.
        if !self
            .config
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

    /// One resolved principal: refused, left released, or contained, investigated and recorded.
    async fn contain_resolved(
        &self,
        iam: &aws_sdk_iam::Client,
        principal: Principal,
        named_keys: &[String],
        run: &Invocation<'_>,
        prefix: &str,
    ) -> TargetRun {
        let mut waves = 0;
        if let Some(why) = plan::refusal(&principal, run.me, &self.config, self.playbook) {
            warn!(principal = %principal, reason = %why, "refused");
            let (arn, account) = (principal.arn(), &principal.account_id);
            return stop(Status::Refused, arn, account, why, waves);
        }
        let mut note = None;
        match self.released(&principal, run.incident, run.ledger).await {
            Released::No => {}
            Released::Yes(why) => {
                info!(principal = %principal, reason = %why, "released before: not contained again");
                let (arn, account) = (principal.arn(), &principal.account_id);
                return stop(Status::Ignored, arn, account, why, waves + 1);
            }
            Released::NewActivity(why) | Released::Unknown(why) => {
                warn!(principal = %principal, reason = %why, "contained");
                waves += 1;
                note = Some(why);
            }
        }
        let (mut report, snapshot, plan, principal_waves) = self
            .contain_principal(iam, &principal, named_keys, run)
            .await;
        report.message = match (note, report.message.take()) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        // 4. Record: the snapshot and plan leave memory as soon as they are serialized.
        let records = if run.dry_run {
            Vec::new()
        } else {
            let folder = evidence::principal_folder(prefix, &principal);
            vec![
                self.upload(
                    EvidenceObject::json(format!("{folder}/snapshot.json"), &snapshot),
                    run.started,
                ),
                self.upload(
                    EvidenceObject::json(format!("{folder}/plan.json"), &plan),
                    run.started,
                ),
            ]
        };
        TargetRun {
            report,
            records,
            waves: waves + principal_waves,
        }
    }

    /// Starts uploading one evidence object (at most [`UPLOAD_CONCURRENCY`] at once); the bytes
    /// are held only until S3 has them.
    fn upload(&self, object: EvidenceObject, started: chrono::DateTime<Utc>) -> Upload {
        let entry = object.entry(None);
        let (s3, bucket) = (self.s3.clone(), self.config.evidence_bucket.clone());
        let (retention, slots) = (self.config.retention.clone(), self.uploads.clone());
        let stored = tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.map_err(|e| e.to_string())?;
            let retention = retention.as_ref().map(|r| (r, started));
            evidence::put(&s3, &bucket, &object, retention).await
        });
        Upload { entry, stored }
    }

    /// Whether `principal` was released from this incident since, and what that means for a
    /// detection re-delivered now. Only a release record in the evidence store counts, never a tag
    /// on the principal (which a compromised principal may write).
    async fn released(
        &self,
        principal: &Principal,
        incident: &Incident,
        ledger: &Result<Vec<String>, String>,
    ) -> Released {
        if incident.trigger == Trigger::Human {
            // A human's request (manual, or a custom action) contains a released principal again.
            return Released::No;
        }
        let keys = match ledger {
            Ok(keys) if keys.is_empty() => return Released::No,
            Ok(keys) => keys,
            Err(e) => {
                return Released::Unknown(format!(
                    "contained although it could not be read whether {} released this \
                     principal ({e}): containing is the safe side",
                    incident.id
                ));
            }
        };
        let bucket = &self.config.evidence_bucket;
        let release = match evidence::latest_release(&self.s3, bucket, keys, principal).await {
            Ok(Some(release)) => release,
            Ok(None) => return Released::No,
            Err(e) => {
                return Released::Unknown(format!(
                    "contained although the release record of {} could not be read ({e}): \
                     containing is the safe side",
                    incident.id
                ));
            }
        };
        let at = release
            .released_at
            .to_rfc3339_opts(SecondsFormat::Millis, true);
        let why = release
            .reason
            .as_deref()
            .map(|r| format!(" (\"{r}\")"))
            .unwrap_or_default();
        match incident.last_seen {
            Some(seen) if seen > release.released_at => Released::NewActivity(format!(
                "contained again: released from {} at {at}{why}, but the signal saw new activity \
                 at {}, after the release; the session cutoff is new",
                incident.id,
                seen.to_rfc3339_opts(SecondsFormat::Secs, true)
            )),
            seen => Released::Yes(format!(
                "released from {} at {at}{why}; this re-delivered signal shows no activity since \
                 (last seen {}), so the release stands. Invoke contain by hand to contain it again",
                incident.id,
                seen.map_or("not given".into(), |s| s
                    .to_rfc3339_opts(SecondsFormat::Secs, true))
            )),
        }
    }

    /// Contains one principal: wave 1 writes the critical steps while the snapshot's lists are
    /// read; the key listing's answer starts the other keys' deactivations at once; wave 2 reads
    /// the details, writes the tags, puts back an earlier session cutoff, and takes the fallback
    /// route for a policy that did not fit. The paced queue sends every principal's writes of a
    /// wave before any read.
    async fn contain_principal(
        &self,
        iam: &aws_sdk_iam::Client,
        principal: &Principal,
        named_keys: &[String],
        invocation: &Invocation<'_>,
    ) -> (TargetReport, Snapshot, Vec<Step>, u32) {
        let Invocation {
            incident,
            dry_run,
            now,
            ledger,
            reports,
            policies,
            investigations,
            stop_reading,
            ..
        } = *invocation;
        let options = Options {
            role_deny_all: self.config.role_deny_all,
        };
        let critical = plan::critical_steps(principal, named_keys, self.playbook, options);
        let cutoff = plan::session_cutoff(invocation.started);
        let writer = Writer {
            iam,
            principal,
            cutoff: &cutoff,
        };
        let run = plan::Run {
            incident_id: &incident.id,
            now,
            cutoff: &cutoff,
        };
        let writes_allowed = !dry_run && self.playbook != Playbook::Snapshot;
        let first_wave = critical.iter().map(|s| async {
            match &s.blocked {
                Some(_) => None,
                None if writes_allowed => Some(writer.apply(s).await),
                None => None,
            }
        });
        let bucket = &self.config.evidence_bucket;
        let prior = async {
            let keys = ledger.as_ref().map_err(Clone::clone)?;
            let reports = reports
                .get_or_init(|| evidence::reports(&self.s3, bucket, keys))
                .await
                .as_ref()
                .map_err(Clone::clone)?;
            Ok::<_, String>(evidence::prior_cutoff(keys, reports, principal))
        };
        // The other keys: deactivated as soon as their listing answers (a user's; a role has none).
        let (keys_listed, listing) = tokio::sync::oneshot::channel();
        let other_keys = async {
            let Ok(listed) = listing.await else {
                return Vec::new();
            };
            let steps = plan::key_steps(&critical, &listed, self.playbook);
            let state = PrincipalState::keys_only(listed);
            let writer = &writer;
            let runs = steps.into_iter().map(|step| {
                let state = &state;
                async move {
                    let done = apply_later(writer, &step, principal, state, writes_allowed).await;
                    (step, done)
                }
            });
            futures::future::join_all(runs).await
        };
        // The writes first: polled first, they reach the paced queue first.
        let gate = snapshot::Gate {
            slots: Some(investigations),
            stop_reading,
        };
        let (written, (first, admitted), prior, other_keys) = tokio::join!(
            futures::future::join_all(first_wave),
            snapshot::read(iam, principal, now.into(), Some(keys_listed), gate),
            prior,
            other_keys
        );
        let state = first.state();
        let prior = match prior {
            Ok(p) => Prior {
                earlier: plan::cutoff_to_restore(p.cutoff.as_deref(), p.first_run, run),
                contained_before: p.contained,
                unread: None,
            },
            Err(e) => Prior {
                earlier: None,
                contained_before: false,
                unread: Some(e),
            },
        };
        let in_force = prior.earlier.clone().unwrap_or_else(|| cutoff.clone());
        let tagged = plan::Run {
            cutoff: &in_force,
            ..run
        };
        let tag = plan::tag_step(&critical, &state, tagged, self.playbook);
        let arn = first
            .arn()
            .map(str::to_owned)
            .unwrap_or_else(|| principal.arn());
        let concurrent: Vec<String> = critical
            .iter()
            .zip(&written)
            .filter(|(_, w)| w.is_some())
            .map(|(s, _)| s.target.clone())
            .collect();

        let settle_critical = critical.iter().zip(written).map(|(step, first_try)| {
            let (writer, state, prior) = (&writer, &state, &prior);
            async move {
                match first_try {
                    None => (planned(step, principal, state, writes_allowed), 0),
                    Some(result) => {
                        Box::pin(settle(writer, step, principal, state, run, result, prior)).await
                    }
                }
            }
        });
        let tag_step = async {
            match &tag {
                Some(step) => {
                    Some(apply_later(&writer, step, principal, &state, writes_allowed).await)
                }
                None => None,
            }
        };
        // 3. Investigate: the snapshot's details, behind every write in the paced queue.
        let ((snapshot, snapshot_waves, cut_short), settled, tag_report) = tokio::join!(
            // Boxed: allocated when the principal gets here, not for every principal at once.
            Box::pin(snapshot::complete(
                iam,
                first,
                concurrent,
                policies,
                stop_reading
            )),
            futures::future::join_all(settle_critical),
            tag_step
        );
        // The next principal's snapshot may start.
        drop(admitted);
        let (other_keys, other_reports): (Vec<Step>, Vec<(StepReport, u32)>) =
            other_keys.into_iter().unzip();
        // The keys' writes went out once their listing answered: wave 2, like the tags.
        let second_wave = settled
            .iter()
            .chain(&other_reports)
            .chain(&tag_report)
            .map(|(_, calls)| *calls)
            .max()
            .unwrap_or(0)
            .max(snapshot_waves)
            .max(u32::from(!other_reports.is_empty()));
        let rest: Vec<Step> = other_keys.into_iter().chain(tag).collect();
        let steps: Vec<StepReport> = settled
            .into_iter()
            .chain(other_reports)
            .chain(tag_report)
            .zip(critical.iter().chain(&rest))
            .map(|((s, _), step)| with_facts(s, step, principal, &state, &cutoff))
            .collect();
        for s in &steps {
            info!(principal = %arn, action = %s.action, target = %s.target, outcome = ?s.outcome, route = s.route.map_or("-", Route::as_str), "{}", s.detail);
        }
        let mut status = if self.playbook == Playbook::Snapshot {
            Status::Captured
        } else {
            TargetReport::status_from_steps(&steps)
        };
        let mut message = None;
        if cut_short {
            warn!(principal = %arn, "the snapshot was cut short by the function's deadline");
            message = Some(
                "the snapshot was cut short before the function's deadline (the parts not read \
                 say so); the containment steps above were all sent first. Invoke again to \
                 complete the evidence: what is in place is found in place"
                    .to_owned(),
            );
            status = Status::Partial;
        }
        let report = TargetReport {
            principal_arn: arn,
            account_id: principal.account_id.clone(),
            status,
            message,
            steps,
        };
        let plan = critical.into_iter().chain(rest).collect();
        (report, snapshot, plan, 1 + second_wave)
    }

    /// Writes the event, the extra records and the report in one wave, alongside the principals'
    /// records still on their way, then the manifest with every object's S3 version: every hash
    /// is known before upload, so the report lists the others and the manifest all of them.
    async fn store_evidence(
        &self,
        report: &mut Report,
        incident_id: &str,
        started: chrono::DateTime<Utc>,
        event: &Value,
        extra: Extra,
    ) {
        let prefix = evidence::run_prefix(incident_id, started);
        let mut objects = vec![EvidenceObject::json(format!("{prefix}/event.json"), event)];
        for (principal, name, record) in &extra.records {
            let folder = evidence::principal_folder(&prefix, principal);
            objects.push(EvidenceObject::json(format!("{folder}/{name}"), record));
        }
        report.waves += 2;
        // The event and the release records start now; the principals' records are under way.
        let mut uploads: Vec<Upload> = objects
            .into_iter()
            .map(|o| self.upload(o, started))
            .chain(extra.uploads)
            .collect();
        report.evidence = extra
            .stored
            .iter()
            .map(|(o, _)| o.evidence())
            .chain(uploads.iter().map(|u| Evidence {
                key: u.entry.key.clone(),
                sha256: u.entry.sha256.clone(),
                version_id: None,
            }))
            .collect();
        report.evidence_lock = Some(match &self.config.retention {
            Some(r) => {
                let until = started + chrono::TimeDelta::days(i64::from(r.days));
                format!(
                    "{} until {}",
                    r.mode.as_str(),
                    until.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            }
            None => "not locked by Tourniquet: EVIDENCE_RETENTION_MODE is unset, so only the \
                     bucket's default retention, if it has one, keeps the evidence from being \
                     deleted"
                .into(),
        });
        let own = EvidenceObject::json(format!("{prefix}/report.json"), &*report);
        uploads.push(self.upload(own, started));
        // First every object, then the manifest, which records the versions S3 gave them.
        let results = futures::future::join_all(uploads.into_iter().map(|u| async move {
            let stored = u
                .stored
                .await
                .unwrap_or_else(|e| Err(format!("the upload of {} failed: {e}", u.entry.key)));
            (u.entry, stored)
        }))
        .await;
        report.evidence = Vec::new();
        let mut entries = Vec::new();
        for (o, version_id) in extra.stored {
            report.evidence.push(Evidence {
                version_id: version_id.clone(),
                ..o.evidence()
            });
            entries.push(o.entry(version_id));
        }
        for (entry, stored) in results {
            match stored {
                Ok(e) => {
                    entries.push(evidence::ManifestEntry {
                        version_id: e.version_id.clone(),
                        ..entry
                    });
                    report.evidence.push(e);
                }
                Err(err) => evidence_failed(report, err),
            }
        }
        let bucket = self.config.evidence_bucket.as_str();
        let retention = self.config.retention.as_ref().map(|r| (r, started));
        let manifest = evidence::manifest(incident_id, &prefix, entries);
        match evidence::put(&self.s3, bucket, &manifest, retention).await {
            Ok(e) => report.evidence.push(e),
            Err(err) => evidence_failed(report, err),
        }
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

/// An evidence object that could not be stored makes the run `partial`, and says which.
fn evidence_failed(report: &mut Report, err: String) {
    warn!(error = %err, "evidence not stored");
    report.status = Status::Partial;
    report.message = Some(format!("evidence not stored: {err}"));
}

/// Objects of a run besides its event, report and manifest.
#[derive(Default)]
struct Extra {
    /// The principals' snapshots and plans, on their way.
    uploads: Vec<Upload>,
    /// Records to upload with the rest, in a principal's folder (a release's `released.json`).
    records: Vec<(Principal, &'static str, Value)>,
    /// Objects already uploaded earlier in the run (its intent), with their versions: listed,
    /// not uploaded again.
    stored: Vec<(EvidenceObject, Option<String>)>,
}

/// What a release of the incident means for one principal of a re-delivered detection.
enum Released {
    /// Not released (or not an automatic detection): contain.
    No,
    /// Released, and the detection shows nothing newer: leave it released (why).
    Yes(String),
    /// Released, but the detection saw activity after the release: contain again (why).
    NewActivity(String),
    /// The release records could not be read: contain, and say so.
    Unknown(String),
}

/// Settles a critical step after its first-wave write: judges the outcome, puts back an earlier
/// session cutoff, or takes the fallback route when the inline policy did not fit.
async fn settle(
    writer: &Writer<'_>,
    step: &Step,
    principal: &Principal,
    state: &PrincipalState,
    run: plan::Run<'_>,
    first_try: Result<Written, WriteError>,
    prior: &Prior,
) -> (StepReport, u32) {
    let cutoff = run.cutoff;
    let contained_before = prior.contained_before;
    match first_try {
        Ok(written) => {
            if step.action == Action::RevokeSessions
                && let Some(earlier) = prior.earlier.clone()
            {
                return match writer.restore_cutoff(&earlier).await {
                    Ok(w) => {
                        let detail = format!(
                            "sessions issued before {earlier} stay denied (the earlier containment's cutoff is kept)"
                        );
                        let report = StepReport {
                            cutoff: Some(earlier),
                            ..report_step(step, Outcome::AlreadyInPlace, detail, w.route)
                        };
                        (report, w.calls)
                    }
                    Err(e) => {
                        let detail = format!(
                            "the earlier cutoff {earlier} could not be put back: {}",
                            e.message
                        );
                        (report_step(step, Outcome::Failed, detail, None), e.calls)
                    }
                };
            }
            let outcome = plan::critical_outcome(step, principal, state, true, contained_before);
            let detail = match (step.action, &prior.unread) {
                (Action::RevokeSessions, None) => {
                    format!("sessions issued before {cutoff} are denied")
                }
                // Without the ledger, this run's cutoff stays: later than any earlier one, it
                // denies at least every session the earlier one did.
                (Action::RevokeSessions, Some(e)) => format!(
                    "sessions issued before {cutoff} are denied (the incident's ledger could not \
                     be read for an earlier cutoff: {e})"
                ),
                _ => String::new(),
            };
            (report_step(step, outcome, detail, written.route), 0)
        }
        Err(e) if e.limit_exceeded => match writer.fallback(step).await {
            Ok(w) => {
                let outcome =
                    plan::critical_outcome(step, principal, state, true, contained_before);
                let detail = format!(
                    "the inline policy did not fit ({}); took the {} route",
                    e.message,
                    w.route.map(Route::as_str).unwrap_or("fallback")
                );
                (report_step(step, outcome, detail, w.route), w.calls)
            }
            Err(fallback) => {
                let detail = format!(
                    "the inline policy did not fit ({}), nor did the fallback: {}",
                    e.message, fallback.message
                );
                (
                    report_step(step, Outcome::Failed, detail, None),
                    fallback.calls,
                )
            }
        },
        Err(e) => (report_step(step, Outcome::Failed, e.message, None), 0),
    }
}

/// A step that follows from what was read (another key, the tags): planned in a dry run, failed
/// when blocked, already in place, or written. Returns its report and the sequential calls.
async fn apply_later(
    writer: &Writer<'_>,
    step: &Step,
    principal: &Principal,
    state: &PrincipalState,
    writes_allowed: bool,
) -> (StepReport, u32) {
    if !writes_allowed {
        return (planned(step, principal, state, false), 0);
    }
    if let Some(why) = &step.blocked {
        return (report_step(step, Outcome::Failed, why.clone(), None), 0);
    }
    if plan::in_place(step, principal, state) {
        let report = report_step(step, Outcome::AlreadyInPlace, String::new(), None);
        return (report, 0);
    }
    match writer.apply(step).await {
        Ok(w) => (
            report_step(step, Outcome::Applied, String::new(), w.route),
            w.calls,
        ),
        Err(e) => (report_step(step, Outcome::Failed, e.message, None), e.calls),
    }
}

/// A step not written in this run: planned, already in place, or skipped (why).
fn planned(
    step: &Step,
    principal: &Principal,
    state: &PrincipalState,
    writes_allowed: bool,
) -> StepReport {
    if let Some(why) = &step.blocked {
        return report_step(step, Outcome::Skipped, why.clone(), None);
    }
    let outcome = if plan::in_place(step, principal, state) {
        Outcome::AlreadyInPlace
    } else if writes_allowed {
        Outcome::Skipped
    } else {
        Outcome::Planned
    };
    report_step(step, outcome, String::new(), None)
}

/// The step's line in the report: what was (or would be) done and how, or AWS's error.
fn report_step(step: &Step, outcome: Outcome, note: String, route: Option<Route>) -> StepReport {
    let what = match step.action {
        Action::AttachDenyAll => format!("{} (Deny * on *)", step.target),
        Action::RevokeSessions => format!(
            "{} (Deny * to sessions issued before the cutoff)",
            step.target
        ),
        Action::DeactivateAccessKey if step.critical => {
            "access key named in the event set to Inactive (never deleted)".into()
        }
        Action::DeactivateAccessKey => "access key set to Inactive (never deleted)".into(),
        Action::TagPrincipal => {
            let tags: Vec<String> = step.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("tagged {}", tags.join(", "))
        }
        other => format!("{other} {}", step.target),
    };
    let detail = match outcome {
        Outcome::Failed | Outcome::Skipped if !note.is_empty() => note,
        Outcome::AlreadyInPlace if note.is_empty() => format!("already in place: {what}"),
        Outcome::Planned => format!("would be applied: {what}"),
        _ if note.is_empty() => what,
        _ => format!("{what}; {note}"),
    };
    StepReport {
        route,
        named_in_event: step.action == Action::DeactivateAccessKey && step.critical,
        ..StepReport::new(step.action, &step.target, outcome, detail)
    }
}

/// The ledger's facts of a step, which a release reads instead of its prose: the policy or group
/// that carries a policy step, the cutoff in force, whether a key was active before this run.
fn with_facts(
    mut report: StepReport,
    step: &Step,
    principal: &Principal,
    state: &PrincipalState,
    cutoff: &str,
) -> StepReport {
    let managed = |name: &str| plan::managed_policy_arn(principal, name);
    match (step.action, report.route) {
        (Action::AttachDenyAll, Some(Route::Inline)) => {
            report.policy = Some(plan::DENY_POLICY_NAME.into());
        }
        (Action::AttachDenyAll, Some(Route::Managed)) => {
            report.policy = Some(managed(plan::DENY_POLICY_NAME));
        }
        (Action::AttachDenyAll, Some(Route::QuarantineGroup)) => {
            report.policy = Some(managed(plan::DENY_POLICY_NAME));
            report.group = Some(plan::QUARANTINE_GROUP.into());
        }
        (Action::RevokeSessions, Some(route)) => {
            report.policy = Some(match route {
                Route::Managed => managed(&plan::managed_revoke_policy_name(principal)),
                _ => plan::REVOKE_POLICY_NAME.into(),
            });
            if report.cutoff.is_none() && report.outcome == Outcome::Applied {
                report.cutoff = Some(cutoff.to_owned());
            }
        }
        // The key named in the event was written in the same wave as it was read: the read
        // may already show this run's own write, so it says nothing of the state before.
        (Action::DeactivateAccessKey, _) if !step.critical => {
            report.was_active = state
                .access_keys
                .as_ref()
                .ok()
                .and_then(|keys| keys.iter().find(|k| k.id == step.target).map(|k| k.active));
        }
        _ => {}
    }
    report
}

/// The account a target lives in: its principal's, the event's for a lone key, or our own.
fn account_of(target: &Target, me: &Principal) -> String {
    target
        .principal
        .as_ref()
        .map(|p| p.account_id.clone())
        .or_else(|| target.account_id.clone())
        .unwrap_or_else(|| me.account_id.clone())
}

/// The principal as IAM knows it, path included.
async fn principal_with_path(
    iam: &aws_sdk_iam::Client,
    principal: &Principal,
) -> Result<Principal, String> {
    let arn = match principal.kind {
        PrincipalKind::Role => iam
            .get_role()
            .role_name(&principal.name)
            .send()
            .await
            .map_err(|e| describe(&e))?
            .role
            .map(|r| r.arn),
        _ => iam
            .get_user()
            .user_name(&principal.name)
            .send()
            .await
            .map_err(|e| describe(&e))?
            .user
            .map(|u| u.arn),
    };
    arn.and_then(|arn| Principal::parse_arn(&arn).ok())
        .ok_or_else(|| format!("IAM returned no ARN for {principal}"))
}

/// Finds the user that owns an access key in `account`.
async fn owner_of_key(
    iam: &aws_sdk_iam::Client,
    key: &str,
    account: &str,
    partition: &str,
) -> Result<Principal, String> {
    if plan::is_temporary_key(key) {
        return Err(format!(
            "{key} is a temporary (STS) key: IAM cannot tell which role issued it, so nothing \
             was changed. Find the role in CloudTrail (userIdentity.sessionContext.sessionIssuer) \
             and run revoke-sessions on it."
        ));
    }
    let out = iam
        .get_access_key_last_used()
        .access_key_id(key)
        .send()
        .await
        .map_err(|e| {
            format!(
                "could not find the owner of access key {key} in account {account}: {}; nothing was changed",
                describe(&e)
            )
        })?;
    let name = out.user_name.unwrap_or_default();
    // A key's owner lives in the responder's partition: IAM answers for no other.
    Principal::user(account, &name)
        .and_then(|p| p.in_partition(partition))
        .map_err(|e| format!("IAM named the owner of {key} as {e}"))
}
