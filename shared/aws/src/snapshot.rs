//! The forensic snapshot: a user's IAM configuration as read before this run's changes, in two
//! waves of concurrent reads (lists first, then the details each list names).

use crate::error::{AwsError, HttpStatus};
use crate::plan::{self, CredentialKind, CredentialsState, KeyState, PrincipalState};
use crate::principal::{Principal, PrincipalKind};
use aws_sdk_iam::Client;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::operation::get_login_profile::GetLoginProfileError;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use futures::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Reads that go out at once in one wave, at most this many.
pub const READ_CONCURRENCY: usize = 8;

/// One part of a snapshot: what IAM said, or why it would not say.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Part<T> {
    /// Read.
    Read(T),
    /// Not read: IAM's error (denied, not implemented, throttled past retries).
    Unavailable {
        /// The error.
        unavailable: String,
    },
}

impl<T> Part<T> {
    fn from_result<E: std::fmt::Display>(result: Result<T, E>) -> Self {
        match result {
            Ok(value) => Part::Read(value),
            Err(err) => Part::Unavailable {
                unavailable: err.to_string(),
            },
        }
    }

    fn as_result(&self) -> Result<&T, tourniquet_core::error::Unread> {
        match self {
            Part::Read(value) => Ok(value),
            Part::Unavailable { unavailable } => Err(unavailable.as_str().into()),
        }
    }
}

/// The user record.
#[derive(Clone, Debug, Serialize)]
pub struct UserRecord {
    /// The ARN, with its path.
    pub arn: String,
    /// The path.
    pub path: String,
    /// The stable unique id (`AIDA…`).
    pub user_id: String,
    /// When the user was created.
    pub create_date: Option<String>,
    /// When the console password was last used.
    pub password_last_used: Option<String>,
    /// The permissions boundary's policy ARN.
    pub permissions_boundary: Option<String>,
}

/// An access key and its last use.
#[derive(Clone, Debug, Serialize)]
pub struct AccessKeyRecord {
    /// The key id.
    pub access_key_id: String,
    /// `Active` or `Inactive`, as read.
    pub status: String,
    /// When it was created.
    pub create_date: Option<String>,
    /// Its last use: date, service, region.
    pub last_used: Part<Option<LastUsed>>,
}

/// Where and when a key was last used.
#[derive(Clone, Debug, Serialize)]
pub struct LastUsed {
    /// When.
    pub date: Option<String>,
    /// Which service.
    pub service_name: Option<String>,
    /// Which region.
    pub region: Option<String>,
}

/// An inline policy and its document.
#[derive(Clone, Debug, Serialize)]
pub struct InlinePolicyRecord {
    /// The policy name.
    pub name: String,
    /// The document, decoded from IAM's URL encoding.
    pub document: Part<serde_json::Value>,
}

/// A managed policy attached to the user.
#[derive(Clone, Debug, Serialize)]
pub struct AttachedPolicyRecord {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// The default version's id and document: what the policy granted at the time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_version: Option<Part<Arc<PolicyVersionRecord>>>,
}

/// A managed policy's default version.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyVersionRecord {
    /// `v1`, `v2`...
    pub version_id: String,
    /// The document, decoded.
    pub document: serde_json::Value,
}

/// A group the user belongs to.
#[derive(Clone, Debug, Serialize)]
pub struct GroupRecord {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// The group's inline policies with documents: the user had these permissions too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_policies: Option<Part<Vec<InlinePolicyRecord>>>,
    /// The group's managed policies with their default version's document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attached_policies: Option<Part<Vec<AttachedPolicyRecord>>>,
}

/// An X.509 signing certificate of the user (a credential for some older SOAP APIs).
#[derive(Clone, Debug, Serialize)]
pub struct SigningCertificateRecord {
    /// Its id.
    pub certificate_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// When it was uploaded.
    pub upload_date: Option<String>,
}

/// An SSH public key of the user (a CodeCommit credential).
#[derive(Clone, Debug, Serialize)]
pub struct SshPublicKeyRecord {
    /// Its id.
    pub ssh_public_key_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    /// When it was uploaded.
    pub upload_date: Option<String>,
}

/// A service-specific credential (CodeCommit, Keyspaces, Bedrock...).
#[derive(Clone, Debug, Serialize)]
pub struct ServiceCredentialRecord {
    /// Its id.
    pub service_specific_credential_id: String,
    /// The service it is for.
    pub service_name: String,
    /// The user name to present to that service.
    pub service_user_name: Option<String>,
    /// `Active` or `Inactive`.
    pub status: String,
    /// When it was created.
    pub create_date: Option<String>,
}

/// The user's console password.
#[derive(Clone, Debug, Serialize)]
pub struct LoginProfileRecord {
    /// When it was created.
    pub create_date: Option<String>,
    /// Whether a reset is required at next sign-in.
    pub password_reset_required: bool,
}

/// An MFA device.
#[derive(Clone, Debug, Serialize)]
pub struct MfaDeviceRecord {
    /// The serial number or ARN of the device.
    pub serial_number: String,
    /// When it was enabled.
    pub enable_date: Option<String>,
}

/// A tag.
#[derive(Clone, Debug, Serialize)]
pub struct TagRecord {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A role's record.
#[derive(Clone, Debug, Serialize)]
pub struct RoleRecord {
    /// The ARN, with its path.
    pub arn: String,
    /// The path.
    pub path: String,
    /// The stable unique id (`AROA…`).
    pub role_id: String,
    /// When the role was created.
    pub create_date: Option<String>,
    /// Its description.
    pub description: Option<String>,
    /// Who may assume it, decoded.
    pub trust_policy: Option<serde_json::Value>,
    /// Longest session, in seconds.
    pub max_session_duration: Option<i32>,
    /// The permissions boundary's policy ARN.
    pub permissions_boundary: Option<String>,
    /// When and where the role was last used.
    pub last_used: Option<LastUsed>,
}

/// An instance profile the role is in.
#[derive(Clone, Debug, Serialize)]
pub struct InstanceProfileRecord {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
}

/// A principal's IAM configuration, as evidence.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Snapshot {
    /// An IAM user.
    User(UserSnapshot),
    /// An IAM role.
    Role(RoleSnapshot),
}

