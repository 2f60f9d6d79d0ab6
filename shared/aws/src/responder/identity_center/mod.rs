//! Identity Center users: located in the identity store, read (the snapshot), denied in every
//! permission set that reaches them (merged, provisioned, the provisioning waited for), and, with
//! `IDENTITY_CENTER_REMOVE_ASSIGNMENTS`, their own assignments and group memberships removed. The
//! release takes off only Tourniquet's statements and puts back what was removed. What to write
//! is decided in [`crate::identity_center`]; this module reads and writes: `mod.rs` the clients,
//! the reads and the provisioning both use, `contain.rs` the containment's writes, `release.rs`
//! the release's (the template test grants each function the calls of its files).

use super::*;
use crate::error::AwsError;
use crate::identity_center::{self as ic, Assignment, Membership, PermissionSet, State};
use aws_sdk_identitystore::types::{AlternateIdentifier, MemberId, UniqueAttribute};
use aws_sdk_ssoadmin::types::{PrincipalType, ProvisionTargetType, StatusValues};

mod contain;
mod release;

/// How long a provisioning is waited for before the step says it is still running.
pub const PROVISION_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// How often a running provisioning is asked about.
const PROVISION_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// The Identity Center clients of one invocation, in the instance's account and region.
#[derive(Clone)]
pub struct Center {
    sso: aws_sdk_ssoadmin::Client,
    store: aws_sdk_identitystore::Client,
}

impl Center {
    /// Clients a test gives (fault injection).
    pub fn new(sso: aws_sdk_ssoadmin::Client, store: aws_sdk_identitystore::Client) -> Self {
        Self { sso, store }
    }
}

impl Responder {
    /// The account Identity Center is configured in (`IDENTITY_CENTER_ACCOUNT`), or `me`'s.
    pub(super) fn identity_center_account(&self, me: &Principal) -> String {
        self.config
            .identity_center
            .account
            .clone()
            .unwrap_or_else(|| me.account_id.clone())
    }

    /// The clients for the instance's account (the member role's credentials when it is not the
    /// function's own) and region.
    fn center(&self, me: &Principal, accounts: &Accounts) -> Result<Center, CenterError> {
        if let Some(center) = &self.center {
            return Ok(center.clone());
        }
        let sdk = self.trail.as_ref().ok_or(CenterError::NoSdk)?;
        let account = self.identity_center_account(me);
        let credentials = match account == me.account_id {
            true => None,
            false => Some(accounts.credentials(&account).map_err(|why| match why {
                Blocked::NotConfigured(why) | Blocked::Failed(why) => CenterError::Account {
                    account: account.clone(),
                    why,
                },
            })?),
        };
        let region = self.config.identity_center.region.clone();
        let mut sso_config = aws_sdk_ssoadmin::config::Builder::from(sdk);
        let mut store_config = aws_sdk_identitystore::config::Builder::from(sdk);
        if let Some(region) = region {
            sso_config = sso_config.region(aws_sdk_ssoadmin::config::Region::new(region.clone()));
            store_config = store_config.region(aws_sdk_identitystore::config::Region::new(region));
        }
        if let Some(credentials) = credentials {
            sso_config = sso_config.credentials_provider(credentials.clone());
            store_config = store_config.credentials_provider(credentials);
        }
        Ok(Center {
            sso: aws_sdk_ssoadmin::Client::from_conf(sso_config.build()),
            store: aws_sdk_identitystore::Client::from_conf(store_config.build()),
        })
    }
}

/// Why the Identity Center clients could not be made.
#[derive(Debug, thiserror::Error)]
enum CenterError {
    /// The responder has no SDK configuration to make them from.
    #[error("no Identity Center client: the responder was built without an SDK configuration")]
    NoSdk,
    /// Identity Center's account could not be entered.
    #[error("Identity Center's account {account} (IDENTITY_CENTER_ACCOUNT): {why}")]
    Account {
        /// The account (`IDENTITY_CENTER_ACCOUNT`).
        account: String,
        /// Why it could not be entered.
        why: String,
    },
}

