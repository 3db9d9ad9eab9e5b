//! `gitgrant check`: the pull-request check. On `pull_request` it validates
//! what the pull request changes against the policy of its base branch,
//! annotates the offending lines and keeps one plan comment up to date; on
//! `pull_request_review` it checks each role's approval quorum.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use gitgrant::approval::Found;
use gitgrant::approval::github::Approvals;
use gitgrant::approval::pull::{Changes, judge_pull, may_ask_for_others};
use gitgrant::exit;
use gitgrant::git::Repo;
use gitgrant::github::{GitHub, Pull};
use gitgrant::grant::{Grant, GrantId};
use gitgrant::policy::Admission;
use gitgrant::rule::{Rule, Violation};
use gitgrant::snapshot::Content;
use gitgrant::yaml::Spans;
use serde::Deserialize;

/// The marker that finds gitgrant's one comment on a pull request.
pub const MARKER: &str = "<!-- gitgrant:check -->";

/// Check a pull request in GitHub Actions (no cloud credentials needed).
///
/// On `pull_request`: validates only what the pull request changes, against
/// gitgrant.yaml of the base branch (a pull request cannot loosen the policy
/// that judges it); the subject of every grant must be the author unless the
/// role's `requesters` name the author; gitgrant.yaml and grants may not
/// change together. Annotates offending lines and writes one plan comment,
/// updated in place. On `pull_request_review`: fails until every grant in the
/// pull request has its role's quorum of code-owner approvals.
///
/// Reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_TOKEN, GITHUB_API_URL
/// and GITHUB_REPOSITORY, as Actions sets them. The checkout must hold the
/// base commit (actions/checkout with fetch-depth: 0).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The event's name.
    #[arg(long, env = "GITHUB_EVENT_NAME", default_value = "pull_request")]
    event_name: String,
    /// The event's JSON payload.
    #[arg(long, env = "GITHUB_EVENT_PATH")]
    event: PathBuf,
    /// The pull request's commit in the checkout (Actions checks out the
    /// merge commit).
    #[arg(long, default_value = "HEAD")]
    head: String,
    /// Validate and print, but write no comment.
    #[arg(long)]
    no_comment: bool,
    /// Judge windows and auto-approval rules as of this time (RFC 3339)
    /// instead of now: "would a rule approve it if it merged then?".
    #[arg(long, value_parser = super::parse_time)]
    now: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Event {
    pull_request: Pull,
}

/// Reads the pull request's changes from the checkout. `Err` with violations
/// when the base branch's policy is missing or invalid.
pub fn changes(repo: &Repo, pull: &Pull, head: &str) -> anyhow::Result<Changes> {
    let base = repo.resolve(&pull.base.sha).with_context(|| {
        format!(
            "the base commit {} is not in the checkout: check out with `fetch-depth: 0`",
            pull.base.sha
        )
    })?;
    let head = repo.resolve(head)?;
    let fork_point = repo.merge_base(base, head)?;
    let changed = repo.changed_paths(fork_point, head)?;
    let base_policy = repo.policy_at(base)?;
    let policy = base_policy
        .as_ref()
        .and_then(|f| {
            let (p, errors) = gitgrant::validate::read_policy(f);
            p.filter(|_| errors.is_empty())
        })
        .context("gitgrant.yaml of the base branch is missing or invalid; fix it there first")?;
    let mut grants = repo.snapshot(head)?;
    grants.policy = base_policy;
    grants
        .grants
        .retain(|f| changed.iter().any(|(p, exists)| *exists && *p == f.path));
    Ok(Changes {
        base,
        policy,
        grants,
        deleted: changed
            .iter()
            .filter(|(p, exists)| !exists && p.starts_with("grants/"))
            .map(|(p, _)| p.clone())
            .collect(),
        policy_changed: changed.iter().any(|(p, _)| {
            p == gitgrant::policy::POLICY_PATH
                || gitgrant::codeowners::SEARCH_ORDER.contains(&p.as_str())
        }),
    })
}

