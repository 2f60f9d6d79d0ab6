//! Release's writes: Tourniquet's own deny comes off by the route it went on, its tags come
//! off. Nothing else is ever removed.

use super::{WriteError, Writer, failed};
use crate::plan;

impl Writer<'_> {
    /// Undoes a deny by the route it was put in place: the inline policy comes off, the managed one
    /// is detached (not deleted: other principals may carry it), or the user leaves the group.
    pub async fn remove_deny(&self, name: &str, route: &str) -> Result<(), WriteError> {
        let arn = format!(
            "arn:{}:iam::{}:policy{}{name}",
            self.principal.partition,
            self.principal.account_id,
            plan::MANAGED_PATH
        );
        let user = self.name();
        match (route, self.is_role()) {
            ("managed", true) => {
                let out = self
                    .iam
                    .detach_role_policy()
                    .role_name(user)
                    .policy_arn(arn)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            ("managed", false) => {
                let out = self
                    .iam
                    .detach_user_policy()
                    .user_name(user)
                    .policy_arn(arn)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            ("quarantine_group", _) => {
                let out = self
                    .iam
                    .remove_user_from_group()
                    .group_name(plan::QUARANTINE_GROUP)
                    .user_name(user)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            (_, true) => {
                let out = self
                    .iam
                    .delete_role_policy()
                    .role_name(user)
                    .policy_name(name)
                    .send()
                    .await;
                out.map(drop).map_err(|e| failed(e, 1))
            }
            (_, false) => {
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
