//! A run in words: the summary people read after `reconcile`, and the
//! Markdown of a job summary or a pull-request comment.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::RemovalRow;
use crate::engine::{Applied, Prepared};
use crate::grant::fmt_time;
use crate::providers::Calls;

/// What a run did, for people: failures, how many changes applied, each
/// removal, the calls made to each provider, the notifications sent.
pub fn summary(o: &super::Outcome, dry_run: bool) -> String {
    let (applied, removals) = (&o.applied, &o.removals);
    let calls = calls(&o.prepared);
    let mut s = String::new();
    if dry_run {
        let _ = writeln!(s, "\nDry run: nothing was changed.");
    } else {
        for a in applied.iter().filter(|a| !a.ok) {
            let _ = writeln!(
                s,
                "\nfailed: {} {} in {}: {}",
                a.action,
                a.grant,
                a.provider,
                a.error.as_deref().unwrap_or_default()
            );
        }
        let ok = applied.iter().filter(|a| a.ok).count();
        let _ = writeln!(s, "\nApplied {ok} of {} changes.", applied.len());
    }
    for r in removals {
        match &r.commit {
            Some(c) => {
                let _ = writeln!(s, "Removed {} in {}.", r.grant, &c[..7.min(c.len())]);
            }
            None if dry_run => {
                let _ = writeln!(s, "Would remove {}.", r.grant);
            }
            None => {
                let _ = writeln!(
                    s,
                    "Left {}: already removed or changed on the branch.",
                    r.grant
                );
            }
        }
    }
    for (provider, c) in calls {
        let _ = writeln!(s, "Calls to {provider}: {c}.");
    }
    for (channel, counts) in crate::notify::summary(&o.deliveries) {
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        let _ = writeln!(s, "Notified {channel}: {}.", counts.join(", "));
    }
    s
}

/// The calls the run made to each provider.
pub fn calls(p: &Prepared) -> BTreeMap<String, Calls> {
    p.providers
        .iter()
        .map(|(n, c)| (n.clone(), c.calls()))
        .collect()
}

/// The plan (and, after a run, what happened) as Markdown for a job summary
/// or a pull-request comment.
pub fn markdown(p: &Prepared, applied: Option<&[Applied]>, removals: &[RemovalRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### gitgrant at `{}` ({})\n",
        &p.tip.to_string()[..12],
        fmt_time(p.now)
    );
    if p.plan.is_empty() {
        let _ = writeln!(s, "No changes: the cloud matches the access repository.\n");
    } else {
        let _ = writeln!(s, "| | grant | provider | what |\n|---|---|---|---|");
        for c in &p.plan.changes {
            let _ = writeln!(
                s,
                "| `{}` | `{}` | {} | {} |",
                c.sign(),
                c.grant(),
                c.provider(),
                c.text().trim().replace('|', "\\|")
            );
        }
        s.push('\n');
    }
    for r in &p.plan.refused {
        let _ = writeln!(
            s,
            "- **refused** `{}` in {}: {}",
            r.grant, r.provider, r.why
        );
    }
    for e in &p.plan.unreadable {
        let _ = writeln!(s, "- **error** provider {}: {}", e.provider, e.error);
    }
    for v in &p.invalid {
        let _ = writeln!(
            s,
            "- **invalid** `{}` line {}: {} ({})",
            v.file, v.span.start.line, v.message, v.rule
        );
    }
    if let Some(applied) = applied {
        let failed: Vec<&Applied> = applied.iter().filter(|a| !a.ok).collect();
        let _ = writeln!(
            s,
            "\nApplied {} of {} changes.",
            applied.len() - failed.len(),
            applied.len()
        );
        for a in failed {
            let _ = writeln!(
                s,
                "- **failed** {} `{}`: {}",
                a.action,
                a.grant,
                a.error.as_deref().unwrap_or_default()
            );
        }
    }
    for r in removals {
        if let Some(c) = &r.commit {
            let _ = writeln!(s, "- removed `{}` in {}", r.path, &c[..12.min(c.len())]);
        }
    }
    s
}