/// A read of Identity Center that failed, as `Identity Center: <Operation>: <detail>`.
#[derive(Debug, thiserror::Error)]
#[error("Identity Center: {}: {}", .0.operation, .0.detail)]
struct Unanswered(#[source] AwsError);

/// A call to Identity Center that failed, as `<Operation>: <detail>`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", .0.operation, .0.detail)]
struct CallFailed(#[source] AwsError);

/// A write to a permission set that AWS refused: what it said, with what to do when it was a
/// delegated administrator's access denied.
#[derive(Debug, thiserror::Error)]
#[error("{}", denied_advice(&.error.detail, *.denied, .set))]
struct SetRefused {
    /// AWS's error.
    #[source]
    error: AwsError,
    /// Whether it was `AccessDeniedException`.
    denied: bool,
    /// The permission set, as a human knows it.
    set: String,
}

/// Why a permission set's provisioning did not finish.
#[derive(Debug, thiserror::Error)]
enum ProvisionError {
    /// Identity Center refused or did not answer (`denied`: with `AccessDeniedException`).
    #[error("{}: {}", .error.operation, .error.detail)]
    Call {
        /// AWS's error.
        #[source]
        error: AwsError,
        /// Whether it was `AccessDeniedException`.
        denied: bool,
    },
    /// `ProvisionPermissionSet` answered without a status.
    #[error("ProvisionPermissionSet answered without a status")]
    NoStatus,
    /// Identity Center said the provisioning failed, and why.
    #[error("provisioning failed: {0}")]
    Failed(String),
    /// Still running when the wait ended.
    #[error(
        "provisioning still in progress (request {request}) when the wait ended: the \
         deny reaches an account only once it is provisioned there; check with \
         `aws sso-admin describe-permission-set-provisioning-status \
         --instance-arn {instance} --provision-permission-set-request-id {request}`"
    )]
    Running {
        /// The provisioning's request id.
        request: String,
        /// The instance.
        instance: String,
    },
}

impl ProvisionError {
    /// Whether AWS denied access (a delegated administrator, on a set provisioned to the
    /// management account); a failure's reason is AWS's own words.
    fn denied(&self) -> bool {
        match self {
            Self::Call { denied, .. } => *denied,
            Self::Failed(reason) => reason.contains("AccessDenied"),
            Self::NoStatus | Self::Running { .. } => false,
        }
    }
}

/// Why a user could not be located.
enum Locate {
    /// No such user (or no instance): a human must say who it is.
    NotFound(String),
    /// Identity Center could not be asked.
    Failed(String),
}

/// A located user: the instance, its identity store, and the user's id in it.
struct Located {
    instance_arn: String,
    store_id: String,
    user_id: String,
}

/// An Identity Center instance and the identity store it reads users from.
struct Instance {
    arn: String,
    store_id: String,
}

/// The instance (the configured one, or the account's only one), its identity store, and the
/// user's id: `user` is an id when `may_be_id`, it has an id's shape and the store knows it; else
/// a user name (always, for a name a session gave: see [`ic::UserClaim::from_session`]).
async fn locate(
    center: &Center,
    user: &str,
    may_be_id: bool,
    configured: Option<&str>,
) -> Result<Located, Locate> {
    let Instance { arn, store_id } = find_instance(center, configured).await?;
    let user_id = if may_be_id && ic::is_user_id(user) && is_known_id(center, &store_id, user).await
    {
        user.to_owned()
    } else {
        user_id_by_name(center, &store_id, user).await?
    };
    Ok(Located {
        instance_arn: arn,
        store_id,
        user_id,
    })
}

/// The configured instance, or the account's only one; `NotFound` says what to configure when
/// that is not exactly one.
async fn find_instance(center: &Center, configured: Option<&str>) -> Result<Instance, Locate> {
    let instances: Vec<_> = center
        .sso
        .list_instances()
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| Locate::Failed(format!("Identity Center: ListInstances: {}", describe(&e))))?;
    let instance = choose_instance(&instances, configured)?;
    let (Some(arn), Some(store_id)) = (instance.instance_arn(), instance.identity_store_id())
    else {
        return Err(Locate::Failed(
            "Identity Center: ListInstances answered an instance without its ARN or store".into(),
        ));
    };
    Ok(Instance {
        arn: arn.into(),
        store_id: store_id.into(),
    })
}

/// The one instance among `instances` that is `configured` (any, when none is).
fn choose_instance<'a>(
    instances: &'a [aws_sdk_ssoadmin::types::InstanceMetadata],
    configured: Option<&str>,
) -> Result<&'a aws_sdk_ssoadmin::types::InstanceMetadata, Locate> {
    let chosen: Vec<_> = instances
        .iter()
        .filter(|i| configured.is_none_or(|c| i.instance_arn() == Some(c)))
        .collect();
    match chosen[..] {
        [one] => Ok(one),
        [] => Err(Locate::NotFound(match configured {
            Some(arn) => format!(
                "Identity Center instance {arn} (IDENTITY_CENTER_INSTANCE_ARN) is not in this \
                 account: set IDENTITY_CENTER_ACCOUNT to the account that holds it"
            ),
            None => "no Identity Center instance in this account and region: set \
                     IDENTITY_CENTER_ACCOUNT (the management or delegated administrator \
                     account) and IDENTITY_CENTER_REGION"
                .into(),
        })),
        _ => {
            let arns: Vec<&str> = chosen.iter().filter_map(|i| i.instance_arn()).collect();
            Err(Locate::NotFound(format!(
                "this account has {} Identity Center instances ({}): name one with \
                 IDENTITY_CENTER_INSTANCE_ARN",
                arns.len(),
                arns.join(", ")
            )))
        }
    }
}

