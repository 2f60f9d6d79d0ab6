//! Fault paths the emulator cannot produce (throttling, limits), injected with aws-smithy-mocks
//! into an IAM client; STS and the evidence store are still the emulator's.

use aws_sdk_iam::Client;
use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::error::ErrorMetadata;
use aws_sdk_iam::operation::add_user_to_group::AddUserToGroupError;
use aws_sdk_iam::operation::add_user_to_group::AddUserToGroupOutput;
use aws_sdk_iam::operation::attach_group_policy::AttachGroupPolicyOutput;
use aws_sdk_iam::operation::attach_user_policy::{AttachUserPolicyError, AttachUserPolicyOutput};
use aws_sdk_iam::operation::create_group::CreateGroupOutput;
use aws_sdk_iam::operation::create_policy::CreatePolicyOutput;
use aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput;
use aws_sdk_iam::operation::get_login_profile::GetLoginProfileError;
use aws_sdk_iam::operation::get_user::GetUserOutput;
use aws_sdk_iam::operation::get_user_policy::GetUserPolicyError;
use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
use aws_sdk_iam::operation::list_attached_user_policies::ListAttachedUserPoliciesOutput;
use aws_sdk_iam::operation::list_groups_for_user::ListGroupsForUserOutput;
use aws_sdk_iam::operation::list_mfa_devices::ListMfaDevicesOutput;
use aws_sdk_iam::operation::list_service_specific_credentials::ListServiceSpecificCredentialsOutput;
use aws_sdk_iam::operation::list_signing_certificates::ListSigningCertificatesOutput;
use aws_sdk_iam::operation::list_ssh_public_keys::ListSshPublicKeysOutput;
use aws_sdk_iam::operation::list_user_policies::ListUserPoliciesOutput;
use aws_sdk_iam::operation::list_user_tags::ListUserTagsOutput;
use aws_sdk_iam::operation::put_user_policy::{PutUserPolicyError, PutUserPolicyOutput};
use aws_sdk_iam::operation::tag_user::TagUserOutput;
use aws_sdk_iam::operation::update_access_key::{UpdateAccessKeyError, UpdateAccessKeyOutput};
use aws_sdk_iam::operation::update_service_specific_credential::UpdateServiceSpecificCredentialOutput;
use aws_sdk_iam::primitives::DateTime;
use aws_sdk_iam::types::error::{LimitExceededException, NoSuchEntityException};
use aws_sdk_iam::types::{AccessKeyMetadata, Group, StatusType, User};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use harness::Moto;
use std::time::Duration;
use tourniquet_aws::report::{Outcome, Report, Status};
use tourniquet_aws::{Error, Responder};

const USER: &str = "ci-deployer";
const KEYS: [&str; 2] = ["AKIAEXAMPLECOMPROM01", "AKIAEXAMPLEOTHERKEY2"];

