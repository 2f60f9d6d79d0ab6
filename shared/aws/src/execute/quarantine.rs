//! The quarantine group, which carries the managed deny for a user with no room for another policy.

use super::{Route, WriteError, Writer, Written, exists_is_ok, failed};
use crate::plan;

impl Writer<'_> {
    pub(super) async fn quarantine(&self, deny_arn: &str) -> Result<Written, WriteError> {
        let group = plan::QUARANTINE_GROUP;
        let created = self
            .iam
            .create_group()
            .group_name(group)
            .path(plan::MANAGED_PATH)
            .send()
            .await;
        exists_is_ok(created, 3)?;
        self.iam
            .attach_group_policy()
            .group_name(group)
            .policy_arn(deny_arn)
            .send()
            .await
            .map_err(|e| failed(e, 4))?;
        self.iam
            .add_user_to_group()
            .group_name(group)
            .user_name(self.name())
            .send()
            .await
            .map_err(|e| failed(e, 5))?;
        Ok(Written {
            route: Some(Route::QuarantineGroup),
            calls: 5,
        })
    }
}
