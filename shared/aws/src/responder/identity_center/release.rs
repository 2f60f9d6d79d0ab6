//! The release of an Identity Center user: Tourniquet's statements taken off and provisioned,
//! and what the containment removed created again.

use super::*;
use crate::identity_center::Restored;
use aws_sdk_ssoadmin::types::TargetType;

/// A release refused before its first write: the target it names, and why.
struct Refusal {
    arn: String,
    why: String,
}

/// Why a release has nothing to undo, or cannot say what.
#[derive(Debug, thiserror::Error)]
enum UndoPlanError {
    /// The ledger names no containment of the user.
    #[error(
        "no containment of Identity Center user {user} ({user_id}) is recorded under incident \
         {incident} in s3://{bucket}: nothing to release"
    )]
    NotRecorded {
        /// The user, as the request names them.
        user: String,
        /// Their id.
        user_id: String,
        /// The incident.
        incident: String,
        /// The evidence bucket.
        bucket: String,
    },
    /// Their permission sets could not be read.
    #[error(transparent)]
    Read(#[from] Unanswered),
}

/// A permission set's inline policy that could not be read: the deny stays.
#[derive(Debug, thiserror::Error)]
#[error("{set}'s inline policy could not be read ({}); the deny stays", .error.detail)]
struct PolicyUnread {
    /// The permission set.
    set: String,
    /// AWS's error.
    #[source]
    error: AwsError,
}

/// A user's release, planned from the ledger: where they are, and what to undo.
struct ReleasePlan {
    center: Center,
    located: Located,
    /// The user's ARN, as the containment's reports name it.
    arn: String,
    undos: Vec<ic::Undo>,
}

impl Responder {
    /// Releases an Identity Center user from one incident: from every permission set the ledger
    /// denied them in, Tourniquet's statement is taken off (the policy put back as it was when
    /// nothing else changed since) and the set provisioned again; every assignment and membership
    /// the containment removed is created again. Refused without a ledger naming the user, or on
    /// a ledger that does not verify.
    pub(in crate::responder) async fn release_identity_center(
        &self,
        request: intake::IdentityCenterRelease,
        event: &Value,
        started: chrono::DateTime<Utc>,
    ) -> Result<Report, Error> {
        let dry_run = self.config.dry_run || request.dry_run;
        let mut waves = 0;
        let me = self.me(&mut waves).await?;
        let account = self.identity_center_account(me);
        info!(incident = %request.incident_id, user = %request.user, dry_run, "Identity Center release requested");
        let mut report = Report {
            source: Some("release".into()),
            reason: request.reason.clone(),
            waves,
            ..Report::new(&request.incident_id, Status::Refused, dry_run)
        };
        let plan = match self
            .plan_release(me, &account, &request, &mut report.waves)
            .await
        {
            Ok(plan) => plan,
            Err(Refusal { arn, why }) => {
                warn!(user = %request.user, reason = %why, "release refused");
                report
                    .targets
                    .push(TargetReport::stopped(arn, &account, Status::Refused, why));
                return Ok(report);
            }
        };
        let steps = self.carry_out_release(&plan, dry_run).await;
        report.waves += 2;
        let status = release_status(&steps, dry_run);
        report.status = status;
        report.targets.push(TargetReport {
            principal_arn: plan.arn.clone(),
            account_id: account.clone(),
            status,
            message: None,
            cause: None,
            steps,
        });
        if !dry_run {
            self.store_release(&mut report, &request, event, started, &plan, status)
                .await;
        }
        info!(incident = %report.incident_id, status = ?report.status, "{}", report.summary());
        record::answer(report)
    }