impl Snapshot {
    /// The principal's ARN with its path, once IAM answered.
    pub fn arn(&self) -> Option<&str> {
        match self {
            Snapshot::User(s) => s.user.as_result().ok().map(|u| u.arn.as_str()),
            Snapshot::Role(s) => s.role.as_result().ok().map(|r| r.arn.as_str()),
        }
    }
}

/// A user's IAM configuration.
#[derive(Clone, Debug, Serialize)]
pub struct UserSnapshot {
    /// `user`.
    pub kind: &'static str,
    /// When the first read went out (UTC, RFC 3339).
    pub taken_at: String,
    /// The user's name.
    pub user_name: String,
    /// Changes of this run written in the same wave as these reads, so that their state as read
    /// may already include them.
    pub concurrent_writes: Vec<String>,
    /// What the snapshot leaves out as Tourniquet's own: the exact policy names and ARNs, group
    /// and tag keys it creates. Anything else, look-alike names included, is recorded.
    pub tourniquet_own: Vec<String>,
    /// The user.
    pub user: Part<UserRecord>,
    /// Access keys with status and last use.
    pub access_keys: Part<Vec<AccessKeyRecord>>,
    /// Inline policies with documents (Tourniquet's own left out).
    pub inline_policies: Part<Vec<InlinePolicyRecord>>,
    /// Attached managed policies (Tourniquet's own left out).
    pub attached_policies: Part<Vec<AttachedPolicyRecord>>,
    /// Groups (Tourniquet's quarantine group left out).
    pub groups: Part<Vec<GroupRecord>>,
    /// Console password (`null`: none).
    pub login_profile: Part<Option<LoginProfileRecord>>,
    /// MFA devices.
    pub mfa_devices: Part<Vec<MfaDeviceRecord>>,
    /// X.509 signing certificates.
    pub signing_certificates: Part<Vec<SigningCertificateRecord>>,
    /// SSH public keys (CodeCommit).
    pub ssh_public_keys: Part<Vec<SshPublicKeyRecord>>,
    /// Service-specific credentials.
    pub service_specific_credentials: Part<Vec<ServiceCredentialRecord>>,
    /// Tags (Tourniquet's own left out).
    pub tags: Part<Vec<TagRecord>>,
}

/// A role's IAM configuration.
#[derive(Clone, Debug, Serialize)]
pub struct RoleSnapshot {
    /// `role`.
    pub kind: &'static str,
    /// When the first read went out (UTC, RFC 3339).
    pub taken_at: String,
    /// The role's name.
    pub role_name: String,
    /// As for users.
    pub concurrent_writes: Vec<String>,
    /// As for users.
    pub tourniquet_own: Vec<String>,
    /// The role, its trust policy, boundary and last use.
    pub role: Part<RoleRecord>,
    /// Inline policies with documents (Tourniquet's own left out).
    pub inline_policies: Part<Vec<InlinePolicyRecord>>,
    /// Attached managed policies (Tourniquet's own left out).
    pub attached_policies: Part<Vec<AttachedPolicyRecord>>,
    /// Instance profiles that hand the role to EC2 instances.
    pub instance_profiles: Part<Vec<InstanceProfileRecord>>,
    /// Tags (Tourniquet's own left out).
    pub tags: Part<Vec<TagRecord>>,
}

/// The first wave of reads: the lists. Enough for the planner.
pub struct FirstRead {
    taken_at: String,
    principal: Principal,
    record: Part<Record>,
    access_keys: Part<Vec<KeyRow>>,
    inline_policy_names: Part<Vec<String>>,
    attached_policies: Part<Vec<AttachedPolicyRecord>>,
    groups: Part<Vec<GroupRecord>>,
    login_profile: Part<Option<LoginProfileRecord>>,
    mfa_devices: Part<Vec<MfaDeviceRecord>>,
    credentials: UserCredentials,
    instance_profiles: Part<Vec<InstanceProfileRecord>>,
    tags: Part<Vec<TagRecord>>,
    session_cutoff: Part<Option<String>>,
}

/// A user's credentials besides access keys and password.
struct UserCredentials {
    signing_certificates: Part<Vec<SigningCertificateRecord>>,
    ssh_public_keys: Part<Vec<SshPublicKeyRecord>>,
    service_specific_credentials: Part<Vec<ServiceCredentialRecord>>,
}

impl UserCredentials {
    fn none() -> Self {
        Self {
            signing_certificates: Part::Read(Vec::new()),
            ssh_public_keys: Part::Read(Vec::new()),
            service_specific_credentials: Part::Read(Vec::new()),
        }
    }
}

enum Record {
    User(UserRecord),
    Role(RoleRecord),
}

fn date(d: Option<&DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(Format::DateTime).ok())
}

