//! Tourniquet's shell: the one crate that talks to AWS. It reads the configuration, carries out
//! what the core ([`tourniquet_core`]) decides against IAM, STS, S3, CloudTrail, Identity Center,
//! SNS and SQS, and serves the Lambda runtime.
//!
//! - [`config`] reads the environment once, at start-up;
//! - [`responder`] runs the phases over the AWS clients: resolve, contain, investigate, record,
//!   report; release, hunt, dispatch and work items;
//! - [`snapshot`] and [`evidence`] are the reads and the writes of forensic evidence;
//! - [`execute`] writes one step to IAM; [`pace`] paces every IAM request of an account through
//!   one token bucket, writes first;
//! - [`ports`] are the narrow traits the phases reach the outside world through; [`sdk`] holds
//!   their AWS SDK adapters and [`memory`] their in-memory ones, for the phases' unit tests;
//! - [`runtime`] is the Lambda entry point every binary calls.
//!
//! The core's modules are re-exported, so a binary or a test needs this crate alone.

#![warn(clippy::too_many_lines)]

pub mod config;
pub mod error;
pub mod evidence;
pub mod execute;
pub mod memory;
pub mod pace;
pub mod ports;
pub mod responder;
pub mod runtime;
pub mod sdk;
pub mod snapshot;

pub use tourniquet_core::{
    audit, fanout, guard, hunt, identity_center, intake, ledger, notify, plan, principal, release,
    report, step,
};

pub use config::Config;
pub use error::Error;
pub use plan::Playbook;
pub use report::Report;
pub use responder::Responder;
pub use runtime::serve;
