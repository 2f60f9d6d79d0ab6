//! Telling the humans: one SNS message for every run that is not ignored, and the Security Hub
//! findings an incident came from updated (a note, `NOTIFIED`, the incident's id). A failure of
//! either is a `notify` entry of the report, never the containment's; a run that would only repeat
//! what an earlier one told (a replay, Security Hub's echo of Tourniquet's own update) tells
//! nothing, which is what keeps the update from looping through Security Hub.

use super::*;
use crate::notify::{self, Context};
use crate::report::Notice;
use aws_sdk_securityhub::types::{
    AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus, WorkflowUpdate,
};
use aws_sdk_sns::types::MessageAttributeValue;

/// Findings per `BatchUpdateFindings` request (Security Hub's limit).
const FINDINGS_PER_UPDATE: usize = 100;

impl Responder {
    /// Why this event is Security Hub's echo of Tourniquet's own update, if it is: every finding
    /// carries Tourniquet's mark for one incident, and that incident's ledger shows a run that
    /// told the humans no earlier than the activity the findings report. A mark without such a
    /// run (anyone allowed `securityhub:BatchUpdateFindings` can write one) is no echo.
    pub(super) async fn echo(&self, incident: &Incident) -> Option<String> {
        let of = incident.echo_of.as_deref()?;
        let keys = match evidence::incident_keys(&*self.evidence, of).await {
            Ok(keys) => keys,
            Err(e) => {
                warn!(incident = %of, error = %e, "the findings carry Tourniquet's mark, but its ledger cannot be read: acting on them");
                return None;
            }
        };
        match notify::earlier_notice(&keys, None, incident.last_seen) {
            Some(notice) => Some(format!(
                "Security Hub's echo of Tourniquet's own update of these findings for incident \
                 {of} ({notice}), with no activity since"
            )),
            None => {
                warn!(incident = %of, "the findings carry Tourniquet's mark for an incident whose ledger shows no such update: acting on them");
                None
            }
        }
    }

