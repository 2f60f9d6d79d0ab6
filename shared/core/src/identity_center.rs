//! IAM Identity Center users: who an `AWSReservedSSO_` session is, and the pure part of containing
//! them as AWS documents it: a deny-all statement conditioned on `identitystore:userId`, merged into
//! the inline policy of every permission set assigned to the user (directly or through a group),
//! then provisioned. The condition names only this user: every session of theirs, old or new, is
//! denied, and nobody else who holds the permission set is touched. IAM edits of the
//! `AWSReservedSSO_` roles themselves stay refused ([`crate::plan::refusal`]): Identity Center
//! owns them and overwrites them at the next provisioning.
//!
//! The responder reads the identity store and the permission sets, and writes
//! (`responder/identity_center.rs`); this module decides what to write and how to undo it.

use crate::error::{ConfigError, Unread};
use serde::Serialize;
use serde_json::Value;

/// The name every Identity Center role starts with (`AWSReservedSSO_<set>_<hash>`).
pub const ROLE_PREFIX: &str = "AWSReservedSSO_";

/// The start of the statement id Tourniquet puts in a permission set's inline policy; the user id
/// follows, without its dashes (a `Sid` is letters and digits).
pub const SID_PREFIX: &str = "TourniquetDenyIdentityCenterUser";

/// Identity Center's quota on a permission set's inline policy: 10,240 characters, whitespace not
/// counted (IAM Identity Center quotas).
pub const INLINE_POLICY_MAX: usize = 10_240;

/// A policy's length as Identity Center counts it against [`INLINE_POLICY_MAX`].
pub fn counted_length(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
}

/// Where Identity Center is and what a containment does there (`IDENTITY_CENTER_*`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// `IDENTITY_CENTER_ACCOUNT`: the account of the instance (the management account or the
    /// delegated administrator), entered through the member role when it is not the function's.
    /// Unset: the function's own.
    pub account: Option<String>,
    /// `IDENTITY_CENTER_REGION`: the instance's region. Unset: the function's.
    pub region: Option<String>,
    /// `IDENTITY_CENTER_INSTANCE_ARN`: the instance, when the account has more than one.
    pub instance_arn: Option<String>,
    /// `IDENTITY_CENTER_REMOVE_ASSIGNMENTS`: also remove the user's own account assignments and
    /// group memberships (each recorded, and restored by a release). Off by default: the deny
    /// already stops every session, and an assignment removed is one a human must check.
    pub remove_assignments: bool,
    /// `IDENTITY_CENTER_PROTECTED_USERS`: Identity Center users never contained (a break-glass
    /// human, the responders themselves), as user-name globs or user ids, matched
    /// case-insensitively against both the user's name and id once the identity store has named
    /// them, so a request by id cannot pass a protection by name.
    pub protected_users: Vec<glob::Pattern>,
}

impl Options {
    /// Reads the `IDENTITY_CENTER_*` variables through `lookup`; a malformed one is an error
    /// naming it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let set = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let account = set("IDENTITY_CENTER_ACCOUNT");
        if let Some(account) = &account {
            crate::principal::check_account(account).map_err(|error| ConfigError::Account {
                variable: "IDENTITY_CENTER_ACCOUNT",
                error,
            })?;
        }
        let region = set("IDENTITY_CENTER_REGION");
        if let Some(region) = &region
            && !(region.split('-').count() >= 3
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(ConfigError::invalid(
                "IDENTITY_CENTER_REGION",
                "a region name (`us-east-1`)",
                region,
            ));
        }
        let instance_arn = set("IDENTITY_CENTER_INSTANCE_ARN");
        if let Some(arn) = &instance_arn
            && !(arn.starts_with("arn:") && arn.contains(":sso:::instance/"))
        {
            return Err(ConfigError::invalid(
                "IDENTITY_CENTER_INSTANCE_ARN",
                "an instance ARN (arn:aws:sso:::instance/ssoins-...)",
                arn,
            ));
        }
        let remove_assignments = match set("IDENTITY_CENTER_REMOVE_ASSIGNMENTS").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::invalid(
                    "IDENTITY_CENTER_REMOVE_ASSIGNMENTS",
                    "`true` or `false`",
                    other,
                ));
            }
        };
        let protected_users = set("IDENTITY_CENTER_PROTECTED_USERS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        glob::Pattern::new(p).map_err(|error| ConfigError::Glob {
                            variable: "IDENTITY_CENTER_PROTECTED_USERS",
                            pattern: p.to_owned(),
                            error,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        Ok(Self {
            account,
            region,
            instance_arn,
            remove_assignments,
            protected_users,
        })
    }

    /// The `IDENTITY_CENTER_PROTECTED_USERS` pattern that protects the user of this name and id,
    /// in words for the report; the name as the identity store gives it, never as a finding or a
    /// request claims it.
    pub fn protecting(&self, user_name: Option<&str>, user_id: &str) -> Option<String> {
        let options = crate::guard::CASE_INSENSITIVE;
        self.protected_users
            .iter()
            .find(|p| {
                user_name.is_some_and(|n| p.matches_with(n, options))
                    || p.matches_with(user_id, options)
            })
            .map(|p| {
                format!(
                    "the protected pattern `{}` (IDENTITY_CENTER_PROTECTED_USERS)",
                    p.as_str()
                )
            })
    }
}

