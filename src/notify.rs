//! Telling people as it happens: the events of a run, derived from what the
//! run found and did (so a run that stopped after a change but before its
//! message sends it next time), each sent once to each channel that wants
//! it, and recorded as sent in the evidence notes.
//!
//! A channel that fails is retried a few times, then reported; it never
//! fails the reconcile. Events not yet sent are sent by a later run.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::engine::{Applied, Prepared};
use crate::git::CommitId;
use crate::grant::{Window, fmt_time};
use crate::plan::RevokeReason;
use crate::policy::{Channel, ChannelKind, Event};
use crate::removal::Removal;

/// One thing to tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// Stable for one event: a receiver can deduplicate by it.
    pub id: String,
    /// What happened.
    pub event: Event,
    /// The grant, or the resource when no grant is known.
    pub grant: String,
    /// Its subject, when known.
    pub subject: Option<String>,
    /// Its role, when known.
    pub role: Option<String>,
    /// Where it applies, in words.
    pub targets: Option<String>,
    /// Its window, when known.
    pub window: Option<Window>,
    /// The pull request that landed it, when recorded.
    pub pull_request: Option<u64>,
    /// In one line, for people.
    pub text: String,
    /// The commit whose note records that it was sent.
    #[serde(skip)]
    pub anchor: CommitId,
}

/// How one notice fared on one channel (ordered by name, as the run's
/// summary counts them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The channel refused it or did not answer in time.
    Failed,
    /// The channel took it.
    Sent,
    /// Not tried: the channel failed an earlier notice this run.
    Skipped,
    /// Not tried: the channel's URL variable is not set.
    Unconfigured,
}

impl Status {
    /// Its name: `sent`, `failed`, `skipped`, `unconfigured`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Unconfigured => "unconfigured",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happened to one notice on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// The channel.
    pub channel: String,
    /// The event.
    pub event: Event,
    /// The notice's id.
    pub id: String,
    /// The grant.
    pub grant: String,
    /// How it went.
    pub status: Status,
    /// Requests made.
    pub attempts: u32,
    /// Why not, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn id_of(parts: &[&str]) -> String {
    crate::names::hash_hex(parts, 24)
}

