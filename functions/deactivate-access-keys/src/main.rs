//! `deactivate-access-keys`: deactivates every active access key of the users an event names (never deletes them).
//! Accepts every event `contain` accepts; see the README.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    playbook::serve(playbook::Playbook::DeactivateAccessKeys).await
}