/// Whether an IAM role name is an Identity Center role.
pub fn is_identity_center_role(name: &str) -> bool {
    name.starts_with(ROLE_PREFIX)
}

/// The Identity Center user a finding or a request names: a claim, looked up in the identity
/// store before anything is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserClaim {
    /// A user name (a finding's session name, a request's) or a user id (a request's).
    pub user: String,
    /// The `AWSReservedSSO_` role the finding saw the session in, for the report.
    pub seen_as: Option<String>,
    /// Whether a session named the user (a finding, a CloudTrail event). A session name is a user
    /// name, never an id: whoever may name users in the identity store could name one after
    /// another user's id, and have that user contained for their own session.
    pub from_session: bool,
}

/// Checks an Identity Center user name or id as an event or a request gives it: 1 to 128
/// characters, no spaces or control characters (what the identity store accepts as a user name).
pub fn check_user(value: &str) -> Result<(), UserError> {
    if value.is_empty() || value.chars().count() > 128 {
        return Err(UserError::Length {
            value: value.into(),
        });
    }
    if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(UserError::Characters {
            value: value.into(),
        });
    }
    Ok(())
}

/// A user name or id the identity store would not accept; the `Display` names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// Empty, or over 128 characters.
    #[error("`{value}` is not an Identity Center user name or id (1 to 128 characters)")]
    Length {
        /// The value given.
        value: String,
    },
    /// With spaces or control characters (escaped in the `Display`, so they show).
    #[error(
        "`{}` is not an Identity Center user name or id: it has spaces or control characters",
        .value.escape_debug()
    )]
    Characters {
        /// The value given.
        value: String,
    },
}

/// Why the deny cannot be merged into, or taken out of, a permission set's inline policy; nothing
/// is written then.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The document's `Statement` is neither a statement nor a list of them.
    #[error("its `Statement` is {found}, not a statement or a list")]
    Statement {
        /// What it is instead.
        found: Value,
    },
    /// JSON, but not an object.
    #[error("the inline policy is not a JSON object")]
    NotAnObject,
    /// Not JSON.
    #[error("the inline policy is not JSON ({error})")]
    NotJson {
        /// Why it does not parse.
        #[source]
        error: serde_json::Error,
    },
    /// The policy with the deny would pass [`INLINE_POLICY_MAX`].
    #[error(
        "with the deny the inline policy would be {length} characters (whitespace not counted), \
         over Identity Center's {INLINE_POLICY_MAX}: the permission set is full. Remove the \
         user's assignments to it by hand (or set IDENTITY_CENTER_REMOVE_ASSIGNMENTS), or make \
         room in its inline policy and add the statement {sid}"
    )]
    TooLong {
        /// The length the policy would have.
        length: usize,
        /// Tourniquet's statement id for the user.
        sid: String,
    },
    /// A statement under Tourniquet's id that is not its deny: someone else's, left in place.
    #[error(
        "the statement {sid} is not the deny Tourniquet wrote (changed since): left in place \
         for a human to judge"
    )]
    NotOurs {
        /// The statement id.
        sid: String,
    },
}