/// The notices of a run: what it applied (or found applied), what ends
/// soon, what it revoked, refused, repaired and failed. `leads` is the
/// longest `expiring` lead any channel asks for; each channel filters by
/// its own.
pub fn notices(p: &Prepared, applied: &[Applied], due: &[Removal]) -> Vec<Notice> {
    let mut out = Vec::new();
    let ok = |grant: &str, action: crate::plan::Action| {
        applied
            .iter()
            .any(|a| a.grant == grant && a.action == action && a.ok)
    };
    let failed: BTreeSet<&str> = applied
        .iter()
        .filter(|a| !a.ok)
        .map(|a| a.grant.as_str())
        .collect();
    let refused: BTreeSet<&str> = p.plan.refused.iter().map(|r| r.grant.as_str()).collect();
    let pending: BTreeSet<&str> = p
        .plan
        .changes
        .iter()
        .filter(|c| c.action().gives_access())
        .map(|c| c.grant())
        .collect();
    let unread: BTreeSet<&str> = p
        .plan
        .unreadable
        .iter()
        .map(|u| u.provider.as_str())
        .collect();
    let lookup = |grant: &str| {
        // A change may name a resource no grant id names: its anchor is the tip.
        let anchor = grant
            .parse::<crate::grant::GrantId>()
            .ok()
            .and_then(|id| p.landed(&id.path()))
            .unwrap_or(p.tip);
        let w = p.active.get(grant);
        (anchor, w)
    };
    let notice = |event: Event, grant: &str, key: &str, text: String| {
        let (anchor, w) = lookup(grant);
        Notice {
            id: id_of(&[event.name(), grant, &anchor.to_string(), key]),
            event,
            grant: grant.to_string(),
            subject: w.map(|w| w.subject.clone()),
            role: w.map(|w| w.role.clone()),
            targets: w.map(|w| w.targets.clone()),
            window: w.map(|w| w.window),
            pull_request: w.and_then(|w| w.pull_request),
            text,
            anchor,
        }
    };
    for (grant, w) in &p.active {
        // Applied: this run made it, or an earlier one did (nothing left to
        // change, nothing refused or failed, its providers read).
        let in_cloud = ok(grant, crate::plan::Action::Grant)
            || (!pending.contains(grant.as_str())
                && !refused.contains(grant.as_str())
                && !failed.contains(grant.as_str())
                && !w.providers.iter().any(|pr| unread.contains(pr.as_str())));
        if !in_cloud {
            continue;
        }
        let words = format!(
            "{} has {} in {} until {}",
            w.subject,
            w.role,
            w.targets,
            fmt_time(w.window.end)
        );
        out.push(notice(
            Event::Applied,
            grant,
            "",
            format!("Granted: {words}"),
        ));
        if w.break_glass {
            out.push(notice(
                Event::BreakGlass,
                grant,
                "",
                format!("Break-glass: {words}, without review"),
            ));
        }
        out.push(notice(
            Event::Expiring,
            grant,
            "",
            format!(
                "Expiring: {} loses {} at {}",
                w.subject,
                w.role,
                fmt_time(w.window.end)
            ),
        ));
    }
    let mut revoked = BTreeSet::new();
    for c in &p.plan.changes {
        let Some(reason) = c.revoke_reason() else {
            continue;
        };
        if c.is_fence() || matches!(reason, RevokeReason::Drift | RevokeReason::Renamed) {
            continue;
        }
        if ok(c.grant(), crate::plan::Action::Revoke) && revoked.insert(c.grant().to_string()) {
            out.push(notice(
                Event::Revoked,
                c.grant(),
                "",
                format!("Revoked: {} ({reason}) in {}", c.grant(), c.provider()),
            ));
        }
    }
    // An ended grant whose file is still there was revoked by this run or
    // an earlier one that stopped before telling.
    for r in due {
        if revoked.insert(r.grant.clone()) {
            out.push(notice(
                Event::Revoked,
                &r.grant,
                "",
                format!("Revoked: {} (expired)", r.grant),
            ));
        }
    }
    for r in &p.plan.refused {
        out.push(notice(
            Event::Refused,
            &r.grant,
            &r.why,
            format!("Refused: {} in {}: {}", r.grant, r.provider, r.why),
        ));
    }
    for c in p.plan.changes.iter().filter(|c| c.is_drift()) {
        if applied
            .iter()
            .any(|a| a.grant == c.grant() && a.provider == c.provider() && a.ok)
        {
            let line = c.line();
            out.push(notice(
                Event::Drift,
                c.grant(),
                &format!("{line}@{}", fmt_time(p.now)),
                format!(
                    "Drift repaired: {}",
                    c.text().split_whitespace().collect::<Vec<_>>().join(" ")
                ),
            ));
        }
    }
    for a in applied.iter().filter(|a| !a.ok) {
        let error = a.error.clone().unwrap_or_default();
        out.push(notice(
            Event::Failed,
            &a.grant,
            &format!("{}:{}:{error}", a.provider, a.action),
            format!(
                "Failed: {} {} in {}: {error}",
                a.action, a.grant, a.provider
            ),
        ));
    }
    out
}

/// Whether `channel` wants `n` at `now`: one of its events, and for
/// `expiring`, within its lead before the end.
fn wants(channel: &Channel, n: &Notice, now: DateTime<Utc>) -> bool {
    channel.events.contains(&n.event)
        && (n.event != Event::Expiring
            || n.window
                .is_some_and(|w| now < w.end && w.end - now <= channel.expiring_lead.to_delta()))
}

