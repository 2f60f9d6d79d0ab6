//! The containment of an Identity Center user: the deny merged into each permission set and
//! provisioned, and (`IDENTITY_CENTER_REMOVE_ASSIGNMENTS`) the user's assignments and memberships
//! removed.

use super::*;
use crate::identity_center::{Change, Merged, UserClaim};
use crate::ledger;
use crate::responder::contain as iam_contain;
use aws_sdk_ssoadmin::types::TargetType;
use serde::Serialize;

/// What the plan object of an Identity Center user records.
#[derive(Serialize)]
struct PlanRecord<'a> {
    user_id: &'a str,
    steps: &'a [ic::Planned],
}

impl Responder {
    /// Contains one Identity Center user: located, read, denied in every permission set that
    /// reaches them, the reads and the plan recorded.
    pub(in crate::responder) async fn contain_identity_center(
        &self,
        claim: &UserClaim,
        run: &Invocation<'_>,
    ) -> TargetRun {
        let account = self.identity_center_account(run.me);
        let partition = run.me.partition.clone();
        let unlocated = |status, why: String| {
            warn!(user = %claim.user, reason = %why, "Identity Center user not contained");
            let arn = format!("identity_center_user:{}", claim.user);
            stop(status, arn, &account, why, 1)
        };
        if !matches!(self.playbook, Playbook::Contain) {
            return unlocated(
                Status::Refused,
                format!(
                    "{} acts on IAM principals only: invoke contain with this request, which \
                     contains an Identity Center user in Identity Center",
                    self.playbook.name()
                ),
            );
        }
        let center = match self.center(run.me, run.accounts) {
            Ok(center) => center,
            Err(why) => return unlocated(Status::Partial, why),
        };
        let located = locate(
            &center,
            &claim.user,
            !claim.from_session,
            self.config.identity_center.instance_arn.as_deref(),
        )
        .await;
        let (instance_arn, store_id, user_id) = match located {
            Ok(Located {
                instance_arn,
                store_id,
                user_id,
            }) => (instance_arn, store_id, user_id),
            Err(Locate::NotFound(why)) => return unlocated(Status::Refused, why),
            Err(Locate::Failed(why)) => return unlocated(Status::Partial, why),
        };
        // A re-delivered detection after a release: the humans' decision stands, as for IAM
        // principals (only the release record in the evidence store counts).
        let mut note = None;
        if run.incident.trigger == Trigger::Automatic {
            let release = match run.ledger {
                Ok(keys) => {
                    evidence::latest_identity_center_release(&*self.evidence, keys, &user_id)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.clone()),
            };
            match Self::judge_release(release, run.incident) {
                iam_contain::Released::No => {}
                iam_contain::Released::Yes(why) => {
                    let arn = ic::user_arn(&partition, &user_id);
                    return stop(Status::Ignored, arn, &account, why, 2);
                }
                iam_contain::Released::NewActivity(why) | iam_contain::Released::Unknown(why) => {
                    note = Some(why)
                }
            }
        }
        let state = read(&center, &instance_arn, &store_id, &user_id).await;
        let mut state = match state {
            Ok(state) => state,
            Err(why) => return unlocated(Status::Partial, why),
        };
        // A protected user is known by the store's name and id, never by the claim alone.
        if let Some(rule) = self
            .config
            .identity_center
            .protecting(state.user_name.as_deref(), &user_id)
        {
            let name = state.user_name.as_deref().unwrap_or(&user_id);
            let why = format!(
                "Identity Center user {name} is protected by {rule}. If they are compromised, a \
                 human must contain them by hand."
            );
            warn!(user = %user_id, reason = %why, "Identity Center user not contained");
            let arn = ic::user_arn(&partition, &user_id);
            return stop(Status::Refused, arn, &account, why, 3);
        }
        state.user_name = state.user_name.or_else(|| Some(claim.user.clone()));
        let planned = ic::plan(&state, self.config.identity_center.remove_assignments);
        let writes = planned
            .iter()
            .map(|p| self.carry_out(&center, &state, p, run));
        let mut steps: Vec<StepReport> = Vec::new();
        // The denies first, together; then the removals (an assignment removed before its deny
        // is in place would leave nothing to show for a failed deny).
        let (denies, removals): (Vec<_>, Vec<_>) = writes
            .zip(&planned)
            .partition(|(_, p)| p.action == Action::DenyIdentityCenterUser);
        steps.extend(futures::future::join_all(denies.into_iter().map(|(w, _)| w)).await);
        steps.extend(futures::future::join_all(removals.into_iter().map(|(w, _)| w)).await);
        for s in &steps {
            info!(user = %user_id, action = %s.action, target = %s.target, outcome = ?s.outcome, "{}", s.detail);
        }
        let mut status = TargetReport::status_from_steps(&steps);
        let name = state.user_name.as_deref().unwrap_or(&user_id);
        let mut message = Some(match &claim.seen_as {
            Some(role) => format!("Identity Center user {name}: the session of {role}"),
            None => format!("Identity Center user {name}"),
        });
        if let Some(note) = note {
            message = Some(match message {
                Some(m) => format!("{note}; {m}"),
                None => note,
            });
        }
        if steps.is_empty() {
            status = if run.dry_run {
                Status::Planned
            } else {
                Status::Contained
            };
            message = Some(format!(
                "no permission set is assigned to Identity Center user {name}, directly or through a group: there \
                 is nothing they can use to act; disable them in the identity source if they must \
                 not sign in"
            ));
        }
        let records = if run.dry_run {
            Vec::new()
        } else {
            let folder = ledger::identity_center_folder(run.prefix, &user_id);
            vec![
                self.upload(
                    EvidenceObject::json(format!("{folder}/snapshot.json"), &state),
                    run.started,
                ),
                self.upload(
                    EvidenceObject::json(
                        format!("{folder}/plan.json"),
                        &PlanRecord {
                            user_id: &user_id,
                            steps: &planned,
                        },
                    ),
                    run.started,
                ),
            ]
        };
        TargetRun {
            report: TargetReport {
                principal_arn: ic::user_arn(&partition, &user_id),
                account_id: account,
                status,
                message,
                cause: None,
                steps,
            },
            records,
            // Locate, read the user, read the permission sets, write (and provision).
            waves: 4,
        }
    }

