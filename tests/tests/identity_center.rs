//! IAM Identity Center users, contained in Identity Center against moto's `sso-admin` and
//! `identitystore`: an instance, two users in one group, two permission sets (one with an inline
//! policy of its own) assigned to two accounts, one directly to the user and one through the group.

use aws_sdk_ssoadmin::types::PrincipalType;
use harness::identity_center::{READ_ONLY_POLICY, seed, user};
use harness::{Moto, event};
use serde_json::{Value, json};
use tourniquet_aws::report::{Outcome, Status};
use tourniquet_aws::{Playbook, identity_center};

/// Tourniquet's statements in a policy, and whom each names.
fn denied_users(policy: &str) -> Vec<String> {
    if policy.is_empty() {
        return Vec::new();
    }
    let document: Value = serde_json::from_str(policy).expect("policy JSON");
    document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| {
            s["Sid"]
                .as_str()
                .is_some_and(|sid| sid.starts_with(identity_center::SID_PREFIX))
        })
        .map(|s| {
            assert_eq!(s["Effect"], "Deny");
            assert_eq!(s["Action"], "*");
            s["Condition"]["StringEquals"]["identitystore:userId"]
                .as_str()
                .expect("the deny names a user")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_user_is_denied_in_every_permission_set_and_released_exactly() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let responder = moto.responder(&[]).await;
    assert!(center.provisioned().await.is_empty());

    let report = responder
        .handle(event("manual-identity-center-user.json"))
        .await
        .expect("contained");
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    let target = &report.targets[0];
    assert_eq!(
        target.principal_arn,
        format!("arn:aws:identitystore:::user/{}", center.alice)
    );
    let mut denied: Vec<&str> = target
        .steps
        .iter()
        .map(|s| {
            assert_eq!(s.action.as_str(), "deny_identity_center_user");
            assert_eq!(s.outcome, Outcome::Applied, "{s:?}");
            s.target.as_str()
        })
        .collect();
    denied.sort();
    let mut sets = vec![center.admin.as_str(), center.read_only.as_str()];
    sets.sort();
    assert_eq!(denied, sets, "the user's own set and the group's");

    // Read back: the deny names alice only, the human's statement is kept, both provisioned.
    for set in [&center.admin, &center.read_only] {
        assert_eq!(
            denied_users(&center.inline(set).await),
            vec![center.alice.clone()]
        );
    }
    let read_only: Value = serde_json::from_str(&center.inline(&center.read_only).await).unwrap();
    assert_eq!(read_only["Statement"][0]["Sid"], "ReadLogs");
    let mut provisioned = center.provisioned().await;
    provisioned.sort();
    assert_eq!(provisioned, sets);
    // Bob holds the same permission sets through the same group: no statement names him, and his
    // group membership is untouched.
    for set in [&center.admin, &center.read_only] {
        assert!(!denied_users(&center.inline(set).await).contains(&center.bob));
    }
    assert_eq!(
        center.groups_of(&center.bob).await,
        vec![center.group.clone()]
    );
    assert_eq!(
        center.groups_of(&center.alice).await,
        vec![center.group.clone()]
    );

    // The snapshot is evidence: the user, the group, both assignments, both inline policies.
    let s3 = moto.s3().await;
    let keys = harness::evidence_keys(&s3).await;
    let snapshot = keys
        .iter()
        .find(|k| k.ends_with(&format!("identity-center/{}/snapshot.json", center.alice)))
        .expect("the user's snapshot is stored");
    let snapshot: Value =
        serde_json::from_slice(&harness::evidence_body(&s3, snapshot).await).unwrap();
    assert_eq!(snapshot["user_name"], "alice@example.com");
    assert_eq!(snapshot["assignments"].as_array().unwrap().len(), 2);
    assert!(
        snapshot["permission_sets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["inline_policy"]["Ok"] == READ_ONLY_POLICY),
        "{snapshot}"
    );

    // A replay writes nothing new.
    let replay = responder
        .handle(event("manual-identity-center-user.json"))
        .await
        .expect("replayed");
    assert!(
        replay.targets[0]
            .steps
            .iter()
            .all(|s| s.outcome == Outcome::AlreadyInPlace),
        "{replay:#?}"
    );
    for set in [&center.admin, &center.read_only] {
        assert_eq!(
            denied_users(&center.inline(set).await),
            vec![center.alice.clone()]
        );
    }

    // The release takes off only Tourniquet's statement: the policies are exactly as they were.
    let release = moto.responder(&[]).await.playing(Playbook::Release);
    let released = release
        .handle(json!({"identity_center_user": "alice@example.com", "incident_id": "IR-2026-0052"}))
        .await
        .expect("released");
    assert_eq!(released.status, Status::Released, "{released:#?}");
    assert_eq!(center.inline(&center.read_only).await, READ_ONLY_POLICY);
    assert_eq!(center.inline(&center.admin).await, "");
}

#[tokio::test]
async fn a_finding_or_a_cloudtrail_event_on_an_identity_center_session_contains_its_user_only() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let iam = moto.iam().await;
    let role = harness::seed_role(
        &iam,
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef",
        "/aws-reserved/sso.amazonaws.com/",
    )
    .await;
    let role_before = harness::role_state(&iam, &role.name).await;
    let responder = moto.responder(&[]).await;

    // A CloudTrail event of the same session names the same user: nothing more to write.
    let trail = responder
        .handle(event("cloudtrail-api-call-identity-center.json"))
        .await
        .expect("contained");
    assert_eq!(trail.status, Status::Contained, "{trail:#?}");
    assert!(trail.targets[0].principal_arn.ends_with(&center.alice));
    let report = responder
        .handle(event("guardduty-identity-center.json"))
        .await
        .expect("contained");
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    assert_eq!(report.targets.len(), 1);
    let target = &report.targets[0];
    assert!(target.principal_arn.ends_with(&center.alice));
    assert!(
        target
            .message
            .as_deref()
            .unwrap()
            .contains("AWSReservedSSO_"),
        "{target:?}"
    );
    for set in [&center.admin, &center.read_only] {
        assert_eq!(
            denied_users(&center.inline(set).await),
            vec![center.alice.clone()]
        );
    }
    // The IAM role Identity Center owns is not edited.
    assert_eq!(harness::role_state(&iam, &role.name).await, role_before);
}

/// A session name is a user name, never an id: whoever may name users in the identity store
/// names one after alice's id and acts with it. The finding contains that user, not alice.
#[tokio::test]
async fn a_session_named_like_another_users_id_contains_its_own_user_not_that_one() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let mallory = user((&center.store, &center.store_id), &center.alice).await;
    assert_ne!(mallory, center.alice);
    center
        .sso
        .create_account_assignment()
        .instance_arn(&center.instance)
        .permission_set_arn(&center.admin)
        .target_id(harness::ACCOUNT)
        .target_type(aws_sdk_ssoadmin::types::TargetType::AwsAccount)
        .principal_type(PrincipalType::User)
        .principal_id(&mallory)
        .send()
        .await
        .expect("assignment");
    let mut finding = event("guardduty-identity-center.json");
    finding["detail"]["resource"]["accessKeyDetails"]["principalId"] =
        json!(format!("AROAEXAMPLESSOROLE01:{}", center.alice));

    let report = moto
        .responder(&[])
        .await
        .handle(finding)
        .await
        .expect("contained");
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    assert!(
        report.targets[0].principal_arn.ends_with(&mallory),
        "{report:#?}"
    );
    assert_eq!(
        denied_users(&center.inline(&center.admin).await),
        vec![mallory]
    );
    assert_eq!(center.inline(&center.read_only).await, READ_ONLY_POLICY);
}

