//! `contain`: the whole playbook (snapshot, deny, deactivate keys, tag) for every principal an
//! event names. Accepts GuardDuty findings and the manual request; see the README.

use lambda_runtime::{LambdaEvent, service_fn};
use playbook::Responder;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let responder = Responder::from_env().await?;
    let responder = &responder;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            responder.handle(event.payload).await
        },
    ))
    .await
}
