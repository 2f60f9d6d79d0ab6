//! `attach-deny-all`: puts the deny-all policy on every user or role an event names.
//! Accepts every event `contain` accepts; see the README.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    playbook::serve(playbook::Playbook::AttachDenyAll).await
}