#[tokio::test]
async fn a_finding_that_names_the_role_but_no_session_is_refused_with_advice() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let responder = moto.responder(&[]).await;
    for name in [
        "securityhub-identity-center-role.json",
        "manual-identity-center-role.json",
    ] {
        let report = responder.handle(event(name)).await.expect(name);
        assert_eq!(report.status, Status::Refused, "{name}: {report:#?}");
        let message = report.targets[0].message.as_deref().unwrap();
        assert!(message.contains("identity_center_user"), "{message}");
    }
    for set in [&center.admin, &center.read_only] {
        assert!(denied_users(&center.inline(set).await).is_empty());
    }
}

/// A protected user is known by what the identity store says of them, not by how a finding or a
/// request names them: a protection by name holds against a request by id, and one by id
/// against a finding by name; another user of the same sets is still contained.
#[tokio::test]
async fn a_protected_user_is_refused_by_name_or_id_and_nothing_is_written() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let by_id = json!({"identity_center_user": center.alice});
    for (protection, request) in [
        ("breakglass,ALICE@*", by_id.clone()),
        (
            center.alice.as_str(),
            event("guardduty-identity-center.json"),
        ),
        (
            center.alice.as_str(),
            event("manual-identity-center-user.json"),
        ),
    ] {
        let responder = moto
            .responder(&[("IDENTITY_CENTER_PROTECTED_USERS", protection)])
            .await;
        let report = responder.handle(request).await.expect("answered");
        assert_eq!(report.status, Status::Refused, "{protection}: {report:#?}");
        let target = &report.targets[0];
        assert_eq!(
            target.principal_arn,
            format!("arn:aws:identitystore:::user/{}", center.alice)
        );
        assert!(target.steps.is_empty(), "{target:?}");
        let message = target.message.as_deref().unwrap();
        assert!(
            message.contains("alice@example.com")
                && message.contains("IDENTITY_CENTER_PROTECTED_USERS"),
            "{message}"
        );
    }
    assert_eq!(center.inline(&center.read_only).await, READ_ONLY_POLICY);
    assert_eq!(center.inline(&center.admin).await, "");
    assert!(center.provisioned().await.is_empty());

    // The guard is alice's alone: bob, in the same group, is contained under the same setting.
    let responder = moto
        .responder(&[("IDENTITY_CENTER_PROTECTED_USERS", "alice@example.com")])
        .await;
    let report = responder
        .handle(json!({"identity_center_user": "bob@example.com"}))
        .await
        .expect("contained");
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    assert_eq!(
        denied_users(&center.inline(&center.read_only).await),
        vec![center.bob.clone()]
    );
}