/// Why a part of the snapshot was not read. Its `Display` is what the evidence records of it:
/// IAM's error as [`describe`](crate::error::describe) words it, never the operation's name.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// IAM refused or did not answer.
    #[error("{}", .0.detail)]
    Aws(#[from] AwsError),
    /// `GetUser` answered without the user.
    #[error("GetUser returned no user")]
    NoUser,
    /// `GetRole` answered without the role.
    #[error("GetRole returned no role")]
    NoRole,
    /// `GetPolicy` answered without the policy's default version.
    #[error("GetPolicy gave no default version for {arn}")]
    NoDefaultVersion {
        /// The policy.
        arn: String,
    },
    /// `GetPolicyVersion` answered without the version's document.
    #[error("GetPolicyVersion gave no document for {arn} {version_id}")]
    NoDocument {
        /// The policy.
        arn: String,
        /// Its default version.
        version_id: String,
    },
    /// A policy document that could not be read.
    #[error(transparent)]
    Document(#[from] PolicyDocumentError),
}

impl ReadError {
    /// The SDK's error of `operation`.
    fn iam<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: HttpStatus + std::fmt::Debug + Send + Sync + 'static,
    {
        Self::Aws(AwsError::from_sdk(operation, err))
    }
}

/// A policy document as IAM gives it that is not one.
#[derive(Debug, thiserror::Error)]
pub enum PolicyDocumentError {
    /// URL-decoded, it is not UTF-8.
    #[error("policy document is not UTF-8: {0}")]
    NotUtf8(#[source] std::str::Utf8Error),
    /// URL-decoded, it is not JSON.
    #[error("policy document is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
}

/// `Ok(None)` for IAM's NoSuchEntity: the thing is simply not there.
pub(crate) fn absent_is_none<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<Option<T>, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HttpStatus + std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) => match AwsError::from_sdk(operation, e) {
            e if e.is("NoSuchEntity") => Ok(None),
            e => Err(e),
        },
    }
}

/// Paginated items of `operation` into a vector, or the first error.
fn collect<T, E, R>(
    operation: &'static str,
    items: Vec<Result<T, SdkError<E, R>>>,
) -> Result<Vec<T>, ReadError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HttpStatus + std::fmt::Debug + Send + Sync + 'static,
{
    items
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ReadError::iam(operation, e))
}

fn cutoff(document: Result<Option<String>, ReadError>) -> Part<Option<String>> {
    let cutoff = document.and_then(|doc| match doc {
        None => Ok(None),
        Some(doc) => Ok(plan::cutoff_of(&decode_policy(&doc)?)),
    });
    Part::from_result(cutoff)
}

/// A user's access keys as soon as `ListAccessKeys` answers (before the rest of the first read):
/// the key deactivations start from it without waiting for any other read.
pub type KeysListed =
    tokio::sync::oneshot::Sender<Result<Vec<KeyState>, tourniquet_core::error::Unread>>;

/// Which snapshots may read at once: a principal's reads (all but its key listing, which the
/// containment waits on) start when it is admitted, and it stays admitted until its snapshot is
/// complete. Without a gate, every principal reads at once.
#[derive(Clone, Copy)]
pub struct Gate<'a> {
    /// The investigations allowed at once.
    pub slots: Option<&'a tokio::sync::Semaphore>,
    /// Past this, a principal is admitted without a slot (its details will not be read anyway).
    pub stop_reading: Option<tokio::time::Instant>,
}

/// A principal's place among the investigations, held until its snapshot is complete.
pub type Admitted<'a> = Option<tokio::sync::SemaphorePermit<'a>>;

impl<'a> Gate<'a> {
    /// No gate: read at once.
    pub fn open() -> Self {
        Self {
            slots: None,
            stop_reading: None,
        }
    }

    async fn admit(self) -> Admitted<'a> {
        let slots = self.slots?;
        tokio::select! {
            permit = slots.acquire() => permit.ok(),
            () = until(self.stop_reading) => None,
        }
    }
}

/// Reads the principal's lists, all at once: one wave. A user's key listing goes out at once and
/// to `keys_listed` the moment it answers; the other lists wait to be admitted through `gate`.
pub async fn read<'a>(
    iam: &Client,
    principal: &Principal,
    now: String,
    keys_listed: Option<KeysListed>,
    gate: Gate<'a>,
) -> (FirstRead, Admitted<'a>) {
    match principal.kind {
        PrincipalKind::Role => {
            let admitted = gate.admit().await;
            (Box::pin(read_role(iam, principal, now)).await, admitted)
        }
        _ => read_user(iam, principal, now, keys_listed, gate).await,
    }
}

/// An access key as listed, before its last use is read.
#[derive(Clone)]
struct KeyRow {
    id: String,
    /// `Active` or `Inactive`, as read.
    status: String,
    created: Option<String>,
}

/// The key rows of a listing as the planner sees them.
fn key_states(rows: &[KeyRow]) -> Vec<KeyState> {
    rows.iter()
        .map(|row| KeyState {
            id: row.id.clone(),
            active: row.status == "Active",
        })
        .collect()
}

/// A user's first read, as [`read`] describes it.
async fn read_user<'a>(
    iam: &Client,
    principal: &Principal,
    now: String,
    keys_listed: Option<KeysListed>,
    gate: Gate<'a>,
) -> (FirstRead, Admitted<'a>) {
    let keys = list_access_keys(iam, &principal.name, keys_listed);
    let rest = async {
        let admitted = gate.admit().await;
        // Built only once admitted, and boxed: a principal waiting for its turn holds no
        // request futures.
        let lists = Box::pin(read_user_lists(iam, principal)).await;
        (lists, admitted)
    };
    let (keys, (lists, admitted)) = tokio::join!(keys, rest);
    let first = FirstRead {
        access_keys: Part::from_result(keys),
        groups: lists.groups,
        login_profile: lists.login_profile,
        mfa_devices: lists.mfa_devices,
        credentials: lists.credentials,
        ..FirstRead::common(now, principal, lists.user.map(Record::User), lists.common)
    };
    (first, admitted)
}

/// A user's access keys, also sent to `keys_listed` the moment IAM answers.
async fn list_access_keys(
    iam: &Client,
    user_name: &str,
    keys_listed: Option<KeysListed>,
) -> Result<Vec<KeyRow>, ReadError> {
    let listed = iam
        .list_access_keys()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let rows = collect("ListAccessKeys", listed).map(|keys| {
        keys.into_iter()
            .filter_map(|k| {
                Some(KeyRow {
                    status: k.status.map(|s| s.as_str().to_owned())?,
                    id: k.access_key_id?,
                    created: date(k.create_date.as_ref()),
                })
            })
            .collect::<Vec<_>>()
    });
    if let Some(listener) = keys_listed {
        // Nobody listening any more is no error: the keys are in the first read too.
        let _ = listener.send(
            rows.as_ref()
                .map(|r| key_states(r))
                .map_err(|e| e.to_string().into()),
        );
    }
    rows
}

