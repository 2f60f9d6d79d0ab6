//! What went over the wire: an HTTP client under the SDK that records each request's action in
//! the order it was sent (after the responder's pacing), and can hold one action back until
//! another has been sent, then fail it with HTTP 500 as a broken service would.

use aws_config::SdkConfig;
use aws_sdk_iam::config::{HttpClient, SharedHttpClient};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// How long a held request waits for its release before it gives up and fails anyway.
pub const HOLD_AT_MOST: Duration = Duration::from_secs(10);

/// One request as sent: its `Action` and its form body.
#[derive(Clone, Debug)]
pub struct Sent {
    /// The query-protocol action (`PutUserPolicy`), empty for S3.
    pub action: String,
    /// The body, for the parameters (`AccessKeyId=...`).
    pub body: String,
}

/// A request to hold back and fail.
#[derive(Clone, Debug)]
pub struct Hold {
    /// The action held.
    pub action: &'static str,
    /// It is let go when a request whose body contains this has been sent.
    pub until: String,
}

/// The recording client. Clone it into an SDK configuration; read [`Wire::sent`] afterwards.
#[derive(Clone, Debug)]
pub struct Wire {
    inner: SharedHttpClient,
    sent: Arc<Mutex<Vec<Sent>>>,
    hold: Option<Hold>,
    /// Whether a held request was let go by the request it waited for (not by the timeout).
    released: Arc<Mutex<Option<bool>>>,
    changed: Arc<Notify>,
}

impl Wire {
    /// Records every request; holds and fails `hold`, if any.
    pub fn new(hold: Option<Hold>) -> Self {
        Self {
            inner: tourniquet_aws::pace::default_https_client(),
            sent: Arc::default(),
            hold,
            released: Arc::default(),
            changed: Arc::new(Notify::new()),
        }
    }

    /// `sdk` with its requests going through this client.
    pub fn under(&self, sdk: &SdkConfig) -> SdkConfig {
        sdk.to_builder().http_client(self.clone()).build()
    }

    /// The requests sent so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// Whether the held request was let go by the request it waited for: `None` if none was held.
    pub fn released_in_time(&self) -> Option<bool> {
        *self.released.lock().unwrap()
    }
}

impl HttpClient for Wire {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector {
            wire: self.clone(),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

#[derive(Debug)]
struct Connector {
    wire: Wire,
    inner: SharedHttpConnector,
}

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = request
            .body()
            .bytes()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default();
        let action = body
            .split('&')
            .find_map(|p| p.strip_prefix("Action="))
            .unwrap_or_default()
            .to_owned();
        let wire = self.wire.clone();
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            let held = wire.hold.clone().filter(|h| h.action == action);
            if held.is_none() {
                wire.sent.lock().unwrap().push(Sent { action, body });
                wire.changed.notify_waiters();
                return inner.call(request).await;
            }
            let until = held.map(|h| h.until).unwrap_or_default();
            let seen = || {
                wire.sent
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|s| s.body.contains(&until))
            };
            let wait = async {
                loop {
                    let changed = wire.changed.notified();
                    if seen() {
                        return;
                    }
                    changed.await;
                }
            };
            let in_time = tokio::time::timeout(HOLD_AT_MOST, wait).await.is_ok();
            wire.released.lock().unwrap().get_or_insert(in_time);
            wire.sent.lock().unwrap().push(Sent { action, body });
            let error = "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceFailure</Code>\
                         <Message>injected by the test</Message></Error></ErrorResponse>";
            Ok(HttpResponse::new(
                StatusCode::try_from(500).expect("a status"),
                SdkBody::from(error),
            ))
        })
    }
}
