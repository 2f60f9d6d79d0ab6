//! A user's other credentials (signing certificates, SSH public keys, service-specific
//! credentials such as Bedrock API keys): deactivated by containment, reactivated by release;
//! never deleted.

use super::{WriteError, Writer, failed};
use crate::plan::CredentialKind;
use aws_sdk_iam::types::StatusType;

impl Writer<'_> {
    /// Sets the credential a `<kind>:<id>` target names Inactive or Active.
    pub(crate) async fn set_credential_status(
        &self,
        target: &str,
        status: StatusType,
    ) -> Result<(), WriteError> {
        let Some((kind, id)) = CredentialKind::parse_target(target) else {
            return Err(WriteError {
                message: format!("`{target}` names no credential (`<kind>:<id>`)"),
                limit_exceeded: false,
                calls: 0,
            });
        };
        let user = self.name();
        match kind {
            CredentialKind::SigningCertificate => self
                .iam
                .update_signing_certificate()
                .user_name(user)
                .certificate_id(id)
                .status(status)
                .send()
                .await
                .map(drop)
                .map_err(|e| failed(e, 1)),
            CredentialKind::SshPublicKey => self
                .iam
                .update_ssh_public_key()
                .user_name(user)
                .ssh_public_key_id(id)
                .status(status)
                .send()
                .await
                .map(drop)
                .map_err(|e| failed(e, 1)),
            CredentialKind::ServiceSpecificCredential => self
                .iam
                .update_service_specific_credential()
                .user_name(user)
                .service_specific_credential_id(id)
                .status(status)
                .send()
                .await
                .map(drop)
                .map_err(|e| failed(e, 1)),
        }
    }
}
