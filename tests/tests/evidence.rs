//! The forensic snapshot and the evidence store against moto: every part of a richly configured
//! user equal to what a second client reads, hashes that verify, a manifest, write-once objects,
//! and Object Lock retention.

use harness::{BUCKET, Moto, evidence_body, guardduty_finding, seed_rich_user};
use serde_json::{Value, json};
use tourniquet_aws::evidence::{Check, put, verify};
use tourniquet_aws::ledger::{EvidenceObject, Manifest};

async fn stored_json(s3: &aws_sdk_s3::Client, key: &str) -> Value {
    serde_json::from_slice(&evidence_body(s3, key).await).unwrap()
}

#[tokio::test]
async fn the_snapshot_holds_every_part_of_the_user_as_a_second_client_reads_it() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = seed_rich_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await;

    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");

    let key = &report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("snapshot.json"))
        .unwrap()
        .key;
    let snapshot = stored_json(&s3, key).await;
    let ids = |v: &Value, field: &str| -> Vec<String> {
        let mut ids: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i[field].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mut keys = user.keys.clone();
    keys.sort();
    assert_eq!(ids(&snapshot["access_keys"], "access_key_id"), keys);
    for key in snapshot["access_keys"].as_array().unwrap() {
        assert!(
            key["last_used"].is_object() || key["last_used"].is_null(),
            "{key}"
        );
    }
    let certs = iam
        .list_signing_certificates()
        .user_name(&user.name)
        .send()
        .await
        .unwrap()
        .certificates;
    assert_eq!(
        ids(&snapshot["signing_certificates"], "certificate_id"),
        [certs[0].certificate_id.clone()]
    );
    let ssh = iam
        .list_ssh_public_keys()
        .user_name(&user.name)
        .send()
        .await
        .unwrap()
        .ssh_public_keys
        .unwrap();
    assert_eq!(
        ids(&snapshot["ssh_public_keys"], "ssh_public_key_id"),
        [ssh[0].ssh_public_key_id.clone()]
    );
    // The emulator does not implement ListServiceSpecificCredentials: that part says so, the rest stands.
    assert!(
        snapshot["service_specific_credentials"]["unavailable"].is_string(),
        "{}",
        snapshot["service_specific_credentials"]
    );
    let group = &snapshot["groups"][0];
    assert_eq!(group["name"], "ci-deployer-deployers");
    assert_eq!(
        group["inline_policies"],
        json!([{"name": "deploy-lambda", "document": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}}])
    );
    let managed = &group["attached_policies"][0];
    assert_eq!(
        managed["arn"],
        "arn:aws:iam::aws:policy/AWSLambda_FullAccess"
    );
    let version = iam
        .get_policy_version()
        .policy_arn("arn:aws:iam::aws:policy/AWSLambda_FullAccess")
        .version_id(managed["default_version"]["version_id"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .policy_version
        .unwrap();
    assert_eq!(
        managed["default_version"]["document"],
        tourniquet_aws::snapshot::decode_policy(version.document.as_deref().unwrap()).unwrap()
    );
    assert_eq!(snapshot["mfa_devices"].as_array().unwrap().len(), 1);
    assert_eq!(snapshot["login_profile"]["password_reset_required"], false);
    assert_eq!(
        snapshot["tags"],
        json!([{"key": "team", "value": "platform"}])
    );
    // identity + ledger listing + intent, wave 1, group lists, GetPolicy, GetPolicyVersion,
    // evidence, manifest
    assert_eq!(report.waves, 7);
}

#[tokio::test]
async fn every_object_of_a_run_is_in_the_manifest_and_verifies_until_one_is_altered() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = seed_rich_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await;
    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");

    // No retention configured: the report says so rather than implying the evidence is locked.
    let lock = report.evidence_lock.as_deref().unwrap_or_default();
    assert!(lock.starts_with("not locked"), "{lock}");
    let names: Vec<&str> = report
        .evidence
        .iter()
        .map(|e| e.key.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "intent.json",
            "event.json",
            "snapshot.json",
            "plan.json",
            "report.json",
            "manifest.json"
        ]
    );
    let manifest_key = &report.evidence[5].key;
    let manifest: Manifest =
        serde_json::from_slice(&evidence_body(&s3, manifest_key).await).unwrap();
    assert_eq!(manifest.incident_id, report.incident_id);
    let listed: Vec<(&str, &str)> = manifest
        .objects
        .iter()
        .map(|o| (o.key.as_str(), o.sha256.as_str()))
        .collect();
    let reported: Vec<(&str, &str)> = report.evidence[..5]
        .iter()
        .map(|e| (e.key.as_str(), e.sha256.as_str()))
        .collect();
    assert_eq!(listed, reported);
    let plan = stored_json(&s3, &report.evidence[3].key).await;
    assert_eq!(plan[0]["action"], "attach_deny_all");
    assert_eq!(plan[0]["critical"], true);

    let checks = verify(
        &tourniquet_aws::sdk::S3Evidence::new(s3.clone(), BUCKET),
        &report.incident_id,
    )
    .await
    .expect("listed");
    assert_eq!(checks.len(), 5);
    assert!(checks.iter().all(Check::is_verified), "{checks:?}");

    // Someone with write access rewrites the snapshot (this bucket has no Object Lock).
    let snapshot_key = &report.evidence[2].key;
    s3.put_object()
        .bucket(BUCKET)
        .key(snapshot_key)
        .body(b"{\"access_keys\": []}".to_vec().into())
        .send()
        .await
        .unwrap();
    let checks = verify(
        &tourniquet_aws::sdk::S3Evidence::new(s3.clone(), BUCKET),
        &report.incident_id,
    )
    .await
    .expect("listed");
    let altered: Vec<&Check> = checks.iter().filter(|c| !c.is_verified()).collect();
    assert!(
        matches!(altered[..], [Check::Mismatch { key, .. }] if key == snapshot_key),
        "{altered:?}"
    );
}

