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

/// A call to AWS that did not succeed: which operation, what the service said, and the SDK's error
/// as the [`source`](std::error::Error::source). Its `Display` is one sentence a responder reads
/// (`ListServiceSpecificCredentials failed: HTTP 500, no error code`), never Rust debug output.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed: {detail}")]
pub struct AwsError {
    /// The operation as AWS names it (`ListAccessKeys`, `PutObject`).
    pub operation: &'static str,
    /// The service's error code, when it answered one (`NoSuchEntity`, `PreconditionFailed`).
    pub code: Option<String>,
    /// What the service or the transport said: [`describe`]'s sentence.
    pub detail: String,
    /// The SDK's error; `None` when an in-memory adapter answered.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl AwsError {
    /// The error of `operation` from the SDK's error.
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: HttpStatus + fmt::Debug + Send + Sync + 'static,
    {
        Self {
            operation,
            code: err.code().map(str::to_owned),
            detail: describe(&err),
            source: Some(Box::new(err)),
        }
    }

    /// An error an in-memory adapter answers, shaped as the service's (`code`: its error code).
    pub fn service(operation: &'static str, code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            operation,
            code: Some(code.to_owned()),
            detail: format!("{code}: {message}"),
            source: None,
        }
    }

    /// Whether the service answered `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// The HTTP status of a raw response, for the errors that carry no code.
pub trait HttpStatus {
    /// The status code.
    fn http_status(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    fn http_status(&self) -> u16 {
        self.status().as_u16()
    }
}

/// One line for an SDK error: the service's error code and message where it gave them; otherwise
/// the HTTP status, or what the transport said (the error's chain of messages, never its debug
/// form: a responder reads this in the report, the log and the e-mail).
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: HttpStatus + fmt::Debug + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            let status = service.raw().http_status();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                (None, Some(message)) => format!("HTTP {status}, no error code: {message}"),
                // A modeled error built without metadata says itself what it is; an answer the
                // SDK could not parse at all is only its status.
                (None, None) if e.to_string().starts_with("unhandled error") => {
                    format!("HTTP {status}, no error code")
                }
                (None, None) => chain(e),
            }
        }
        SdkError::ResponseError(response) => format!(
            "HTTP {}, an answer that could not be read: {}",
            response.raw().http_status(),
            chain(err)
        ),
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        _ => chain(err),
    }
}

/// An error's messages, outermost first, joined as a sentence (`dispatch failure: io error: ...`).
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut words = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !words.iter().any(|w| w.contains(&text)) {
            words.push(text);
        }
        source = cause.source();
    }
    words.join(": ")
}