    /// Enters Identity Center's account, locates the user and reads the incident's ledger (those
    /// two together), and plans the undos; `waves` counts the waves it took, refused or not.
    async fn plan_release(
        &self,
        me: &Principal,
        account: &str,
        request: &intake::IdentityCenterRelease,
        waves: &mut u32,
    ) -> Result<ReleasePlan, Refusal> {
        let claimed = format!("identity_center_user:{}", request.user);
        let entered = [account.to_owned()].into_iter().collect();
        let (accounts, entering) = self.enter(me, entered, &request.incident_id).await;
        *waves += entering;
        let center = match self.center(me, &accounts) {
            Ok(center) => center,
            Err(why) => {
                let why = why.to_string();
                return Err(Refusal { arn: claimed, why });
            }
        };
        let configured = self.config.identity_center.instance_arn.as_deref();
        let (located, ledger) = tokio::join!(
            locate(&center, &request.user, true, configured),
            self.read_ledger(&request.incident_id)
        );
        *waves += 2;
        let located = match located {
            Ok(found) => found,
            Err(Locate::NotFound(why) | Locate::Failed(why)) => {
                return Err(Refusal { arn: claimed, why });
            }
        };
        let arn = ic::user_arn(&me.partition, &located.user_id);
        let refuse = |why: String| Refusal {
            arn: arn.clone(),
            why,
        };
        let (reports, intents, checks) = ledger.map_err(|e| refuse(e.to_string()))?;
        if let Some(why) = distrust(&checks) {
            return Err(refuse(why));
        }
        let recorded = recorded_steps(&reports, &arn);
        let undos = self
            .undos(&center, &located, request, &recorded, &intents)
            .await
            .map_err(|e| refuse(e.to_string()))?;
        Ok(ReleasePlan {
            center,
            located,
            arn,
            undos,
        })
    }

    /// What to undo: what the recorded steps did and, after a run that left only its intent,
    /// Tourniquet's statement in every permission set the user has now. `Err` when the ledger
    /// names nothing of the user, or their permission sets cannot be read.
    async fn undos(
        &self,
        center: &Center,
        located: &Located,
        request: &intake::IdentityCenterRelease,
        recorded: &[&StepReport],
        intents: &[ledger::Intent],
    ) -> Result<Vec<ic::Undo>, UndoPlanError> {
        let Located {
            instance_arn,
            store_id,
            user_id,
        } = located;
        let intended = intents.iter().any(|i| {
            i.identity_center_users
                .iter()
                .any(|u| *u == request.user || u == user_id)
        });
        if recorded.is_empty() && !intended {
            return Err(UndoPlanError::NotRecorded {
                user: request.user.clone(),
                user_id: user_id.clone(),
                incident: request.incident_id.clone(),
                bucket: self.config.evidence_bucket.clone(),
            });
        }
        let mut undos = ic::undo_plan(recorded, user_id);
        if recorded.is_empty() {
            // A run that died between its first write and its report left only its intent: the
            // user's permission sets are read now, and Tourniquet's statement taken off where
            // found.
            let state = read(center, instance_arn, store_id, user_id).await?;
            undos.extend(state.permission_sets.into_iter().map(|set| ic::Undo {
                target: set.arn,
                kind: ic::UndoKind::Deny { prior: None },
            }));
        }
        Ok(undos)
    }

    /// Every undo of the plan, all at once, each logged.
    async fn carry_out_release(&self, plan: &ReleasePlan, dry_run: bool) -> Vec<StepReport> {
        let Located {
            instance_arn,
            store_id,
            user_id,
        } = &plan.located;
        let steps = futures::future::join_all(plan.undos.iter().map(|undo| {
            self.undo_identity_center(&plan.center, instance_arn, store_id, user_id, undo, dry_run)
        }))
        .await;
        for s in &steps {
            info!(user = %user_id, action = %s.action, target = %s.target, outcome = ?s.outcome, "{}", s.detail);
        }
        steps
    }

    /// The release's evidence: its plan, the release record when the user is released (what a
    /// re-delivered detection of this incident reads before it would contain them again), and
    /// the run's event, report and manifest.
    async fn store_release(
        &self,
        report: &mut Report,
        request: &intake::IdentityCenterRelease,
        event: &Value,
        started: chrono::DateTime<Utc>,
        plan: &ReleasePlan,
        status: Status,
    ) {
        let prefix = crate::ledger::run_prefix(&request.incident_id, started);
        let folder = crate::ledger::identity_center_folder(&prefix, &plan.located.user_id);
        let mut uploads = vec![self.upload(
            EvidenceObject::json(format!("{folder}/plan.json"), &plan.undos),
            started,
        )];
        if status == Status::Released {
            let release = crate::ledger::Release {
                incident_id: request.incident_id.clone(),
                principal_arn: plan.arn.clone(),
                released_at: started,
                reason: request.reason.clone(),
            };
            uploads.push(self.upload(
                EvidenceObject::json(
                    format!("{folder}/{}", crate::ledger::RELEASED_OBJECT),
                    &release,
                ),
                started,
            ));
        }
        let extra = Extra {
            uploads,
            ..Extra::default()
        };
        self.store_evidence(report, &prefix, &request.incident_id, started, event, extra)
            .await;
    }

