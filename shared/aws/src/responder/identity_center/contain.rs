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

/// Why a claimed user was stopped before their first step, and the status that leaves.
struct Unlocated {
    status: Status,
    why: String,
}

impl Unlocated {
    /// The claim's target, stopped: named by the claim, since no user id is known for it.
    fn into_target(self, claim: &UserClaim, account: &str) -> TargetRun {
        let Self { status, why } = self;
        warn!(user = %claim.user, reason = %why, "Identity Center user not contained");
        let arn = format!("identity_center_user:{}", claim.user);
        stop(status, arn, account, why, 1)
    }
}

/// A target's status and message once its steps are done.
struct Conclusion {
    status: Status,
    message: Option<String>,
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
        let (center, located) = match self.locate_claim(claim, run).await {
            Ok(found) => found,
            Err(unlocated) => return unlocated.into_target(claim, &account),
        };
        let user_id = located.user_id.as_str();
        let arn = ic::user_arn(&run.me.partition, user_id);
        let note = match self.prior_release(run, user_id).await {
            iam_contain::Released::No => None,
            iam_contain::Released::Yes(why) => {
                return stop(Status::Ignored, arn, &account, why, 2);
            }
            iam_contain::Released::NewActivity(why) | iam_contain::Released::Unknown(why) => {
                Some(why)
            }
        };
        let state = read(&center, &located.instance_arn, &located.store_id, user_id).await;
        let mut state = match state {
            Ok(state) => state,
            Err(why) => {
                let status = Status::Partial;
                let why = why.to_string();
                return Unlocated { status, why }.into_target(claim, &account);
            }
        };
        if let Some(why) = self.protection(&state, user_id) {
            warn!(user = %user_id, reason = %why, "Identity Center user not contained");
            return stop(Status::Refused, arn, &account, why, 3);
        }
        state.user_name = state.user_name.or_else(|| Some(claim.user.clone()));
        let planned = ic::plan(&state, self.config.identity_center.remove_assignments);
        let steps = self.carry_out_plan(&center, &state, &planned, run).await;
        for s in &steps {
            info!(user = %user_id, action = %s.action, target = %s.target, outcome = ?s.outcome, "{}", s.detail);
        }
        let Conclusion { status, message } = conclude(claim, &state, note, &steps, run.dry_run);
        let records = match run.dry_run {
            true => Vec::new(),
            false => self.contain_records(run, &state, &planned),
        };
        TargetRun {
            report: TargetReport {
                principal_arn: arn,
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

    /// The claimed user's clients and place in Identity Center. Refused when a human must act
    /// (not the contain playbook, no such user or instance); partial when AWS could not be asked.
    async fn locate_claim(
        &self,
        claim: &UserClaim,
        run: &Invocation<'_>,
    ) -> Result<(Center, Located), Unlocated> {
        if !matches!(self.playbook, Playbook::Contain) {
            let why = format!(
                "{} acts on IAM principals only: invoke contain with this request, which \
                 contains an Identity Center user in Identity Center",
                self.playbook.name()
            );
            let status = Status::Refused;
            return Err(Unlocated { status, why });
        }
        let center = match self.center(run.me, run.accounts) {
            Ok(center) => center,
            Err(why) => {
                let status = Status::Partial;
                let why = why.to_string();
                return Err(Unlocated { status, why });
            }
        };
        let located = locate(
            &center,
            &claim.user,
            !claim.from_session,
            self.config.identity_center.instance_arn.as_deref(),
        )
        .await;
        let (status, why) = match located {
            Ok(found) => return Ok((center, found)),
            Err(Locate::NotFound(why)) => (Status::Refused, why),
            Err(Locate::Failed(why)) => (Status::Partial, why),
        };
        Err(Unlocated { status, why })
    }

    /// What a release recorded for the user means for a re-delivered detection after it: the
    /// humans' decision stands, as for IAM principals (only the release record in the evidence
    /// store counts). `No` for a detection that is not automatic.
    async fn prior_release(&self, run: &Invocation<'_>, user_id: &str) -> iam_contain::Released {
        if run.incident.trigger != Trigger::Automatic {
            return iam_contain::Released::No;
        }
        let release = match run.ledger {
            Ok(keys) => evidence::latest_identity_center_release(&*self.evidence, keys, user_id)
                .await
                .map_err(Arc::new),
            Err(e) => Err(e.clone()),
        };
        Self::judge_release(release, run.incident)
    }

    /// Why the user must not be contained, when a protection rule names them.
    fn protection(&self, state: &State, user_id: &str) -> Option<String> {
        // Known by the store's name and id, never by the claim alone.
        let rule = self
            .config
            .identity_center
            .protecting(state.user_name.as_deref(), user_id)?;
        let name = state.user_name.as_deref().unwrap_or(user_id);
        Some(format!(
            "Identity Center user {name} is protected by {rule}. If they are compromised, a \
             human must contain them by hand."
        ))
    }

    /// Every step of the plan, the denies (together) before the removals (together), reported in
    /// that order.
    async fn carry_out_plan(
        &self,
        center: &Center,
        state: &State,
        planned: &[ic::Planned],
        run: &Invocation<'_>,
    ) -> Vec<StepReport> {
        let writes = planned
            .iter()
            .map(|p| self.carry_out(center, state, p, run));
        let mut steps: Vec<StepReport> = Vec::new();
        // An assignment removed before its deny is in place would leave nothing to show for a
        // failed deny.
        let (denies, removals): (Vec<_>, Vec<_>) = writes
            .zip(planned)
            .partition(|(_, p)| p.action == Action::DenyIdentityCenterUser);
        steps.extend(futures::future::join_all(denies.into_iter().map(|(w, _)| w)).await);
        steps.extend(futures::future::join_all(removals.into_iter().map(|(w, _)| w)).await);
        steps
    }

    /// The user's snapshot and plan, on their way to the evidence bucket.
    fn contain_records(
        &self,
        run: &Invocation<'_>,
        state: &State,
        planned: &[ic::Planned],
    ) -> Vec<Upload> {
        let folder = ledger::identity_center_folder(run.prefix, &state.user_id);
        vec![
            self.upload(
                EvidenceObject::json(format!("{folder}/snapshot.json"), state),
                run.started,
            ),
            self.upload(
                EvidenceObject::json(
                    format!("{folder}/plan.json"),
                    &PlanRecord {
                        user_id: &state.user_id,
                        steps: planned,
                    },
                ),
                run.started,
            ),
        ]
    }

    /// One step of the plan, written unless a dry run.
    async fn carry_out(
        &self,
        center: &Center,
        state: &State,
        planned: &ic::Planned,
        run: &Invocation<'_>,
    ) -> StepReport {
        let write = StepWrite {
            center,
            state,
            planned,
            shown: shown(state, &planned.target),
            dry_run: run.dry_run,
            stop_reading: run.stop_reading,
        };
        match &planned.change {
            Change::Cannot { why } => write.report(
                Outcome::Failed,
                format!("the deny cannot be merged into {}: {why}", write.shown),
            ),
            Change::Deny { merged, prior } => write.deny(merged, prior).await,
            Change::Unassign(assignment) => write.remove_assignment(assignment).await,
            Change::Leave(membership) => write.leave_group(membership).await,
        }
    }
}

/// The status and message of a user's target: the steps' status, with the claim and the note;
/// with no steps, contained (planned, in a dry run) and why there was nothing to do.
fn conclude(
    claim: &UserClaim,
    state: &State,
    note: Option<String>,
    steps: &[StepReport],
    dry_run: bool,
) -> Conclusion {
    let name = state.user_name.as_deref().unwrap_or(&state.user_id);
    if steps.is_empty() {
        return Conclusion {
            status: if dry_run {
                Status::Planned
            } else {
                Status::Contained
            },
            message: Some(format!(
                "no permission set is assigned to Identity Center user {name}, directly or through a group: there \
                 is nothing they can use to act; disable them in the identity source if they must \
                 not sign in"
            )),
        };
    }
    let user = match &claim.seen_as {
        Some(role) => format!("Identity Center user {name}: the session of {role}"),
        None => format!("Identity Center user {name}"),
    };
    Conclusion {
        status: TargetReport::status_from_steps(steps),
        message: Some(match note {
            Some(note) => format!("{note}; {user}"),
            None => user,
        }),
    }
}

/// The permission set as a human knows it: its name, then its ARN.
fn shown(state: &State, set: &str) -> String {
    match state.permission_sets.iter().find(|p| p.arn == set) {
        Some(PermissionSet {
            name: Some(name), ..
        }) => format!("permission set {name} ({set})"),
        _ => set.to_owned(),
    }
}

/// One step of the plan on its way to Identity Center, with what its writes need.
struct StepWrite<'a> {
    center: &'a Center,
    state: &'a State,
    planned: &'a ic::Planned,
    /// The permission set as [`shown`].
    shown: String,
    dry_run: bool,
    /// When the investigation stops, if the function has a deadline (a provisioning is waited
    /// for no longer).
    stop_reading: Option<tokio::time::Instant>,
}

impl StepWrite<'_> {
    /// This step's report.
    fn report(&self, outcome: Outcome, detail: String) -> StepReport {
        StepReport::new(self.planned.action, &self.planned.target, outcome, detail)
    }

