//! Errors a caller can act on: bad input, bad configuration, AWS trouble, or an unfinished containment.

use crate::report::Report;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use lambda_runtime::Diagnostic;
use std::fmt;

pub use tourniquet_core::error::{ConfigError, InputError};

/// Everything that stops a run, each with the `errorType` Lambda reports for it.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event is malformed; nothing was changed. Retrying will not help.
    #[error("invalid event: {0}; nothing was changed")]
    InvalidEvent(#[from] InputError),
    /// The function's environment is wrong. Retrying will not help.
    #[error("configuration: {0}")]
    Configuration(ConfigError),
    /// AWS could not be asked before anything was changed (e.g. STS unreachable). Retrying may help.
    #[error("AWS: {0}; nothing was changed")]
    Aws(String),
    /// A containment could not finish: every independent step was tried, the report was stored,
    /// and the error lets Lambda's retries and dead-letter queue see it.
    #[error("{summary}")]
    Partial {
        /// One line: what failed, for whom, and where the report is.
        summary: String,
        /// The full report.
        report: Box<Report>,
    },
}

/// The sentence itself, so that a `main` returning the error prints what a responder can read.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// The `errorType` Lambda reports: tells a retry policy whether a retry can help.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::InvalidEvent(_) => "InvalidEvent",
            Error::Configuration(_) => "Configuration",
            Error::Aws(_) => "Retryable",
            Error::Partial { .. } => "PartialContainment",
        }
    }
}

impl From<Error> for Diagnostic {
    fn from(err: Error) -> Self {
        Diagnostic {
            error_type: err.error_type().into(),
            error_message: err.to_string(),
        }
    }
}

/// One line for an SDK error: the service's error code and message where it gave them.
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(e)
                ),
            }
        }
        other => format!(
            "{}",
            aws_smithy_types::error::display::DisplayErrorContext(other)
        ),
    }
}
