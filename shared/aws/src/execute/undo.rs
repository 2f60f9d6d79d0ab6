//! Release's writes: Tourniquet's own deny comes off by the route it went on, its tags come
//! off. Nothing else is ever removed.

use super::{WriteError, Writer, failed};
use crate::plan;

impl Writer<'_> {
    /// Undoes a deny by the route it was put in place: the inline `TourniquetDenyAll` comes off,
    /// the managed `/tourniquet/TourniquetDenyAll` is detached (not deleted: other principals may
    /// carry it), or the user leaves the quarantine group. The names are Tourniquet's own
    /// constants; the one exception, the policy Tourniquet made beside a look-alike of its name
    /// (`scoped`, from the verified ledger), is detached only when it is that name with a scope
    /// ([`plan::is_recorded_policy_of`]), so no record can aim this at anything else.
    pub async fn remove_deny(
        &self,
        route: plan::Route,
        scoped: Option<&str>,
    ) -> Result<(), WriteError> {
        let name = plan::DENY_POLICY_NAME;
        let named = plan::managed_policy_arn(self.principal, name);
        let arn = scoped
            .filter(|s| plan::is_recorded_policy_of(s, &named))
            .map_or(named.clone(), str::to_owned);
        let user = self.name();
        match (route, self.is_role()) {
            (plan::Route::Managed, true) => {
                let out = self
                    .iam
                    .detach_role_policy()
                    .role_name(user)
                    .policy_arn(arn)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            (plan::Route::Managed, false) => {
                let out = self
                    .iam
                    .detach_user_policy()
                    .user_name(user)
                    .policy_arn(arn)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            (plan::Route::QuarantineGroup, _) => {
                let out = self
                    .iam
                    .remove_user_from_group()
                    .group_name(plan::QUARANTINE_GROUP)
                    .user_name(user)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            (plan::Route::Inline, true) => {
                let out = self
                    .iam
                    .delete_role_policy()
                    .role_name(user)
                    .policy_name(name)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            (plan::Route::Inline, false) => {
                let out = self
                    .iam
                    .delete_user_policy()
                    .user_name(user)
                    .policy_name(name)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
        }
    }

    /// Sets a key Active again.
    pub async fn reactivate_key(&self, key: &str) -> Result<(), WriteError> {
        self.set_key_status(key, aws_sdk_iam::types::StatusType::Active)
            .await
    }

    /// Sets a signing certificate, SSH public key or service-specific credential Active again.
    pub async fn reactivate_credential(&self, target: &str) -> Result<(), WriteError> {
        self.set_credential_status(target, aws_sdk_iam::types::StatusType::Active)
            .await
    }

    /// Removes tags by key.
    pub async fn untag(&self, keys: &[&str]) -> Result<(), WriteError> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        if self.is_role() {
            let out = self
                .iam
                .untag_role()
                .role_name(self.name())
                .set_tag_keys(Some(keys))
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, 1))
        } else {
            let out = self
                .iam
                .untag_user()
                .user_name(self.name())
                .set_tag_keys(Some(keys))
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, 1))
        }
    }
}
