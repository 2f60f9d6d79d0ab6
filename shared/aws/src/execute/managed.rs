//! Tourniquet's managed policies under `/tourniquet/`: created once, attached to the principal.

use super::{WriteError, Writer, exists_is_ok, failed};
use crate::plan;

impl Writer<'_> {
    pub(super) async fn managed_policy(
        &self,
        name: &str,
        document: String,
        calls: u32,
    ) -> Result<String, WriteError> {
        let created = self
            .iam
            .create_policy()
            .policy_name(name)
            .path(plan::MANAGED_PATH)
            .policy_document(document)
            .description("Tourniquet containment; see the incident tags on the principal")
            .send()
            .await;
        exists_is_ok(created, calls + 1)?;
        Ok(format!(
            "arn:{}:iam::{}:policy{}{name}",
            self.principal.partition,
            self.principal.account_id,
            plan::MANAGED_PATH
        ))
    }

    pub(super) async fn attach(&self, arn: &str, calls: u32) -> Result<(), WriteError> {
        if self.is_role() {
            let out = self
                .iam
                .attach_role_policy()
                .role_name(self.name())
                .policy_arn(arn)
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, calls + 1))
        } else {
            let out = self
                .iam
                .attach_user_policy()
                .user_name(self.name())
                .policy_arn(arn)
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, calls + 1))
        }
    }
}
