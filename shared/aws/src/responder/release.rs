//! `release`: undoes a containment from the ledger its reports keep in the evidence store.

use super::{Blocked, Responder};
use crate::error::{AwsError, Error};
use crate::evidence::{self, Check, EvidenceError};
use crate::execute::Writer;
use crate::intake::{self, ReleaseRequest};
use crate::ledger::{self, EvidenceObject};
use crate::plan::{self, Action, Playbook};
use crate::principal::{Principal, PrincipalKind};
use crate::release::{self, Now, Undo};
use crate::report::{Outcome, Report, Status, StepReport, TargetReport};
use crate::snapshot;
use chrono::{SecondsFormat, Utc};
use futures::StreamExt;
use serde_json::Value;
use tracing::{info, warn};

impl Responder {
    /// Releases one principal from one incident. Reads the incident's reports (the ledger) and
    /// the principal's state at once; refuses without a ledger, on a ledger that does not verify,
    /// or on drift (unless forced); then undoes, concurrently, what the ledger says was applied.
    pub(super) async fn release(&self, event: Value) -> Result<Report, Error> {
        let started = (self.clock)();
        // Boxed, as in `handle_until`: nested, the futures are too deep for the layout computation.
        let mut result = Box::pin(self.release_from(event, started)).await;
        // The humans are told of every release that got as far as a report (no marker: each
        // release is a human's request, and each is told).
        let report = match &mut result {
            Ok(report) => Some(report),
            Err(Error::Partial { report, .. }) => Some(report.as_mut()),
            Err(_) => None,
        };
        if let Some(report) = report {
            let prefix = ledger::run_prefix(&report.incident_id, started);
            Box::pin(self.notify(report, None, &[], &prefix)).await;
        }
        result
    }

    /// A release request: an Identity Center user's, or an IAM principal's.
    async fn release_from(
        &self,
        event: Value,
        started: chrono::DateTime<Utc>,
    ) -> Result<Report, Error> {
        let center = intake::parse_identity_center_release(&event).inspect_err(|err| {
            warn!(field = %err.field, error = %err.message, "invalid release request; nothing was changed");
        })?;
        if let Some(request) = center {
            return Box::pin(self.release_identity_center(request, &event, started)).await;
        }
        let request = intake::parse_release(&event).inspect_err(|err| {
            warn!(field = %err.field, error = %err.message, "invalid release request; nothing was changed");
        })?;
        self.release_principal(&request, &event, started).await
    }

