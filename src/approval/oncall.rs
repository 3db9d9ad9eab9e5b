//! Who is on call: PagerDuty's `GET /oncalls` (with `since`/`until`) and
//! Opsgenie's `GET /v2/schedules/{id}/timeline`, asked about one person over
//! one window: only shifts that cover every instant of it, one after the
//! other with no gap, put them on call for it.
//!
//! An answer that cannot be had (no token, no connection, a timeout, an
//! error status, a body of another shape) is an [`OnCallError`], which the
//! caller turns into "approves nothing": on-call approval fails closed.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use crate::approval::rules::Schedule;
use crate::grant::Window;

/// PagerDuty's API when `PAGERDUTY_API_URL` is not set.
pub const PAGERDUTY_API: &str = "https://api.pagerduty.com";
/// Opsgenie's API when `OPSGENIE_API_URL` is not set (the EU instance is
/// `https://api.eu.opsgenie.com`).
pub const OPSGENIE_API: &str = "https://api.opsgenie.com";
/// Seconds all the schedule reads of one run may take together when
/// `GITGRANT_ON_CALL_TIMEOUT` is not set.
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;
/// Seconds one request may take at most, within the run's budget.
pub const REQUEST_TIMEOUT_SECS: u64 = 10;
/// The longest answer read: PagerDuty's page of 100 entries with their
/// users is a few hundred KiB.
pub const MAX_BODY: usize = 4 << 20;
/// The most pages of one PagerDuty read: PagerDuty's offset paging ends at
/// 10,000 entries, 100 a page.
pub const MAX_PAGES: u32 = 100;

/// What a schedule id must escape in a URL path: all but RFC 3986's
/// unreserved characters.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Why a schedule could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnCallError {
    /// The credential's environment variable is not set.
    #[error("{0} is not set: on-call rules approve nothing without it")]
    NoToken(&'static str),
    /// No answer (connection refused, timeout).
    #[error("{service} did not answer ({detail}): on-call rules approve nothing")]
    Unreachable {
        /// PagerDuty or Opsgenie.
        service: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// An error status.
    #[error("{service} answered {status} for {schedule}: on-call rules approve nothing")]
    Status {
        /// PagerDuty or Opsgenie.
        service: &'static str,
        /// The HTTP status.
        status: u16,
        /// The schedule asked about.
        schedule: String,
    },
    /// An answer larger than gitgrant reads: a body over [`MAX_BODY`] or
    /// more than [`MAX_PAGES`] pages.
    #[error("{service}'s answer is too large ({detail}): on-call rules approve nothing")]
    TooLarge {
        /// PagerDuty or Opsgenie.
        service: &'static str,
        /// What was too large.
        detail: String,
    },
    /// A body that is not the documented shape.
    #[error(
        "{service}'s answer is not the documented shape ({detail}): on-call rules approve nothing"
    )]
    Malformed {
        /// PagerDuty or Opsgenie.
        service: &'static str,
        /// What did not parse.
        detail: String,
    },
}

/// One question: a schedule, a person (lower case), a window's start and end.
type Asked = (Schedule, String, DateTime<Utc>, DateTime<Utc>);

/// Asks on-call services, remembering each answer for the run.
#[derive(Debug)]
pub struct OnCall {
    client: Result<reqwest::Client, String>,
    pagerduty: (String, Option<String>),
    opsgenie: (String, Option<String>),
    answers: BTreeMap<Asked, Result<bool, OnCallError>>,
    /// How long all the run's schedule reads may take together.
    budget: Duration,
    /// When the budget runs out, set at the first request.
    deadline: Option<tokio::time::Instant>,
}

impl OnCall {
    /// Reads `PAGERDUTY_TOKEN`, `PAGERDUTY_API_URL`, `OPSGENIE_API_KEY`,
    /// `OPSGENIE_API_URL` and `GITGRANT_ON_CALL_TIMEOUT` (seconds for all
    /// the run's schedule reads together, retries and pages included).
    pub fn from_env() -> OnCall {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let budget = var("GITGRANT_ON_CALL_TIMEOUT")
            .and_then(|t| t.parse::<f64>().ok())
            .filter(|t| t.is_finite() && *t > 0.0 && *t < 3600.0)
            .map_or(
                Duration::from_secs(DEFAULT_TIMEOUT_SECS),
                Duration::from_secs_f64,
            );
        let client = crate::http::client(budget.min(Duration::from_secs(REQUEST_TIMEOUT_SECS)));
        let base = |k: &str, default: &str| {
            var(k)
                .unwrap_or_else(|| default.to_string())
                .trim_end_matches('/')
                .to_string()
        };
        OnCall {
            client,
            pagerduty: (
                base("PAGERDUTY_API_URL", PAGERDUTY_API),
                var("PAGERDUTY_TOKEN"),
            ),
            opsgenie: (
                base("OPSGENIE_API_URL", OPSGENIE_API),
                var("OPSGENIE_API_KEY"),
            ),
            answers: BTreeMap::new(),
            budget,
            deadline: None,
        }
    }