/// What a user has besides access keys, as read in one wave.
struct UserLists {
    user: Result<UserRecord, ReadError>,
    common: PolicyLists,
    groups: Part<Vec<GroupRecord>>,
    login_profile: Part<Option<LoginProfileRecord>>,
    mfa_devices: Part<Vec<MfaDeviceRecord>>,
    credentials: UserCredentials,
}

/// Reads a user's lists besides access keys, all at once: one wave.
async fn read_user_lists(iam: &Client, principal: &Principal) -> UserLists {
    let user_name = principal.name.as_str();
    let (
        user,
        inline,
        attached,
        groups,
        login_profile,
        mfa_devices,
        tags,
        session_cutoff,
        credentials,
    ) = tokio::join!(
        read_user_record(iam, user_name),
        list_inline_policies(iam, principal),
        list_attached_policies(iam, principal),
        list_groups(iam, user_name),
        read_login_profile(iam, user_name),
        list_mfa_devices(iam, user_name),
        list_tags(iam, principal),
        read_session_cutoff(iam, principal),
        read_credentials(iam, user_name)
    );
    UserLists {
        user,
        common: PolicyLists {
            inline_policy_names: inline,
            attached_policies: attached,
            tags,
            session_cutoff,
        },
        groups,
        login_profile,
        mfa_devices,
        credentials,
    }
}

/// The user's record: ARN, path, id, password last use, boundary.
async fn read_user_record(iam: &Client, user_name: &str) -> Result<UserRecord, ReadError> {
    match iam.get_user().user_name(user_name).send().await {
        Ok(out) => out
            .user
            .map(|u| UserRecord {
                arn: u.arn,
                path: u.path,
                user_id: u.user_id,
                create_date: date(Some(&u.create_date)),
                password_last_used: date(u.password_last_used.as_ref()),
                permissions_boundary: u
                    .permissions_boundary
                    .and_then(|b| b.permissions_boundary_arn),
            })
            .ok_or(ReadError::NoUser),
        Err(e) => Err(ReadError::iam("GetUser", e)),
    }
}

/// The groups the user is in, their policies not read yet.
async fn list_groups(iam: &Client, user_name: &str) -> Part<Vec<GroupRecord>> {
    let listed = iam
        .list_groups_for_user()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    Part::from_result(collect("ListGroupsForUser", listed)).map(|gs| {
        gs.into_iter()
            .map(|g| GroupRecord {
                name: g.group_name,
                arn: g.arn,
                inline_policies: None,
                attached_policies: None,
            })
            .collect()
    })
}

/// The user's console password; `None` when there is none.
async fn read_login_profile(iam: &Client, user_name: &str) -> Part<Option<LoginProfileRecord>> {
    let profile = match iam.get_login_profile().user_name(user_name).send().await {
        Ok(out) => Ok(out.login_profile.map(|p| LoginProfileRecord {
            create_date: date(Some(&p.create_date)),
            password_reset_required: p.password_reset_required,
        })),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), GetLoginProfileError::NoSuchEntityException(_)) =>
        {
            Ok(None)
        }
        Err(e) => Err(ReadError::iam("GetLoginProfile", e)),
    };
    Part::from_result(profile)
}

/// The user's MFA devices.
async fn list_mfa_devices(iam: &Client, user_name: &str) -> Part<Vec<MfaDeviceRecord>> {
    let listed = iam
        .list_mfa_devices()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    Part::from_result(collect("ListMFADevices", listed)).map(|ds| {
        ds.into_iter()
            .map(|d| MfaDeviceRecord {
                serial_number: d.serial_number,
                enable_date: date(Some(&d.enable_date)),
            })
            .collect()
    })
}

/// A role's first read, all at once: one wave (the caller has admitted it).
async fn read_role(iam: &Client, principal: &Principal, now: String) -> FirstRead {
    let role_name = principal.name.as_str();
    let (role, inline, attached, profiles, tags, session_cutoff) = tokio::join!(
        read_role_record(iam, role_name),
        list_inline_policies(iam, principal),
        list_attached_policies(iam, principal),
        list_instance_profiles(iam, role_name),
        list_tags(iam, principal),
        read_session_cutoff(iam, principal)
    );
    let common = PolicyLists {
        inline_policy_names: inline,
        attached_policies: attached,
        tags,
        session_cutoff,
    };
    FirstRead {
        instance_profiles: profiles,
        ..FirstRead::common(now, principal, role.map(Record::Role), common)
    }
}

/// The role's record: ARN, path, id, trust policy, session length, boundary, last use.
async fn read_role_record(iam: &Client, role_name: &str) -> Result<RoleRecord, ReadError> {
    match iam.get_role().role_name(role_name).send().await {
        Ok(out) => out
            .role
            .map(|r| RoleRecord {
                arn: r.arn,
                path: r.path,
                role_id: r.role_id,
                create_date: date(Some(&r.create_date)),
                description: r.description,
                trust_policy: r
                    .assume_role_policy_document
                    .and_then(|d| decode_policy(&d).ok()),
                max_session_duration: r.max_session_duration,
                permissions_boundary: r
                    .permissions_boundary
                    .and_then(|b| b.permissions_boundary_arn),
                last_used: r.role_last_used.map(|u| LastUsed {
                    date: date(u.last_used_date.as_ref()),
                    service_name: None,
                    region: u.region,
                }),
            })
            .ok_or(ReadError::NoRole),
        Err(e) => Err(ReadError::iam("GetRole", e)),
    }
}

