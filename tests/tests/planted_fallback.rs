//! The planted fallback: an attacker holding the leaked key fills the user's inline policies, so
//! that IAM refuses Tourniquet's inline deny (`LimitExceeded`, answered here by a proxy: moto
//! enforces no policy size), and creates `/tourniquet/TourniquetDenyAll` allowing everything. A
//! name proves nothing: the look-alike must never be attached, and the stolen key must really be
//! denied (moto enforcing IAM authorization once the containment is done).

use harness::proxy::{Fault, Refusing};
use harness::{ALLOW_ALL, Moto, guardduty_finding, seed_user};
use tourniquet_aws::Responder;
use tourniquet_aws::plan::DENY_POLICY_NAME;
use tourniquet_aws::report::{Outcome, Status};

/// No room inline for the deny; the session policy fits.
const DENY_ONLY: &[&str] = &["TourniquetDenyAll"];

const PLANTED: &str = "arn:aws:iam::111122223333:policy/tourniquet/TourniquetDenyAll";

/// The default version's document of a managed policy, parsed, as a second client reads it.
async fn document(iam: &aws_sdk_iam::Client, arn: &str) -> serde_json::Value {
    let policy = iam.get_policy().policy_arn(arn).send().await.unwrap();
    let version = policy.policy.unwrap().default_version_id.unwrap();
    let out = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .unwrap();
    let text = out.policy_version.unwrap().document.unwrap();
    tourniquet_aws::snapshot::decode_policy(&text).unwrap()
}

/// A compromised user whose inline policies are full (the proxy answers `LimitExceeded` to the
/// inline policies named in `inline_full`), a policy under Tourniquet's managed name holding `document`, and the
/// SDK configuration that goes through the proxy.
struct Scene {
    moto: Moto,
    admin: aws_sdk_iam::Client,
    victim: harness::SeededUser,
    sdk: aws_config::SdkConfig,
    _proxy: Refusing,
}

async fn scene(document: &str, inline_full: &[&str]) -> Scene {
    let moto = Moto::start();
    let admin = moto.iam().await;
    let victim = seed_user(&admin, "ci-deployer").await;
    admin
        .create_policy()
        .policy_name(DENY_POLICY_NAME)
        .path("/tourniquet/")
        .policy_document(document)
        .send()
        .await
        .expect("a policy under Tourniquet's name");
    let faults = inline_full
        .iter()
        .map(|name| {
            let name = format!("PolicyName={name}&");
            Fault::limit_exceeded(&["Action=PutUserPolicy", name.as_str()])
        })
        .collect();
    let proxy = Refusing::with_faults(moto.port, faults).await;
    let mut env = moto.sdk_config().await.into_builder();
    env.set_endpoint_url(Some(proxy.endpoint.clone()));
    let sdk = env.build();
    harness::create_bucket(&harness::s3_client(&sdk)).await;
    Scene {
        moto,
        admin,
        victim,
        sdk,
        _proxy: proxy,
    }
}