/// Whether the store knows `user` as a user id; any error counts as no (the name is tried next).
async fn is_known_id(center: &Center, store_id: &str, user: &str) -> bool {
    center
        .store
        .describe_user()
        .identity_store_id(store_id)
        .user_id(user)
        .send()
        .await
        .is_ok()
}

/// The id of the user named `user` in the store; `NotFound` when there is none.
async fn user_id_by_name(center: &Center, store_id: &str, user: &str) -> Result<String, Locate> {
    let identifier = UniqueAttribute::builder()
        .attribute_path("userName")
        .attribute_value(aws_smithy_types::Document::String(user.into()))
        .build()
        .map_err(|e| Locate::Failed(e.to_string()))?;
    match center
        .store
        .get_user_id()
        .identity_store_id(store_id)
        .alternate_identifier(AlternateIdentifier::UniqueAttribute(identifier))
        .send()
        .await
    {
        Ok(found) => Ok(found.user_id),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Err(Locate::NotFound(format!(
                "no user named `{user}` in identity store {store_id}: check the name (the \
                 session name of the AWSReservedSSO_ role), or give the user id"
            )))
        }
        Err(e) => Err(Locate::Failed(format!(
            "Identity Center: GetUserId: {}",
            describe(&e)
        ))),
    }
}

/// The user as the identity store describes them, with their group memberships.
struct StoredUser {
    described: aws_sdk_identitystore::operation::describe_user::DescribeUserOutput,
    memberships: Vec<Membership>,
}

/// Reads the user, their groups, every assignment that reaches them and each permission set's
/// inline policy.
async fn read(
    center: &Center,
    instance: &str,
    store_id: &str,
    user_id: &str,
) -> Result<State, Unanswered> {
    let StoredUser {
        described,
        memberships,
    } = read_user(center, store_id, user_id).await?;
    let assignments = read_assignments(center, instance, user_id, &memberships).await?;
    let permission_sets = read_permission_sets(center, instance, &assignments).await;
    Ok(State {
        instance_arn: instance.into(),
        identity_store_id: store_id.into(),
        user_id: user_id.into(),
        user_name: described.user_name.clone(),
        user: user_record(&described),
        memberships,
        assignments,
        permission_sets,
    })
}

/// The user and their group memberships, asked for together (one wave).
async fn read_user(
    center: &Center,
    store_id: &str,
    user_id: &str,
) -> Result<StoredUser, Unanswered> {
    let (user, memberships) = tokio::join!(
        center
            .store
            .describe_user()
            .identity_store_id(store_id)
            .user_id(user_id)
            .send(),
        center
            .store
            .list_group_memberships_for_member()
            .identity_store_id(store_id)
            .member_id(MemberId::UserId(user_id.into()))
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
    );
    let described = user.map_err(|e| Unanswered(AwsError::from_sdk("DescribeUser", e)))?;
    let memberships = memberships
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Unanswered(AwsError::from_sdk("ListGroupMembershipsForMember", e)))?
        .into_iter()
        .filter_map(|m| {
            Some(Membership {
                membership_id: m.membership_id,
                group_id: m.group_id?,
            })
        })
        .collect();
    Ok(StoredUser {
        described,
        memberships,
    })
}

/// Every assignment of the user and of each of their groups (asked for all at once, one wave),
/// sorted, each once.
async fn read_assignments(
    center: &Center,
    instance: &str,
    user_id: &str,
    memberships: &[Membership],
) -> Result<Vec<Assignment>, Unanswered> {
    let principals = std::iter::once((PrincipalType::User, user_id.to_owned())).chain(
        memberships
            .iter()
            .map(|m| (PrincipalType::Group, m.group_id.clone())),
    );
    let listed = futures::future::join_all(principals.map(|(kind, id)| async move {
        center
            .sso
            .list_account_assignments_for_principal()
            .instance_arn(instance)
            .principal_type(kind)
            .principal_id(id)
            .into_paginator()
            .items()
            .send()
            .collect::<Vec<_>>()
            .await
    }))
    .await;
    let mut assignments = Vec::new();
    for page in listed.into_iter().flatten() {
        let a = page
            .map_err(|e| Unanswered(AwsError::from_sdk("ListAccountAssignmentsForPrincipal", e)))?;
        assignments.extend(assignment_of(a));
    }
    assignments.sort();
    assignments.dedup();
    Ok(assignments)
}

