//! The manual request of the public contract, as a responder types it into the console.

use super::{
    AccountSet, Across, Incident, Intake, Source, Target, Trigger, check_incident_id, digest,
};
use crate::error::InputError;
use crate::principal::{Principal, check_access_key_id};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualRequest {
    principal_arn: Option<String>,
    /// With `accounts`: the same principal in many accounts (`role/ci-deployer`).
    principal_name: Option<String>,
    accounts: Option<Value>,
    access_key_id: Option<String>,
    /// An IAM Identity Center user, by user name or user id: contained in Identity Center.
    identity_center_user: Option<String>,
    incident_id: Option<String>,
    reason: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// Read by [`super::parse`] for every payload; accepted here so it is not an unknown field.
    #[serde(default, rename = "max_principals")]
    _max_principals: Option<Value>,
}

pub(super) fn parse(event: &Value) -> Result<Intake, InputError> {
    let request: ManualRequest = super::deserialize(event)?;
    if request.identity_center_user.is_some() {
        return identity_center(request);
    }
    if request.principal_name.is_some() || request.accounts.is_some() {
        return across(request);
    }
    if request.principal_arn.is_none() && request.access_key_id.is_none() {
        return Err(InputError::new(
            "principal_arn",
            "give `principal_arn` (an IAM user or role ARN), `access_key_id`, or both",
        ));
    }
    let principal = request
        .principal_arn
        .as_deref()
        .map(Principal::parse_arn)
        .transpose()
        .map_err(|e| InputError::new("principal_arn", e))?;
    if let Some(key) = &request.access_key_id {
        check_access_key_id(key).map_err(|e| InputError::new("access_key_id", e))?;
        if principal.is_none() && key.starts_with("ASIA") {
            return Err(InputError::new(
                "access_key_id",
                format!(
                    "{key} is a temporary (STS) key, whose role IAM cannot look up: name the role \
                     with `principal_arn` (CloudTrail's userIdentity.sessionContext.sessionIssuer \
                     shows it)"
                ),
            ));
        }
    }
    let id = match request.incident_id {
        Some(id) => check_incident_id("incident_id", &id).map(|()| id)?,
        // The same request replayed gets the same id, so it is recognised as the same incident.
        None => format!(
            "manual-{}",
            digest(&format!(
                "{}|{}",
                request.principal_arn.as_deref().unwrap_or_default(),
                request.access_key_id.as_deref().unwrap_or_default()
            ))
        ),
    };
    let keys = request.access_key_id.clone().into_iter();
    let target = match principal {
        Some(p) => Target::principal(p, keys),
        None => Target::key(request.access_key_id.unwrap_or_default(), None),
    };
    Ok(Intake::Incident(Box::new(Incident {
        reason: request.reason,
        dry_run: request.dry_run,
        ..Incident::new(id, Source::Manual, Trigger::Human, vec![target])
    })))
}

/// An Identity Center user, by name or id, alone in its request.
fn identity_center(request: ManualRequest) -> Result<Intake, InputError> {
    let user = request.identity_center_user.unwrap_or_default();
    crate::identity_center::check_user(&user)
        .map_err(|e| InputError::new("identity_center_user", e))?;
    for (field, given) in [
        ("principal_arn", request.principal_arn.is_some()),
        ("principal_name", request.principal_name.is_some()),
        ("accounts", request.accounts.is_some()),
        ("access_key_id", request.access_key_id.is_some()),
    ] {
        if given {
            return Err(InputError::new(
                field,
                "not with `identity_center_user`: an Identity Center user is contained in \
                 Identity Center, an IAM principal in IAM; send one request for each",
            ));
        }
    }
    let id = match request.incident_id {
        Some(id) => check_incident_id("incident_id", &id).map(|()| id)?,
        None => format!("manual-{}", digest(&format!("identity-center|{user}"))),
    };
    Ok(Intake::Incident(Box::new(Incident {
        reason: request.reason,
        dry_run: request.dry_run,
        identity_center_users: vec![crate::identity_center::UserClaim {
            user,
            seen_as: None,
            from_session: false,
        }],
        ..Incident::new(id, Source::Manual, Trigger::Human, Vec::new())
    })))
}