/// The instance profiles that hand the role to EC2 instances.
async fn list_instance_profiles(iam: &Client, role_name: &str) -> Part<Vec<InstanceProfileRecord>> {
    let listed = iam
        .list_instance_profiles_for_role()
        .role_name(role_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    Part::from_result(collect("ListInstanceProfilesForRole", listed)).map(|ps| {
        ps.into_iter()
            .map(|p| InstanceProfileRecord {
                name: p.instance_profile_name,
                arn: p.arn,
            })
            .collect()
    })
}

/// What users and roles both have, each read by the same function for either kind.
struct PolicyLists {
    inline_policy_names: Part<Vec<String>>,
    attached_policies: Part<Vec<AttachedPolicyRecord>>,
    tags: Part<Vec<TagRecord>>,
    session_cutoff: Part<Option<String>>,
}

impl FirstRead {
    /// A first read of what users and roles both have; the lists of one kind only are empty, for
    /// the kind that has them to fill in.
    fn common(
        now: String,
        principal: &Principal,
        record: Result<Record, ReadError>,
        lists: PolicyLists,
    ) -> Self {
        Self {
            taken_at: now,
            principal: principal.clone(),
            record: Part::from_result(record),
            access_keys: Part::Read(Vec::new()),
            inline_policy_names: lists.inline_policy_names,
            attached_policies: lists.attached_policies,
            groups: Part::Read(Vec::new()),
            login_profile: Part::Read(None),
            mfa_devices: Part::Read(Vec::new()),
            credentials: UserCredentials::none(),
            instance_profiles: Part::Read(Vec::new()),
            tags: lists.tags,
            session_cutoff: lists.session_cutoff,
        }
    }
}

/// A user's or a role's inline policies, by name.
async fn list_inline_policies(iam: &Client, principal: &Principal) -> Part<Vec<String>> {
    let name = principal.name.as_str();
    let listed = match principal.kind {
        PrincipalKind::Role => collect(
            "ListRolePolicies",
            iam.list_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>()
                .await,
        ),
        _ => collect(
            "ListUserPolicies",
            iam.list_user_policies()
                .user_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>()
                .await,
        ),
    };
    Part::from_result(listed)
}

/// The managed policies attached to a user or a role, their versions not read yet.
async fn list_attached_policies(
    iam: &Client,
    principal: &Principal,
) -> Part<Vec<AttachedPolicyRecord>> {
    let name = principal.name.as_str();
    let listed = match principal.kind {
        PrincipalKind::Role => collect(
            "ListAttachedRolePolicies",
            iam.list_attached_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>()
                .await,
        ),
        _ => collect(
            "ListAttachedUserPolicies",
            iam.list_attached_user_policies()
                .user_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>()
                .await,
        ),
    };
    Part::from_result(listed).map(attached_records)
}

/// A user's or a role's tags, Tourniquet's own included (the snapshot leaves them out later).
async fn list_tags(iam: &Client, principal: &Principal) -> Part<Vec<TagRecord>> {
    let name = principal.name.as_str();
    let listed = match principal.kind {
        PrincipalKind::Role => collect(
            "ListRoleTags",
            iam.list_role_tags()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>()
                .await,
        ),
        _ => collect(
            "ListUserTags",
            iam.list_user_tags()
                .user_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<Vec<_>>()
                .await,
        ),
    };
    Part::from_result(listed).map(tag_records)
}

/// The cutoff of an earlier run's session revocation, from its inline policy; `None` without one.
async fn read_session_cutoff(iam: &Client, principal: &Principal) -> Part<Option<String>> {
    let document = match inline_policy_document(iam, principal, plan::REVOKE_POLICY_NAME).await {
        Ok(document) => Ok(Some(document)),
        Err(e) if e.is("NoSuchEntity") => Ok(None),
        Err(e) => Err(e.into()),
    };
    cutoff(document)
}

/// Signing certificates, SSH public keys and service-specific credentials, read at once.
async fn read_credentials(iam: &Client, user_name: &str) -> UserCredentials {
    let certificates = iam
        .list_signing_certificates()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let ssh = iam
        .list_ssh_public_keys()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let service = iam
        .list_service_specific_credentials()
        .user_name(user_name)
        .send();
    let (certificates, ssh, service) = tokio::join!(certificates, ssh, service);
    UserCredentials {
        signing_certificates: Part::from_result(collect("ListSigningCertificates", certificates))
            .map(|cs| {
                cs.into_iter()
                    .map(|c| SigningCertificateRecord {
                        certificate_id: c.certificate_id,
                        status: c.status.as_str().to_owned(),
                        upload_date: date(c.upload_date.as_ref()),
                    })
                    .collect()
            }),
        ssh_public_keys: Part::from_result(collect("ListSSHPublicKeys", ssh)).map(|ks| {
            ks.into_iter()
                .map(|k| SshPublicKeyRecord {
                    ssh_public_key_id: k.ssh_public_key_id,
                    status: k.status.as_str().to_owned(),
                    upload_date: date(Some(&k.upload_date)),
                })
                .collect()
        }),
        service_specific_credentials: Part::from_result(
            service.map_err(|e| ReadError::iam("ListServiceSpecificCredentials", e)),
        )
        .map(|out| {
            out.service_specific_credentials
                .unwrap_or_default()
                .into_iter()
                .map(|c| ServiceCredentialRecord {
                    service_specific_credential_id: c.service_specific_credential_id,
                    service_name: c.service_name,
                    service_user_name: Some(c.service_user_name).filter(|n| !n.is_empty()),
                    status: c.status.as_str().to_owned(),
                    create_date: date(Some(&c.create_date)),
                })
                .collect()
        }),
    }
}

fn attached_records(
    policies: Vec<aws_sdk_iam::types::AttachedPolicy>,
) -> Vec<AttachedPolicyRecord> {
    policies
        .into_iter()
        .map(|p| AttachedPolicyRecord {
            name: p.policy_name.unwrap_or_default(),
            arn: p.policy_arn.unwrap_or_default(),
            default_version: None,
        })
        .collect()
}

fn tag_records(tags: Vec<aws_sdk_iam::types::Tag>) -> Vec<TagRecord> {
    tags.into_iter()
        .map(|t| TagRecord {
            key: t.key,
            value: t.value,
        })
        .collect()
}

impl<T> Part<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Part<U> {
        match self {
            Part::Read(value) => Part::Read(f(value)),
            Part::Unavailable { unavailable } => Part::Unavailable { unavailable },
        }
    }
}