fn read_event(path: &PathBuf) -> anyhow::Result<Pull> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the event payload {}", path.display()))?;
    let e: Event = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a pull_request or pull_request_review event",
            path.display()
        )
    })?;
    Ok(e.pull_request)
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let pull = read_event(&args.event)?;
    let repo = Repo::open(&g.repo)?;
    let rt = super::runtime()?;
    match args.event_name.as_str() {
        "pull_request" => rt.block_on(on_pull_request(&repo, &pull, &args)),
        "pull_request_target" => {
            eprintln!(
                "error: run gitgrant check on pull_request, not pull_request_target: \
                 the check needs no secrets, and pull_request_target would hand the base \
                 repository's token to a run that reads the pull request's files"
            );
            Ok(exit::INVALID)
        }
        "pull_request_review" => rt.block_on(on_review(&repo, &pull, &args)),
        other => {
            eprintln!(
                "error: gitgrant check runs on pull_request and pull_request_review events, not {other}"
            );
            Ok(exit::INVALID)
        }
    }
}

async fn on_pull_request(repo: &Repo, pull: &Pull, args: &Args) -> anyhow::Result<u8> {
    let now = super::now_or(args.now);
    let ch = changes(repo, pull, &args.head)?;
    let validation =
        gitgrant::validate::validate(&ch.grants, now, &gitgrant::validate::Landings::new());
    let mut violations: Vec<Violation> = validation
        .violations
        .into_iter()
        .filter(|v| v.file != gitgrant::policy::POLICY_PATH)
        .collect();
    let gh = GitHub::from_env_if_token(Some(&ch.policy.repository()))?;
    let mut approvals = gh.as_ref().map(Approvals::new);
    // Who asked: the author, or for the request form's pull requests the
    // issue's author as GitHub has it (the bot itself when it cannot be read).
    let author = gitgrant::approval::github::requester(approvals.as_mut(), &ch.policy, pull)
        .await?
        .unwrap_or_else(|| pull.user.login.to_lowercase());
    for grant in &validation.grants {
        let Some(role) = ch.policy.roles.get(grant.role()) else {
            continue;
        };
        let path = grant.id.path();
        let spans = ch
            .grants
            .grants
            .iter()
            .find(|f| f.path == path)
            .and_then(|f| match &f.content {
                Content::Bytes(b) => std::str::from_utf8(b).ok(),
                _ => None,
            })
            .and_then(|text| gitgrant::yaml::parse::<serde_yaml::Value>(text).ok())
            .map_or_else(|| Spans::default().at(""), |l| l.spans.at("subject"));
        let mut violation = |rule: Rule, message: String| {
            violations.push(Violation {
                rule,
                file: path.clone(),
                span: spans,
                message,
                help: rule.help().to_string(),
            })
        };
        // A team in `requesters` is known only to GitHub.
        if role.admits(&grant.subject) == Admission::IfTeamMember {
            match gitgrant::approval::github::admitted(
                approvals.as_mut(),
                &role.requesters,
                &grant.subject,
            )
            .await?
            {
                Some(true) => {}
                Some(false) => violation(
                    Rule::RequesterNotAllowed,
                    format!(
                        "role `{}` does not admit `{}`: not in its requester teams",
                        role.name, grant.subject
                    ),
                ),
                None => violation(
                    Rule::RequesterNotAllowed,
                    format!(
                        "role `{}` admits teams only, and no GitHub token was given to ask GitHub about {}",
                        role.name, grant.subject
                    ),
                ),
            }
        }
        if grant.subject != author
            && !may_ask_for_others(approvals.as_mut(), &role.requesters, &author).await?
        {
            violation(
                Rule::SubjectNotAuthor,
                format!(
                    "this pull request by {author} asks for access for {}",
                    grant.subject
                ),
            );
        }
    }
    if ch.policy_changed && (!ch.grants.grants.is_empty() || !ch.deleted.is_empty()) {
        violations.push(Violation {
            rule: Rule::PolicyWithGrants,
            file: gitgrant::policy::POLICY_PATH.to_string(),
            span: Spans::default().at(""),
            message: "this pull request changes the policy (gitgrant.yaml or CODEOWNERS) and grants together; the grants would be judged by the rules they change".into(),
            help: Rule::PolicyWithGrants.help().to_string(),
        });
    }
    violations.sort();
    out!("{}", gitgrant::report::github(&violations));
    // Grants of roles with auto-approval rules are unowned in CODEOWNERS:
    // this check is what holds them to a rule or their quorum.
    let ruled: Vec<&Grant> = validation
        .grants
        .iter()
        .filter(|g| {
            ch.policy
                .roles
                .get(g.role())
                .is_some_and(|r| !r.auto_approve.is_empty())
        })
        .collect();
    let judged = judge_pull(repo, approvals.as_mut(), &ch, &ruled, pull, now).await?;
    let awaiting: Vec<&Found> = judged.iter().filter(|f| !f.ok()).collect();
    let body = comment(pull, &ch, &validation.grants, &violations, &judged);
    super::append_step_summary(&body)?;
    if !args.no_comment {
        match &gh {
            Some(_) if is_fork(pull) => tracing::info!(
                "pull request from a fork: its token cannot comment; the plan is in the job summary"
            ),
            Some(gh) => {
                gh.upsert_comment(pull.number, MARKER, &body).await?;
            }
            None => eprintln!(
                "warning: no GITHUB_TOKEN: the plan comment was not written (it is in the job summary)"
            ),
        }
    }
    for f in &judged {
        outln!("{}", f.line());
    }
    if violations.is_empty() && awaiting.is_empty() {
        eprintln!("gitgrant check: pull request #{} is valid", pull.number);
        Ok(exit::SUCCESS)
    } else if violations.is_empty() {
        eprintln!(
            "gitgrant check: pull request #{} is valid, but {} grant(s) need their approvals: no auto-approval rule holds",
            pull.number,
            awaiting.len()
        );
        Ok(exit::ERROR)
    } else {
        eprintln!(
            "gitgrant check: {} problem(s) in pull request #{}",
            violations.len(),
            pull.number
        );
        Ok(exit::INVALID)
    }
}