/// An organization-wide request: `principal_name` in every account `accounts` selects.
fn across(request: ManualRequest) -> Result<Intake, InputError> {
    if request.principal_arn.is_some() || request.access_key_id.is_some() {
        return Err(InputError::new(
            "principal_name",
            "give either `principal_arn`/`access_key_id` (one principal) or `principal_name` with \
             `accounts` (the same principal in many accounts), not both",
        ));
    }
    let Some(name) = request.principal_name else {
        return Err(InputError::new(
            "principal_name",
            "missing: `accounts` needs the principal to contain in each, like \"role/ci-deployer\"",
        ));
    };
    let Some(accounts) = request.accounts else {
        return Err(InputError::new(
            "accounts",
            "missing: name where to contain `principal_name`: \"all\", a list of account ids, or {\"ou\": \"ou-...\"}",
        ));
    };
    if name.starts_with("arn:") {
        return Err(InputError::new(
            "principal_name",
            format!(
                "`{name}` is an ARN: give the name without its account, like \"role/ci-deployer\""
            ),
        ));
    }
    let principal = Principal::parse_arn(&format!("arn:aws:iam::{PLACEHOLDER_ACCOUNT}:{name}"))
        .ok()
        .filter(|p| p.kind != crate::principal::PrincipalKind::Root)
        .ok_or_else(|| {
            InputError::new(
                "principal_name",
                format!("`{name}` is not `role/NAME` or `user/NAME` (a path may come before NAME)"),
            )
        })?;
    let set = account_set(&accounts)?;
    let id = match request.incident_id {
        Some(id) => check_incident_id("incident_id", &id).map(|()| id)?,
        None => format!("manual-{}", digest(&format!("{name}|{accounts}"))),
    };
    Ok(Intake::Incident(Box::new(Incident {
        reason: request.reason,
        dry_run: request.dry_run,
        across: Some(Box::new(Across {
            principal,
            accounts: set,
        })),
        ..Incident::new(id, Source::Manual, Trigger::Human, Vec::new())
    })))
}

/// The account a request's `principal_name` is parsed with, replaced by each account's.
pub(super) const PLACEHOLDER_ACCOUNT: &str = "000000000000";

