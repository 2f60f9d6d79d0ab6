//! Pacing: every IAM request a responder sends goes through one token bucket per account, at the
//! rate IAM allows (`IAM_REQUESTS_PER_SECOND`), in priority order: containment writes and the reads
//! they wait on first, then `ListAccessKeys` (its answer starts a principal's key deactivations),
//! then the snapshot's reads. Throttling is rare rather than the control signal; when IAM does
//! throttle (other callers share the account's rate), the bucket halves its rate and climbs back
//! over [`RECOVERY`].
//!
//! The bucket sits in the SDK's HTTP client ([`PacedClient`]), so it carries every attempt,
//! the SDK's own retries included, and needs no change where an IAM call is made. A throttled
//! containment write (or `ListAccessKeys`, which the other keys' deactivation waits on) is sent
//! again from the bucket, ahead of every read, for up to [`CONTAINMENT_PERSISTENCE`] before the SDK's
//! retry sees the throttle.

use aws_sdk_iam::config::{HttpClient, SharedHttpClient};
use aws_smithy_runtime_api::client::http::{
    HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// IAM requests a second per account when `IAM_REQUESTS_PER_SECOND` is unset. AWS does not publish
/// IAM's control-plane rate; throttling has been observed from a few tens of requests a second
/// per account, so the default stays below the 50 a second the benchmark throttles at.
pub const DEFAULT_REQUESTS_PER_SECOND: f64 = 40.0;

/// How long the bucket takes to climb from a throttled rate back to the configured one.
pub const RECOVERY: Duration = Duration::from_secs(10);

/// How long a throttled containment write, or `ListAccessKeys`, is sent again from the bucket
/// (ahead of every snapshot read) before the SDK's own retry sees the throttle. IAM did not carry
/// out a throttled request, so sending it again is safe; and many invocations sharing one
/// account's rate (separate findings arriving at once, each its own invocation) throttle one
/// another for seconds while their buckets slow down: a containment must outlast that, not give up
/// after a few sends (`make bench`'s separate-findings incident lost principals that way with four
/// resends).
pub const CONTAINMENT_PERSISTENCE: Duration = Duration::from_secs(30);

/// The lowest rate a throttled bucket falls to, requests a second.
const FLOOR: f64 = 1.0;

/// What a request is for, in the order the bucket serves them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// A containment write, or a read it cannot go without (a key's owner, a principal's path).
    Contain,
    /// `ListAccessKeys`: its answer starts the principal's other key deactivations.
    Keys,
    /// A snapshot read.
    Investigate,
}

impl Class {
    /// The class of an IAM action by its name: reads are `Get*`, `List*`; the rest write.
    pub fn of_action(action: &str) -> Self {
        match action {
            "ListAccessKeys" => Class::Keys,
            a if a.starts_with("Get") || a.starts_with("List") => Class::Investigate,
            _ => Class::Contain,
        }
    }
}

/// Where a request stands in its class: the lane of its principal (principals in the order the
/// event names them), then arrival. Set for a future with [`ticket`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Ticket {
    /// The principal's place in the invocation.
    pub lane: u32,
    /// Reads the containment waits for (a key's owner, a path): served as containment.
    pub urgent: bool,
}

tokio::task_local! {
    static TICKET: Ticket;
}

/// Runs `future` with its IAM requests queued under `ticket`.
pub async fn ticket<F: Future>(ticket: Ticket, future: F) -> F::Output {
    TICKET.scope(ticket, future).await
}

/// A token bucket with a priority queue: one per account's IAM rate.
#[derive(Debug)]
pub struct Pacer {
    ceiling: f64,
    state: Mutex<State>,
    turn: Notify,
}

#[derive(Debug)]
struct State {
    rate: f64,
    tokens: f64,
    at: Instant,
    waiting: BTreeSet<(Class, u32, u64)>,
    arrivals: u64,
    cut_at: Option<Instant>,
    throttles: u64,
}

impl State {
    fn refill(&mut self, now: Instant, ceiling: f64) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        if self.rate < ceiling {
            self.rate = (self.rate + ceiling * elapsed / RECOVERY.as_secs_f64()).min(ceiling);
        }
        // A bucket holds one second of requests: a single principal's first wave goes at once.
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate.max(1.0));
    }
}

