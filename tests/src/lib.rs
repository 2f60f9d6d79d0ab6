//! Test harness: a moto server on loopback, SDK clients pointed at it, a compromised user to seed,
//! and the sample events of `events/`. Used by the integration tests and by `make demo`.

pub mod esm;
pub mod identity_center;
pub mod lambda;
pub mod proxy;
pub mod trail;
pub mod wire;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_iam::config::Credentials;
use aws_sdk_iam::types::{StatusType, Tag};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tourniquet_aws::{Config, Responder};

/// The account every emulated principal lives in (the sample events' account).
pub const ACCOUNT: &str = "111122223333";
/// The default account of a multi-account emulator: the responder's own.
pub const OWN_ACCOUNT: &str = "123456789012";
/// The member role the multi-account tests assume.
pub const MEMBER_ROLE: &str = "TourniquetMember";

/// The evidence bucket the tests and the demo create.
pub const BUCKET: &str = "tourniquet-evidence";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A sample event from `events/`.
pub fn event(name: &str) -> Value {
    let path = root().join("events").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The GuardDuty sample finding, naming `user` and `key` (keys are random in the emulator).
pub fn guardduty_finding(user: &str, key: &str) -> Value {
    let mut event = event("guardduty-iam-user.json");
    let details = &mut event["detail"]["resource"]["accessKeyDetails"];
    details["userName"] = user.into();
    details["accessKeyId"] = key.into();
    event
}

/// A Security Hub custom action on one GuardDuty finding per principal ARN, the number confirmed
/// by the human (`max_principals`: a custom action is capped like imported findings).
pub fn custom_action(arns: &[&str]) -> Value {
    let mut event = event("securityhub-imported.json");
    event["detail-type"] = "Security Hub Findings - Custom Action".into();
    event["max_principals"] = arns.len().max(1).into();
    let mut template = event["detail"]["findings"][0].clone();
    // A finding of an AWS product: the account's default product, which anyone allowed
    // BatchImportFindings fills, is never acted on, not even by a custom action.
    template["ProductArn"] = "arn:aws:securityhub:us-east-1::product/aws/guardduty".into();
    let findings: Vec<Value> = arns
        .iter()
        .enumerate()
        .map(|(i, arn)| {
            let mut finding = template.clone();
            finding["Id"] = format!("tq-detect/{i}").into();
            finding["AwsAccountId"] = arn.split(':').nth(4).unwrap_or_default().into();
            let kind = if arn.contains(":role/") {
                "AwsIamRole"
            } else {
                "AwsIamUser"
            };
            finding["Resources"] = serde_json::json!([{"Type": kind, "Id": arn}]);
            finding
        })
        .collect();
    event["detail"]["findings"] = findings.into();
    event
}

/// A moto server on a free loopback port, stopped when dropped. Each test starts its own, so
/// tests never see one another's state.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// Its loopback port.
    pub port: u16,
}

impl Moto {
    /// Starts moto from the virtualenv `make test` creates (or `MOTO_SERVER`) and waits until it
    /// answers. Every request runs in [`ACCOUNT`], the sample events' account.
    pub fn start() -> Self {
        Self::launch(Some(ACCOUNT))
    }

    /// Starts moto with several accounts: requests run in the default account [`OWN_ACCOUNT`]
    /// unless made with credentials from `sts:AssumeRole` into another, which then run there.
    pub fn start_multi_account() -> Self {
        Self::launch(None)
    }

