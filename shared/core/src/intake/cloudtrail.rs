//! CloudTrail events through EventBridge (API calls and console sign-ins): the acting principal
//! from `userIdentity` is the target; for an assumed role, the role from its session issuer.

use super::{Incident, Intake, Source, Target, Trigger, check_incident_id, ignored, principal_at};
use crate::error::InputError;
use crate::principal::{Principal, check_access_key_id};
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Record {
    #[serde(rename = "eventID")]
    event_id: String,
    event_name: String,
    event_source: String,
    user_identity: UserIdentity,
    #[serde(default)]
    response_elements: Value,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    #[serde(rename = "type")]
    identity_type: String,
    arn: Option<String>,
    account_id: Option<String>,
    access_key_id: Option<String>,
    session_context: Option<SessionContext>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext {
    session_issuer: Option<SessionIssuer>,
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer {
    arn: Option<String>,
}

pub(super) fn parse(event: EventBridgeEvent<Record>) -> Result<Intake, InputError> {
    let record = event.detail;
    let identity = &record.user_identity;
    let what = format!("{} {}", record.event_source, record.event_name);
    if record.response_elements["ConsoleLogin"] == "Failure" {
        // Anyone can fail to sign in as anyone: acting on it would let an attacker lock users out.
        return ignored(format!(
            "{what} failed: a failed sign-in is no proof the credentials leaked"
        ));
    }
    let principal = match identity.identity_type.as_str() {
        "IAMUser" => {
            let arn = identity.arn.as_deref().unwrap_or_default();
            principal_at("detail.userIdentity.arn", arn)?
        }
        "AssumedRole" => {
            let issuer = identity
                .session_context
                .as_ref()
                .and_then(|c| c.session_issuer.as_ref())
                .and_then(|i| i.arn.as_deref());
            match issuer {
                Some(arn) => {
                    principal_at("detail.userIdentity.sessionContext.sessionIssuer.arn", arn)?
                }
                None => principal_at(
                    "detail.userIdentity.arn",
                    identity.arn.as_deref().unwrap_or_default(),
                )?,
            }
        }
        "Root" => {
            let account = identity.account_id.as_deref().unwrap_or_default();
            Principal::root(account)
                .map_err(|e| InputError::new("detail.userIdentity.accountId", e))?
        }
        other => {
            return ignored(format!(
                "{what} was made by a `{other}` identity, which is not an IAM user, role or root"
            ));
        }
    };
    let key = identity
        .access_key_id
        .clone()
        .filter(|k| check_access_key_id(k).is_ok());
    check_incident_id("detail.eventID", &record.event_id)?;
    // A session of an Identity Center role: CloudTrail's own `userIdentity.arn` names the user
    // (the session name), who is contained in Identity Center; the role stays IAM's to refuse.
    if crate::identity_center::is_identity_center_role(&principal.name)
        && let Some(user) = identity
            .arn
            .as_deref()
            .and_then(crate::identity_center::assumed_role_user)
    {
        return Ok(Intake::Incident(Box::new(Incident {
            reason: Some(what),
            identity_center_users: vec![crate::identity_center::UserClaim {
                user: user.to_owned(),
                seen_as: Some(principal.arn()),
                from_session: true,
            }],
            ..Incident::new(
                format!("cloudtrail-{}", record.event_id),
                Source::CloudTrail,
                Trigger::Automatic,
                Vec::new(),
            )
        })));
    }
    Ok(Intake::Incident(Box::new(Incident {
        reason: Some(what),
        ..Incident::new(
            format!("cloudtrail-{}", record.event_id),
            Source::CloudTrail,
            Trigger::Automatic,
            vec![Target::principal(principal, key)],
        )
    })))
}