/// An IAM client whose user has two active keys and nothing else; `faults` take precedence.
/// The SDK's standard retry is on, with a short backoff, as in production.
fn iam(faults: &[&Rule], writes: &Writes) -> Client {
    let reads = [
        mock!(Client::get_user).then_output(|| {
            let user = User::builder()
                .path("/")
                .user_name(USER)
                .user_id("AIDAEXAMPLEPRINCIPAL1")
                .arn(format!("arn:aws:iam::111122223333:user/{USER}"))
                .create_date(DateTime::from_secs(1_700_000_000))
                .build()
                .unwrap();
            GetUserOutput::builder().user(user).build()
        }),
        mock!(Client::list_access_keys).then_output(|| {
            let keys = KEYS.iter().map(|k| {
                AccessKeyMetadata::builder()
                    .user_name(USER)
                    .access_key_id(*k)
                    .status(StatusType::Active)
                    .build()
            });
            ListAccessKeysOutput::builder()
                .set_access_key_metadata(Some(keys.collect()))
                .build()
                .unwrap()
        }),
        mock!(Client::list_user_policies).then_output(|| {
            ListUserPoliciesOutput::builder()
                .set_policy_names(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(Client::list_attached_user_policies)
            .then_output(|| ListAttachedUserPoliciesOutput::builder().build()),
        mock!(Client::list_groups_for_user).then_output(|| {
            ListGroupsForUserOutput::builder()
                .set_groups(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(Client::get_login_profile).then_error(|| {
            GetLoginProfileError::NoSuchEntityException(NoSuchEntityException::builder().build())
        }),
        mock!(Client::list_mfa_devices).then_output(|| {
            ListMfaDevicesOutput::builder()
                .set_mfa_devices(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(Client::list_user_tags).then_output(|| {
            ListUserTagsOutput::builder()
                .set_tags(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(Client::get_access_key_last_used)
            .then_output(|| GetAccessKeyLastUsedOutput::builder().build()),
        mock!(Client::get_user_policy).then_error(|| {
            GetUserPolicyError::NoSuchEntityException(NoSuchEntityException::builder().build())
        }),
        mock!(Client::list_signing_certificates).then_output(|| {
            ListSigningCertificatesOutput::builder()
                .set_certificates(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(Client::list_ssh_public_keys)
            .then_output(|| ListSshPublicKeysOutput::builder().build()),
        mock!(Client::list_service_specific_credentials)
            .then_output(|| ListServiceSpecificCredentialsOutput::builder().build()),
        // The snapshot reads every attached policy's document, Tourniquet's names too.
        mock!(Client::get_policy).then_error(|| {
            aws_sdk_iam::operation::get_policy::GetPolicyError::NoSuchEntityException(
                NoSuchEntityException::builder().build(),
            )
        }),
    ];
    let rules: Vec<&Rule> = faults
        .iter()
        .copied()
        .chain([
            &writes.put_policy,
            &writes.deactivate,
            &writes.tag,
            &writes.create_policy,
            &writes.attach,
            &writes.create_group,
            &writes.attach_group,
            &writes.add_to_group,
            &writes.deactivate_service,
        ])
        .chain(reads.iter())
        .collect();
    mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules, |b| b.retry_config(
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1))
    ))
}

/// The write operations, succeeding and counted.
struct Writes {
    put_policy: Rule,
    deactivate: Rule,
    tag: Rule,
    create_policy: Rule,
    attach: Rule,
    create_group: Rule,
    attach_group: Rule,
    add_to_group: Rule,
    deactivate_service: Rule,
}

impl Writes {
    fn new() -> Self {
        Self {
            put_policy: mock!(Client::put_user_policy)
                .then_output(|| PutUserPolicyOutput::builder().build()),
            deactivate: mock!(Client::update_access_key)
                .then_output(|| UpdateAccessKeyOutput::builder().build()),
            tag: mock!(Client::tag_user).then_output(|| TagUserOutput::builder().build()),
            create_policy: mock!(Client::create_policy)
                .match_requests(|r| r.path() == Some("/tourniquet/"))
                .then_output(|| CreatePolicyOutput::builder().build()),
            attach: mock!(Client::attach_user_policy)
                .then_output(|| AttachUserPolicyOutput::builder().build()),
            create_group: mock!(Client::create_group)
                .match_requests(|r| r.group_name() == Some("TourniquetQuarantine"))
                .then_output(|| {
                    let group = Group::builder()
                        .path("/tourniquet/")
                        .group_name("TourniquetQuarantine")
                        .group_id("AGPAEXAMPLEQUARANTINE")
                        .arn("arn:aws:iam::111122223333:group/tourniquet/TourniquetQuarantine")
                        .create_date(DateTime::from_secs(1_700_000_000))
                        .build()
                        .unwrap();
                    CreateGroupOutput::builder().group(group).build()
                }),
            attach_group: mock!(Client::attach_group_policy)
                .then_output(|| AttachGroupPolicyOutput::builder().build()),
            add_to_group: mock!(Client::add_user_to_group)
                .then_output(|| AddUserToGroupOutput::builder().build()),
            deactivate_service: mock!(Client::update_service_specific_credential)
                .then_output(|| UpdateServiceSpecificCredentialOutput::builder().build()),
        }
    }
}

/// The user as a containment of `incident` tagged it.
fn tagged_with(incident: &str) -> Rule {
    let incident = incident.to_owned();
    mock!(Client::list_user_tags).then_output(move || {
        let tag = aws_sdk_iam::types::Tag::builder()
            .key("tourniquet:incident")
            .value(&incident)
            .build()
            .unwrap();
        ListUserTagsOutput::builder().tags(tag).build().unwrap()
    })
}

/// IAM's `LimitExceeded` for an operation's error type.
macro_rules! limit {
    ($error:ident, $message:expr $(,)?) => {
        || {
            // As IAM's response deserializes: the code in the metadata, the message in both.
            let meta = ErrorMetadata::builder()
                .code("LimitExceeded")
                .message($message)
                .build();
            $error::LimitExceededException(
                LimitExceededException::builder()
                    .message($message)
                    .meta(meta)
                    .build(),
            )
        }
    };
}

fn throttling() -> ErrorMetadata {
    ErrorMetadata::builder()
        .code("Throttling")
        .message("Rate exceeded")
        .build()
}

async fn responder(moto: &Moto, iam: Client) -> Responder {
    let sdk = moto.sdk_config().await;
    let s3 = harness::s3_client(&sdk);
    harness::create_bucket(&s3).await;
    Responder::with_clients(
        iam,
        s3,
        aws_sdk_sts::Client::new(&sdk),
        harness::config(&[]),
    )
}

fn outcomes(report: &Report) -> Vec<(String, String, Outcome)> {
    report.targets[0]
        .steps
        .iter()
        .map(|s| (s.action.as_str().to_owned(), s.target.clone(), s.outcome))
        .collect()
}

#[tokio::test]
async fn a_throttled_deny_is_retried_by_the_sdk_and_applied() {
    let moto = Moto::start();
    let writes = Writes::new();
    let throttled_once = mock!(Client::put_user_policy)
        .match_requests(|r| r.policy_name() == Some("TourniquetDenyAll"))
        .sequence()
        .error(|| PutUserPolicyError::generic(throttling()))
        .output(|| PutUserPolicyOutput::builder().build())
        .build();
    let responder = responder(&moto, iam(&[&throttled_once], &writes)).await;

    let report = responder
        .handle(harness::guardduty_finding(USER, KEYS[0]))
        .await
        .expect("contained despite throttling");

    assert_eq!(report.status, Status::Contained);
    assert_eq!(outcomes(&report)[0].2, Outcome::Applied);
    assert_eq!(
        throttled_once.num_calls(),
        2,
        "one throttled attempt, one retry"
    );
    assert_eq!(writes.deactivate.num_calls(), 2);
}

fn route_of(report: &Report, action: &str) -> Option<String> {
    report.targets[0]
        .steps
        .iter()
        .find(|s| s.action.as_str() == action)
        .and_then(|s| s.route.map(|r| r.as_str().to_owned()))
}

#[tokio::test]
async fn a_deny_that_does_not_fit_inline_goes_managed() {
    let moto = Moto::start();
    let writes = Writes::new();
    let too_big = mock!(Client::put_user_policy)
        .match_requests(|r| r.policy_name() == Some("TourniquetDenyAll"))
        .then_error(limit!(
            PutUserPolicyError,
            "Maximum policy size of 2048 bytes exceeded for user ci-deployer",
        ));
    let responder = responder(&moto, iam(&[&too_big], &writes)).await;

    let report = responder
        .handle(harness::guardduty_finding(USER, KEYS[0]))
        .await
        .expect("contained by the managed route");

    assert_eq!(report.status, Status::Contained);
    assert_eq!(
        route_of(&report, "attach_deny_all").as_deref(),
        Some("managed")
    );
    assert_eq!(
        route_of(&report, "revoke_sessions").as_deref(),
        Some("inline")
    );
    assert_eq!(too_big.num_calls(), 1, "a limit is not retried");
    assert_eq!(writes.create_policy.num_calls(), 1);
    assert_eq!(writes.attach.num_calls(), 1);
    assert_eq!(writes.add_to_group.num_calls(), 0);
    assert_eq!(writes.deactivate.num_calls(), 2);
    let deny = &report.targets[0].steps[0];
    assert!(
        deny.detail.contains("2048"),
        "the report says why: {}",
        deny.detail
    );
}

#[tokio::test]
async fn a_user_with_no_room_for_another_policy_goes_to_the_quarantine_group() {
    let moto = Moto::start();
    let writes = Writes::new();
    let inline_full = mock!(Client::put_user_policy)
        .match_requests(|r| r.policy_name() == Some("TourniquetDenyAll"))
        .then_error(limit!(
            PutUserPolicyError,
            "Maximum policy size of 2048 bytes exceeded"
        ));
    let managed_full = mock!(Client::attach_user_policy).then_error(limit!(
        AttachUserPolicyError,
        "Cannot exceed quota for PoliciesPerUser: 10",
    ));
    let responder = responder(&moto, iam(&[&inline_full, &managed_full], &writes)).await;

    let report = responder
        .handle(harness::guardduty_finding(USER, KEYS[0]))
        .await
        .expect("contained by the quarantine group");

    assert_eq!(
        route_of(&report, "attach_deny_all").as_deref(),
        Some("quarantine_group")
    );
    assert_eq!(managed_full.num_calls(), 1);
    assert_eq!(writes.create_group.num_calls(), 1);
    assert_eq!(writes.attach_group.num_calls(), 1);
    assert_eq!(writes.add_to_group.num_calls(), 1);
    // inline attempt, create policy, attach (full), create group, attach to group, add user
    assert_eq!(
        report.waves,
        1 + 1 + 5 + 2,
        "identity with the ledger and intent, wave 1, the fallback chain, evidence and manifest"
    );
}

#[tokio::test]
async fn a_deny_with_no_route_left_still_deactivates_every_key_and_fails_the_invocation() {
    let moto = Moto::start();
    let writes = Writes::new();
    let inline_full = mock!(Client::put_user_policy)
        .match_requests(|r| r.policy_name() == Some("TourniquetDenyAll"))
        .then_error(limit!(
            PutUserPolicyError,
            "Maximum policy size of 2048 bytes exceeded"
        ));
    let managed_full = mock!(Client::attach_user_policy).then_error(limit!(
        AttachUserPolicyError,
        "Cannot exceed quota for PoliciesPerUser: 10"
    ));
    let groups_full = mock!(Client::add_user_to_group).then_error(limit!(
        AddUserToGroupError,
        "Cannot exceed quota for GroupsPerUser: 10"
    ));
    let faults = [&inline_full, &managed_full, &groups_full];
    let responder = responder(&moto, iam(&faults, &writes)).await;

    let err = responder
        .handle(harness::guardduty_finding(USER, KEYS[0]))
        .await
        .expect_err("a containment that could not finish is an error");

    let Error::Partial { summary, report } = &err else {
        panic!("expected a partial containment, got {err}");
    };
    assert_eq!(err.error_type(), "PartialContainment");
    assert!(
        summary.contains("attach_deny_all") && summary.contains("GroupsPerUser"),
        "{summary}"
    );
    assert_eq!(report.status, Status::Partial);
    let steps = outcomes(report);
    assert_eq!(steps[0].2, Outcome::Failed);
    assert!(
        steps[1..].iter().all(|s| s.2 == Outcome::Applied),
        "{steps:?}"
    );
    assert_eq!(
        writes.deactivate.num_calls(),
        2,
        "both keys deactivated regardless"
    );
    assert_eq!(writes.tag.num_calls(), 1);

    // The report was stored before the error was returned, and says partial.
    let s3 = moto.s3().await;
    let stored = report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("report.json"))
        .unwrap();
    assert!(
        summary.contains(&stored.key),
        "the error says where the report is: {summary}"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&harness::evidence_body(&s3, &stored.key).await).unwrap();
    assert_eq!(body["status"], "partial");
}

#[tokio::test]
async fn a_key_throttled_past_every_retry_fails_alone() {
    let moto = Moto::start();
    let writes = Writes::new();
    let throttled = mock!(Client::update_access_key)
        .match_requests(|r| r.access_key_id() == Some(KEYS[1]))
        .then_error(|| UpdateAccessKeyError::generic(throttling()));
    let responder = responder(&moto, iam(&[&throttled], &writes)).await;

    let err = responder
        .handle(harness::guardduty_finding(USER, KEYS[0]))
        .await
        .expect_err("partial");

    let Error::Partial { report, summary } = err else {
        panic!("expected partial");
    };
    assert_eq!(
        throttled.num_calls(),
        3,
        "the SDK's standard retry: three attempts"
    );
    let steps = outcomes(&report);
    assert_eq!(steps[0].2, Outcome::Applied, "the deny");
    assert_eq!(steps[1].2, Outcome::Applied, "the session revocation");
    assert_eq!(
        (steps[2].1.as_str(), steps[2].2),
        (KEYS[0], Outcome::Applied)
    );
    assert_eq!(
        (steps[3].1.as_str(), steps[3].2),
        (KEYS[1], Outcome::Failed)
    );
    assert!(
        summary.contains(KEYS[1]) && summary.contains("Throttling"),
        "{summary}"
    );
}

/// A role with nothing but itself, and its session policy too big to fit inline; the managed
/// fallback's document is captured.
#[tokio::test]
async fn a_role_session_policy_that_does_not_fit_inline_goes_managed_with_the_cutoff() {
    use aws_sdk_iam::operation::attach_role_policy::AttachRolePolicyOutput;
    use aws_sdk_iam::operation::get_role::GetRoleOutput;
    use aws_sdk_iam::operation::get_role_policy::GetRolePolicyError;
    use aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput;
    use aws_sdk_iam::operation::list_instance_profiles_for_role::ListInstanceProfilesForRoleOutput;
    use aws_sdk_iam::operation::list_role_policies::ListRolePoliciesOutput;
    use aws_sdk_iam::operation::list_role_tags::ListRoleTagsOutput;
    use aws_sdk_iam::operation::put_role_policy::PutRolePolicyError;
    use aws_sdk_iam::operation::tag_role::TagRoleOutput;
    use aws_sdk_iam::types::Role;
    use std::sync::{Arc, Mutex};

    let moto = Moto::start();
    let documents = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let seen = documents.clone();
    let rules = [
        mock!(Client::get_role).then_output(|| {
            let role = Role::builder()
                .path("/")
                .role_name("app-worker")
                .role_id("AROAEXAMPLEROLEID001")
                .arn("arn:aws:iam::111122223333:role/app-worker")
                .create_date(DateTime::from_secs(1_700_000_000))
                .build()
                .unwrap();
            GetRoleOutput::builder().role(role).build()
        }),
        mock!(Client::list_role_policies).then_output(|| {
            ListRolePoliciesOutput::builder()
                .set_policy_names(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(Client::list_attached_role_policies)
            .then_output(|| ListAttachedRolePoliciesOutput::builder().build()),
        mock!(Client::list_instance_profiles_for_role).then_output(|| {
            ListInstanceProfilesForRoleOutput::builder()
                .set_instance_profiles(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(Client::list_role_tags).then_output(|| {
            ListRoleTagsOutput::builder()
                .set_tags(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(Client::get_role_policy).then_error(|| {
            GetRolePolicyError::NoSuchEntityException(NoSuchEntityException::builder().build())
        }),
        mock!(Client::put_role_policy).then_error(limit!(
            PutRolePolicyError,
            "Maximum policy size of 10240 bytes exceeded for role app-worker"
        )),
        mock!(Client::create_policy).then_compute_output(move |r| {
            seen.lock().unwrap().push((
                r.policy_name().unwrap_or_default().to_owned(),
                r.policy_document().unwrap_or_default().to_owned(),
            ));
            CreatePolicyOutput::builder().build()
        }),
        mock!(Client::attach_role_policy)
            .match_requests(|r| {
                r.policy_arn()
                    == Some("arn:aws:iam::111122223333:policy/tourniquet/TourniquetRevokeOlderSessions-role-app-worker")
            })
            .then_output(|| AttachRolePolicyOutput::builder().build()),
        mock!(Client::tag_role).then_output(|| TagRoleOutput::builder().build()),
    ];
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, rules.iter());
    let responder = responder(&moto, iam).await;

    let report = responder
        .handle(harness::event("guardduty-assumed-role.json"))
        .await
        .expect("contained by the managed route");

    let revoke = &report.targets[0].steps[0];
    assert_eq!(
        (
            revoke.action.as_str(),
            revoke.outcome,
            revoke.route.map(|r| r.as_str())
        ),
        ("revoke_sessions", Outcome::Applied, Some("managed"))
    );
    let created = documents.lock().unwrap().clone();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].0,
        "TourniquetRevokeOlderSessions-role-app-worker"
    );
    let document: serde_json::Value = serde_json::from_str(&created[0].1).unwrap();
    let cutoff = tourniquet_aws::plan::cutoff_of(&document).expect("a TokenIssueTime condition");
    assert!(
        revoke.detail.contains("2048") || revoke.detail.contains("10240"),
        "{}",
        revoke.detail
    );
    let tag = &report.targets[0].steps.last().unwrap();
    assert!(
        tag.detail
            .contains(&format!("tourniquet:session-cutoff={cutoff}")),
        "{}",
        tag.detail
    );
}

/// Parts the emulator does not implement: a permissions boundary and service-specific credentials.
#[tokio::test]
async fn the_snapshot_keeps_the_boundary_and_service_credentials_moto_cannot_hold() {
    use aws_sdk_iam::types::{
        AttachedPermissionsBoundary, PermissionsBoundaryAttachmentType,
        ServiceSpecificCredentialMetadata, StatusType,
    };
    let moto = Moto::start();
    let writes = Writes::new();
    let bounded = mock!(Client::get_user).then_output(|| {
        let boundary = AttachedPermissionsBoundary::builder()
            .permissions_boundary_type(PermissionsBoundaryAttachmentType::Policy)
            .permissions_boundary_arn("arn:aws:iam::111122223333:policy/ci-boundary")
            .build();
        let user = User::builder()
            .path("/")
            .user_name(USER)
            .user_id("AIDAEXAMPLEPRINCIPAL1")
            .arn(format!("arn:aws:iam::111122223333:user/{USER}"))
            .create_date(DateTime::from_secs(1_700_000_000))
            .permissions_boundary(boundary)
            .build()
            .unwrap();
        GetUserOutput::builder().user(user).build()
    });
    let codecommit = mock!(Client::list_service_specific_credentials).then_output(|| {
        let credential = ServiceSpecificCredentialMetadata::builder()
            .user_name(USER)
            .status(StatusType::Active)
            .service_user_name("ci-deployer-at-111122223333")
            .create_date(DateTime::from_secs(1_700_000_000))
            .service_specific_credential_id("ACCAEXAMPLECREDENTIAL1")
            .service_name("codecommit.amazonaws.com")
            .build()
            .unwrap();
        ListServiceSpecificCredentialsOutput::builder()
            .service_specific_credentials(credential)
            .build()
    });
    let responder = responder(&moto, iam(&[&bounded, &codecommit], &writes)).await;

    let report = responder
        .handle(harness::guardduty_finding(USER, KEYS[0]))
        .await
        .expect("contained");

    let key = &report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("snapshot.json"))
        .unwrap()
        .key;
    let snapshot: serde_json::Value =
        serde_json::from_slice(&harness::evidence_body(&moto.s3().await, key).await).unwrap();
    assert_eq!(
        snapshot["user"]["permissions_boundary"],
        "arn:aws:iam::111122223333:policy/ci-boundary"
    );
    let credential = &snapshot["service_specific_credentials"][0];
    assert_eq!(
        credential["service_specific_credential_id"],
        "ACCAEXAMPLECREDENTIAL1"
    );
    assert_eq!(credential["service_name"], "codecommit.amazonaws.com");
    assert_eq!(credential["status"], "Active");
}

/// A deny that went the managed route is detached on release, not deleted; the ledger is the
/// containment's own, stored in the emulator's bucket.
#[tokio::test]
async fn a_release_detaches_a_managed_deny_and_deletes_nothing() {
    use aws_sdk_iam::operation::detach_user_policy::DetachUserPolicyOutput;
    use aws_sdk_iam::operation::untag_user::UntagUserOutput;
    use aws_sdk_iam::types::AttachedPolicy;

    let moto = Moto::start();
    let too_big = mock!(Client::put_user_policy)
        .match_requests(|r| r.policy_name() == Some("TourniquetDenyAll"))
        .then_error(limit!(
            PutUserPolicyError,
            "Maximum policy size of 2048 bytes exceeded"
        ));
    let contained = responder(&moto, iam(&[&too_big], &Writes::new()))
        .await
        .handle(harness::guardduty_finding(USER, KEYS[0]))
        .await
        .expect("contained by the managed route");
    assert_eq!(
        route_of(&contained, "attach_deny_all").as_deref(),
        Some("managed")
    );

    // The user as the containment left it: keys inactive, the managed deny attached, tagged.
    let deny_arn = "arn:aws:iam::111122223333:policy/tourniquet/TourniquetDenyAll";
    let keys_inactive = mock!(Client::list_access_keys).then_output(|| {
        let keys = KEYS.iter().map(|k| {
            AccessKeyMetadata::builder()
                .user_name(USER)
                .access_key_id(*k)
                .status(StatusType::Inactive)
                .build()
        });
        ListAccessKeysOutput::builder()
            .set_access_key_metadata(Some(keys.collect()))
            .build()
            .unwrap()
    });
    let attached = mock!(Client::list_attached_user_policies).then_output(move || {
        let policy = AttachedPolicy::builder()
            .policy_name("TourniquetDenyAll")
            .policy_arn(deny_arn)
            .build();
        ListAttachedUserPoliciesOutput::builder()
            .attached_policies(policy)
            .build()
    });
    let tagged = tagged_with(&contained.incident_id);
    let detach = mock!(Client::detach_user_policy)
        .match_requests(move |r| r.policy_arn() == Some(deny_arn) && r.user_name() == Some(USER))
        .then_output(|| DetachUserPolicyOutput::builder().build());
    let untag = mock!(Client::untag_user).then_output(|| UntagUserOutput::builder().build());
    let writes = Writes::new();
    let state = [&keys_inactive, &attached, &tagged, &detach, &untag];
    let release = responder(&moto, iam(&state, &writes))
        .await
        .playing(tourniquet_aws::Playbook::Release);

    let report = release
        .handle(serde_json::json!({
            "principal_arn": format!("arn:aws:iam::111122223333:user/{USER}"),
            "incident_id": contained.incident_id,
        }))
        .await
        .expect("released");

    assert_eq!(report.status, Status::Released, "{report:?}");
    let deny = report.targets[0]
        .steps
        .iter()
        .find(|s| s.action.as_str() == "remove_deny_all")
        .unwrap();
    assert_eq!(
        (deny.outcome, deny.route.map(|r| r.as_str())),
        (Outcome::Applied, Some("managed"))
    );
    assert_eq!(
        detach.num_calls(),
        1,
        "the managed deny is detached from the user"
    );
    assert_eq!(
        writes.deactivate.num_calls(),
        0,
        "no key comes back: the request lists none"
    );
    assert_eq!(untag.num_calls(), 1);
}

/// A release that cannot read the deny does not take "could not read" for "already gone": the
/// deny stays, nothing is deleted, and the release is `partial` (a Lambda error) for a human.
#[tokio::test]
async fn a_release_that_cannot_read_the_deny_leaves_it_and_reports_partial() {
    use aws_sdk_iam::operation::delete_user_policy::DeleteUserPolicyOutput;

    let moto = Moto::start();
    let contained = responder(&moto, iam(&[], &Writes::new()))
        .await
        .handle(harness::guardduty_finding(USER, KEYS[0]))
        .await
        .expect("contained by the inline route");
    assert_eq!(
        route_of(&contained, "attach_deny_all").as_deref(),
        Some("inline")
    );

    let has_deny = mock!(Client::list_user_policies).then_output(|| {
        ListUserPoliciesOutput::builder()
            .set_policy_names(Some(vec!["TourniquetDenyAll".into()]))
            .build()
            .unwrap()
    });
    let tagged = tagged_with(&contained.incident_id);
    let unreadable = mock!(Client::get_user_policy)
        .match_requests(|r| r.policy_name() == Some("TourniquetDenyAll"))
        .then_error(|| GetUserPolicyError::generic(throttling()));
    let delete =
        mock!(Client::delete_user_policy).then_output(|| DeleteUserPolicyOutput::builder().build());
    let writes = Writes::new();
    let release = responder(
        &moto,
        iam(&[&has_deny, &tagged, &unreadable, &delete], &writes),
    )
    .await
    .playing(tourniquet_aws::Playbook::Release);

    let result = release
        .handle(serde_json::json!({
            "principal_arn": format!("arn:aws:iam::111122223333:user/{USER}"),
            "incident_id": contained.incident_id,
        }))
        .await;

    let Err(Error::Partial { report, .. }) = result else {
        panic!("a release that could not read the deny is partial: {result:?}");
    };
    let deny = report.targets[0]
        .steps
        .iter()
        .find(|s| s.action.as_str() == "remove_deny_all")
        .unwrap();
    assert_eq!(deny.outcome, Outcome::Failed, "{deny:?}");
    assert!(deny.detail.contains("could not read"), "{}", deny.detail);
    assert_eq!(delete.num_calls(), 0, "the deny stays");
    assert!(unreadable.num_calls() >= 1);
    assert_eq!(
        writes.tag.num_calls(),
        0,
        "a release that cannot read stops before writing"
    );
}

/// moto has no service-specific credentials: a Bedrock API key (a long-term key attackers resell
/// model access with) and a CodeCommit password, one already inactive, as IAM lists them.
#[tokio::test]
async fn a_bedrock_api_key_is_deactivated_as_a_step_of_its_own_and_an_inactive_one_left() {
    use aws_sdk_iam::types::ServiceSpecificCredentialMetadata;
    let moto = Moto::start();
    let writes = Writes::new();
    let credential = |id: &str, service: &str, status: StatusType| {
        ServiceSpecificCredentialMetadata::builder()
            .user_name(USER)
            .status(status)
            .service_user_name(format!("{USER}-at-111122223333"))
            .create_date(DateTime::from_secs(1_700_000_000))
            .service_specific_credential_id(id)
            .service_name(service)
            .build()
            .unwrap()
    };
    let listed = mock!(Client::list_service_specific_credentials).then_output(move || {
        ListServiceSpecificCredentialsOutput::builder()
            .service_specific_credentials(credential(
                "ACCAEXAMPLEBEDROCK01",
                "bedrock.amazonaws.com",
                StatusType::Active,
            ))
            .service_specific_credentials(credential(
                "ACCAEXAMPLECODECOMM1",
                "codecommit.amazonaws.com",
                StatusType::Inactive,
            ))
            .build()
    });
    let bedrock_off = mock!(Client::update_service_specific_credential)
        .match_requests(|r| {
            r.user_name() == Some(USER)
                && r.service_specific_credential_id() == Some("ACCAEXAMPLEBEDROCK01")
                && r.status() == Some(&StatusType::Inactive)
        })
        .then_output(|| UpdateServiceSpecificCredentialOutput::builder().build());
    let responder = responder(&moto, iam(&[&listed, &bedrock_off], &writes)).await;

    let report = responder
        .handle(harness::guardduty_finding(USER, KEYS[0]))
        .await
        .expect("contained");

    assert_eq!(report.status, Status::Contained);
    let steps = outcomes(&report);
    let step = |target: &str| {
        steps
            .iter()
            .find(|(a, t, _)| a == "deactivate_credential" && t == target)
            .map(|(_, _, o)| *o)
    };
    assert_eq!(
        step("service_specific_credential:ACCAEXAMPLEBEDROCK01"),
        Some(Outcome::Applied)
    );
    assert_eq!(
        step("service_specific_credential:ACCAEXAMPLECODECOMM1"),
        Some(Outcome::AlreadyInPlace),
        "an inactive credential is not written"
    );
    assert_eq!(
        bedrock_off.num_calls(),
        1,
        "exactly the Bedrock key, Inactive"
    );
    assert_eq!(writes.deactivate_service.num_calls(), 0, "nothing else");
}