    /// The deny merged into the permission set and the set provisioned; a failed write is the
    /// step's end, without its policy.
    async fn deny(&self, merged: &Merged, prior: &str) -> StepReport {
        let mut report = match self.merge_deny(merged, prior).await {
            Ok(report) => report,
            Err(why) => return self.report(Outcome::Failed, why.to_string()),
        };
        report.policy = Some(ic::sid(&self.state.user_id));
        if self.dry_run {
            return report;
        }
        // In place or just written: provisioned either way, so that a run that died between
        // the two (or whose provisioning failed) is finished by its retry.
        self.provision_set(report).await
    }

    /// The deny put into the inline policy unless in place (or a dry run); `Err` is AWS's
    /// refusal, with advice.
    async fn merge_deny(&self, merged: &Merged, prior: &str) -> Result<StepReport, SetRefused> {
        let sid = ic::sid(&self.state.user_id);
        let shown = &self.shown;
        let (document, replaced) = match (merged, self.dry_run) {
            (Merged::InPlace, _) => {
                return Ok(self.report(
                    Outcome::AlreadyInPlace,
                    format!("{sid} is already in {shown}'s inline policy"),
                ));
            }
            (Merged::Write { replaced, .. }, true) => {
                return Ok(self.report(
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
                ));
            }
            (Merged::Write { document, replaced }, false) => (document, replaced),
        };
        self.center
            .sso
            .put_inline_policy_to_permission_set()
            .instance_arn(&self.state.instance_arn)
            .permission_set_arn(&self.planned.target)
            .inline_policy(document)
            .send()
            .await
            .map_err(|e| SetRefused {
                denied: e
                    .as_service_error()
                    .is_some_and(|s| s.is_access_denied_exception()),
                error: AwsError::from_sdk("PutInlinePolicyToPermissionSet", e),
                set: shown.clone(),
            })?;
        let mut report = self.report(
            Outcome::Applied,
            format!(
                "{sid} merged into {shown}'s inline policy{}",
                if *replaced {
                    " (a statement under that id that was not the deny was replaced)"
                } else {
                    ""
                }
            ),
        );
        report.prior_policy = Some(prior.to_owned());
        Ok(report)
    }