/// The managed policies attached to the user, as a second client reads them.
async fn attached(admin: &aws_sdk_iam::Client, user: &str) -> Vec<String> {
    admin
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_planted_look_alike_of_the_managed_deny_is_never_attached_and_the_key_is_denied() {
    // GIVEN a compromised user and the attacker's look-alike of Tourniquet's managed deny
    let Scene {
        moto,
        admin,
        victim,
        sdk,
        ..
    } = &scene(ALLOW_ALL, DENY_ONLY).await;

    // WHEN the responder contains the finding
    let report = Responder::new(sdk, harness::config(&[]))
        .handle(guardduty_finding(&victim.name, &victim.keys[0]))
        .await
        .expect("contained");

    // THEN the deny went by the managed route under a name of Tourniquet's own, and says why
    assert_eq!(report.status, Status::Contained, "{report:#?}");
    let deny = &report.targets[0].steps[0];
    assert_eq!(deny.action.as_str(), "attach_deny_all");
    assert_eq!(deny.outcome, Outcome::Applied);
    assert_eq!(deny.route.map(|r| r.as_str()), Some("managed"));
    let own = deny.policy.clone().expect("the ledger names the policy");
    assert!(own.starts_with(&format!("{PLANTED}-")), "{own}");
    assert!(deny.detail.contains(PLANTED), "{}", deny.detail);
    // AND, read back through a second client, the user carries Tourniquet's deny, not the
    // look-alike, which is left as the attacker made it
    let attached = attached(admin, &victim.name).await;
    assert!(attached.contains(&own), "{attached:?}");
    assert!(!attached.iter().any(|a| a == PLANTED), "{attached:?}");
    let deny_all: serde_json::Value =
        serde_json::from_str(&tourniquet_aws::plan::deny_all_document()).unwrap();
    assert_eq!(document(admin, &own).await, deny_all);
    let planted: serde_json::Value = serde_json::from_str(ALLOW_ALL).unwrap();
    assert_eq!(document(admin, PLANTED).await, planted, "never altered");
    // AND, with moto enforcing IAM authorization from now on, the stolen key is denied by IAM.
    // (Enforced after the containment: under enforcement moto rejects the SDK's CreatePolicy
    // signature, SignatureDoesNotMatch, which AWS accepts.)
    moto.enforce_iam_authorization();
    let stolen = moto
        .sdk_config_as(&victim.keys[0], &victim.first_secret)
        .await;
    let err = aws_sdk_iam::Client::new(&stolen)
        .list_users()
        .send()
        .await
        .expect_err("IAM must deny the stolen key");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
}

#[tokio::test]
async fn tourniquets_own_managed_deny_found_by_its_name_is_reused_after_its_content_is_read() {
    // GIVEN Tourniquet's own managed deny, left by an earlier containment, and no room inline
    let Scene {
        admin, victim, sdk, ..
    } = &scene(&tourniquet_aws::plan::deny_all_document(), DENY_ONLY).await;

    // WHEN the responder contains the finding
    let report = Responder::new(sdk, harness::config(&[]))
        .handle(guardduty_finding(&victim.name, &victim.keys[0]))
        .await
        .expect("contained");

    // THEN the existing policy, whose content is Tourniquet's, is the one attached
    assert_eq!(report.status, Status::Contained);
    let deny = &report.targets[0].steps[0];
    assert_eq!(deny.policy.as_deref(), Some(PLANTED));
    let arns = attached(admin, &victim.name).await;
    assert!(arns.iter().any(|a| a == PLANTED), "{arns:?}");
    let policies = admin
        .list_policies()
        .path_prefix("/tourniquet/")
        .send()
        .await
        .unwrap();
    assert_eq!(policies.policies().len(), 1, "no second policy was created");
}

#[tokio::test]
async fn a_release_detaches_the_policy_tourniquet_made_beside_a_look_alike_and_leaves_that() {
    // GIVEN a user contained by a managed deny of Tourniquet's own, made beside a look-alike
    let Scene {
        admin, victim, sdk, ..
    } = &scene(ALLOW_ALL, DENY_ONLY).await;
    let contained = Responder::new(sdk, harness::config(&[]))
        .handle(guardduty_finding(&victim.name, &victim.keys[0]))
        .await
        .expect("contained");
    let own = contained.targets[0].steps[0].policy.clone().unwrap();

    // WHEN a human releases it from the incident
    let report = Responder::new(sdk, harness::config(&[]))
        .playing(tourniquet_aws::Playbook::Release)
        .handle(serde_json::json!({
            "principal_arn": victim.arn,
            "incident_id": contained.incident_id,
        }))
        .await
        .expect("released");

    // THEN the ledger's policy is trusted and detached, and the look-alike stays as it was
    assert_eq!(report.status, Status::Released, "{report:#?}");
    let arns = attached(admin, &victim.name).await;
    assert!(!arns.contains(&own), "{arns:?}");
    let planted: serde_json::Value = serde_json::from_str(ALLOW_ALL).unwrap();
    assert_eq!(document(admin, PLANTED).await, planted);
    assert!(
        admin.get_policy().policy_arn(&own).send().await.is_ok(),
        "nothing is deleted"
    );
}

#[tokio::test]
async fn a_stale_managed_cutoff_is_never_reused_by_a_new_incident_and_a_replay_keeps_its_own() {
    use tourniquet_aws::plan::{cutoff_of, session_cutoff};
    // GIVEN a user with no room inline for either policy, contained by incident IR-A at 01:00
    // and released by a human
    let Scene {
        admin, victim, sdk, ..
    } = &scene(
        &tourniquet_aws::plan::deny_all_document(),
        &["TourniquetDenyAll", "TourniquetRevokeOlderSessions"],
    )
    .await;
    let at = |hour: u32| -> chrono::DateTime<chrono::Utc> {
        format!("2026-12-08T{hour:02}:00:00Z").parse().unwrap()
    };
    let run = |hour: u32, event: serde_json::Value| {
        let responder = Responder::new(sdk, harness::config(&[])).with_clock(move || at(hour));
        async move { responder.handle(event).await }
    };
    let request = |incident: &str| {
        serde_json::json!({"principal_arn": victim.arn, "incident_id": incident,
                           "reason": "key pasted in a public repo"})
    };
    let first = run(1, request("IR-A")).await.expect("contained");
    let revoke_of = |report: &tourniquet_aws::Report| {
        report.targets[0]
            .steps
            .iter()
            .find(|s| s.action.as_str() == "revoke_sessions")
            .cloned()
            .unwrap()
    };
    assert_eq!(revoke_of(&first).cutoff, Some(session_cutoff(at(1))));
    Responder::new(sdk, harness::config(&[]))
        .with_clock(move || at(2))
        .playing(tourniquet_aws::Playbook::Release)
        .handle(serde_json::json!({"principal_arn": victim.arn, "incident_id": "IR-A"}))
        .await
        .expect("released");

    // WHEN a new incident contains the user again at 03:00
    let second = run(3, request("IR-B")).await.expect("contained again");

    // THEN its session policy in force is a new one with IR-B's cutoff, as the report says,
    // not IR-A's stale one re-attached
    let revoke = revoke_of(&second);
    let cutoff = session_cutoff(at(3));
    assert_eq!(
        revoke.cutoff.as_deref(),
        Some(cutoff.as_str()),
        "{revoke:#?}"
    );
    let policy = revoke.policy.clone().expect("the ledger names the policy");
    assert_ne!(
        policy,
        revoke_of(&first).policy.unwrap(),
        "the stale one is not reused"
    );
    assert_eq!(
        cutoff_of(&document(admin, &policy).await),
        Some(cutoff.clone())
    );
    assert!(attached(admin, &victim.name).await.contains(&policy));

    // AND a replay of IR-B at 05:00 keeps IR-B's cutoff and finds its policy again
    let replay = run(5, request("IR-B")).await.expect("replayed");
    let again = revoke_of(&replay);
    assert_eq!(again.cutoff.as_deref(), Some(cutoff.as_str()), "{again:#?}");
    assert_eq!(
        again.policy.as_deref(),
        Some(policy.as_str()),
        "no policy per replay"
    );
}

#[tokio::test]
async fn a_look_alike_the_attacker_attached_is_in_the_evidence_with_its_document() {
    // GIVEN the attacker's look-alike of Tourniquet's managed deny, attached to the user
    let Scene {
        admin, victim, sdk, ..
    } = &scene(ALLOW_ALL, DENY_ONLY).await;
    admin
        .attach_user_policy()
        .user_name(&victim.name)
        .policy_arn(PLANTED)
        .send()
        .await
        .unwrap();

    // WHEN the responder contains the finding
    let report = Responder::new(sdk, harness::config(&[]))
        .handle(guardduty_finding(&victim.name, &victim.keys[0]))
        .await
        .expect("contained");

    // THEN the snapshot records it with the document it granted (a name proves nothing)
    let key = &report
        .evidence
        .iter()
        .find(|e| e.key.ends_with("/snapshot.json"))
        .unwrap()
        .key;
    let s3 = harness::s3_client(sdk);
    let snapshot: serde_json::Value =
        serde_json::from_slice(&harness::evidence_body(&s3, key).await).unwrap();
    let recorded = snapshot["attached_policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["arn"] == PLANTED)
        .expect("the look-alike is in the evidence")
        .clone();
    let planted: serde_json::Value = serde_json::from_str(ALLOW_ALL).unwrap();
    assert_eq!(
        recorded["default_version"]["document"], planted,
        "{recorded:#}"
    );
}
