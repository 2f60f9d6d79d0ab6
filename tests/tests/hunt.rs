//! The hunt end to end: the attacker's actions are performed for real against moto with the
//! stolen key, through a CloudTrail double that records them and serves exactly those calls back
//! as `LookupEvents` (moto has no CloudTrail event history); the responder contains the key, hunts,
//! and contains what the attacker left. Everything is read back from the emulator.

use aws_config::SdkConfig;
use aws_sdk_iam::types::StatusType;
use harness::trail::Trail;
use harness::{
    ACCOUNT, Moto, config, create_bucket, evidence_body, evidence_keys, guardduty_finding,
    key_statuses, new_key, s3_client, seed_role, seed_user,
};
use serde_json::{Value, json};
use tourniquet_aws::Responder;
use tourniquet_aws::plan::{DENY_POLICY_NAME, Playbook, REVOKE_POLICY_NAME};
use tourniquet_aws::report::{Report, Status};

/// The configuration of clients that go through the double.
async fn through(
    moto: &Moto,
    trail: &Trail,
    key: &str,
    secret: &str,
    token: Option<String>,
) -> SdkConfig {
    let sdk = moto.sdk_config_as(key, secret).await;
    let mut builder = sdk.to_builder().endpoint_url(&trail.endpoint);
    if let Some(token) = token {
        builder =
            builder.credentials_provider(aws_sdk_iam::config::SharedCredentialsProvider::new(
                aws_sdk_iam::config::Credentials::new(key, secret, Some(token), None, "attacker"),
            ));
    }
    builder.build()
}

/// A session of `role` named `name`, assumed with `as_whom` through the double, and a
/// configuration that calls with it through the double.
async fn session(
    moto: &Moto,
    trail: &Trail,
    as_whom: &SdkConfig,
    role: &str,
    name: &str,
) -> SdkConfig {
    let credentials = aws_sdk_sts::Client::new(as_whom)
        .assume_role()
        .role_arn(role)
        .role_session_name(name)
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    through(
        moto,
        trail,
        &credentials.access_key_id,
        &credentials.secret_access_key,
        Some(credentials.session_token),
    )
    .await
}

/// Whether `user` carries Tourniquet's deny-all.
async fn denied(iam: &aws_sdk_iam::Client, user: &str) -> bool {
    iam.get_user_policy()
        .user_name(user)
        .policy_name(DENY_POLICY_NAME)
        .send()
        .await
        .is_ok()
}

struct Scene {
    moto: Moto,
    trail: Trail,
    iam: aws_sdk_iam::Client,
    alice: harness::SeededUser,
    /// The key the attacker made for backup-svc.
    backdoor_key: String,
    /// The key the attacker made for the protected break-glass user.
    breakglass_key: String,
}

