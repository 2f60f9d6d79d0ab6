//! Telling the humans (pure): the SNS message of a run, in words for an e-mail or in AWS Chatbot's
//! custom notification schema, and the note left on the Security Hub findings it acted on. The
//! responder sends them (`responder/notify.rs`); what is sent is built from the report alone, never
//! from the event, so nothing an event carries (a session token in a CloudTrail record, say)
//! reaches a message.

use crate::report::{Outcome, Report, Status, TargetReport};
use serde_json::{Value, json};

/// SNS's limit on a subject: 100 ASCII characters, no line breaks.
pub const SUBJECT_LIMIT: usize = 100;

/// Security Hub's limit on a note's text.
pub const NOTE_LIMIT: usize = 512;

/// Principals described step by step in a message; the rest are counted (SNS takes 256 KB).
pub const PRINCIPALS_IN_DETAIL: usize = 50;

/// The attacker's activity a message lists, at most (the rest are counted: every event is in the
/// evidence's `activity.json`). A flood of calls with the stolen key must never push a message
/// past SNS's 256 KB and leave the humans untold.
pub const ACTIVITY_LINES_IN_MESSAGE: usize = 100;

/// The characters of one activity line a message keeps (a line carries names the attacker
/// chose, of any length).
pub const ACTIVITY_LINE_LIMIT: usize = 300;

/// The `UserDefinedFields` key that marks a finding Tourniquet updated, with the incident's id.
pub const INCIDENT_FIELD: &str = "tourniquet:incident";

/// The `UserDefinedFields` key with the run's status.
pub const STATUS_FIELD: &str = "tourniquet:status";

/// Who the note is from (`Note.UpdatedBy`).
pub const UPDATED_BY: &str = "tourniquet";

/// The shape of the SNS message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A JSON document a human reads in an e-mail and a program parses: `NOTIFY_FORMAT=email`.
    Email,
    /// AWS Chatbot's custom notification (`version` 1.0, `source` custom): `NOTIFY_FORMAT=chatbot`.
    Chatbot,
}

/// What a message needs beyond the report.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// The evidence bucket.
    pub bucket: &'a str,
    /// The run's key prefix in it.
    pub run_prefix: &'a str,
    /// The incident's severity, as its source labelled it (`HIGH`), if it has one.
    pub severity: Option<&'a str>,
    /// The function that ran (`contain`, `release`, ...).
    pub function: &'a str,
}

/// One SNS message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// At most [`SUBJECT_LIMIT`] ASCII characters.
    pub subject: String,
    /// The body.
    pub body: String,
    /// Message attributes for subscription filters: `status`, `severity` (String) and `account`
    /// (String.Array of every account the run touched).
    pub attributes: Vec<Attribute>,
}

/// A message attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// Its name.
    pub name: &'static str,
    /// `String` or `String.Array`.
    pub data_type: &'static str,
    /// Its value (a JSON array for `String.Array`).
    pub value: String,
}

/// The status as reports spell it (`contained`, `partial`, ...).
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Contained => "contained",
        Status::Partial => "partial",
        Status::Planned => "planned",
        Status::Refused => "refused",
        Status::Ignored => "ignored",
        Status::Captured => "captured",
        Status::Released => "released",
        Status::Dispatched => "dispatched",
        Status::Hunted => "hunted",
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Applied => "applied",
        Outcome::AlreadyInPlace => "already in place",
        Outcome::Planned => "planned",
        Outcome::Skipped => "skipped",
        Outcome::Failed => "FAILED",
    }
}

/// Whether a human must act now: a refusal, a containment that did not finish, skipped input.
fn needs_a_human(report: &Report) -> bool {
    matches!(report.status, Status::Refused | Status::Partial)
}

/// Every account of `targets`, in order, once.
fn accounts<'a>(targets: &[&'a TargetReport]) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for t in targets {
        if !t.account_id.is_empty() && !out.contains(&t.account_id.as_str()) {
            out.push(&t.account_id);
        }
    }
    out
}

