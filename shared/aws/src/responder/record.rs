//! Phase 4 and 5, record and report: each principal's evidence uploaded as soon as it is done,
//! then the event, the report and the manifest with every object's S3 version.

use super::*;
use crate::ledger;

/// The manifest's entries and the report's evidence, as stored: the objects stored earlier in
/// the run with their versions, then each upload's answer (a failed one is named in the report).
fn stored_entries(
    report: &mut Report,
    earlier: Vec<(EvidenceObject, Option<String>)>,
    results: Vec<(ledger::ManifestEntry, Result<Evidence, String>)>,
) -> Vec<ledger::ManifestEntry> {
    report.evidence = Vec::new();
    let mut entries = Vec::new();
    for (o, version_id) in earlier {
        report.evidence.push(Evidence {
            version_id: version_id.clone(),
            ..o.evidence()
        });
        entries.push(o.entry(version_id));
    }
    for (entry, stored) in results {
        match stored {
            Ok(e) => {
                entries.push(ledger::ManifestEntry {
                    version_id: e.version_id.clone(),
                    ..entry
                });
                report.evidence.push(e);
            }
            Err(err) => evidence_failed(report, err),
        }
    }
    entries
}

impl Responder {
    /// Starts uploading one evidence object (at most [`UPLOAD_CONCURRENCY`] at once); the bytes
    /// are held only until S3 has them.
    pub(super) fn upload(&self, object: EvidenceObject, started: chrono::DateTime<Utc>) -> Upload {
        let entry = object.entry(None);
        let store = self.evidence.clone();
        let (retention, slots) = (self.config.retention.clone(), self.uploads.clone());
        let stored = tokio::spawn(async move {
            let _slot = slots.acquire_owned().await.map_err(|e| e.to_string())?;
            let retention = retention.as_ref().map(|r| (r, started));
            evidence::put(&*store, &object, retention)
                .await
                .map_err(|e| e.to_string())
        });
        Upload { entry, stored }
    }

    /// Writes the event, the extra records and the report in one wave, alongside the principals'
    /// records still on their way, then the manifest with every object's S3 version: every hash
    /// is known before upload, so the report lists the others and the manifest all of them.
    /// How the evidence is kept from deletion, in the report's words.
    fn evidence_lock(&self, started: chrono::DateTime<Utc>) -> String {
        match &self.config.retention {
            Some(r) => {
                let until = started + chrono::TimeDelta::days(i64::from(r.days));
                format!(
                    "{} until {}",
                    r.mode.as_str(),
                    until.to_rfc3339_opts(SecondsFormat::Secs, true)
                )
            }
            None => "not locked by Tourniquet: EVIDENCE_RETENTION_MODE is unset, so only the \
                     bucket's default retention, if it has one, keeps the evidence from being \
                     deleted"
                .into(),
        }
    }

    pub(super) async fn store_evidence(
        &self,
        report: &mut Report,
        prefix: &str,
        incident_id: &str,
        started: chrono::DateTime<Utc>,
        event: &Value,
        extra: Extra,
    ) {
        let mut objects = vec![EvidenceObject::json(format!("{prefix}/event.json"), event)];
        for (principal, name, record) in &extra.records {
            let folder = ledger::principal_folder(prefix, principal);
            objects.push(EvidenceObject::json(format!("{folder}/{name}"), record));
        }
        report.waves += 2;
        // The event and the release records start now; the principals' records are under way.
        let mut uploads: Vec<Upload> = objects
            .into_iter()
            .map(|o| self.upload(o, started))
            .chain(extra.uploads)
            .collect();
        report.evidence = extra
            .stored
            .iter()
            .map(|(o, _)| o.evidence())
            .chain(uploads.iter().map(|u| Evidence {
                key: u.entry.key.clone(),
                sha256: u.entry.sha256.clone(),
                version_id: None,
            }))
            .collect();
        report.evidence_lock = Some(self.evidence_lock(started));
        let own = EvidenceObject::json(format!("{prefix}/report.json"), &*report);
        uploads.push(self.upload(own, started));
        // First every object, then the manifest, which records the versions S3 gave them.
        let results = futures::future::join_all(uploads.into_iter().map(|u| async move {
            let stored = u
                .stored
                .await
                .unwrap_or_else(|e| Err(format!("the upload of {} failed: {e}", u.entry.key)));
            (u.entry, stored)
        }))
        .await;
        let entries = stored_entries(report, extra.stored, results);
        let retention = self.config.retention.as_ref().map(|r| (r, started));
        let manifest = ledger::manifest(incident_id, prefix, entries);
        match evidence::put(&*self.evidence, &manifest, retention).await {
            Ok(e) => report.evidence.push(e),
            Err(err) => evidence_failed(report, err.to_string()),
        }
    }
}

impl Responder {
    /// The end of a run that has nothing of its own to add: the humans told (when a channel is
    /// configured), then the event, the report and `extra` stored (unless a dry run), then the
    /// report's line in the log.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn tell_and_store(
        &self,
        report: &mut Report,
        incident: Option<&Incident>,
        ledger: &[String],
        prefix: &str,
        started: chrono::DateTime<Utc>,
        event: &Value,
        mut extra: Extra,
    ) {
        let notified = Box::pin(self.notify(report, incident, ledger, prefix)).await;
        if !report.dry_run {
            extra
                .uploads
                .extend(notified.map(|o| self.upload(o, started)));
            let id = report.incident_id.clone();
            self.store_evidence(report, prefix, &id, started, event, extra)
                .await;
        }
        info!(incident = %report.incident_id, status = ?report.status, "{}", report.summary());
    }
}

