//! Telling the humans, against moto's SNS: a queue subscribed to the topic receives each run's
//! message as a subscriber would (subject, body, attributes). Security Hub's `BatchUpdateFindings`
//! is not in moto: its exact request is checked with aws-smithy-mocks, and so is the loop it could
//! start (Security Hub re-emits every finding it updates as "Findings - Imported").

use aws_sdk_iam::types::StatusType;
use aws_sdk_securityhub::operation::batch_update_findings::{
    BatchUpdateFindingsInput, BatchUpdateFindingsOutput,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use harness::{Inbox, Moto, event, evidence_keys, guardduty_finding, key_statuses, seed_user};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tourniquet_aws::Responder;
use tourniquet_aws::report::{Outcome, Report, Status};

fn attribute(attributes: &Value, name: &str) -> String {
    attributes[name]["Value"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn responder(moto: &Moto, inbox: &Inbox, vars: &[(&str, &str)]) -> Responder {
    let mut all = vec![("NOTIFY_TOPIC_ARN", inbox.topic.as_str())];
    all.extend_from_slice(vars);
    moto.responder(&all).await
}

#[tokio::test]
async fn a_containment_is_told_with_its_principal_what_was_done_and_how_to_release() {
    let moto = Moto::start();
    let inbox = Inbox::new(&moto.sdk_config().await).await;
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = responder(&moto, &inbox, &[]).await;

    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");

    assert_eq!(report.status, Status::Contained);
    let (subject, body, attributes) = inbox.one().await;
    // "(incident guardduty-<32 hex>)" does not fit SNS's 100 characters beside this ARN: the
    // principal comes first, the incident is in the body.
    assert_eq!(subject, format!("Contained {}", user.arn));
    assert_eq!(body["status"], "contained");
    assert_eq!(body["incident_id"], report.incident_id.as_str());
    assert_eq!(body["principals"][0]["principal"], user.arn.as_str());
    let steps = body["principals"][0]["steps"].to_string();
    for key in &user.keys {
        assert!(
            steps.contains(&format!("deactivate_access_key {key}: applied")),
            "{steps}"
        );
    }
    assert!(
        steps.contains("attach_deny_all TourniquetDenyAll: applied (inline)"),
        "{steps}"
    );
    let evidence = body["evidence"].as_str().unwrap();
    let report_key = report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("/report.json"))
        .unwrap();
    assert!(
        report_key
            .key
            .starts_with(evidence.trim_start_matches("s3://tourniquet-evidence/")),
        "{evidence} holds {}",
        report_key.key
    );
    assert!(body["release"].as_str().unwrap().contains(&user.arn));
    assert_eq!(attribute(&attributes, "status"), "contained");
    assert_eq!(attribute(&attributes, "severity"), "MEDIUM");
    assert_eq!(attribute(&attributes, "account"), "[\"111122223333\"]");
    assert_eq!(attributes["account"]["Type"], "String.Array");
    // The notification is recorded with the evidence, and in the report.
    assert_eq!(report.notify.len(), 1);
    assert_eq!(report.notify[0].outcome, Outcome::Applied);
    assert!(
        evidence_keys(&moto.s3().await)
            .await
            .iter()
            .any(|k| k.ends_with("/notified-contained.json"))
    );
}

#[tokio::test]
async fn a_refused_root_compromise_is_told_as_needing_a_human_now() {
    let moto = Moto::start();
    let inbox = Inbox::new(&moto.sdk_config().await).await;
    let responder = responder(&moto, &inbox, &[]).await;

    let report = responder
        .handle(event("manual-root.json"))
        .await
        .expect("refused");

    assert_eq!(report.status, Status::Refused);
    let (subject, body, attributes) = inbox.one().await;
    assert!(
        subject.starts_with("REFUSED: root credentials in 111122223333 - needs a human"),
        "{subject}"
    );
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .contains("A human is needed now")
    );
    let advice = body["principals"][0]["what_to_do"].as_str().unwrap();
    assert_eq!(Some(advice), report.targets[0].message.as_deref());
    assert_eq!(attribute(&attributes, "status"), "refused");
    assert_eq!(attribute(&attributes, "severity"), "UNSPECIFIED");
}

#[tokio::test]
async fn a_partial_run_is_told_with_what_was_left_out() {
    let moto = Moto::start();
    let inbox = Inbox::new(&moto.sdk_config().await).await;
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = responder(&moto, &inbox, &[]).await;
    let mut health = event("health-credentials-exposed-mixed-entities.json");
    health["detail"]["affectedEntities"][0]["entityValue"] = user.keys[0].clone().into();

    let err = responder.handle(health).await.expect_err("partial");

    let tourniquet_aws::Error::Partial { report, .. } = err else {
        panic!("{err:?}")
    };
    let (subject, body, attributes) = inbox.one().await;
    assert!(
        subject.starts_with(&format!(
            "PARTIAL containment of {} - needs a human",
            user.arn
        )),
        "{subject}"
    );
    assert!(
        body["skipped"][0]
            .as_str()
            .unwrap()
            .starts_with("detail.affectedEntities[1].entityValue"),
        "{body:#}"
    );
    assert_eq!(attribute(&attributes, "status"), "partial");
    assert_eq!(report.notify[0].outcome, Outcome::Applied);
    // What could be contained was.
    assert_eq!(
        key_statuses(&iam, &user.name).await[0],
        (user.keys[0].clone(), StatusType::Inactive)
    );
}

#[tokio::test]
async fn a_notification_that_fails_never_fails_the_containment() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = moto
        .responder(&[(
            "NOTIFY_TOPIC_ARN",
            "arn:aws:sns:us-east-1:111122223333:no-such-topic",
        )])
        .await;

    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained, whatever SNS said");

    assert_eq!(report.status, Status::Contained);
    let notice = &report.notify[0];
    assert_eq!(
        (notice.channel.as_str(), notice.outcome),
        ("sns", Outcome::Failed)
    );
    assert!(
        notice.detail.contains("sns:Publish failed"),
        "{}",
        notice.detail
    );
    assert!(all_inactive(&iam, &user.name).await);
    // Nothing was told: no record that it was.
    assert!(
        !evidence_keys(&moto.s3().await)
            .await
            .iter()
            .any(|k| k.contains("/notified-"))
    );
}

