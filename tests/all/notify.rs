//! Notifications, end to end: the real binary against moto, posting to a
//! local HTTP sink that stands in for Slack, Teams and a webhook receiver.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use crate::hostile::{Behaviour, Hostile, closed_port};
use crate::moto::{moto, plant_policy, policies};
use crate::reconcile::{PATH, aws_cmd, aws_process, run_env, setup};
use crate::support::{GitRepo, grant_yaml};

const SECRET: &str = "webhook-test-secret";

/// A request the sink received: its path, headers and body.
type Received = (String, Vec<(String, String)>, Vec<u8>);

/// A received request with its body read as JSON.
type Message = (String, Vec<(String, String)>, Value, Vec<u8>);

/// What the sink received, and how it answers.
#[derive(Default)]
struct Sink {
    received: Vec<Received>,
    /// Status for the webhook path (default 200).
    hook_status: Option<u16>,
    /// Delay before answering Slack.
    slack_delay: Option<Duration>,
}

struct Recorder(Arc<Mutex<Sink>>);

impl Respond for Recorder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let headers = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let path = req.url.path().to_string();
        s.received.push((path.clone(), headers, req.body.clone()));
        let status = match path.as_str() {
            "/hook" => s.hook_status.unwrap_or(200),
            _ => 200,
        };
        let mut r = ResponseTemplate::new(status).set_body_string("ok");
        if path == "/slack"
            && let Some(d) = s.slack_delay
        {
            r = r.set_delay(d);
        }
        r
    }
}

struct Setup {
    m: crate::moto::Moto,
    repo: GitRepo,
    iam: aws_sdk_iam::Client,
    sink: Arc<Mutex<Sink>>,
    url: String,
    _server: MockServer,
    _rt: tokio::runtime::Runtime,
}

const NOTIFY: &str = "notify:
  - name: security
    kind: slack
    url_env: GITGRANT_TEST_SLACK_URL
    events: [applied, expiring, revoked, refused, drift, failed]
  - name: ops
    kind: teams
    url_env: GITGRANT_TEST_TEAMS_URL
    events: [applied]
  - name: siem
    kind: webhook
    url_env: GITGRANT_TEST_HOOK_URL
    secret_env: GITGRANT_TEST_HOOK_SECRET
    events: [applied, revoked]
";

fn start() -> Setup {
    let m = moto();
    let (repo, iam) = setup(&m);
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap();
    repo.commit(
        &[("gitgrant.yaml", Some(&format!("{policy}{NOTIFY}")))],
        "Notify security, ops and the SIEM (#2)",
        "2026-11-23T08:10:00Z",
    );
    let sink = Arc::new(Mutex::new(Sink::default()));
    let (server, rt) = crate::support::serve(Recorder(sink.clone()));
    Setup {
        url: server.uri(),
        m,
        repo,
        iam,
        sink,
        _server: server,
        _rt: rt,
    }
}

impl Setup {
    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "GITGRANT_TEST_SLACK_URL".into(),
                format!("{}/slack", self.url),
            ),
            (
                "GITGRANT_TEST_TEAMS_URL".into(),
                format!("{}/teams", self.url),
            ),
            (
                "GITGRANT_TEST_HOOK_URL".into(),
                format!("{}/hook", self.url),
            ),
            ("GITGRANT_TEST_HOOK_SECRET".into(), SECRET.into()),
        ]
    }

    /// alice's 2h read-only grant lands at 09:00.
    fn land_alice(&self) {
        self.repo.commit(
            &[(
                "grants/ro/alice-1.yaml",
                Some(&grant_yaml("alice", "ro", "duration: 2h")),
            )],
            "alice: ro for 2h (#3)",
            "2026-11-23T09:00:00Z",
        );
    }

    fn reconcile(&self, now: &str, extra: &[&str]) -> (i32, Value) {
        self.reconcile_with(now, extra, &[])
    }

    /// [`Setup::reconcile`] with `over` replacing or adding variables.
    fn reconcile_with(&self, now: &str, extra: &[&str], over: &[(&str, &str)]) -> (i32, Value) {
        let env = self.env();
        let mut env: Vec<(&str, &str)> = env
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .filter(|(a, _)| over.iter().all(|(k, _)| k != a))
            .collect();
        env.extend(over);
        let mut args = vec!["reconcile", "--now", now];
        args.extend(extra);
        run_env(&self.repo.path, &self.m.url, &args, &env)
    }

    /// The bodies each path received, in order, and forget them.
    fn take(&self) -> Vec<Message> {
        let mut s = self.sink.lock().unwrap();
        s.received
            .drain(..)
            .map(|(p, h, b)| (p, h, serde_json::from_slice(&b).unwrap(), b))
            .collect()
    }
}

