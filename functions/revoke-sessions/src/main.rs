//! `revoke-sessions`: denies every session issued before now to the users and roles an event names.
//! Accepts every event `contain` accepts; see the README.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    playbook::serve(playbook::Playbook::RevokeSessions).await
}