/// Whether `value` has the shape of an identity store user id (a UUID, optionally after ten hex
/// digits and a dash: `9067c1b8c5-0d2e...`), rather than a user name.
pub fn is_user_id(value: &str) -> bool {
    let uuid = match value.len() {
        36 => value,
        47 if value.as_bytes()[10] == b'-'
            && value[..10].chars().all(|c| c.is_ascii_hexdigit()) =>
        {
            &value[11..]
        }
        _ => return false,
    };
    uuid.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

/// The user a session of an Identity Center role belongs to: GuardDuty's `principalId` is
/// `<role id>:<session name>`, and Identity Center names the session after the user name.
pub fn session_user(principal_id: &str) -> Option<&str> {
    principal_id
        .split_once(':')
        .map(|(_, session)| session)
        .filter(|s| check_user(s).is_ok())
}

/// The user a CloudTrail `userIdentity.arn` of an Identity Center session names:
/// `arn:aws:sts::<account>:assumed-role/AWSReservedSSO_<set>_<hash>/<user name>`.
pub fn assumed_role_user(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":assumed-role/")?;
    let (role, session) = rest.split_once('/')?;
    (is_identity_center_role(role) && check_user(session).is_ok()).then_some(session)
}

/// The user's ARN, as the report names the target.
pub fn user_arn(partition: &str, user_id: &str) -> String {
    format!("arn:{partition}:identitystore:::user/{user_id}")
}

/// The user id a [`user_arn`] names.
pub fn user_of_arn(arn: &str) -> Option<&str> {
    arn.split_once(":identitystore:::user/").map(|(_, id)| id)
}

/// Whether `arn` has the shape of a permission set's ARN
/// (`arn:aws:sso:::permissionSet/ssoins-X/ps-Y`; moto answers `...:instance/ssoins-X/ps-Y`).
pub fn is_permission_set_arn(arn: &str) -> bool {
    arn.starts_with("arn:")
        && arn.contains(":sso:::")
        && arn
            .rsplit_once("/ps-")
            .is_some_and(|(_, id)| !id.is_empty() && !id.contains('/'))
}

/// Tourniquet's statement id for `user_id`.
pub fn sid(user_id: &str) -> String {
    let id: String = user_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("{SID_PREFIX}{id}")
}

/// The statement: deny everything to sessions of this user, and of nobody else.
pub fn deny_statement(user_id: &str) -> Value {
    serde_json::json!({
        "Sid": sid(user_id),
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringEquals": {"identitystore:userId": user_id}}
    })
}

/// What the deny does to a permission set's inline policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Merged {
    /// The statement is there as Tourniquet writes it: nothing to put.
    InPlace,
    /// Put this document: the existing statements, then the deny.
    Write {
        /// The whole inline policy.
        document: String,
        /// A statement with Tourniquet's id that was not its deny is replaced (someone wrote it).
        replaced: bool,
    },
}

/// The statements of a policy document, one or many, as a list.
fn statements(document: &Value) -> Result<Vec<Value>, PolicyError> {
    match &document["Statement"] {
        Value::Array(list) => Ok(list.clone()),
        Value::Null => Ok(Vec::new()),
        one @ Value::Object(_) => Ok(vec![one.clone()]),
        other => Err(PolicyError::Statement {
            found: other.clone(),
        }),
    }
}

/// Parses an inline policy as `GetInlinePolicyForPermissionSet` returns it (`""`: none).
fn parse(existing: &str) -> Result<Option<Value>, PolicyError> {
    if existing.trim().is_empty() {
        return Ok(None);
    }
    match serde_json::from_str::<Value>(existing) {
        Ok(document @ Value::Object(_)) => Ok(Some(document)),
        Ok(_) => Err(PolicyError::NotAnObject),
        Err(error) => Err(PolicyError::NotJson { error }),
    }
}

/// Merges the deny for `user_id` into a permission set's inline policy (`""`: it has none),
/// keeping every other statement as it is. An error names why it cannot be done (the policy is
/// not a document, or the merge would pass [`INLINE_POLICY_MAX`]); nothing is written then.
pub fn merge(existing: &str, user_id: &str) -> Result<Merged, PolicyError> {
    let ours = deny_statement(user_id);
    let sid = sid(user_id);
    let (mut document, mut list) = match parse(existing)? {
        None => (serde_json::json!({"Version": "2012-10-17"}), Vec::new()),
        Some(document) => {
            let list = statements(&document)?;
            (document, list)
        }
    };
    let before = list.len();
    if list.contains(&ours) {
        return Ok(Merged::InPlace);
    }
    list.retain(|s| s["Sid"] != sid.as_str());
    let replaced = list.len() != before;
    list.push(ours);
    document["Statement"] = Value::Array(list);
    let text = document.to_string();
    let length = counted_length(&text);
    if length > INLINE_POLICY_MAX {
        return Err(PolicyError::TooLong { length, sid });
    }
    Ok(Merged::Write {
        document: text,
        replaced,
    })
}

