//! Tourniquet's core: what a run decides, with no I/O. It turns an event into an incident, an
//! incident and what IAM said into a plan of steps, and outcomes into a report; it words the
//! humans' messages, checks an account's readiness, classifies the hunt's records, plans the
//! fan-out and the release, and owns the ledger's grammar. No AWS SDK, no async runtime, no
//! Lambda runtime and no clock: every function here is a pure function of its arguments, and
//! Cargo keeps it that way (this crate does not depend on them).
//!
//! - [`intake`] turns an event into an [`intake::Incident`];
//! - [`plan`] decides the steps and judges their outcomes from what IAM said;
//! - [`guard`] says who is never contained; [`principal`] names IAM principals;
//! - [`step`] and [`report`] are the vocabulary of what was done; [`ledger`] the evidence's keys
//!   and records; [`release`] plans the undo from them;
//! - [`notify`] words what a run did for the humans: the SNS message and the finding's note;
//! - [`audit`] checks an account's IAM against the practices that prevent a leak;
//! - [`identity_center`] decides the deny an Identity Center user gets in each permission set;
//! - [`hunt`] classifies what a stolen credential did from CloudTrail records;
//! - [`fanout`] splits an incident too large for one invocation into work items.

#![warn(clippy::too_many_lines)]

pub mod audit;
pub mod error;
pub mod fanout;
pub mod guard;
pub mod hunt;
pub mod identity_center;
pub mod intake;
pub mod ledger;
pub mod notify;
pub mod plan;
pub mod principal;
pub mod release;
pub mod report;
pub mod setting;
pub mod step;

pub use error::{ConfigError, InputError};
pub use plan::Playbook;
pub use report::Report;