#[tokio::test]
async fn dry_runs_are_told_only_when_asked_and_say_so() {
    let moto = Moto::start();
    let inbox = Inbox::new(&moto.sdk_config().await).await;
    let iam = moto.iam().await;
    seed_user(&iam, "ci-deployer").await;
    let request = event("manual-user-dry-run.json");

    let quiet = responder(&moto, &inbox, &[]).await;
    let report = quiet.handle(request.clone()).await.expect("planned");
    assert_eq!(report.status, Status::Planned);
    assert!(
        inbox.received().await.is_empty(),
        "a dry run is not told by default"
    );
    assert!(report.notify.is_empty());

    let told = responder(&moto, &inbox, &[("NOTIFY_DRY_RUN", "true")]).await;
    told.handle(request).await.expect("planned");
    let (subject, body, _) = inbox.one().await;
    assert!(
        subject.starts_with("DRY RUN: would contain arn:aws:iam::"),
        "{subject}"
    );
    assert_eq!(body["dry_run"], true);
}

#[tokio::test]
async fn a_replayed_incident_is_not_told_twice() {
    let moto = Moto::start();
    let inbox = Inbox::new(&moto.sdk_config().await).await;
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = responder(&moto, &inbox, &[]).await;
    let finding = guardduty_finding(&user.name, &user.keys[0]);

    responder.handle(finding.clone()).await.expect("contained");
    assert_eq!(inbox.received().await.len(), 1);
    let replay = responder.handle(finding).await.expect("replayed");

    assert_eq!(replay.status, Status::Contained);
    assert!(
        inbox.received().await.is_empty(),
        "a replay tells nothing new"
    );
    assert_eq!(replay.notify[0].outcome, Outcome::Skipped);
    assert!(replay.notify[0].detail.contains("notified-contained.json"));
}