/// The body `channel` gets for `n`.
pub fn body(
    channel: &Channel,
    n: &Notice,
    repository: &str,
    run: &str,
    now: DateTime<Utc>,
) -> Value {
    let mut facts = vec![
        ("Event", n.event.name().to_string()),
        ("Grant", n.grant.clone()),
    ];
    if let Some(s) = &n.subject {
        facts.push(("Subject", s.clone()));
    }
    if let Some(r) = &n.role {
        facts.push(("Role", r.clone()));
    }
    if let Some(t) = &n.targets {
        facts.push(("Where", t.clone()));
    }
    if let Some(w) = n.window {
        facts.push((
            "Window",
            format!("{} → {}", fmt_time(w.start), fmt_time(w.end)),
        ));
    }
    let pr_url = n
        .pull_request
        .map(|pr| format!("https://github.com/{repository}/pull/{pr}"));
    if let Some(u) = &pr_url {
        facts.push(("Pull request", u.clone()));
    }
    match channel.kind {
        ChannelKind::Slack => {
            let fields: Vec<Value> = facts
                .iter()
                .map(|(k, v)| json!({ "type": "mrkdwn", "text": format!("*{k}*\n{}", slack_escape(v)) }))
                .collect();
            json!({
                "text": format!("gitgrant: {}", n.text),
                "blocks": [
                    { "type": "section", "text": { "type": "mrkdwn", "text": format!("*gitgrant* {}", slack_escape(&n.text)) } },
                    { "type": "section", "fields": fields.into_iter().take(10).collect::<Vec<_>>() },
                    { "type": "context", "elements": [ { "type": "mrkdwn", "text": format!("{repository} · run: {}", slack_escape(run)) } ] }
                ]
            })
        }
        ChannelKind::Teams => {
            let facts: Vec<Value> = facts
                .iter()
                .map(|(k, v)| json!({ "title": k, "value": v }))
                .collect();
            let mut actions = Vec::new();
            if run.starts_with("https://") {
                actions.push(json!({ "type": "Action.OpenUrl", "title": "The run", "url": run }));
            }
            if let Some(u) = &pr_url {
                actions
                    .push(json!({ "type": "Action.OpenUrl", "title": "Pull request", "url": u }));
            }
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            { "type": "TextBlock", "text": format!("gitgrant: {}", n.text), "weight": "Bolder", "wrap": true },
                            { "type": "FactSet", "facts": facts }
                        ],
                        "actions": actions
                    }
                }]
            })
        }
        ChannelKind::Webhook => json!({
            "specversion": "1.0",
            "type": format!("dev.gitgrant.grant.{}", n.event.name()),
            "source": format!("https://github.com/{repository}"),
            "subject": n.grant,
            "id": n.id,
            "time": fmt_time(now),
            "datacontenttype": "application/json",
            "data": {
                "event": n.event.name(),
                "grant": n.grant,
                "subject": n.subject,
                "role": n.role,
                "targets": n.targets,
                "window": n.window,
                "pull_request": n.pull_request,
                "text": n.text,
                "run": run,
            }
        }),
    }
}