#[tokio::test]
async fn a_user_identity_center_does_not_know_is_refused_and_nothing_is_written() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let responder = moto.responder(&[]).await;
    let report = responder
        .handle(json!({"identity_center_user": "mallory@example.com"}))
        .await
        .expect("answered");
    assert_eq!(report.status, Status::Refused, "{report:#?}");
    let message = report.targets[0].message.as_deref().unwrap();
    assert!(message.contains("mallory@example.com"), "{message}");
    assert_eq!(center.inline(&center.read_only).await, READ_ONLY_POLICY);
    assert_eq!(center.inline(&center.admin).await, "");

    // The one-step functions and the snapshot act on IAM principals only, and say where to go.
    for playbook in [Playbook::Snapshot, Playbook::AttachDenyAll] {
        let other = moto.responder(&[]).await.playing(playbook);
        let report = other
            .handle(event("manual-identity-center-user.json"))
            .await
            .expect("answered");
        assert_eq!(report.status, Status::Refused, "{report:#?}");
        let message = report.targets[0].message.as_deref().unwrap();
        assert!(message.contains("invoke contain"), "{message}");
    }
    assert_eq!(center.inline(&center.admin).await, "");

    // A request that mixes an Identity Center user with an IAM principal is refused whole.
    let err = responder
        .handle(json!({
            "identity_center_user": "alice@example.com",
            "principal_arn": "arn:aws:iam::111122223333:user/alice"
        }))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("principal_arn"), "{err}");
    assert_eq!(center.inline(&center.admin).await, "");
}

