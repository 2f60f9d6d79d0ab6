//! Every sample event in `events/` read by intake: what it names, or why it is ignored or rejected.

use serde_json::{Value, json};
use tourniquet_core::intake::{Incident, Intake, Options, Source, Trigger};
use tourniquet_core::principal::PrincipalKind;

fn parse(event: &Value) -> Result<Intake, tourniquet_core::error::InputError> {
    tourniquet_core::intake::parse(event, &Options::default())
}

fn event(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn incident_of(event: &Value) -> Incident {
    match parse(event) {
        Ok(Intake::Incident(incident)) => *incident,
        other => panic!("{event}: expected an incident, got {other:?}"),
    }
}

fn incident(name: &str) -> Incident {
    incident_of(&event(name))
}

fn ignored(name: &str) -> String {
    ignored_of(&event(name))
}

fn ignored_of(event: &Value) -> String {
    match parse(event) {
        Ok(Intake::Ignored { reason }) => reason,
        other => panic!("{event}: expected to be ignored, got {other:?}"),
    }
}

#[test]
fn guardduty_iam_user_finding_names_the_user_key_and_account() {
    let i = incident("guardduty-iam-user.json");
    assert_eq!(i.id, "guardduty-5ac6e0f1b2c34d5e6f708192a3b4c5d6");
    assert_eq!(i.source, Source::GuardDuty);
    assert_eq!(
        i.reason.as_deref(),
        Some("CredentialAccess:IAMUser/AnomalousBehavior")
    );
    assert!(!i.dry_run);
    let target = &i.targets[0];
    let p = target.principal.as_ref().unwrap();
    assert_eq!(
        (p.kind, p.name.as_str(), p.account_id.as_str()),
        (PrincipalKind::User, "ci-deployer", "111122223333")
    );
    assert_eq!(target.access_key_ids, ["AKIAEXAMPLECOMPROM01"]);
}

#[test]
fn guardduty_root_finding_is_low_severity_and_names_root_when_acted_on() {
    // GuardDuty rates root credential usage Low (2.0): below the default threshold.
    assert!(ignored("guardduty-root.json").contains("below the threshold"));
    let every = Options {
        severity_threshold: 0.0,
        ..Options::default()
    };
    let Ok(Intake::Incident(i)) =
        tourniquet_core::intake::parse(&event("guardduty-root.json"), &every)
    else {
        panic!("a root finding is an incident at threshold 0");
    };
    assert_eq!(
        i.targets[0].principal.as_ref().unwrap().kind,
        PrincipalKind::Root
    );
}

#[test]
fn sample_archived_and_unrelated_events_are_ignored_with_a_reason() {
    assert!(ignored("guardduty-iam-user-sample.json").contains("sample"));
    assert!(ignored("guardduty-iam-user-archived.json").contains("archived"));
    assert!(ignored("ec2-state-change.json").contains("aws.ec2"));
}

#[test]
fn a_finding_without_access_key_details_is_rejected_naming_the_field() {
    let err = parse(&event("malformed-guardduty-missing-access-key.json")).unwrap_err();
    assert_eq!(err.field, "detail.resource.accessKeyDetails");
}

#[test]
fn manual_requests_carry_their_incident_reason_and_dry_run() {
    let i = incident("manual-user.json");
    assert_eq!(
        (i.id.as_str(), i.source, i.dry_run),
        ("IR-2026-0042", Source::Manual, false)
    );
    assert_eq!(i.reason.as_deref(), Some("key pasted in a public repo"));
    assert_eq!(
        i.targets[0].principal.as_ref().unwrap().arn(),
        "arn:aws:iam::111122223333:user/ci-deployer"
    );
    assert!(incident("manual-user-dry-run.json").dry_run);
    let key_only = incident("manual-key-only.json");
    assert_eq!(key_only.targets[0].principal, None);
    assert_eq!(key_only.targets[0].access_key_ids, ["AKIAEXAMPLECOMPROM01"]);
    let root = incident("manual-root.json");
    assert_eq!(
        root.targets[0].principal.as_ref().unwrap().kind,
        PrincipalKind::Root
    );
}

#[test]
fn a_manual_request_without_incident_id_gets_one_that_is_stable_across_replays() {
    let request = json!({"principal_arn": "arn:aws:iam::111122223333:user/alice"});
    let first = incident_of(&request).id;
    assert!(first.starts_with("manual-"), "{first}");
    assert_eq!(incident_of(&request).id, first);
    let other = json!({"principal_arn": "arn:aws:iam::111122223333:user/bob"});
    assert_ne!(incident_of(&other).id, first);
}

#[test]
fn bad_manual_requests_name_the_field() {
    for (request, field) in [
        (json!({}), "principal_arn"),
        (json!({"principal_arn": "alice"}), "principal_arn"),
        (
            json!({"principal_arm": "arn:aws:iam::111122223333:user/alice"}),
            "principal_arm",
        ),
        (json!({"access_key_id": "not a key"}), "access_key_id"),
        (
            json!({"access_key_id": "AKIAEXAMPLECOMPROM01", "incident_id": "IR 42/.."}),
            "incident_id",
        ),
        (
            json!({"access_key_id": "AKIAEXAMPLECOMPROM01", "dry_run": "yes"}),
            "dry_run",
        ),
        (json!(["not", "an", "object"]), "(event)"),
    ] {
        let err = parse(&request).expect_err(&request.to_string());
        assert_eq!(err.field, field, "{request}: {err}");
    }
}

#[test]
fn a_typo_in_a_manual_request_is_named_in_the_message() {
    let err = parse(&json!({"principal_arm": "x"})).unwrap_err();
    assert!(err.to_string().contains("principal_arm"), "{err}");
}

#[test]
fn a_guardduty_finding_with_bad_fields_names_them() {
    let mut e = event("guardduty-iam-user.json");
    e["detail"]["resource"]["accessKeyDetails"]["userName"] = "bad name!".into();
    assert_eq!(
        parse(&e).unwrap_err().field,
        "detail.resource.accessKeyDetails.userName"
    );
    let mut e = event("guardduty-iam-user.json");
    e["detail"]["accountId"] = 111122223333u64.into();
    assert_eq!(parse(&e).unwrap_err().field, "detail.accountId");
}

#[test]
fn guardduty_assumed_role_finding_names_the_role_and_its_temporary_key() {
    let i = incident("guardduty-assumed-role.json");
    let p = i.targets[0].principal.as_ref().unwrap();
    assert_eq!(
        (p.kind, p.name.as_str()),
        (PrincipalKind::Role, "app-worker")
    );
    assert_eq!(i.targets[0].access_key_ids, ["ASIAEXAMPLESTOLEN001"]);
    assert_eq!(
        i.reason.as_deref(),
        Some("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS")
    );
}

#[test]
fn manual_role_requests_keep_the_role_path() {
    let p = incident("manual-role.json").targets[0]
        .principal
        .clone()
        .unwrap();
    assert_eq!(
        (p.kind, p.name.as_str()),
        (PrincipalKind::Role, "app-worker")
    );
    assert_eq!(p.path.as_deref(), Some("/service/"));
    for name in [
        "manual-service-linked-role.json",
        "manual-identity-center-role.json",
    ] {
        assert_eq!(
            incident(name).targets[0].principal.as_ref().unwrap().kind,
            PrincipalKind::Role
        );
    }
}

#[test]
fn a_temporary_key_alone_is_rejected_because_iam_cannot_name_its_role() {
    let err = parse(&json!({"access_key_id": "ASIAEXAMPLESTOLEN001"})).unwrap_err();
    assert_eq!(err.field, "access_key_id");
    assert!(err.message.contains("principal_arn"), "{err}");
}

fn principals(i: &Incident) -> Vec<(PrincipalKind, String, Vec<String>)> {
    i.targets
        .iter()
        .map(|t| {
            let p = t.principal.as_ref().unwrap();
            (p.kind, p.name.clone(), t.access_key_ids.clone())
        })
        .collect()
}

#[test]
fn guardduty_below_the_severity_threshold_is_ignored() {
    let mut e = event("guardduty-iam-user.json");
    e["detail"]["severity"] = 2.0.into();
    match tourniquet_core::intake::parse(&e, &Options::default()) {
        Ok(Intake::Ignored { reason }) => {
            assert!(reason.contains("SEVERITY_THRESHOLD"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let low = Options {
        severity_threshold: 1.0,
        ..Options::default()
    };
    assert!(matches!(
        tourniquet_core::intake::parse(&e, &low),
        Ok(Intake::Incident(_))
    ));
}

#[test]
fn guardduty_attack_sequence_names_its_actors() {
    let i = incident("guardduty-attack-sequence.json");
    assert_eq!(
        i.reason.as_deref(),
        Some("AttackSequence:IAM/CompromisedCredentials")
    );
    assert_eq!(
        principals(&i),
        [(
            PrincipalKind::User,
            "ci-deployer".to_string(),
            vec!["AKIAEXAMPLECOMPROM01".to_string()]
        )]
    );
}

#[test]
fn every_health_risk_code_names_its_keys_for_the_responder_to_resolve() {
    for (name, keys) in [
        (
            "health-credentials-exposed.json",
            vec!["AKIAEXAMPLECOMPROM01"],
        ),
        (
            "health-credentials-compromise-suspected.json",
            vec!["AKIAEXAMPLECOMPROM01"],
        ),
        (
            "health-iam-quarantine.json",
            vec!["AKIAEXAMPLECOMPROM01", "AKIAEXAMPLECOMPROM02"],
        ),
    ] {
        let i = incident(name);
        assert_eq!(i.source, Source::Health);
        let found: Vec<&str> = i
            .targets
            .iter()
            .map(|t| {
                assert_eq!(t.principal, None, "{name}: Health names keys, not users");
                assert_eq!(t.account_id.as_deref(), Some("111122223333"));
                t.access_key_ids[0].as_str()
            })
            .collect();
        assert_eq!(found, keys, "{name}");
    }
    for code in [
        "AWS_RISK_CREDENTIALS_EXPOSURE_SUSPECTED",
        "AWS_RISK_CREDENTIALS_COMPROMISED",
    ] {
        let mut e = event("health-credentials-exposed.json");
        e["detail"]["eventTypeCode"] = code.into();
        assert!(matches!(parse(&e), Ok(Intake::Incident(_))), "{code}");
    }
}

#[test]
fn the_health_backup_copy_is_the_same_incident() {
    let primary = incident("health-credentials-exposed.json");
    let backup = incident("health-credentials-exposed-backup-region.json");
    assert_eq!(primary.id, backup.id);
    assert_eq!(primary.targets, backup.targets);
}

#[test]
fn unrelated_health_events_are_ignored_and_bad_entities_named() {
    assert!(ignored("health-ec2-maintenance.json").contains("not a credential risk"));
    let mut e = event("health-credentials-exposed.json");
    e["detail"]["affectedEntities"][0]["entityValue"] = "i-0f3a9c1e5b7d2a468".into();
    assert_eq!(
        parse(&e).unwrap_err().field,
        "detail.affectedEntities[0].entityValue"
    );
    e["detail"]["affectedEntities"] = serde_json::json!([]);
    assert_eq!(parse(&e).unwrap_err().field, "detail.affectedEntities");
}

#[test]
fn a_security_hub_custom_action_names_every_iam_resource_of_every_finding() {
    let i = incident("securityhub-custom-action.json");
    assert_eq!(i.source, Source::SecurityHub);
    assert_eq!(
        principals(&i),
        [
            (
                PrincipalKind::User,
                "ci-deployer".to_string(),
                vec!["AKIAEXAMPLECOMPROM01".to_string()]
            ),
            (PrincipalKind::Role, "app-worker".to_string(), vec![]),
        ]
    );
    let role = i.targets[1].principal.as_ref().unwrap();
    assert_eq!(role.path.as_deref(), Some("/service/"));
}

#[test]
fn imported_security_hub_findings_are_acted_on_unless_closed_or_not_iam() {
    let i = incident("securityhub-imported-guardduty.json");
    assert_eq!(
        principals(&i),
        [(
            PrincipalKind::User,
            "ci-deployer".to_string(),
            vec!["AKIAEXAMPLECOMPROM01".to_string()]
        )]
    );
    assert_eq!(i.trigger, Trigger::Automatic);
    // The same GuardDuty finding on both routes is one incident.
    assert_eq!(i.id, incident("guardduty-iam-user.json").id);
    assert!(ignored("securityhub-imported-ec2.json").contains("no Security Hub finding"));
    for (field, value) in [("RecordState", "ARCHIVED"), ("Workflow", "RESOLVED")] {
        let mut e = event("securityhub-imported-guardduty.json");
        e["detail"]["findings"][0][field] = if field == "Workflow" {
            serde_json::json!({"Status": value})
        } else {
            value.into()
        };
        match parse(&e) {
            Ok(Intake::Ignored { reason }) => assert!(
                reason.contains(&value.to_string()) || reason.contains("archived"),
                "{reason}"
            ),
            other => panic!("{field}: {other:?}"),
        }
    }
    // A custom action on the same closed finding is a human's decision: acted on.
    let mut e = event("securityhub-imported-guardduty.json");
    e["detail-type"] = "Security Hub Findings - Custom Action".into();
    e["detail"]["findings"][0]["RecordState"] = "ARCHIVED".into();
    assert_eq!(incident_of(&e).trigger, Trigger::Human);
}

#[test]
fn an_imported_finding_is_judged_on_the_providers_severity_and_types_not_the_rewritable_ones() {
    // GIVEN a Low GuardDuty finding that someone allowed securityhub:BatchUpdateFindings raised
    // to CRITICAL and retyped, in the fields that call may rewrite
    let mut e = event("securityhub-imported-guardduty.json");
    let finding = &mut e["detail"]["findings"][0];
    finding["FindingProviderFields"]["Severity"] = json!({"Label": "LOW", "Original": "2"});
    finding["Severity"] = json!({"Label": "CRITICAL", "Normalized": 90});
    // THEN it is judged on the provider's own severity: below the threshold, not acted on
    let reason = ignored_of(&e);
    assert!(
        reason.contains("severity 2 below the threshold"),
        "{reason}"
    );

    // GIVEN a compliance finding whose rewritable Types claim a threat
    let mut e = event("securityhub-imported-guardduty.json");
    let finding = &mut e["detail"]["findings"][0];
    finding["FindingProviderFields"]["Types"] =
        json!(["Software and Configuration Checks/AWS Security Best Practices"]);
    finding["Types"] = json!(["TTPs/Initial Access/Valid Accounts"]);
    // THEN the provider's types decide
    let reason = ignored_of(&e);
    assert!(reason.contains("not a threat detection"), "{reason}");

    // GIVEN a finding whose provider gave no severity, but whose rewritable Severity says HIGH
    let mut e = event("securityhub-imported-guardduty.json");
    let finding = &mut e["detail"]["findings"][0];
    finding["FindingProviderFields"]
        .as_object_mut()
        .unwrap()
        .remove("Severity");
    finding["Severity"] = json!({"Label": "HIGH", "Normalized": 70});
    // THEN it is not acted on, and the reason names the field
    let reason = ignored_of(&e);
    assert!(
        reason.contains("FindingProviderFields.Severity"),
        "{reason}"
    );

    // AND the untouched finding is still acted on, on GuardDuty's own score (5)
    assert_eq!(
        incident("securityhub-imported-guardduty.json").trigger,
        Trigger::Automatic
    );
}

#[test]
fn a_finding_imported_into_the_accounts_own_product_is_ignored() {
    // Anyone allowed securityhub:BatchImportFindings can import this into the default product.
    let reason = ignored("securityhub-imported.json");
    assert!(
        reason.contains("not an AWS-owned product")
            && reason.contains("product/111122223333/default"),
        "{reason}"
    );
    // An AWS product that is not on the allowlist is not acted on either, until it is listed.
    let mut e = event("securityhub-imported-guardduty.json");
    e["detail"]["findings"][0]["ProductArn"] =
        "arn:aws:securityhub:us-east-1::product/aws/inspector".into();
    assert!(ignored_of(&e).contains("SECURITYHUB_PRODUCTS"));
    let with_inspector = Options {
        securityhub_products: vec!["guardduty".into(), "inspector".into()],
        ..Options::default()
    };
    assert!(matches!(
        tourniquet_core::intake::parse(&e, &with_inspector),
        Ok(Intake::Incident(_))
    ));
    // A look-alike with an account in the ARN is not AWS's.
    e["detail"]["findings"][0]["ProductArn"] =
        "arn:aws:securityhub:us-east-1:111122223333:product/aws/guardduty".into();
    assert!(ignored_of(&e).contains("not an AWS-owned product"));
    // A human choosing the same finding in the console acts on any AWS product, on the allowlist
    // or not, but not on the default product's findings, which anyone may import.
    let mut chosen = event("securityhub-imported.json");
    chosen["detail-type"] = "Security Hub Findings - Custom Action".into();
    assert!(ignored_of(&chosen).contains("not an AWS-owned product"));
    chosen["detail"]["findings"][0]["ProductArn"] =
        "arn:aws:securityhub:us-east-1::product/aws/inspector".into();
    assert_eq!(incident_of(&chosen).targets.len(), 1);
}

#[test]
fn a_finding_naming_a_principal_of_another_account_is_not_acted_on() {
    let reason = ignored("securityhub-imported-cross-account.json");
    assert!(
        reason.contains("444455556666") && reason.contains("AwsAccountId"),
        "{reason}"
    );
    // Not through a custom action either: the account rule holds for humans' choices too.
    let mut e = event("securityhub-imported-cross-account.json");
    e["detail-type"] = "Security Hub Findings - Custom Action".into();
    let err = parse(&e).unwrap_err();
    assert_eq!(err.field, "detail.findings[0].Resources");
    assert!(err.message.contains("444455556666"), "{err}");
    // A key whose details name another account is caught the same way.
    let mut key = event("securityhub-imported-guardduty.json");
    key["detail"]["findings"][0]["Resources"][0]["Details"]["AwsIamAccessKey"]["AccountId"] =
        "444455556666".into();
    assert!(ignored_of(&key).contains("444455556666"));
}

#[test]
fn an_imported_finding_without_severity_is_not_acted_on() {
    assert!(ignored("securityhub-imported-no-severity.json").contains("no severity"));
    // The provider's label alone is a severity.
    let mut e = event("securityhub-imported-no-severity.json");
    e["detail"]["findings"][0]["FindingProviderFields"]["Severity"] = json!({"Label": "HIGH"});
    assert_eq!(incident_of(&e).targets.len(), 1);
    e["detail"]["findings"][0]["FindingProviderFields"]["Severity"] = json!({"Label": "LOW"});
    assert!(ignored_of(&e).contains("below the threshold"));
}

#[test]
fn a_security_hub_resource_with_a_bad_arn_is_named() {
    let mut e = event("securityhub-imported-guardduty.json");
    e["detail"]["findings"][0]["Resources"][0] = json!({"Type": "AwsIamUser", "Id": "build-bot"});
    assert_eq!(
        parse(&e).unwrap_err().field,
        "detail.findings[0].Resources[0].Id"
    );
    // Beside a good resource, the bad one is skipped and named; the good one is contained.
    let mut e = event("securityhub-imported-guardduty.json");
    e["detail"]["findings"][0]["Resources"]
        .as_array_mut()
        .unwrap()
        .push(json!({"Type": "AwsIamUser", "Id": "build-bot"}));
    let i = incident_of(&e);
    assert_eq!(i.targets.len(), 1);
    assert_eq!(i.skipped.len(), 1);
    assert_eq!(i.skipped[0].field, "detail.findings[0].Resources[1].Id");
}

#[test]
fn cloudtrail_events_name_the_acting_user_or_the_role_behind_a_session() {
    let user = incident("cloudtrail-api-call-user.json");
    assert_eq!(user.source, Source::CloudTrail);
    assert_eq!(
        principals(&user),
        [(
            PrincipalKind::User,
            "ci-deployer".to_string(),
            vec!["AKIAEXAMPLECOMPROM01".to_string()]
        )]
    );
    let role = incident("cloudtrail-api-call-assumed-role.json");
    assert_eq!(
        principals(&role),
        [(
            PrincipalKind::Role,
            "app-worker".to_string(),
            vec!["ASIAEXAMPLESTOLEN001".to_string()]
        )]
    );
    assert_eq!(
        role.targets[0].principal.as_ref().unwrap().path.as_deref(),
        Some("/service/")
    );
    let sign_in = incident("cloudtrail-console-sign-in.json");
    assert_eq!(
        principals(&sign_in),
        [(PrincipalKind::User, "ci-deployer".to_string(), vec![])]
    );
    // The responder's own calls parse as incidents; the responder, which knows itself, ignores them.
    let own = incident("cloudtrail-responder-own-call.json");
    assert_eq!(
        own.targets[0].principal.as_ref().unwrap().name,
        "tourniquet-contain"
    );
}

#[test]
fn a_failed_console_sign_in_is_ignored() {
    let mut e = event("cloudtrail-console-sign-in.json");
    e["detail"]["responseElements"]["ConsoleLogin"] = "Failure".into();
    match parse(&e) {
        Ok(Intake::Ignored { reason }) => assert!(reason.contains("failed"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_fixture_is_read_without_error_except_the_malformed_ones() {
    let dir = format!("{}/../../events", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 27, "{names:?}");
    for name in names {
        let result = parse(&event(&name));
        assert_eq!(
            result.is_err(),
            name.starts_with("malformed-"),
            "{name}: {result:?}"
        );
    }
}

#[test]
fn a_guardduty_finding_through_security_hub_is_the_same_incident() {
    let direct = incident("guardduty-iam-user.json");
    let mut e = event("securityhub-custom-action.json");
    e["detail"]["findings"].as_array_mut().unwrap().truncate(1);
    assert_eq!(incident_of(&e).id, direct.id);
    assert!(
        incident("securityhub-custom-action.json")
            .id
            .starts_with("securityhub-"),
        "two findings"
    );
}

#[test]
fn imported_compliance_findings_about_iam_users_are_not_compromises() {
    // The provider's types (the finding's own may be rewritten by BatchUpdateFindings).
    let mut e = event("securityhub-imported-guardduty.json");
    e["detail"]["findings"][0]["FindingProviderFields"]["Types"] =
        serde_json::json!(["Software and Configuration Checks/AWS Security Best Practices"]);
    match parse(&e) {
        Ok(Intake::Ignored { reason }) => {
            assert!(reason.contains("not a threat detection"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_event_claiming_an_aws_type_under_another_source_is_ignored_as_spoofed() {
    for name in [
        "cloudtrail-spoofed-source.json",
        "guardduty-spoofed-source.json",
    ] {
        let reason = ignored(name);
        assert!(
            reason.contains("events:PutEvents") && reason.contains("its source is"),
            "{name}: {reason}"
        );
    }
    for (source, detail_type) in [
        ("aws.guardduty.fake", "GuardDuty Finding"),
        ("aws.securityhub", "AWS Health Event"),
        ("aws.", "AWS API Call via CloudTrail"),
        ("myapp", "AWS Console Sign In via CloudTrail"),
        ("AWS.IAM", "AWS API Call via CloudTrail"),
    ] {
        let mut e = event("cloudtrail-api-call-user.json");
        e["source"] = source.into();
        e["detail-type"] = detail_type.into();
        assert!(
            ignored_of(&e).contains("no AWS signal"),
            "{source} / {detail_type}"
        );
    }
}

#[test]
fn samples_are_samples_in_every_shape() {
    let reason = ignored("guardduty-iam-user-sample-string-info.json");
    assert!(reason.contains("sample finding"), "{reason}");
    let reason = ignored("guardduty-sample-generated-names.json");
    assert!(reason.contains("GeneratedFinding"), "{reason}");
    // A placeholder in an attack sequence's actors counts too.
    let mut e = event("guardduty-attack-sequence.json");
    e["detail"]["service"]["detection"]["sequence"]["actors"][0]["user"]["name"] =
        "GeneratedFindingUserName".into();
    assert!(ignored_of(&e).contains("GeneratedFinding"));
}

#[test]
fn a_health_event_with_one_malformed_entity_names_the_good_keys_and_the_bad_field() {
    let i = incident("health-credentials-exposed-mixed-entities.json");
    assert_eq!(i.targets.len(), 1);
    assert_eq!(i.targets[0].access_key_ids, ["AKIAEXAMPLECOMPROM01"]);
    assert_eq!(i.skipped.len(), 1);
    assert_eq!(i.skipped[0].field, "detail.affectedEntities[1].entityValue");
}

#[test]
fn a_guardduty_finding_carries_when_it_last_saw_the_activity() {
    let i = incident("guardduty-iam-user.json");
    assert_eq!(
        i.last_seen.map(|t| t.to_rfc3339()),
        Some("2026-11-20T03:04:51+00:00".to_string())
    );
    assert_eq!(i.trigger, Trigger::Automatic);
    assert_eq!(incident("manual-user.json").trigger, Trigger::Human);
}

/// An imported GuardDuty finding naming `n` users of its account.
fn imported_naming(n: usize) -> Value {
    let mut e = event("securityhub-imported-guardduty.json");
    let resources: Vec<Value> = (0..n)
        .map(
            |i| json!({"Type": "AwsIamUser", "Id": format!("arn:aws:iam::111122223333:user/u{i}")}),
        )
        .collect();
    e["detail"]["findings"][0]["Resources"] = Value::Array(resources);
    e
}

#[test]
fn a_custom_action_on_a_finding_anyone_could_import_contains_nobody() {
    // GIVEN a finding in the account's own default product, which takes imports from anyone
    // allowed securityhub:BatchImportFindings, sent to the custom action
    let mut e = event("securityhub-custom-action.json");
    e["detail"]["findings"][1]["ProductArn"] =
        "arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default".into();
    // THEN its role is not contained; the GuardDuty finding beside it still is
    let i = incident_of(&e);
    assert_eq!(i.targets.len(), 1, "{:?}", i.targets);
    assert_eq!(i.targets[0].principal.as_ref().unwrap().name, "ci-deployer");
}

#[test]
fn a_custom_action_on_a_compliance_finding_contains_nobody() {
    // GIVEN the readiness audit's admin-policy finding (a compliance finding naming every holder
    // of AdministratorAccess), sent to the custom action by one click
    let mut e = imported_naming(3);
    e["detail-type"] = "Security Hub Findings - Custom Action".into();
    let finding = &mut e["detail"]["findings"][0];
    let compliance = json!(["Software and Configuration Checks/AWS Security Best Practices"]);
    finding["Types"] = compliance.clone();
    finding["FindingProviderFields"]["Types"] = compliance;
    // THEN nobody is contained, and the reason says what to do instead
    let reason = ignored_of(&e);
    assert!(
        reason.contains("not a threat detection") && reason.contains("principal_arn"),
        "{reason}"
    );
}

#[test]
fn an_automatic_event_naming_more_principals_than_the_cap_needs_a_human() {
    let options = Options::default();
    let at_cap = incident_of(&imported_naming(25));
    assert_eq!(at_cap.over_cap(&options), None);
    let over = incident_of(&imported_naming(26));
    let why = over.over_cap(&options).expect("26 > 25");
    assert!(
        why.contains("26 principals")
            && why.contains("MAX_PRINCIPALS_PER_EVENT")
            && why.contains("\"max_principals\": 26"),
        "{why}"
    );
    // A human's max_principals on the payload lifts it, for that invocation only.
    let mut lifted = imported_naming(26);
    lifted["max_principals"] = 30.into();
    assert_eq!(incident_of(&lifted).over_cap(&options), None);
    lifted["max_principals"] = "all".into();
    assert_eq!(parse(&lifted).unwrap_err().field, "max_principals");
    // A custom action is capped too: one click on findings someone else shaped must not contain
    // a crowd; the human confirms the number with max_principals. AWS Health's list is not capped.
    let mut chosen = imported_naming(26);
    chosen["detail-type"] = "Security Hub Findings - Custom Action".into();
    assert!(incident_of(&chosen).over_cap(&options).is_some());
    chosen["max_principals"] = 26.into();
    assert_eq!(incident_of(&chosen).over_cap(&options), None);
    let mut health = event("health-credentials-exposed.json");
    health["detail"]["affectedEntities"] = (0..30)
        .map(|i| json!({"entityValue": format!("AKIAEXAMPLEKEY{i:06}")}))
        .collect();
    assert_eq!(incident_of(&health).over_cap(&options), None);
    // A manual request may set its own cap.
    let mut manual = event("manual-user.json");
    manual["max_principals"] = 1.into();
    assert_eq!(incident_of(&manual).max_principals, Some(1));
}

#[test]
fn the_partition_comes_from_the_event_never_a_default() {
    let mut e = event("guardduty-iam-user.json");
    e["detail"]["partition"] = "aws-us-gov".into();
    let p = incident_of(&e).targets[0].principal.clone().unwrap();
    assert_eq!(p.arn(), "arn:aws-us-gov:iam::111122223333:user/ci-deployer");
    e["detail"]["partition"] = "aws-moon".into();
    assert_eq!(parse(&e).unwrap_err().field, "detail.partition");
    let mut s = event("securityhub-imported-guardduty.json");
    s["detail"]["findings"][0]["Resources"][0]["Partition"] = "aws-cn".into();
    let p = incident_of(&s).targets[0].principal.clone().unwrap();
    assert!(p.arn().starts_with("arn:aws-cn:iam::"), "{}", p.arn());
}

#[test]
fn an_odd_user_defined_fields_never_stops_a_containment_and_marks_nothing() {
    // Anyone allowed securityhub:BatchUpdateFindings writes these fields: whatever they hold, the
    // finding is still acted on, and only a string mark counts as Tourniquet's.
    for fields in [
        json!(null),
        json!({"tourniquet:incident": 7}),
        json!({"tourniquet:incident": ["guardduty-x"]}),
    ] {
        let mut imported = event("securityhub-imported-guardduty.json");
        imported["detail"]["findings"][0]["UserDefinedFields"] = fields.clone();
        let incident = incident_of(&imported);
        assert_eq!(incident.echo_of, None, "{fields}");
        assert_eq!(incident.targets.len(), 1, "{fields}");
    }
    let mut marked = event("securityhub-imported-guardduty.json");
    marked["detail"]["findings"][0]["UserDefinedFields"] =
        json!({"tourniquet:incident": "guardduty-x"});
    assert_eq!(incident_of(&marked).echo_of.as_deref(), Some("guardduty-x"));
}