    /// One undo of an Identity Center user's release.
    async fn undo_identity_center(
        &self,
        center: &Center,
        instance: &str,
        store_id: &str,
        user_id: &str,
        undo: &ic::Undo,
        dry_run: bool,
    ) -> StepReport {
        let write = UndoWrite {
            center,
            instance,
            store_id,
            user_id,
            undo,
            dry_run,
        };
        match &undo.kind {
            ic::UndoKind::Deny { prior } => write.remove_deny(prior.as_deref()).await,
            ic::UndoKind::Assignment(assignment) => write.restore_assignment(assignment).await,
            ic::UndoKind::Membership => write.rejoin_group().await,
        }
    }
}

/// Why the ledger cannot be trusted: the objects that do not verify (an unlisted one is no
/// reason); `None` when it verifies.
fn distrust(checks: &[evidence::Check]) -> Option<String> {
    let untrusted: Vec<String> = checks
        .iter()
        .filter(|c| !c.is_verified() && !matches!(c, evidence::Check::Unlisted { .. }))
        .map(|c| serde_json::to_string(c).unwrap_or_default())
        .collect();
    match untrusted.is_empty() {
        true => None,
        false => Some(format!(
            "the ledger does not verify: {}",
            untrusted.join("; ")
        )),
    }
}

/// Every step the reports record on the target `arn`, in the reports' order.
fn recorded_steps<'a>(reports: &'a [Report], arn: &str) -> Vec<&'a StepReport> {
    reports
        .iter()
        .flat_map(|r| &r.targets)
        .filter(|t| t.principal_arn == arn)
        .flat_map(|t| &t.steps)
        .collect()
}

/// A release's status: partial when a step failed, else planned (a dry run) or released.
fn release_status(steps: &[StepReport], dry_run: bool) -> Status {
    if steps.iter().any(|s| s.outcome == Outcome::Failed) {
        Status::Partial
    } else if dry_run {
        Status::Planned
    } else {
        Status::Released
    }
}

/// One undo on its way to Identity Center, with what its writes need.
struct UndoWrite<'a> {
    center: &'a Center,
    instance: &'a str,
    store_id: &'a str,
    user_id: &'a str,
    undo: &'a ic::Undo,
    dry_run: bool,
}

