//! The SDK adapters: each port carried out by the AWS SDK's client for its service.

mod evidence;

pub use evidence::S3Evidence;