/// What the run acted on, in a few words: one principal's ARN ("root credentials in <account>"
/// for the root user), or how many in which accounts. A run that contained (or dispatched) some
/// principals and refused others counts those it contained; the body counts the rest.
fn what(report: &Report) -> String {
    let counted: Vec<&TargetReport> = match report.status {
        Status::Contained | Status::Dispatched => report
            .targets
            .iter()
            .filter(|t| t.status == report.status)
            .collect(),
        _ => report.targets.iter().collect(),
    };
    match &counted[..] {
        [] => "no principal".into(),
        [one] if one.principal_arn.ends_with(":root") => {
            format!("root credentials in {}", one.account_id)
        }
        [one] => one.principal_arn.clone(),
        many => {
            let accounts = accounts(many);
            let accounts = match &accounts[..] {
                [one] => (*one).to_owned(),
                more => format!("{} accounts", more.len()),
            };
            format!("{} principals in {accounts}", many.len())
        }
    }
}

/// The subject line: the status first, what it was done to, whether a human is needed, and the
/// incident when it fits.
pub fn subject(report: &Report) -> String {
    let what = what(report);
    let line = match report.status {
        Status::Contained => format!("Contained {what}"),
        Status::Partial => format!("PARTIAL containment of {what} - needs a human"),
        Status::Refused => format!("REFUSED: {what} - needs a human"),
        Status::Planned => format!("DRY RUN: would contain {what}"),
        Status::Captured => format!("Evidence captured for {what}"),
        Status::Released => format!("Released {what}"),
        Status::Ignored => format!("Ignored: {what}"),
        Status::Dispatched => format!("Dispatched {what} to the work queue"),
        Status::Hunted => format!(
            "Hunted: {} attacker events, nothing to contain",
            report.activity.as_ref().map_or(0, |a| a.events)
        ),
    };
    let line = if report.dry_run && report.status != Status::Planned {
        format!("DRY RUN: {line}")
    } else {
        line
    };
    let with_incident = format!("{line} (incident {})", report.incident_id);
    sanitize(if with_incident.len() <= SUBJECT_LIMIT {
        &with_incident
    } else {
        &line
    })
}

/// ASCII without control characters, at most [`SUBJECT_LIMIT`] characters (SNS's rule).
fn sanitize(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() <= SUBJECT_LIMIT {
        clean
    } else {
        format!("{}...", &clean[..SUBJECT_LIMIT - 3])
    }
}

/// Where the run's evidence is.
fn evidence_location(ctx: &Context<'_>) -> String {
    format!("s3://{}/{}/", ctx.bucket, ctx.run_prefix)
}

/// How to undo it, for the statuses that changed something.
fn how_to_release(report: &Report) -> Option<String> {
    matches!(report.status, Status::Contained | Status::Partial).then(|| {
        let arn = report
            .targets
            .first()
            .map_or("<principal ARN>", |t| t.principal_arn.as_str());
        // Every value is data (an IAM path may hold any printable ASCII): the serializer writes
        // it, so that no name can add a field to the request a human pastes.
        let text = |value: &str| serde_json::to_string(value).unwrap_or_default();
        // An Identity Center user is released by its user id, not by an IAM ARN.
        let who = match crate::identity_center::user_of_arn(arn) {
            Some(user) => format!("\"identity_center_user\": {}", text(user)),
            None => format!("\"principal_arn\": {}", text(arn)),
        };
        format!(
            "when the investigation is over, invoke the release function with \
             {{\"incident_id\": {}, {who}, \"dry_run\": true}}, read its \
             plan, then again with \"dry_run\": false",
            text(&report.incident_id)
        )
    })
}

