//! Tourniquet's playbook: everything the Lambda functions do, shared by all of them.
//!
//! The shape is a functional core and an imperative shell:
//! - [`intake`] turns an event into an [`intake::Incident`] (pure);
//! - [`plan`] decides the steps and judges their outcomes from what IAM said (pure);
//! - [`responder`] is the one place that talks to AWS: it reads, writes in waves, and reports;
//! - [`snapshot`] and [`evidence`] are the reads and the writes of forensic evidence;
//! - [`pace`] paces every IAM request of an account through one token bucket, writes first;
//! - [`notify`] words what a run did for the humans: the SNS message and the finding's note (pure);
//! - [`audit`] checks an account's IAM against the practices that prevent a leak (pure); the
//!   responder reads the account for it and imports its findings to Security Hub;
//! - [`identity_center`] decides the deny an Identity Center user gets in each permission set,
//!   and how a release takes it off (pure);
//! - [`hunt`] classifies what a stolen credential did from CloudTrail records and decides what may
//!   be followed (pure); the responder reads CloudTrail after the containment and contains it.

pub mod audit;
pub mod config;
pub mod error;
pub mod evidence;
pub mod execute;
pub mod fanout;
pub mod guard;
pub mod hunt;
pub mod identity_center;
pub mod intake;
pub mod ledger;
pub mod notify;
pub mod pace;
pub mod plan;
pub mod principal;
pub mod release;
pub mod report;
pub mod responder;
pub mod runtime;
pub mod snapshot;
pub mod step;

pub use config::Config;
pub use error::Error;
pub use plan::Playbook;
pub use report::Report;
pub use responder::Responder;
pub use runtime::serve;
