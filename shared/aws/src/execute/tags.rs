//! Tags on the principal: the incident, its start and session cutoff; the release's record.

use super::{WriteError, Writer, failed};
use aws_sdk_iam::types::Tag;

impl Writer<'_> {
    /// Writes tags on the principal (the incident's, or a release's record).
    pub async fn tag(&self, tags: &[(String, String)]) -> Result<(), WriteError> {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| WriteError {
                message: e.to_string(),
                limit_exceeded: false,
                calls: 0,
            })?;
        if self.is_role() {
            let out = self
                .iam
                .tag_role()
                .role_name(self.name())
                .set_tags(Some(tags))
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, 1))
        } else {
            let out = self
                .iam
                .tag_user()
                .user_name(self.name())
                .set_tags(Some(tags))
                .send()
                .await;
            out.map(drop).map_err(|e| failed(e, 1))
        }
    }
}