/// One principal, for the message: what was done, what failed, and the advice.
fn principal(t: &TargetReport) -> Value {
    let steps: Vec<String> = t
        .steps
        .iter()
        .map(|s| {
            let route = s
                .route
                .map(|r| format!(" ({})", r.as_str()))
                .unwrap_or_default();
            let line = format!(
                "{} {}: {}{route}",
                s.action,
                s.target,
                outcome_name(s.outcome)
            );
            if matches!(s.outcome, Outcome::Failed | Outcome::Skipped) {
                format!("{line} - {}", s.detail)
            } else {
                line
            }
        })
        .collect();
    let mut out = json!({
        "principal": t.principal_arn,
        "account": t.account_id,
        "status": status_name(t.status),
        "steps": steps,
    });
    if let Some(message) = &t.message {
        out["what_to_do"] = message.clone().into();
    }
    out
}

/// How many principals ended how: "1 contained, 1 refused of 2 principals".
fn counts(report: &Report) -> String {
    let n = report.targets.len();
    let parts: Vec<String> = [
        (Status::Contained, "contained"),
        (Status::Partial, "NOT fully contained"),
        (Status::Refused, "refused"),
        (Status::Planned, "planned (dry run: nothing changed)"),
        (Status::Captured, "captured"),
        (Status::Released, "released"),
        (Status::Ignored, "left alone"),
        (Status::Dispatched, "dispatched"),
    ]
    .into_iter()
    .filter_map(|(status, word)| {
        let k = report.targets.iter().filter(|t| t.status == status).count();
        (k > 0).then(|| format!("{k} {word}"))
    })
    .collect();
    format!(
        "{} of {n} principal{}",
        parts.join(", "),
        if n == 1 { "" } else { "s" }
    )
}

/// What else a human must know, after the counts.
fn warnings(report: &Report) -> String {
    let mut text = String::new();
    if !report.skipped.is_empty() {
        text.push_str(&format!(
            " {} malformed entit{} of the event left out.",
            report.skipped.len(),
            if report.skipped.len() == 1 {
                "y"
            } else {
                "ies"
            }
        ));
    }
    match report.status {
        Status::Refused => text.push_str(" A human is needed now: see what_to_do."),
        Status::Partial => text.push_str(
            " A human is needed now: see the failed steps, the skipped entities and what_to_do.",
        ),
        _ => {}
    }
    text
}

/// What the hunt found the credential did, in one sentence, for the top of the message.
fn attacker(report: &Report) -> Option<String> {
    let activity = report.activity.as_ref()?;
    if activity.events == 0 {
        return Some(format!(
            "The hunt found nothing the credentials did ({} hunted in {}, {} to {}).",
            activity.hunted.len(),
            activity.regions.join(", "),
            activity.from,
            activity.to
        ));
    }
    let kinds: Vec<String> = activity
        .counts
        .iter()
        .map(|(kind, n)| format!("{n} {}", kind_name(*kind)))
        .collect();
    Some(format!(
        "What the attacker did: {} events in CloudTrail ({}); {} principal{} it left {} \
         followed.",
        activity.events,
        kinds.join(", "),
        activity.followed,
        if activity.followed == 1 { "" } else { "s" },
        if activity.followed == 1 {
            "was"
        } else {
            "were"
        }
    ))
}

fn kind_name(kind: crate::hunt::Kind) -> &'static str {
    match kind {
        crate::hunt::Kind::NewCredential => "new credentials or principals",
        crate::hunt::Kind::PrivilegeChange => "privilege changes",
        crate::hunt::Kind::LateralMovement => "lateral movement",
        crate::hunt::Kind::DefenceEvasion => "defence evasion",
        crate::hunt::Kind::ComputePersistence => "compute and code persistence",
    }
}

/// The summary sentence that opens every message: what the attacker did first, when hunted.
fn summary(report: &Report) -> String {
    let how = match report.source.as_deref() {
        None | Some("manual") => "on a responder's request".to_owned(),
        Some(source) => format!("on a detection from {source}"),
    };
    let ran = format!(
        "Tourniquet ran {how} for incident {}: {}.{}",
        report.incident_id,
        counts(report),
        warnings(report)
    );
    match attacker(report) {
        Some(did) => format!("{did} {ran}"),
        None => ran,
    }
}

