//! A seeded IAM Identity Center in moto (`sso-admin`, `identitystore`): an instance, two users in
//! one group, two permission sets (one with an inline policy of its own) assigned to two accounts,
//! one directly to the first user and one through the group. For the tests and the demo.

use crate::Moto;
use aws_sdk_identitystore::types::{MemberId, Name};
use aws_sdk_ssoadmin::types::{PrincipalType, TargetType};

/// The account the group's permission set is assigned in.
pub const OTHER_ACCOUNT: &str = "444455556666";

/// The inline policy the read-only permission set has before any containment, as typed by a human.
pub const READ_ONLY_POLICY: &str = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Sid\": \"ReadLogs\", \"Effect\": \"Allow\", \"Action\": \"logs:Get*\", \"Resource\": \"*\"}\n  ]\n}";

/// The seeded instance.
pub struct Center {
    /// Clients that read the state back.
    pub sso: aws_sdk_ssoadmin::Client,
    /// The identity store's client.
    pub store: aws_sdk_identitystore::Client,
    /// The instance's ARN.
    pub instance: String,
    /// Its identity store.
    pub store_id: String,
    /// `alice@example.com`'s user id: the `Admin` set directly, `ReadOnly` through `admins`.
    pub alice: String,
    /// `bob@example.com`'s user id: `ReadOnly` through `admins` only.
    pub bob: String,
    /// The `admins` group's id.
    pub group: String,
    /// The `Admin` permission set (no inline policy).
    pub admin: String,
    /// The `ReadOnly` permission set (inline policy [`READ_ONLY_POLICY`]).
    pub read_only: String,
}

/// Creates a user.
pub async fn user(center: (&aws_sdk_identitystore::Client, &str), name: &str) -> String {
    let (store, store_id) = center;
    store
        .create_user()
        .identity_store_id(store_id)
        .user_name(name)
        .display_name(name)
        .name(
            Name::builder()
                .given_name(name)
                .family_name("Example")
                .build(),
        )
        .send()
        .await
        .expect("create user")
        .user_id
}

/// Seeds moto's Identity Center: alice and bob in `admins`; `Admin` (no inline policy) assigned
/// to alice in the sample account; `ReadOnly` (an inline policy) assigned to `admins` in another.
pub async fn seed(moto: &Moto) -> Center {
    let sdk = moto.sdk_config().await;
    let sso = aws_sdk_ssoadmin::Client::new(&sdk);
    let store = aws_sdk_identitystore::Client::new(&sdk);
    let instance = sso.list_instances().send().await.expect("list instances");
    let instance = &instance.instances()[0];
    let (arn, store_id) = (
        instance.instance_arn().unwrap().to_owned(),
        instance.identity_store_id().unwrap().to_owned(),
    );
    let alice = user((&store, &store_id), "alice@example.com").await;
    let bob = user((&store, &store_id), "bob@example.com").await;
    let group = store
        .create_group()
        .identity_store_id(&store_id)
        .display_name("admins")
        .send()
        .await
        .expect("create group")
        .group_id;
    for member in [&alice, &bob] {
        store
            .create_group_membership()
            .identity_store_id(&store_id)
            .group_id(&group)
            .member_id(MemberId::UserId(member.clone()))
            .send()
            .await
            .expect("membership");
    }
    let mut sets = Vec::new();
    for name in ["Admin", "ReadOnly"] {
        let set = sso
            .create_permission_set()
            .instance_arn(&arn)
            .name(name)
            // moto answers a permission set without one with a number, which no SDK reads.
            .session_duration("PT1H")
            .send()
            .await
            .expect("create permission set")
            .permission_set
            .and_then(|p| p.permission_set_arn)
            .unwrap();
        sets.push(set);
    }
    sso.put_inline_policy_to_permission_set()
        .instance_arn(&arn)
        .permission_set_arn(&sets[1])
        .inline_policy(READ_ONLY_POLICY)
        .send()
        .await
        .expect("inline policy");
    for (set, account, kind, principal) in [
        (&sets[0], crate::ACCOUNT, PrincipalType::User, &alice),
        (&sets[1], OTHER_ACCOUNT, PrincipalType::Group, &group),
    ] {
        sso.create_account_assignment()
            .instance_arn(&arn)
            .permission_set_arn(set)
            .target_id(account)
            .target_type(TargetType::AwsAccount)
            .principal_type(kind)
            .principal_id(principal)
            .send()
            .await
            .expect("assignment");
    }
    Center {
        sso,
        store,
        instance: arn,
        store_id,
        alice,
        bob,
        group,
        admin: sets[0].clone(),
        read_only: sets[1].clone(),
    }
}

impl Center {
    /// The same instance, read back as whoever `sdk` is (once IAM authorization is enforced, the
    /// emulator's default key is refused).
    pub fn reading_as(self, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            sso: aws_sdk_ssoadmin::Client::new(sdk),
            store: aws_sdk_identitystore::Client::new(sdk),
            ..self
        }
    }

    /// A permission set's inline policy (`""`: none).
    pub async fn inline(&self, set: &str) -> String {
        self.sso
            .get_inline_policy_for_permission_set()
            .instance_arn(&self.instance)
            .permission_set_arn(set)
            .send()
            .await
            .expect("inline policy")
            .inline_policy
            .unwrap_or_default()
    }

    /// The permission sets provisioned to the sample account.
    pub async fn provisioned(&self) -> Vec<String> {
        let mut sets = self
            .sso
            .list_permission_sets_provisioned_to_account()
            .instance_arn(&self.instance)
            .account_id(crate::ACCOUNT)
            .send()
            .await
            .expect("provisioned")
            .permission_sets
            .unwrap_or_default();
        sets.sort();
        sets.dedup();
        sets
    }

    /// The groups of a user.
    pub async fn groups_of(&self, user: &str) -> Vec<String> {
        self.store
            .list_group_memberships_for_member()
            .identity_store_id(&self.store_id)
            .member_id(MemberId::UserId(user.into()))
            .send()
            .await
            .expect("memberships")
            .group_memberships
            .into_iter()
            .filter_map(|m| m.group_id)
            .collect()
    }

    /// How many assignments a user has of their own.
    pub async fn own_assignments(&self, user: &str) -> usize {
        self.sso
            .list_account_assignments_for_principal()
            .instance_arn(&self.instance)
            .principal_type(PrincipalType::User)
            .principal_id(user)
            .send()
            .await
            .expect("assignments")
            .account_assignments
            .unwrap_or_default()
            .len()
    }
}
