//! Phase 6, hunt: what the compromised credentials did, read from CloudTrail's event history after
//! every containment write of the run, and `contain`'s steps for the principals they left behind
//! (each a target of the same incident, its `cause` the CloudTrail event). The second hunt, queued
//! for when CloudTrail's history has caught up, runs the same phase in the `hunt` function.

use super::*;
use crate::hunt::{self, Activity, Attribute, Credential, FollowOn, Summary};
use crate::ledger;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use serde::{Deserialize, Serialize};

/// `LookupEvents` answers 2 requests a second per account and region: each region's client is
/// paced to it.
pub const LOOKUPS_PER_SECOND: f64 = 2.0;

/// Credentials one hunt follows at most, those it finds (keys the attacker was issued) included.
pub const MAX_CREDENTIALS: usize = 25;

/// Pages (50 events each) read per credential and region at most: 40 pages take 20 s at
/// `LookupEvents`' rate.
pub const MAX_PAGES: usize = 40;

/// The second hunt's request, stored in the evidence bucket; the queued message only names it.
pub const SECOND_HUNT_OBJECT: &str = "second-hunt.json";

/// The folder of the run's evidence where the intent of the hunt's follow-on containments is
/// stored (`<run>/hunt/intent.json`) before their first write: a run that dies before its report
/// still leaves a ledger a release understands (its report is the run's own, one folder up).
pub const INTENT_FOLDER: &str = "hunt";

/// What a hunt asks for: the hunt function's request (`{"hunt": {...}}`), and the second hunt's
/// stored request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The incident the hunt belongs to: what it contains joins that incident's ledger.
    pub incident_id: String,
    /// Access key ids to hunt (`AKIA...`, `ASIA...`).
    #[serde(default)]
    pub access_key_ids: Vec<String>,
    /// IAM users to hunt by name (their ARNs).
    #[serde(default)]
    pub users: Vec<String>,
    /// The account the keys are hunted in: the function's own when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Where the window starts: 90 days back when unset, and never earlier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<chrono::DateTime<Utc>>,
    /// 1 for a first hunt, 2 for the one `contain` queued.
    #[serde(default = "first_round")]
    pub round: u32,
    /// Plan only: read CloudTrail, contain nothing.
    #[serde(default)]
    pub dry_run: bool,
}

fn first_round() -> u32 {
    1
}

/// The hunt's result, for the report.
pub(super) struct HuntRun {
    pub summary: Summary,
    pub activity: Vec<Activity>,
    pub runs: Vec<TargetRun>,
    pub waves: u32,
    /// The follow-ons' intent, as stored (for the manifest).
    pub intent: Option<(EvidenceObject, Option<String>)>,
}

impl Request {
    /// The request of a `{"hunt": {...}}` event, checked: an error names the field.
    pub fn parse(event: &Value) -> Result<Self, InputError> {
        let body = event.get("hunt").ok_or_else(|| {
            InputError::new(
                "hunt",
                "missing: the hunt function takes {\"hunt\": {\"incident_id\": ..., \
                     \"access_key_ids\": [...], \"users\": [...]}} (see the README, The hunt)",
            )
        })?;
        let request: Self = serde_path_to_error::deserialize(body).map_err(|e| {
            InputError::new(
                format!("hunt.{}", e.path()).trim_end_matches('.'),
                e.inner().to_string(),
            )
        })?;
        intake::check_incident_id("hunt.incident_id", &request.incident_id)?;
        for (i, key) in request.access_key_ids.iter().enumerate() {
            crate::principal::check_access_key_id(key)
                .map_err(|e| InputError::new(format!("hunt.access_key_ids[{i}]"), e))?;
        }
        for (i, arn) in request.users.iter().enumerate() {
            let field = format!("hunt.users[{i}]");
            let user = Principal::parse_arn(arn).map_err(|e| InputError::new(&field, e))?;
            if user.kind != PrincipalKind::User {
                return Err(InputError::new(
                    field,
                    format!("{arn} is not an IAM user: hunt a role's session by its key id"),
                ));
            }
        }
        if let Some(account) = &request.account_id
            && (account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(InputError::new(
                "hunt.account_id",
                format!("`{account}` is not a 12-digit account id"),
            ));
        }
        if request.access_key_ids.is_empty() && request.users.is_empty() {
            return Err(InputError::new(
                "hunt",
                "names nothing to hunt: give access_key_ids, users, or both",
            ));
        }
        if !(1..=2).contains(&request.round) {
            return Err(InputError::new("hunt.round", "must be 1 or 2"));
        }
        Ok(request)
    }

