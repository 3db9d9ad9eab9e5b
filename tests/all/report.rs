//! `audit --format html` in a real browser: Debian's chromium, headless,
//! loads the page from disk (no network), runs its script, and the test
//! reads the rendered DOM (`--dump-dom`) and takes a screenshot, kept in
//! `target/tmp/audit-report.png`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;

use crate::support::{GitRepo, grant_yaml, run_ok};

const NOW: &str = "2026-11-23T00:00:00Z";

/// The browser: `CHROMIUM`, else `chromium` on the PATH. The test command
/// (`scripts/test`) installs it with `scripts/chromium`.
fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("CHROMIUM") {
        return PathBuf::from(p);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        for name in ["chromium", "chromium-browser"] {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "no chromium: run `scripts/chromium` (it installs Debian's chromium with apt-get), \
         or set CHROMIUM to a Chromium or Chrome binary"
    );
}

fn browser(args: &[&str], url: &str) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            // Containers often give /dev/shm a few MiB only.
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--allow-file-access-from-files",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The page as rendered, cursor at `at`.
fn dom(page: &Path, at: &str) -> String {
    let out = browser(
        &["--dump-dom", "--virtual-time-budget=5000"],
        &format!("file://{}#at={at}", page.display()),
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(
        dom.contains("data-ready=\"true\""),
        "the script did not finish: {dom}"
    );
    dom
}

/// `attr` of every element matching `open` (the start of its tag).
fn attrs(dom: &str, open: &str, attr: &str) -> Vec<String> {
    let tag = Regex::new(&format!("{open}[^>]*>")).unwrap();
    let value = Regex::new(&format!(r#"\b{attr}="([^"]*)""#)).unwrap();
    tag.find_iter(dom)
        .filter_map(|m| value.captures(m.as_str()).map(|c| c[1].to_string()))
        .collect()
}

fn number(tag: &str, attr: &str) -> f64 {
    let value = Regex::new(&format!(r#"\b{attr}="([-0-9.]+)""#)).unwrap();
    value.captures(tag).unwrap()[1].parse().unwrap()
}

/// A history with a grant of every ending: expired, revoked early (after
/// an extension), removed by hand, still present (pushed directly, a
/// finding), and one asked for again.
fn history() -> GitRepo {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let bob = "grants/prod-readonly/bob-1.yaml";
    let alice = "grants/prod-readonly/alice-1.yaml";
    let vendor = "grants/vendor-staging/vendor-1.yaml";
    repo.pull_request(
        2,
        &[(
            bob,
            Some(&grant_yaml("bob", "prod-readonly", "duration: 2h")),
        )],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    crate::support::run_signed(&["expire", "--now", "2026-11-21T11:05:00Z"], &repo.path);
    repo.pull_request(
        3,
        &[(
            alice,
            Some(&grant_yaml("alice", "prod-readonly", "duration: 4h")),
        )],
        "2026-11-21T11:30:00Z",
        "2026-11-21T12:00:00Z",
    );
    repo.commit(
        &[(
            alice,
            Some(&grant_yaml("alice", "prod-readonly", "duration: 6h")),
        )],
        "Extend alice (#4)",
        "2026-11-21T13:00:00Z",
    );
    repo.commit(
        &[(alice, None)],
        "Revoke alice: done (#5)",
        "2026-11-21T15:00:00Z",
    );
    let vendor_grant = grant_yaml("vendor", "vendor-staging", "duration: 1h")
        .replace("reason:", "ticket: VND-1\nreason:");
    repo.pull_request(
        6,
        &[(vendor, Some(&vendor_grant))],
        "2026-11-21T16:00:00Z",
        "2026-11-21T16:30:00Z",
    );
    repo.commit(&[(vendor, None)], "Tidy up (#7)", "2026-11-21T20:00:00Z");
    repo.pull_request(
        8,
        &[(
            bob,
            Some(&grant_yaml("bob", "prod-readonly", "duration: 8h")),
        )],
        "2026-11-22T07:00:00Z",
        "2026-11-22T08:00:00Z",
    );
    repo.commit(
        &[(
            "grants/prod-readonly/alice-2.yaml",
            Some(&grant_yaml("alice", "prod-readonly", "duration: 8h")),
        )],
        "give myself access",
        "2026-11-22T09:00:00Z",
    );
    repo
}

fn audit_ids(repo: &Path, extra: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["audit", "--format", "json", "--now", NOW];
    args.extend_from_slice(extra);
    let v: serde_json::Value = serde_json::from_str(&run_ok(&args, repo)).unwrap();
    v["lifecycles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| format!("{}#{}", l["id"].as_str().unwrap(), l["occurrence"]))
        .collect()
}

#[test]
fn the_report_shows_every_grant_the_cursor_agrees_with_audit_at_and_findings_sit_on_their_grant() {
    let repo = history();
    let page = repo.dir.path().join("report.html");
    let html = run_ok(&["audit", "--format", "html", "--now", NOW], &repo.path);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Self-contained: nothing is fetched from anywhere.
    assert!(
        !Regex::new(r#"(src|href)="https?:"#)
            .unwrap()
            .is_match(&html)
    );
    std::fs::write(&page, &html).unwrap();

    let all = audit_ids(&repo.path, &[]);
    assert_eq!(all.len(), 5, "{all:?}");
    let dom = dom(&page, "2026-11-21T14:00:00Z");
    let bars: BTreeSet<String> = attrs(&dom, r#"<rect class="bar"#, "data-id")
        .into_iter()
        .collect();
    let rows: BTreeSet<String> = attrs(&dom, "<tr data-id", "data-id").into_iter().collect();
    assert_eq!(bars, all, "one bar per grant");
    assert_eq!(rows, all, "one row per grant");
    let kinds: BTreeSet<String> = attrs(&dom, r#"<rect class="bar"#, "data-kind")
        .into_iter()
        .collect();
    assert_eq!(
        kinds,
        ["active", "expired", "removed", "revoked"]
            .map(String::from)
            .into(),
        "every way a grant ends has its colour"
    );

    // The cursor lists exactly what `audit --at` lists, at several moments.
    for at in [
        "2026-11-21T14:00:00Z",
        "2026-11-21T10:59:59Z",
        "2026-11-21T16:45:00Z",
        "2026-11-22T09:30:00Z",
        "2026-11-20T00:00:00Z",
    ] {
        let dom = if at == "2026-11-21T14:00:00Z" {
            dom.clone()
        } else {
            self::dom(&page, at)
        };
        let usable: BTreeSet<String> = attrs(&dom, "<li data-id", "data-id").into_iter().collect();
        assert_eq!(usable, audit_ids(&repo.path, &["--at", at]), "at {at}");
    }

    // The direct push is marked on its own bar, where it happened.
    let marks = Regex::new(r#"<path class="finding"[^>]*>"#).unwrap();
    let mark = marks
        .find_iter(&dom)
        .map(|m| m.as_str())
        .find(|m| m.contains(r#"data-rule="direct-push""#))
        .expect("a direct-push mark");
    assert!(
        mark.contains(r#"data-grant="prod-readonly/alice-2#1""#),
        "{mark}"
    );
    let bar = Regex::new(r#"<rect class="bar[^>]*data-id="prod-readonly/alice-2#1"[^>]*>"#)
        .unwrap()
        .find(&dom)
        .unwrap()
        .as_str();
    let (x, w, y) = (number(bar, "x"), number(bar, "width"), number(bar, "y"));
    let mx = number(mark, "data-x");
    assert!(
        (x - 0.01..=x + w).contains(&mx),
        "mark at {mx}, bar {x}..{}",
        x + w
    );
    let d = Regex::new(r#"d="M[-0-9.]+ ([-0-9.]+)h"#).unwrap();
    let my: f64 = d.captures(mark).unwrap()[1].parse().unwrap();
    assert!((y - 8.0..=y).contains(&my), "mark at y {my}, bar at {y}");
    // And listed in the findings table.
    assert!(attrs(&dom, "<tr data-rule", "data-rule").contains(&"direct-push".to_string()));

    // A picture of it, kept with the build's test files.
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("audit-report.png");
    browser(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,900",
            "--hide-scrollbars",
        ],
        &format!("file://{}#at=2026-11-21T14:00:00Z", page.display()),
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        shot.display()
    );
}

#[test]
fn what_grant_files_say_cannot_break_out_of_the_page() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    let nasty = "</script><script>document.title='pwned'</script><img src=x onerror=alert(1)>";
    let grant = grant_yaml("bob", "prod-readonly", "duration: 2h")
        .replace("reason: ", &format!("reason: \"{nasty} \" #"));
    repo.pull_request(
        2,
        &[("grants/prod-readonly/bob-1.yaml", Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    let html = run_ok(&["audit", "--format", "html", "--now", NOW], &repo.path);
    assert!(
        !html.contains("</script><script>document"),
        "the data closes nothing"
    );
    let page = repo.dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    let dom = dom(&page, NOW);
    // The data element holds the whole data: the reason's `</script>` did
    // not end it early (the rest would then be markup), and the title the
    // reason tried to set is untouched.
    let open = r#"<script type="application/json" id="data">"#;
    let data = &dom[dom.find(open).expect("the data element") + open.len()..];
    let data = &data[..data.find("</script>").unwrap()];
    let data: serde_json::Value = serde_json::from_str(data).expect("the data is whole JSON");
    assert!(
        data["lifecycles"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains(nasty)),
        "{data}"
    );
    assert!(
        dom.contains("<title>gitgrant audit</title>"),
        "title untouched"
    );
    assert!(
        !dom.contains("<img src=\"x\""),
        "no element made from the reason"
    );
    // The reason is shown as text.
    assert!(dom.contains("&lt;img src=x onerror=alert(1)&gt;"), "{dom}");
}

#[test]
fn a_reason_that_opens_a_script_comment_cannot_blank_the_report() {
    let repo = GitRepo::policy_only("2026-11-20T09:00:00Z");
    // `<!--<script>` inside a script element puts the HTML parser in the
    // "double escaped" state, where the data element's `</script>` no
    // longer ends it: it ran on into the page's own script, which never ran.
    let nasty = "<!--<script> & more";
    let grant = grant_yaml("bob", "prod-readonly", "duration: 2h")
        .replace("reason: ", &format!("reason: \"{nasty} \" #"));
    repo.pull_request(
        2,
        &[("grants/prod-readonly/bob-1.yaml", Some(&grant))],
        "2026-11-21T08:00:00Z",
        "2026-11-21T09:00:00Z",
    );
    let html = run_ok(&["audit", "--format", "html", "--now", NOW], &repo.path);
    let open = r#"<script type="application/json" id="data">"#;
    let data = &html[html.find(open).expect("the data element") + open.len()..];
    let data = &data[..data.find("</script>").unwrap()];
    assert!(
        !data.contains(['<', '>', '&']),
        "the data holds no markup characters: {data}"
    );
    let page = repo.dir.path().join("report.html");
    std::fs::write(&page, &html).unwrap();
    // The script ran to the end (`dom` checks it) and drew the grant, its
    // reason shown as text.
    let dom = dom(&page, NOW);
    assert!(dom.contains("&lt;!--&lt;script&gt; &amp; more"), "{dom}");
    let data: serde_json::Value = serde_json::from_str(data).expect("the data is whole JSON");
    assert_eq!(
        data["lifecycles"][0]["reason"].as_str().unwrap().trim(),
        nasty
    );
}