#[tokio::test]
async fn removing_assignments_is_recorded_and_the_release_puts_them_back() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let vars = [("IDENTITY_CENTER_REMOVE_ASSIGNMENTS", "true")];
    let responder = moto.responder(&vars).await;
    let report = responder
        .handle(json!({"identity_center_user": center.alice, "incident_id": "IR-2026-0053"}))
        .await
        .expect("contained");
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    let actions: Vec<&str> = report.targets[0]
        .steps
        .iter()
        .map(|s| s.action.as_str())
        .collect();
    assert!(
        actions.contains(&"remove_account_assignment"),
        "{actions:?}"
    );
    assert!(actions.contains(&"remove_group_membership"), "{actions:?}");
    assert_eq!(center.own_assignments(&center.alice).await, 0);
    assert!(center.groups_of(&center.alice).await.is_empty());
    assert_eq!(
        center.groups_of(&center.bob).await,
        vec![center.group.clone()]
    );

    let release = moto.responder(&[]).await.playing(Playbook::Release);
    let released = release
        .handle(json!({"identity_center_user": "alice@example.com", "incident_id": "IR-2026-0053"}))
        .await
        .expect("released");
    assert_eq!(released.status, Status::Released, "{released:#?}");
    assert_eq!(center.own_assignments(&center.alice).await, 1);
    assert_eq!(
        center.groups_of(&center.alice).await,
        vec![center.group.clone()]
    );
    assert_eq!(center.inline(&center.read_only).await, READ_ONLY_POLICY);
}

#[tokio::test]
async fn a_release_without_a_ledger_naming_the_user_changes_nothing() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let responder = moto.responder(&[]).await;
    responder
        .handle(event("manual-identity-center-user.json"))
        .await
        .expect("contained");
    let release = moto.responder(&[]).await.playing(Playbook::Release);
    // Bob was never contained: his release under alice's incident is refused.
    let refused = release
        .handle(json!({"identity_center_user": "bob@example.com", "incident_id": "IR-2026-0052"}))
        .await
        .expect("answered");
    assert_eq!(refused.status, Status::Refused, "{refused:#?}");
    for set in [&center.admin, &center.read_only] {
        assert_eq!(
            denied_users(&center.inline(set).await),
            vec![center.alice.clone()]
        );
    }
}

