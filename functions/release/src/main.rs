//! `release`: undoes a containment from the ledger its reports keep in the evidence store.
//! Takes `{"principal_arn", "incident_id", "reactivate_access_keys", "force", "dry_run"}`; see the README.

// One thread: the work is waiting on AWS, and Lambda gives a small function a fraction of a core.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tourniquet_aws::serve(tourniquet_aws::Playbook::Release).await
}