/// What a release does to a permission set's inline policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Restored {
    /// Tourniquet's statement is not there: nothing to take off.
    Absent,
    /// Nothing but Tourniquet's statement was there, and nothing was before: delete the inline
    /// policy.
    Delete,
    /// Put this document back: the policy as it was before the containment when nothing else
    /// changed since (its very text), else the current one without Tourniquet's statement.
    Write {
        /// The whole inline policy.
        document: String,
    },
}

/// Takes Tourniquet's statement for `user_id` out of a permission set's inline policy, `before`
/// being the policy the containment found (`""`: none; `None`: not recorded). A statement with
/// Tourniquet's id that is not its deny is someone else's: an error, and it is left in place.
pub fn unmerge(
    current: &str,
    user_id: &str,
    before: Option<&str>,
) -> Result<Restored, PolicyError> {
    let Some(mut document) = parse(current)? else {
        return Ok(Restored::Absent);
    };
    let sid = sid(user_id);
    let mut list = statements(&document)?;
    let Some(at) = list.iter().position(|s| s["Sid"] == sid.as_str()) else {
        return Ok(Restored::Absent);
    };
    if list[at] != deny_statement(user_id) {
        return Err(PolicyError::NotOurs { sid });
    }
    list.remove(at);
    if list.is_empty() {
        return Ok(match before.map(parse) {
            Some(Ok(Some(prior))) if statements(&prior).is_ok_and(|s| s.is_empty()) => {
                Restored::Write {
                    document: before.unwrap_or_default().to_owned(),
                }
            }
            _ => Restored::Delete,
        });
    }
    document["Statement"] = Value::Array(list.clone());
    let unchanged = before
        .map(parse)
        .and_then(Result::ok)
        .flatten()
        .is_some_and(|prior| {
            statements(&prior).is_ok_and(|s| s == list) && same_but_statements(&prior, &document)
        });
    Ok(Restored::Write {
        document: match (unchanged, before) {
            (true, Some(text)) => text.to_owned(),
            _ => document.to_string(),
        },
    })
}

/// An account assignment: a permission set in an account, for the user or one of its groups.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Assignment {
    /// The account the permission set is provisioned to.
    pub account_id: String,
    /// The permission set.
    pub permission_set_arn: String,
    /// `USER` (the user's own) or `GROUP` (through a group).
    pub principal_type: String,
    /// The user's or the group's id.
    pub principal_id: String,
}

/// The user's membership of a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Membership {
    /// The membership's id (what `DeleteGroupMembership` takes).
    pub membership_id: String,
    /// The group.
    pub group_id: String,
}

/// A permission set assigned to the user, as it was read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PermissionSet {
    /// Its ARN.
    pub arn: String,
    /// Its name, when it could be read.
    pub name: Option<String>,
    /// Its inline policy (`""`: none), or why it could not be read.
    pub inline_policy: Result<String, Unread>,
}

/// What was read about a user: the evidence, and what the plan is made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct State {
    /// The instance.
    pub instance_arn: String,
    /// Its identity store.
    pub identity_store_id: String,
    /// The user's id.
    pub user_id: String,
    /// The user's name.
    pub user_name: Option<String>,
    /// The user as the identity store describes them (names, e-mails, ...).
    pub user: Value,
    /// Their groups.
    pub memberships: Vec<Membership>,
    /// Every assignment that reaches them, their own and their groups'.
    pub assignments: Vec<Assignment>,
    /// Every permission set of those assignments, each once.
    pub permission_sets: Vec<PermissionSet>,
}

/// One step of an Identity Center user's containment, and what it writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Planned {
    /// What it does.
    pub action: crate::plan::Action,
    /// What it acts on (a permission set's ARN, `<account>/<permission set ARN>`, a group id).
    pub target: String,
    /// The write.
    pub change: Change,
}