    /// Whether the person `email` is on call in `schedule` for every
    /// instant of `window`.
    pub async fn on_call_throughout(
        &mut self,
        schedule: &Schedule,
        email: &str,
        window: Window,
    ) -> Result<bool, OnCallError> {
        let key = (
            schedule.clone(),
            email.to_lowercase(),
            window.start,
            window.end,
        );
        if let Some(a) = self.answers.get(&key) {
            return a.clone();
        }
        let answer = match schedule {
            Schedule::PagerDuty(id) => self.pagerduty(id, &key.1, window).await,
            Schedule::Opsgenie(id) => self.opsgenie(id, &key.1, window).await,
        };
        if let Err(e) = &answer {
            tracing::warn!("{e}");
        }
        self.answers.insert(key, answer.clone());
        answer
    }

    async fn pagerduty(
        &mut self,
        id: &str,
        email: &str,
        window: Window,
    ) -> Result<bool, OnCallError> {
        const SERVICE: &str = "PagerDuty";
        let (base, token) = self.pagerduty.clone();
        let token = token.ok_or(OnCallError::NoToken("PAGERDUTY_TOKEN"))?;
        // Whole seconds, outward: the shifts must cover at least the window.
        let since = window.start.to_rfc3339_opts(SecondsFormat::Secs, true);
        let until_at = window.end + chrono::TimeDelta::nanoseconds(999_999_999);
        let until = until_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut shifts = Vec::new();
        let mut offset = 0u64;
        for _ in 0..MAX_PAGES {
            let query = [
                ("schedule_ids[]", id.to_string()),
                ("since", since.clone()),
                ("until", until.clone()),
                ("include[]", "users".to_string()),
                ("limit", "100".to_string()),
                ("offset", offset.to_string()),
            ];
            let page: PagerDutyPage = self
                .get(
                    SERVICE,
                    id,
                    &format!("{base}/oncalls"),
                    &query,
                    &[
                        ("Authorization", format!("Token token={token}")),
                        ("Accept", "application/vnd.pagerduty+json;version=2".into()),
                    ],
                )
                .await?;
            // An entry without start or end is on call from before `since`
            // or until after `until` (PagerDuty's null for a permanent one).
            shifts.extend(
                page.oncalls
                    .iter()
                    .filter(|o| {
                        o.schedule.as_ref().is_none_or(|s| s.id == id)
                            && o.user
                                .email
                                .as_deref()
                                .is_some_and(|e| e.eq_ignore_ascii_case(email))
                    })
                    .map(|o| (o.start.unwrap_or(window.start), o.end.unwrap_or(window.end))),
            );
            if covered(&mut shifts, window) {
                return Ok(true);
            }
            if !page.more || page.oncalls.is_empty() {
                return Ok(false);
            }
            offset += page.oncalls.len() as u64;
        }
        Err(OnCallError::TooLarge {
            service: SERVICE,
            detail: format!("more than {MAX_PAGES} pages"),
        })
    }

    async fn opsgenie(
        &mut self,
        id: &str,
        email: &str,
        window: Window,
    ) -> Result<bool, OnCallError> {
        const SERVICE: &str = "Opsgenie";
        let (base, key) = self.opsgenie.clone();
        let key = key.ok_or(OnCallError::NoToken("OPSGENIE_API_KEY"))?;
        let path = percent_encoding::utf8_percent_encode(id, PATH_SEGMENT);
        // The timeline from the window's start, in whole days (its
        // smallest unit) reaching past the window's end.
        let days = (window.end - window.start).num_days() + 1;
        let body: OpsgenieTimeline = self
            .get(
                SERVICE,
                id,
                &format!("{base}/v2/schedules/{path}/timeline"),
                &[
                    ("identifierType", "id".to_string()),
                    ("interval", days.to_string()),
                    ("intervalUnit", "days".to_string()),
                    (
                        "date",
                        window.start.to_rfc3339_opts(SecondsFormat::Secs, true),
                    ),
                ],
                &[("Authorization", format!("GenieKey {key}"))],
            )
            .await?;
        let mut shifts: Vec<(DateTime<Utc>, DateTime<Utc>)> = body
            .data
            .final_timeline
            .rotations
            .iter()
            .flat_map(|r| &r.periods)
            .filter(|p| p.recipient.kind == "user" && p.recipient.name.eq_ignore_ascii_case(email))
            .map(|p| (p.start_date, p.end_date))
            .collect();
        Ok(covered(&mut shifts, window))
    }

