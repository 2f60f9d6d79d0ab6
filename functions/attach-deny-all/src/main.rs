//! `attach-deny-all`: puts the deny-all policy on every user or role an event names.
//! Accepts every event `contain` accepts; see the README.

// One thread: the work is waiting on AWS, and Lambda gives a small function a fraction of a core.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tourniquet_aws::serve(tourniquet_aws::Playbook::AttachDenyAll).await
}