/// A run's report as the invocation's answer: a `partial` one is an error (after everything was
/// tried and stored), so that Lambda's retries and dead-letter queue see it.
pub(super) fn answer(report: Report) -> Result<Report, Error> {
    if report.status == Status::Partial {
        return Err(Error::Partial {
            summary: report.summary(),
            report: Box::new(report),
        });
    }
    Ok(report)
}

/// An evidence object on its way to S3: what the report and manifest need of it, and the upload.
pub(super) struct Upload {
    entry: ledger::ManifestEntry,
    stored: tokio::task::JoinHandle<Result<Evidence, String>>,
}

/// Objects of a run besides its event, report and manifest.
#[derive(Default)]
pub(super) struct Extra {
    /// The principals' snapshots and plans, on their way.
    pub(super) uploads: Vec<Upload>,
    /// Records to upload with the rest, in a principal's folder (a release's `released.json`).
    pub(super) records: Vec<(Principal, &'static str, Value)>,
    /// Objects already uploaded earlier in the run (its intent), with their versions: listed,
    /// not uploaded again.
    pub(super) stored: Vec<(EvidenceObject, Option<String>)>,
}

/// An evidence object that could not be stored makes the run `partial`, and says which.
fn evidence_failed(report: &mut Report, err: String) {
    warn!(error = %err, "evidence not stored");
    report.status = Status::Partial;
    report.message = Some(format!("evidence not stored: {err}"));
}

#[cfg(test)]
mod tests {
    //! The record phase against the in-memory evidence store: what a run stores, and what a
    //! store that refuses does to the report.
    use super::*;
    use crate::memory::MemoryEvidence;
    use crate::ports::EvidenceStore;
    use std::sync::Arc;

    const PREFIX: &str = "incidents/IR-1/20261208T010000.000Z";

    fn responder(store: Arc<MemoryEvidence>) -> Responder {
        let nowhere = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let config = Config::from_lookup(|name| {
            (name == "EVIDENCE_BUCKET").then(|| "tourniquet-evidence".to_owned())
        })
        .unwrap();
        Responder::with_clients(
            aws_sdk_iam::Client::new(&nowhere),
            aws_sdk_s3::Client::new(&nowhere),
            aws_sdk_sts::Client::new(&nowhere),
            config,
        )
        .with_evidence(store)
    }

    fn started() -> chrono::DateTime<Utc> {
        "2026-12-08T01:00:00Z".parse().unwrap()
    }

    fn release_record() -> Extra {
        let alice = Principal::user("111122223333", "alice").unwrap();
        Extra {
            records: vec![(
                alice,
                ledger::RELEASED_OBJECT,
                serde_json::json!({"by": "test"}),
            )],
            ..Extra::default()
        }
    }

    #[tokio::test]
    async fn a_run_stores_its_event_records_report_and_a_manifest_that_verifies() {
        // GIVEN a run's report and a record for one principal
        let store = Arc::new(MemoryEvidence::new());
        let responder = responder(store.clone());
        let mut report = Report::new("IR-1", Status::Contained, false);
        let event = serde_json::json!({"source": "aws.guardduty"});

        // WHEN the record phase stores the run
        responder
            .store_evidence(
                &mut report,
                PREFIX,
                "IR-1",
                started(),
                &event,
                release_record(),
            )
            .await;

        // THEN every object is in the store, the report lists each with its version, and the
        // manifest verifies against what the store holds
        let keys = store.keys();
        for name in [
            "event.json",
            "111122223333/user/alice/released.json",
            "report.json",
            "manifest.json",
        ] {
            assert!(
                keys.contains(&format!("{PREFIX}/{name}")),
                "{name}: {keys:?}"
            );
        }
        assert_eq!(report.status, Status::Contained);
        assert_eq!(report.evidence.len(), 4, "{:?}", report.evidence);
        assert!(report.evidence.iter().all(|e| e.version_id.is_some()));
        let checks = crate::evidence::verify(&*store, "IR-1").await.unwrap();
        assert_eq!(
            checks.len(),
            3,
            "the manifest lists the other three: {checks:?}"
        );
        assert!(
            checks.iter().all(crate::evidence::Check::is_verified),
            "{checks:?}"
        );
        assert!(
            report
                .evidence_lock
                .as_deref()
                .unwrap()
                .starts_with("not locked")
        );
    }

    #[tokio::test]
    async fn a_store_that_refuses_makes_the_run_partial_and_says_what_was_not_stored() {
        // GIVEN a store that refuses every write
        let store = Arc::new(MemoryEvidence::new());
        store.fail("PutObject", "AccessDenied");
        let responder = responder(store.clone());
        let mut report = Report::new("IR-1", Status::Contained, false);

        // WHEN the record phase stores the run
        responder
            .store_evidence(
                &mut report,
                PREFIX,
                "IR-1",
                started(),
                &serde_json::json!({}),
                Extra::default(),
            )
            .await;

        // THEN nothing is stored, and the report is partial and names the store's refusal
        assert!(store.keys().is_empty());
        assert_eq!(report.status, Status::Partial);
        let message = report.message.unwrap_or_default();
        assert!(
            message.starts_with("evidence not stored: memory://evidence/incidents/IR-1/")
                && message.contains("AccessDenied"),
            "{message}"
        );
        assert!(store.list("incidents/").await.unwrap().is_empty());
    }
}