/// Takes a request out of the queue when its wait ends or is abandoned (a cancelled future).
struct Place<'a> {
    pacer: &'a Pacer,
    key: (Class, u32, u64),
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        let mut state = self.pacer.lock();
        if state.waiting.remove(&self.key) {
            self.pacer.turn.notify_waiters();
        }
    }
}

impl Pacer {
    /// A bucket of `rate` requests a second, full.
    pub fn new(rate: f64) -> Arc<Self> {
        let rate = rate.max(FLOOR);
        Arc::new(Self {
            ceiling: rate,
            state: Mutex::new(State {
                rate,
                tokens: rate.max(1.0),
                at: Instant::now(),
                waiting: BTreeSet::new(),
                arrivals: 0,
                cut_at: None,
                throttles: 0,
            }),
            turn: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent through any panic (no step leaves it half-written).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for this request's turn: the first in the queue, and a token in the bucket.
    pub async fn acquire(&self, class: Class, lane: u32) {
        if class != Class::Contain {
            // Every future polled in the same pass (every principal's first wave) queues its
            // writes before a read takes a token: the bucket's first second goes to containment.
            tokio::task::yield_now().await;
        }
        let key = {
            let mut state = self.lock();
            state.arrivals += 1;
            let key = (class, lane, state.arrivals);
            state.waiting.insert(key);
            key
        };
        let _place = Place { pacer: self, key };
        loop {
            let turn = self.turn.notified();
            tokio::pin!(turn);
            let wait = {
                let mut state = self.lock();
                state.refill(Instant::now(), self.ceiling);
                let first = state.waiting.first() == Some(&key);
                if first && state.tokens >= 1.0 {
                    state.tokens -= 1.0;
                    state.waiting.remove(&key);
                    self.turn.notify_waiters();
                    return;
                }
                // Registered before the lock is let go: no turn is missed.
                turn.as_mut().enable();
                first.then(|| Duration::from_secs_f64((1.0 - state.tokens) / state.rate))
            };
            match wait {
                Some(wait) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = &mut turn => {}
                    }
                }
                None => turn.await,
            }
        }
    }

    /// IAM throttled a request: halve the rate (once per second at most: a burst of throttles is
    /// one signal) and empty the bucket.
    pub fn throttled(&self) {
        let mut state = self.lock();
        let now = Instant::now();
        state.throttles += 1;
        state.refill(now, self.ceiling);
        if state
            .cut_at
            .is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1))
        {
            state.rate = (state.rate / 2.0).max(FLOOR);
            state.cut_at = Some(now);
        }
        state.tokens = state.tokens.min(0.0);
    }

    /// The rate now, requests a second.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// Throttles seen so far.
    pub fn throttles(&self) -> u64 {
        self.lock().throttles
    }
}

/// The SDK's HTTP client with every request paced by one [`Pacer`].
#[derive(Clone, Debug)]
pub struct PacedClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
}

impl PacedClient {
    /// Paces `inner` (the SDK's default client, or a test's) at `rate` requests a second.
    pub fn new(inner: SharedHttpClient, rate: f64) -> Self {
        Self {
            inner,
            pacer: Pacer::new(rate),
        }
    }

    /// The same client with a bucket of its own (another account's rate).
    pub fn fresh(&self) -> Self {
        Self::new(self.inner.clone(), self.pacer.ceiling)
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls), which [`PacedClient`] wraps in Lambda.
pub fn default_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https()
}

