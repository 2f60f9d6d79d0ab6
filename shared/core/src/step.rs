//! The step vocabulary: what a step does ([`Action`]) and by which route a policy went ([`Route`]),
//! as the report and the ledger name them. A leaf: the planner, the report and the release all
//! speak it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a step does: the four a containment takes, and the undos (and deliberate keeps) of a
/// release. Serialized in snake_case, as the report and the ledger name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Deny everything to the principal (inline; managed or quarantine group when it does not fit).
    AttachDenyAll,
    /// Deny sessions issued before the containment (`aws:TokenIssueTime`).
    RevokeSessions,
    /// Set an access key to Inactive (never delete it: it is evidence).
    DeactivateAccessKey,
    /// Set a user's other credential Inactive: an X.509 signing certificate, an SSH public key
    /// (CodeCommit), a service-specific credential (CodeCommit, Keyspaces, Bedrock API keys...).
    /// The target is `<kind>:<id>` ([`CredentialKind`]); never deleted.
    DeactivateCredential,
    /// Tag the principal with the incident id.
    TagPrincipal,
    /// Release: take Tourniquet's deny off by the route it went on.
    RemoveDenyAll,
    /// Release: leave a deny that was changed by hand since the containment.
    KeepDenyAll,
    /// Release: set a key this incident deactivated, and the request lists, Active again.
    ReactivateAccessKey,
    /// Release: leave a key inactive (not listed, or not this incident's to reactivate).
    KeepAccessKeyInactive,
    /// Release: set a credential this incident deactivated, and the request lists, Active again.
    ReactivateCredential,
    /// Release: leave a credential inactive (not listed, or not this incident's to reactivate).
    KeepCredentialInactive,
    /// Release: remove the incident tags.
    UntagPrincipal,
    /// Release: tag the principal with the release.
    TagReleased,
    /// Release: leave the session cutoff, so stolen sessions never work again.
    KeepSessionCutoff,
    /// Release: leave the quarantine policy AWS attached itself.
    KeepAwsQuarantine,
    /// An Identity Center user: Tourniquet's deny for the user merged into a permission set's
    /// inline policy, and the permission set provisioned. The target is the permission set's ARN.
    DenyIdentityCenterUser,
    /// An Identity Center user (`IDENTITY_CENTER_REMOVE_ASSIGNMENTS`): one of the user's own
    /// account assignments removed. The target is `<account id>/<permission set ARN>`.
    RemoveAccountAssignment,
    /// An Identity Center user (`IDENTITY_CENTER_REMOVE_ASSIGNMENTS`): the user taken out of a
    /// group. The target is the group's id.
    RemoveGroupMembership,
    /// Release: Tourniquet's statement taken out of a permission set, which is provisioned again.
    RemoveIdentityCenterDeny,
    /// Release: leave a statement under Tourniquet's id that is no longer its deny.
    KeepIdentityCenterDeny,
    /// Release: an account assignment the containment removed, created again.
    RestoreAccountAssignment,
    /// Release: a group membership the containment removed, created again.
    RestoreGroupMembership,
}

impl Action {
    /// Every action a containment takes (and a release may undo).
    pub const CONTAINMENT: [Action; 5] = [
        Action::AttachDenyAll,
        Action::RevokeSessions,
        Action::DeactivateAccessKey,
        Action::DeactivateCredential,
        Action::TagPrincipal,
    ];

    /// Every action a containment of an Identity Center user takes.
    pub const IDENTITY_CENTER: [Action; 3] = [
        Action::DenyIdentityCenterUser,
        Action::RemoveAccountAssignment,
        Action::RemoveGroupMembership,
    ];

    /// Whether a containment takes this action (the others are a release's).
    pub fn is_containment(self) -> bool {
        Self::CONTAINMENT.contains(&self) || Self::IDENTITY_CENTER.contains(&self)
    }

    /// The name used in reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AttachDenyAll => "attach_deny_all",
            Action::RevokeSessions => "revoke_sessions",
            Action::DeactivateAccessKey => "deactivate_access_key",
            Action::DeactivateCredential => "deactivate_credential",
            Action::TagPrincipal => "tag_principal",
            Action::RemoveDenyAll => "remove_deny_all",
            Action::KeepDenyAll => "keep_deny_all",
            Action::ReactivateAccessKey => "reactivate_access_key",
            Action::KeepAccessKeyInactive => "keep_access_key_inactive",
            Action::ReactivateCredential => "reactivate_credential",
            Action::KeepCredentialInactive => "keep_credential_inactive",
            Action::UntagPrincipal => "untag_principal",
            Action::TagReleased => "tag_released",
            Action::KeepSessionCutoff => "keep_session_cutoff",
            Action::KeepAwsQuarantine => "keep_aws_quarantine",
            Action::DenyIdentityCenterUser => "deny_identity_center_user",
            Action::RemoveAccountAssignment => "remove_account_assignment",
            Action::RemoveGroupMembership => "remove_group_membership",
            Action::RemoveIdentityCenterDeny => "remove_identity_center_deny",
            Action::KeepIdentityCenterDeny => "keep_identity_center_deny",
            Action::RestoreAccountAssignment => "restore_account_assignment",
            Action::RestoreGroupMembership => "restore_group_membership",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a policy step was carried out (kept in the ledger, so that a release can undo it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// An inline policy on the principal.
    Inline,
    /// A managed policy under `/tourniquet/`, attached to the principal.
    Managed,
    /// The user was added to the quarantine group, which carries the managed deny.
    QuarantineGroup,
}

impl Route {
    /// The name used in reports and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Inline => "inline",
            Route::Managed => "managed",
            Route::QuarantineGroup => "quarantine_group",
        }
    }
}
