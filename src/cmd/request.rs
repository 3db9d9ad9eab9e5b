//! `gitgrant request`: write a new grant file that passes validation, and
//! open the pull request that asks for it.

use chrono::{DateTime, Utc};
use gitgrant::exit;
use gitgrant::grant::{RawGrant, fmt_time};

/// Ask for access: open a pull request that adds a grant file for ROLE.
///
/// The file is validated first; the branch, the commit and the pull request
/// are made through the GitHub API (GITHUB_TOKEN or GH_TOKEN), so no push
/// credentials are needed. With --no-pr, the file is only written into the
/// working tree and its path printed. Give a duration (counted from when the
/// grant lands on the default branch) or an explicit window with --expires
/// (and optionally --starts).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The role to ask for.
    #[arg(required_unless_present = "from_issue", conflicts_with = "from_issue")]
    role: Option<String>,
    /// How long, from landing: 30m, 2h, 1d, 1h30m.
    #[arg(long = "for", value_name = "DURATION", required_unless_present_any = ["expires", "from_issue"], conflicts_with_all = ["starts", "expires"])]
    duration: Option<String>,
    /// Why the access is needed.
    #[arg(
        long,
        required_unless_present = "from_issue",
        conflicts_with = "from_issue"
    )]
    reason: Option<String>,
    /// Make the request an issue opened from the request form asks for: the
    /// portal workflow's event file (GITHUB_EVENT_PATH). The subject is the
    /// issue's author; the pull request is opened (or, for an edited issue,
    /// updated) and linked on the issue. For a portal pull request that
    /// closed, its issue is closed.
    #[arg(long, value_name = "EVENT_FILE", conflicts_with_all = ["subject", "ticket", "starts", "expires", "auto_merge"])]
    from_issue: Option<std::path::PathBuf>,
    /// Whose access (a GitHub login in gitgrant.yaml `people`).
    #[arg(long, env = "GITHUB_ACTOR")]
    subject: Option<String>,
    /// Ticket or incident id.
    #[arg(long)]
    ticket: Option<String>,
    /// Start of an explicit window (RFC 3339 with an offset).
    #[arg(long, value_parser = super::parse_time, requires = "expires")]
    starts: Option<DateTime<Utc>>,
    /// End of an explicit window (RFC 3339 with an offset).
    #[arg(long, value_parser = super::parse_time)]
    expires: Option<DateTime<Utc>>,
    /// Only write the file into the working tree; open no pull request.
    #[arg(long)]
    no_pr: bool,
    /// Turn on auto-merge for the pull request: it merges as soon as its
    /// required checks pass (at once when an auto-approval rule holds).
    #[arg(long, conflicts_with = "no_pr")]
    auto_merge: bool,
    /// Judge the window as of this time instead of now.
    #[arg(long, value_parser = super::parse_time, hide = true)]
    now: Option<DateTime<Utc>>,
}

/// Whether a rule of `role` would approve `grant` if its subject opened
/// the pull request and it merged at `now`, in words; `None` for a role
/// without rules. Teams are asked of GitHub when a token is set.
fn auto_approval(
    repo_path: &std::path::Path,
    policy: &gitgrant::policy::Policy,
    role: &gitgrant::policy::Role,
    grant: &gitgrant::grant::Grant,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    if role.auto_approve.is_empty() {
        return Ok(None);
    }
    let rt = super::runtime()?;
    let _in_runtime = rt.enter();
    let gh = gitgrant::github::GitHub::from_env_if_token(Some(&policy.repository()))?;
    // The history the pull request would merge into: the checkout's HEAD.
    let repo = gitgrant::git::Repo::open(repo_path).ok();
    let base = repo
        .as_ref()
        .and_then(|r| Some((r, r.resolve("HEAD").ok()?)));
    let judgement = rt.block_on(gitgrant::approval::pull::foresee(
        gh.as_ref(),
        base,
        policy,
        role,
        grant,
        now,
    ))?;
    Ok(Some(match &judgement.approved_by {
        Some(rule) => format!(
            "rule `{rule}` would approve this request if it merged now: no review needed (the reconciler judges again when it lands)"
        ),
        None => format!(
            "{}; it needs {} approval(s) from {}",
            judgement.summary(),
            role.min_approvals,
            role.approvers.join(", ")
        ),
    }))
}

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    let now = super::now_or(args.now);
    if let Some(event) = &args.from_issue {
        return super::from_issue::run(g, event, args.no_pr, now);
    }
    let (Some(role_name), Some(reason)) = (args.role.clone(), args.reason.clone()) else {
        eprintln!("error: give the role and --reason (or --from-issue EVENT_FILE)");
        return Ok(exit::INVALID);
    };
    let Some(subject) = args.subject.map(|s| s.to_lowercase()) else {
        eprintln!("error: say whose access this is with --subject LOGIN (or set GITHUB_ACTOR)");
        return Ok(exit::INVALID);
    };
    let Some(policy) = super::load_policy(g)? else {
        return Ok(exit::INVALID);
    };
    let raw = RawGrant {
        subject: subject.clone(),
        role: role_name.clone(),
        reason,
        ticket: args.ticket,
        duration: args.duration,
        starts: args.starts.map(fmt_time),
        expires: args.expires.map(fmt_time),
    };
    let text = gitgrant::request::render(&raw);
    // A new random suffix until the name is free.
    let (rel, full) = loop {
        let rel = format!(
            "grants/{}/{}.yaml",
            role_name,
            gitgrant::request::grant_name(&subject, now)
        );
        let full = g.repo.join(&rel);
        if !full.exists() {
            break (rel, full);
        }
    };
    let grant = match gitgrant::validate::check_grant(&policy, &rel, text.as_bytes(), now) {
        Ok(grant) => grant,
        Err(violations) => {
            let shown = gitgrant::snapshot::Snapshot {
                policy: None,
                grants: vec![gitgrant::snapshot::SourceFile {
                    path: rel.clone(),
                    content: gitgrant::snapshot::Content::Bytes(text.into_bytes()),
                }],
            };
            eprintln!("error: this request would not pass validation; nothing was written");
            super::print_violations(&shown, &violations);
            return Ok(exit::INVALID);
        }
    };
    let role = &policy.roles[&role_name];
    let verdict = auto_approval(&g.repo, &policy, role, &grant, now)?;
    if let Some(v) = &verdict {
        eprintln!("{v}");
    }
    if !args.no_pr {
        let id = rel.trim_start_matches("grants/").trim_end_matches(".yaml");
        let (title, mut body) = gitgrant::request::describe(&policy, role, &grant, &raw);
        if let Some(v) = &verdict {
            body.push_str(&format!("\n**Auto-approval:** {v}\n"));
        }
        let url = super::revoke::open_pull_request(
            &policy,
            super::revoke::Proposal {
                branch: &format!("gitgrant/request/{id}"),
                changes: &[(rel.clone(), Some(text))],
                message: &format!("gitgrant: request {id}\n\n{}", raw.reason),
                title: &title,
                body: &body,
                auto_merge: args.auto_merge,
            },
        )?;
        outln!("{url}");
        return Ok(exit::SUCCESS);
    }
    super::write_file(&full, &text)?;
    outln!("{rel}");
    Ok(exit::SUCCESS)
}
