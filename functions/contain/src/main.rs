//! `contain`: the whole playbook (snapshot, deny, revoke sessions, deactivate keys, tag) for every principal an event names.
//! Accepts every event `contain` accepts; see the README.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    playbook::serve(playbook::Playbook::Contain).await
}