    /// One GET, asked again on throttling, a 5xx or no answer, within the
    /// run's budget, its body read up to [`MAX_BODY`].
    async fn get<T: serde::de::DeserializeOwned>(
        &mut self,
        service: &'static str,
        schedule: &str,
        url: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
    ) -> Result<T, OnCallError> {
        let client = self
            .client
            .clone()
            .map_err(|detail| OnCallError::Unreachable { service, detail })?;
        let make = || {
            let mut req = client.get(url).query(query);
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            req
        };
        let deadline = *self
            .deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + self.budget);
        let failed = |f: crate::http::Failure| match f {
            crate::http::Failure::TooLarge(limit) => OnCallError::TooLarge {
                service,
                detail: format!("a body over {} KiB", limit / 1024),
            },
            f => OnCallError::Unreachable {
                service,
                detail: f.to_string(),
            },
        };
        let response = match crate::http::send(service, deadline, make).await.0 {
            Ok(r) => r,
            Err(crate::http::Failure::Status(status)) => {
                return Err(OnCallError::Status {
                    service,
                    status: status.as_u16(),
                    schedule: schedule.to_string(),
                });
            }
            Err(f) => return Err(failed(f)),
        };
        let bytes = crate::http::body(response, MAX_BODY, deadline)
            .await
            .map_err(failed)?;
        serde_json::from_slice(&bytes).map_err(|e| OnCallError::Malformed {
            service,
            detail: e.to_string(),
        })
    }
}

#[derive(Deserialize)]
struct PagerDutyPage {
    oncalls: Vec<PagerDutyOnCall>,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct PagerDutyOnCall {
    user: PagerDutyUser,
    #[serde(default)]
    schedule: Option<PagerDutyRef>,
    #[serde(default)]
    start: Option<DateTime<Utc>>,
    #[serde(default)]
    end: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct PagerDutyUser {
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct PagerDutyRef {
    id: String,
}

/// Whether `shifts` together cover every instant of `window` (sorts them).
fn covered(shifts: &mut [(DateTime<Utc>, DateTime<Utc>)], window: Window) -> bool {
    shifts.sort();
    let mut reached = window.start;
    for (start, end) in shifts.iter() {
        if *start > reached {
            break;
        }
        reached = reached.max(*end);
        if reached >= window.end {
            return true;
        }
    }
    false
}

#[derive(Deserialize)]
struct OpsgenieTimeline {
    data: OpsgenieTimelineData,
}

#[derive(Deserialize)]
struct OpsgenieTimelineData {
    #[serde(rename = "finalTimeline")]
    final_timeline: OpsgenieFinal,
}

#[derive(Deserialize)]
struct OpsgenieFinal {
    #[serde(default)]
    rotations: Vec<OpsgenieRotation>,
}

#[derive(Deserialize)]
struct OpsgenieRotation {
    #[serde(default)]
    periods: Vec<OpsgeniePeriod>,
}

#[derive(Deserialize)]
struct OpsgeniePeriod {
    #[serde(rename = "startDate")]
    start_date: DateTime<Utc>,
    #[serde(rename = "endDate")]
    end_date: DateTime<Utc>,
    recipient: OpsgenieRecipient,
}

#[derive(Deserialize)]
struct OpsgenieRecipient {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn shifts_cover_a_window_only_without_a_gap() {
        let w = Window {
            start: t("2026-11-23T09:00:00Z"),
            end: t("2026-11-23T13:00:00Z"),
        };
        let mut back_to_back = vec![
            (t("2026-11-23T11:00:00Z"), t("2026-11-23T14:00:00Z")),
            (t("2026-11-23T08:00:00Z"), t("2026-11-23T11:00:00Z")),
        ];
        assert!(covered(&mut back_to_back, w));
        let mut gap = vec![
            (t("2026-11-23T08:00:00Z"), t("2026-11-23T10:00:00Z")),
            (t("2026-11-23T10:01:00Z"), t("2026-11-23T14:00:00Z")),
        ];
        assert!(!covered(&mut gap, w));
        let mut short = vec![(t("2026-11-23T08:00:00Z"), t("2026-11-23T12:59:59Z"))];
        assert!(!covered(&mut short, w));
    }
}