impl UserCredentials {
    /// Each kind's credentials as the planner needs them: id and whether active.
    fn states(&self) -> Vec<CredentialsState> {
        let state = |id: &str, status: &str| KeyState {
            id: id.to_owned(),
            active: status == "Active",
        };
        vec![
            CredentialsState {
                kind: CredentialKind::SigningCertificate,
                listed: self.signing_certificates.as_result().map(|cs| {
                    cs.iter()
                        .map(|c| state(&c.certificate_id, &c.status))
                        .collect()
                }),
            },
            CredentialsState {
                kind: CredentialKind::SshPublicKey,
                listed: self.ssh_public_keys.as_result().map(|ks| {
                    ks.iter()
                        .map(|k| state(&k.ssh_public_key_id, &k.status))
                        .collect()
                }),
            },
            CredentialsState {
                kind: CredentialKind::ServiceSpecificCredential,
                listed: self.service_specific_credentials.as_result().map(|cs| {
                    cs.iter()
                        .map(|c| state(&c.service_specific_credential_id, &c.status))
                        .collect()
                }),
            },
        ]
    }
}

impl FirstRead {
    /// What the planner needs, as read.
    pub fn state(&self) -> PrincipalState {
        PrincipalState {
            access_keys: self.access_keys.as_result().map(|keys| key_states(keys)),
            inline_policy_names: self.inline_policy_names.as_result().cloned(),
            attached_policy_arns: self
                .attached_policies
                .as_result()
                .map(|ps| ps.iter().map(|p| p.arn.clone()).collect()),
            group_names: self
                .groups
                .as_result()
                .map(|gs| gs.iter().map(|g| g.name.clone()).collect()),
            tags: self.tags.as_result().map(|ts| {
                ts.iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect()
            }),
            session_cutoff: self.session_cutoff.as_result().cloned(),
            credentials: self.credentials.states(),
        }
    }

    /// The principal's ARN with its path, when IAM answered.
    pub fn arn(&self) -> Option<&str> {
        match self.record.as_result().ok()? {
            Record::User(u) => Some(&u.arn),
            Record::Role(r) => Some(&r.arn),
        }
    }
}

/// Reads what the lists name (policy documents, keys' last use), at most [`READ_CONCURRENCY`] at
/// once: the second wave. `concurrent_writes` are the changes written alongside the first wave.
///
/// Returns the snapshot, how many sequential waves of calls it took (one for the details, two
/// where a managed policy's default version had to be looked up before it was read, three for a
/// group's managed policies: listed, looked up, read), and whether `stop_reading` came first: then
/// every detail not read by then says so, and the lists stay as read.
pub async fn complete(
    iam: &Client,
    first: FirstRead,
    concurrent_writes: Vec<String>,
    policies: &Policies,
    stop_reading: Option<tokio::time::Instant>,
) -> (Snapshot, u32, bool) {
    let named = Named::of(&first);
    // Made before the reads start: once the deadline wins, the rows they took are gone.
    let not_read = named.not_read();
    let (details, cut_short) = tokio::select! {
        details = Details::read(iam, &first.principal, named, policies) => (details, false),
        () = until(stop_reading) => (not_read, true),
    };
    let depth = details.depth();
    (
        assemble(first, details, concurrent_writes),
        depth,
        cut_short,
    )
}

/// What stands in for a detail the deadline came before.
fn unread<T>() -> Part<T> {
    Part::Unavailable {
        unavailable: "not read: the investigation stopped before the function's deadline".into(),
    }
}

/// Returns at `at`; without one, never: a `select!` branch that lets the other one finish.
async fn until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What the first read's lists name for the second wave, Tourniquet's own left out: nothing of a
/// list IAM would not give.
struct Named {
    inline_policies: Vec<String>,
    access_keys: Vec<KeyRow>,
    attached_policies: Vec<AttachedPolicyRecord>,
    groups: Vec<GroupRecord>,
}