    /// The permission set provisioned, waited for until [`PROVISION_WAIT`] or the deadline, its
    /// outcome added to `report` (failed, with advice, when it did not finish).
    async fn provision_set(&self, mut report: StepReport) -> StepReport {
        let until = self
            .stop_reading
            .map(|s| s.min(tokio::time::Instant::now() + PROVISION_WAIT))
            .unwrap_or_else(|| tokio::time::Instant::now() + PROVISION_WAIT);
        let (instance, set) = (&self.state.instance_arn, &self.planned.target);
        match provision(&self.center.sso, instance, set, until).await {
            Ok(done) => report.detail = format!("{}; {done}", report.detail),
            Err(why) => {
                report.outcome = Outcome::Failed;
                let advised = denied_advice(&why.to_string(), why.denied(), &self.shown);
                report.detail = format!("{}; {advised}", report.detail);
            }
        }
        report
    }

    /// The user's own assignment removed (a release creates it again).
    async fn remove_assignment(&self, assignment: &Assignment) -> StepReport {
        if self.dry_run {
            return self.report(
                Outcome::Planned,
                format!(
                    "would remove the user's assignment of {} in account {}",
                    assignment.permission_set_arn, assignment.account_id
                ),
            );
        }
        match unassign(self.center, &self.state.instance_arn, assignment).await {
            Ok(()) => self.report(
                Outcome::Applied,
                format!(
                    "the user's assignment of {} in account {} removed (a release creates it \
                     again)",
                    assignment.permission_set_arn, assignment.account_id
                ),
            ),
            Err(why) => self.report(Outcome::Failed, why.to_string()),
        }
    }

    /// The user taken out of a group (a release puts them back).
    async fn leave_group(&self, membership: &Membership) -> StepReport {
        if self.dry_run {
            return self.report(
                Outcome::Planned,
                format!("would take the user out of group {}", membership.group_id),
            );
        }
        let left = self
            .center
            .store
            .delete_group_membership()
            .identity_store_id(&self.state.identity_store_id)
            .membership_id(&membership.membership_id)
            .send()
            .await;
        match left {
            Ok(_) => self.report(
                Outcome::Applied,
                format!(
                    "the user taken out of group {} (a release puts them back)",
                    membership.group_id
                ),
            ),
            Err(e) => self.report(Outcome::Failed, describe(&e)),
        }
    }
}

/// Removes the user's own assignment of a permission set in an account.
async fn unassign(center: &Center, instance: &str, a: &Assignment) -> Result<(), CallFailed> {
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
        .map_err(|e| CallFailed(AwsError::from_sdk("DeleteAccountAssignment", e)))
}
