//! The forensic snapshot: a user's IAM configuration as read before this run's changes, in two
//! waves of concurrent reads (lists first, then the details each list names).

use crate::error::describe;
use crate::plan::{self, KeyState, UserState};
use aws_sdk_iam::Client;
use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::operation::get_login_profile::GetLoginProfileError;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use futures::StreamExt;
use serde::Serialize;

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
    fn from_result<E>(result: Result<T, E>, describe: impl Fn(&E) -> String) -> Self {
        match result {
            Ok(value) => Part::Read(value),
            Err(err) => Part::Unavailable {
                unavailable: describe(&err),
            },
        }
    }

    fn as_result(&self) -> Result<&T, String> {
        match self {
            Part::Read(value) => Ok(value),
            Part::Unavailable { unavailable } => Err(unavailable.clone()),
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
}

/// A group the user belongs to.
#[derive(Clone, Debug, Serialize)]
pub struct GroupRecord {
    /// Its name.
    pub name: String,
    /// Its ARN.
    pub arn: String,
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

/// A user's IAM configuration, as evidence.
#[derive(Clone, Debug, Serialize)]
pub struct UserSnapshot {
    /// When the first read went out (UTC, RFC 3339).
    pub taken_at: String,
    /// The user's name.
    pub user_name: String,
    /// Changes of this run that were written in the same wave as these reads, so that their state
    /// as read may already include them (the deny policy itself is always left out).
    pub concurrent_writes: Vec<String>,
    /// The user.
    pub user: Part<UserRecord>,
    /// Access keys with status and last use.
    pub access_keys: Part<Vec<AccessKeyRecord>>,
    /// Inline policies with documents (Tourniquet's own left out).
    pub inline_policies: Part<Vec<InlinePolicyRecord>>,
    /// Attached managed policies.
    pub attached_policies: Part<Vec<AttachedPolicyRecord>>,
    /// Groups.
    pub groups: Part<Vec<GroupRecord>>,
    /// Console password (`null`: none).
    pub login_profile: Part<Option<LoginProfileRecord>>,
    /// MFA devices.
    pub mfa_devices: Part<Vec<MfaDeviceRecord>>,
    /// Tags (Tourniquet's own left out).
    pub tags: Part<Vec<TagRecord>>,
}

impl UserSnapshot {
    /// The user's ARN with its path, once GetUser answered.
    pub fn arn(&self) -> Option<&str> {
        self.user.as_result().ok().map(|u| u.arn.as_str())
    }
}

/// The first wave of reads: the lists. Enough for the planner.
pub struct FirstRead {
    taken_at: String,
    user_name: String,
    user: Part<UserRecord>,
    access_keys: Part<Vec<(String, String, Option<String>)>>,
    inline_policy_names: Part<Vec<String>>,
    attached_policies: Part<Vec<AttachedPolicyRecord>>,
    groups: Part<Vec<GroupRecord>>,
    login_profile: Part<Option<LoginProfileRecord>>,
    mfa_devices: Part<Vec<MfaDeviceRecord>>,
    tags: Part<Vec<TagRecord>>,
}

fn date(d: Option<&DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(Format::DateTime).ok())
}

/// Reads the user's lists, all at once: one wave.
pub async fn read_user(iam: &Client, user_name: &str, now: String) -> FirstRead {
    let user = async {
        let out = iam.get_user().user_name(user_name).send().await?;
        Ok(out.user.map(|u| UserRecord {
            arn: u.arn,
            path: u.path,
            user_id: u.user_id,
            create_date: date(Some(&u.create_date)),
            password_last_used: date(u.password_last_used.as_ref()),
            permissions_boundary: u
                .permissions_boundary
                .and_then(|b| b.permissions_boundary_arn),
        }))
    };
    let keys = iam
        .list_access_keys()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let inline = iam
        .list_user_policies()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let attached = iam
        .list_attached_user_policies()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let groups = iam
        .list_groups_for_user()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let login = async {
        match iam.get_login_profile().user_name(user_name).send().await {
            Ok(out) => Ok(out.login_profile.map(|p| LoginProfileRecord {
                create_date: date(Some(&p.create_date)),
                password_reset_required: p.password_reset_required,
            })),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), GetLoginProfileError::NoSuchEntityException(_)) =>
            {
                Ok(None)
            }
            Err(e) => Err(describe(&e)),
        }
    };
    let mfa = iam
        .list_mfa_devices()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let tags = iam
        .list_user_tags()
        .user_name(user_name)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>();
    let (user, keys, inline, attached, groups, login, mfa, tags) =
        tokio::join!(user, keys, inline, attached, groups, login, mfa, tags);

    let user: Result<Option<UserRecord>, SdkError<_, _>> = user;
    FirstRead {
        taken_at: now,
        user_name: user_name.into(),
        user: match user {
            Ok(Some(u)) => Part::Read(u),
            Ok(None) => Part::Unavailable {
                unavailable: "GetUser returned no user".into(),
            },
            Err(e) => Part::Unavailable {
                unavailable: describe(&e),
            },
        },
        access_keys: Part::from_result(collect(keys), String::clone).map(|keys| {
            keys.into_iter()
                .filter_map(|k| {
                    let status = k.status.map(|s| s.as_str().to_owned())?;
                    Some((k.access_key_id?, status, date(k.create_date.as_ref())))
                })
                .collect()
        }),
        inline_policy_names: Part::from_result(collect(inline), String::clone),
        attached_policies: Part::from_result(collect(attached), String::clone).map(|ps| {
            ps.into_iter()
                .map(|p| AttachedPolicyRecord {
                    name: p.policy_name.unwrap_or_default(),
                    arn: p.policy_arn.unwrap_or_default(),
                })
                .collect()
        }),
        groups: Part::from_result(collect(groups), String::clone).map(|gs| {
            gs.into_iter()
                .map(|g| GroupRecord {
                    name: g.group_name,
                    arn: g.arn,
                })
                .collect()
        }),
        login_profile: Part::from_result(login, String::clone),
        mfa_devices: Part::from_result(collect(mfa), String::clone).map(|ds| {
            ds.into_iter()
                .map(|d| MfaDeviceRecord {
                    serial_number: d.serial_number,
                    enable_date: date(Some(&d.enable_date)),
                })
                .collect()
        }),
        tags: Part::from_result(collect(tags), String::clone).map(|ts| {
            ts.into_iter()
                .map(|t| TagRecord {
                    key: t.key,
                    value: t.value,
                })
                .collect()
        }),
    }
}

