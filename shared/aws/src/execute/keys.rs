//! Access keys: deactivated by containment, reactivated by release; never deleted.

use super::{WriteError, Writer, failed};
use aws_sdk_iam::types::StatusType;

impl Writer<'_> {
    /// Sets an access key Inactive or Active. Never deletes it: it is evidence.
    pub(crate) async fn set_key_status(
        &self,
        key: &str,
        status: StatusType,
    ) -> Result<(), WriteError> {
        self.iam
            .update_access_key()
            .user_name(self.name())
            .access_key_id(key)
            .status(status)
            .send()
            .await
            .map(drop)
            .map_err(|e| failed(e, 1))
    }
}
