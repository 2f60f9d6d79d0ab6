//! The responder: the one place that talks to AWS. It takes an event through intake and the
//! planner, carries out the plan in waves of concurrent calls, stores the evidence and reports.

use crate::config::Config;
use crate::error::{Error, describe};
use crate::evidence::{self, EvidenceObject};
use crate::intake::{self, Incident, Intake, Target};
use crate::plan::{self, Action, Step, UserState};
use crate::principal::{Principal, PrincipalKind};
use crate::report::{Outcome, Report, Status, StepReport, TargetReport};
use crate::snapshot::{self, UserSnapshot};
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_iam::types::{StatusType, Tag};
use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::OnceCell;
use tracing::{info, warn};

/// Principals of one event contained at once, at most this many.
pub const TARGET_CONCURRENCY: usize = 4;

/// The SDK clients and configuration, built once per cold start and shared by every invocation.
pub struct Responder {
    iam: aws_sdk_iam::Client,
    s3: aws_sdk_s3::Client,
    sts: aws_sdk_sts::Client,
    config: Config,
    identity: OnceCell<Principal>,
}

/// What one target's containment produced.
struct TargetRun {
    report: TargetReport,
    snapshot: Option<(Principal, UserSnapshot)>,
    waves: u32,
}

impl Responder {
    /// Builds the responder from the environment: the SDK's own variables (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, credentials) and the contract's (`EVIDENCE_BUCKET`, ...).
    pub async fn from_env() -> Result<Self, Error> {
        let config = Config::from_env().map_err(Error::Configuration)?;
        let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
        if sdk.region().is_none() {
            return Err(Error::Configuration(
                "AWS_REGION is not set: the SDK needs a region".into(),
            ));
        }
        Ok(Self::new(&sdk, config))
    }