    /// The incident it hunts for: no target of its own; the credentials are the hunt's seeds.
    pub(super) fn incident(&self, trigger: Trigger, me: &Principal) -> Incident {
        let account = self.account_id.as_deref().unwrap_or(&me.account_id);
        let mut seeds: Vec<Credential> = self
            .access_key_ids
            .iter()
            .map(|k| Credential::key(k, account, None))
            .collect();
        for arn in &self.users {
            if let Ok(user) = Principal::parse_arn(arn) {
                seeds.push(Credential::user(&user.name, arn, &user.account_id));
            }
        }
        Incident {
            reason: Some(match self.round {
                2 => "second hunt: CloudTrail's event history caught up".into(),
                _ => "hunt by hand".into(),
            }),
            dry_run: self.dry_run,
            first_seen: self.since,
            hunt: Some(Box::new(hunt::Seeds {
                credentials: seeds,
                round: self.round,
            })),
            ..Incident::new(
                self.incident_id.clone(),
                Source::Manual,
                trigger,
                Vec::new(),
            )
        }
    }
}

/// The follow-ons a run may contain: each parsed, and no more than the room the cap leaves;
/// the rest refused for a human, each naming what the hunt found it by.
struct FollowOns {
    targets: Vec<Target>,
    causes: Vec<(Principal, String)>,
    refused: Vec<TargetRun>,
}

fn admit_follow_ons(follow_ons: Vec<FollowOn>, cap: usize, room: usize) -> FollowOns {
    let mut admitted = FollowOns {
        targets: Vec::new(),
        causes: Vec::new(),
        refused: Vec::new(),
    };
    for (i, f) in follow_ons.into_iter().enumerate() {
        let cause = f.cause();
        let refusal = match Principal::parse_arn(&f.principal_arn) {
            Err(e) => Some((
                f.principal_arn.clone(),
                String::new(),
                format!("the hunt found it, but {e}: look at it by hand"),
            )),
            Ok(principal) if i >= room => Some((
                principal.arn(),
                principal.account_id.clone(),
                format!(
                    "needs a human: the hunt found more principals than the {cap} one run may \
                     contain (MAX_PRINCIPALS_PER_EVENT, or the request's max_principals)"
                ),
            )),
            Ok(principal) => {
                admitted.causes.push((principal.clone(), cause.clone()));
                admitted
                    .targets
                    .push(Target::principal(principal, f.access_key_ids));
                None
            }
        };
        if let Some((arn, account, why)) = refusal {
            let mut r = stop(Status::Refused, arn, &account, why, 0);
            r.report.cause = Some(cause);
            admitted.refused.push(r);
        }
    }
    admitted
}

/// One lookup's answer: the records, and a warning when it could not read them all.
type Looked = (Vec<Value>, Option<String>);

/// What a hunt has read so far: the credentials hunted, the next generation to hunt (the keys
/// the last one issued), the activity found, and one CloudTrail client per account and region.
#[derive(Default)]
struct Trail {
    clients: BTreeMap<(String, String), aws_sdk_cloudtrail::Client>,
    hunted: Vec<Credential>,
    activity: Vec<Activity>,
    generation: Vec<Credential>,
    warnings: Vec<String>,
}

