//! `gitgrant request --from-issue EVENT`: the request form's side of
//! `request`. The event file is the portal workflow's (`issues` opened or
//! edited, or `pull_request_target` closed), read as data: the issue's body
//! is parsed into plain strings (`gitgrant::portal`) and the grant file is
//! written by the serialiser, so nothing in it reaches a shell or is
//! pasted into YAML.

use std::path::Path;

use chrono::{DateTime, Utc};
use gitgrant::exit;
use gitgrant::github::GitHub;
use gitgrant::grant::RawGrant;
use gitgrant::policy::{Admission, Policy};
use gitgrant::portal::{BRANCH_PREFIX, branch_of};
use gitgrant::report::md_code;
use serde_json::Value;

/// Marks the one comment the portal keeps up to date on an issue.
const MARKER: &str = "<!-- gitgrant:portal -->";

/// What the issue asks for, ready to be proposed.
struct Proposed {
    rel: String,
    text: String,
    title: String,
    body: String,
}

/// Runs the command for the event in `event`; `no_pr` only writes the
/// grant file into the working tree and prints its path.
pub fn run(g: &super::Global, event: &Path, no_pr: bool, now: DateTime<Utc>) -> anyhow::Result<u8> {
    let text = match std::fs::read_to_string(event) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read the event file {}: {e}", event.display());
            return Ok(exit::INVALID);
        }
    };
    let event: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!(
                "error: {} is not a GitHub event (JSON): {e}",
                event.display()
            );
            return Ok(exit::INVALID);
        }
    };
    let Some(policy) = super::load_policy(g)? else {
        return Ok(exit::INVALID);
    };
    if let Some(pull) = event
        .get("pull_request")
        .filter(|_| event.get("issue").is_none())
    {
        if no_pr {
            eprintln!("error: --no-pr reads an issue's event, and this one is a pull request's");
            return Ok(exit::INVALID);
        }
        return closed(&policy, pull);
    }
    let issue = &event["issue"];
    let (Some(number), Some(author)) = (issue["number"].as_u64(), issue["user"]["login"].as_str())
    else {
        eprintln!("error: the event names no issue with a number and an author");
        return Ok(exit::INVALID);
    };
    let body = issue["body"].as_str().unwrap_or_default();
    let subject = author.to_lowercase();
    if issue["state"].as_str() == Some("closed") {
        eprintln!("issue #{number} is closed: nothing to do");
        return Ok(exit::SUCCESS);
    }
    let proposed = match propose(&policy, number, &subject, body, now) {
        Ok(p) => p,
        Err(problems) => {
            eprintln!("error: issue #{number} cannot be made into a request:");
            for p in &problems {
                eprintln!("  {p}");
            }
            if !no_pr {
                let mut comment = format!(
                    "{MARKER}\nThis request cannot be made as it stands. Edit the issue \
                     (the fields, not the headings) to fix:\n\n"
                );
                for p in &problems {
                    comment.push_str(&format!("- {}\n", md_code(p)));
                }
                super::runtime()?.block_on(async {
                    let gh = GitHub::from_env(Some(&policy.repository()))?;
                    gh.upsert_comment(number, MARKER, &comment).await?;
                    anyhow::Ok(())
                })?;
            }
            return Ok(exit::INVALID);
        }
    };
    if no_pr {
        super::write_file(&g.repo.join(&proposed.rel), &proposed.text)?;
        outln!("{}", proposed.rel);
        return Ok(exit::SUCCESS);
    }
    let url = super::runtime()?.block_on(open_or_update(&policy, number, proposed))?;
    outln!("{url}");
    Ok(exit::SUCCESS)
}

/// The grant file, title and body for issue `number` by `subject`, or every
/// problem with it, one line each.
fn propose(
    policy: &Policy,
    number: u64,
    subject: &str,
    body: &str,
    now: DateTime<Utc>,
) -> Result<Proposed, Vec<String>> {
    let form = gitgrant::portal::read_issue(policy, body)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let role = &policy.roles[&form.role];
    if role.admits(subject) == Admission::No {
        return Err(vec![format!(
            "role `{}` does not take requests from {subject}: see its `requesters`",
            role.name
        )]);
    }
    let raw = RawGrant {
        subject: subject.to_string(),
        role: form.role.clone(),
        reason: form.reason,
        ticket: form.ticket,
        duration: form.duration,
        starts: form.starts,
        expires: form.expires,
    };
    let text = gitgrant::request::render(&raw);
    let rel = format!("grants/{}/{subject}-issue-{number}.yaml", form.role);
    let grant = gitgrant::validate::check_grant(policy, &rel, text.as_bytes(), now).map_err(
        |violations| {
            violations
                .iter()
                .map(|v| format!("{}: {} ({})", v.rule.id(), v.message, v.help))
                .collect::<Vec<_>>()
        },
    )?;
    let (title, mut body) = gitgrant::request::describe(policy, role, &grant, &raw);
    body.insert_str(0, &format!("Requested in #{number}.\n\n"));
    Ok(Proposed {
        rel,
        text,
        title,
        body,
    })
}