    /// Releases one IAM principal: refused where the guards say so or without a trustworthy
    /// ledger; otherwise every undo the plan holds, beside the snapshot, then the record.
    async fn release_principal(
        &self,
        request: &ReleaseRequest,
        event: &Value,
        started: chrono::DateTime<Utc>,
    ) -> Result<Report, Error> {
        let dry_run = self.config.dry_run || request.dry_run;
        let now = started.to_rfc3339_opts(SecondsFormat::Millis, true);
        let mut waves = 0;
        let me = self.me(&mut waves).await?;
        let principal = &request.principal;
        info!(incident = %request.incident_id, principal = %principal, dry_run, "release requested");
        let mut report = Report {
            source: Some("release".into()),
            reason: request.reason.clone(),
            waves,
            ..Report::new(&request.incident_id, Status::Refused, dry_run)
        };
        if let Some(why) = plan::refusal(principal, me, &self.config.guard, Playbook::Release) {
            return refuse(report, principal, why);
        }
        let accounts = [principal.account_id.clone()].into_iter().collect();
        let (accounts, entering) = self.enter(me, accounts, &request.incident_id).await;
        report.waves += entering;
        let iam = match accounts.iam(&self.iam, &principal.account_id) {
            Ok(iam) => iam,
            Err(Blocked::NotConfigured(why) | Blocked::Failed(why)) => {
                return refuse(report, principal, why);
            }
        };
        // Wave 1 (and 2 for the ledger's objects): the ledger and the principal, at once.
        let (ledger, (first, _), deny) = tokio::join!(
            self.read_ledger(&request.incident_id),
            snapshot::read(iam, principal, now.clone(), None, snapshot::Gate::open()),
            deny_document(iam, principal)
        );
        report.waves += 2;
        let (reports, intents, checks) = match ledger {
            Ok(found) => found,
            Err(why) => return refuse(report, principal, why.to_string()),
        };
        let state = first.state();
        let now_state = Now {
            state: &state,
            deny_document: deny.map_err(|e| e.to_string().into()),
        };
        let release_plan =
            match self.plan_from_ledger(request, &reports, &intents, &checks, &now_state) {
                Ok(plan) => plan,
                Err(why) => return refuse(report, principal, why.to_string()),
            };
        let arn = first
            .arn()
            .map(str::to_owned)
            .unwrap_or_else(|| principal.arn());
        let blocked = !release_plan.drift.is_empty() && !request.force;
        // A read the release depends on failed: stop before any write, and say so.
        let unread = release_plan.undos.iter().any(|u| u.unreadable.is_some());
        let writes_allowed = !dry_run && !blocked && !unread;
        let writer = Writer {
            iam,
            principal,
            cutoff: "",
        };
        let run = release_run(request, &now);
        let (snapshot, steps) =
            undo_all(&writer, first, &release_plan, &run, writes_allowed, unread).await;
        report.waves += 1;
        let verdict = Verdict {
            blocked,
            dry_run,
            force: request.force,
        };
        let target = released_target(arn, principal, steps, verdict, &release_plan.drift);
        report.status = target.status;
        report.targets.push(target);
        if !dry_run {
            let records = ReleaseRecords {
                snapshot: &snapshot,
                plan: &release_plan,
            };
            self.record_release(&mut report, request, event, records, started)
                .await;
        }
        info!(incident = %report.incident_id, status = ?report.status, "{}", report.summary());
        super::record::answer(report)
    }

    /// The release plan from the incident's ledger: its reports, and the intent of a run that
    /// died before its report (what it intended and is found in place is undone like the rest),
    /// judged against what the evidence store's verification found. `Err`: why there is nothing
    /// Tourniquet may release from.
    fn plan_from_ledger(
        &self,
        request: &ReleaseRequest,
        reports: &[Report],
        intents: &[ledger::Intent],
        checks: &[Check],
        now: &Now<'_>,
    ) -> Result<release::ReleasePlan, NothingToRelease> {
        let principal = &request.principal;
        let mut ledger = release::ledger(reports, principal);
        for intent in intents {
            release::merge(&mut ledger, release::intended(intent, principal, now.state));
        }
        if ledger.is_empty() {
            return Err(NothingToRelease::NotRecorded {
                principal: principal.to_string(),
                incident: request.incident_id.clone(),
                bucket: self.config.evidence_bucket.clone(),
            });
        }
        let wanted = release::Request {
            reactivate_access_keys: request.reactivate_access_keys.clone(),
            reactivate_credentials: request.reactivate_credentials.clone(),
            force: request.force,
        };
        let mut release_plan =
            release::plan_release(&request.incident_id, principal, &ledger, now, &wanted);
        judge_checks(checks, &mut release_plan);
        if !release_plan.untrusted.is_empty() {
            // Not even `force` undoes from a ledger Tourniquet could not have written.
            return Err(NothingToRelease::Untrusted(release_plan.untrusted));
        }
        Ok(release_plan)
    }

    /// Stores the release's evidence: the snapshot and the plan in the principal's folder and,
    /// when released, the record a re-delivered detection of this incident reads before it would
    /// contain the principal again (never a tag, which the principal could write).
    async fn record_release(
        &self,
        report: &mut Report,
        request: &ReleaseRequest,
        event: &Value,
        records: ReleaseRecords<'_>,
        started: chrono::DateTime<Utc>,
    ) {
        let principal = &request.principal;
        let prefix = ledger::run_prefix(&request.incident_id, started);
        let folder = ledger::principal_folder(&prefix, principal);
        let uploads = vec![
            self.upload(
                EvidenceObject::json(format!("{folder}/snapshot.json"), records.snapshot),
                started,
            ),
            self.upload(
                EvidenceObject::json(format!("{folder}/plan.json"), records.plan),
                started,
            ),
        ];
        let released = (report.status == Status::Released)
            .then(|| {
                let release = ledger::Release {
                    incident_id: request.incident_id.clone(),
                    principal_arn: principal.arn(),
                    released_at: started,
                    reason: request.reason.clone(),
                };
                let record = serde_json::to_value(&release).unwrap_or_default();
                (principal.clone(), ledger::RELEASED_OBJECT, record)
            })
            .into_iter()
            .collect();
        let extra = super::Extra {
            records: released,
            uploads,
            ..super::Extra::default()
        };
        self.store_evidence(report, &prefix, &request.incident_id, started, event, extra)
            .await;
    }

