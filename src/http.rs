//! Requests to services other than GitHub and AWS (on-call schedules,
//! notification channels): one client shape and one retry rule.

use std::time::Duration;

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
    /// No answer within the timeout.
    TimedOut,
    /// No connection.
    NoConnection,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Status(s) => write!(f, "answered {s}"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::NoConnection => f.write_str("no connection"),
        }
    }
}

/// Sends the request `make` builds, again (after 0.5 s, then 1 s) on 429,
/// 5xx or no answer, [`ATTEMPTS`] times at most. Returns the successful
/// response or the last failure, and the attempts made. `what` names the
/// service in the detail logged under `-v`.
pub async fn send(
    what: &str,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> (Result<reqwest::Response, Failure>, u32) {
    let mut last = Failure::NoConnection;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
        match make().send().await {
            Ok(r) if r.status().is_success() => return (Ok(r), attempt + 1),
            Ok(r) => {
                let status = r.status();
                last = Failure::Status(status);
                if status.as_u16() != 429 && !status.is_server_error() {
                    return (Err(last), attempt + 1);
                }
            }
            Err(e) => {
                tracing::info!("{what}: {e:?}");
                last = if e.is_timeout() {
                    Failure::TimedOut
                } else {
                    Failure::NoConnection
                };
            }
        }
    }
    (Err(last), ATTEMPTS)
}