/// moto answers a provisioning as done at once and has no status call: Identity Center's own
/// answers (running, then done; failed; a delegated administrator refused) through
/// aws-smithy-mocks, the identity store still moto's.
#[tokio::test]
async fn provisioning_is_waited_for_and_a_failure_or_a_refusal_says_what_to_do() {
    use aws_sdk_ssoadmin::Client;
    use aws_sdk_ssoadmin::operation::describe_permission_set::DescribePermissionSetOutput;
    use aws_sdk_ssoadmin::operation::describe_permission_set_provisioning_status::DescribePermissionSetProvisioningStatusOutput;
    use aws_sdk_ssoadmin::operation::get_inline_policy_for_permission_set::GetInlinePolicyForPermissionSetOutput;
    use aws_sdk_ssoadmin::operation::list_account_assignments_for_principal::ListAccountAssignmentsForPrincipalOutput;
    use aws_sdk_ssoadmin::operation::list_instances::ListInstancesOutput;
    use aws_sdk_ssoadmin::operation::provision_permission_set::ProvisionPermissionSetOutput;
    use aws_sdk_ssoadmin::operation::put_inline_policy_to_permission_set::{
        PutInlinePolicyToPermissionSetError, PutInlinePolicyToPermissionSetOutput,
    };
    use aws_sdk_ssoadmin::types::{
        AccountAssignmentForPrincipal, InstanceMetadata, PermissionSetProvisioningStatus,
        StatusValues,
    };
    use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};

    const SET: &str = "arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-aaaabbbbccccdddd";
    let moto = Moto::start();
    let seeded = seed(&moto).await;
    let (instance, store_id, alice) = (
        seeded.instance.clone(),
        seeded.store_id.clone(),
        seeded.alice.clone(),
    );
    let status = |s: StatusValues| {
        PermissionSetProvisioningStatus::builder()
            .status(s.clone())
            .request_id("req-1")
            .permission_set_arn(SET)
            .set_failure_reason(
                (s == StatusValues::Failed).then(|| "the role's policy is over IAM's quota".into()),
            )
            .build()
    };
    let reads = {
        let (instance, store_id, alice) = (instance.clone(), store_id.clone(), alice.clone());
        vec![
            mock!(Client::list_instances).then_output(move || {
                ListInstancesOutput::builder()
                    .instances(
                        InstanceMetadata::builder()
                            .instance_arn(&instance)
                            .identity_store_id(&store_id)
                            .build(),
                    )
                    .build()
            }),
            mock!(Client::list_account_assignments_for_principal)
                .match_requests(|r| r.principal_type() == Some(&PrincipalType::User))
                .then_output(move || {
                    ListAccountAssignmentsForPrincipalOutput::builder()
                        .account_assignments(
                            AccountAssignmentForPrincipal::builder()
                                .account_id(harness::ACCOUNT)
                                .permission_set_arn(SET)
                                .principal_type(PrincipalType::User)
                                .principal_id(&alice)
                                .build(),
                        )
                        .build()
                }),
            mock!(Client::list_account_assignments_for_principal)
                .then_output(|| ListAccountAssignmentsForPrincipalOutput::builder().build()),
            mock!(Client::describe_permission_set)
                .then_output(|| DescribePermissionSetOutput::builder().build()),
            mock!(Client::get_inline_policy_for_permission_set)
                .then_output(|| GetInlinePolicyForPermissionSetOutput::builder().build()),
        ]
    };
    let put = || {
        mock!(Client::put_inline_policy_to_permission_set)
            .then_output(|| PutInlinePolicyToPermissionSetOutput::builder().build())
    };
    let provision = move || {
        mock!(Client::provision_permission_set).then_output(move || {
            ProvisionPermissionSetOutput::builder()
                .permission_set_provisioning_status(status(StatusValues::InProgress))
                .build()
        })
    };
    async fn contain(moto: &Moto, rules: Vec<&Rule>) -> tourniquet_aws::Report {
        let sso = mock_client!(aws_sdk_ssoadmin, RuleMode::MatchAny, rules);
        let store = aws_sdk_identitystore::Client::new(&moto.sdk_config().await);
        let responder = moto
            .responder(&[])
            .await
            .with_identity_center(tourniquet_aws::responder::Center::new(sso, store));
        match responder
            .handle(json!({"identity_center_user": "alice@example.com"}))
            .await
        {
            Ok(report) => report,
            Err(tourniquet_aws::Error::Partial { report, .. }) => *report,
            Err(other) => panic!("{other}"),
        }
    }

    // Running, then done: waited for.
    let (wrote, started) = (put(), provision());
    let polled = mock!(Client::describe_permission_set_provisioning_status)
        .match_requests(|r| r.provision_permission_set_request_id() == Some("req-1"))
        .sequence()
        .output(move || {
            DescribePermissionSetProvisioningStatusOutput::builder()
                .permission_set_provisioning_status(status(StatusValues::InProgress))
                .build()
        })
        .output(move || {
            DescribePermissionSetProvisioningStatusOutput::builder()
                .permission_set_provisioning_status(status(StatusValues::Succeeded))
                .build()
        })
        .build();
    let report = contain(
        &moto,
        [&wrote, &started, &polled]
            .into_iter()
            .chain(&reads)
            .collect(),
    )
    .await;
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    let step = &report.targets[0].steps[0];
    assert_eq!(step.outcome, Outcome::Applied, "{step:?}");
    assert!(step.detail.contains("provisioned"), "{}", step.detail);
    assert_eq!(
        (wrote.num_calls(), started.num_calls(), polled.num_calls()),
        (1, 1, 2)
    );

    // Failed: the step fails with Identity Center's reason.
    let (wrote, started) = (put(), provision());
    let failed =
        mock!(Client::describe_permission_set_provisioning_status).then_output(move || {
            DescribePermissionSetProvisioningStatusOutput::builder()
                .permission_set_provisioning_status(status(StatusValues::Failed))
                .build()
        });
    let report = contain(
        &moto,
        [&wrote, &started, &failed]
            .into_iter()
            .chain(&reads)
            .collect(),
    )
    .await;
    assert_eq!(report.status, Status::Partial, "{report:#?}");
    let step = &report.targets[0].steps[0];
    assert_eq!(step.outcome, Outcome::Failed);
    assert!(step.detail.contains("over IAM's quota"), "{}", step.detail);

    // A delegated administrator refused on a set provisioned to the management account: advice,
    // and nothing provisioned.
    let started = provision();
    let refused = mock!(Client::put_inline_policy_to_permission_set).then_error(|| {
        PutInlinePolicyToPermissionSetError::AccessDeniedException(
            aws_sdk_ssoadmin::types::error::AccessDeniedException::builder()
                .message("User is not authorized to modify this permission set")
                .build(),
        )
    });
    let report = contain(
        &moto,
        [&refused, &started].into_iter().chain(&reads).collect(),
    )
    .await;
    assert_eq!(report.status, Status::Partial, "{report:#?}");
    let step = &report.targets[0].steps[0];
    assert_eq!(step.outcome, Outcome::Failed);
    assert!(
        step.detail.contains("delegated administrator"),
        "{}",
        step.detail
    );
    assert_eq!(started.num_calls(), 0);
}