/// The attack: with alice's stolen key, a new user with a key and AdministratorAccess, a key on
/// the break-glass user, a refused key on a victim (a failed call), a role assumed and a user
/// made with its session. Beside it, someone else's role session named `alice` creates a user:
/// not the attacker's, though CloudTrail indexes it under the user name `alice`.
async fn attack() -> Scene {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let alice = seed_user(&iam, "alice").await;
    iam.create_user()
        .user_name("breakglass")
        .send()
        .await
        .unwrap();
    let victim = seed_user(&iam, "victim").await;
    let role = seed_role(&iam, "ops-role", "/").await;
    let trail = Trail::start(moto.port, ACCOUNT).await;
    trail.record_user(&alice.keys[0], &alice.name, &alice.arn);

    let stolen = through(&moto, &trail, &alice.keys[0], &alice.first_secret, None).await;
    let attacker = aws_sdk_iam::Client::new(&stolen);
    attacker
        .create_user()
        .user_name("backup-svc")
        .send()
        .await
        .unwrap();
    let backdoor_key = new_key(&attacker, "backup-svc").await.access_key_id;
    attacker
        .attach_user_policy()
        .user_name("backup-svc")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    let breakglass_key = new_key(&attacker, "breakglass").await.access_key_id;
    // The victim has two keys already: IAM refuses a third (LimitExceeded), a failed call.
    let refused = attacker
        .create_access_key()
        .user_name(&victim.name)
        .send()
        .await;
    assert!(refused.is_err(), "IAM allows two keys a user");
    let as_role = session(&moto, &trail, &stolen, &role.arn, "maintenance").await;
    aws_sdk_iam::Client::new(&as_role)
        .create_user()
        .user_name("shadow")
        .send()
        .await
        .unwrap();

    // Someone else: an administrator's session of ops-role that happens to be named `alice`.
    let admin = iam
        .create_user()
        .user_name("admin")
        .send()
        .await
        .unwrap()
        .user
        .unwrap();
    let admin_key = new_key(&iam, "admin").await;
    trail.record_user(&admin_key.access_key_id, "admin", &admin.arn);
    let admin_sdk = through(
        &moto,
        &trail,
        &admin_key.access_key_id,
        &admin_key.secret_access_key,
        None,
    )
    .await;
    let impostor = session(&moto, &trail, &admin_sdk, &role.arn, "alice").await;
    aws_sdk_iam::Client::new(&impostor)
        .create_user()
        .user_name("innocent")
        .send()
        .await
        .unwrap();

    Scene {
        moto,
        trail,
        iam,
        alice,
        backdoor_key,
        breakglass_key,
    }
}

/// A responder whose IAM, STS and CloudTrail calls go through the double (so that its requests are
/// seen in order), its S3 and SQS straight to moto.
async fn responder(scene: &Scene, vars: &[(&str, &str)], playbook: Playbook) -> Responder {
    let sdk = scene.moto.sdk_config().await;
    create_bucket(&s3_client(&sdk)).await;
    let via = through(
        &scene.moto,
        &scene.trail,
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
    )
    .await;
    // The hunt on, unless a test says otherwise.
    let vars: Vec<(&str, &str)> = vars.iter().copied().chain([("HUNT", "true")]).collect();
    Responder::with_clients(
        aws_sdk_iam::Client::new(&via),
        s3_client(&sdk),
        aws_sdk_sts::Client::new(&via),
        config(&vars),
    )
    .with_fanout_clients(
        aws_sdk_sqs::Client::new(&sdk),
        aws_sdk_organizations::Client::new(&sdk),
    )
    .with_trail(&via)
    .playing(playbook)
}

/// The GuardDuty finding for alice's key, first seen an hour ago.
fn finding(scene: &Scene) -> Value {
    let mut event = guardduty_finding(&scene.alice.name, &scene.alice.keys[0]);
    let hour_ago = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    event["detail"]["service"]["eventFirstSeen"] = hour_ago.to_rfc3339().into();
    event
}

fn target<'a>(report: &'a Report, name: &str) -> Option<&'a tourniquet_aws::report::TargetReport> {
    report
        .targets
        .iter()
        .find(|t| t.principal_arn.rsplit('/').next() == Some(name))
}