#[tokio::test]
async fn no_secret_of_the_event_reaches_a_message() {
    let moto = Moto::start();
    let inbox = Inbox::new(&moto.sdk_config().await).await;
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let responder = responder(&moto, &inbox, &[]).await;
    // A CloudTrail record of the stolen key minting a session: the session's token is in it.
    let token = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKENvalueThatMustNeverLeave";
    let mut call = event("cloudtrail-api-call-user.json");
    call["detail"]["userIdentity"]["arn"] = user.arn.clone().into();
    call["detail"]["userIdentity"]["accessKeyId"] = user.keys[0].clone().into();
    call["detail"]["eventName"] = "GetSessionToken".into();
    call["detail"]["responseElements"] = json!({"credentials": {
        "accessKeyId": "ASIAEXAMPLESESSION01",
        "sessionToken": token,
        "expiration": "Nov 20, 2026, 3:06:12 PM"
    }});

    responder.handle(call).await.expect("contained");

    let got = inbox.received().await;
    assert_eq!(got.len(), 1);
    let whole = got[0].to_string();
    assert!(
        !whole.contains(token),
        "the session token reached SNS: {whole}"
    );
    assert!(!whole.contains("ASIAEXAMPLESESSION01"));
}

/// The Security Hub imported GuardDuty finding, naming `user`'s first key.
fn imported(user: &harness::SeededUser) -> Value {
    let mut e = event("securityhub-imported-guardduty.json");
    let details = &mut e["detail"]["findings"][0]["Resources"][0];
    details["Id"] = format!("AWS::IAM::AccessKey:{}", user.keys[0]).into();
    let key = &mut details["Details"]["AwsIamAccessKey"];
    key["AccessKeyId"] = user.keys[0].clone().into();
    key["PrincipalName"] = user.name.clone().into();
    key["UserName"] = user.name.clone().into();
    e
}

/// The same finding as Security Hub re-emits it after Tourniquet's update.
fn echo_of(finding: &Value, report: &Report) -> Value {
    let mut e = finding.clone();
    let f = &mut e["detail"]["findings"][0];
    f["Workflow"] = json!({"Status": "NOTIFIED"});
    f["Note"] = json!({"Text": "Tourniquet contained ...", "UpdatedBy": "tourniquet",
                       "UpdatedAt": "2026-12-02T03:05:00.000Z"});
    f["UserDefinedFields"] = json!({"tourniquet:incident": report.incident_id,
                                    "tourniquet:status": "contained"});
    e
}

/// A Security Hub client that records every `BatchUpdateFindings` request.
fn securityhub() -> (
    aws_sdk_securityhub::Client,
    Arc<Mutex<Vec<BatchUpdateFindingsInput>>>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let update = mock!(aws_sdk_securityhub::Client::batch_update_findings)
        .match_requests(move |input| {
            record.lock().unwrap().push(input.clone());
            true
        })
        .then_output(|| {
            BatchUpdateFindingsOutput::builder()
                .set_processed_findings(Some(vec![]))
                .set_unprocessed_findings(Some(vec![]))
                .build()
        });
    let client = mock_client!(aws_sdk_securityhub, RuleMode::MatchAny, [&update]);
    (client, seen)
}

/// A responder told to update Security Hub findings (the mocked client records each request),
/// with its inbox on moto and a seeded user.
struct Scene {
    moto: Moto,
    inbox: Inbox,
    iam: aws_sdk_iam::Client,
    user: harness::SeededUser,
    updates: Arc<Mutex<Vec<BatchUpdateFindingsInput>>>,
    responder: Responder,
}

async fn with_security_hub() -> Scene {
    let moto = Moto::start();
    let inbox = Inbox::new(&moto.sdk_config().await).await;
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let (hub, updates) = securityhub();
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let responder = responder(&moto, &inbox, &[("SECURITYHUB_UPDATE_FINDINGS", "true")])
        .await
        .with_notify_clients(sns, hub);
    Scene {
        moto,
        inbox,
        iam,
        user,
        updates,
        responder,
    }
}

/// Every key of `user` inactive, read back.
async fn all_inactive(iam: &aws_sdk_iam::Client, user: &str) -> bool {
    key_statuses(iam, user)
        .await
        .iter()
        .all(|(_, s)| *s == StatusType::Inactive)
}

