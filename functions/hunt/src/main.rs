//! `hunt`: what compromised credentials did, read from CloudTrail's event history, and
//! `contain`'s steps for the users, keys and role sessions they left. Run by hand
//! (`{"hunt": {"incident_id": ..., "access_key_ids": [...]}}`), and by the hunt queue for the
//! second hunt `contain` queued; see the README.

// One thread: the work is waiting on AWS, and Lambda gives a small function a fraction of a core.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tourniquet_aws::serve(tourniquet_aws::Playbook::Hunt).await
}