#[tokio::test]
async fn the_hunt_contains_what_the_stolen_key_left_and_reports_the_rest() {
    // GIVEN the attack above, recorded by the CloudTrail double
    let scene = attack().await;
    let protected = [("PROTECTED_PRINCIPALS", "arn:aws:iam::*:user/breakglass")];
    let contain = responder(&scene, &protected, Playbook::Contain).await;

    // WHEN contain handles GuardDuty's finding on alice's key
    let report = contain.handle(finding(&scene)).await.expect("contained");

    // THEN alice is contained, and so is what the attacker left: the new user and its key
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    let iam = &scene.iam;
    assert!(denied(iam, "alice").await);
    let backup = key_statuses(iam, "backup-svc").await;
    assert_eq!(
        backup,
        vec![(scene.backdoor_key.clone(), StatusType::Inactive)],
        "the attacker's new key is Inactive, not deleted"
    );
    assert!(
        denied(iam, "backup-svc").await,
        "the attacker's user is contained"
    );
    // AND the user made with the assumed role's session (a derived key, hunted too)
    assert!(
        denied(iam, "shadow").await,
        "found by hunting the session's key"
    );
    // AND the assumed role's sessions are cut
    let cut = iam
        .get_role_policy()
        .role_name("ops-role")
        .policy_name(REVOKE_POLICY_NAME)
        .send()
        .await;
    assert!(cut.is_ok(), "ops-role's older sessions are denied");
    // AND each follow-on is a target of the incident whose cause is the CloudTrail event
    let records = scene.trail.records();
    let event_id = |name: &str, needle: &str| {
        records
            .iter()
            .find(|r| r["eventName"] == name && r.to_string().contains(needle))
            .map(|r| r["eventID"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("a {name} record naming {needle}"))
    };
    let backup_target = target(&report, "backup-svc").expect("backup-svc in the report");
    let cause = backup_target.cause.as_deref().unwrap();
    assert!(
        cause.contains(&event_id("CreateUser", "backup-svc")),
        "{cause}"
    );
    assert!(
        cause.contains(&event_id("CreateAccessKey", &scene.backdoor_key)),
        "{cause}"
    );
    assert_eq!(backup_target.status, Status::Contained);
    let role = target(&report, "ops-role").expect("ops-role in the report");
    assert!(role.cause.as_deref().unwrap().contains("AssumeRole"));

    // AND the protected break-glass user the attacker touched is reported and left alone
    let breakglass = target(&report, "breakglass").expect("break-glass in the report");
    assert_eq!(breakglass.status, Status::Refused);
    assert!(breakglass.cause.is_some());
    assert_eq!(
        key_statuses(iam, "breakglass").await,
        vec![(scene.breakglass_key.clone(), StatusType::Active)],
        "a protected principal is never changed, whoever aimed at it"
    );
    assert!(!denied(iam, "breakglass").await);
    // AND the refused call aims at nobody, nor does the other session named `alice`
    assert!(
        !denied(iam, "victim").await,
        "a failed call is never followed"
    );
    assert!(target(&report, "victim").is_none());
    assert!(
        !denied(iam, "innocent").await,
        "a role session named alice is not alice"
    );
    assert!(target(&report, "innocent").is_none());

    // AND the report's activity counts each kind and lists each event the credentials made
    let activity = report.activity.as_ref().expect("activity");
    assert_eq!(activity.round, 1);
    let counts = serde_json::to_value(&activity.counts).unwrap();
    // CreateUser x2 (backup-svc, shadow), CreateAccessKey x3 (one refused).
    assert_eq!(counts["new_credential"], 5, "{counts}");
    assert_eq!(counts["privilege_change"], 1, "{counts}");
    assert_eq!(counts["lateral_movement"], 1, "{counts}");
    assert_eq!(activity.events, 7);
    assert_eq!(
        activity.followed, 4,
        "backup-svc, breakglass, ops-role, shadow"
    );
    assert!(
        activity
            .lines
            .iter()
            .any(|l| l.contains("AttachUserPolicy") && l.contains("backup-svc")),
        "{:#?}",
        activity.lines
    );
    assert!(activity.lines.iter().any(|l| l.contains("LimitExceeded")));
    assert!(!activity.lines.iter().any(|l| l.contains("innocent")));
    // AND the events themselves are evidence, hashed like the rest
    let key = report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("/activity.json"))
        .expect("activity.json in the report's evidence");
    let s3 = scene.moto.s3().await;
    assert!(evidence_keys(&s3).await.contains(&key.key));
    let body = evidence_body(&s3, &key.key).await;
    let stored: Vec<Value> = serde_json::from_slice(&body).unwrap();
    assert_eq!(stored.len(), 7);
    assert!(
        stored
            .iter()
            .all(|a| a["record"]["eventID"] == a["event_id"])
    );
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&body)), key.sha256);

    // AND the hunt never started before the first containment write
    let seen = scene.trail.seen();
    let mine = |s: &&harness::trail::Seen| s.key == "AKIAIOSFODNN7EXAMPLE";
    let ours: Vec<_> = seen.iter().filter(mine).collect();
    let first_write = ours
        .iter()
        .position(|s| matches!(s.action.as_str(), "UpdateAccessKey" | "PutUserPolicy"))
        .expect("a containment write");
    let first_lookup = ours
        .iter()
        .position(|s| s.action == "LookupEvents")
        .expect("a lookup");
    assert!(first_write < first_lookup, "{ours:?}");

    // AND the follow-ons' intent was stored before their writes, listed in the manifest, so a run
    // that dies before its report still leaves a ledger a release understands
    let intent_key = report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("/hunt/intent.json"))
        .expect("the follow-ons' intent in the report's evidence")
        .key
        .clone();
    let intent: Value = serde_json::from_slice(&evidence_body(&s3, &intent_key).await).unwrap();
    let named: Vec<&str> = intent["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["principal_arn"].as_str())
        .collect();
    assert!(
        named.iter().any(|a| a.ends_with("user/backup-svc")),
        "{named:?}"
    );
    let checks = tourniquet_aws::evidence::verify(
        &tourniquet_aws::sdk::S3Evidence::new(s3.clone(), harness::BUCKET),
        &report.incident_id,
    )
    .await
    .expect("verified");
    assert!(
        checks.iter().all(|c| c.is_verified()),
        "every object, the follow-ons' intent included, matches its manifest"
    );

    // AND a follow-on is released like the incident's own targets, from the same ledger
    let release = responder(&scene, &[], Playbook::Release).await;
    let released = release
        .handle(json!({
            "principal_arn": "arn:aws:iam::111122223333:user/backup-svc",
            "incident_id": report.incident_id,
        }))
        .await
        .expect("released");
    assert_eq!(released.status, Status::Released, "{released:#?}");
    assert!(!denied(iam, "backup-svc").await, "the deny is off");
    assert_eq!(
        key_statuses(iam, "backup-svc").await,
        vec![(scene.backdoor_key.clone(), StatusType::Inactive)],
        "the attacker's key stays inactive unless the release lists it"
    );
}