impl HttpClient for PacedClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let ticket = TICKET.try_with(|t| *t).unwrap_or_default();
        let class = match request.body().bytes().and_then(action) {
            _ if ticket.urgent => Class::Contain,
            Some(action) => Class::of_action(action),
            None => Class::Investigate,
        };
        let (inner, pacer) = (self.inner.clone(), self.pacer.clone());
        HttpConnectorFuture::new(async move {
            let mut request = request;
            // The containment's writes, and the key listing its other keys wait on.
            let until = (class <= Class::Keys).then(|| Instant::now() + CONTAINMENT_PERSISTENCE);
            loop {
                let again = until
                    .filter(|until| Instant::now() < *until)
                    .and_then(|_| request.try_clone());
                pacer.acquire(class, ticket.lane).await;
                let mut response = inner.call(request).await?;
                if !matches!(response.status().as_u16(), 400 | 429 | 503) {
                    return Ok(response);
                }
                let body = std::mem::replace(response.body_mut(), SdkBody::taken());
                let bytes = ByteStream::new(body)
                    .collect()
                    .await
                    .map(|b| b.into_bytes())
                    .unwrap_or_default();
                let throttled = is_throttle(&bytes);
                *response.body_mut() = SdkBody::from(bytes);
                if !throttled {
                    return Ok(response);
                }
                pacer.throttled();
                match again {
                    Some(next) => request = next,
                    None => return Ok(response),
                }
            }
        })
    }
}

/// The `Action` of an AWS query-protocol request body (`Action=PutUserPolicy&Version=...`).
fn action(body: &[u8]) -> Option<&str> {
    std::str::from_utf8(body)
        .ok()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
}