    /// Where this run would tell the humans: the SNS topic (none for an ignored run, or a dry run
    /// unless `NOTIFY_DRY_RUN`), and the Security Hub findings to update (a real run's, when asked).
    pub(super) fn channels<'a>(
        &'a self,
        report: &Report,
        incident: Option<&'a Incident>,
    ) -> (Option<&'a str>, &'a [intake::FindingRef]) {
        let settings = &self.config.notify;
        if report.status == Status::Ignored {
            return (None, &[]);
        }
        let topic = settings
            .topic_arn
            .as_deref()
            .filter(|_| !report.dry_run || settings.dry_run);
        let findings: &[intake::FindingRef] = match incident {
            Some(i)
                if settings.update_findings
                    && !report.dry_run
                    && i.source == Source::SecurityHub =>
            {
                &i.findings
            }
            _ => &[],
        };
        (topic, findings)
    }

    /// Tells the humans what `report` says, adding a `notify` entry per channel to it. Returns
    /// the object that records the notification in the run's evidence (`notified-<status>.json`)
    /// when a channel took it. `ledger` is the incident's keys read at the start of the run.
    pub(super) async fn notify(
        &self,
        report: &mut Report,
        incident: Option<&Incident>,
        ledger: &[String],
        prefix: &str,
    ) -> Option<EvidenceObject> {
        let (topic, findings) = self.channels(report, incident);
        if topic.is_none() && findings.is_empty() {
            return None;
        }
        let last_seen = incident.and_then(|i| i.last_seen);
        let changed = report
            .targets
            .iter()
            .any(|t| t.steps.iter().any(|s| s.outcome == Outcome::Applied));
        if !changed
            && let Some(told) = notify::earlier_notice(ledger, Some(report.status), last_seen)
        {
            let detail = format!("already told in {told}; nothing changed since");
            info!(incident = %report.incident_id, %detail, "not notifying again");
            for (channel, target) in topic
                .map(|t| ("sns", t.to_owned()))
                .into_iter()
                .chain((!findings.is_empty()).then(|| ("securityhub", finding_count(findings))))
            {
                report.notify.push(Notice::new(
                    channel,
                    target,
                    Outcome::Skipped,
                    detail.clone(),
                ));
            }
            return None;
        }
        let ctx = Context {
            bucket: &self.config.evidence_bucket,
            run_prefix: prefix,
            severity: incident.and_then(|i| i.severity.as_deref()),
            function: self.playbook.name(),
        };
        let shown: &Report = report;
        let (sent, updated) = tokio::join!(
            async {
                match topic {
                    Some(topic) => Some(self.publish(shown, &ctx, topic).await),
                    None => None,
                }
            },
            async {
                if findings.is_empty() {
                    None
                } else {
                    Some(self.update_findings(shown, &ctx, findings).await)
                }
            }
        );
        report.notify.extend(sent.into_iter().chain(updated));
        for n in &report.notify {
            if n.outcome == Outcome::Failed {
                warn!(channel = %n.channel, target = %n.target, error = %n.detail, "the humans were not told by this channel; the containment stands");
            } else {
                info!(channel = %n.channel, target = %n.target, "{}", n.detail);
            }
        }
        report
            .notify
            .iter()
            .any(|n| n.outcome == Outcome::Applied)
            .then(|| {
                EvidenceObject::json(
                    notify::notified_key(prefix, report.status),
                    &serde_json::json!({
                        "incident_id": report.incident_id,
                        "status": notify::status_name(report.status),
                        "notify": report.notify,
                    }),
                )
            })
    }

    /// One SNS message: the subject, the body and the filtering attributes.
    async fn publish(&self, report: &Report, ctx: &Context<'_>, topic: &str) -> Notice {
        let message = notify::message(report, ctx, self.config.notify.format);
        let mut request = self
            .sns
            .publish()
            .topic_arn(topic)
            .subject(&message.subject)
            .message(&message.body);
        for a in &message.attributes {
            match MessageAttributeValue::builder()
                .data_type(a.data_type)
                .string_value(&a.value)
                .build()
            {
                Ok(value) => request = request.message_attributes(a.name, value),
                Err(e) => warn!(attribute = a.name, error = %e, "message attribute left out"),
            }
        }
        match request.send().await {
            Ok(out) => Notice::new(
                "sns",
                topic,
                Outcome::Applied,
                format!(
                    "told: \"{}\" (message {})",
                    message.subject,
                    out.message_id.unwrap_or_default()
                ),
            ),
            Err(e) => Notice::new(
                "sns",
                topic,
                Outcome::Failed,
                format!("sns:Publish failed{}: {}", http_status(&e), describe(&e)),
            ),
        }
    }

    /// The findings updated: a note with what was done and where the evidence is, the workflow
    /// `NOTIFIED` (a human still owns the incident: never `RESOLVED`), and the incident's id in
    /// `UserDefinedFields`, which lets the responder know Security Hub's echo of it.
    async fn update_findings(
        &self,
        report: &Report,
        ctx: &Context<'_>,
        findings: &[intake::FindingRef],
    ) -> Notice {
        let note = notify::finding_note(report, ctx);
        let target = finding_count(findings);
        let mut failures = Vec::new();
        let requests = findings
            .chunks(FINDINGS_PER_UPDATE)
            .map(|chunk| self.update_finding_batch(report, chunk, note.clone()));
        for result in futures::future::join_all(requests).await {
            match result {
                Ok(unprocessed) => failures.extend(unprocessed),
                Err(e) => failures.push(e),
            }
        }
        if failures.is_empty() {
            Notice::new(
                "securityhub",
                target,
                Outcome::Applied,
                format!(
                    "note added, workflow NOTIFIED, {} set",
                    notify::INCIDENT_FIELD
                ),
            )
        } else {
            Notice::new(
                "securityhub",
                target,
                Outcome::Failed,
                format!("not updated: {}", failures.join("; ")),
            )
        }
    }

    /// One `BatchUpdateFindings` request: the note, workflow `NOTIFIED` and the incident's
    /// fields on up to [`FINDINGS_PER_UPDATE`] findings; the findings it did not process, each
    /// with why, or why the request failed.
    async fn update_finding_batch(
        &self,
        report: &Report,
        chunk: &[intake::FindingRef],
        note: String,
    ) -> Result<Vec<String>, String> {
        let ids = chunk
            .iter()
            .map(|f| {
                AwsSecurityFindingIdentifier::builder()
                    .id(&f.id)
                    .product_arn(&f.product_arn)
                    .build()
            })
            .collect();
        let note = NoteUpdate::builder()
            .text(note)
            .updated_by(notify::UPDATED_BY)
            .build();
        let out = self
            .securityhub
            .batch_update_findings()
            .set_finding_identifiers(Some(ids))
            .note(note)
            .workflow(
                WorkflowUpdate::builder()
                    .status(WorkflowStatus::Notified)
                    .build(),
            )
            .user_defined_fields(notify::INCIDENT_FIELD, &report.incident_id)
            .user_defined_fields(notify::STATUS_FIELD, notify::status_name(report.status))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "securityhub:BatchUpdateFindings failed{}: {}",
                    http_status(&e),
                    describe(&e)
                )
            })?;
        Ok(out
            .unprocessed_findings
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                format!(
                    "{}: {} {}",
                    u.finding_identifier.and_then(|f| f.id).unwrap_or_default(),
                    u.error_code.unwrap_or_default(),
                    u.error_message.unwrap_or_default()
                )
            })
            .collect())
    }
}

/// "3 findings" (or the one finding's id), for a notice's target.
fn finding_count(findings: &[intake::FindingRef]) -> String {
    match findings {
        [one] => one.id.clone(),
        many => format!("{} findings", many.len()),
    }
}

/// " (HTTP 403)": the status of an answer, which names the failure when the SDK could not read
/// the answer's error code.
fn http_status<E>(
    err: &aws_sdk_sns::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> String {
    err.raw_response()
        .map(|r| format!(" (HTTP {})", r.status().as_u16()))
        .unwrap_or_default()
}