/// Paginated items into a vector, or the first error described.
fn collect<T, E, R>(items: Vec<Result<T, SdkError<E, R>>>) -> Result<Vec<T>, String>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    items
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| describe(&e))
}

impl<T> Part<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Part<U> {
        match self {
            Part::Read(value) => Part::Read(f(value)),
            Part::Unavailable { unavailable } => Part::Unavailable { unavailable },
        }
    }
}

impl FirstRead {
    /// What the planner needs, as read.
    pub fn state(&self) -> UserState {
        UserState {
            access_keys: self.access_keys.as_result().map(|keys| {
                keys.iter()
                    .map(|(id, status, _)| KeyState {
                        id: id.clone(),
                        active: status == "Active",
                    })
                    .collect()
            }),
            inline_policy_names: self.inline_policy_names.as_result().cloned(),
            tags: self.tags.as_result().map(|ts| {
                ts.iter()
                    .map(|t| (t.key.clone(), t.value.clone()))
                    .collect()
            }),
        }
    }

    /// The user's ARN with its path, when GetUser answered.
    pub fn arn(&self) -> Option<&str> {
        self.user.as_result().ok().map(|u| u.arn.as_str())
    }

    /// Whether IAM says the user does not exist.
    pub fn no_such_user(&self) -> bool {
        matches!(&self.user, Part::Unavailable { unavailable } if unavailable.starts_with("NoSuchEntity"))
    }
}

/// Reads what the lists name (policy documents, keys' last use), at most [`READ_CONCURRENCY`] at
/// once: the second wave. `concurrent_writes` are the changes written alongside the first wave.
pub async fn complete(
    iam: &Client,
    first: FirstRead,
    concurrent_writes: Vec<String>,
) -> UserSnapshot {
    let user_name = first.user_name.as_str();
    let own_names: Vec<String> = match first.inline_policy_names.as_result() {
        Ok(names) => names
            .iter()
            .filter(|n| !plan::is_responder_policy(n))
            .cloned()
            .collect(),
        Err(_) => Vec::new(),
    };
    let documents = futures::stream::iter(own_names.into_iter().map(|name| async move {
        let document = iam
            .get_user_policy()
            .user_name(user_name)
            .policy_name(&name)
            .send()
            .await
            .map_err(|e| describe(&e))
            .and_then(|out| decode_policy(&out.policy_document));
        InlinePolicyRecord {
            name,
            document: Part::from_result(document, String::clone),
        }
    }))
    .buffered(READ_CONCURRENCY)
    .collect::<Vec<_>>();
    let key_rows = first.access_keys.as_result().cloned().unwrap_or_default();
    let last_used = futures::stream::iter(key_rows.into_iter().map(
        |(id, status, created)| async move {
            let last_used = iam
                .get_access_key_last_used()
                .access_key_id(&id)
                .send()
                .await
                .map_err(|e| describe(&e))
                .map(|out| {
                    out.access_key_last_used.map(|u| LastUsed {
                        date: date(u.last_used_date.as_ref()),
                        service_name: Some(u.service_name).filter(|s| s != "N/A"),
                        region: Some(u.region).filter(|s| s != "N/A"),
                    })
                });
            AccessKeyRecord {
                access_key_id: id,
                status,
                create_date: created,
                last_used: Part::from_result(last_used, String::clone),
            }
        },
    ))
    .buffered(READ_CONCURRENCY)
    .collect::<Vec<_>>();
    let (documents, keys) = tokio::join!(documents, last_used);

    UserSnapshot {
        taken_at: first.taken_at,
        user_name: first.user_name.clone(),
        concurrent_writes,
        user: first.user,
        access_keys: first.access_keys.map(|_| keys),
        inline_policies: first.inline_policy_names.map(|_| documents),
        attached_policies: first.attached_policies,
        groups: first.groups,
        login_profile: first.login_profile,
        mfa_devices: first.mfa_devices,
        tags: first.tags.map(|ts| {
            ts.into_iter()
                .filter(|t| !t.key.starts_with("tourniquet:"))
                .collect()
        }),
    }
}

/// IAM returns policy documents URL-encoded (RFC 3986); the evidence keeps them as JSON.
pub fn decode_policy(encoded: &str) -> Result<serde_json::Value, String> {
    let decoded = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|e| format!("policy document is not UTF-8: {e}"))?;
    serde_json::from_str(&decoded).map_err(|e| format!("policy document is not JSON: {e}"))
}