/// Whether an error body is IAM's (or STS's) throttle.
fn is_throttle(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    [
        "<Code>Throttling</Code>",
        "<Code>ThrottlingException</Code>",
        "<Code>RequestLimitExceeded</Code>",
    ]
    .iter()
    .any(|code| text.contains(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_writes_and_the_key_listing_are_told_apart_by_their_action() {
        assert_eq!(Class::of_action("PutUserPolicy"), Class::Contain);
        assert_eq!(Class::of_action("UpdateAccessKey"), Class::Contain);
        assert_eq!(Class::of_action("TagRole"), Class::Contain);
        assert_eq!(Class::of_action("ListAccessKeys"), Class::Keys);
        assert_eq!(Class::of_action("ListUserPolicies"), Class::Investigate);
        assert_eq!(Class::of_action("GetPolicyVersion"), Class::Investigate);
        assert_eq!(
            action(b"Action=PutRolePolicy&Version=2010-05-08&RoleName=x"),
            Some("PutRolePolicy")
        );
        assert_eq!(
            action(b"Version=2010-05-08&Action=GetUser"),
            Some("GetUser")
        );
        assert_eq!(action(b"{}"), None);
    }

    #[test]
    fn only_a_throttle_is_taken_for_one() {
        assert!(is_throttle(
            b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"
        ));
        assert!(!is_throttle(
            b"<ErrorResponse><Error><Code>LimitExceeded</Code></Error></ErrorResponse>"
        ));
        assert!(!is_throttle(
            b"<ErrorResponse><Error><Code>NoSuchEntity</Code><Message>Throttling</Message></Error></ErrorResponse>"
        ));
    }

    /// The order in which `requests` get their turn from a bucket of `rate` (time paused: no
    /// test sleeps; tokio moves the clock when every task waits).
    async fn served(rate: f64, requests: Vec<(Class, u32)>) -> Vec<(usize, Duration)> {
        let pacer = Pacer::new(rate);
        let start = Instant::now();
        let order = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = requests
            .into_iter()
            .enumerate()
            .map(|(i, (class, lane))| {
                let (pacer, order) = (pacer.clone(), order.clone());
                tokio::spawn(async move {
                    pacer.acquire(class, lane).await;
                    order.lock().unwrap().push((i, start.elapsed()));
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        Arc::try_unwrap(order).unwrap().into_inner().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_keeps_to_its_rate_and_serves_writes_before_reads() {
        // 2 tokens to start (one second at 2/s), then one every half second.
        let mut requests = vec![(Class::Investigate, 0); 6];
        requests.extend([(Class::Keys, 1), (Class::Contain, 2), (Class::Contain, 1)]);
        let order = served(2.0, requests).await;
        let who: Vec<usize> = order.iter().map(|(i, _)| *i).collect();
        // The writes came last and went first (the reads let every write of the same pass queue
        // before them, and the two writes found the bucket's two tokens); then the key listing,
        // then the reads.
        assert_eq!(&who[..3], [7, 8, 6], "{who:?}");
        let mut reads = who[3..].to_vec();
        reads.sort_unstable();
        assert_eq!(reads, [0, 1, 2, 3, 4, 5]);
        let last = order.last().unwrap().1;
        // 9 requests at 2/s with 2 in the bucket: the last one 3.5 s in, not earlier.
        assert!(
            last >= Duration::from_millis(3_400) && last <= Duration::from_millis(3_600),
            "{last:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_halves_the_rate_and_it_climbs_back() {
        let pacer = Pacer::new(40.0);
        pacer.throttled();
        pacer.throttled(); // the same burst: one cut
        assert_eq!(pacer.rate(), 20.0);
        assert_eq!(pacer.throttles(), 2);
        tokio::time::advance(RECOVERY / 2).await;
        pacer.acquire(Class::Contain, 0).await;
        assert!((pacer.rate() - 40.0).abs() < 0.01, "{}", pacer.rate());
    }

    /// An IAM that throttles the first `throttles` requests it gets, then answers 200.
    #[derive(Debug)]
    struct ThrottlingIam {
        throttles: usize,
        calls: Arc<Mutex<usize>>,
    }

    impl HttpConnector for ThrottlingIam {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let mut calls = self.calls.lock().unwrap();
            *calls += 1;
            let (status, body) = if *calls <= self.throttles {
                (
                    400,
                    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>",
                )
            } else {
                (200, "<PutUserPolicyResponse/>")
            };
            let response = aws_smithy_runtime_api::http::Response::new(
                status.try_into().unwrap(),
                SdkBody::from(body),
            );
            HttpConnectorFuture::ready(Ok(response))
        }
    }

    /// Sends one request through a paced connector over an IAM that throttles `throttles` times:
    /// the status it ends with, the requests IAM saw, and how long it took.
    async fn send_through_throttles(action: &str, throttles: usize) -> (u16, usize, Duration) {
        let calls = Arc::new(Mutex::new(0));
        let connector = PacedConnector {
            inner: SharedHttpConnector::new(ThrottlingIam {
                throttles,
                calls: calls.clone(),
            }),
            pacer: Pacer::new(40.0),
        };
        let request = HttpRequest::new(SdkBody::from(format!(
            "Action={action}&Version=2010-05-08&UserName=ci-deployer"
        )));
        let start = Instant::now();
        let response = connector.call(request).await.unwrap();
        let seen = *calls.lock().unwrap();
        (response.status().as_u16(), seen, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_write_outlasts_a_storm_and_a_read_leaves_it_to_the_sdk() {
        // Twenty throttles in a row, as invocations sharing one account's rate give one another:
        // the write is sent again from the slowing bucket until IAM takes it.
        let (status, seen, took) = send_through_throttles("PutUserPolicy", 20).await;
        assert_eq!((status, seen), (200, 21));
        assert!(took < CONTAINMENT_PERSISTENCE, "{took:?}");
        // So is the key listing the other keys' deactivation waits on.
        let (status, seen, _) = send_through_throttles("ListAccessKeys", 20).await;
        assert_eq!((status, seen), (200, 21));
        // A snapshot read is not the bucket's to resend: the SDK's retry sees its throttle.
        let (status, seen, _) = send_through_throttles("GetUser", 20).await;
        assert_eq!((status, seen), (400, 1));
        // A storm longer than the persistence: the write is handed to the SDK's retry, throttled.
        let (status, seen, took) = send_through_throttles("UpdateAccessKey", 10_000).await;
        assert_eq!(status, 400);
        assert!(
            seen > 20 && took >= CONTAINMENT_PERSISTENCE,
            "{seen} sends in {took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_wait_does_not_block_the_queue() {
        let pacer = Pacer::new(1.0);
        pacer.acquire(Class::Contain, 0).await; // the bucket is empty now
        let abandoned =
            tokio::time::timeout(Duration::from_millis(100), pacer.acquire(Class::Contain, 0))
                .await;
        assert!(abandoned.is_err());
        let start = Instant::now();
        pacer.acquire(Class::Investigate, 5).await;
        assert!(
            start.elapsed() <= Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }
}
