//! `audit --format html`: one self-contained page for auditors.
//!
//! Styles, script and data are inline (no network: it works opened from
//! disk and printed). The data is the audit itself, reduced to what the page
//! shows, as JSON in a `<script type="application/json">` element whose text
//! cannot end the element early. The script draws a timeline (one lane per
//! role or per subject, one bar per grant from landing to its end, coloured
//! by how it ended, findings marked where they happened), a cursor that
//! lists who could use what at a moment (the same rule as `audit --at`:
//! [`Lifecycle::usable_at`], sent as intervals), filters, and the tables.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Audit, Lifecycle};

const STYLE: &str = include_str!("report.css");
const SCRIPT: &str = include_str!("report.js");

/// How a lifecycle ended, as the page colours it.
fn end_kind(l: &Lifecycle) -> &'static str {
    match &l.end {
        None => "active",
        Some(e) if e.reason == "expired" => "expired",
        Some(e) if e.reason == "removed" => "removed",
        Some(_) => "revoked",
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

#[derive(Serialize)]
struct Data<'a> {
    now: i64,
    tip: Option<&'a str>,
    /// `https://github.com/owner/name` when the remote is known.
    links: Option<&'a str>,
    lifecycles: Vec<Row<'a>>,
    findings: Vec<Mark<'a>>,
}

#[derive(Serialize)]
struct Row<'a> {
    id: &'a str,
    occurrence: u32,
    subject: Option<&'a str>,
    role: Option<&'a str>,
    reason: Option<&'a str>,
    landed: i64,
    landed_commit: &'a str,
    pr: Option<u64>,
    end: Option<i64>,
    end_commit: Option<&'a str>,
    end_reason: Option<&'a str>,
    kind: &'static str,
    state: &'static str,
    window: Option<[i64; 2]>,
    /// When the subject could use the role: `audit --at` is true exactly
    /// inside these.
    usable: Vec<[i64; 2]>,
    approved_by: Option<&'a str>,
    findings: Vec<&'static str>,
}

#[derive(Serialize)]
struct Mark<'a> {
    rule: &'static str,
    grant: Option<&'a str>,
    occurrence: Option<u32>,
    role: Option<&'a str>,
    commit: &'a str,
    time: i64,
    message: &'a str,
}

/// The page for `audit`; `links` is the repository's web address, for
/// links to commits and pull requests.
pub fn html(audit: &Audit, links: Option<&str>) -> String {
    let data = Data {
        now: ms(audit.now),
        tip: audit.tip.as_deref(),
        links,
        lifecycles: audit
            .lifecycles
            .iter()
            .map(|l| Row {
                id: &l.id,
                occurrence: l.occurrence,
                subject: l.subject.as_deref(),
                role: l.role.as_deref(),
                reason: l.reason.as_deref(),
                landed: ms(l.landed.time),
                landed_commit: &l.landed.commit,
                pr: l.requested.pr,
                end: l.end.as_ref().map(|e| ms(e.time)),
                end_commit: l.end.as_ref().map(|e| e.commit.as_str()),
                end_reason: l.end.as_ref().map(|e| e.reason.as_str()),
                kind: end_kind(l),
                state: l.state.name(),
                window: l.window.map(|w| [ms(w.start), ms(w.end)]),
                usable: l
                    .usable_intervals()
                    .into_iter()
                    .map(|w| [ms(w.start), ms(w.end)])
                    .collect(),
                approved_by: l.approved_by.as_deref(),
                findings: l.findings.iter().map(|f| f.id()).collect(),
            })
            .collect(),
        findings: audit
            .findings
            .iter()
            .map(|f| Mark {
                rule: f.rule.id(),
                grant: f.grant.as_deref(),
                occurrence: f.occurrence,
                role: f.role.as_deref(),
                commit: &f.commit,
                time: ms(f.time),
                message: &f.message,
            })
            .collect(),
    };
    let json = script_json(&serde_json::to_string(&data).expect("the report's data serialises"));
    let title = format!(
        "gitgrant audit{}",
        links.map_or(String::new(), |l| format!(
            " of {}",
            l.trim_start_matches("https://github.com/")
        ))
    );
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>{}</h1><p id=\"summary\"></p></header>\n\
         <section id=\"controls\">\
         <label>Lanes <select id=\"lanes\"><option value=\"role\">by role</option><option value=\"subject\">by subject</option></select></label> \
         <label>Subject <select id=\"f-subject\"><option value=\"\">all</option></select></label> \
         <label>Role <select id=\"f-role\"><option value=\"\">all</option></select></label> \
         <label>Finding <select id=\"f-finding\"><option value=\"\">any</option></select></label> \
         <label>Who could use what at <input id=\"at\" type=\"datetime-local\" step=\"1\"></label> <span class=\"utc\">UTC</span>\
         </section>\n\
         <section id=\"legend\"></section>\n\
         <section id=\"timeline\"></section>\n\
         <section id=\"cursor\"><h2>Usable at <span id=\"at-text\"></span></h2><ul id=\"usable\"></ul></section>\n\
         <section><h2>Lifecycles</h2><p class=\"pages\" id=\"lifecycles-pages\"></p><table id=\"lifecycles\"><thead></thead><tbody></tbody></table></section>\n\
         <section><h2>Findings</h2><p class=\"pages\" id=\"findings-pages\"></p><table id=\"findings\"><thead></thead><tbody></tbody></table></section>\n\
         <script type=\"application/json\" id=\"data\">{json}</script>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>\n",
        escape(&title),
        escape(&title)
    )
}

/// JSON text safe inside a `<script>` element: no `<`, `>` or `&` at all
/// (written `\u003c`, `\u003e`, `\u0026`, which JSON reads back as the
/// same characters), so nothing in a grant file can end the element
/// (`</script>`) or switch the HTML parser into the script-data escaped
/// states (`<!--` followed by `<script>`), in which the element would run on
/// into the page's own script and swallow it. These characters occur in
/// JSON only inside strings, so the replacement keeps it valid.
fn script_json(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Text for HTML element content.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The web address of the repository behind git remote URL `url`, when it
/// is a GitHub-style `https://host/owner/name(.git)` or
/// `git@host:owner/name(.git)`.
pub fn web_address(url: &str) -> Option<String> {
    let url = url.trim().trim_end_matches('/').trim_end_matches(".git");
    let (host, path) = if let Some(rest) = url.strip_prefix("https://") {
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split_once('/')?
    } else if let Some(rest) = url.strip_prefix("git@") {
        rest.split_once(':')?
    } else if let Some(rest) = url.strip_prefix("ssh://git@") {
        rest.split_once('/')?
    } else {
        return None;
    };
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match path.split('/').collect::<Vec<_>>().as_slice() {
        [owner, name] if ok(host) && ok(owner) && ok(name) => {
            Some(format!("https://{host}/{owner}/{name}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_become_web_addresses_and_anything_else_none() {
        assert_eq!(
            web_address("https://github.com/acme/access.git").as_deref(),
            Some("https://github.com/acme/access")
        );
        assert_eq!(
            web_address("git@github.com:acme/access.git").as_deref(),
            Some("https://github.com/acme/access")
        );
        assert_eq!(
            web_address("https://x-access-token:t@github.com/acme/access").as_deref(),
            Some("https://github.com/acme/access")
        );
        assert_eq!(web_address("/tmp/bare.git"), None);
        assert_eq!(web_address("https://github.com/acme/a\"><script>"), None);
    }
}