/// Slack's mrkdwn escapes: `&`, `<` and `>`.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `sha256=<hex>` of HMAC-SHA256 with `key` over `{timestamp}.{body}`:
/// the timestamp (Unix seconds, sent as `X-Gitgrant-Timestamp`) is signed
/// with the body, so a receiver that refuses old timestamps refuses a
/// replayed message (the scheme of Stripe's and Slack's signatures).
pub fn signature(key: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Seconds all of a run's notifications may take together when
/// `GITGRANT_NOTIFY_TIMEOUT` is not set.
pub const DEFAULT_TIMEOUT_SECS: u64 = 20;
/// Seconds one request may take at most, within the run's budget.
pub const REQUEST_TIMEOUT_SECS: u64 = 10;

/// The run's budget for notifications: `GITGRANT_NOTIFY_TIMEOUT` seconds,
/// else [`DEFAULT_TIMEOUT_SECS`].
fn budget() -> Duration {
    std::env::var("GITGRANT_NOTIFY_TIMEOUT")
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .filter(|t| t.is_finite() && *t > 0.0 && *t < 3600.0)
        .map_or(
            Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            Duration::from_secs_f64,
        )
}

/// Sends each notice a channel wants and has not had (`sent` holds
/// `<channel>:<id>` of earlier runs); returns what happened, the
/// deliveries that went out being the ones to record.
///
/// Channels are sent to side by side, all within one deadline for the run
/// (`GITGRANT_NOTIFY_TIMEOUT`); a channel that fails one notice (after its
/// retries) is not tried again this run: its other notices are `skipped`,
/// and a later run sends them. So a slow or dead channel costs a run the
/// budget at most, once, and never holds the reconcile.
pub async fn send(
    p: &Prepared,
    notices: &[Notice],
    sent: &BTreeSet<String>,
    run: &str,
) -> Vec<(Delivery, Option<CommitId>)> {
    let budget = budget();
    let deadline = tokio::time::Instant::now() + budget;
    let client = crate::http::client(budget.min(Duration::from_secs(REQUEST_TIMEOUT_SECS))).ok();
    let repository = p.policy.repository();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, channel) in p.policy.notify.iter().enumerate() {
        let mine: Vec<(Notice, Vec<u8>)> = notices
            .iter()
            .filter(|n| {
                wants(channel, n, p.now) && !sent.contains(&format!("{}:{}", channel.name, n.id))
            })
            .map(|n| {
                let body = serde_json::to_vec(&body(channel, n, &repository, run, p.now))
                    .unwrap_or_default();
                (n.clone(), body)
            })
            .collect();
        if mine.is_empty() {
            continue;
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let target = Target {
            channel: channel.clone(),
            url: env(&channel.url_env),
            key: channel.secret_env.as_deref().and_then(env),
            client: client.clone(),
        };
        tasks.spawn(async move { (i, target.deliver(mine, deadline).await) });
    }
    let mut done = tasks.join_all().await;
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().flat_map(|(_, d)| d).collect()
}

/// One channel, as a run sends to it.
struct Target {
    channel: Channel,
    url: Option<String>,
    key: Option<String>,
    client: Option<reqwest::Client>,
}

impl Target {
    /// Posts each notice in turn until one fails; the rest are skipped.
    async fn deliver(
        self,
        notices: Vec<(Notice, Vec<u8>)>,
        deadline: tokio::time::Instant,
    ) -> Vec<(Delivery, Option<CommitId>)> {
        let channel = &self.channel;
        let content_type = match channel.kind {
            ChannelKind::Webhook => "application/cloudevents+json; charset=utf-8",
            _ => "application/json",
        };
        let mut failed: Option<String> = None;
        let mut out = Vec::new();
        for (n, body) in notices {
            let mut d = Delivery {
                channel: channel.name.clone(),
                event: n.event,
                id: n.id.clone(),
                grant: n.grant.clone(),
                status: Status::Unconfigured,
                attempts: 0,
                error: None,
            };
            let (Some(url), Some(client)) = (&self.url, &self.client) else {
                d.error = Some(format!("{} is not set", channel.url_env));
                out.push((d, None));
                continue;
            };
            if let Some(why) = &failed {
                d.status = Status::Skipped;
                d.error = Some(format!(
                    "not tried: the channel failed earlier in this run ({why})"
                ));
                out.push((d, None));
                continue;
            }
            let make = || {
                let req = client
                    .post(url)
                    .header("Content-Type", content_type)
                    .body(body.clone());
                match &self.key {
                    Some(k) => {
                        let timestamp = Utc::now().timestamp().to_string();
                        let signed = signature(k.as_bytes(), &timestamp, &body);
                        req.header("X-Gitgrant-Timestamp", timestamp)
                            .header("X-Gitgrant-Signature-256", signed)
                    }
                    None => req,
                }
            };
            let (result, attempts) = crate::http::send(&channel.name, deadline, make).await;
            d.attempts = attempts;
            match result {
                Ok(_) => d.status = Status::Sent,
                Err(f) => {
                    d.status = Status::Failed;
                    d.error = Some(f.to_string());
                    failed = Some(f.to_string());
                }
            }
            let anchor = (d.status == Status::Sent).then_some(n.anchor);
            out.push((d, anchor));
        }
        out
    }
}

/// The `<channel>:<id>` of every notification the notes record as sent,
/// from the notes of `anchors`. With a signing key, only the reconciler's
/// signed notes count, so a forged note cannot silence a notification;
/// without one nothing is signed and every note counts (docs/trail.md says
/// what that leaves open).
pub fn already_sent(
    repo: &crate::git::Repo,
    anchors: &[CommitId],
    keys: crate::signing::Keys,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for a in anchors.iter().collect::<BTreeSet<_>>() {
        let note = repo.note(*a, keys.allowed);
        if let Some((n, trust)) = note
            && (keys.signer.is_none() || trust == crate::git::notes::Trust::Signed)
        {
            out.extend(n.sent.keys().cloned());
        }
    }
    out
}

/// What a run tells, by channel: `sent`, `failed`, … counted.
pub fn summary(deliveries: &[Delivery]) -> BTreeMap<String, BTreeMap<Status, usize>> {
    let mut out: BTreeMap<String, BTreeMap<Status, usize>> = BTreeMap::new();
    for d in deliveries {
        *out.entry(d.channel.clone())
            .or_default()
            .entry(d.status)
            .or_default() += 1;
    }
    out
}