impl Trail {
    /// Adds a credential to the next generation unless it was hunted or is there already.
    fn push(&mut self, c: Credential) {
        let same = |h: &Credential| h.value == c.value && h.account_id == c.account_id;
        if !self.hunted.iter().any(same) && !self.generation.iter().any(same) {
            self.generation.push(c);
        }
    }

    /// Holds the next generation to what the hunt may still follow, saying what it leaves;
    /// whether anything is left to hunt.
    fn cap(&mut self) -> bool {
        let room = MAX_CREDENTIALS.saturating_sub(self.hunted.len());
        if self.generation.len() > room {
            self.warnings.push(format!(
                "{} credentials not hunted ({}): a hunt follows {MAX_CREDENTIALS} at most; \
                 hunt them by hand with the hunt function",
                self.generation.len() - room,
                self.generation[room..]
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            self.generation.truncate(room);
        }
        !self.generation.is_empty()
    }

    /// One generation's answers: each record by the credential classified once (by its event
    /// id); the keys they issued, to hunt next.
    fn absorb(&mut self, answers: Vec<(&Credential, &String, Looked)>) -> Vec<Credential> {
        let mut issued = Vec::new();
        for (credential, region, (records, warning)) in answers {
            self.warnings
                .extend(warning.map(|w| format!("{credential} in {region}: {w}")));
            for record in records.iter().filter(|r| hunt::is_by(r, credential)) {
                let Some(a) = hunt::classify(record) else {
                    continue;
                };
                if self.activity.iter().any(|b| b.event_id == a.event_id) {
                    continue;
                }
                if let Some(key) = &a.issued_key {
                    let account = record["recipientAccountId"].as_str().unwrap_or_default();
                    issued.push(Credential::key(key, account, Some(a.event_id.clone())));
                }
                self.activity.push(a);
            }
        }
        issued
    }
}

impl Responder {
    /// Whether this run hunts: `contain` (unless `HUNT=false`) and `hunt`, never a fanned-out
    /// work item (the incident's own run hunts), never without a CloudTrail endpoint.
    pub(super) fn hunts(&self, work: bool) -> bool {
        !work
            && match self.playbook {
                Playbook::Hunt => true,
                Playbook::Contain => self.config.hunt.enabled,
                _ => false,
            }
    }

    /// The hunt after the containment: the credentials the incident names (and those it hunts by
    /// hand), what they did in every region configured, and the principals they left contained.
    /// `None` when the incident names no credential to hunt (a role named by its ARN alone).
    pub(super) async fn hunt(
        &self,
        run: &Invocation<'_>,
        primaries: &[TargetRun],
    ) -> Option<HuntRun> {
        let incident = run.incident;
        let me = run.me;
        let mut seeds = incident
            .hunt
            .as_ref()
            .map(|h| h.credentials.clone())
            .unwrap_or_default();
        for target in &incident.targets {
            let account = account_of(target, me);
            for key in &target.access_key_ids {
                seeds.push(Credential::key(key, &account, None));
            }
        }
        for r in primaries.iter().map(|r| &r.report) {
            let contained = !matches!(r.status, Status::Refused | Status::Ignored);
            if let Ok(p) = Principal::parse_arn(&r.principal_arn)
                && contained
                && p.kind == PrincipalKind::User
            {
                seeds.push(Credential::user(&p.name, &p.arn(), &p.account_id));
            }
        }
        if seeds.is_empty() {
            return None;
        }
        let now = run.started;
        let (from, to) = hunt::window(incident.first_seen, None, now);
        let home = self
            .trail
            .as_ref()
            .and_then(|s| s.region())
            .map_or("us-east-1".to_owned(), |r| r.to_string());
        let regions = self.config.hunt.regions(&home);
        let mut summary = Summary {
            round: incident.hunt.as_ref().map_or(1, |h| h.round),
            regions: regions.clone(),
            from: from.to_rfc3339_opts(SecondsFormat::Secs, true),
            to: to.to_rfc3339_opts(SecondsFormat::Secs, true),
            ..Summary::default()
        };
        let (activity, hunted, warnings, waves) =
            self.read_trails(run, seeds, &regions, (from, to)).await;
        summary.hunted = hunted.iter().map(ToString::to_string).collect();
        summary.warnings = warnings;
        info!(incident = %incident.id, events = activity.len(), hunted = hunted.len(), "hunted");

        // The principals it left, under every guard the incident's own went through.
        let own: Vec<Principal> = primaries
            .iter()
            .filter_map(|r| Principal::parse_arn(&r.report.principal_arn).ok())
            .collect();
        let already =
            |arn: &str| Principal::parse_arn(arn).is_ok_and(|p| own.iter().any(|o| o.same_as(&p)));
        let follow_ons = hunt::follow_ons(&activity, already);
        summary.followed = follow_ons.len();
        let (runs, follow_waves, intent) = self.follow(run, follow_ons, primaries.len()).await;
        if summary.round == 1 && !run.dry_run {
            match self.queue_second_hunt(run, &hunted, from).await {
                Ok(at) => summary.second_hunt = at,
                Err(e) => summary.warnings.push(e),
            }
        }
        Some(HuntRun {
            summary: summary.of(&activity),
            activity,
            runs,
            waves: waves + follow_waves,
            intent,
        })
    }

    /// Every credential's events in every region, paced, generation by generation: the keys a
    /// generation's events issued (`AssumeRole`, `GetSessionToken`, `CreateAccessKey`...) are the
    /// next. Returns the events (each once), the credentials hunted, what could not be read, and
    /// the waves.
    async fn read_trails(
        &self,
        run: &Invocation<'_>,
        seeds: Vec<Credential>,
        regions: &[String],
        window: (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
    ) -> (Vec<Activity>, Vec<Credential>, Vec<String>, u32) {
        let mut trail = Trail::default();
        let mut waves = 0;
        for seed in seeds {
            trail.push(seed);
        }
        while trail.cap() {
            let current = std::mem::take(&mut trail.generation);
            let mut lookups = Vec::new();
            for credential in &current {
                for region in regions {
                    let Some(client) = self.trail_client(&mut trail, run, credential, region)
                    else {
                        continue;
                    };
                    lookups.push(async move {
                        let found = lookup(&client, credential, window, run.stop_reading).await;
                        (credential, region, found)
                    });
                }
            }
            waves += 1;
            let answers = futures::future::join_all(lookups).await;
            let issued = trail.absorb(answers);
            trail.hunted.extend(current);
            for c in issued {
                trail.push(c);
            }
        }
        // Chronological: each lookup answers newest first; a stable sort keeps a second's order.
        let mut activity = trail.activity;
        activity.reverse();
        activity.sort_by(|a, b| a.event_time.cmp(&b.event_time));
        (activity, trail.hunted, trail.warnings, waves)
    }

    /// The CloudTrail client of an account and region, built once per hunt; `None` (and a
    /// warning) when the account cannot be read.
    fn trail_client(
        &self,
        trail: &mut Trail,
        run: &Invocation<'_>,
        credential: &Credential,
        region: &str,
    ) -> Option<aws_sdk_cloudtrail::Client> {
        let key = (credential.account_id.clone(), region.to_owned());
        if let Some(client) = trail.clients.get(&key) {
            return Some(client.clone());
        }
        match self.cloudtrail(run, &credential.account_id, region) {
            Ok(client) => {
                trail.clients.insert(key, client.clone());
                Some(client)
            }
            Err(why) => {
                trail
                    .warnings
                    .push(format!("{credential} in {region}: {why}"));
                None
            }
        }
    }

    /// A CloudTrail client for `account` in `region`, paced to `LookupEvents`' rate: the own
    /// account's credentials, or the member role's the run entered the account with.
    fn cloudtrail(
        &self,
        run: &Invocation<'_>,
        account: &str,
        region: &str,
    ) -> Result<aws_sdk_cloudtrail::Client, String> {
        let sdk = self
            .trail
            .as_ref()
            .ok_or("no CloudTrail client: the responder was built without an SDK configuration")?;
        let mut config = aws_sdk_cloudtrail::config::Builder::from(sdk)
            .region(aws_sdk_cloudtrail::config::Region::new(region.to_owned()));
        if account != run.me.account_id {
            let credentials = run.accounts.credentials(account).map_err(|why| match why {
                Blocked::NotConfigured(w) | Blocked::Failed(w) => w,
            })?;
            config = config.credentials_provider(credentials);
        }
        let inner = sdk.http_client().unwrap_or_else(pace::default_https_client);
        let config = config
            .http_client(PacedClient::new(inner, LOOKUPS_PER_SECOND))
            .stalled_stream_protection(
                aws_sdk_cloudtrail::config::StalledStreamProtectionConfig::disabled(),
            )
            .build();
        Ok(aws_sdk_cloudtrail::Client::from_conf(config))
    }

    /// Contains the principals the hunt found, as targets of the same incident: the same
    /// resolution, guards and steps as the incident's own. Beyond the incident's cap on principals
    /// (what its own targets left of it), each is refused for a human.
    async fn follow(
        &self,
        run: &Invocation<'_>,
        follow_ons: Vec<FollowOn>,
        primaries: usize,
    ) -> (
        Vec<TargetRun>,
        u32,
        Option<(EvidenceObject, Option<String>)>,
    ) {
        if follow_ons.is_empty() {
            return (Vec::new(), 0, None);
        }
        let cap = run
            .incident
            .max_principals
            .unwrap_or(self.config.intake.max_principals_per_event);
        let admitted = admit_follow_ons(follow_ons, cap, cap.saturating_sub(primaries));
        let (mut runs, waves, stored) = if admitted.targets.is_empty() {
            (Vec::new(), 0, None)
        } else {
            self.contain_follow_ons(run, admitted.targets, &admitted.causes)
                .await
        };
        runs.extend(admitted.refused);
        (runs, waves, stored)
    }

    /// Contains the follow-ons as more targets of the incident, under every guard: their intent
    /// first, beside the run's own; the accounts the run has not entered yet; then each
    /// principal in its lane, each report naming what the hunt found it by.
    async fn contain_follow_ons(
        &self,
        run: &Invocation<'_>,
        targets: Vec<Target>,
        causes: &[(Principal, String)],
    ) -> (
        Vec<TargetRun>,
        u32,
        Option<(EvidenceObject, Option<String>)>,
    ) {
        let incident = run.incident;
        let follow_incident = Incident {
            targets,
            identity_center_users: Vec::new(),
            ..incident.clone()
        };
        let intent = self.intent(&follow_incident, run.dry_run, run.cutoff);
        let folder = format!("{}/{INTENT_FOLDER}", run.prefix);
        let stored = self.store_intent(intent, &folder, run.started).await;
        let missing: BTreeSet<String> = follow_incident
            .targets
            .iter()
            .map(|t| account_of(t, run.me))
            .filter(|a| !run.protected.contains_key(a) && !run.accounts.has(a))
            .collect();
        let (entered, mut waves) = self.enter(run.me, missing, &incident.id).await;
        let accounts = run.accounts.clone().with(entered);
        let follow_run = Invocation {
            incident: &follow_incident,
            accounts: &accounts,
            ..*run
        };
        let (resolved, resolving) = self.resolve(&follow_run).await;
        waves += resolving;
        let contained = self.contain_in_lanes(resolved, &follow_run).await;
        waves += contained.iter().map(|r| r.waves).max().unwrap_or(0);
        let runs = contained
            .into_iter()
            .map(|mut r| {
                let found = Principal::parse_arn(&r.report.principal_arn).ok();
                r.report.cause = causes
                    .iter()
                    .find(|(p, _)| found.as_ref().is_some_and(|f| f.same_as(p)))
                    .map(|(_, c)| c.clone());
                r
            })
            .collect();
        (runs, waves, stored)
    }

    /// Queues the second hunt (`HUNT_QUEUE_URL`, after `HUNT_DELAY_SECONDS`): its request is
    /// stored in the evidence bucket first, and the message only names it, so that nobody who can
    /// send to the queue can aim the hunt. `Ok(None)` when no queue is configured.
    async fn queue_second_hunt(
        &self,
        run: &Invocation<'_>,
        hunted: &[Credential],
        since: chrono::DateTime<Utc>,
    ) -> Result<Option<String>, String> {
        let Some(queue) = &self.config.hunt.queue_url else {
            return Ok(None);
        };
        let request = Request {
            incident_id: run.incident.id.clone(),
            access_key_ids: hunted
                .iter()
                .filter(|c| {
                    c.attribute == Attribute::AccessKeyId && c.account_id == run.me.account_id
                })
                .map(|c| c.value.clone())
                .collect(),
            users: hunted
                .iter()
                .filter(|c| c.account_id == run.me.account_id)
                .filter_map(|c| c.owner.clone())
                .collect(),
            account_id: None,
            since: Some(since),
            round: 2,
            dry_run: false,
        };
        let key = format!("{}/{SECOND_HUNT_OBJECT}", run.prefix);
        let object = EvidenceObject::json(key.clone(), &request);
        let retention = self.config.retention.as_ref().map(|r| (r, run.started));
        evidence::put(&*self.evidence, &object, retention)
            .await
            .map_err(|e| format!("the second hunt was not queued: its request {e}"))?;
        let delay = self.config.hunt.delay_seconds;
        self.sqs
            .send_message()
            .queue_url(queue)
            .message_body(serde_json::json!({ "second_hunt": key }).to_string())
            .delay_seconds(i32::try_from(delay).unwrap_or(900))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "the second hunt was not queued: sqs:SendMessage to {queue} failed ({}); run \
                     it by hand with the hunt function and {key}",
                    describe(&e)
                )
            })?;
        let at = run.started + chrono::TimeDelta::seconds(i64::from(delay));
        Ok(Some(format!(
            "queued for {} ({key})",
            at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )))
    }