    fn launch(account: Option<&str>) -> Self {
        let server = std::env::var_os("MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join(".venv/bin/moto_server"));
        assert!(
            server.exists(),
            "{} not found: run `make test` (it creates the virtualenv with moto), or set MOTO_SERVER",
            server.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut command = Command::new(&server);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .env_remove("MOTO_ACCOUNT_ID");
        if let Some(account) = account {
            command.env("MOTO_ACCOUNT_ID", account);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while moto.http("GET", "/moto-api/", "").is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not answer on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// A raw HTTP request to moto's own API; returns the status line.
    fn http(&self, method: &str, path: &str, body: &str) -> std::io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response.lines().next().unwrap_or_default().to_owned())
    }

    /// Turns on moto's IAM authorization: from now on every request is checked against the
    /// caller's policies, so a deny-all really denies.
    pub fn enforce_iam_authorization(&self) {
        let status = self
            .http("POST", "/moto-api/reset-auth", "0")
            .expect("moto answers");
        assert!(status.contains("200"), "reset-auth: {status}");
    }

    /// SDK configuration for this server with the given access key (any key before enforcement).
    pub async fn sdk_config_as(&self, access_key_id: &str, secret: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(access_key_id, secret, None, None, "test"))
            // Tests that expect errors must see them at once, not after three retries.
            .retry_config(RetryConfig::disabled())
            .load()
            .await
    }

    /// SDK configuration for this server as the default administrator.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.sdk_config_as(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .await
    }

    /// A second IAM client, for reading state back independently of the responder.
    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config().await)
    }

    /// An IAM client inside another account of a multi-account emulator, through the member role.
    pub async fn iam_in(&self, account: &str) -> aws_sdk_iam::Client {
        let sdk = self.sdk_config().await;
        let credentials = aws_sdk_sts::Client::new(&sdk)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/{MEMBER_ROLE}"))
            .role_session_name("test-setup")
            .send()
            .await
            .expect("assume the member role")
            .credentials
            .expect("credentials");
        let config = aws_sdk_iam::config::Builder::from(&sdk)
            .credentials_provider(Credentials::new(
                credentials.access_key_id,
                credentials.secret_access_key,
                Some(credentials.session_token),
                None,
                "member",
            ))
            .build();
        aws_sdk_iam::Client::from_conf(config)
    }

    /// An S3 client (path-style, as loopback needs).
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        s3_client(&self.sdk_config().await)
    }

    /// Creates the evidence bucket and a responder over it, configured by `vars` besides
    /// `EVIDENCE_BUCKET` (e.g. `[("PROTECTED_PRINCIPALS", "...")]`).
    pub async fn responder(&self, vars: &[(&str, &str)]) -> Responder {
        let sdk = self.sdk_config().await;
        create_bucket(&s3_client(&sdk)).await;
        Responder::new(&sdk, config(vars))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A path-style S3 client.
pub fn s3_client(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// Creates the evidence bucket (idempotent).
pub async fn create_bucket(s3: &aws_sdk_s3::Client) {
    if s3.head_bucket().bucket(BUCKET).send().await.is_err() {
        s3.create_bucket()
            .bucket(BUCKET)
            .send()
            .await
            .expect("create evidence bucket");
    }
}

/// Responder configuration: the evidence bucket plus `vars`.
///
/// The hunt is off unless `vars` turn it on (`("HUNT", "true")`): moto has no CloudTrail event
/// history, so the hunt is tested through the CloudTrail double ([`trail`]).
pub fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|name| {
        if name == "EVIDENCE_BUCKET" {
            return Some(BUCKET.into());
        }
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| (name == "HUNT").then(|| "false".into()))
    })
    .expect("valid test configuration")
}

/// The step every user containment against moto carries: moto does not implement
/// `ListServiceSpecificCredentials` (it answers with an empty body), so that kind is reported
/// unlisted and skipped; in AWS it is listed and each credential deactivated (`faults.rs` proves
/// those requests). Tests that compare a whole list of steps leave it out with [`steps`].
pub const MOTO_UNLISTED: &str = "service_specific_credential:(unlisted)";

/// A target's steps but [`MOTO_UNLISTED`].
pub fn steps(
    target: &tourniquet_aws::report::TargetReport,
) -> impl Iterator<Item = &tourniquet_aws::report::StepReport> {
    target.steps.iter().filter(|s| s.target != MOTO_UNLISTED)
}

/// A new access key of `user` (its id and secret), as whoever `iam` is.
pub async fn new_key(iam: &aws_sdk_iam::Client, user: &str) -> aws_sdk_iam::types::AccessKey {
    iam.create_access_key()
        .user_name(user)
        .send()
        .await
        .expect("create access key")
        .access_key
        .expect("key")
}

