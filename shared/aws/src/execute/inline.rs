//! Inline policies on the principal: the deny-all and the revoke-older-sessions policy.

use super::{WriteError, Writer, failed};

impl Writer<'_> {
    pub(super) async fn put_inline(&self, name: &str, document: String) -> Result<(), WriteError> {
        if self.is_role() {
            self.iam
                .put_role_policy()
                .role_name(self.name())
                .policy_name(name)
                .policy_document(document)
                .send()
                .await
                .map(drop)
                .map_err(|e| failed(e, 1))
        } else {
            self.iam
                .put_user_policy()
                .user_name(self.name())
                .policy_name(name)
                .policy_document(document)
                .send()
                .await
                .map(drop)
                .map_err(|e| failed(e, 1))
        }
    }
}
