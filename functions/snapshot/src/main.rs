//! `snapshot`: the forensic snapshot of every principal an event names, written to the evidence store; no IAM write.
//! Accepts every event `contain` accepts; see the README.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    playbook::serve(playbook::Playbook::Snapshot).await
}
