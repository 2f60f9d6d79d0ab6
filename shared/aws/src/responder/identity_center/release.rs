//! The release of an Identity Center user: Tourniquet's statements taken off and provisioned,
//! and what the containment removed created again.

use super::*;
use crate::identity_center::Restored;
use aws_sdk_ssoadmin::types::TargetType;

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
        let refuse = |mut report: Report, arn: String, why: String| {
            warn!(user = %request.user, reason = %why, "release refused");
            report
                .targets
                .push(TargetReport::stopped(arn, &account, Status::Refused, why));
            Ok(report)
        };
        let claimed = format!("identity_center_user:{}", request.user);
        let entered = [account.clone()].into_iter().collect();
        let (accounts, entering) = self.enter(me, entered, &request.incident_id).await;
        report.waves += entering;
        let center = match self.center(me, &accounts) {
            Ok(center) => center,
            Err(why) => return refuse(report, claimed, why),
        };
        let configured = self.config.identity_center.instance_arn.as_deref();
        let (located, ledger) = tokio::join!(
            locate(&center, &request.user, true, configured),
            self.read_ledger(&request.incident_id)
        );
        report.waves += 2;
        let (instance, store_id, user_id) = match located {
            Ok(Located {
                instance_arn,
                store_id,
                user_id,
            }) => (instance_arn, store_id, user_id),
            Err(Locate::NotFound(why) | Locate::Failed(why)) => {
                return refuse(report, claimed, why);
            }
        };
        let arn = ic::user_arn(&me.partition, &user_id);
        let (reports, intents, checks) = match ledger {
            Ok(found) => found,
            Err(why) => return refuse(report, arn, why),
        };
        let untrusted: Vec<String> = checks
            .iter()
            .filter(|c| !c.is_verified() && !matches!(c, evidence::Check::Unlisted { .. }))
            .map(|c| serde_json::to_string(c).unwrap_or_default())
            .collect();
        if !untrusted.is_empty() {
            let why = format!("the ledger does not verify: {}", untrusted.join("; "));
            return refuse(report, arn, why);
        }
        let recorded: Vec<&StepReport> = reports
            .iter()
            .flat_map(|r| &r.targets)
            .filter(|t| t.principal_arn == arn)
            .flat_map(|t| &t.steps)
            .collect();
        // A run that died between its first write and its report left only its intent: the
        // user's permission sets are read now, and Tourniquet's statement taken off where found.
        let intended = intents.iter().any(|i| {
            i.identity_center_users
                .iter()
                .any(|u| *u == request.user || *u == user_id)
        });
        let found = match (recorded.is_empty(), intended) {
            (true, true) => match read(&center, &instance, &store_id, &user_id).await {
                Ok(state) => state
                    .permission_sets
                    .into_iter()
                    .map(|set| ic::Undo {
                        target: set.arn,
                        kind: ic::UndoKind::Deny { prior: None },
                    })
                    .collect(),
                Err(why) => return refuse(report, arn, why),
            },
            _ => Vec::new(),
        };
        if recorded.is_empty() && !intended {
            let why = format!(
                "no containment of Identity Center user {} ({user_id}) is recorded under incident \
                 {} in s3://{}: nothing to release",
                request.user, request.incident_id, self.config.evidence_bucket
            );
            return refuse(report, arn, why);
        }
        let mut undos = ic::undo_plan(&recorded, &user_id);
        undos.extend(found);
        let steps = futures::future::join_all(undos.iter().map(|undo| {
            self.undo_identity_center(&center, &instance, &store_id, &user_id, undo, dry_run)
        }))
        .await;
        report.waves += 2;
        for s in &steps {
            info!(user = %user_id, action = %s.action, target = %s.target, outcome = ?s.outcome, "{}", s.detail);
        }
        let status = if steps.iter().any(|s| s.outcome == Outcome::Failed) {
            Status::Partial
        } else if dry_run {
            Status::Planned
        } else {
            Status::Released
        };
        report.status = status;
        report.targets.push(TargetReport {
            principal_arn: arn.clone(),
            account_id: account.clone(),
            status,
            message: None,
            cause: None,
            steps,
        });
        if !dry_run {
            let prefix = crate::ledger::run_prefix(&request.incident_id, started);
            let folder = crate::ledger::identity_center_folder(&prefix, &user_id);
            let mut uploads = vec![self.upload(
                EvidenceObject::json(format!("{folder}/plan.json"), &undos),
                started,
            )];
            if status == Status::Released {
                // What a re-delivered detection of this incident reads before it would contain
                // the user again.
                let release = crate::ledger::Release {
                    incident_id: request.incident_id.clone(),
                    principal_arn: arn,
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
            self.store_evidence(
                &mut report,
                &prefix,
                &request.incident_id,
                started,
                event,
                extra,
            )
            .await;
        }
        info!(incident = %report.incident_id, status = ?report.status, "{}", report.summary());
        record::answer(report)
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
        let step = |action, outcome, detail: String| {
            StepReport::new(action, &undo.target, outcome, detail)
        };
        match &undo.kind {
            ic::UndoKind::Deny { prior } => {
                let set = undo.target.as_str();
                let current = center
                    .sso
                    .get_inline_policy_for_permission_set()
                    .instance_arn(instance)
                    .permission_set_arn(set)
                    .send()
                    .await;
                let current = match current {
                    Ok(c) => c.inline_policy.unwrap_or_default(),
                    Err(e) => {
                        return step(
                            Action::RemoveIdentityCenterDeny,
                            Outcome::Failed,
                            format!(
                                "{set}'s inline policy could not be read ({}); the deny stays",
                                describe(&e)
                            ),
                        );
                    }
                };
                let restored = match ic::unmerge(&current, user_id, prior.as_deref()) {
                    Ok(restored) => restored,
                    Err(why) => {
                        return step(
                            Action::KeepIdentityCenterDeny,
                            Outcome::Failed,
                            why.to_string(),
                        );
                    }
                };
                let what = match &restored {
                    Restored::Absent => {
                        return step(
                            Action::RemoveIdentityCenterDeny,
                            Outcome::AlreadyInPlace,
                            format!("{} is not in {set}", ic::sid(user_id)),
                        );
                    }
                    Restored::Delete => "the inline policy deleted (it had none before)",
                    Restored::Write { .. } => "the inline policy put back without the deny",
                };
                if dry_run {
                    return step(
                        Action::RemoveIdentityCenterDeny,
                        Outcome::Planned,
                        format!("would take {} off {set}: {what}", ic::sid(user_id)),
                    );
                }
                let written = match &restored {
                    Restored::Write { document } => center
                        .sso
                        .put_inline_policy_to_permission_set()
                        .instance_arn(instance)
                        .permission_set_arn(set)
                        .inline_policy(document)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| describe(&e)),
                    _ => center
                        .sso
                        .delete_inline_policy_from_permission_set()
                        .instance_arn(instance)
                        .permission_set_arn(set)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| describe(&e)),
                };
                if let Err(why) = written {
                    return step(
                        Action::RemoveIdentityCenterDeny,
                        Outcome::Failed,
                        denied_advice(&why, set),
                    );
                }
                let until = tokio::time::Instant::now() + PROVISION_WAIT;
                match provision(&center.sso, instance, set, until).await {
                    Ok(done) => step(
                        Action::RemoveIdentityCenterDeny,
                        Outcome::Applied,
                        format!("{} taken off {set}: {what}; {done}", ic::sid(user_id)),
                    ),
                    Err(why) => step(
                        Action::RemoveIdentityCenterDeny,
                        Outcome::Failed,
                        format!("{} taken off {set}: {what}; {why}", ic::sid(user_id)),
                    ),
                }
            }
            ic::UndoKind::Assignment(assignment) => {
                if dry_run {
                    return step(
                        Action::RestoreAccountAssignment,
                        Outcome::Planned,
                        format!("would create the user's assignment {} again", undo.target),
                    );
                }
                match assign(center, instance, assignment).await {
                    Ok(()) => step(
                        Action::RestoreAccountAssignment,
                        Outcome::Applied,
                        format!("the user's assignment {} created again", undo.target),
                    ),
                    Err(why) => step(Action::RestoreAccountAssignment, Outcome::Failed, why),
                }
            }
            ic::UndoKind::Membership => {
                if dry_run {
                    return step(
                        Action::RestoreGroupMembership,
                        Outcome::Planned,
                        format!("would put the user back in group {}", undo.target),
                    );
                }
                let joined = center
                    .store
                    .create_group_membership()
                    .identity_store_id(store_id)
                    .group_id(&undo.target)
                    .member_id(MemberId::UserId(user_id.into()))
                    .send()
                    .await;
                match joined {
                    Ok(_) => step(
                        Action::RestoreGroupMembership,
                        Outcome::Applied,
                        format!("the user is in group {} again", undo.target),
                    ),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conflict_exception()) =>
                    {
                        step(
                            Action::RestoreGroupMembership,
                            Outcome::AlreadyInPlace,
                            format!("the user is in group {} already", undo.target),
                        )
                    }
                    Err(e) => step(
                        Action::RestoreGroupMembership,
                        Outcome::Failed,
                        describe(&e),
                    ),
                }
            }
        }
    }
}

/// Creates the user's assignment again (a release).
async fn assign(center: &Center, instance: &str, a: &Assignment) -> Result<(), String> {
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
        .map_err(|e| format!("CreateAccountAssignment: {}", describe(&e)))
}
