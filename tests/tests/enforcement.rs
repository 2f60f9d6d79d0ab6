//! The end-to-end proof: with the emulator enforcing IAM authorization, the stolen key works
//! before containment and is denied after it.

use harness::{Moto, guardduty_finding, seed_user};
use tourniquet_aws::Responder;
use tourniquet_aws::report::Status;

#[tokio::test]
async fn the_stolen_key_works_before_containment_and_is_denied_after() {
    // GIVEN an administrator the responder runs as, and a compromised over-privileged user
    let moto = Moto::start();
    let admin = moto.iam().await;
    harness::create_bucket(&moto.s3().await).await;
    admin
        .create_user()
        .user_name("tourniquet")
        .send()
        .await
        .unwrap();
    admin
        .attach_user_policy()
        .user_name("tourniquet")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    let responder_key = admin
        .create_access_key()
        .user_name("tourniquet")
        .send()
        .await
        .unwrap()
        .access_key
        .unwrap();
    let victim = seed_user(&admin, "ci-deployer").await;
    moto.enforce_iam_authorization();

    let stolen = moto
        .sdk_config_as(&victim.keys[0], &victim.first_secret)
        .await;
    let attacker_iam = aws_sdk_iam::Client::new(&stolen);
    let attacker_s3 = harness::s3_client(&stolen);
    attacker_iam
        .list_users()
        .send()
        .await
        .expect("the stolen key can call IAM before containment");
    attacker_s3
        .list_buckets()
        .send()
        .await
        .expect("the stolen key can call S3 before containment");

    // WHEN the responder, with its own credentials, contains the finding
    let sdk = moto
        .sdk_config_as(
            &responder_key.access_key_id,
            &responder_key.secret_access_key,
        )
        .await;
    let responder = Responder::new(&sdk, harness::config(&[]));
    let report = responder
        .handle(guardduty_finding(&victim.name, &victim.keys[0]))
        .await
        .expect("contained");
    assert_eq!(report.status, Status::Contained);

    // THEN the stolen key is denied by IAM and by S3
    let iam_err = attacker_iam
        .list_users()
        .send()
        .await
        .expect_err("IAM must deny the stolen key");
    assert_eq!(
        iam_err.raw_response().map(|r| r.status().as_u16()),
        Some(403),
        "{iam_err:?}"
    );
    let s3_err = attacker_s3
        .list_buckets()
        .send()
        .await
        .expect_err("S3 must deny the stolen key");
    assert_eq!(
        s3_err.raw_response().map(|r| r.status().as_u16()),
        Some(403),
        "{s3_err:?}"
    );
    // AND the responder itself still works
    admin_can_still_read(&sdk).await;
}

async fn admin_can_still_read(sdk: &aws_config::SdkConfig) {
    aws_sdk_iam::Client::new(sdk)
        .list_users()
        .send()
        .await
        .expect("the responder is not locked out");
}
