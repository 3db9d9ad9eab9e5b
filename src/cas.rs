//! Compare-and-swap on a ref, retried: every ref gitgrant moves — the
//! branch with the removal commits, `refs/notes/gitgrant`, through git or
//! through GitHub's API — is moved only from the tip it was read at. When
//! someone moved it meanwhile, the work is done again on the new tip, up
//! to [`ATTEMPTS`] times.

use std::future::Future;
use std::time::Duration;

/// How often a ref update is tried before the run gives up on it.
pub const ATTEMPTS: u32 = 8;

/// How one attempt went.
#[derive(Debug)]
pub enum Step<T> {
    /// The ref moved as asked (or needed no move): the result.
    Done(T),
    /// Someone moved the ref first: why, for the log; try again.
    Moved(String),
}

/// The wait before attempt `attempt + 1`: a little longer each time, so
/// two runs racing for one ref drift apart.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(25 * u64::from(attempt))
}

/// Runs `attempt` (given its number, from 1) until it is done or fails,
/// at most [`ATTEMPTS`] times; `Ok(None)` when the ref kept moving.
pub fn retry<T, E>(
    what: &str,
    mut attempt: impl FnMut(u32) -> Result<Step<T>, E>,
) -> Result<Option<T>, E> {
    for n in 1..=ATTEMPTS {
        match attempt(n)? {
            Step::Done(t) => return Ok(Some(t)),
            Step::Moved(why) => {
                tracing::info!("{what}: attempt {n} did not land ({why}); again");
                std::thread::sleep(backoff(n));
            }
        }
    }
    Ok(None)
}

/// [`retry`] for attempts that wait on the network.
pub async fn retry_async<T, E, F, Fut>(what: &str, mut attempt: F) -> Result<Option<T>, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<Step<T>, E>>,
{
    for n in 1..=ATTEMPTS {
        match attempt(n).await? {
            Step::Done(t) => return Ok(Some(t)),
            Step::Moved(why) => {
                tracing::info!("{what}: attempt {n} did not land ({why}); again");
                tokio::time::sleep(backoff(n)).await;
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ref_that_keeps_moving_is_given_up_after_the_last_attempt() {
        let mut tried = 0;
        let out: Result<Option<()>, ()> = retry("test", |_| {
            tried += 1;
            Ok(Step::Moved("moved".into()))
        });
        assert_eq!(out, Ok(None));
        assert_eq!(tried, ATTEMPTS);
    }

    #[test]
    fn the_first_attempt_that_lands_ends_the_retries() {
        let out: Result<Option<u32>, ()> = retry("test", |n| {
            Ok(if n < 3 {
                Step::Moved("moved".into())
            } else {
                Step::Done(n)
            })
        });
        assert_eq!(out, Ok(Some(3)));
    }

    #[test]
    fn a_failure_is_not_retried() {
        let mut tried = 0;
        let out: Result<Option<()>, &str> = retry("test", |_| {
            tried += 1;
            Err("no")
        });
        assert_eq!(out, Err("no"));
        assert_eq!(tried, 1);
    }
}