    /// One step of the plan, written unless a dry run.
    async fn carry_out(
        &self,
        center: &Center,
        state: &State,
        planned: &ic::Planned,
        run: &Invocation<'_>,
    ) -> StepReport {
        let step = |outcome, detail: String| {
            StepReport::new(planned.action, &planned.target, outcome, detail)
        };
        let instance = state.instance_arn.as_str();
        let set = planned.target.as_str();
        // The permission set as a human knows it: its name, then its ARN.
        let shown = match state.permission_sets.iter().find(|p| p.arn == set) {
            Some(PermissionSet {
                name: Some(name), ..
            }) => format!("permission set {name} ({set})"),
            _ => set.to_owned(),
        };
        match &planned.change {
            Change::Cannot { why } => step(
                Outcome::Failed,
                format!("the deny cannot be merged into {shown}: {why}"),
            ),
            Change::Deny { merged, prior } => {
                let sid = ic::sid(&state.user_id);
                let mut report = match (merged, run.dry_run) {
                    (Merged::InPlace, _) => step(
                        Outcome::AlreadyInPlace,
                        format!("{sid} is already in {shown}'s inline policy"),
                    ),
                    (Merged::Write { replaced, .. }, true) => step(
                        Outcome::Planned,
                        format!(
                            "would merge {sid} (deny everything to this user only) into {shown}'s \
                             inline policy{} and provision it",
                            if *replaced {
                                ", replacing a statement under that id that is not the deny"
                            } else {
                                ""
                            }
                        ),
                    ),
                    (Merged::Write { document, replaced }, false) => {
                        let put = center
                            .sso
                            .put_inline_policy_to_permission_set()
                            .instance_arn(instance)
                            .permission_set_arn(set)
                            .inline_policy(document)
                            .send()
                            .await;
                        match put {
                            Err(e) => {
                                return step(Outcome::Failed, denied_advice(&describe(&e), &shown));
                            }
                            Ok(_) => {
                                let mut report = step(
                                    Outcome::Applied,
                                    format!(
                                        "{sid} merged into {shown}'s inline policy{}",
                                        if *replaced {
                                            " (a statement under that id that was not the deny \
                                             was replaced)"
                                        } else {
                                            ""
                                        }
                                    ),
                                );
                                report.prior_policy = Some(prior.clone());
                                report
                            }
                        }
                    }
                };
                report.policy = Some(sid);
                if run.dry_run {
                    return report;
                }
                // In place or just written: provisioned either way, so that a run that died
                // between the two (or whose provisioning failed) is finished by its retry.
                let until = run
                    .stop_reading
                    .map(|s| s.min(tokio::time::Instant::now() + PROVISION_WAIT))
                    .unwrap_or_else(|| tokio::time::Instant::now() + PROVISION_WAIT);
                match provision(&center.sso, instance, set, until).await {
                    Ok(done) => report.detail = format!("{}; {done}", report.detail),
                    Err(why) => {
                        report.outcome = Outcome::Failed;
                        report.detail =
                            format!("{}; {}", report.detail, denied_advice(&why, &shown));
                    }
                }
                report
            }
            Change::Unassign(assignment) => {
                if run.dry_run {
                    return step(
                        Outcome::Planned,
                        format!(
                            "would remove the user's assignment of {} in account {}",
                            assignment.permission_set_arn, assignment.account_id
                        ),
                    );
                }
                match unassign(center, instance, assignment).await {
                    Ok(()) => step(
                        Outcome::Applied,
                        format!(
                            "the user's assignment of {} in account {} removed (a release \
                             creates it again)",
                            assignment.permission_set_arn, assignment.account_id
                        ),
                    ),
                    Err(why) => step(Outcome::Failed, why),
                }
            }
            Change::Leave(membership) => {
                if run.dry_run {
                    return step(
                        Outcome::Planned,
                        format!("would take the user out of group {}", membership.group_id),
                    );
                }
                let left = center
                    .store
                    .delete_group_membership()
                    .identity_store_id(&state.identity_store_id)
                    .membership_id(&membership.membership_id)
                    .send()
                    .await;
                match left {
                    Ok(_) => step(
                        Outcome::Applied,
                        format!(
                            "the user taken out of group {} (a release puts them back)",
                            membership.group_id
                        ),
                    ),
                    Err(e) => step(Outcome::Failed, describe(&e)),
                }
            }
        }
    }
}

/// Removes the user's own assignment of a permission set in an account.
async fn unassign(center: &Center, instance: &str, a: &Assignment) -> Result<(), String> {
    center
        .sso
        .delete_account_assignment()
        .instance_arn(instance)
        .target_id(&a.account_id)
        .target_type(TargetType::AwsAccount)
        .permission_set_arn(&a.permission_set_arn)
        .principal_type(PrincipalType::User)
        .principal_id(&a.principal_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("DeleteAccountAssignment: {}", describe(&e)))
}