impl Named {
    /// The rows of `first`'s lists that the second wave reads the details of.
    fn of(first: &FirstRead) -> Self {
        Self {
            inline_policies: match first.inline_policy_names.as_result() {
                Ok(names) => names
                    .iter()
                    .filter(|n| !plan::is_own_inline_policy(n))
                    .cloned()
                    .collect(),
                Err(_) => Vec::new(),
            },
            access_keys: first.access_keys.as_result().cloned().unwrap_or_default(),
            // Every attached policy's document is read, Tourniquet's names too: a name proves
            // nothing, and a look-alike under `/tourniquet/` is evidence of its own.
            attached_policies: first
                .attached_policies
                .as_result()
                .cloned()
                .unwrap_or_default(),
            groups: first
                .groups
                .as_result()
                .map(|gs| {
                    gs.iter()
                        .filter(|g| !plan::is_own_group(&g.arn))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Every detail as [`unread`]: the second wave's answer when the deadline comes first.
    fn not_read(&self) -> Details {
        Details {
            documents: self
                .inline_policies
                .iter()
                .map(|n| InlinePolicyRecord {
                    name: n.clone(),
                    document: unread(),
                })
                .collect(),
            keys: self
                .access_keys
                .iter()
                .map(|row| AccessKeyRecord {
                    access_key_id: row.id.clone(),
                    status: row.status.clone(),
                    create_date: row.created.clone(),
                    last_used: unread(),
                })
                .collect(),
            managed: self
                .attached_policies
                .iter()
                .cloned()
                .map(|mut p| {
                    p.default_version = Some(unread());
                    p
                })
                .collect(),
            groups: self
                .groups
                .iter()
                .cloned()
                .map(|mut g| {
                    g.inline_policies = Some(unread());
                    g.attached_policies = Some(unread());
                    g
                })
                .collect(),
        }
    }
}

/// The second wave's answers: what [`Named`] named, with its details.
struct Details {
    documents: Vec<InlinePolicyRecord>,
    keys: Vec<AccessKeyRecord>,
    managed: Vec<AttachedPolicyRecord>,
    groups: Vec<GroupRecord>,
}

impl Details {
    /// Reads the four kinds of detail at once, each at most [`READ_CONCURRENCY`] at once.
    async fn read(iam: &Client, principal: &Principal, named: Named, policies: &Policies) -> Self {
        let groups = futures::stream::iter(
            named
                .groups
                .into_iter()
                .map(|g| group_details(iam, g, policies)),
        )
        .buffered(READ_CONCURRENCY)
        .collect::<Vec<_>>();
        let (documents, keys, managed, groups) = tokio::join!(
            inline_documents(iam, principal, named.inline_policies),
            keys_last_used(iam, named.access_keys),
            with_default_versions(iam, named.attached_policies, policies),
            groups
        );
        Self {
            documents,
            keys,
            managed,
            groups,
        }
    }

    /// The sequential waves of calls these took, as [`complete`] counts them.
    fn depth(&self) -> u32 {
        [
            u32::from(!self.documents.is_empty() || !self.keys.is_empty()),
            if self.managed.is_empty() { 0 } else { 2 },
            self.groups.iter().map(group_depth).max().unwrap_or(0),
        ]
        .into_iter()
        .max()
        .unwrap_or(0)
    }
}

/// The principal's inline policies named `names`, each with its document or why it has none.
async fn inline_documents(
    iam: &Client,
    principal: &Principal,
    names: Vec<String>,
) -> Vec<InlinePolicyRecord> {
    futures::stream::iter(names.into_iter().map(|policy| async move {
        let document = inline_policy_document(iam, principal, &policy)
            .await
            .map_err(ReadError::from);
        InlinePolicyRecord {
            name: policy,
            document: Part::from_result(document.and_then(|d| Ok(decode_policy(&d)?))),
        }
    }))
    .buffered(READ_CONCURRENCY)
    .collect()
    .await
}

/// The listed keys with their last use; a key whose last use IAM would not give says why.
async fn keys_last_used(iam: &Client, rows: Vec<KeyRow>) -> Vec<AccessKeyRecord> {
    futures::stream::iter(rows.into_iter().map(|row| async move {
        let last_used = iam
            .get_access_key_last_used()
            .access_key_id(&row.id)
            .send()
            .await
            .map_err(|e| ReadError::iam("GetAccessKeyLastUsed", e))
            .map(|out| {
                out.access_key_last_used.map(|u| LastUsed {
                    date: date(u.last_used_date.as_ref()),
                    service_name: Some(u.service_name).filter(|s| s != "N/A"),
                    region: Some(u.region).filter(|s| s != "N/A"),
                })
            });
        AccessKeyRecord {
            access_key_id: row.id,
            status: row.status,
            create_date: row.created,
            last_used: Part::from_result(last_used),
        }
    }))
    .buffered(READ_CONCURRENCY)
    .collect()
    .await
}

/// The managed policies with their default versions, each read once per invocation through
/// `policies` (two calls in sequence the first time).
async fn with_default_versions(
    iam: &Client,
    rows: Vec<AttachedPolicyRecord>,
    policies: &Policies,
) -> Vec<AttachedPolicyRecord> {
    futures::stream::iter(rows.into_iter().map(|mut policy| async move {
        policy.default_version = Some(Part::from_result(
            policies.default_version(iam, &policy.arn).await,
        ));
        policy
    }))
    .buffered(READ_CONCURRENCY)
    .collect()
    .await
}

/// The snapshot of `first`, its lists' rows replaced by their `details` (Tourniquet's own left
/// out of them and of the tags).
fn assemble(first: FirstRead, details: Details, concurrent_writes: Vec<String>) -> Snapshot {
    let tourniquet_own = own_parts(&first);
    let name = first.principal.name.clone();
    let attached = first.attached_policies.map(|_| details.managed);
    let inline = first.inline_policy_names.map(|_| details.documents);
    let tags = first.tags.map(|ts| {
        ts.into_iter()
            .filter(|t| !plan::OWN_TAGS.contains(&t.key.as_str()))
            .collect()
    });
    match first.principal.kind {
        PrincipalKind::Role => Snapshot::Role(RoleSnapshot {
            kind: "role",
            taken_at: first.taken_at,
            role_name: name,
            concurrent_writes,
            tourniquet_own,
            role: first.record.into_role(),
            inline_policies: inline,
            attached_policies: attached,
            instance_profiles: first.instance_profiles,
            tags,
        }),
        _ => Snapshot::User(UserSnapshot {
            kind: "user",
            taken_at: first.taken_at,
            user_name: name,
            concurrent_writes,
            tourniquet_own,
            user: first.record.into_user(),
            access_keys: first.access_keys.map(|_| details.keys),
            inline_policies: inline,
            attached_policies: attached,
            groups: first.groups.map(|_| details.groups),
            login_profile: first.login_profile,
            mfa_devices: first.mfa_devices,
            signing_certificates: first.credentials.signing_certificates,
            ssh_public_keys: first.credentials.ssh_public_keys,
            service_specific_credentials: first.credentials.service_specific_credentials,
            tags,
        }),
    }
}

impl Part<Record> {
    /// The role's record; a user's record here is an error, not evidence.
    fn into_role(self) -> Part<RoleRecord> {
        match self {
            Part::Read(Record::Role(r)) => Part::Read(r),
            Part::Read(Record::User(_)) => Part::Unavailable {
                unavailable: "not a role".into(),
            },
            Part::Unavailable { unavailable } => Part::Unavailable { unavailable },
        }
    }

    /// The user's record; a role's record here is an error, not evidence.
    fn into_user(self) -> Part<UserRecord> {
        match self {
            Part::Read(Record::User(u)) => Part::Read(u),
            Part::Read(Record::Role(_)) => Part::Unavailable {
                unavailable: "not a user".into(),
            },
            Part::Unavailable { unavailable } => Part::Unavailable { unavailable },
        }
    }
}

/// One of a user's or a role's own inline policies: its document as IAM gives it, URL-encoded;
/// IAM's NoSuchEntity when the policy, or its principal, is not there.
async fn inline_policy_document(
    iam: &Client,
    principal: &Principal,
    policy: &str,
) -> Result<String, AwsError> {
    let name = principal.name.as_str();
    match principal.kind {
        PrincipalKind::Role => iam
            .get_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map(|o| o.policy_document)
            .map_err(|e| AwsError::from_sdk("GetRolePolicy", e)),
        _ => iam
            .get_user_policy()
            .user_name(name)
            .policy_name(policy)
            .send()
            .await
            .map(|o| o.policy_document)
            .map_err(|e| AwsError::from_sdk("GetUserPolicy", e)),
    }
}

/// The parts of the first read that are Tourniquet's own, by their exact names.
fn own_parts(first: &FirstRead) -> Vec<String> {
    let principal = &first.principal;
    let inline = first
        .inline_policy_names
        .as_result()
        .ok()
        .into_iter()
        .flatten();
    let managed = first
        .attached_policies
        .as_result()
        .ok()
        .into_iter()
        .flatten();
    let groups = first.groups.as_result().ok().into_iter().flatten();
    let tags = first.tags.as_result().ok().into_iter().flatten();
    inline
        .filter(|n| plan::is_own_inline_policy(n))
        .cloned()
        .chain(
            managed
                .filter(|p| plan::is_own_managed_policy(&p.arn, principal))
                .map(|p| p.arn.clone()),
        )
        .chain(
            groups
                .filter(|g| plan::is_own_group(&g.arn))
                .map(|g| g.arn.clone()),
        )
        .chain(
            tags.filter(|t| plan::OWN_TAGS.contains(&t.key.as_str()))
                .map(|t| format!("tag {}", t.key)),
        )
        .collect()
}

/// A group's inline policies with documents and managed policies with their default version.
async fn group_details(iam: &Client, mut group: GroupRecord, policies: &Policies) -> GroupRecord {
    let name = group.name.clone();
    let inline = iam
        .list_group_policies()
        .group_name(&name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let attached = iam
        .list_attached_group_policies()
        .group_name(&name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let (inline, attached) = tokio::join!(inline, attached);
    let inline = async {
        let names = collect("ListGroupPolicies", inline)?;
        let documents = futures::stream::iter(names.into_iter().map(|policy| {
            let group = name.as_str();
            async move {
                let document = iam
                    .get_group_policy()
                    .group_name(group)
                    .policy_name(&policy)
                    .send()
                    .await
                    .map_err(|e| ReadError::iam("GetGroupPolicy", e))
                    .and_then(|o| Ok(decode_policy(&o.policy_document)?));
                InlinePolicyRecord {
                    name: policy,
                    document: Part::from_result(document),
                }
            }
        }))
        .buffered(READ_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        Ok::<_, ReadError>(documents)
    };
    let attached = async {
        let rows = attached_records(collect("ListAttachedGroupPolicies", attached)?);
        Ok::<_, ReadError>(with_default_versions(iam, rows, policies).await)
    };
    let (inline, attached) = tokio::join!(inline, attached);
    group.inline_policies = Some(Part::from_result(inline));
    group.attached_policies = Some(Part::from_result(attached));
    group
}

/// Sequential calls a group's details took: the lists, then documents, then managed versions.
fn group_depth(group: &GroupRecord) -> u32 {
    fn has<T>(part: &Option<Part<Vec<T>>>) -> bool {
        matches!(part, Some(Part::Read(items)) if !items.is_empty())
    }
    if has(&group.attached_policies) {
        3
    } else if has(&group.inline_policies) {
        2
    } else {
        1
    }
}

/// The managed policies' default versions read in one invocation, each read once and shared by
/// every snapshot that names it (a hundred users with `ReadOnlyAccess` hold one copy of it).
#[derive(Debug, Default)]
pub struct Policies {
    read: std::sync::Mutex<HashMap<String, SharedVersion>>,
}

type SharedVersion = Arc<tokio::sync::OnceCell<Result<Arc<PolicyVersionRecord>, Arc<ReadError>>>>;

impl Policies {
    /// The default version of `arn`: read by the first snapshot that asks, shared with the rest.
    pub async fn default_version(
        &self,
        iam: &Client,
        arn: &str,
    ) -> Result<Arc<PolicyVersionRecord>, Arc<ReadError>> {
        let cell = self
            .read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(arn.to_owned())
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            default_version(iam, arn)
                .await
                .map(Arc::new)
                .map_err(Arc::new)
        })
        .await
        .clone()
    }
}

/// A managed policy's default version: which one it is, then its document (two calls in sequence).
async fn default_version(iam: &Client, arn: &str) -> Result<PolicyVersionRecord, ReadError> {
    let policy = iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| ReadError::iam("GetPolicy", e))?;
    let version_id = policy
        .policy
        .and_then(|p| p.default_version_id)
        .ok_or_else(|| ReadError::NoDefaultVersion {
            arn: arn.to_owned(),
        })?;
    let version = iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&version_id)
        .send()
        .await
        .map_err(|e| ReadError::iam("GetPolicyVersion", e))?;
    let Some(document) = version.policy_version.and_then(|v| v.document) else {
        return Err(ReadError::NoDocument {
            arn: arn.to_owned(),
            version_id,
        });
    };
    Ok(PolicyVersionRecord {
        version_id,
        document: decode_policy(&document)?,
    })
}

/// IAM returns policy documents URL-encoded (RFC 3986); the evidence keeps them as JSON.
pub fn decode_policy(encoded: &str) -> Result<serde_json::Value, PolicyDocumentError> {
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .map_err(PolicyDocumentError::NotUtf8)?;
    serde_json::from_str(&decoded).map_err(PolicyDocumentError::NotJson)
}
