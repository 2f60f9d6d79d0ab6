//! One invocation end to end, in the phases the engine names: admit (echo, cap, placement,
//! fan-out), open the run (identity, ledger, intent in one wave), then resolve -> contain ->
//! investigate -> record for every principal at once, the hunt, and the report.

use super::*;

/// What the first look at an incident decided: answered already, or a run to open.
enum Admission {
    /// Ignored, refused for a human, or dispatched: the report is the answer.
    Answered(Box<Report>),
    /// Contain it here.
    Open {
        /// Accounts nothing is contained in, and why.
        protected: BTreeMap<String, String>,
        /// Sequential waves so far.
        waves: u32,
    },
}

/// A run opened: who runs it, what the ledger says, and where its evidence goes.
struct Opened<'a> {
    me: &'a Principal,
    ledger: Result<Vec<String>, SharedError>,
    intent: Option<(EvidenceObject, Option<String>)>,
    cutoff: String,
    prefix: String,
    waves: u32,
}

/// What the containment and the hunt produced, for the report.
struct Outcomes {
    runs: Vec<TargetRun>,
    hunted: Option<(crate::hunt::Summary, Vec<crate::hunt::Activity>)>,
    follow_intent: Option<(EvidenceObject, Option<String>)>,
    waves: u32,
}

/// When reads stop so that the report is stored before the function's deadline.
fn stop_reading(deadline: Option<std::time::SystemTime>) -> Option<tokio::time::Instant> {
    deadline.map(|d| {
        let left = d
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default();
        tokio::time::Instant::now() + left.saturating_sub(DEADLINE_MARGIN.min(left / 2))
    })
}

/// Tourniquet's own IAM calls show up in CloudTrail: they must never trigger it again.
fn own_echo(incident: &Incident, me: &Principal, waves: u32, dry_run: bool) -> Option<Report> {
    let caused = incident.source == Source::CloudTrail
        && incident
            .targets
            .iter()
            .any(|t| t.principal.as_ref().is_some_and(|p| p.same_as(me)));
    if !caused {
        return None;
    }
    let reason = format!(
        "{} was caused by Tourniquet's own identity {me}",
        incident.id
    );
    info!(%reason, "event ignored");
    Some(Report {
        source: Some(Source::CloudTrail.as_str().into()),
        reason: incident.reason.clone(),
        message: Some(reason),
        waves,
        ..Report::new(&incident.id, Status::Ignored, dry_run)
    })
}

/// The malformed entities the event named, each logged: the rest of the event is contained.
fn skipped_of(incident: &Incident) -> Vec<Skipped> {
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
    skipped
}

impl Responder {
    /// Whether the run writes nothing: the function's `DRY_RUN`, or the event's own.
    fn dry_run(&self, incident: &Incident) -> bool {
        self.config.dry_run || incident.dry_run
    }

    /// Carries out the function's playbook for `incident`: the whole of it, or one work item of
    /// a dispatched incident (`work`), or the dispatch itself when the incident is too large.
    pub(super) async fn respond(
        &self,
        mut incident: Incident,
        event: &Value,
        deadline: Option<std::time::SystemTime>,
        work: Option<WorkRun>,
    ) -> Result<Report, Error> {
        let stop_reading = stop_reading(deadline);
        let started = (self.clock)();
        let admission = self
            .admit(&mut incident, event, started, work.as_ref())
            .await?;
        let (protected, waves) = match admission {
            Admission::Answered(report) => return Ok(*report),
            Admission::Open { protected, waves } => (protected, waves),
        };
        let dry_run = self.dry_run(&incident);
        let now = started.to_rfc3339_opts(SecondsFormat::Millis, true);
        let opened = self
            .open_run(&incident, work.as_ref(), started, dry_run)
            .await?;
        let waves = waves + opened.waves;
        if let Some(report) = own_echo(&incident, opened.me, waves, dry_run) {
            return Ok(report);
        }
        let me = opened.me;
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
        let reports = OnceCell::new();
        let policies = snapshot::Policies::default();
        let investigations = tokio::sync::Semaphore::new(INVESTIGATIONS);
        let invocation = Invocation {
            me,
            accounts: &accounts,
            protected: &protected,
            incident: &incident,
            ledger: &opened.ledger,
            reports: &reports,
            policies: &policies,
            investigations: &investigations,
            dry_run,
            now: &now,
            started,
            cutoff: &opened.cutoff,
            stop_reading,
            prefix: &opened.prefix,
        };
        let mut outcomes = self.contain_and_hunt(&invocation, work.is_some()).await;
        outcomes.waves += waves + entering;
        self.report_run(&invocation, event, outcomes, opened.intent, work.as_ref())
            .await
    }