#[tokio::test]
async fn a_dry_run_hunts_and_shows_what_it_would_contain_changing_nothing() {
    let scene = attack().await;
    let responder = responder(&scene, &[("DRY_RUN", "true")], Playbook::Contain).await;

    let report = responder.handle(finding(&scene)).await.expect("planned");

    assert_eq!(report.status, Status::Planned);
    let backup = target(&report, "backup-svc").expect("backup-svc would be contained");
    assert_eq!(backup.status, Status::Planned);
    assert!(!backup.steps.is_empty());
    assert_eq!(
        key_statuses(&scene.iam, "backup-svc").await,
        vec![(scene.backdoor_key.clone(), StatusType::Active)],
        "nothing changed"
    );
    assert!(!denied(&scene.iam, "backup-svc").await);
    assert_eq!(report.activity.as_ref().unwrap().events, 7);
}

#[tokio::test]
async fn the_second_hunt_is_queued_read_back_from_the_evidence_and_a_forged_one_is_refused() {
    // GIVEN a hunt queue (no delay, so the test need not wait 15 minutes)
    let scene = attack().await;
    let sdk = scene.moto.sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .create_queue()
        .queue_name("hunt")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let vars = [
        ("HUNT_QUEUE_URL", queue.as_str()),
        ("HUNT_DELAY_SECONDS", "0"),
    ];
    let contain = responder(&scene, &vars, Playbook::Contain).await;
    let first = contain.handle(finding(&scene)).await.expect("contained");
    let queued = first.activity.as_ref().unwrap().second_hunt.clone();
    assert!(
        queued
            .as_deref()
            .is_some_and(|q| q.contains("second-hunt.json")),
        "{queued:?}"
    );

    // WHEN the hunt function takes the queued message
    let messages = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(messages.len(), 1);
    let forged = json!({"second_hunt": "incidents/guardduty-x/20261202T000000Z/second-hunt.json"});
    let outside = json!({"second_hunt": "elsewhere/plan.json"});
    let record = |id: &str, body: String| {
        json!({
            "messageId": id, "receiptHandle": "r", "body": body, "attributes": {},
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:hunt", "awsRegion": "us-east-1"
        })
    };
    let batch = json!({"Records": [
        record("queued", messages[0].body.clone().unwrap()),
        record("forged", forged.to_string()),
        record("outside", outside.to_string()),
    ]});
    let hunt = responder(&scene, &[], Playbook::Hunt).await;
    let answer = hunt.invoke(batch, None).await.expect("a batch answer");

    // THEN the queued one is hunted again (round 2) and the two that name no stored request fail
    let failed: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["forged", "outside"]);
    let s3 = scene.moto.s3().await;
    let reports: Vec<String> = evidence_keys(&s3)
        .await
        .into_iter()
        .filter(|k| k.ends_with("/report.json"))
        .collect();
    assert_eq!(reports.len(), 2, "{reports:?}");
    let mut second = None;
    for key in &reports {
        let report: Report = serde_json::from_slice(&evidence_body(&s3, key).await).unwrap();
        if report.activity.as_ref().is_some_and(|a| a.round == 2) {
            second = Some(report);
        }
    }
    let second = second.expect("the second hunt's report");
    assert_eq!(
        second.incident_id, first.incident_id,
        "the same incident's ledger"
    );
    assert_eq!(second.activity.as_ref().unwrap().events, 7);
    assert!(
        second.activity.as_ref().unwrap().second_hunt.is_none(),
        "no third"
    );
}