    /// Builds the clients from one SDK configuration. Against an emulator (`AWS_ENDPOINT_URL`),
    /// S3 uses path-style addressing, which loopback endpoints need.
    pub fn new(sdk: &SdkConfig, config: Config) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        Self::with_clients(
            aws_sdk_iam::Client::new(sdk),
            aws_sdk_s3::Client::from_conf(s3),
            aws_sdk_sts::Client::new(sdk),
            config,
        )
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
            identity: OnceCell::new(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handles one invocation: the whole containment playbook for every principal the event names.
    ///
    /// Malformed input is an error before any AWS call. A containment that could not finish is an
    /// error too (after every independent step was tried and the report stored), so that Lambda's
    /// retries and dead-letter queue see it.
    pub async fn handle(&self, event: Value) -> Result<Report, Error> {
        let started = Utc::now();
        let incident = match intake::parse(&event) {
            Err(err) => {
                warn!(field = %err.field, error = %err.message, "invalid event; nothing was changed");
                return Err(err.into());
            }
            Ok(Intake::Ignored { reason }) => {
                info!(%reason, "event ignored");
                return Ok(Report {
                    incident_id: String::new(),
                    status: Status::Ignored,
                    dry_run: self.config.dry_run,
                    source: event
                        .get("source")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    reason: None,
                    message: Some(reason),
                    waves: 0,
                    targets: Vec::new(),
                    evidence: Vec::new(),
                });
            }
            Ok(Intake::Incident(incident)) => incident,
        };
        let dry_run = self.config.dry_run || incident.dry_run;
        let now = started.to_rfc3339_opts(SecondsFormat::Millis, true);
        info!(incident = %incident.id, source = ?incident.source, dry_run, "incident received");

        let mut waves = 0;
        let me = match self.identity.get() {
            Some(me) => me,
            None => {
                waves += 1;
                self.identity
                    .get_or_try_init(|| self.own_identity())
                    .await?
            }
        };

        let runs: Vec<TargetRun> = futures::stream::iter(
            incident
                .targets
                .iter()
                .map(|target| self.contain_target(target, me, &incident, dry_run, &now)),
        )
        .buffered(TARGET_CONCURRENCY)
        .collect()
        .await;
        waves += runs.iter().map(|r| r.waves).max().unwrap_or(0);

        let targets: Vec<TargetReport> = runs.iter().map(|r| r.report.clone()).collect();
        let mut report = Report {
            incident_id: incident.id.clone(),
            status: Report::status_from_targets(&targets, dry_run),
            dry_run,
            source: serde_json::to_value(incident.source)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned)),
            reason: incident.reason.clone(),
            message: None,
            waves,
            targets,
            evidence: Vec::new(),
        };
        if !dry_run {
            self.store_evidence(&mut report, &incident, started, &event, &runs)
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

    async fn contain_target(
        &self,
        target: &Target,
        me: &Principal,
        incident: &Incident,
        dry_run: bool,
        now: &str,
    ) -> TargetRun {
        let mut waves = 0;
        let principal = match &target.principal {
            Some(p) => p.clone(),
            None => {
                waves += 1;
                match self.owner_of_key(&target.access_key_ids[0], me).await {
                    Ok(p) => p,
                    Err(why) => {
                        let failed = TargetReport {
                            principal_arn: format!("(owner of {})", target.access_key_ids[0]),
                            account_id: me.account_id.clone(),
                            status: Status::Partial,
                            message: Some(why),
                            steps: Vec::new(),
                        };
                        return TargetRun {
                            report: failed,
                            snapshot: None,
                            waves,
                        };
                    }
                }
            }
        };
        // A protected pattern with a path can only be decided once IAM has told the path.
        let principal = if principal.kind == PrincipalKind::User
            && self
                .config
                .protected
                .iter()
                .any(|p| p.needs_path(&principal))
        {
            waves += 1;
            match self.iam.get_user().user_name(&principal.name).send().await {
                Ok(out) => out
                    .user
                    .and_then(|u| Principal::parse_arn(&u.arn).ok())
                    .unwrap_or(principal),
                Err(e) => {
                    let report = TargetReport {
                        principal_arn: principal.arn(),
                        account_id: principal.account_id.clone(),
                        status: Status::Partial,
                        message: Some(format!(
                            "could not read the user's path, which a protected pattern needs; \
                             nothing was changed: {}",
                            describe(&e)
                        )),
                        steps: Vec::new(),
                    };
                    return TargetRun {
                        report,
                        snapshot: None,
                        waves,
                    };
                }
            }
        } else {
            principal
        };
        if let Some(why) = plan::refusal(&principal, me, &self.config) {
            warn!(principal = %principal, reason = %why, "containment refused");
            let report = TargetReport {
                principal_arn: principal.arn(),
                account_id: principal.account_id.clone(),
                status: Status::Refused,
                message: Some(why),
                steps: Vec::new(),
            };
            return TargetRun {
                report,
                snapshot: None,
                waves,
            };
        }
        let (report, snapshot, user_waves) = self
            .contain_user(&principal, &target.access_key_ids, incident, dry_run, now)
            .await;
        TargetRun {
            report,
            snapshot: Some((principal, snapshot)),
            waves: waves + user_waves,
        }
    }

    /// Finds the user that owns an access key, in this account.
    async fn owner_of_key(&self, key: &str, me: &Principal) -> Result<Principal, String> {
        let out = self
            .iam
            .get_access_key_last_used()
            .access_key_id(key)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "could not find the owner of access key {key} in account {}: {}; nothing was changed",
                    me.account_id,
                    describe(&e)
                )
            })?;
        let name = out.user_name.unwrap_or_default();
        Principal::user(&me.account_id, &name)
            .map_err(|e| format!("IAM named the owner of {key} as {e}"))
    }

    /// Contains one IAM user: wave 1 writes the critical steps while the snapshot's lists are
    /// read; wave 2 reads the details and writes what the lists showed is still needed.
    async fn contain_user(
        &self,
        principal: &Principal,
        named_keys: &[String],
        incident: &Incident,
        dry_run: bool,
        now: &str,
    ) -> (TargetReport, UserSnapshot, u32) {
        let user = principal.name.as_str();
        let critical = plan::critical_steps(named_keys);
        let (first, critical_writes) = if dry_run {
            (snapshot::read_user(&self.iam, user, now.into()).await, None)
        } else {
            let writes = futures::future::join_all(
                critical
                    .iter()
                    .map(|s| self.apply(user, s, &incident.id, now)),
            );
            let (first, writes) =
                tokio::join!(snapshot::read_user(&self.iam, user, now.into()), writes);
            (first, Some(writes))
        };
        let state = first.state();
        let rest = plan::remaining_steps(&critical, &state, &incident.id);
        let concurrent: Vec<String> = if dry_run {
            Vec::new()
        } else {
            critical.iter().map(|s| s.target.clone()).collect()
        };
        let arn = first
            .arn()
            .map(str::to_owned)
            .unwrap_or_else(|| principal.arn());

        let mut steps: Vec<StepReport> = match &critical_writes {
            Some(writes) => critical
                .iter()
                .zip(writes)
                .map(|(s, w)| step_report(s, plan::critical_outcome(s, &state, w), w))
                .collect(),
            None => critical.iter().map(|s| planned(s, &state)).collect(),
        };
        let (snapshot, rest_reports) = if dry_run {
            let snapshot = snapshot::complete(&self.iam, first, concurrent).await;
            (snapshot, rest.iter().map(|s| planned(s, &state)).collect())
        } else {
            tokio::join!(
                snapshot::complete(&self.iam, first, concurrent),
                futures::future::join_all(rest.iter().map(|s| self.apply_if_needed(
                    user,
                    s,
                    &state,
                    &incident.id,
                    now
                )))
            )
        };
        steps.extend(rest_reports);
        for s in &steps {
            info!(principal = %arn, action = %s.action, target = %s.target, outcome = ?s.outcome, "{}", s.detail);
        }
        let report = TargetReport {
            principal_arn: arn,
            account_id: principal.account_id.clone(),
            status: TargetReport::status_from_steps(&steps),
            message: None,
            steps,
        };
        (report, snapshot, 2)
    }

    /// A later-wave step: read, compare, then write only if needed.
    async fn apply_if_needed(
        &self,
        user: &str,
        step: &Step,
        state: &UserState,
        incident_id: &str,
        now: &str,
    ) -> StepReport {
        if let Some(why) = &step.blocked {
            return step_report(step, Outcome::Failed, &Err(why.clone()));
        }
        if plan::in_place(step, state) {
            return step_report(step, Outcome::AlreadyInPlace, &Ok(()));
        }
        let result = self.apply(user, step, incident_id, now).await;
        let outcome = if result.is_ok() {
            Outcome::Applied
        } else {
            Outcome::Failed
        };
        step_report(step, outcome, &result)
    }

    /// Writes one step to IAM. Never deletes anything.
    async fn apply(
        &self,
        user: &str,
        step: &Step,
        incident_id: &str,
        now: &str,
    ) -> Result<(), String> {
        let result = match step.action {
            Action::AttachDenyAll => self
                .iam
                .put_user_policy()
                .user_name(user)
                .policy_name(&step.target)
                .policy_document(plan::deny_all_document())
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
            Action::DeactivateAccessKey => self
                .iam
                .update_access_key()
                .user_name(user)
                .access_key_id(&step.target)
                .status(StatusType::Inactive)
                .send()
                .await
                .map(drop)
                .map_err(|e| describe(&e)),
            Action::TagPrincipal => {
                let tags = [
                    (plan::INCIDENT_TAG, incident_id),
                    (plan::CONTAINED_AT_TAG, now),
                ]
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
                self.iam
                    .tag_user()
                    .user_name(user)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| describe(&e))
            }
        };
        if let Err(err) = &result {
            warn!(user, action = step.action.as_str(), target = %step.target, error = %err, "step failed");
        }
        result
    }

    /// Writes the event, each snapshot and the report in one wave; the report lists the others'
    /// hashes (computed before upload), and the returned report adds the report object itself.
    async fn store_evidence(
        &self,
        report: &mut Report,
        incident: &Incident,
        started: chrono::DateTime<Utc>,
        event: &Value,
        runs: &[TargetRun],
    ) {
        let prefix = evidence::run_prefix(&incident.id, started);
        let mut objects = vec![EvidenceObject::json(format!("{prefix}/event.json"), event)];
        for (principal, snapshot) in runs.iter().filter_map(|r| r.snapshot.as_ref()) {
            let kind = match principal.kind {
                PrincipalKind::User => "user",
                PrincipalKind::Role => "role",
                PrincipalKind::Root => "root",
            };
            objects.push(EvidenceObject::json(
                format!(
                    "{prefix}/{}/{kind}/{}/snapshot.json",
                    principal.account_id, principal.name
                ),
                snapshot,
            ));
        }
        report.evidence = objects.iter().map(EvidenceObject::evidence).collect();
        report.waves += 1;
        let stored = EvidenceObject::json(format!("{prefix}/report.json"), &*report);
        objects.push(stored);
        let bucket = self.config.evidence_bucket.as_str();
        let results =
            futures::future::join_all(objects.iter().map(|o| evidence::put(&self.s3, bucket, o)))
                .await;
        report.evidence.clear();
        for result in results {
            match result {
                Ok(e) => report.evidence.push(e),
                Err(err) => {
                    warn!(error = %err, "evidence not stored");
                    report.status = Status::Partial;
                    report.message = Some(format!("evidence not stored: {err}"));
                }
            }
        }
    }
}