/// Opens the pull request for issue `number`, or, when it is open already
/// (the issue was edited), puts the new request in its place; comments the
/// link on the issue. Returns the pull request's address.
async fn open_or_update(policy: &Policy, number: u64, p: Proposed) -> anyhow::Result<String> {
    let gh = GitHub::from_env(Some(&policy.repository()))?;
    let (default, base) = super::revoke::default_branch(&gh).await?;
    let message = format!(
        "gitgrant: request {} (issue #{number})",
        p.rel
            .trim_start_matches("grants/")
            .trim_end_matches(".yaml")
    );
    let commit = gh
        .make_commit(&base, &[(p.rel.clone(), Some(p.text))], &message)
        .await?;
    let branch = branch_of(number);
    let (pull, verb) = match gh.open_pull_from(&branch).await? {
        Some(open) => {
            // The branch is the portal's own: it holds one commit on the
            // default branch, replaced whole when the issue changes.
            gh.set_branch(&branch, &commit).await?;
            (
                gh.edit_pull(open.number, &p.title, &p.body).await?,
                "updated",
            )
        }
        None => {
            match gh.branch_sha(&branch).await? {
                Some(_) => gh.set_branch(&branch, &commit).await?,
                None => gh.create_branch(&branch, &commit).await?,
            }
            (
                gh.open_pull(&branch, &default, &p.title, &p.body).await?,
                "opened",
            )
        }
    };
    eprintln!("{verb} pull request #{} for issue #{number}", pull.number);
    let comment = format!(
        "{MARKER}\nRequest {verb} as #{}: its approvers review it there. This issue closes \
         when it merges or closes; edit this issue to change the request.",
        pull.number
    );
    gh.upsert_comment(number, MARKER, &comment).await?;
    Ok(pull.html_url)
}

/// A portal pull request merged or closed: says so on its issue and closes it.
fn closed(policy: &Policy, pull: &Value) -> anyhow::Result<u8> {
    let head = pull["head"]["ref"].as_str().unwrap_or_default();
    let Some(issue) = head
        .strip_prefix(BRANCH_PREFIX)
        .and_then(|n| n.parse::<u64>().ok())
    else {
        eprintln!("pull request from {head}: not the portal's, nothing to do");
        return Ok(exit::SUCCESS);
    };
    // A fork can name its branch anything: only this repository's own
    // branches are the portal's.
    if pull["head"]["repo"]["full_name"].as_str() != Some(policy.repository().as_str()) {
        eprintln!("pull request from another repository's {head}: not the portal's, nothing to do");
        return Ok(exit::SUCCESS);
    }
    // With an identity named, only its pull requests are the portal's: a
    // person with write access can push a branch of that name too.
    if let Some(id) = &policy.portal_identity
        && !pull["user"]["login"]
            .as_str()
            .is_some_and(|l| l.eq_ignore_ascii_case(id))
    {
        eprintln!("pull request from {head} not opened by {id}: not the portal's, nothing to do");
        return Ok(exit::SUCCESS);
    }
    let number = pull["number"].as_u64().unwrap_or_default();
    let merged = pull["merged"].as_bool().unwrap_or(false);
    let (text, reason) = if merged {
        (
            format!("{MARKER}\n#{number} merged: the access applies on the next reconcile."),
            "completed",
        )
    } else {
        (
            format!("{MARKER}\n#{number} was closed without merging: nothing was granted."),
            "not_planned",
        )
    };
    super::runtime()?.block_on(async {
        let gh = GitHub::from_env(Some(&policy.repository()))?;
        gh.upsert_comment(issue, MARKER, &text).await?;
        gh.close_issue(issue, reason).await?;
        anyhow::Ok(())
    })?;
    eprintln!(
        "closed issue #{issue}: #{number} {}",
        if merged { "merged" } else { "closed" }
    );
    Ok(exit::SUCCESS)
}