/// A user seeded as a real one would look: two keys, policies, a group, a password, MFA, tags.
pub struct SeededUser {
    /// The user name.
    pub name: String,
    /// The ARN.
    pub arn: String,
    /// Access key ids, in creation order; both active.
    pub keys: Vec<String>,
    /// The first key's secret, so a test can act as the attacker.
    pub first_secret: String,
}

/// A policy that allows everything, as an over-privileged CI user would have.
pub const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// Seeds a compromised-looking user with everything a snapshot should capture.
pub async fn seed_user(iam: &aws_sdk_iam::Client, name: &str) -> SeededUser {
    let user = iam
        .create_user()
        .user_name(name)
        .path("/ci/")
        .tags(
            Tag::builder()
                .key("team")
                .value("platform")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create user")
        .user
        .expect("user");
    let mut keys = Vec::new();
    let mut first_secret = String::new();
    for _ in 0..2 {
        let key = iam
            .create_access_key()
            .user_name(name)
            .send()
            .await
            .expect("create key")
            .access_key
            .expect("key");
        if first_secret.is_empty() {
            first_secret = key.secret_access_key.clone();
        }
        keys.push(key.access_key_id);
    }
    iam.put_user_policy()
        .user_name(name)
        .policy_name("deploy-everything")
        .policy_document(ALLOW_ALL)
        .send()
        .await
        .expect("inline policy");
    iam.attach_user_policy()
        .user_name(name)
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .expect("attach managed policy");
    let group = format!("{name}-deployers");
    iam.create_group()
        .group_name(&group)
        .send()
        .await
        .expect("group");
    iam.add_user_to_group()
        .group_name(&group)
        .user_name(name)
        .send()
        .await
        .expect("join group");
    iam.create_login_profile()
        .user_name(name)
        .password("Correct-Horse-Battery-9")
        .send()
        .await
        .expect("login profile");
    let device = iam
        .create_virtual_mfa_device()
        .virtual_mfa_device_name(format!("{name}-phone"))
        .send()
        .await
        .expect("virtual MFA")
        .virtual_mfa_device
        .expect("device");
    iam.enable_mfa_device()
        .user_name(name)
        .serial_number(&device.serial_number)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .expect("enable MFA");
    SeededUser {
        name: name.into(),
        arn: user.arn,
        keys,
        first_secret,
    }
}

/// Each key's status, as a second client reads it.
pub async fn key_statuses(iam: &aws_sdk_iam::Client, user: &str) -> Vec<(String, StatusType)> {
    iam.list_access_keys()
        .user_name(user)
        .send()
        .await
        .expect("list keys")
        .access_key_metadata
        .into_iter()
        .map(|k| {
            (
                k.access_key_id.unwrap_or_default(),
                k.status.expect("status"),
            )
        })
        .collect()
}

/// Everything an IAM user's containment could change, read back by a second client, in one value
/// that tests compare before and after.
pub async fn user_state(iam: &aws_sdk_iam::Client, user: &str) -> Value {
    let inline = iam
        .list_user_policies()
        .user_name(user)
        .send()
        .await
        .expect("list inline");
    let mut documents = Vec::new();
    for name in &inline.policy_names {
        let doc = iam
            .get_user_policy()
            .user_name(user)
            .policy_name(name)
            .send()
            .await
            .expect("get inline")
            .policy_document;
        documents.push(serde_json::json!([
            name,
            tourniquet_aws::snapshot::decode_policy(&doc).unwrap()
        ]));
    }
    let attached = iam
        .list_attached_user_policies()
        .user_name(user)
        .send()
        .await
        .expect("list attached")
        .attached_policies
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.policy_arn.unwrap_or_default())
        .collect::<Vec<_>>();
    let groups = iam
        .list_groups_for_user()
        .user_name(user)
        .send()
        .await
        .expect("groups")
        .groups
        .into_iter()
        .map(|g| g.group_name)
        .collect::<Vec<_>>();
    let tags = iam
        .list_user_tags()
        .user_name(user)
        .send()
        .await
        .expect("tags")
        .tags
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect::<Vec<_>>();
    let keys = key_statuses(iam, user)
        .await
        .into_iter()
        .map(|(id, s)| (id, s.as_str().to_owned()))
        .collect::<Vec<_>>();
    let login = iam.get_login_profile().user_name(user).send().await.is_ok();
    serde_json::json!({
        "keys": keys, "inline": documents, "attached": attached, "groups": groups,
        "tags": tags, "login_profile": login,
    })
}