#[tokio::test]
async fn a_security_hub_finding_is_noted_once_and_its_echo_is_ignored() {
    let Scene {
        moto,
        inbox,
        user,
        updates,
        responder,
        ..
    } = with_security_hub().await;
    let s3 = moto.s3().await;
    let finding = imported(&user);

    let first = responder.handle(finding.clone()).await.expect("contained");

    assert_eq!(first.status, Status::Contained);
    assert_eq!(inbox.received().await.len(), 1);
    {
        let seen = updates.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let request = &seen[0];
        let asff = &finding["detail"]["findings"][0];
        let ids: Vec<(&str, &str)> = request
            .finding_identifiers()
            .iter()
            .map(|f| {
                (
                    f.id().unwrap_or_default(),
                    f.product_arn().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [(
                asff["Id"].as_str().unwrap(),
                asff["ProductArn"].as_str().unwrap()
            )]
        );
        let note = request.note().unwrap();
        let text = note.text().unwrap_or_default();
        assert!(text.starts_with("Tourniquet contained"), "{text}");
        assert!(
            text.contains("s3://tourniquet-evidence/incidents/"),
            "{text}"
        );
        assert_eq!(note.updated_by(), Some("tourniquet"));
        assert_eq!(
            request
                .workflow()
                .and_then(|w| w.status())
                .map(|s| s.as_str()),
            Some("NOTIFIED"),
            "a human still owns the finding: never RESOLVED"
        );
        let fields = request.user_defined_fields().unwrap();
        assert_eq!(fields["tourniquet:incident"], first.incident_id);
    }
    let keys_after_first = evidence_keys(&s3).await;

    // Security Hub re-emits the finding it updated: ignored before anything is written.
    let echo = responder
        .handle(echo_of(&finding, &first))
        .await
        .expect("ignored");
    assert_eq!(echo.status, Status::Ignored, "{echo:?}");
    assert!(
        echo.message.as_deref().unwrap().contains("echo"),
        "{echo:?}"
    );
    assert_eq!(
        updates.lock().unwrap().len(),
        1,
        "no second update: no loop"
    );
    assert!(inbox.received().await.is_empty());
    assert_eq!(
        evidence_keys(&s3).await,
        keys_after_first,
        "nothing written"
    );

    // The original delivered again (EventBridge's at-least-once): contained already, not told again.
    let replay = responder.handle(finding.clone()).await.expect("replayed");
    assert_eq!(replay.status, Status::Contained);
    assert!(
        replay.notify.iter().all(|n| n.outcome == Outcome::Skipped),
        "{:?}",
        replay.notify
    );
    assert_eq!(updates.lock().unwrap().len(), 1);
    assert!(inbox.received().await.is_empty());

    // New activity on the same finding after the update is news: acted on and told.
    let mut later = echo_of(&finding, &first);
    let now = chrono::Utc::now() + chrono::TimeDelta::seconds(60);
    later["detail"]["findings"][0]["LastObservedAt"] = now
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        .into();
    let again = responder.handle(later).await.expect("acted on");
    assert_eq!(again.status, Status::Contained);
    assert_eq!(updates.lock().unwrap().len(), 2);
    assert_eq!(inbox.received().await.len(), 1);
}

#[tokio::test]
async fn a_forged_mark_on_a_finding_does_not_silence_the_responder() {
    let Scene {
        moto: _moto,
        inbox,
        iam,
        user,
        updates,
        responder,
    } = with_security_hub().await;
    // The attacker, allowed securityhub:BatchUpdateFindings, marks the finding as Tourniquet
    // would, for the very incident id the finding maps to, before Tourniquet ever saw it.
    let mut finding = imported(&user);
    let asff_id = finding["detail"]["findings"][0]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let incident = format!("guardduty-{}", asff_id.rsplit('/').next().unwrap());
    finding["detail"]["findings"][0]["UserDefinedFields"] =
        json!({"tourniquet:incident": incident, "tourniquet:status": "contained"});
    finding["detail"]["findings"][0]["Workflow"] = json!({"Status": "NOTIFIED"});

    let report = responder.handle(finding).await.expect("contained");

    assert_eq!(report.status, Status::Contained, "{report:?}");
    assert_eq!(report.incident_id, incident);
    assert!(all_inactive(&iam, &user.name).await);
    assert_eq!(updates.lock().unwrap().len(), 1);
    assert_eq!(inbox.received().await.len(), 1);
}

#[tokio::test]
async fn a_custom_action_on_an_updated_finding_is_a_humans_choice_not_an_echo() {
    let Scene {
        moto: _moto,
        user,
        responder,
        ..
    } = with_security_hub().await;
    let finding = imported(&user);
    let first = responder.handle(finding.clone()).await.expect("contained");
    let mut chosen = echo_of(&finding, &first);
    chosen["detail-type"] = "Security Hub Findings - Custom Action".into();

    let report = responder.handle(chosen).await.expect("acted on");

    assert_ne!(report.status, Status::Ignored, "{report:?}");
}
