//! Every sample event in `events/` read by intake: what it names, or why it is ignored or rejected.

use playbook::intake::{Incident, Intake, Source, parse};
use playbook::principal::PrincipalKind;
use serde_json::{Value, json};

fn event(name: &str) -> Value {
    let path = format!("{}/../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn incident_of(event: &Value) -> Incident {
    match parse(event) {
        Ok(Intake::Incident(incident)) => incident,
        other => panic!("{event}: expected an incident, got {other:?}"),
    }
}

fn incident(name: &str) -> Incident {
    incident_of(&event(name))
}

fn ignored(name: &str) -> String {
    match parse(&event(name)) {
        Ok(Intake::Ignored { reason }) => reason,
        other => panic!("{name}: expected to be ignored, got {other:?}"),
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
fn guardduty_root_finding_names_root() {
    let i = incident("guardduty-root.json");
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