    /// The first look: an echo of Tourniquet's own notice, an event over the cap, where the
    /// targets are, and whether the incident is too large for one invocation.
    async fn admit(
        &self,
        incident: &mut Incident,
        event: &Value,
        started: chrono::DateTime<Utc>,
        work: Option<&WorkRun>,
    ) -> Result<Admission, Error> {
        if work.is_none()
            && let Some(reason) = Box::pin(self.echo(incident)).await
        {
            info!(%reason, "event ignored");
            return Ok(Admission::Answered(Box::new(Report {
                source: Some(incident.source.as_str().into()),
                reason: incident.reason.clone(),
                message: Some(reason),
                waves: 1,
                ..Report::new(&incident.id, Status::Ignored, incident.dry_run)
            })));
        }
        let dry_run = self.dry_run(incident);
        info!(incident = %incident.id, source = ?incident.source, dry_run, function = self.playbook.name(), work_item = ?work.map(|w| w.item), "incident received");
        if work.is_none()
            && let Some(why) = incident.over_cap(&self.config.intake)
        {
            let report = self
                .needs_a_human(incident, dry_run, why, started, event)
                .await;
            return Ok(Admission::Answered(Box::new(report)));
        }
        // Where the targets are: an organization-wide request's accounts, a lone key's owning
        // account (sts:GetAccessKeyInfo), and the accounts nothing may be contained in. One wave
        // when there is anything to ask, beside the identity on a cold start.
        let mut waves = 0;
        let (placed, protected) = if work.is_none() {
            let (placed, w) = Box::pin(self.place(incident)).await;
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
        if work.is_none()
            && self.playbook == Playbook::Contain
            && let Some(report) = self
                .fan_out_if_large(incident, event, placed, &protected, started, waves)
                .await?
        {
            return Ok(Admission::Answered(Box::new(report)));
        }
        Ok(Admission::Open { protected, waves })
    }

    /// Dispatches the incident as work items when it is larger than one invocation carries.
    /// Whether to fan out needs no identity: a target of no known account is the function's own,
    /// whichever that is.
    async fn fan_out_if_large(
        &self,
        incident: &Incident,
        event: &Value,
        placed: Option<&Principal>,
        protected: &BTreeMap<String, String>,
        started: chrono::DateTime<Utc>,
        mut waves: u32,
    ) -> Result<Option<Report>, Error> {
        let known = |t: &Target| {
            t.principal
                .as_ref()
                .map(|p| p.account_id.clone())
                .or_else(|| t.account_id.clone())
        };
        let distinct: BTreeSet<Option<String>> = incident.targets.iter().map(known).collect();
        let Some(why) = self
            .config
            .fanout
            .fan_out(distinct.len(), incident.targets.len())
        else {
            return Ok(None);
        };
        let me = match placed {
            Some(me) => me,
            None => {
                let mut identity = 0;
                let me = self.me(&mut identity).await?;
                waves += identity;
                me
            }
        };
        let accounts: Vec<String> = incident.targets.iter().map(|t| account_of(t, me)).collect();
        let dry_run = self.dry_run(incident);
        Box::pin(self.dispatch(
            incident, event, &accounts, protected, why, started, dry_run, waves,
        ))
        .await
        .map(Some)
    }

    /// One wave before the first IAM write: the run's intent is stored (a run that dies before
    /// its report still leaves a ledger a release understands) and the incident's ledger is
    /// listed (a detection re-delivered after a release must not undo the humans' decision; a
    /// replay keeps the cutoff its ledger records), beside the identity call on a cold start.
    async fn open_run(
        &self,
        incident: &Incident,
        work: Option<&WorkRun>,
        started: chrono::DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Opened<'_>, Error> {
        let cutoff = match work {
            Some(w) => w.record.cutoff.clone(),
            None => plan::session_cutoff(started),
        };
        let prefix = match work {
            Some(w) => format!(
                "{}/{}/{}",
                ledger::ROOT,
                incident.id,
                ledger::item_run(started, w.item, &w.dispatch)
            ),
            None => ledger::run_prefix(&incident.id, started),
        };
        let intent = self.intent(incident, dry_run, &cutoff);
        let mut identity = 0;
        let (me, ledger, intent) = tokio::join!(
            self.me(&mut identity),
            evidence::incident_keys(&*self.evidence, &incident.id),
            self.store_intent(intent, &prefix, started)
        );
        let me = me?;
        let ledger = ledger.map_err(Arc::new);
        // A work item's ledger is the incident's own runs and its item's, not the other items'.
        let ledger = match work {
            Some(w) => ledger.map(|keys| {
                keys.into_iter()
                    .filter(|k| fanout::in_item_ledger(k, &w.dispatch, w.item))
                    .collect()
            }),
            None => ledger,
        };
        Ok(Opened {
            me,
            ledger,
            intent,
            cutoff,
            prefix,
            // The identity (on a cold start), the ledger's listing and the intent went out
            // together: one wave before the first IAM write.
            waves: 1,
        })
    }

    /// Phase 1, resolve: every target to its principal, each principal once. Phases 2 to 4,
    /// contain, investigate, record: every principal at once, in its own lane of the paced queue
    /// (the order the event names them), writes ahead of reads; and every Identity Center user,
    /// in Identity Center, beside them. Phase 5, the hunt: what the credentials did, after every
    /// containment write; what they left is contained as more targets of the incident.
    async fn contain_and_hunt(&self, invocation: &Invocation<'_>, work: bool) -> Outcomes {
        let (resolved, mut waves) = self.resolve(invocation).await;
        let centered = futures::future::join_all(
            invocation
                .incident
                .identity_center_users
                .iter()
                .map(|claim| self.contain_identity_center(claim, invocation)),
        );
        let contained = self.contain_in_lanes(resolved, invocation);
        let (mut runs, centered): (Vec<TargetRun>, Vec<TargetRun>) =
            tokio::join!(contained, centered);
        runs.extend(centered);
        waves += runs.iter().map(|r| r.waves).max().unwrap_or(0);
        let hunted = match self.hunts(work) {
            true => Box::pin(self.hunt(invocation, &runs)).await,
            false => None,
        };
        match hunted {
            Some(hunted) => {
                runs.extend(hunted.runs);
                Outcomes {
                    runs,
                    hunted: Some((hunted.summary, hunted.activity)),
                    follow_intent: hunted.intent,
                    waves: waves + hunted.waves,
                }
            }
            None => Outcomes {
                runs,
                hunted: None,
                follow_intent: None,
                waves,
            },
        }
    }

    /// Contains each resolved principal in its own lane of the paced queue (the order the event
    /// names them), writes ahead of reads; a target stopped before its first step stays stopped.
    pub(super) async fn contain_in_lanes(
        &self,
        resolved: Vec<Resolved<'_>>,
        invocation: &Invocation<'_>,
    ) -> Vec<TargetRun> {
        futures::future::join_all(resolved.into_iter().enumerate().map(|(lane, r)| {
            let ticket = Ticket {
                lane: u32::try_from(lane).unwrap_or(u32::MAX),
                urgent: false,
            };
            pace::ticket(ticket, async move {
                match r {
                    Err(stopped) => stopped,
                    Ok((principal, keys, iam)) => {
                        self.contain_resolved(iam, principal, &keys, invocation, invocation.prefix)
                            .await
                    }
                }
            })
        }))
        .await
    }

    /// Phase 6, the report: the humans first (the message names where the evidence is going; a
    /// work item tells nobody: the incident's summary does, once, when its last item ends), then
    /// the evidence, the log line, and a work item's conclusion.
    async fn report_run(
        &self,
        invocation: &Invocation<'_>,
        event: &Value,
        outcomes: Outcomes,
        intent: Option<(EvidenceObject, Option<String>)>,
        work: Option<&WorkRun>,
    ) -> Result<Report, Error> {
        let (incident, dry_run, prefix) =
            (invocation.incident, invocation.dry_run, invocation.prefix);
        let (targets, records): (Vec<TargetReport>, Vec<Vec<Upload>>) = outcomes
            .runs
            .into_iter()
            .map(|r| (r.report, r.records))
            .unzip();
        let (activity, events) = outcomes.hunted.unzip();
        let mut report = self.report_of(incident, targets, activity, outcomes.waves, dry_run);
        let ledger_keys = invocation.ledger.as_deref().unwrap_or_default();
        let notified = match work {
            Some(_) => None,
            // Boxed: nested, the futures are too deep for the compiler's layout computation.
            None => Box::pin(self.notify(&mut report, Some(incident), ledger_keys, prefix)).await,
        };
        if !dry_run {
            let uploads = records
                .into_iter()
                .flatten()
                .chain(notified.map(|o| self.upload(o, invocation.started)))
                .chain(work.map(|w| self.upload_outcome(&report, prefix, w, invocation.started)))
                .chain(events.map(|events| {
                    let key = format!("{prefix}/{}", crate::hunt::ACTIVITY_OBJECT);
                    self.upload(EvidenceObject::json(key, &events), invocation.started)
                }))
                .collect();
            let extra = Extra {
                stored: intent.into_iter().chain(outcomes.follow_intent).collect(),
                uploads,
                ..Extra::default()
            };
            self.store_evidence(
                &mut report,
                prefix,
                &incident.id,
                invocation.started,
                event,
                extra,
            )
            .await;
        }
        info!(
            incident = %report.incident_id,
            status = ?report.status,
            waves = report.waves,
            report = %serde_json::to_string(&report).unwrap_or_default(),
            "{}", report.summary()
        );
        if let Some(w) = work
            && !dry_run
        {
            Box::pin(self.conclude(&incident.id, w)).await;
        }
        record::answer(report)
    }

    /// The run's report from its targets' and the hunt's: `partial` when a malformed entity was
    /// skipped (it needs a human), `hunted` when only the hunt found anything.
    fn report_of(
        &self,
        incident: &Incident,
        targets: Vec<TargetReport>,
        activity: Option<crate::hunt::Summary>,
        waves: u32,
        dry_run: bool,
    ) -> Report {
        let skipped = skipped_of(incident);
        let mut status =
            Report::status_from_targets(&targets, dry_run && self.playbook != Playbook::Snapshot);
        if !skipped.is_empty() && !dry_run {
            // The skipped part needs a human: the error puts it in front of the alarm and the
            // dead-letter queue, and a retry finds the rest already in place.
            status = Status::Partial;
        }
        if status == Status::Ignored && targets.is_empty() && activity.is_some() {
            status = Status::Hunted;
        }
        Report {
            source: Some(incident.source.as_str().into()),
            reason: incident.reason.clone(),
            waves,
            targets,
            skipped,
            activity,
            ..Report::new(&incident.id, status, dry_run)
        }
    }

    /// A work item's outcome object, which the incident's summary is made from.
    fn upload_outcome(
        &self,
        report: &Report,
        prefix: &str,
        work: &WorkRun,
        started: chrono::DateTime<Utc>,
    ) -> Upload {
        let object = EvidenceObject::json(
            format!("{prefix}/{}", fanout::outcome_object(report.status)),
            &fanout::Outcome {
                incident_id: report.incident_id.clone(),
                dispatch: work.dispatch.clone(),
                item: work.item,
                status: report.status,
                summary: report.summary(),
            },
        );
        self.upload(object, started)
    }
}
