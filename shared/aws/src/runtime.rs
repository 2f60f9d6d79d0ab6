//! The Lambda entry point every function binary calls: logging, clients built once, then the loop.

use crate::plan::Playbook;
use crate::responder::Responder;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

/// Runs `playbook` as a Lambda function until the runtime stops it.
///
/// Configuration errors (a missing `EVIDENCE_BUCKET`, a malformed `PROTECTED_PRINCIPALS`) stop the
/// function at start-up with a message that names the variable.
pub async fn serve(playbook: Playbook) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let responder = Responder::from_env(playbook).await?;
    let responder = &responder;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline =
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(event.context.deadline);
        responder.invoke(event.payload, Some(deadline)).await
    }))
    .await
}
