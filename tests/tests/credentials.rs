//! A user's credentials beyond its access keys, contained and released against moto: an X.509
//! signing certificate and an SSH public key (CodeCommit) are set Inactive as steps of their own,
//! never deleted, and come back only when the release request lists them. (Service-specific
//! credentials, Bedrock API keys among them, moto does not hold: `faults.rs` proves their requests.)

use aws_sdk_iam::types::StatusType;
use harness::{Moto, guardduty_finding, seed_user};
use serde_json::json;
use tourniquet_aws::Playbook;
use tourniquet_aws::report::{Outcome, Status};

const CERTIFICATE: &str = include_str!("../fixtures/signing-certificate.pem");
const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIW6woEOwH4C9GPZfA0WeJPsn6PCiDzZTG7omvgKeJjX ci@laptop";

/// The user's certificates' and SSH keys' statuses, as IAM lists them.
async fn statuses(iam: &aws_sdk_iam::Client, user: &str) -> (Vec<StatusType>, Vec<StatusType>) {
    let certificates = iam
        .list_signing_certificates()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .certificates
        .into_iter()
        .map(|c| c.status)
        .collect();
    let keys = iam
        .list_ssh_public_keys()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .ssh_public_keys
        .unwrap_or_default()
        .into_iter()
        .map(|k| k.status)
        .collect();
    (certificates, keys)
}

#[tokio::test]
async fn certificates_and_ssh_keys_are_deactivated_and_only_a_listed_one_comes_back() {
    // GIVEN a user with a signing certificate and an SSH public key, both active
    let moto = Moto::start();
    let iam = moto.iam().await;
    let user = seed_user(&iam, "ci-deployer").await;
    let certificate = iam
        .upload_signing_certificate()
        .user_name(&user.name)
        .certificate_body(CERTIFICATE)
        .send()
        .await
        .expect("a certificate")
        .certificate
        .unwrap()
        .certificate_id;
    let ssh = iam
        .upload_ssh_public_key()
        .user_name(&user.name)
        .ssh_public_key_body(SSH_KEY)
        .send()
        .await
        .expect("an SSH key")
        .ssh_public_key
        .unwrap()
        .ssh_public_key_id;

    // WHEN contain handles a finding on the user's access key
    let contain = moto.responder(&[]).await;
    let report = contain
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("contained");

    // THEN both are Inactive, still there, each a step of its own
    assert_eq!(report.status, Status::Contained);
    assert_eq!(
        statuses(&iam, &user.name).await,
        (vec![StatusType::Inactive], vec![StatusType::Inactive])
    );
    let step = |target: String| {
        report.targets[0]
            .steps
            .iter()
            .find(|s| s.target == target)
            .map(|s| (s.action.as_str(), s.outcome))
    };
    assert_eq!(
        step(format!("signing_certificate:{certificate}")),
        Some(("deactivate_credential", Outcome::Applied))
    );
    assert_eq!(
        step(format!("ssh_public_key:{ssh}")),
        Some(("deactivate_credential", Outcome::Applied))
    );

    // AND a replay finds them in place
    let replay = contain
        .handle(guardduty_finding(&user.name, &user.keys[0]))
        .await
        .expect("replayed");
    let again = replay.targets[0]
        .steps
        .iter()
        .filter(|s| s.action.as_str() == "deactivate_credential" && s.target.contains(&ssh))
        .map(|s| s.outcome)
        .collect::<Vec<_>>();
    assert_eq!(again, [Outcome::AlreadyInPlace]);

    // WHEN the release lists the SSH key only
    let incident = report.incident_id.clone();
    let release = moto.responder(&[]).await.playing(Playbook::Release);
    let released = release
        .handle(json!({
            "principal_arn": user.arn, "incident_id": incident,
            "reactivate_credentials": [ssh],
        }))
        .await
        .expect("released");

    // THEN the SSH key is Active again and the certificate stays Inactive, with why
    assert_eq!(released.status, Status::Released, "{released:#?}");
    assert_eq!(
        statuses(&iam, &user.name).await,
        (vec![StatusType::Inactive], vec![StatusType::Active])
    );
    let kept = released.targets[0]
        .steps
        .iter()
        .find(|s| s.target == format!("signing_certificate:{certificate}"))
        .expect("the certificate's line");
    assert_eq!(kept.action.as_str(), "keep_credential_inactive");
    assert!(
        kept.detail.contains("reactivate_credentials"),
        "{}",
        kept.detail
    );

    // AND a malformed id is refused by name, before anything is read
    let err = release
        .handle(json!({
            "principal_arn": user.arn, "incident_id": incident,
            "reactivate_credentials": ["../etc"],
        }))
        .await
        .expect_err("refused");
    assert!(
        err.to_string().contains("reactivate_credentials[0]"),
        "{err}"
    );
}