#[tokio::test]
async fn a_hunt_request_by_hand_is_checked_field_by_field() {
    let scene = attack().await;
    let hunt = responder(&scene, &[], Playbook::Hunt).await;
    for (request, field) in [
        (
            json!({"hunt": {"access_key_ids": ["AKIAIOSFODNN7EXAMPLE"]}}),
            "incident_id",
        ),
        (json!({"hunt": {"incident_id": "ir-1"}}), "hunt"),
        (
            json!({"hunt": {"incident_id": "ir-1", "access_key_ids": ["nope"]}}),
            "hunt.access_key_ids[0]",
        ),
        (
            json!({"hunt": {"incident_id": "ir-1", "users": ["arn:aws:iam::111122223333:role/x"]}}),
            "hunt.users[0]",
        ),
        (
            json!({"hunt": {"incident_id": "ir-1", "users": [], "access_key_ids": ["AKIAIOSFODNN7EXAMPLE"], "extra": 1}}),
            "extra",
        ),
    ] {
        let err = hunt
            .invoke(request.clone(), None)
            .await
            .expect_err("refused");
        assert!(err.to_string().contains(field), "{request}: {err}");
    }

    // A hunt by hand of alice's key contains what it left, as the incident's own targets would be.
    let request = json!({"hunt": {
        "incident_id": "ir-by-hand",
        "access_key_ids": [scene.alice.keys[0]],
        "since": (chrono::Utc::now() - chrono::TimeDelta::hours(1)).to_rfc3339(),
    }});
    let answer = hunt.invoke(request, None).await.expect("hunted");
    let report: Report = serde_json::from_value(answer).unwrap();
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    assert!(denied(&scene.iam, "backup-svc").await);
    assert!(
        !denied(&scene.iam, "alice").await,
        "a hunt contains what the key left, not its owner"
    );
}

#[tokio::test]
async fn with_hunt_off_contain_reads_no_cloudtrail_and_follows_nobody() {
    let scene = attack().await;
    let responder = responder(&scene, &[("HUNT", "false")], Playbook::Contain).await;

    let report = responder.handle(finding(&scene)).await.expect("contained");

    assert_eq!(report.status, Status::Contained);
    assert!(report.activity.is_none());
    assert_eq!(report.targets.len(), 1, "alice alone");
    assert!(!denied(&scene.iam, "backup-svc").await);
    assert!(
        scene
            .trail
            .seen()
            .iter()
            .all(|s| s.action != "LookupEvents"),
        "no CloudTrail read"
    );
}
