//! Local fakes of PagerDuty's `GET /oncalls` and Opsgenie's
//! `GET /v2/schedules/{id}/on-calls` and `.../timeline`, serving shifts the test sets, in the
//! documented response shapes (tests/fixtures/pagerduty, tests/fixtures/opsgenie).
//! They check the credentials, page PagerDuty's answer two entries at a
//! time, and take faults: an error status or an answer that comes too late.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use crate::support::fixtures;

/// The token the PagerDuty fake accepts.
pub const PAGERDUTY_TOKEN: &str = "pd-test-token";
/// The key the Opsgenie fake accepts.
pub const OPSGENIE_KEY: &str = "og-test-key";

/// Someone on call in a schedule over `[start, end)`.
#[derive(Debug, Clone)]
pub struct Shift {
    /// The schedule's id.
    pub schedule: String,
    /// The person, as the service names them.
    pub email: String,
    /// First moment on call.
    pub start: DateTime<Utc>,
    /// First moment off call again.
    pub end: DateTime<Utc>,
}

/// A fault every request meets until cleared.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answer this status with the service's error body.
    Status(u16),
    /// Answer, correctly, after this long.
    Delay(Duration),
}

#[derive(Default)]
struct State {
    shifts: Vec<Shift>,
    fault: Option<Fault>,
    requests: Vec<String>,
}

/// Both fakes on one server: PagerDuty under `/pd`, Opsgenie under `/og`.
pub struct FakeOnCall {
    server: MockServer,
    state: Arc<Mutex<State>>,
    _rt: tokio::runtime::Runtime,
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

impl FakeOnCall {
    /// Starts the server with no shifts.
    pub fn start() -> FakeOnCall {
        let state = Arc::new(Mutex::new(State::default()));
        let (server, rt) = crate::support::serve(Responder(state.clone()));
        FakeOnCall {
            server,
            state,
            _rt: rt,
        }
    }

    /// `email` is on call in `schedule` from `start` until `end` (RFC 3339).
    pub fn shift(&self, schedule: &str, email: &str, start: &str, end: &str) {
        self.state.lock().unwrap().shifts.push(Shift {
            schedule: schedule.into(),
            email: email.into(),
            start: t(start),
            end: t(end),
        });
    }

    /// Every request from now on meets `fault` (`None` clears it).
    pub fn fault(&self, fault: Option<Fault>) {
        self.state.lock().unwrap().fault = fault;
    }

    /// The requests served so far, as `METHOD path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The environment that points gitgrant at both fakes.
    pub fn env(&self) -> Vec<(String, String)> {
        let base = self.server.uri();
        vec![
            ("PAGERDUTY_API_URL".into(), format!("{base}/pd")),
            ("PAGERDUTY_TOKEN".into(), PAGERDUTY_TOKEN.into()),
            ("OPSGENIE_API_URL".into(), format!("{base}/og")),
            ("OPSGENIE_API_KEY".into(), OPSGENIE_KEY.into()),
            ("GITGRANT_ON_CALL_TIMEOUT".into(), "2".into()),
        ]
    }
}

struct Responder(Arc<Mutex<State>>);

fn fixture(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(path)).unwrap()).unwrap()
}

fn query(req: &Request, key: &str) -> Vec<String> {
    req.url
        .query_pairs()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .collect()
}

fn header(req: &Request, name: &str) -> String {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        let path = req.url.path().to_string();
        state.requests.push(format!(
            "{} {}?{}",
            req.method,
            path,
            req.url.query().unwrap_or_default()
        ));
        let pagerduty = path.starts_with("/pd/");
        let error = |status: u16, message: &str| {
            let body = if pagerduty {
                json!({ "error": { "message": message, "code": 2001 } })
            } else {
                json!({ "message": message, "took": 0.001, "requestId": "0c0d0e0f" })
            };
            ResponseTemplate::new(status).set_body_json(body)
        };
        let mut delay = None;
        match state.fault {
            Some(Fault::Status(s)) => return error(s, "Internal server error"),
            Some(Fault::Delay(d)) => delay = Some(d),
            None => {}
        }
        let answer = if path == "/pd/oncalls" {
            pagerduty_oncalls(&state.shifts, req)
        } else if let Some(id) = path
            .strip_prefix("/og/v2/schedules/")
            .and_then(|p| p.strip_suffix("/on-calls"))
        {
            opsgenie_on_calls(&state.shifts, id, req)
        } else if let Some(id) = path
            .strip_prefix("/og/v2/schedules/")
            .and_then(|p| p.strip_suffix("/timeline"))
        {
            opsgenie_timeline(&state.shifts, id, req)
        } else {
            Err((404, "Not found".to_string()))
        };
        let response = match answer {
            Ok(body) => ResponseTemplate::new(200).set_body_json(body),
            Err((status, message)) => error(status, &message),
        };
        match delay {
            Some(d) => response.set_delay(d),
            None => response,
        }
    }
}