fn account_set(accounts: &Value) -> Result<AccountSet, InputError> {
    let what = "must be \"all\", a list of 12-digit account ids, or {\"ou\": \"ou-...\"} (an \
                organizational unit, or the root r-...)";
    match accounts {
        Value::String(all) if all == "all" => Ok(AccountSet::All),
        Value::Array(ids) if !ids.is_empty() => {
            let mut listed: Vec<String> = Vec::new();
            for (i, id) in ids.iter().enumerate() {
                let field = format!("accounts[{i}]");
                let id = id.as_str().ok_or_else(|| {
                    InputError::new(&field, format!("`{id}` is not an account id"))
                })?;
                crate::principal::check_account(id).map_err(|e| InputError::new(&field, e))?;
                if !listed.iter().any(|l| l == id) {
                    listed.push(id.to_owned());
                }
            }
            Ok(AccountSet::Listed(listed))
        }
        Value::Object(ou) if ou.len() == 1 && ou.contains_key("ou") => {
            let id = ou["ou"].as_str().unwrap_or_default();
            let valid = |prefix: &str| {
                id.strip_prefix(prefix).is_some_and(|rest| {
                    !rest.is_empty()
                        && rest.len() <= 70
                        && rest
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
            };
            if valid("ou-") || valid("r-") {
                Ok(AccountSet::Ou(id.to_owned()))
            } else {
                Err(InputError::new(
                    "accounts.ou",
                    format!(
                        "`{}` is not an organizational unit id (ou-...) or root id (r-...)",
                        ou["ou"]
                    ),
                ))
            }
        }
        other => Err(InputError::new("accounts", format!("`{other}` {what}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    principal_arn: Option<String>,
    identity_center_user: Option<String>,
    incident_id: Option<String>,
    #[serde(default)]
    reactivate_access_keys: Vec<String>,
    #[serde(default)]
    reactivate_credentials: Vec<String>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    dry_run: bool,
    reason: Option<String>,
}

/// What `release` is asked to undo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseRequest {
    /// The principal to release.
    pub principal: Principal,
    /// The containment to undo.
    pub incident_id: String,
    /// Keys named as compromised to set Active again (by default they stay inactive).
    pub reactivate_access_keys: Vec<String>,
    /// Other credentials (signing certificates, SSH public keys, service-specific credentials)
    /// to set Active again, by id (by default they stay inactive).
    pub reactivate_credentials: Vec<String>,
    /// Release despite drift, undoing only what still matches the ledger.
    pub force: bool,
    /// Plan only.
    pub dry_run: bool,
    /// Why, for the report.
    pub reason: Option<String>,
}

/// Reads a release request:
/// `{"principal_arn": ..., "incident_id": ..., "reactivate_access_keys": [...], "force": false, "dry_run": true}`.
pub fn parse_release(event: &Value) -> Result<ReleaseRequest, InputError> {
    if !event.is_object() {
        return Err(InputError::new(
            "(event)",
            "expected a JSON object: a release request",
        ));
    }
    let body: ReleaseBody = super::deserialize(event)?;
    if body.identity_center_user.is_some() {
        return Err(InputError::new(
            "identity_center_user",
            "an Identity Center user's release is read by parse_identity_center_release",
        ));
    }
    let Some(arn) = body.principal_arn else {
        return Err(InputError::new(
            "principal_arn",
            "missing: name the user or role to release (or `identity_center_user`)",
        ));
    };
    let principal = Principal::parse_arn(&arn).map_err(|e| InputError::new("principal_arn", e))?;
    let Some(incident_id) = body.incident_id else {
        return Err(InputError::new(
            "incident_id",
            "missing: name the containment to undo (the principal's tourniquet:incident tag)",
        ));
    };
    check_incident_id("incident_id", &incident_id)?;
    for (i, key) in body.reactivate_access_keys.iter().enumerate() {
        check_access_key_id(key)
            .map_err(|e| InputError::new(format!("reactivate_access_keys[{i}]"), e))?;
    }
    for (i, id) in body.reactivate_credentials.iter().enumerate() {
        // IAM's ids of these credentials: 16 to 128 letters and digits.
        if !(16..=128).contains(&id.len()) || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(InputError::new(
                format!("reactivate_credentials[{i}]"),
                format!(
                    "`{id}` is not a credential id (a signing certificate's, an SSH public key's \
                     APKA..., a service-specific credential's ACCA...)"
                ),
            ));
        }
    }
    Ok(ReleaseRequest {
        principal,
        incident_id,
        reactivate_access_keys: body.reactivate_access_keys,
        reactivate_credentials: body.reactivate_credentials,
        force: body.force,
        dry_run: body.dry_run,
        reason: body.reason,
    })
}

/// What `release` is asked to undo for an Identity Center user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityCenterRelease {
    /// The user, by name or id.
    pub user: String,
    /// The containment to undo.
    pub incident_id: String,
    /// Plan only.
    pub dry_run: bool,
    /// Why, for the report.
    pub reason: Option<String>,
}

/// Reads a release request for an Identity Center user (`{"identity_center_user": ...,
/// "incident_id": ...}`); `None` when the request names none (an IAM principal's release).
pub fn parse_identity_center_release(
    event: &Value,
) -> Result<Option<IdentityCenterRelease>, InputError> {
    if event.get("identity_center_user").is_none() {
        return Ok(None);
    }
    let body: ReleaseBody = super::deserialize(event)?;
    let user = body.identity_center_user.unwrap_or_default();
    crate::identity_center::check_user(&user)
        .map_err(|e| InputError::new("identity_center_user", e))?;
    for (field, given) in [
        ("principal_arn", body.principal_arn.is_some()),
        (
            "reactivate_access_keys",
            !body.reactivate_access_keys.is_empty(),
        ),
        (
            "reactivate_credentials",
            !body.reactivate_credentials.is_empty(),
        ),
        ("force", body.force),
    ] {
        if given {
            return Err(InputError::new(
                field,
                "not with `identity_center_user`: an Identity Center user's release takes off \
                 Tourniquet's statements and puts back what was removed, nothing else",
            ));
        }
    }
    let Some(incident_id) = body.incident_id else {
        return Err(InputError::new(
            "incident_id",
            "missing: name the containment to undo (the report's incident_id)",
        ));
    };
    check_incident_id("incident_id", &incident_id)?;
    Ok(Some(IdentityCenterRelease {
        user,
        incident_id,
        dry_run: body.dry_run,
        reason: body.reason,
    }))
}
