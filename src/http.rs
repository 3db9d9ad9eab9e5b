//! Requests to services other than GitHub and AWS (on-call schedules,
//! notification channels): one client shape, one retry rule, one deadline.
//!
//! The peer is not trusted to be quick or small: every request is bounded
//! by a deadline its caller sets for the whole run's requests of that kind,
//! and a body is read up to a limit, never whole into memory first.

use std::time::Duration;

use tokio::time::Instant;

/// Attempts per request: one that is throttled (429), fails on the server
/// (5xx) or gets no answer is asked again this many times in all.
pub const ATTEMPTS: u32 = 3;

/// A client with `timeout` per request and gitgrant's user agent.
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("gitgrant/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

/// Why a request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// An error status.
    Status(reqwest::StatusCode),
    /// No answer within the timeout or the deadline.
    TimedOut,
    /// No connection.
    NoConnection,
    /// A body longer than the limit, in bytes.
    TooLarge(usize),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(s) => write!(f, "answered {s}"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::NoConnection => f.write_str("no connection"),
            Failure::TooLarge(limit) => write!(f, "a body over {} KiB", limit / 1024),
        }
    }
}

/// What a transport error says, for the log under `-v`: never the URL,
/// which for a Slack or Teams webhook is the secret itself.
fn detail(e: reqwest::Error) -> String {
    format!("{:?}", e.without_url())
}

/// Sends the request `make` builds, again (after 0.5 s, then 1 s) on 429,
/// 5xx or no answer, [`ATTEMPTS`] times at most, and never past `deadline`.
/// Returns the successful response or the last failure, and the attempts
/// made. `what` names the service in the detail logged under `-v`.
pub async fn send(
    what: &str,
    deadline: Instant,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> (Result<reqwest::Response, Failure>, u32) {
    let mut last = Failure::TimedOut;
    let mut made = 0;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            let pause = Duration::from_millis(250 << attempt);
            if Instant::now() + pause >= deadline {
                break;
            }
            tokio::time::sleep(pause).await;
        }
        if Instant::now() >= deadline {
            break;
        }
        made = attempt + 1;
        match tokio::time::timeout_at(deadline, make().send()).await {
            Err(_) => {
                tracing::info!("{what}: no answer before the deadline");
                return (Err(Failure::TimedOut), made);
            }
            Ok(Ok(r)) if r.status().is_success() => return (Ok(r), made),
            Ok(Ok(r)) => {
                let status = r.status();
                last = Failure::Status(status);
                if status.as_u16() != 429 && !status.is_server_error() {
                    return (Err(last), made);
                }
            }
            Ok(Err(e)) => {
                last = if e.is_timeout() {
                    Failure::TimedOut
                } else {
                    Failure::NoConnection
                };
                tracing::info!("{what}: {}", detail(e));
            }
        }
    }
    (Err(last), made)
}

/// The body of `response`, at most `limit` bytes, read before `deadline`:
/// a longer one is [`Failure::TooLarge`] as soon as it passes the limit
/// (or announces a longer length), so a hostile peer cannot fill memory.
pub async fn body(
    mut response: reqwest::Response,
    limit: usize,
    deadline: Instant,
) -> Result<Vec<u8>, Failure> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(Failure::TooLarge(limit));
    }
    let mut out = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Err(_) => return Err(Failure::TimedOut),
            Ok(Ok(None)) => return Ok(out),
            Ok(Ok(Some(chunk))) => {
                if out.len() + chunk.len() > limit {
                    return Err(Failure::TooLarge(limit));
                }
                out.extend_from_slice(&chunk);
            }
            Ok(Err(e)) => {
                let failure = if e.is_timeout() {
                    Failure::TimedOut
                } else {
                    Failure::NoConnection
                };
                tracing::info!("reading a body: {}", detail(e));
                return Err(failure);
            }
        }
    }
}