/// What a step writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// Merge the deny: put `document` (or nothing, when in place), then provision.
    Deny {
        /// The merge.
        merged: Merged,
        /// The inline policy as found (`""`: none).
        prior: String,
    },
    /// The deny cannot be merged; a human must act.
    Cannot {
        /// Why.
        why: String,
    },
    /// Remove the user's own assignment.
    Unassign(Assignment),
    /// Take the user out of a group.
    Leave(Membership),
}

/// The target of a [`crate::plan::Action::RemoveAccountAssignment`] step.
pub fn assignment_target(assignment: &Assignment) -> String {
    format!(
        "{}/{}",
        assignment.account_id, assignment.permission_set_arn
    )
}

/// The account and permission set a [`assignment_target`] names.
pub fn parse_assignment_target(target: &str) -> Option<(&str, &str)> {
    target.split_once('/').filter(|(account, set)| {
        crate::principal::check_account(account).is_ok() && is_permission_set_arn(set)
    })
}

/// The containment of a user: the deny in every permission set that reaches them, then (with
/// `remove_assignments`) their own assignments and group memberships taken away.
pub fn plan(state: &State, remove_assignments: bool) -> Vec<Planned> {
    use crate::plan::Action;
    let mut steps: Vec<Planned> = state
        .permission_sets
        .iter()
        .map(|set| {
            let change = match &set.inline_policy {
                Err(why) => Change::Cannot {
                    why: format!("its inline policy could not be read ({why})"),
                },
                Ok(prior) => match merge(prior, &state.user_id) {
                    Ok(merged) => Change::Deny {
                        merged,
                        prior: prior.clone(),
                    },
                    Err(why) => Change::Cannot {
                        why: why.to_string(),
                    },
                },
            };
            Planned {
                action: Action::DenyIdentityCenterUser,
                target: set.arn.clone(),
                change,
            }
        })
        .collect();
    if remove_assignments {
        let mut own: Vec<&Assignment> = state
            .assignments
            .iter()
            .filter(|a| a.principal_type == "USER" && a.principal_id == state.user_id)
            .collect();
        own.sort();
        own.dedup();
        steps.extend(own.into_iter().map(|a| Planned {
            action: Action::RemoveAccountAssignment,
            target: assignment_target(a),
            change: Change::Unassign(a.clone()),
        }));
        steps.extend(state.memberships.iter().map(|m| Planned {
            action: Action::RemoveGroupMembership,
            target: m.group_id.clone(),
            change: Change::Leave(m.clone()),
        }));
    }
    steps
}

/// One undo of a release, from the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Undo {
    /// A permission set's ARN, an assignment target, a group id.
    pub target: String,
    /// What to undo.
    pub kind: UndoKind,
}

/// What a release undoes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum UndoKind {
    /// Take Tourniquet's statement out of the permission set.
    Deny {
        /// The inline policy before the containment, as its first write recorded it.
        prior: Option<String>,
    },
    /// Create the user's assignment again.
    Assignment(Assignment),
    /// Put the user back in the group.
    Membership,
}

/// What a release undoes, from the ledger's steps for the user (oldest run first): every
/// permission set a deny was tried on (a failed provisioning may still have left the statement),
/// each once, with the policy its first write found; every assignment and membership removed.
pub fn undo_plan(steps: &[&crate::report::StepReport], user_id: &str) -> Vec<Undo> {
    use crate::plan::Action;
    use crate::report::Outcome;
    let mut undos: Vec<Undo> = Vec::new();
    for s in steps {
        let tried = matches!(
            s.outcome,
            Outcome::Applied | Outcome::AlreadyInPlace | Outcome::Failed
        );
        match s.action {
            Action::DenyIdentityCenterUser if tried && is_permission_set_arn(&s.target) => {
                match undos.iter_mut().find(|u| u.target == s.target) {
                    Some(Undo {
                        kind: UndoKind::Deny { prior },
                        ..
                    }) => {
                        if prior.is_none() {
                            prior.clone_from(&s.prior_policy);
                        }
                    }
                    _ => undos.push(Undo {
                        target: s.target.clone(),
                        kind: UndoKind::Deny {
                            prior: s.prior_policy.clone(),
                        },
                    }),
                }
            }
            Action::RemoveAccountAssignment if s.outcome == Outcome::Applied => {
                if let Some((account, set)) = parse_assignment_target(&s.target)
                    && !undos.iter().any(|u| u.target == s.target)
                {
                    undos.push(Undo {
                        target: s.target.clone(),
                        kind: UndoKind::Assignment(Assignment {
                            account_id: account.into(),
                            permission_set_arn: set.into(),
                            principal_type: "USER".into(),
                            principal_id: user_id.into(),
                        }),
                    });
                }
            }
            Action::RemoveGroupMembership
                if s.outcome == Outcome::Applied && !undos.iter().any(|u| u.target == s.target) =>
            {
                undos.push(Undo {
                    target: s.target.clone(),
                    kind: UndoKind::Membership,
                });
            }
            _ => {}
        }
    }
    undos
}