/// Judges an open pull request's grant files; prints and returns the exit
/// code (1 until every grant has its quorum or a rule that approves it).
pub async fn report_pull(
    repo: &Repo,
    gh: &GitHub,
    ch: &Changes,
    pull: &Pull,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<u8> {
    let validation =
        gitgrant::validate::validate(&ch.grants, now, &gitgrant::validate::Landings::new());
    let mut approvals = Approvals::new(gh);
    let grants: Vec<&Grant> = validation.grants.iter().collect();
    let found = judge_pull(repo, Some(&mut approvals), ch, &grants, pull, now).await?;
    for f in &found {
        outln!("{}", f.line());
    }
    if found.is_empty() {
        outln!(
            "pull request #{} changes no grant: nothing to approve",
            pull.number
        );
    }
    Ok(if found.iter().all(Found::ok) {
        exit::SUCCESS
    } else {
        exit::ERROR
    })
}

fn is_fork(pull: &Pull) -> bool {
    let repo = |b: &gitgrant::github::Branch| b.repo.as_ref().map(|r| r.full_name.to_lowercase());
    repo(&pull.head) != repo(&pull.base)
}

/// The plan comment.
fn comment(
    pull: &Pull,
    ch: &Changes,
    grants: &[Grant],
    violations: &[Violation],
    judged: &[Found],
) -> String {
    let p = &ch.policy;
    let mut s = format!(
        "{MARKER}\n### gitgrant: what merging #{} does\n\n",
        pull.number
    );
    if grants.is_empty() && ch.deleted.is_empty() && violations.is_empty() {
        s.push_str("No grant changes: merging this grants and revokes nothing.\n");
    }
    for g in grants {
        let Some(role) = p.roles.get(g.role()) else {
            continue;
        };
        let identities: Vec<String> = role
            .providers
            .iter()
            .map(|provider| {
                p.people
                    .get(&g.subject)
                    .zip(p.providers.get(provider))
                    .and_then(|(person, provider)| person.identity_on(provider))
                    .map_or("no identity".to_string(), |i| i.describe_md())
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let _ = writeln!(
            s,
            "- **Grants** `{}` to **{}** ({}) in {}, {}.",
            g.role(),
            g.subject,
            identities.join(", "),
            gitgrant::providers::targets_text(p, role),
            g.timing.in_words()
        );
        // The reason is the requester's own text: a code span, so that it
        // cannot mention, link, show an image or open an HTML comment that
        // hides the rest of the comment (the approvals it needs).
        let _ = writeln!(s, "  Reason: {}", gitgrant::report::md_code(&g.reason));
        let unfenced = gitgrant::providers::unfenced(p, role);
        if !unfenced.is_empty() {
            let roles: Vec<String> = unfenced.iter().map(|a| format!("`{a}`")).collect();
            let _ = writeln!(
                s,
                "  Unfenced: sessions of {} are not ended at the window's end (no provider reconciles that account); they live until they expire, up to 12h later.",
                roles.join(", ")
            );
        }
        let path = g.id.path();
        let rules = judged.iter().find_map(|f| match f {
            Found::Judged(e) if e.path == path => Some(e),
            _ => None,
        });
        if role.break_glass {
            let _ = writeln!(
                s,
                "  Break-glass: lands without review, applies at once, and opens a review issue for {}.",
                role.reviewers(&p.security_team).join(", ")
            );
        } else if let Some(e) = rules {
            match e.rules.as_ref() {
                _ if e.met() => {
                    let _ = writeln!(
                        s,
                        "  Approved by {} ({} of {} needed).",
                        e.approvers.join(", "),
                        e.approvers.len(),
                        e.required
                    );
                }
                Some(j) if j.approved_by.is_some() => {
                    let name = j.approved_by.as_deref().unwrap_or_default();
                    let conditions = role
                        .auto_approve
                        .iter()
                        .find(|r| r.name == name)
                        .map(|r| r.conditions())
                        .unwrap_or_default();
                    let _ = writeln!(
                        s,
                        "  Auto-approved by rule `{name}` if it merges now ({conditions}): no review needed. \
                         The reconciler judges the rule again at the moment it lands."
                    );
                    // What the access history showed, for a rule that asks.
                    let rule = role.auto_approve.iter().find(|r| r.name == name);
                    let seen = j.rules.iter().find(|r| r.rule == name);
                    if let (Some(c), Some(seen)) = (
                        rule.and_then(|r| r.history.as_ref()),
                        seen.and_then(|r| r.history.as_ref()),
                    ) {
                        let _ = writeln!(
                            s,
                            "  From the history up to `{}`: {}.",
                            &seen.base[..12.min(seen.base.len())],
                            seen.words(c)
                        );
                    }
                }
                judgement => {
                    let _ = writeln!(
                        s,
                        "  No auto-approval rule holds if it merged now; it needs {} approval(s) at the latest commit from: {} (not {}).",
                        role.min_approvals,
                        role.approvers.join(", "),
                        g.subject
                    );
                    for r in judgement.map(|j| j.rules.as_slice()).unwrap_or_default() {
                        let _ = writeln!(s, "  - rule `{}`: {}", r.rule, r.unmet.join("; "));
                    }
                }
            }
        } else {
            let _ = writeln!(
                s,
                "  Needs {} approval(s) at the latest commit from: {} (not {}).",
                role.min_approvals,
                role.approvers.join(", "),
                g.subject
            );
        }
    }
    for path in &ch.deleted {
        let id = GrantId::from_path(path).map_or(path.clone(), |id| id.to_string());
        let _ = writeln!(
            s,
            "- **Revokes** `{id}` early: its access ends on the next reconcile."
        );
        if let Some(Found::Judged(e)) = judged.iter().find(|f| f.path() == path)
            && !e.met()
        {
            let _ = writeln!(
                s,
                "  It is another person's grant, in a file CODEOWNERS leaves unowned: deleting it needs {} approval(s) at the latest commit from: {}.",
                e.required,
                e.owners.join(", ")
            );
        }
    }
    if !violations.is_empty() {
        let _ = writeln!(
            s,
            "\n**{} problem(s) block this pull request:**\n",
            violations.len()
        );
        for v in violations {
            // The path and the message quote what the pull request wrote.
            let _ = writeln!(
                s,
                "- {} {} (`{}`): {}",
                gitgrant::report::md_code(&format!("{}:{}", v.file, v.span.start)),
                gitgrant::report::md_code(&v.message),
                v.rule,
                v.help
            );
        }
    }
    let _ = writeln!(
        s,
        "\n<sub>Checked against gitgrant.yaml at {} (the base branch).</sub>",
        &ch.base.to_string()[..12]
    );
    s
}

async fn on_review(repo: &Repo, pull: &Pull, args: &Args) -> anyhow::Result<u8> {
    let ch = changes(repo, pull, &args.head)?;
    let gh = GitHub::from_env(Some(&ch.policy.repository()))?;
    // The pull request as it is now: its head may have moved since the event.
    let pull = gh.pull(pull.number).await?;
    report_pull(repo, &gh, &ch, &pull, super::now_or(args.now)).await
}