/// The message of a run.
pub fn message(report: &Report, ctx: &Context<'_>, format: Format) -> Message {
    let subject = subject(report);
    let status = status_name(report.status);
    let severity = ctx.severity.unwrap_or("UNSPECIFIED").to_owned();
    let accounts = accounts(&report.targets.iter().collect::<Vec<_>>());
    let body = match format {
        Format::Email => email_body(report, ctx, &severity, &accounts),
        Format::Chatbot => chatbot_body(report, ctx, &subject, &severity),
    };
    Message {
        subject,
        body,
        attributes: vec![
            Attribute {
                name: "status",
                data_type: "String",
                value: status.into(),
            },
            Attribute {
                name: "severity",
                data_type: "String",
                value: severity,
            },
            Attribute {
                name: "account",
                data_type: "String.Array",
                value: serde_json::to_string(&accounts).unwrap_or_default(),
            },
        ],
    }
}

/// The attacker's activity as a message lists it: the first [`ACTIVITY_LINES_IN_MESSAGE`]
/// lines, each cut at [`ACTIVITY_LINE_LIMIT`] characters, and the rest counted.
fn activity_lines(lines: &[String]) -> Vec<String> {
    let mut listed: Vec<String> = lines
        .iter()
        .take(ACTIVITY_LINES_IN_MESSAGE)
        .map(|line| match line.char_indices().nth(ACTIVITY_LINE_LIMIT) {
            Some((end, _)) => format!("{}...", &line[..end]),
            None => line.clone(),
        })
        .collect();
    let more = lines.len().saturating_sub(ACTIVITY_LINES_IN_MESSAGE);
    if more > 0 {
        listed.push(format!(
            "... and {more} more events: see activity.json in the evidence"
        ));
    }
    listed
}

/// The e-mail's body: pretty JSON a human reads top down, the summary first, and the principals
/// past [`PRINCIPALS_IN_DETAIL`] counted, not listed.
fn email_body(report: &Report, ctx: &Context<'_>, severity: &str, accounts: &[&str]) -> String {
    let mut principals: Vec<Value> = report
        .targets
        .iter()
        .take(PRINCIPALS_IN_DETAIL)
        .map(principal)
        .collect();
    let more = report.targets.len().saturating_sub(PRINCIPALS_IN_DETAIL);
    if more > 0 {
        principals
            .push(format!("... and {more} more principals: see the report in the evidence").into());
    }
    let mut doc = json!({
        "summary": summary(report),
        "attacker_activity": report.activity.as_ref().map(|a| activity_lines(&a.lines)),
        "status": status_name(report.status),
        "severity": severity,
        "incident_id": report.incident_id,
        "function": ctx.function,
        "dry_run": report.dry_run,
        "source": report.source.as_deref().unwrap_or("manual"),
        "reason": report.reason,
        "accounts": accounts,
        "principals": principals,
        "evidence": evidence_location(ctx),
    });
    if report.activity.is_none()
        && let Some(map) = doc.as_object_mut()
    {
        map.shift_remove("attacker_activity");
    }
    if let Some(message) = &report.message {
        doc["message"] = message.clone().into();
    }
    if !report.skipped.is_empty() {
        doc["skipped"] = report
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.field, s.error))
            .collect();
    }
    if let Some(release) = how_to_release(report) {
        doc["release"] = release.into();
    }
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// Text for Chatbot's markdown that stays text: names in it are data, so nothing in them may
/// close a code span, mention a channel (`<!here>`) or make a link.
fn markdown_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
        .replace('[', "(")
        .replace(']', ")")
}

/// A name as a code span no character in it can close.
fn code_span(text: &str) -> String {
    format!("`{}`", markdown_text(text))
}