/// The event each message is about: Slack's fallback text, Teams' title,
/// the CloudEvent's type.
fn what(path: &str, body: &Value) -> String {
    match path {
        "/slack" => body["text"].as_str().unwrap().to_string(),
        "/teams" => body["attachments"][0]["content"]["body"][0]["text"]
            .as_str()
            .unwrap()
            .to_string(),
        _ => body["type"].as_str().unwrap().to_string(),
    }
}

/// `sha256=<hex>` of HMAC-SHA256 under [`SECRET`] over `prefix` then
/// `body`, computed here, not with gitgrant's code.
fn hmac_hex(prefix: &[u8], body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(prefix);
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// `name`'s value among `headers`, or "".
fn header_of(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(h, _)| h.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[test]
fn each_event_is_told_once_across_runs_and_a_dry_run_tells_nothing() {
    let s = start();
    s.land_alice();
    let (code, json) = s.reconcile("2026-11-23T09:30:00Z", &["--dry-run"]);
    assert_eq!(code, 0, "{json:#}");
    assert!(s.take().is_empty(), "a dry run sends nothing");

    let (code, json) = s.reconcile("2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let got = s.take();
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|(p, _, b, _)| (p.clone(), what(p, b)))
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    assert!(
        seen[0].0 == "/hook" && seen[0].1 == "dev.gitgrant.grant.applied",
        "{seen:?}"
    );
    assert!(seen[1].0 == "/slack" && seen[1].1.starts_with("gitgrant: Granted: alice has ro in AWS account `111111111111` (aws-prod) until 2026-11-23T11:00:00Z"), "{seen:?}");
    assert_eq!(seen[2].0, "/teams");

    // The webhook's body is a CloudEvent, signed over its raw bytes.
    let (_, headers, event, raw) = got.iter().find(|(p, ..)| p == "/hook").unwrap().clone();
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["source"], "https://github.com/acme/access");
    assert_eq!(event["subject"], "ro/alice-1");
    assert_eq!(event["data"]["window"]["end"], "2026-11-23T11:00:00Z");
    let header = |k: &str| {
        headers
            .iter()
            .find(|(h, _)| h.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(header("content-type").starts_with("application/cloudevents+json"));
    let timestamp = header("x-gitgrant-timestamp");
    assert_eq!(
        header("x-gitgrant-signature-256"),
        hmac_hex(&format!("{timestamp}.").into_bytes(), &raw)
    );
    let applied_id = event["id"].as_str().unwrap().to_string();

    // The next run has nothing new to tell.
    let (code, json) = s.reconcile("2026-11-23T10:00:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert!(s.take().is_empty());
    // Within the 15 minutes before the end: `expiring`, to Slack only, once.
    s.reconcile("2026-11-23T10:50:00Z", &[]);
    let got = s.take();
    assert_eq!(got.len(), 1);
    assert!(
        what(&got[0].0, &got[0].2)
            .starts_with("gitgrant: Expiring: alice loses ro at 2026-11-23T11:00:00Z")
    );
    s.reconcile("2026-11-23T10:55:00Z", &[]);
    assert!(s.take().is_empty(), "expiring is told once");

    // Ended: revoked, to Slack and the webhook, once.
    let (code, json) = s.reconcile("2026-11-23T11:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert!(policies(&s.iam, PATH).is_empty());
    let got = s.take();
    let mut seen: Vec<String> = got
        .iter()
        .map(|(p, _, b, _)| format!("{p} {}", what(p, b)))
        .collect();
    seen.sort();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0], "/hook dev.gitgrant.grant.revoked");
    assert!(
        seen[1].starts_with("/slack gitgrant: Revoked: ro/alice-1"),
        "{seen:?}"
    );
    let revoked_id = got.iter().find(|(p, ..)| p == "/hook").unwrap().2["id"].clone();
    assert_ne!(revoked_id, applied_id.as_str());
    s.reconcile("2026-11-23T11:45:00Z", &[]);
    assert!(s.take().is_empty());
}

#[test]
fn a_failing_channel_is_retried_and_reported_and_the_reconcile_still_succeeds() {
    let s = start();
    s.sink.lock().unwrap().hook_status = Some(500);
    s.land_alice();
    let (code, json) = s.reconcile("2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(policies(&s.iam, PATH).len(), 1, "applied regardless");
    let hook: Vec<&Value> = json["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["channel"] == "siem")
        .collect();
    assert_eq!(hook.len(), 1, "{json:#}");
    assert_eq!(hook[0]["status"], "failed");
    assert_eq!(hook[0]["attempts"], 3);
    assert_eq!(hook[0]["error"], "answered 500 Internal Server Error");
    let got = s.take();
    assert_eq!(got.iter().filter(|(p, ..)| p == "/hook").count(), 3);
    // Answering again: the next run sends what the last one could not,
    // and nothing else.
    s.sink.lock().unwrap().hook_status = None;
    let (code, json) = s.reconcile("2026-11-23T09:45:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let got = s.take();
    assert_eq!(
        got.len(),
        1,
        "{:?}",
        got.iter().map(|g| &g.0).collect::<Vec<_>>()
    );
    assert_eq!(got[0].2["type"], "dev.gitgrant.grant.applied");
}

#[test]
fn a_run_killed_after_applying_tells_on_the_next_run() {
    let s = start();
    s.sink.lock().unwrap().slack_delay = Some(Duration::from_secs(30));
    s.land_alice();
    let mut run = aws_process(&s.m.url);
    run.args(["reconcile", "--now", "2026-11-23T09:30:00Z", "--repo"])
        .arg(&s.repo.path)
        .envs(s.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = run.spawn().unwrap();
    // Killed once the grant is in the cloud and Slack has the message in
    // hand but has not answered.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while s
        .sink
        .lock()
        .unwrap()
        .received
        .iter()
        .all(|(p, ..)| p != "/slack")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never reached Slack"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(policies(&s.iam, PATH).len(), 1);
    s.take();
    s.sink.lock().unwrap().slack_delay = None;
    let (code, json) = s.reconcile("2026-11-23T09:35:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let got = s.take();
    let slack: Vec<String> = got
        .iter()
        .filter(|(p, ..)| p == "/slack")
        .map(|(p, _, b, _)| what(p, b))
        .collect();
    assert_eq!(slack.len(), 1, "{slack:?}");
    assert!(
        slack[0].starts_with("gitgrant: Granted: alice"),
        "{slack:?}"
    );
}

#[test]
fn tampering_repaired_is_told_once() {
    let s = start();
    plant_policy(&s.iam, PATH, "gitgrant-ro-stray", "bob");
    let (code, json) = s.reconcile("2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    assert!(
        policies(&s.iam, PATH).is_empty(),
        "the planted policy is gone"
    );
    let got: Vec<String> = s
        .take()
        .iter()
        .map(|(p, _, b, _)| format!("{p} {}", what(p, b)))
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0],
        "/slack gitgrant: Drift repaired: revoke gitgrant-ro-stray in aws-prod (drift), detaching from IAM user bob"
    );
    s.reconcile("2026-11-23T09:45:00Z", &[]);
    assert!(s.take().is_empty());
}

#[test]
fn a_forged_note_marking_every_event_sent_does_not_silence_them() {
    let s = start();
    // The reconciler signs, and the policy's branch lists its key.
    let signers = std::fs::read_to_string(
        crate::support::fixtures().join("github-access/.github/allowed_signers"),
    )
    .unwrap();
    s.repo.commit(
        &[(".github/allowed_signers", Some(&signers))],
        "The reconciler's signing key (#4)",
        "2026-11-23T08:20:00Z",
    );
    s.land_alice();
    let landing = s.repo.head();
    // Before the run, someone with push access writes a note on the
    // landing commit saying every channel was told already.
    let id = gitgrant::names::hash_hex(&["applied", "ro/alice-1", &landing, ""], 24);
    let sent: serde_json::Map<String, Value> = ["security", "ops", "siem"]
        .iter()
        .map(|c| (format!("{c}:{id}"), Value::from("2026-11-23T09:01:00Z")))
        .collect();
    let forged = serde_json::json!({ "version": 1, "grants": {}, "sent": sent });
    crate::support::put_note(&s.repo.path, &landing, &forged.to_string());
    let env: Vec<(String, String)> = s
        .env()
        .into_iter()
        .chain([(
            "GITGRANT_SIGNING_KEY".to_string(),
            crate::support::signing_key("reconciler"),
        )])
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let (code, json) = run_env(
        &s.repo.path,
        &s.m.url,
        &["reconcile", "--now", "2026-11-23T09:30:00Z"],
        &env,
    );
    assert_eq!(code, 0, "{json:#}");
    let told: Vec<String> = s.take().iter().map(|(p, _, b, _)| what(p, b)).collect();
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(
        told.iter()
            .all(|t| t.contains("Granted") || t.ends_with(".applied")),
        "{told:?}"
    );
}

/// alice, bob and carol each get a 2h read-only grant at 09:00: three
/// `applied` events.
fn land_three(s: &Setup) {
    let files: Vec<(String, String)> = ["alice", "bob", "carol"]
        .iter()
        .map(|who| {
            (
                format!("grants/ro/{who}-1.yaml"),
                grant_yaml(who, "ro", "duration: 2h"),
            )
        })
        .collect();
    let files: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_str())))
        .collect();
    s.repo.commit(
        &files,
        "alice, bob, carol: ro for 2h (#3)",
        "2026-11-23T09:00:00Z",
    );
}

#[test]
fn a_channel_that_never_answers_holds_a_run_only_until_the_notification_deadline() {
    let s = start();
    land_three(&s);
    // Slack accepts the connection and never answers: before, each message
    // waited 3 x 10 s (31.5 s with the pauses), one after another.
    let slack = Hostile::start(Behaviour::Hang);
    let url = format!("{}/services/T0/B0/x", slack.url);
    let started = Instant::now();
    let (code, json) = s.reconcile_with(
        "2026-11-23T09:30:00Z",
        &[],
        &[
            ("GITGRANT_TEST_SLACK_URL", &url),
            ("GITGRANT_NOTIFY_TIMEOUT", "4"),
        ],
    );
    let took = started.elapsed();
    assert_eq!(code, 0, "{json:#}");
    assert_eq!(policies(&s.iam, PATH).len(), 3, "applied regardless");
    assert!(took < Duration::from_secs(15), "the run took {took:?}");
    // Slack: the first message ran into the deadline, the rest were not
    // tried; Teams and the webhook, sent to side by side, got all three.
    let status = |channel: &str| -> Vec<String> {
        json["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["channel"] == channel)
            .map(|d| d["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        status("security"),
        ["failed", "skipped", "skipped"],
        "{json:#}"
    );
    assert_eq!(status("ops"), ["sent"; 3], "{json:#}");
    assert_eq!(status("siem"), ["sent"; 3], "{json:#}");
    assert_eq!(slack.requests(), 1, "one request, then left alone");
    let got = s.take();
    assert_eq!(
        got.len(),
        6,
        "{:?}",
        got.iter().map(|g| &g.0).collect::<Vec<_>>()
    );
    // The next run, with Slack back, sends Slack what it missed, only.
    let (code, json) = s.reconcile("2026-11-23T09:45:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let got = s.take();
    assert_eq!(got.len(), 3, "{json:#}");
    assert!(got.iter().all(|(p, ..)| p == "/slack"));
}

#[test]
fn a_channel_that_fails_is_not_asked_again_for_each_message_of_the_run() {
    let s = start();
    s.sink.lock().unwrap().hook_status = Some(503);
    land_three(&s);
    let (code, json) = s.reconcile("2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    // Three attempts for the first message, none for the other two.
    let got = s.take();
    assert_eq!(got.iter().filter(|(p, ..)| p == "/hook").count(), 3);
    let skipped = json["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["channel"] == "siem" && d["status"] == "skipped")
        .count();
    assert_eq!(skipped, 2, "{json:#}");
}

#[test]
fn a_replayed_webhook_message_cannot_carry_a_fresh_timestamp() {
    let s = start();
    s.land_alice();
    let before = chrono::Utc::now().timestamp();
    let (code, json) = s.reconcile("2026-11-23T09:30:00Z", &[]);
    assert_eq!(code, 0, "{json:#}");
    let after = chrono::Utc::now().timestamp();
    let (_, headers, _, raw) = s.take().into_iter().find(|(p, ..)| p == "/hook").unwrap();
    // The timestamp is the moment of sending, and the signature covers it
    // with the body: a receiver refusing old timestamps refuses a replay,
    // and a replayer cannot put a new timestamp on the old signature.
    let timestamp = header_of(&headers, "x-gitgrant-timestamp");
    let sent: i64 = timestamp.parse().expect("a Unix time");
    assert!(
        (before..=after).contains(&sent),
        "{sent} not in {before}..={after}"
    );
    let signature = header_of(&headers, "x-gitgrant-signature-256");
    assert_eq!(signature, hmac_hex(format!("{sent}.").as_bytes(), &raw));
    assert_ne!(
        signature,
        hmac_hex(format!("{}.", sent + 600).as_bytes(), &raw)
    );
    assert_ne!(
        signature,
        hmac_hex(b"", &raw),
        "the body alone is not what is signed"
    );
}

#[test]
fn a_verbose_run_never_logs_a_channels_secret_url() {
    let s = start();
    s.land_alice();
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/services/T000/B000/s3cr3t-slack-token");
    let out = aws_cmd(&s.m.url)
        .args(["-v", "reconcile", "--now", "2026-11-23T09:30:00Z", "--repo"])
        .arg(&s.repo.path)
        .envs(s.env())
        .env("GITGRANT_TEST_SLACK_URL", &url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("security"),
        "the failure is reported: {stderr}"
    );
    assert!(!stderr.contains("s3cr3t-slack-token"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cr3t-slack-token"));
}

#[test]
fn a_policy_that_posts_another_variable_of_the_run_is_refused() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let policy = std::fs::read_to_string(repo.path.join("gitgrant.yaml")).unwrap();
    // A channel whose URL is the run's GitHub token, signed with AWS's key.
    let hostile = format!(
        "{policy}notify:\n  - name: leak\n    kind: webhook\n    url_env: GITHUB_TOKEN\n    secret_env: AWS_SECRET_ACCESS_KEY\n    events: [applied]\n"
    );
    repo.commit(
        &[("gitgrant.yaml", Some(&hostile))],
        "Notify a new channel (#2)",
        "2026-11-20T10:00:00Z",
    );
    let line = hostile
        .lines()
        .position(|l| l.contains("GITHUB_TOKEN"))
        .unwrap()
        + 1;
    let out = crate::support::gitgrant()
        .args(["validate", "--repo"])
        .arg(&repo.path)
        .output()
        .unwrap();
    let all =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("error[notify]"), "{all}");
    assert!(all.contains(&format!("gitgrant.yaml:{line}:14")), "{all}");
    assert!(
        all.contains(&format!("gitgrant.yaml:{}:17", line + 1)),
        "{all}"
    );
    assert!(
        all.contains("`GITHUB_TOKEN` is not a `GITGRANT_*` environment variable's name"),
        "{all}"
    );
}