#[tokio::test]
async fn a_containment_that_died_before_its_report_is_released_from_its_intent() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let s3 = moto.s3().await;
    harness::create_bucket(&s3).await;
    let sdk = moto.sdk_config().await;
    let dying = tourniquet_aws::Responder::with_clients(
        aws_sdk_iam::Client::new(&sdk),
        harness::dying_s3(&sdk),
        aws_sdk_sts::Client::new(&sdk),
        harness::config(&[]),
    )
    .with_trail(&sdk);
    let died = dying
        .handle(event("manual-identity-center-user.json"))
        .await;
    assert!(died.is_err(), "the evidence failed: {died:?}");
    for set in [&center.admin, &center.read_only] {
        assert_eq!(
            denied_users(&center.inline(set).await),
            vec![center.alice.clone()]
        );
    }
    let stored = harness::evidence_keys(&s3).await;
    assert_eq!(stored.len(), 1, "only the intent survived: {stored:?}");

    let release = moto.responder(&[]).await.playing(Playbook::Release);
    let released = release
        .handle(json!({"identity_center_user": "alice@example.com", "incident_id": "IR-2026-0052"}))
        .await
        .expect("released from the intent");
    assert_eq!(released.status, Status::Released, "{released:#?}");
    // Without the report, the prior text is not known: the policy is what it was but for the
    // deny, and a set that had none has none again.
    let read_only: Value = serde_json::from_str(&center.inline(&center.read_only).await).unwrap();
    let original: Value = serde_json::from_str(READ_ONLY_POLICY).unwrap();
    assert_eq!(read_only, original);
    assert_eq!(center.inline(&center.admin).await, "");
}

#[tokio::test]
async fn a_dry_run_plans_the_deny_in_every_set_and_writes_nothing() {
    let moto = Moto::start();
    let center = seed(&moto).await;
    let responder = moto.responder(&[]).await;
    let report = responder
        .handle(json!({"identity_center_user": "alice@example.com", "dry_run": true}))
        .await
        .expect("planned");
    assert_eq!(report.status, Status::Planned, "{report:#?}");
    let steps = &report.targets[0].steps;
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(
        steps.iter().all(|s| s.outcome == Outcome::Planned),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|s| s.detail.contains("permission set ReadOnly")),
        "the step names the set as a human knows it: {steps:?}"
    );
    assert_eq!(center.inline(&center.read_only).await, READ_ONLY_POLICY);
    assert_eq!(center.inline(&center.admin).await, "");
    assert!(center.provisioned().await.is_empty(), "nothing provisioned");
    assert!(harness::evidence_keys(&moto.s3().await).await.is_empty());
}

#[tokio::test]
async fn a_user_no_permission_set_reaches_is_reported_with_nothing_to_deny() {
    use aws_sdk_identitystore::types::Name;
    let moto = Moto::start();
    let center = seed(&moto).await;
    center
        .store
        .create_user()
        .identity_store_id(&center.store_id)
        .user_name("carol@example.com")
        .display_name("carol")
        .name(
            Name::builder()
                .given_name("carol")
                .family_name("Example")
                .build(),
        )
        .send()
        .await
        .expect("create carol");
    let responder = moto.responder(&[]).await;
    let report = responder
        .handle(json!({"identity_center_user": "carol@example.com"}))
        .await
        .expect("answered");
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    let target = &report.targets[0];
    assert!(target.steps.is_empty());
    let message = target.message.as_deref().unwrap();
    assert!(message.contains("no permission set"), "{message}");
    assert_eq!(center.inline(&center.read_only).await, READ_ONLY_POLICY);
    assert_eq!(center.inline(&center.admin).await, "");
}