/// The body of an AWS Chatbot custom notification: one markdown line per principal (up to
/// [`PRINCIPALS_IN_DETAIL`]), the next steps, and the thread the incident's messages share.
fn chatbot_body(report: &Report, ctx: &Context<'_>, subject: &str, severity: &str) -> String {
    let status = status_name(report.status);
    let mut lines: Vec<String> = report
        .targets
        .iter()
        .take(PRINCIPALS_IN_DETAIL)
        .map(|t| {
            let mut line = format!(
                "*{}* {}",
                status_name(t.status),
                code_span(&t.principal_arn)
            );
            if let Some(m) = &t.message {
                line.push_str(&format!(": {}", markdown_text(m)));
            }
            line
        })
        .collect();
    let more = report.targets.len().saturating_sub(PRINCIPALS_IN_DETAIL);
    if more > 0 {
        lines.push(format!("... and {more} more principals"));
    }
    let mut next = vec![format!(
        "Evidence: {}",
        markdown_text(&evidence_location(ctx))
    )];
    next.extend(how_to_release(report).map(|r| markdown_text(&r)));
    let related: Vec<&str> = report
        .targets
        .iter()
        .take(PRINCIPALS_IN_DETAIL)
        .map(|t| t.principal_arn.as_str())
        .collect();
    let title = if needs_a_human(report) {
        format!(":rotating_light: {subject}")
    } else {
        subject.to_owned()
    };
    let doc = json!({
        "version": "1.0",
        "source": "custom",
        "id": report.incident_id,
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": format!("{}\n{}", summary(report), lines.join("\n")),
            "nextSteps": next,
            "keywords": [status, severity, ctx.function],
        },
        "metadata": {
            "threadId": report.incident_id,
            "summary": subject,
            "eventType": format!("tourniquet.{status}"),
            "relatedResources": related,
            "additionalContext": {
                "incident_id": report.incident_id,
                "status": status,
                "evidence": evidence_location(ctx),
            },
        },
    });
    serde_json::to_string(&doc).unwrap_or_default()
}

/// The note on the Security Hub findings the run acted on (at most [`NOTE_LIMIT`] characters):
/// what was done, where the evidence is, and, for a partial or refused run, that a human is needed.
pub fn finding_note(report: &Report, ctx: &Context<'_>) -> String {
    let mut text = format!(
        "{}Tourniquet {}, incident {}: {}.{} Evidence: {}",
        if needs_a_human(report) {
            "NEEDS A HUMAN. "
        } else {
            ""
        },
        status_name(report.status),
        report.incident_id,
        counts(report),
        warnings(report),
        evidence_location(ctx),
    );
    if text.chars().count() > NOTE_LIMIT {
        text = text.chars().take(NOTE_LIMIT - 3).collect::<String>() + "...";
    }
    text
}

/// The object a run leaves in its evidence when it told the humans: `<run>/notified-<status>.json`.
pub fn notified_key(run_prefix: &str, status: Status) -> String {
    format!("{run_prefix}/notified-{}.json", status_name(status))
}