    /// The hunt function's invocation: a request by hand (`{"hunt": {...}}`), or a batch of the
    /// hunt queue's messages (the second hunts `contain` queued), each answered on its own.
    pub(super) async fn hunt_invocation(
        &self,
        event: Value,
        deadline: Option<std::time::SystemTime>,
    ) -> Result<Value, Error> {
        let mut identity = 0;
        let me = self.me(&mut identity).await?;
        let answer = if fanout_records(&event) {
            let response = dispatch::each_message(&event, deadline, |record| async move {
                let body = record.body.as_deref().unwrap_or_default();
                // A message that names no second hunt: nothing is read or changed.
                let request = self.second_hunt(body).await?;
                let incident = request.incident(Trigger::Automatic, me);
                let event = serde_json::to_value(&record).unwrap_or_default();
                Box::pin(self.respond(incident, &event, deadline, None)).await
            })
            .await?;
            serde_json::to_value(response)
        } else {
            let request = Request::parse(&event).inspect_err(|e| {
                warn!(field = %e.field, error = %e.message, "invalid hunt request; nothing was read or changed");
            })?;
            let incident = request.incident(Trigger::Human, me);
            serde_json::to_value(Box::pin(self.respond(incident, &event, deadline, None)).await?)
        };
        answer.map_err(|e| Error::Aws(format!("the answer could not be serialized: {e}")))
    }