#[tokio::test]
async fn an_evidence_object_is_never_overwritten() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    harness::create_bucket(&s3).await;
    let key = "incidents/IR-1/20261123T000000.000Z/event.json".to_string();
    let first = EvidenceObject::json(key.clone(), &json!({"first": true}));
    let second = EvidenceObject::json(key.clone(), &json!({"second": true}));

    put(
        &tourniquet_aws::sdk::S3Evidence::new(s3.clone(), BUCKET),
        &first,
        None,
    )
    .await
    .expect("first write");
    let err = put(
        &tourniquet_aws::sdk::S3Evidence::new(s3.clone(), BUCKET),
        &second,
        None,
    )
    .await
    .expect_err("a second write to the same key must be refused");

    assert!(err.to_string().contains(&key), "{err}");
    assert_eq!(evidence_body(&s3, &key).await, first.body);
}

#[tokio::test]
async fn evidence_objects_carry_the_configured_object_lock_retention() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    s3.create_bucket()
        .bucket(BUCKET)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .expect("bucket with Object Lock");
    let user = harness::seed_user(&iam, "ci-deployer").await;
    let sdk = moto.sdk_config().await;
    let config = harness::config(&[
        ("EVIDENCE_RETENTION_MODE", "GOVERNANCE"),
        ("EVIDENCE_RETENTION_DAYS", "30"),
    ]);
    let responder = tourniquet_aws::Responder::new(&sdk, config);
    let before = chrono::Utc::now();

    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");

    assert_eq!(report.evidence.len(), 6);
    let lock = report.evidence_lock.as_deref().unwrap_or_default();
    assert!(lock.starts_with("GOVERNANCE until "), "{lock}");
    for evidence in &report.evidence {
        let head = s3
            .head_object()
            .bucket(BUCKET)
            .key(&evidence.key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.object_lock_mode.as_ref().map(|m| m.as_str()),
            Some("GOVERNANCE"),
            "{}",
            evidence.key
        );
        let until = head
            .object_lock_retain_until_date
            .expect("retain-until date")
            .secs();
        let expected = (before + chrono::TimeDelta::days(30)).timestamp();
        assert!(
            (until - expected).abs() < 60,
            "{} retained until {until}, expected about {expected}",
            evidence.key
        );
    }
}

#[tokio::test]
async fn the_verify_command_reports_an_altered_object_and_fails() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = harness::seed_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await;
    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");
    let run = |moto: &Moto| {
        std::process::Command::new(harness::lambda::binary("verify-evidence"))
            .args([BUCKET, &report.incident_id])
            .env("AWS_ENDPOINT_URL", &moto.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "secret")
            .output()
            .expect("verify-evidence runs")
    };

    let clean = run(&moto);
    let stdout = String::from_utf8_lossy(&clean.stdout);
    assert!(clean.status.success(), "{stdout}");
    assert!(
        stdout.contains("5 of 5 objects verify; 0 do not"),
        "{stdout}"
    );

    let event_key = &report.evidence[1].key;
    s3.put_object()
        .bucket(BUCKET)
        .key(event_key)
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    let tampered = run(&moto);
    let stdout = String::from_utf8_lossy(&tampered.stdout);
    assert_eq!(tampered.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("ALTERED   {event_key}")),
        "{stdout}"
    );
}

#[tokio::test]
async fn in_a_versioned_bucket_the_manifest_records_versions_and_a_write_over_is_caught() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let s3 = moto.s3().await;
    let user = harness::seed_user(&iam, "ci-deployer").await;
    let responder = moto.responder(&[]).await;
    s3.put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let report = responder
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");

    let manifest_key = &report.evidence.last().unwrap().key;
    let manifest: Manifest =
        serde_json::from_slice(&evidence_body(&s3, manifest_key).await).unwrap();
    assert!(
        manifest.objects.iter().all(|o| o.version_id.is_some()),
        "{manifest:?}"
    );
    let checks = verify(
        &tourniquet_aws::sdk::S3Evidence::new(s3.clone(), BUCKET),
        &report.incident_id,
    )
    .await
    .unwrap();
    assert!(checks.iter().all(Check::is_verified), "{checks:?}");

    // Someone writes over the report: its latest bytes change, a second version appears.
    let report_key = report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("/report.json"))
        .unwrap()
        .key
        .clone();
    s3.put_object()
        .bucket(BUCKET)
        .key(&report_key)
        .body(b"{}".to_vec().into())
        .send()
        .await
        .unwrap();
    let checks = verify(
        &tourniquet_aws::sdk::S3Evidence::new(s3.clone(), BUCKET),
        &report.incident_id,
    )
    .await
    .unwrap();
    let bad: Vec<&Check> = checks.iter().filter(|c| !c.is_verified()).collect();
    assert!(
        matches!(bad[..], [Check::Replaced { key, versions: 2 }] if *key == report_key),
        "{bad:?}"
    );
}