    /// Every report of the incident, oldest first; the intents of runs that left no report (they
    /// died between their first IAM write and their evidence); and the verification of every
    /// object.
    pub(super) async fn read_ledger(
        &self,
        incident_id: &str,
    ) -> Result<(Vec<Report>, Vec<ledger::Intent>, Vec<Check>), LedgerError> {
        let checks = evidence::verify(&*self.evidence, incident_id)
            .await
            .map_err(LedgerError::Unverified)?;
        let mut keys: Vec<&str> = checks
            .iter()
            .filter_map(|c| match c {
                Check::Verified { key }
                | Check::Mismatch { key, .. }
                | Check::Unlisted { key }
                | Check::Replaced { key, .. } => Some(key.as_str()),
                Check::Missing { .. } => None,
            })
            .collect();
        keys.sort();
        let reports: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| k.ends_with("/report.json"))
            .collect();
        let intent_suffix = format!("/{}", ledger::INTENT_OBJECT);
        let dead: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| k.ends_with(&intent_suffix))
            .filter(|k| {
                let run = k.trim_end_matches(ledger::INTENT_OBJECT);
                // The hunt's follow-ons' intent is one folder below its run's report.
                let run = run
                    .strip_suffix(&format!("{}/", super::hunt::INTENT_FOLDER))
                    .unwrap_or(run);
                !reports.iter().any(|r| r.starts_with(run))
            })
            .collect();
        let reports = futures::stream::iter(reports.into_iter().map(|key| async move {
            let bytes = self.object(key).await?;
            serde_json::from_slice::<Report>(&bytes).map_err(|e| not_record(key, "a report", e))
        }))
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let intents = futures::stream::iter(dead.into_iter().map(|key| async move {
            let bytes = self.object(key).await?;
            serde_json::from_slice::<ledger::Intent>(&bytes)
                .map_err(|e| not_record(key, "an intent", e))
        }))
        .buffered(8)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        Ok((reports, intents, checks))
    }

    /// One evidence object's bytes.
    async fn object(&self, key: &str) -> Result<Vec<u8>, LedgerError> {
        evidence::read(&*self.evidence, key, None)
            .await
            .map_err(|source| LedgerError::Unread {
                key: key.to_owned(),
                source,
            })
    }
}

/// Why there is no ledger to release from.
#[derive(Debug, thiserror::Error)]
pub(super) enum LedgerError {
    /// The incident's evidence could not be verified.
    #[error("no ledger to release from: {0}")]
    Unverified(#[source] EvidenceError),
    /// One of its objects could not be read.
    #[error("{key}: {source}")]
    Unread {
        /// The object's key.
        key: String,
        /// The store's error.
        #[source]
        source: EvidenceError,
    },
    /// One of its objects is not the record its key says it is.
    #[error(transparent)]
    NotRecord(EvidenceError),
}

/// The object under `key` is not `record` (`a report`).
fn not_record(key: &str, record: &'static str, source: serde_json::Error) -> LedgerError {
    LedgerError::NotRecord(EvidenceError::NotRecord {
        key: key.to_owned(),
        record,
        source,
    })
}

/// Why the ledger holds nothing Tourniquet may release from.
#[derive(Debug, thiserror::Error)]
enum NothingToRelease {
    /// It records no containment of the principal.
    #[error(
        "no containment of {principal} is recorded under incident {incident} in s3://{bucket}: \
         nothing to release (check the principal's tourniquet:incident tag)"
    )]
    NotRecorded {
        /// The principal.
        principal: String,
        /// The incident.
        incident: String,
        /// The evidence bucket.
        bucket: String,
    },
    /// Parts of it Tourniquet could not have written, each said why.
    #[error("{}", .0.join("; "))]
    Untrusted(Vec<String>),
}