    /// The second hunt of a queued message: the request it names, read from the evidence bucket
    /// (the message is a claim; the bucket holds what `contain` stored).
    pub(super) async fn second_hunt(&self, body: &str) -> Result<Request, InputError> {
        let message: Value = serde_json::from_str(body)
            .map_err(|e| InputError::new("body", format!("not JSON: {e}")))?;
        let key = message["second_hunt"].as_str().ok_or_else(|| {
            InputError::new(
                "body.second_hunt",
                "missing: the key of a second hunt's request",
            )
        })?;
        let parts: Vec<&str> = key.split('/').collect();
        if parts.len() != 4 || parts[0] != ledger::ROOT || parts[3] != SECOND_HUNT_OBJECT {
            return Err(InputError::new(
                "body.second_hunt",
                format!(
                    "`{key}` is not a second hunt's request ({}/<incident>/<run>/{SECOND_HUNT_OBJECT})",
                    ledger::ROOT
                ),
            ));
        }
        let bytes = evidence::read(&*self.evidence, key, None)
            .await
            .map_err(|e| InputError::new("body.second_hunt", format!("{key}: {e}")))?;
        let request: Request = serde_json::from_slice(&bytes).map_err(|e| {
            InputError::new(
                "body.second_hunt",
                format!("{key} is not a hunt request: {e}"),
            )
        })?;
        if request.incident_id != parts[1] {
            return Err(InputError::new(
                "body.second_hunt",
                format!(
                    "{key} names incident {}, not the one it is stored under",
                    request.incident_id
                ),
            ));
        }
        Request::parse(&serde_json::json!({ "hunt": request }))
    }
}

