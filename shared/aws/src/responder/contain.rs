//! Phases 2 and 3, contain and investigate, for one principal: its critical writes first, its other
//! keys the moment they are listed, its snapshot behind them; and each step's line in the report.

use super::*;
use crate::ledger;

impl Responder {
    /// One resolved principal: refused, left released, or contained, investigated and recorded.
    pub(super) async fn contain_resolved(
        &self,
        iam: &aws_sdk_iam::Client,
        principal: Principal,
        named_keys: &[String],
        run: &Invocation<'_>,
        prefix: &str,
    ) -> TargetRun {
        let mut waves = 0;
        if let Some(why) = plan::refusal(&principal, run.me, &self.config.guard, self.playbook) {
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
            let folder = ledger::principal_folder(prefix, &principal);
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

    /// Whether `principal` was released from this incident since, and what that means for a
    /// detection re-delivered now. Only a release record in the evidence store counts, never a tag
    /// on the principal (which a compromised principal may write).
    async fn released(
        &self,
        principal: &Principal,
        incident: &Incident,
        ledger: &Result<Vec<String>, SharedError>,
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
        let release = evidence::latest_release(&*self.evidence, keys, principal)
            .await
            .map_err(Arc::new);
        Self::judge_release(release, incident)
    }

    /// Whether a release recorded for a principal stands against this re-delivered signal.
    pub(super) fn judge_release(
        release: Result<Option<ledger::Release>, SharedError>,
        incident: &Incident,
    ) -> Released {
        let release = match release {
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
        let role_deny_all = self.config.role_deny_all;
        let critical = plan::critical_steps(
            principal,
            named_keys,
            self.playbook,
            Options { role_deny_all },
        );
        let cutoff = invocation.cutoff.to_owned();
        let writer = Writer {
            iam,
            principal,
            cutoff: &cutoff,
        };
        let run = plan::Run {
            incident_id: &invocation.incident.id,
            now: invocation.now,
            cutoff: &cutoff,
        };
        let writes_allowed = !invocation.dry_run && self.playbook != Playbook::Snapshot;
        let first_wave = critical
            .iter()
            .map(|s| first_write(&writer, s, writes_allowed));
        // The other keys: deactivated as soon as their listing answers (a user's; a role has none).
        let (keys_listed, listing) = tokio::sync::oneshot::channel();
        let other_keys =
            other_key_writes(&writer, &critical, listing, self.playbook, writes_allowed);
        // The writes first: polled first, they reach the paced queue first.
        let gate = snapshot::Gate {
            slots: Some(invocation.investigations),
            stop_reading: invocation.stop_reading,
        };
        let read = snapshot::read(
            iam,
            principal,
            invocation.now.into(),
            Some(keys_listed),
            gate,
        );
        let prior = self.prior_cutoff(invocation, principal);
        let (written, (first, admitted), prior, other_keys) = tokio::join!(
            futures::future::join_all(first_wave),
            read,
            prior,
            other_keys
        );
        let state = first.state();
        let prior = Prior::from_ledger(prior, run);
        let tag = self.tag_step(&critical, &state, &prior, run);
        // A user's other credentials, listed in the first read: set Inactive beside the tags.
        let credentials = plan::credential_steps(&state, self.playbook);
        let arn = first.arn().map_or_else(|| principal.arn(), str::to_owned);
        let later = Later {
            writer: &writer,
            state: &state,
            prior: &prior,
            run,
            writes_allowed,
        };
        let later_steps = (&credentials[..], &tag);
        let second = self
            .second_wave(&later, &critical, written, later_steps, first, invocation)
            .await;
        // The next principal's snapshot may start.
        drop(admitted);
        let (other_keys, other_reports): (Vec<Step>, Vec<(StepReport, u32)>) =
            other_keys.into_iter().unzip();
        let second_wave = second.waves(&other_reports);
        let rest: Vec<Step> = other_keys
            .into_iter()
            .chain(credentials)
            .chain(tag)
            .collect();
        let (snapshot, cut_short, steps) = second.steps(
            other_reports,
            (&critical, &rest),
            principal,
            &state,
            &cutoff,
        );
        let report = self.target_report(arn, principal, steps, cut_short);
        let plan = critical.into_iter().chain(rest).collect();
        (report, snapshot, plan, 1 + second_wave)
    }

    /// The tag step, with the cutoff in force: an earlier one of this incident put back, or
    /// this run's.
    fn tag_step(
        &self,
        critical: &[Step],
        state: &PrincipalState,
        prior: &Prior,
        run: plan::Run<'_>,
    ) -> Option<Step> {
        let in_force = prior
            .earlier
            .clone()
            .unwrap_or_else(|| run.cutoff.to_owned());
        let tagged = plan::Run {
            cutoff: &in_force,
            ..run
        };
        plan::tag_step(critical, state, tagged, self.playbook)
    }

    /// What the incident's own ledger says of the principal's session cutoff: the reports are
    /// read once per invocation, by the first principal that needs them, and shared.
    async fn prior_cutoff(
        &self,
        invocation: &Invocation<'_>,
        principal: &Principal,
    ) -> Result<ledger::PriorCutoff, SharedError> {
        let keys = invocation.ledger.as_ref().map_err(Clone::clone)?;
        let reports = invocation
            .reports
            .get_or_init(|| async {
                evidence::reports(&*self.evidence, keys)
                    .await
                    .map_err(Arc::new)
            })
            .await
            .as_ref()
            .map_err(Clone::clone)?;
        Ok(ledger::prior_cutoff(keys, reports, principal))
    }

    /// Wave 2: each critical step settled (a fallback route for a policy that did not fit, an
    /// earlier cutoff put back), the other credentials and the tags written, and the snapshot's
    /// details read behind every write in the paced queue.
    async fn second_wave(
        &self,
        later: &Later<'_>,
        critical: &[Step],
        written: Vec<Option<Result<Written, WriteError>>>,
        (credentials, tag): (&[Step], &Option<Step>),
        first: snapshot::FirstRead,
        invocation: &Invocation<'_>,
    ) -> SecondWave {
        // The snapshot says which of its reads raced this run's own first writes.
        let concurrent: Vec<String> = critical
            .iter()
            .zip(&written)
            .filter(|(_, w)| w.is_some())
            .map(|(s, _)| s.target.clone())
            .collect();
        let Later {
            writer,
            state,
            prior,
            run,
            writes_allowed,
        } = *later;
        let principal = writer.principal;
        let settle_critical = critical
            .iter()
            .zip(written)
            .map(|(step, first_try)| async move {
                match first_try {
                    None => (planned(step, principal, state, writes_allowed), 0),
                    Some(result) => {
                        Box::pin(settle(writer, step, principal, state, run, result, prior)).await
                    }
                }
            });
        let credential_writes = futures::future::join_all(
            credentials
                .iter()
                .map(|step| apply_later(writer, step, principal, state, writes_allowed)),
        );
        let tag_step = async {
            match tag {
                Some(step) => {
                    Some(apply_later(writer, step, principal, state, writes_allowed).await)
                }
                None => None,
            }
        };
        // 3. Investigate: the snapshot's details, behind every write in the paced queue.
        let ((snapshot, snapshot_waves, cut_short), settled, credentials, tag) = tokio::join!(
            // Boxed: allocated when the principal gets here, not for every principal at once.
            Box::pin(snapshot::complete(
                writer.iam,
                first,
                concurrent,
                invocation.policies,
                invocation.stop_reading
            )),
            futures::future::join_all(settle_critical),
            credential_writes,
            tag_step
        );
        SecondWave {
            snapshot,
            snapshot_waves,
            cut_short,
            settled,
            credentials,
            tag,
        }
    }

    /// The principal's line in the report, every step logged; `partial` when the snapshot was
    /// cut short by the deadline, since the evidence needs another invocation.
    fn target_report(
        &self,
        arn: String,
        principal: &Principal,
        steps: Vec<StepReport>,
        cut_short: bool,
    ) -> TargetReport {
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
        TargetReport {
            principal_arn: arn,
            account_id: principal.account_id.clone(),
            status,
            message,
            cause: None,
            steps,
        }
    }
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

/// What wave 2's writes share: the writer, what the first read found, and the ledger's word.
#[derive(Clone, Copy)]
struct Later<'a> {
    writer: &'a Writer<'a>,
    state: &'a PrincipalState,
    prior: &'a Prior,
    run: plan::Run<'a>,
    writes_allowed: bool,
}

/// What wave 2 produced.
struct SecondWave {
    snapshot: Snapshot,
    snapshot_waves: u32,
    cut_short: bool,
    settled: Vec<(StepReport, u32)>,
    credentials: Vec<(StepReport, u32)>,
    tag: Option<(StepReport, u32)>,
}

impl SecondWave {
    /// Every step's line, in plan order (the critical steps, the other keys, the credentials,
    /// the tags), each with its facts for the ledger; and the snapshot.
    fn steps(
        self,
        other_keys: Vec<(StepReport, u32)>,
        (critical, rest): (&[Step], &[Step]),
        principal: &Principal,
        state: &PrincipalState,
        cutoff: &str,
    ) -> (Snapshot, bool, Vec<StepReport>) {
        let steps = self
            .settled
            .into_iter()
            .chain(other_keys)
            .chain(self.credentials)
            .chain(self.tag)
            .zip(critical.iter().chain(rest))
            .map(|((s, _), step)| with_facts(s, step, principal, state, cutoff))
            .collect();
        (self.snapshot, self.cut_short, steps)
    }

    /// The sequential calls after wave 1: the keys' writes went out once their listing
    /// answered (wave 2, like the tags), and the slowest of the rest.
    fn waves(&self, other_keys: &[(StepReport, u32)]) -> u32 {
        self.settled
            .iter()
            .chain(other_keys)
            .chain(&self.credentials)
            .chain(&self.tag)
            .map(|(_, calls)| *calls)
            .max()
            .unwrap_or(0)
            .max(self.snapshot_waves)
            .max(u32::from(!other_keys.is_empty()))
    }
}

/// A critical step's first write, in wave 1, unless it is blocked or the run writes nothing.
async fn first_write(
    writer: &Writer<'_>,
    step: &Step,
    writes_allowed: bool,
) -> Option<Result<Written, WriteError>> {
    match &step.blocked {
        Some(_) => None,
        None if writes_allowed => Some(writer.apply(step).await),
        None => None,
    }
}

/// The user's other keys, deactivated the moment their listing answers (nothing for a role).
async fn other_key_writes(
    writer: &Writer<'_>,
    critical: &[Step],
    listing: tokio::sync::oneshot::Receiver<
        Result<Vec<plan::KeyState>, tourniquet_core::error::Unread>,
    >,
    playbook: Playbook,
    writes_allowed: bool,
) -> Vec<(Step, (StepReport, u32))> {
    let Ok(listed) = listing.await else {
        return Vec::new();
    };
    let steps = plan::key_steps(critical, &listed, playbook);
    let state = PrincipalState::keys_only(listed);
    let principal = writer.principal;
    let runs = steps.into_iter().map(|step| {
        let state = &state;
        async move {
            let done = apply_later(writer, &step, principal, state, writes_allowed).await;
            (step, done)
        }
    });
    futures::future::join_all(runs).await
}

/// After the inline policy did not fit: the fallback route, with the session cutoff the run
/// wants in force, and what it found holding Tourniquet's name.
async fn fall_back(
    writer: &Writer<'_>,
    step: &Step,
    principal: &Principal,
    state: &PrincipalState,
    run: plan::Run<'_>,
    e: &WriteError,
    prior: &Prior,
) -> (StepReport, u32) {
    let (cutoff, contained_before) = (run.cutoff, prior.contained_before);
    match wanting(writer, prior).fallback(step).await {
        Ok(w) => {
            let outcome = plan::critical_outcome(step, principal, state, true, contained_before);
            let mut detail = format!(
                "the inline policy did not fit ({}); took the {} route",
                e.message,
                w.route.map(Route::as_str).unwrap_or("fallback")
            );
            let managed = w.managed.clone();
            if let Some(look_alike) = managed.as_ref().and_then(|m| m.look_alike.as_ref()) {
                detail.push_str(&format!(
                    "; {look_alike} holds Tourniquet's name with another document than the one \
                     this run puts in force (a look-alike, or a stale cutoff): left as it is, \
                     and Tourniquet's own is attached instead"
                ));
            }
            let cutoff = (step.action == Action::RevokeSessions)
                .then(|| prior.earlier.clone().unwrap_or_else(|| cutoff.to_owned()));
            let report = StepReport {
                policy: managed.map(|m| m.arn),
                cutoff,
                ..report_step(step, outcome, detail, w.route)
            };
            (report, w.calls)
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
    }
}

/// The writer, with the session cutoff the run wants in force: the ledger's earlier one, if any.
fn wanting<'a>(writer: &Writer<'a>, prior: &'a Prior) -> Writer<'a> {
    Writer {
        cutoff: prior.earlier.as_deref().unwrap_or(writer.cutoff),
        ..*writer
    }
}

impl Prior {
    /// What the ledger's answer means for this run: an earlier cutoff to put back, or why the
    /// ledger could not be read (this run's later cutoff then stays).
    fn from_ledger(prior: Result<ledger::PriorCutoff, SharedError>, run: plan::Run<'_>) -> Self {
        match prior {
            Ok(p) => Prior {
                earlier: plan::cutoff_to_restore(p.cutoff.as_deref(), p.first_run, run),
                contained_before: p.contained,
                unread: None,
            },
            Err(e) => Prior {
                earlier: None,
                contained_before: false,
                unread: Some(e.to_string()),
            },
        }
    }
}

/// What a release of the incident means for one principal of a re-delivered detection.
pub(super) enum Released {
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
        // The managed session policy says the cutoff this run wants in force: the earlier one the
        // incident's ledger keeps (a replay), else this run's.
        Err(e) if e.limit_exceeded => {
            Box::pin(fall_back(writer, step, principal, state, run, &e, prior)).await
        }
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
        // Keys that could not be listed may be active: the containment is not complete. Other
        // credentials are stopped by the deny-all whatever their status: a human checks them.
        let outcome = match step.action {
            Action::DeactivateCredential => Outcome::Skipped,
            _ => Outcome::Failed,
        };
        return (report_step(step, outcome, why.clone(), None), 0);
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
        // The managed policy a fallback attached is the one its write named (a look-alike's
        // name is never reused); a step found in place names Tourniquet's own.
        (Action::AttachDenyAll, Some(Route::Managed)) => {
            report.policy = report
                .policy
                .take()
                .or_else(|| Some(managed(plan::DENY_POLICY_NAME)));
        }
        (Action::AttachDenyAll, Some(Route::QuarantineGroup)) => {
            report.policy = report
                .policy
                .take()
                .or_else(|| Some(managed(plan::DENY_POLICY_NAME)));
            report.group = Some(plan::QUARANTINE_GROUP.into());
        }
        (Action::RevokeSessions, Some(route)) => {
            report.policy = match route {
                Route::Managed => report
                    .policy
                    .take()
                    .or_else(|| Some(managed(&plan::managed_revoke_policy_name(principal)))),
                _ => Some(plan::REVOKE_POLICY_NAME.into()),
            };
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