/// Why the inline deny's document could not be read.
#[derive(Debug, thiserror::Error)]
enum DenyUnread {
    /// IAM refused or did not answer.
    #[error("{}", .0.detail)]
    Aws(#[source] AwsError),
    /// What IAM gave is not a policy document.
    #[error("{name} is not a policy document: {source}")]
    NotPolicy {
        /// The inline policy's name.
        name: &'static str,
        /// Why it is not.
        #[source]
        source: snapshot::PolicyDocumentError,
    },
}

/// What a release writes besides undos: the released tags.
struct ReleaseRun {
    tags: Vec<(String, String)>,
}

/// Wave 3: every undo at once, beside the snapshot's details (the principal as the release
/// found it, for the evidence).
async fn undo_all(
    writer: &Writer<'_>,
    first: snapshot::FirstRead,
    release_plan: &release::ReleasePlan,
    run: &ReleaseRun,
    writes_allowed: bool,
    unread: bool,
) -> (snapshot::Snapshot, Vec<StepReport>) {
    let undos = release_plan
        .undos
        .iter()
        .map(|undo| undo_step(writer, undo, run, writes_allowed, unread));
    let policies = snapshot::Policies::default();
    let ((snapshot, _, _), steps) = tokio::join!(
        snapshot::complete(writer.iam, first, Vec::new(), &policies, None),
        futures::future::join_all(undos)
    );
    (snapshot, steps)
}

/// What decides a release's status besides its steps.
#[derive(Clone, Copy)]
struct Verdict {
    /// Drift without `force`: nothing was written.
    blocked: bool,
    dry_run: bool,
    force: bool,
}

/// The principal's line in the release's report, every step logged.
fn released_target(
    arn: String,
    principal: &Principal,
    steps: Vec<StepReport>,
    verdict: Verdict,
    drift: &[String],
) -> TargetReport {
    for s in &steps {
        info!(principal = %arn, action = %s.action, target = %s.target, outcome = ?s.outcome, "{}", s.detail);
    }
    TargetReport {
        principal_arn: arn,
        account_id: principal.account_id.clone(),
        status: release_status(verdict.blocked, &steps, verdict.dry_run),
        message: drift_message(drift, verdict.force),
        cause: None,
        steps,
    }
}

/// What a release stores of the principal, beside its report.
struct ReleaseRecords<'a> {
    snapshot: &'a snapshot::Snapshot,
    plan: &'a release::ReleasePlan,
}

/// The report of a release refused before any write, with the reason for the humans.
fn refuse(mut report: Report, principal: &Principal, why: String) -> Result<Report, Error> {
    warn!(principal = %principal, reason = %why, "release refused");
    report.targets.push(TargetReport::stopped(
        principal.arn(),
        &principal.account_id,
        Status::Refused,
        why,
    ));
    Ok(report)
}

/// Folds the evidence store's verification into the plan. An object altered or gone since its
/// manifest was written is not Tourniquet's record: not even `force` releases from it. One no
/// manifest lists (a run that died before its manifest) is drift a human may override.
fn judge_checks(checks: &[Check], release_plan: &mut release::ReleasePlan) {
    for check in checks.iter().filter(|c| !c.is_verified()) {
        let what = format!(
            "the ledger does not verify: {}",
            serde_json::to_string(check).unwrap_or_default()
        );
        match check {
            // The intent of a run that died before its manifest: expected, and read above.
            Check::Unlisted { key } if key.ends_with(&format!("/{}", ledger::INTENT_OBJECT)) => {}
            Check::Unlisted { .. } => release_plan.drift.push(what),
            _ => release_plan.untrusted.push(what),
        }
    }
}

/// `released` means every undo was applied or verified in place by a read that succeeded; a
/// failed write, or a read an undo depended on, is `partial`; drift without `force` refuses.
fn release_status(blocked: bool, steps: &[StepReport], dry_run: bool) -> Status {
    if blocked {
        Status::Refused
    } else if steps.iter().any(|s| s.outcome == Outcome::Failed) {
        Status::Partial
    } else if dry_run {
        Status::Planned
    } else {
        Status::Released
    }
}