/// One credential's events in one region, page by page up to [`MAX_PAGES`] or the deadline; what
/// could not be read is the warning (the events read before it are kept).
async fn lookup(
    client: &aws_sdk_cloudtrail::Client,
    credential: &Credential,
    (from, to): (chrono::DateTime<Utc>, chrono::DateTime<Utc>),
    stop_reading: Option<tokio::time::Instant>,
) -> (Vec<Value>, Option<String>) {
    let key = match credential.attribute {
        Attribute::AccessKeyId => LookupAttributeKey::AccessKeyId,
        Attribute::Username => LookupAttributeKey::Username,
    };
    let attribute = match LookupAttribute::builder()
        .attribute_key(key)
        .attribute_value(&credential.value)
        .build()
    {
        Ok(a) => a,
        Err(e) => return (Vec::new(), Some(e.to_string())),
    };
    let mut pages = client
        .lookup_events()
        .lookup_attributes(attribute)
        .start_time(aws_smithy_types::DateTime::from_secs(from.timestamp()))
        .end_time(aws_smithy_types::DateTime::from_secs(to.timestamp()))
        .into_paginator()
        .page_size(50)
        .send();
    let mut records = Vec::new();
    let mut read = 0;
    loop {
        if read == MAX_PAGES {
            return (
                records,
                Some(format!(
                    "more than {MAX_PAGES} pages of events: the first {} were read; read the rest \
                     in the CloudTrail console or Athena",
                    MAX_PAGES * 50
                )),
            );
        }
        let next = match stop_reading {
            Some(at) => match tokio::time::timeout_at(at, pages.next()).await {
                Ok(next) => next,
                Err(_) => {
                    return (
                        records,
                        Some("stopped at the function's deadline: hunt again by hand".into()),
                    );
                }
            },
            None => pages.next().await,
        };
        let Some(page) = next else {
            return (records, None);
        };
        read += 1;
        match page {
            Ok(page) => {
                for event in page.events() {
                    match hunt::record(event.event_id(), event.cloud_trail_event()) {
                        Ok(r) => records.push(r),
                        Err(e) => warn!(error = %e, "CloudTrail record skipped"),
                    }
                }
            }
            Err(e) => {
                return (
                    records,
                    Some(format!("cloudtrail:LookupEvents failed: {}", describe(&e))),
                );
            }
        }
    }
}