fn planned(step: &Step, state: &UserState) -> StepReport {
    if let Some(why) = &step.blocked {
        return step_report(step, Outcome::Skipped, &Err(why.clone()));
    }
    let outcome = if plan::in_place(step, state) {
        Outcome::AlreadyInPlace
    } else {
        Outcome::Planned
    };
    step_report(step, outcome, &Ok(()))
}

/// The step's line in the report: what was (or would be) done, or AWS's error.
fn step_report(step: &Step, outcome: Outcome, result: &Result<(), String>) -> StepReport {
    let what = match step.action {
        Action::AttachDenyAll => format!("inline policy {} (Deny * on *) on the user", step.target),
        Action::DeactivateAccessKey if step.critical => {
            "access key named in the event set to Inactive (never deleted)".into()
        }
        Action::DeactivateAccessKey => "access key set to Inactive (never deleted)".into(),
        Action::TagPrincipal => {
            format!("user tagged {} and {}", step.target, plan::CONTAINED_AT_TAG)
        }
    };
    let detail = match (outcome, result) {
        (_, Err(err)) => err.clone(),
        (Outcome::AlreadyInPlace, _) => format!("already in place: {what}"),
        (Outcome::Planned, _) => format!("would be applied: {what}"),
        _ => what,
    };
    StepReport {
        action: step.action.as_str().into(),
        target: step.target.clone(),
        outcome,
        detail,
    }
}