/// Every object key in the evidence bucket.
pub async fn evidence_keys(s3: &aws_sdk_s3::Client) -> Vec<String> {
    s3.list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect("list evidence")
        .contents
        .unwrap_or_default()
        .into_iter()
        .filter_map(|o| o.key)
        .collect()
}

/// An evidence object's bytes.
pub async fn evidence_body(s3: &aws_sdk_s3::Client, key: &str) -> Vec<u8> {
    s3.get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e:?}"))
        .body
        .collect()
        .await
        .expect("read body")
        .to_vec()
}

/// A role seeded as an EC2 workload's would look.
pub struct SeededRole {
    /// The role name.
    pub name: String,
    /// The ARN, with its path.
    pub arn: String,
}

/// The trust policy of an EC2 instance role.
pub const EC2_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Seeds an instance role on `path` with an inline and a managed policy, an instance profile and a tag.
pub async fn seed_role(iam: &aws_sdk_iam::Client, name: &str, path: &str) -> SeededRole {
    let role = iam
        .create_role()
        .role_name(name)
        .path(path)
        .assume_role_policy_document(EC2_TRUST)
        .tags(
            Tag::builder()
                .key("service")
                .value("payments")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("create role")
        .role
        .expect("role");
    iam.put_role_policy()
        .role_name(name)
        .policy_name("read-secrets")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}"#,
        )
        .send()
        .await
        .expect("inline policy");
    iam.attach_role_policy()
        .role_name(name)
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .expect("attach managed policy");
    iam.create_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .expect("instance profile");
    iam.add_role_to_instance_profile()
        .instance_profile_name(name)
        .role_name(name)
        .send()
        .await
        .expect("role in profile");
    SeededRole {
        name: name.into(),
        arn: role.arn,
    }
}

/// Everything a role's containment could change, read back by a second client.
pub async fn role_state(iam: &aws_sdk_iam::Client, role: &str) -> Value {
    let inline = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("list inline")
        .policy_names;
    let mut documents = Vec::new();
    for name in &inline {
        let doc = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .expect("get inline")
            .policy_document;
        documents.push(serde_json::json!([
            name,
            tourniquet_aws::snapshot::decode_policy(&doc).unwrap()
        ]));
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("list attached")
        .attached_policies
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.policy_arn.unwrap_or_default())
        .collect::<Vec<_>>();
    let tags = iam
        .list_role_tags()
        .role_name(role)
        .send()
        .await
        .expect("tags")
        .tags
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect::<Vec<_>>();
    let trust = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("get role")
        .role
        .and_then(|r| r.assume_role_policy_document)
        .unwrap_or_default();
    serde_json::json!({"inline": documents, "attached": attached, "tags": tags, "trust": trust})
}

/// The `aws:TokenIssueTime` cutoff of Tourniquet's revoke-sessions policy in `state`, if any.
pub fn cutoff_in(state: &Value) -> Option<String> {
    state["inline"].as_array()?.iter().find_map(|pair| {
        (pair[0] == tourniquet_aws::plan::REVOKE_POLICY_NAME)
            .then(|| tourniquet_aws::plan::cutoff_of(&pair[1]))
            .flatten()
    })
}