/// Whether two documents agree on everything but `Statement`.
fn same_but_statements(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.remove("Statement");
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "906702cf5c-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d";

    fn state(policies: &[(&str, Result<&str, &str>)]) -> State {
        State {
            instance_arn: "arn:aws:sso:::instance/ssoins-1111222233334444".into(),
            identity_store_id: "d-1234567890".into(),
            user_id: USER.into(),
            user_name: Some("alice".into()),
            user: Value::Null,
            memberships: vec![Membership {
                membership_id: "m-1".into(),
                group_id: "g-1".into(),
            }],
            assignments: vec![
                Assignment {
                    account_id: "111122223333".into(),
                    permission_set_arn: policies[0].0.into(),
                    principal_type: "USER".into(),
                    principal_id: USER.into(),
                },
                Assignment {
                    account_id: "444455556666".into(),
                    permission_set_arn: policies[0].0.into(),
                    principal_type: "GROUP".into(),
                    principal_id: "g-1".into(),
                },
            ],
            permission_sets: policies
                .iter()
                .map(|(arn, policy)| PermissionSet {
                    arn: (*arn).into(),
                    name: None,
                    inline_policy: policy.map(str::to_owned).map_err(Unread::from),
                })
                .collect(),
        }
    }

    const SET_A: &str = "arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-aaaaaaaaaaaaaaaa";
    const SET_B: &str = "arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-bbbbbbbbbbbbbbbb";

    #[test]
    fn the_plan_denies_in_every_permission_set_and_removes_only_when_asked() {
        let s = state(&[(SET_A, Ok("")), (SET_B, Err("AccessDeniedException"))]);
        let steps = plan(&s, false);
        assert_eq!(steps.len(), 2);
        assert!(matches!(
            &steps[0].change,
            Change::Deny { merged: Merged::Write { .. }, prior } if prior.is_empty()
        ));
        assert!(
            matches!(&steps[1].change, Change::Cannot { why } if why.contains("AccessDenied")),
            "{:?}",
            steps[1]
        );
        let steps = plan(&s, true);
        let targets: Vec<(&str, &str)> = steps
            .iter()
            .map(|p| (p.action.as_str(), p.target.as_str()))
            .collect();
        let own = format!("111122223333/{SET_A}");
        assert_eq!(
            targets[2..],
            [
                ("remove_account_assignment", own.as_str()),
                ("remove_group_membership", "g-1")
            ],
            "only the user's own assignment: the group's is left, the user leaves the group"
        );
        assert_eq!(parse_assignment_target(&own), Some(("111122223333", SET_A)));
        assert_eq!(parse_assignment_target("1111/x"), None);
    }

    #[test]
    fn options_name_the_variable_that_is_wrong() {
        let read = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Options::from_lookup(move |n| {
                pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
            })
            .map_err(|e| e.to_string())
        };
        assert_eq!(read(&[]).unwrap(), Options::default());
        let set = read(&[
            ("IDENTITY_CENTER_ACCOUNT", "111122223333"),
            ("IDENTITY_CENTER_REGION", "eu-west-1"),
            ("IDENTITY_CENTER_REMOVE_ASSIGNMENTS", "true"),
        ])
        .unwrap();
        assert_eq!(set.account.as_deref(), Some("111122223333"));
        assert!(set.remove_assignments);
        for (name, value) in [
            ("IDENTITY_CENTER_ACCOUNT", "1111"),
            ("IDENTITY_CENTER_REGION", "Europe"),
            ("IDENTITY_CENTER_INSTANCE_ARN", "ssoins-1"),
            ("IDENTITY_CENTER_REMOVE_ASSIGNMENTS", "yes"),
            (
                "IDENTITY_CENTER_PROTECTED_USERS",
                "breakglass@example.com,[oops",
            ),
        ] {
            let err = read(&[(name, value)]).unwrap_err();
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn a_protected_user_is_known_by_name_or_id_whatever_the_case() {
        let options = Options::from_lookup(|n| {
            (n == "IDENTITY_CENTER_PROTECTED_USERS")
                .then(|| format!(" BreakGlass*@example.com , {USER} "))
        })
        .unwrap();
        let by_name = options.protecting(Some("breakglass-1@Example.com"), "a-other-id");
        assert!(
            by_name
                .as_deref()
                .is_some_and(|w| w.contains("BreakGlass*@example.com")),
            "{by_name:?}"
        );
        // The id protects whatever name the store gives, and a name protects whatever id.
        assert!(options.protecting(Some("bob@example.com"), USER).is_some());
        assert!(options.protecting(None, &USER.to_uppercase()).is_some());
        assert_eq!(
            options.protecting(Some("alice@example.com"), "a-other-id"),
            None
        );
        assert_eq!(Options::default().protecting(Some("x"), USER), None);
    }

    #[test]
    fn user_ids_and_names_are_told_apart() {
        assert!(is_user_id(USER));
        assert!(is_user_id("1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"));
        assert!(!is_user_id("alice@example.com"));
        assert!(!is_user_id("1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6"));
        assert!(!is_user_id("zz2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"));
    }

    #[test]
    fn the_session_name_is_the_user_and_a_bad_one_is_none() {
        assert_eq!(
            session_user("AROAEXAMPLEROLEID001:alice@example.com"),
            Some("alice@example.com")
        );
        assert_eq!(session_user("AROAEXAMPLEROLEID001"), None);
        assert_eq!(session_user("AROAEXAMPLEROLEID001:"), None);
        assert_eq!(session_user("AROA:bad name"), None);
    }

    #[test]
    fn an_identity_center_session_arn_names_its_user_and_no_other_does() {
        assert_eq!(
            assumed_role_user(
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123abcd/alice@example.com"
            ),
            Some("alice@example.com")
        );
        assert_eq!(
            assumed_role_user(
                "arn:aws:sts::111122223333:assumed-role/app-worker/i-0b7e4c2a9d1f3e586"
            ),
            None
        );
        assert_eq!(
            assumed_role_user(
                "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123abcd"
            ),
            None
        );
    }

    #[test]
    fn permission_set_arns_are_told_from_other_arns() {
        assert!(is_permission_set_arn(
            "arn:aws:sso:::permissionSet/ssoins-1111222233334444/ps-aaaabbbbccccdddd"
        ));
        assert!(!is_permission_set_arn("arn:aws:iam::111122223333:role/x"));
        assert!(!is_permission_set_arn(
            "arn:aws:sso:::permissionSet/ssoins-1111"
        ));
        assert!(!is_permission_set_arn(
            "arn:aws:sso:::permissionSet/ssoins-1/ps-"
        ));
    }

    #[test]
    fn the_deny_names_only_the_user_and_its_sid_is_alphanumeric() {
        let s = deny_statement(USER);
        assert_eq!(s["Condition"]["StringEquals"]["identitystore:userId"], USER);
        assert_eq!(s["Effect"], "Deny");
        let sid = s["Sid"].as_str().unwrap();
        assert!(sid.chars().all(|c| c.is_ascii_alphanumeric()), "{sid}");
        assert!(sid.starts_with(SID_PREFIX));
    }

    #[test]
    fn merging_into_no_policy_makes_one_and_a_second_merge_is_in_place() {
        let Merged::Write { document, replaced } = merge("", USER).unwrap() else {
            panic!("expected a write");
        };
        assert!(!replaced);
        let value: Value = serde_json::from_str(&document).unwrap();
        assert_eq!(
            value["Statement"],
            serde_json::json!([deny_statement(USER)])
        );
        assert_eq!(merge(&document, USER).unwrap(), Merged::InPlace);
    }

    #[test]
    fn merging_keeps_every_other_statement_and_another_users_deny() {
        let existing = r#"{"Version":"2012-10-17","Statement":{"Sid":"ReadLogs","Effect":"Allow","Action":"logs:Get*","Resource":"*"}}"#;
        let Merged::Write {
            document: first, ..
        } = merge(existing, USER).unwrap()
        else {
            panic!("expected a write");
        };
        let other = "1a2b3c4d-5e6f-7a8b-9c0d-000000000000";
        let Merged::Write { document, .. } = merge(&first, other).unwrap() else {
            panic!("expected a write");
        };
        let list = statements(&serde_json::from_str(&document).unwrap()).unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0]["Sid"], "ReadLogs");
        assert_eq!(list[1], deny_statement(USER));
        assert_eq!(list[2], deny_statement(other));
    }

    #[test]
    fn a_statement_forged_with_our_sid_is_replaced_by_the_deny() {
        let forged = serde_json::json!({"Statement": [{
            "Sid": sid(USER), "Effect": "Allow", "Action": "*", "Resource": "*"
        }]})
        .to_string();
        let Merged::Write { document, replaced } = merge(&forged, USER).unwrap() else {
            panic!("a forged statement must not pass for the deny");
        };
        assert!(replaced);
        let list = statements(&serde_json::from_str(&document).unwrap()).unwrap();
        assert_eq!(list, vec![deny_statement(USER)]);
    }

    #[test]
    fn a_policy_that_is_not_a_document_or_would_be_too_long_is_an_error_naming_it() {
        assert!(
            merge("[1]", USER)
                .unwrap_err()
                .to_string()
                .contains("not a JSON object")
        );
        assert!(
            merge("{", USER)
                .unwrap_err()
                .to_string()
                .contains("not JSON")
        );
        assert!(
            merge(r#"{"Statement": 3}"#, USER)
                .unwrap_err()
                .to_string()
                .contains("Statement")
        );
        let big = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "x".repeat(INLINE_POLICY_MAX - 150)
        }]})
        .to_string();
        assert!(counted_length(&big) <= INLINE_POLICY_MAX);
        let err = merge(&big, USER).unwrap_err().to_string();
        assert!(err.contains("10240") && err.contains("full"), "{err}");
        // Whitespace does not count: the same policy pretty-printed fits no better, and a policy
        // just under the quota once its spaces are left out still takes the deny.
        let spaced = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": format!("{}{}", " ".repeat(20_000), "x".repeat(INLINE_POLICY_MAX - 400))
        }]})
        .to_string();
        assert!(spaced.len() > INLINE_POLICY_MAX);
        assert!(merge(&spaced, USER).is_ok(), "spaces are not counted");
    }

    #[test]
    fn release_puts_back_the_very_text_found_or_deletes_what_was_not_there() {
        let original = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{\"Sid\": \"ReadLogs\", \"Effect\": \"Allow\", \"Action\": \"logs:Get*\", \"Resource\": \"*\"}]\n}";
        let Merged::Write { document, .. } = merge(original, USER).unwrap() else {
            panic!("expected a write");
        };
        assert_eq!(
            unmerge(&document, USER, Some(original)).unwrap(),
            Restored::Write {
                document: original.into()
            }
        );
        let Merged::Write { document, .. } = merge("", USER).unwrap() else {
            panic!("expected a write");
        };
        assert_eq!(
            unmerge(&document, USER, Some("")).unwrap(),
            Restored::Delete
        );
        assert_eq!(unmerge(&document, USER, None).unwrap(), Restored::Delete);
        assert_eq!(unmerge("", USER, Some("")).unwrap(), Restored::Absent);
        assert_eq!(unmerge(original, USER, None).unwrap(), Restored::Absent);
    }

    #[test]
    fn release_keeps_what_changed_since_and_another_users_deny() {
        let Merged::Write { document, .. } = merge("", USER).unwrap() else {
            panic!("expected a write");
        };
        let other = "1a2b3c4d-5e6f-7a8b-9c0d-000000000000";
        let Merged::Write { document, .. } = merge(&document, other).unwrap() else {
            panic!("expected a write");
        };
        let Restored::Write { document } = unmerge(&document, USER, Some("")).unwrap() else {
            panic!("another user's deny stays");
        };
        let list = statements(&serde_json::from_str(&document).unwrap()).unwrap();
        assert_eq!(list, vec![deny_statement(other)]);
    }

    #[test]
    fn release_leaves_a_statement_under_our_sid_that_is_not_our_deny() {
        let changed = serde_json::json!({"Statement": [{
            "Sid": sid(USER), "Effect": "Deny", "Action": "s3:*", "Resource": "*"
        }]})
        .to_string();
        assert!(
            unmerge(&changed, USER, Some(""))
                .unwrap_err()
                .to_string()
                .contains("left in place")
        );
    }
}
