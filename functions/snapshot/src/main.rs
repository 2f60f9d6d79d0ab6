//! `snapshot`: the forensic snapshot of every principal an event names, written to the evidence store; no IAM write.
//! Accepts every event `contain` accepts; see the README.

// One thread: the work is waiting on AWS, and Lambda gives a small function a fraction of a core.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tourniquet_aws::serve(tourniquet_aws::Playbook::Snapshot).await
}