impl UndoWrite<'_> {
    /// This undo's report.
    fn report(&self, action: Action, outcome: Outcome, detail: String) -> StepReport {
        StepReport::new(action, &self.undo.target, outcome, detail)
    }

    /// Tourniquet's statement taken off the permission set (the inline policy put back as it was
    /// before, when `prior` still fits) and the set provisioned. A policy that cannot be
    /// unmerged keeps the deny, and its step says why.
    async fn remove_deny(&self, prior: Option<&str>) -> StepReport {
        let set = self.undo.target.as_str();
        let sid = ic::sid(self.user_id);
        let remove = Action::RemoveIdentityCenterDeny;
        let current = match self.read_inline_policy().await {
            Ok(current) => current,
            Err(why) => return self.report(remove, Outcome::Failed, why.to_string()),
        };
        let restored = match ic::unmerge(&current, self.user_id, prior) {
            Ok(restored) => restored,
            Err(why) => {
                let keep = Action::KeepIdentityCenterDeny;
                return self.report(keep, Outcome::Failed, why.to_string());
            }
        };
        let Some(what) = restoration(&restored) else {
            let detail = format!("{sid} is not in {set}");
            return self.report(remove, Outcome::AlreadyInPlace, detail);
        };
        if self.dry_run {
            let detail = format!("would take {sid} off {set}: {what}");
            return self.report(remove, Outcome::Planned, detail);
        }
        if let Err(why) = self.write_restored(&restored).await {
            return self.report(remove, Outcome::Failed, why.to_string());
        }
        let until = tokio::time::Instant::now() + PROVISION_WAIT;
        match provision(&self.center.sso, self.instance, set, until).await {
            Ok(done) => self.report(
                remove,
                Outcome::Applied,
                format!("{sid} taken off {set}: {what}; {done}"),
            ),
            Err(why) => self.report(
                remove,
                Outcome::Failed,
                format!("{sid} taken off {set}: {what}; {why}"),
            ),
        }
    }

    /// The permission set's inline policy as it is now (`""`: none); `Err` says the deny stays.
    async fn read_inline_policy(&self) -> Result<String, PolicyUnread> {
        let set = self.undo.target.as_str();
        match self
            .center
            .sso
            .get_inline_policy_for_permission_set()
            .instance_arn(self.instance)
            .permission_set_arn(set)
            .send()
            .await
        {
            Ok(c) => Ok(c.inline_policy.unwrap_or_default()),
            Err(e) => Err(PolicyUnread {
                set: set.to_owned(),
                error: AwsError::from_sdk("GetInlinePolicyForPermissionSet", e),
            }),
        }
    }

    /// The inline policy put back, or deleted when it had none before; `Err` is AWS's error.
    async fn write_restored(&self, restored: &Restored) -> Result<(), SetRefused> {
        let set = self.undo.target.as_str();
        match restored {
            Restored::Write { document } => self
                .center
                .sso
                .put_inline_policy_to_permission_set()
                .instance_arn(self.instance)
                .permission_set_arn(set)
                .inline_policy(document)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| SetRefused {
                    denied: e
                        .as_service_error()
                        .is_some_and(|s| s.is_access_denied_exception()),
                    error: AwsError::from_sdk("PutInlinePolicyToPermissionSet", e),
                    set: set.to_owned(),
                }),
            _ => self
                .center
                .sso
                .delete_inline_policy_from_permission_set()
                .instance_arn(self.instance)
                .permission_set_arn(set)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| SetRefused {
                    denied: e
                        .as_service_error()
                        .is_some_and(|s| s.is_access_denied_exception()),
                    error: AwsError::from_sdk("DeleteInlinePolicyFromPermissionSet", e),
                    set: set.to_owned(),
                }),
        }
    }

    /// The user's assignment the containment removed, created again.
    async fn restore_assignment(&self, assignment: &Assignment) -> StepReport {
        let action = Action::RestoreAccountAssignment;
        if self.dry_run {
            return self.report(
                action,
                Outcome::Planned,
                format!(
                    "would create the user's assignment {} again",
                    self.undo.target
                ),
            );
        }
        match assign(self.center, self.instance, assignment).await {
            Ok(()) => self.report(
                action,
                Outcome::Applied,
                format!("the user's assignment {} created again", self.undo.target),
            ),
            Err(why) => self.report(action, Outcome::Failed, why.to_string()),
        }
    }

    /// The user put back in the group the containment took them out of; already there is done.
    async fn rejoin_group(&self) -> StepReport {
        let action = Action::RestoreGroupMembership;
        let group = &self.undo.target;
        if self.dry_run {
            let detail = format!("would put the user back in group {group}");
            return self.report(action, Outcome::Planned, detail);
        }
        let joined = self
            .center
            .store
            .create_group_membership()
            .identity_store_id(self.store_id)
            .group_id(group)
            .member_id(MemberId::UserId(self.user_id.into()))
            .send()
            .await;
        match joined {
            Ok(_) => self.report(
                action,
                Outcome::Applied,
                format!("the user is in group {group} again"),
            ),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conflict_exception()) =>
            {
                let detail = format!("the user is in group {group} already");
                self.report(action, Outcome::AlreadyInPlace, detail)
            }
            Err(e) => self.report(action, Outcome::Failed, describe(&e)),
        }
    }
}

/// What taking the deny off does to the inline policy, in words; `None` when the deny is not
/// there.
fn restoration(restored: &Restored) -> Option<&'static str> {
    match restored {
        Restored::Absent => None,
        Restored::Delete => Some("the inline policy deleted (it had none before)"),
        Restored::Write { .. } => Some("the inline policy put back without the deny"),
    }
}

/// Creates the user's assignment again (a release).
async fn assign(center: &Center, instance: &str, a: &Assignment) -> Result<(), CallFailed> {
    center
        .sso
        .create_account_assignment()
        .instance_arn(instance)
        .target_id(&a.account_id)
        .target_type(TargetType::AwsAccount)
        .permission_set_arn(&a.permission_set_arn)
        .principal_type(PrincipalType::User)
        .principal_id(&a.principal_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| CallFailed(AwsError::from_sdk("CreateAccountAssignment", e)))
}
