//! `audit`: the readiness audit of the account's IAM, run by a schedule or by hand; its findings
//! go to Security Hub, its report to the evidence bucket. Read-only towards IAM; see the README.

// One thread: the work is waiting on AWS, and Lambda gives a small function a fraction of a core.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tourniquet_aws::serve(tourniquet_aws::Playbook::Audit).await
}