/// An assignment as the plan knows it; `None` when AWS left out one of its parts.
fn assignment_of(a: aws_sdk_ssoadmin::types::AccountAssignmentForPrincipal) -> Option<Assignment> {
    Some(Assignment {
        account_id: a.account_id?,
        permission_set_arn: a.permission_set_arn?,
        principal_type: a.principal_type?.as_str().to_owned(),
        principal_id: a.principal_id?,
    })
}

/// Each permission set the assignments name, once, all read at once (one wave).
async fn read_permission_sets(
    center: &Center,
    instance: &str,
    assignments: &[Assignment],
) -> Vec<PermissionSet> {
    let sets: BTreeSet<String> = assignments
        .iter()
        .map(|a| a.permission_set_arn.clone())
        .collect();
    futures::future::join_all(
        sets.into_iter()
            .map(|arn| read_permission_set(center, instance, arn)),
    )
    .await
}

/// A permission set's name and inline policy, asked for together; a name that cannot be read is
/// left out, an inline policy that cannot be read says why.
async fn read_permission_set(center: &Center, instance: &str, arn: String) -> PermissionSet {
    let (described, inline) = tokio::join!(
        center
            .sso
            .describe_permission_set()
            .instance_arn(instance)
            .permission_set_arn(&arn)
            .send(),
        center
            .sso
            .get_inline_policy_for_permission_set()
            .instance_arn(instance)
            .permission_set_arn(&arn)
            .send()
    );
    PermissionSet {
        name: described
            .ok()
            .and_then(|d| d.permission_set)
            .and_then(|p| p.name),
        inline_policy: inline
            .map(|i| i.inline_policy.unwrap_or_default())
            .map_err(|e| describe(&e).into()),
        arn,
    }
}

/// What the snapshot keeps of the user.
fn user_record(
    user: &aws_sdk_identitystore::operation::describe_user::DescribeUserOutput,
) -> Value {
    serde_json::json!({
        "UserId": user.user_id,
        "UserName": user.user_name,
        "DisplayName": user.display_name,
        "Emails": user.emails().iter().filter_map(|e| e.value.clone()).collect::<Vec<_>>(),
        "UserStatus": user.user_status.as_ref().map(|s| s.as_str().to_owned()),
    })
}

/// Provisions a permission set to every account it is provisioned to and waits, until `until`,
/// for Identity Center to say it is done.
async fn provision(
    sso: &aws_sdk_ssoadmin::Client,
    instance: &str,
    set: &str,
    until: tokio::time::Instant,
) -> Result<String, ProvisionError> {
    let started = sso
        .provision_permission_set()
        .instance_arn(instance)
        .permission_set_arn(set)
        .target_type(ProvisionTargetType::AllProvisionedAccounts)
        .send()
        .await
        .map_err(|e| ProvisionError::Call {
            denied: e
                .as_service_error()
                .is_some_and(|s| s.is_access_denied_exception()),
            error: AwsError::from_sdk("ProvisionPermissionSet", e),
        })?;
    let mut status = started.permission_set_provisioning_status;
    loop {
        let Some(now) = status.take() else {
            return Err(ProvisionError::NoStatus);
        };
        match now.status {
            Some(StatusValues::Succeeded) => {
                return Ok("provisioned to every account it is assigned to".into());
            }
            Some(StatusValues::Failed) => {
                let reason = now.failure_reason.as_deref().unwrap_or("no reason given");
                return Err(ProvisionError::Failed(reason.to_owned()));
            }
            _ => {}
        }
        let request = now.request_id.unwrap_or_default();
        if tokio::time::Instant::now() + PROVISION_POLL > until {
            return Err(ProvisionError::Running {
                request,
                instance: instance.to_owned(),
            });
        }
        tokio::time::sleep(PROVISION_POLL).await;
        status = sso
            .describe_permission_set_provisioning_status()
            .instance_arn(instance)
            .provision_permission_set_request_id(&request)
            .send()
            .await
            .map_err(|e| ProvisionError::Call {
                denied: e
                    .as_service_error()
                    .is_some_and(|s| s.is_access_denied_exception()),
                error: AwsError::from_sdk("DescribePermissionSetProvisioningStatus", e),
            })?
            .permission_set_provisioning_status;
    }
}

/// AWS's error on a permission set, with what to do when a delegated administrator was refused
/// (`denied`).
fn denied_advice(error: &str, denied: bool, set: &str) -> String {
    if denied {
        format!(
            "{error}: a delegated administrator cannot change a permission set provisioned to the \
             management account; add the statement to {set} from the management account (set \
             IDENTITY_CENTER_ACCOUNT to it), or remove the user's assignment there"
        )
    } else {
        error.to_owned()
    }
}