/// Seeds a user with every kind of IAM configuration a snapshot should capture: two keys (IAM's
/// limit), a group with an inline and a managed policy, a signing certificate and an SSH key, besides what
/// [`seed_user`] gives.
pub async fn seed_rich_user(iam: &aws_sdk_iam::Client, name: &str) -> SeededUser {
    let user = seed_user(iam, name).await;
    let group = format!("{name}-deployers");
    iam.put_group_policy()
        .group_name(&group)
        .policy_name("deploy-lambda")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:*","Resource":"*"}]}"#,
        )
        .send()
        .await
        .expect("group inline policy");
    iam.attach_group_policy()
        .group_name(&group)
        .policy_arn("arn:aws:iam::aws:policy/AWSLambda_FullAccess")
        .send()
        .await
        .expect("group managed policy");
    let fixtures = root().join("tests/fixtures");
    let certificate = std::fs::read_to_string(fixtures.join("signing-certificate.pem")).unwrap();
    iam.upload_signing_certificate()
        .user_name(name)
        .certificate_body(certificate)
        .send()
        .await
        .expect("signing certificate");
    let ssh = std::fs::read_to_string(fixtures.join("ssh-public-key.pub")).unwrap();
    iam.upload_ssh_public_key()
        .user_name(name)
        .ssh_public_key_body(ssh)
        .send()
        .await
        .expect("SSH public key");
    user
}

/// A topic with a queue subscribed to it: what an e-mail subscriber would get, read back.
pub struct Inbox {
    /// The topic's ARN (`NOTIFY_TOPIC_ARN`).
    pub topic: String,
    queue: String,
    sqs: aws_sdk_sqs::Client,
}

impl Inbox {
    /// Creates the topic `tq-notify` and the queue `responders` subscribed to it.
    pub async fn new(sdk: &SdkConfig) -> Self {
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let topic = sns
            .create_topic()
            .name("tq-notify")
            .send()
            .await
            .expect("topic")
            .topic_arn
            .expect("topic arn");
        let queue = sqs
            .create_queue()
            .queue_name("responders")
            .send()
            .await
            .expect("queue")
            .queue_url
            .expect("queue url");
        let queue_arn = esm::queue_arn(&sqs, &queue).await;
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .expect("subscribe");
        Self { topic, queue, sqs }
    }

    /// Every message delivered since the last call: SNS's envelope (`Subject`, `Message`,
    /// `MessageAttributes`), as the subscriber receives it.
    pub async fn received(&self) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let batch = self
                .sqs
                .receive_message()
                .queue_url(&self.queue)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                out.push(serde_json::from_str(m.body().unwrap_or_default()).expect("SNS envelope"));
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }

    /// The one message delivered since the last call: its subject, its body (JSON) and its
    /// attributes.
    pub async fn one(&self) -> (String, Value, Value) {
        let mut got = self.received().await;
        assert_eq!(got.len(), 1, "exactly one message: {got:#?}");
        let envelope = got.remove(0);
        let body =
            serde_json::from_str(envelope["Message"].as_str().unwrap()).expect("a JSON body");
        (
            envelope["Subject"].as_str().unwrap().to_owned(),
            body,
            envelope["MessageAttributes"].clone(),
        )
    }
}

/// An S3 client that lets the run's intent through and fails every later upload, as when the
/// function dies (a timeout, S3 unavailable) between its IAM writes and its evidence.
#[derive(Debug)]
pub struct DiesBeforeItsEvidence;

impl aws_sdk_s3::config::Intercept for DiesBeforeItsEvidence {
    fn name(&self) -> &'static str {
        "DiesBeforeItsEvidence"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_s3::config::RuntimeComponents,
        _: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), aws_sdk_s3::error::BoxError> {
        let request = context.request();
        let path = request.uri().split('?').next().unwrap_or_default();
        if request.method() == "PUT" && !path.ends_with("/intent.json") {
            return Err("the function died before its evidence".into());
        }
        Ok(())
    }
}

/// A path-style S3 client through [`DiesBeforeItsEvidence`].
pub fn dying_s3(sdk: &SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .interceptor(DiesBeforeItsEvidence)
            .build(),
    )
}
