//! The quarantine group, which carries the managed deny for a user with no room for another policy.

use super::managed::Managed;
use super::{Route, WriteError, Writer, Written, exists_is_ok, failed};
use crate::plan;

impl Writer<'_> {
    pub(super) async fn quarantine(&self, deny: Managed) -> Result<Written, WriteError> {
        let group = plan::QUARANTINE_GROUP;
        // After the policy's calls and the attach that did not fit.
        let base = deny.calls + 1;
        let created = self
            .iam
            .create_group()
            .group_name(group)
            .path(plan::MANAGED_PATH)
            .send()
            .await;
        exists_is_ok(created, base + 1)?;
        self.iam
            .attach_group_policy()
            .group_name(group)
            .policy_arn(&deny.arn)
            .send()
            .await
            .map_err(|e| failed(e, base + 2))?;
        self.iam
            .add_user_to_group()
            .group_name(group)
            .user_name(self.name())
            .send()
            .await
            .map_err(|e| failed(e, base + 3))?;
        Ok(Written {
            route: Some(Route::QuarantineGroup),
            calls: base + 3,
            managed: Some(deny),
        })
    }
}
