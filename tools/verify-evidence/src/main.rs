//! `verify-evidence BUCKET INCIDENT_ID`: recomputes the SHA-256 of every evidence object of an
//! incident and compares it with each run's manifest. Uses the AWS SDK's own configuration
//! (profile, `AWS_REGION`, `AWS_ENDPOINT_URL`). Exit status 0: every object verifies; 1: some
//! object is altered, missing or unlisted; 2: the evidence could not be read at all.

use aws_config::BehaviorVersion;
use std::process::ExitCode;
use tourniquet_aws::evidence::{Check, verify};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bucket, incident] = &args[..] else {
        eprintln!("usage: verify-evidence BUCKET INCIDENT_ID");
        return ExitCode::from(2);
    };
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build(),
    );
    let checks = match verify(
        &tourniquet_aws::sdk::S3Evidence::new(s3.clone(), bucket),
        incident,
    )
    .await
    {
        Ok(checks) => checks,
        Err(err) => {
            eprintln!("verify-evidence: {err}");
            return ExitCode::from(2);
        }
    };
    for check in &checks {
        match check {
            Check::Verified { key } => println!("ok        {key}"),
            Check::Mismatch {
                key,
                expected,
                actual,
            } => {
                println!(
                    "ALTERED   {key}\n          manifest {expected}\n          now      {actual}"
                )
            }
            Check::Missing { key, error } => println!("MISSING   {key} ({error})"),
            Check::Unlisted { key } => println!("UNLISTED  {key} (not in its run's manifest)"),
            Check::Replaced { key, versions } => println!(
                "REPLACED  {key} ({versions} versions or delete markers: written over or deleted since)"
            ),
        }
    }
    let bad = checks.iter().filter(|c| !c.is_verified()).count();
    println!(
        "{} of {} objects verify; {bad} do not",
        checks.len() - bad,
        checks.len()
    );
    if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