fn pagerduty_oncalls(shifts: &[Shift], req: &Request) -> Result<Value, (u16, String)> {
    if header(req, "authorization") != format!("Token token={PAGERDUTY_TOKEN}") {
        return Err((401, "Unauthorized".into()));
    }
    if header(req, "accept") != "application/vnd.pagerduty+json;version=2" {
        return Err((406, "Not acceptable".into()));
    }
    let schedules = query(req, "schedule_ids[]");
    let since = query(req, "since").first().map(|s| t(s));
    let until = query(req, "until").first().map(|s| t(s));
    let (Some(since), Some(until)) = (since, until) else {
        return Err((400, "since and until are required here".into()));
    };
    if until <= since {
        return Err((400, "until must be after since".into()));
    }
    let users = query(req, "include[]").iter().any(|i| i == "users");
    let offset: usize = query(req, "offset")
        .first()
        .map_or(0, |o| o.parse().unwrap());
    let limit: usize = query(req, "limit")
        .first()
        .map_or(25, |l| l.parse().unwrap());
    let page = limit.min(2);
    let template = fixture("pagerduty/oncalls.json");
    let entry = template["oncalls"][0].clone();
    let all: Vec<Value> = shifts
        .iter()
        .filter(|s| schedules.contains(&s.schedule) && s.start < until && since < s.end)
        .enumerate()
        .map(|(i, s)| {
            let mut e = entry.clone();
            e["user"]["id"] = json!(format!("PUSER{i:02}"));
            if users {
                e["user"]["email"] = json!(s.email);
            } else {
                // Without include[]=users the user is a reference only.
                e["user"] = json!({ "id": format!("PUSER{i:02}"), "type": "user_reference" });
            }
            e["schedule"]["id"] = json!(s.schedule);
            e["start"] = json!(s.start.to_rfc3339());
            e["end"] = json!(s.end.to_rfc3339());
            e
        })
        .collect();
    let mut body = template;
    body["oncalls"] = json!(all.iter().skip(offset).take(page).collect::<Vec<_>>());
    body["limit"] = json!(page);
    body["offset"] = json!(offset);
    body["more"] = json!(offset + page < all.len());
    Ok(body)
}

/// Opsgenie's answer to a wrong key or an unknown schedule.
fn opsgenie_known(shifts: &[Shift], id: &str, req: &Request) -> Result<(), (u16, String)> {
    if header(req, "authorization") != format!("GenieKey {OPSGENIE_KEY}") {
        return Err((401, "Could not authenticate".into()));
    }
    if !shifts.iter().any(|s| s.schedule == id) {
        return Err((404, format!("Schedule with id [{id}] does not exist")));
    }
    Ok(())
}

fn opsgenie_on_calls(shifts: &[Shift], id: &str, req: &Request) -> Result<Value, (u16, String)> {
    opsgenie_known(shifts, id, req)?;
    if query(req, "flat").first().map(String::as_str) != Some("true") {
        return Err((400, "this fake answers flat=true only".into()));
    }
    let at = query(req, "date").first().map_or_else(Utc::now, |d| t(d));
    let mut body = fixture("opsgenie/on-calls.json");
    body["data"]["_parent"]["id"] = json!(id);
    body["data"]["onCallRecipients"] = json!(
        shifts
            .iter()
            .filter(|s| s.schedule == id && s.start <= at && at < s.end)
            .map(|s| s.email.clone())
            .collect::<Vec<_>>()
    );
    Ok(body)
}

fn opsgenie_timeline(shifts: &[Shift], id: &str, req: &Request) -> Result<Value, (u16, String)> {
    opsgenie_known(shifts, id, req)?;
    if query(req, "intervalUnit").first().map(String::as_str) != Some("days") {
        return Err((400, "this fake answers intervalUnit=days only".into()));
    }
    let days: i64 = query(req, "interval")
        .first()
        .map_or(1, |i| i.parse().unwrap());
    let start = query(req, "date").first().map_or_else(Utc::now, |d| t(d));
    let end = start + chrono::TimeDelta::days(days);
    let mut body = fixture("opsgenie/timeline.json");
    body["data"]["_parent"]["id"] = json!(id);
    body["data"]["startDate"] = json!(start.to_rfc3339());
    body["data"]["endDate"] = json!(end.to_rfc3339());
    let template = body["data"]["finalTimeline"]["rotations"][0]["periods"][0].clone();
    let periods: Vec<Value> = shifts
        .iter()
        .filter(|s| s.schedule == id && s.start < end && start < s.end)
        .map(|s| {
            let mut p = template.clone();
            p["startDate"] = json!(s.start.max(start).to_rfc3339());
            p["endDate"] = json!(s.end.min(end).to_rfc3339());
            p["recipient"]["name"] = json!(s.email);
            p
        })
        .collect();
    body["data"]["finalTimeline"]["rotations"][0]["periods"] = json!(periods);
    Ok(body)
}