/// What changed by hand since the containment, and what the release did about it.
fn drift_message(drift: &[String], force: bool) -> Option<String> {
    (!drift.is_empty()).then(|| {
        let verdict = if force {
            "released anyway (force), undoing only what still matches the ledger"
        } else {
            "nothing was changed; set \"force\": true to undo what still matches the ledger"
        };
        format!(
            "drift since the containment: {}; {verdict}",
            drift.join("; ")
        )
    })
}

fn release_run(request: &ReleaseRequest, now: &str) -> ReleaseRun {
    ReleaseRun {
        tags: vec![
            (plan::RELEASED_TAG.into(), request.incident_id.clone()),
            (plan::RELEASED_AT_TAG.into(), now.into()),
        ],
    }
}

async fn undo_step(
    writer: &Writer<'_>,
    undo: &Undo,
    run: &ReleaseRun,
    writes_allowed: bool,
    unread: bool,
) -> StepReport {
    let report = |outcome, detail: String| StepReport {
        route: undo.route,
        ..StepReport::new(undo.action, &undo.target, outcome, detail)
    };
    if let Some(why) = &undo.unreadable {
        return report(
            Outcome::Failed,
            format!("{why}; not undone, so the containment stays until a release can read it"),
        );
    }
    if undo.keep || undo.done {
        return report(Outcome::AlreadyInPlace, undo.why.clone());
    }
    if unread {
        return report(
            Outcome::Skipped,
            format!(
                "not done: a read this release depends on failed, so it changed nothing; {}",
                undo.why
            ),
        );
    }
    if !writes_allowed {
        return report(Outcome::Planned, format!("would be done: {}", undo.why));
    }
    let result = match undo.action {
        Action::RemoveDenyAll => {
            writer
                .remove_deny(
                    undo.route.unwrap_or(plan::Route::Inline),
                    undo.policy.as_deref(),
                )
                .await
        }
        Action::ReactivateAccessKey => writer.reactivate_key(&undo.target).await,
        Action::ReactivateCredential => writer.reactivate_credential(&undo.target).await,
        Action::UntagPrincipal => {
            writer
                .untag(&[plan::INCIDENT_TAG, plan::CONTAINED_AT_TAG])
                .await
        }
        Action::TagReleased => writer.tag(&run.tags).await,
        other => {
            return report(Outcome::Failed, format!("no undo for {other}"));
        }
    };
    match result {
        Ok(()) => report(Outcome::Applied, undo.why.clone()),
        Err(e) => report(Outcome::Failed, e.message),
    }
}

/// The inline deny's document now, decoded: `Ok(None)` when there is none, `Err` when IAM would
/// not say (a failed read is never taken for "already gone").
async fn deny_document(
    iam: &aws_sdk_iam::Client,
    principal: &Principal,
) -> Result<Option<Value>, DenyUnread> {
    let name = plan::DENY_POLICY_NAME;
    let document = match principal.kind {
        PrincipalKind::Role => iam
            .get_role_policy()
            .role_name(&principal.name)
            .policy_name(name)
            .send()
            .await
            .map(|o| o.policy_document)
            .map_err(|e| {
                let absent = e
                    .as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception());
                (absent, AwsError::from_sdk("GetRolePolicy", e))
            }),
        _ => iam
            .get_user_policy()
            .user_name(&principal.name)
            .policy_name(name)
            .send()
            .await
            .map(|o| o.policy_document)
            .map_err(|e| {
                let absent = e
                    .as_service_error()
                    .is_some_and(|s| s.is_no_such_entity_exception());
                (absent, AwsError::from_sdk("GetUserPolicy", e))
            }),
    };
    match document {
        Ok(document) => snapshot::decode_policy(&document)
            .map(Some)
            .map_err(|source| DenyUnread::NotPolicy { name, source }),
        Err((true, _)) => Ok(None),
        Err((false, e)) => Err(DenyUnread::Aws(e)),
    }
}