/// The notification a run would repeat: in the incident's keys (its ledger), a `notified-*.json`
/// of `status` (any status with `None`) left by a run that started no earlier than `last_seen`,
/// the activity the incident reports (the run already told of it). Newest first.
pub fn earlier_notice(
    keys: &[String],
    status: Option<Status>,
    last_seen: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<&str> {
    keys.iter().rev().map(String::as_str).find(|key| {
        let Some((run, object)) = key.rsplit_once('/') else {
            return false;
        };
        let told = match status {
            Some(status) => object == format!("notified-{}.json", status_name(status)),
            None => object.starts_with("notified-") && object.ends_with(".json"),
        };
        let started = run
            .rsplit_once('/')
            .and_then(|(_, run)| crate::ledger::stamp(run));
        told && match (started, last_seen) {
            (Some(started), Some(seen)) => started >= seen,
            (Some(_), None) => true,
            (None, _) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Route};
    use crate::report::{Skipped, StepReport};

    fn ctx() -> Context<'static> {
        Context {
            bucket: "tq-evidence",
            run_prefix: "incidents/guardduty-abc/20261202T030405.000Z",
            severity: Some("HIGH"),
            function: "contain",
        }
    }

    fn contained_user() -> Report {
        let mut deny = StepReport::new(
            Action::AttachDenyAll,
            "TourniquetDenyAll",
            Outcome::Applied,
            "deny-all in place".into(),
        );
        deny.route = Some(Route::Inline);
        Report {
            source: Some("aws.guardduty".into()),
            reason: Some("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration".into()),
            targets: vec![TargetReport {
                principal_arn: "arn:aws:iam::111122223333:user/ci-deployer".into(),
                account_id: "111122223333".into(),
                status: Status::Contained,
                message: None,
                cause: None,
                steps: vec![
                    deny,
                    StepReport::new(
                        Action::DeactivateAccessKey,
                        "AKIAIOSFODNN7EXAMPLE",
                        Outcome::Applied,
                        "set to Inactive".into(),
                    ),
                ],
            }],
            ..Report::new("guardduty-abc", Status::Contained, false)
        }
    }

    #[test]
    fn names_in_a_message_are_data_that_can_neither_add_a_field_nor_escape_the_markdown() {
        // GIVEN a user the attacker created on a path made to inject
        let path = "/x\", \"reactivate_access_keys\": [\"AKIAIOSFODNN7EXAMPLE\"], \"y\": \"`<!here>`[click](https://evil.example)/";
        let mut report = contained_user();
        report.targets[0].principal_arn = format!("arn:aws:iam::111122223333:user{path}backdoor");
        report.targets[0].message = Some(format!("see {path}"));

        // WHEN the humans' messages are worded
        let email = message(&report, &ctx(), Format::Email);
        let chatbot = message(&report, &ctx(), Format::Chatbot);

        // THEN the release request in the e-mail parses to exactly its three fields, the ARN as
        // one string
        let body: Value = serde_json::from_str(&email.body).unwrap();
        let release = body["release"].as_str().unwrap();
        let start = release.find('{').unwrap();
        let end = release.find(", read its plan").unwrap();
        let request: Value = serde_json::from_str(&release[start..end]).unwrap();
        assert_eq!(
            request.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["incident_id", "principal_arn", "dry_run"]
        );
        assert_eq!(request["principal_arn"], report.targets[0].principal_arn);
        // AND the Chatbot markdown carries no mention, no link and no way out of the code span
        let chat: Value = serde_json::from_str(&chatbot.body).unwrap();
        let markdown = format!(
            "{} {}",
            chat["content"]["description"], chat["content"]["nextSteps"]
        );
        assert!(!markdown.contains("<!here>"), "{markdown}");
        assert!(!markdown.contains("](https://"), "{markdown}");
        let line = markdown
            .lines()
            .find(|l| l.contains("backdoor"))
            .unwrap_or(&markdown);
        assert_eq!(line.matches('`').count() % 2, 0, "{line}");
        assert!(!line.contains("`<"), "{line}");
    }

    #[test]
    fn a_flood_of_attacker_activity_never_pushes_the_message_past_what_sns_takes() {
        // GIVEN a hunt that found 2,000 calls with the stolen key, each naming a long resource
        let mut report = contained_user();
        report.activity = Some(crate::hunt::Summary {
            events: 2_000,
            lines: (0..2_000)
                .map(|i| format!("2026-12-08T01:00:00Z GetObject {i} {}", "x".repeat(2_000)))
                .collect(),
            ..crate::hunt::Summary::default()
        });

        // WHEN the humans' message is worded
        let m = message(&report, &ctx(), Format::Email);

        // THEN it stays far under SNS's 256 KB, lists the first events cut short, counts the
        // rest and says where they all are
        assert!(m.body.len() < 64 * 1024, "{} bytes", m.body.len());
        let body: Value = serde_json::from_str(&m.body).unwrap();
        let lines = body["attacker_activity"].as_array().unwrap();
        assert_eq!(lines.len(), ACTIVITY_LINES_IN_MESSAGE + 1);
        assert!(lines[0].as_str().unwrap().ends_with("..."));
        assert_eq!(
            lines[ACTIVITY_LINES_IN_MESSAGE],
            "... and 1900 more events: see activity.json in the evidence"
        );
    }

    #[test]
    fn a_containment_is_named_by_its_principal_and_incident() {
        let m = message(&contained_user(), &ctx(), Format::Email);
        assert_eq!(
            m.subject,
            "Contained arn:aws:iam::111122223333:user/ci-deployer (incident guardduty-abc)"
        );
        let body: Value = serde_json::from_str(&m.body).expect("the body parses");
        assert_eq!(body["status"], "contained");
        assert_eq!(body["severity"], "HIGH");
        assert_eq!(
            body["evidence"],
            "s3://tq-evidence/incidents/guardduty-abc/20261202T030405.000Z/"
        );
        assert_eq!(
            body["principals"][0]["steps"][0],
            "attach_deny_all TourniquetDenyAll: applied (inline)"
        );
        assert!(
            body["release"]
                .as_str()
                .unwrap()
                .contains("\"incident_id\": \"guardduty-abc\"")
        );
        assert_eq!(
            m.attributes
                .iter()
                .map(|a| (a.name, a.value.as_str()))
                .collect::<Vec<_>>(),
            [
                ("status", "contained"),
                ("severity", "HIGH"),
                ("account", "[\"111122223333\"]")
            ]
        );
    }

    #[test]
    fn a_refused_root_compromise_says_a_human_is_needed_and_what_to_do() {
        let report = Report {
            targets: vec![TargetReport::stopped(
                "arn:aws:iam::111122223333:root".into(),
                "111122223333",
                Status::Refused,
                "root credentials cannot be contained by IAM policy: sign in as root".into(),
            )],
            ..Report::new("health-xyz", Status::Refused, false)
        };
        let m = message(&report, &ctx(), Format::Email);
        assert!(
            m.subject
                .starts_with("REFUSED: root credentials in 111122223333 - needs a human"),
            "{}",
            m.subject
        );
        let body: Value = serde_json::from_str(&m.body).unwrap();
        assert!(
            body["summary"]
                .as_str()
                .unwrap()
                .contains("A human is needed now")
        );
        assert!(
            body["principals"][0]["what_to_do"]
                .as_str()
                .unwrap()
                .contains("sign in as root")
        );
        assert!(body.get("release").is_none(), "nothing to release");
        assert!(finding_note(&report, &ctx()).starts_with("NEEDS A HUMAN."));
    }

    #[test]
    fn a_partial_run_names_the_failed_step_and_why() {
        let mut report = contained_user();
        report.status = Status::Partial;
        report.targets[0].status = Status::Partial;
        report.targets[0].steps.push(StepReport::new(
            Action::RevokeSessions,
            "TourniquetRevokeOlderSessions",
            Outcome::Failed,
            "AccessDenied: not authorized".into(),
        ));
        report.skipped.push(Skipped {
            field: "detail.findings[1].Resources[0]".into(),
            error: "not an ARN".into(),
        });
        let m = message(&report, &ctx(), Format::Email);
        assert!(
            m.subject.starts_with(
                "PARTIAL containment of arn:aws:iam::111122223333:user/ci-deployer - needs a human"
            ),
            "{}",
            m.subject
        );
        assert!(
            m.body
                .contains("revoke_sessions TourniquetRevokeOlderSessions: FAILED - AccessDenied")
        );
        assert!(
            m.body
                .contains("detail.findings[1].Resources[0]: not an ARN")
        );
        let note = finding_note(&report, &ctx());
        assert!(note.contains("NOT fully contained"), "{note}");
    }

    #[test]
    fn an_identity_center_user_is_released_by_its_user_id() {
        let mut report = contained_user();
        let release = how_to_release(&report).unwrap();
        assert!(
            release.contains("\"principal_arn\": \"arn:aws:iam::"),
            "{release}"
        );
        report.targets[0].principal_arn =
            crate::identity_center::user_arn("aws", "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d");
        let release = how_to_release(&report).unwrap();
        assert!(
            release.contains("\"identity_center_user\": \"1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d\""),
            "{release}"
        );
        assert!(!release.contains("principal_arn"), "{release}");
    }

    #[test]
    fn a_dry_run_says_so_first() {
        let mut report = contained_user();
        report.status = Status::Planned;
        report.dry_run = true;
        assert!(subject(&report).starts_with("DRY RUN: would contain arn:aws:iam::"));
    }

    #[test]
    fn a_subject_is_ascii_and_fits_sns() {
        let mut report = contained_user();
        report.targets[0].principal_arn =
            format!("arn:aws:iam::111122223333:user/{}\u{e9}\n", "x".repeat(120));
        let s = subject(&report);
        assert!(s.len() <= SUBJECT_LIMIT, "{}", s.len());
        assert!(
            s.chars().all(|c| c.is_ascii() && !c.is_ascii_control()),
            "{s}"
        );
        assert!(s.ends_with("..."));
    }

    #[test]
    fn many_principals_are_counted_not_listed_beyond_fifty() {
        let mut report = contained_user();
        let one = report.targets[0].clone();
        report.targets = (0..120)
            .map(|i| TargetReport {
                principal_arn: format!("arn:aws:iam::111122223333:user/u{i}"),
                ..one.clone()
            })
            .collect();
        let m = message(&report, &ctx(), Format::Email);
        assert_eq!(
            m.subject,
            "Contained 120 principals in 111122223333 (incident guardduty-abc)"
        );
        let body: Value = serde_json::from_str(&m.body).unwrap();
        let listed = body["principals"].as_array().unwrap();
        assert_eq!(listed.len(), PRINCIPALS_IN_DETAIL + 1);
        assert_eq!(
            listed[PRINCIPALS_IN_DETAIL],
            "... and 70 more principals: see the report in the evidence"
        );
    }

    #[test]
    fn the_chatbot_variant_follows_the_custom_notification_schema() {
        let m = message(&contained_user(), &ctx(), Format::Chatbot);
        let doc: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(doc["version"], "1.0");
        assert_eq!(doc["source"], "custom");
        assert_eq!(doc["content"]["textType"], "client-markdown");
        assert_eq!(doc["content"]["title"], m.subject);
        assert_eq!(doc["metadata"]["threadId"], "guardduty-abc");
        assert!(
            doc["content"]["description"]
                .as_str()
                .unwrap()
                .contains("`arn:aws:iam::111122223333:user/ci-deployer`")
        );
    }

    #[test]
    fn a_note_fits_security_hub() {
        let mut report = contained_user();
        report.incident_id = "x".repeat(600);
        let note = finding_note(&report, &ctx());
        assert!(note.chars().count() <= NOTE_LIMIT);
    }
    #[test]
    fn an_earlier_notice_counts_only_for_activity_it_already_reported() {
        let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let keys = vec![
            "incidents/i/20261202T030405.000Z/report.json".to_owned(),
            notified_key("incidents/i/20261202T030405.000Z", Status::Contained),
        ];
        let seen_before = Some(at("2026-12-02T03:00:00Z"));
        let seen_after = Some(at("2026-12-02T03:10:00Z"));
        assert_eq!(
            earlier_notice(&keys, Some(Status::Contained), seen_before),
            Some("incidents/i/20261202T030405.000Z/notified-contained.json")
        );
        assert_eq!(earlier_notice(&keys, None, None), Some(keys[1].as_str()));
        assert_eq!(
            earlier_notice(&keys, Some(Status::Partial), seen_before),
            None,
            "another status is news"
        );
        assert_eq!(
            earlier_notice(&keys, Some(Status::Contained), seen_after),
            None,
            "new activity is news"
        );
        let forged = vec!["incidents/i/not-a-run/notified-contained.json".to_owned()];
        assert_eq!(earlier_notice(&forged, None, None), None);
    }
}
