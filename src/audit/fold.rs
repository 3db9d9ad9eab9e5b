//! The fold: one commit at a time, oldest first, tracking the policy in
//! force and every grant file present, and recording what happens to them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::widening::widenings;
use super::{
    Audit, Edit, End, EndedBy, FORMAT_VERSION, Finding, FindingRule, GitEvidence, GrantViolation,
    Landing, Lifecycle, Options, Request, Revocation, RevocationSummary, State, Window,
};
use crate::grant::{Grant, fmt_time};
use crate::history::{self, FileChange, FileVersion, HistoryCommit, Signature};
use crate::policy::{POLICY_PATH, Policy};
use crate::removal::Trailers;
use crate::rule::{Rule, Violation};
use crate::snapshot::{Content, SourceFile, is_placeholder};
use crate::validate;

/// The committer of the commits GitHub writes itself ("web-flow"): merge
/// and squash merges of pull requests, web edits, API commits. GitHub signs
/// them with its own OpenPGP key.
const GITHUB_COMMITTER: &str = "GitHub <noreply@github.com>";

/// The title GitHub's merge button gives a merge commit by default.
const MERGE_TITLE: &str = "Merge pull request #";

/// The state of the fold between commits.
#[derive(Clone)]
pub(super) struct Fold<'a> {
    options: &'a Options,
    /// The newest policy that could be read. A policy that later fails to
    /// parse, or is removed, leaves this one in force for judging grants.
    policy: Option<Policy>,
    /// What the policy says of each role that every lifecycle of it shares
    /// (its providers, the roles no fence covers, the propagation time),
    /// worked out once per role and version of the policy: the fence check
    /// expands IAM actions against AWS's catalogue.
    roles: HashMap<String, RoleFacts>,
    /// Grant files present now, by path.
    open: BTreeMap<String, Open>,
    /// The latest lifecycle of each grant id.
    latest: HashMap<String, Latest>,
    /// The lifecycles not yet handed out, by index (the order they began).
    lifecycles: HashMap<usize, Lifecycle>,
    /// The index the next lifecycle gets.
    next: usize,
    /// For each lifecycle (by index), what the policy at landing said of
    /// how its access ends.
    ends: HashMap<usize, EndFacts>,
    findings: Vec<Finding>,
    /// For each lifecycle not yet handed out, its findings (indices into
    /// `findings`).
    found: HashMap<usize, Vec<usize>>,
    /// The lifecycles whose file is present, by their place in the audit's
    /// order.
    open_keys: BTreeSet<Key>,
    /// The lifecycles that have ended and are not yet handed out, by their
    /// place in the audit's order.
    ended: BTreeMap<Key, usize>,
}

/// A lifecycle's place in the audit's order: landing time, grant id,
/// occurrence.
type Key = (DateTime<Utc>, String, u32);

/// What a later lifecycle of the same grant id needs of the latest one.
#[derive(Clone)]
struct Latest {
    index: usize,
    occurrence: u32,
    /// When and why it ended.
    end: Option<(DateTime<Utc>, String)>,
}

/// What the policy says of a role that every lifecycle of it shares.
#[derive(Clone)]
struct RoleFacts {
    provider: String,
    end: EndFacts,
}

/// What the policy said, when a grant landed, of how its access ends.
#[derive(Clone, Default)]
struct EndFacts {
    /// Roles its grant may assume that no session fence covers.
    unfenced: Vec<String>,
    /// How long a run's removal takes to hold everywhere, when documented.
    propagation: Option<i64>,
    /// Whether only a run ends it: a kind with no timed grant (PostgreSQL).
    run_ends: bool,
}

/// A grant file present at the current commit.
#[derive(Clone)]
struct Open {
    /// Index into `Fold::lifecycles`.
    index: usize,
    /// Its latest version, as read.
    version: Version,
}

/// One version of a grant file, read against the policy of its commit.
#[derive(Clone)]
struct Version {
    grant: Option<Grant>,
    fields: Fields,
    violations: Vec<Violation>,
}

/// The free-text fields of a grant, known even when the grant as a whole
/// cannot be read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
struct Fields {
    #[serde(default, deserialize_with = "loose_string")]
    subject: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "loose_string")]
    ticket: Option<String>,
}

/// What every step at one commit needs to know about it.
struct At<'c> {
    commit: &'c HistoryCommit,
    /// The pull request the message names.
    pr: Option<u64>,
    /// How far git alone backs that claim.
    evidence: GitEvidence,
    trailers: Vec<(String, String)>,
    policy_changed: bool,
}

impl At<'_> {
    fn time(&self) -> DateTime<Utc> {
        self.commit.time
    }

    fn id(&self) -> String {
        self.commit.id.clone()
    }
}

impl<'a> Fold<'a> {
    pub(super) fn new(options: &'a Options) -> Self {
        Fold {
            options,
            policy: None,
            roles: HashMap::new(),
            open: BTreeMap::new(),
            latest: HashMap::new(),
            lifecycles: HashMap::new(),
            next: 0,
            ends: HashMap::new(),
            findings: Vec::new(),
            found: HashMap::new(),
            open_keys: BTreeSet::new(),
            ended: BTreeMap::new(),
        }
    }

    /// Folds in one commit: the policy first (grants are read against the
    /// policy in the same tree), then removals, edits and additions of grant
    /// files — removals first, so that an addition can be matched with the
    /// removal it moved from.
    pub(super) fn commit(&mut self, c: &HistoryCommit) {
        let policy_change = c.changes.iter().find(|ch| ch.path == POLICY_PATH);
        let pr = history::pull_request_number(&c.message);
        let at = At {
            commit: c,
            pr,
            evidence: evidence(c, pr),
            trailers: history::trailers(&c.message),
            // A truncated commit's changes are everything it holds, not
            // what it changed; and the commit that creates the policy
            // bootstraps the repository: there was no policy to loosen.
            policy_changed: policy_change.is_some_and(|ch| ch.old.is_some()) && !c.truncated,
        };
        if c.truncated {
            self.history_truncated(&at);
        }
        if let Some(change) = policy_change {
            self.policy_change(&at, change);
        }
        let grants: Vec<&FileChange> = c
            .changes
            .iter()
            .filter(|ch| ch.path.starts_with("grants/") && !is_placeholder(&ch.path))
            .collect();
        let removed: Vec<(&str, &FileVersion)> = grants
            .iter()
            .filter_map(|ch| match (&ch.old, &ch.new) {
                (Some(old), None) => Some((ch.path.as_str(), old)),
                _ => None,
            })
            .collect();
        for (path, _) in &removed {
            self.remove(&at, path);
        }
        for ch in &grants {
            if let (Some(_), Some(new)) = (&ch.old, &ch.new) {
                self.change(&at, &ch.path, new);
            }
        }
        for ch in &grants {
            if let (None, Some(new)) = (&ch.old, &ch.new) {
                let moved_from = removed
                    .iter()
                    .find(|(path, old)| old.blob == new.blob && *path != ch.path)
                    .map(|(path, _)| *path);
                self.add(&at, &ch.path, new, moved_from);
            }
        }
    }

    /// The lifecycles that have ended and that sort before every lifecycle
    /// still open and every one a later commit can land, given `later`, the
    /// earliest time of any later commit ([`HistoryCommit::later`] of the
    /// commit folded last; `None`: no later commit), complete and in the
    /// audit's order. They are handed out once: [`Fold::finish`] holds only
    /// the rest (its findings are all of them). Only a reader of the whole
    /// history writes them out this way: the audit of a history without
    /// `later` must take none.
    pub(super) fn take_ready(&mut self, later: Option<DateTime<Utc>>) -> Vec<Lifecycle> {
        let mut out = Vec::new();
        while let Some(entry) = self.ended.first_entry() {
            let key = entry.key();
            if later.is_some_and(|t| key.0 >= t)
                || self.open_keys.first().is_some_and(|open| open < key)
            {
                break;
            }
            let index = entry.remove();
            let Some(mut l) = self.lifecycles.remove(&index) else {
                continue;
            };
            l.revocation = revocation(&l, self.ends.remove(&index).unwrap_or_default());
            let mut mine: Vec<&Finding> = (self.found.remove(&index).unwrap_or_default().iter())
                .filter_map(|&i| self.findings.get(i))
                .collect();
            mine.sort_by(|a, b| finding_order(a, b));
            for f in mine {
                if !l.findings.contains(&f.rule) {
                    l.findings.push(f.rule);
                }
            }
            out.push(l);
        }
        out
    }

    /// The audit as of `now`: grants still present get their state, and
    /// everything is sorted. The lifecycles [`Fold::take_ready`] handed out
    /// are not in it; every finding is.
    pub(super) fn finish(mut self, tip: Option<&HistoryCommit>, now: DateTime<Utc>) -> Audit {
        let open: Vec<usize> = self.open.values().map(|o| o.index).collect();
        for index in open {
            self.judge_present(index, tip, now);
        }
        let mut lifecycles: Vec<(usize, Lifecycle)> = self.lifecycles.into_iter().collect();
        lifecycles.sort_by_key(|(i, _)| *i);
        let mut lifecycles: Vec<Lifecycle> = lifecycles
            .into_iter()
            .map(|(i, mut l)| {
                l.revocation = revocation(&l, self.ends.remove(&i).unwrap_or_default());
                l
            })
            .collect();
        let mut findings = self.findings;
        sort_findings(&mut findings);
        attach_findings(&mut lifecycles, &findings);
        lifecycles.sort_by(|a, b| {
            (a.landed.time, &a.id, a.occurrence).cmp(&(b.landed.time, &b.id, b.occurrence))
        });
        Audit {
            version: FORMAT_VERSION,
            tip: tip.map(|c| c.id.clone()),
            now,
            revocation: RevocationSummary::of(&lifecycles),
            lifecycles,
            findings,
        }
    }

    /// The lifecycle at `index`, which the fold holds until it is handed out.
    fn life(&self, index: usize) -> &Lifecycle {
        &self.lifecycles[&index]
    }

    // -----------------------------------------------------------------------
    // The policy

    fn history_truncated(&mut self, at: &At) {
        self.findings.push(Finding {
            rule: FindingRule::HistoryTruncated,
            grant: None,
            occurrence: None,
            role: None,
            commit: at.id(),
            time: at.time(),
            message: format!(
                "history starts at {}: its parent is missing, so grants present there landed at or before it",
                at.commit.short_id()
            ),
        });
    }

    fn policy_change(&mut self, at: &At, change: &FileChange) {
        let Some(new) = &change.new else {
            self.invalid_policy(at, "gitgrant.yaml was removed".to_string());
            return;
        };
        let file = SourceFile {
            path: POLICY_PATH.to_string(),
            content: new.content.clone(),
        };
        let (policy, violations) = validate::read_policy(&file);
        if !violations.is_empty() {
            self.invalid_policy(
                at,
                format!(
                    "gitgrant.yaml does not validate: {}",
                    summarise(&violations)
                ),
            );
        }
        let Some(policy) = policy else { return };
        if let Some(old) = &self.policy {
            for (role, changes) in widenings(old, &policy) {
                self.findings.push(Finding {
                    rule: FindingRule::PolicyWidened,
                    grant: None,
                    occurrence: None,
                    commit: at.id(),
                    time: at.time(),
                    message: format!("role `{role}`: {}", changes.join("; ")),
                    role: Some(role),
                });
            }
        }
        self.policy = Some(policy);
        self.roles.clear();
    }

    fn invalid_policy(&mut self, at: &At, message: String) {
        self.findings.push(Finding {
            rule: FindingRule::InvalidPolicy,
            grant: None,
            occurrence: None,
            role: None,
            commit: at.id(),
            time: at.time(),
            message,
        });
    }

    // -----------------------------------------------------------------------
    // Grant files

    /// A grant file added: a new lifecycle.
    fn add(&mut self, at: &At, path: &str, new: &FileVersion, moved_from: Option<&str>) {
        if self.open.contains_key(path) {
            // An addition of a path already present can only come from an
            // inconsistent history; account for it as an edit.
            self.change(at, path, new);
            return;
        }
        let id = grant_id(path);
        let role = folder_role(path);
        let earlier = self.latest.get(&id).cloned();
        let occurrence = earlier.as_ref().map_or(1, |e| e.occurrence + 1);
        let version = self.read(path, new, at.time(), at.time());
        let window = version
            .grant
            .as_ref()
            .and_then(|g| g.window(Some(at.time())));
        let policy_role = role
            .as_deref()
            .and_then(|r| Some((self.policy.as_ref()?, self.policy.as_ref()?.roles.get(r)?)));
        let access = policy_role
            .zip(version.fields.subject.as_deref())
            .map(|((policy, r), subject)| crate::providers::access_text(policy, r, subject));
        let facts = policy_role.map(|(policy, r)| {
            self.roles
                .entry(r.name.clone())
                .or_insert_with(|| RoleFacts {
                    provider: r.providers_text(),
                    end: EndFacts {
                        unfenced: crate::providers::unfenced(policy, r),
                        propagation: crate::providers::propagation_seconds(policy, r),
                        run_ends: !crate::providers::ends_by_itself(policy, r),
                    },
                })
                .clone()
        });
        let provider = facts.as_ref().map(|f| f.provider.clone());
        let end = facts.map(|f| f.end).unwrap_or_default();
        let lifecycle = Lifecycle {
            id: id.clone(),
            occurrence,
            path: path.to_string(),
            subject: version.fields.subject.clone(),
            role,
            provider,
            access,
            reason: version.fields.reason.clone(),
            ticket: version.fields.ticket.clone(),
            requested: Request {
                commit: at.commit.merged_head.clone().unwrap_or_else(|| at.id()),
                pr: at.pr,
            },
            landed: Landing {
                commit: at.id(),
                time: at.time(),
                blob: new.blob.clone(),
                window,
                before_history: at.commit.truncated,
                evidence: at.evidence,
            },
            window,
            edits: Vec::new(),
            end: None,
            state: State::Unknown,
            revocation: None,
            unreadable: unreadable(&version),
            violations: grant_violations(at, &version.violations),
            findings: Vec::new(),
            approval: None,
            approved_by: None,
            approved_by_source: None,
            recorded: None,
            known_as: match (&self.policy, &version.fields.subject) {
                (Some(p), Some(s)) => p.known_as(s),
                _ => Vec::new(),
            },
        };
        let index = self.next;
        self.next += 1;
        self.open_keys.insert(key_of(&lifecycle));
        self.lifecycles.insert(index, lifecycle);
        self.ends.insert(index, end);
        self.latest.insert(
            id,
            Latest {
                index,
                occurrence,
                end: None,
            },
        );
        if let Some(earlier) = earlier {
            self.re_added(at, &earlier, index);
        }
        if let Some(from) = moved_from {
            let message = format!("moved from {from} (same content)");
            self.finding(FindingRule::Moved, index, at, message);
        }
        self.landing_checks(at, index, &version, window, "landed");
        self.open.insert(path.to_string(), Open { index, version });
    }

    /// A grant file changed after it landed: an edit.
    fn change(&mut self, at: &At, path: &str, new: &FileVersion) {
        let Some(open) = self.open.get(path) else {
            // A change to a file not seen before (an inconsistent history):
            // it is there now, so it starts a lifecycle.
            self.add(at, path, new, None);
            return;
        };
        let index = open.index;
        let landed = self.life(index).landed.time;
        let version = self.read(path, new, at.time(), landed);
        let before = self.life(index).window;
        let after = version.grant.as_ref().and_then(|g| g.window(Some(landed)));
        let changed = changed_fields(&open.version.fields, &version.fields, before, after);
        let Some(lifecycle) = self.lifecycles.get_mut(&index) else {
            return;
        };
        lifecycle.edits.push(Edit {
            commit: at.id(),
            time: at.time(),
            pr: at.pr,
            evidence: at.evidence,
            blob: new.blob.clone(),
            before,
            after,
            subject: version.fields.subject.clone(),
            changed,
            approval: None,
        });
        lifecycle.window = after;
        lifecycle.unreadable = unreadable(&version);
        lifecycle
            .violations
            .extend(grant_violations(at, &version.violations));
        if let (Some(b), Some(a)) = (before, after) {
            self.extension(at, index, b, a);
        }
        // An edit that leaves the window alone grants no new time: its
        // length was judged when it was set.
        let judged = if before != after { after } else { None };
        self.landing_checks(at, index, &version, judged, "edited");
        if let Some(open) = self.open.get_mut(path) {
            open.version = version;
        }
    }

    /// A grant file removed: its lifecycle ends.
    fn remove(&mut self, at: &At, path: &str) {
        let Some(open) = self.open.remove(path) else {
            return;
        };
        let index = open.index;
        let lifecycle = self.life(index);
        let trailers = Trailers::from_pairs(&at.trailers);
        let claimed = trailers.grant.as_deref() == Some(lifecycle.id.as_str());
        // The trailers are the reconciler's only when its key signed the
        // commit; anyone can type them into a merge message.
        let by_reconciler = claimed && self.signed(at);
        if claimed {
            self.check_claims(at, &trailers, index, by_reconciler);
        }
        let lifecycle = self.life(index);
        let reason = trailers
            .reason
            .clone()
            .filter(|r| by_reconciler && !r.is_empty())
            .unwrap_or_else(|| end_reason(at.time(), lifecycle.window).to_string());
        let revoked_at = trailers
            .revoked_at()
            .filter(|_| by_reconciler)
            .and_then(Result::ok)
            .unwrap_or(at.time());
        let window = lifecycle.window;
        let key = key_of(lifecycle);
        if let Some(latest) = self.latest.get_mut(&key.1)
            && latest.index == index
        {
            latest.end = Some((at.time(), reason.clone()));
        }
        self.open_keys.remove(&key);
        self.ended.insert(key, index);
        let Some(lifecycle) = self.lifecycles.get_mut(&index) else {
            return;
        };
        lifecycle.end = Some(End {
            commit: at.id(),
            time: at.time(),
            reason,
            revoked_at,
            by_reconciler,
            approved_by: trailers
                .approved_by
                .clone()
                .filter(|a| by_reconciler && !a.is_empty()),
            pull_request: trailers.pull_request().filter(|_| by_reconciler),
        });
        lifecycle.state = State::Ended;
        if let Some(w) = window
            && is_late(at.time(), w.end, self.options.late_after)
        {
            let message = format!(
                "removed {} after its window ended at {}",
                fmt_delta(at.time() - w.end),
                fmt_time(w.end)
            );
            self.finding(FindingRule::LateRemoval, index, at, message);
        }
    }

    /// Whether a key of the allowed signers signed the commit, at its time.
    fn signed(&self, at: &At) -> bool {
        let (Some(allowed), Some(signed)) = (&self.options.allowed, &at.commit.ssh_signed) else {
            return false;
        };
        allowed
            .verify(
                crate::signing::COMMIT_NAMESPACE,
                &signed.payload,
                &signed.armour,
                at.time(),
            )
            .is_some()
    }

    /// A commit that says it is the reconciler's removal: unsigned, it is
    /// reported; signed or not, trailers that contradict the history are.
    fn check_claims(&mut self, at: &At, trailers: &Trailers, index: usize, signed: bool) {
        let (landed, window) = (self.life(index).landed.time, self.life(index).window);
        if !signed {
            let message = format!(
                "{} carries the reconciler's removal trailers, but no key of {} signed it: \
                 its reason, revocation time and approver are not believed",
                at.commit.short_id(),
                crate::signing::ALLOWED_SIGNERS_PATH
            );
            self.finding(FindingRule::UnverifiedEvidence, index, at, message);
        }
        let mut wrong = Vec::new();
        if trailers.says_expired()
            && let Some(w) = window
            && at.time() < w.end
        {
            wrong.push(format!(
                "says expired at {}, before the window's end {}",
                fmt_time(at.time()),
                fmt_time(w.end)
            ));
        }
        if let Some(t) = trailers.revoked_at() {
            match t {
                Ok(t) if t < landed => wrong.push(format!(
                    "says revoked at {}, before the grant landed at {}",
                    fmt_time(t),
                    fmt_time(landed)
                )),
                Ok(t) if t > at.time() => wrong.push(format!(
                    "says revoked at {}, after its own commit at {}",
                    fmt_time(t),
                    fmt_time(at.time())
                )),
                Ok(_) => {}
                Err(text) => wrong.push(format!(
                    "has a Gitgrant-Revoked-At that is no time: {:?}",
                    crate::report::visible(text)
                )),
            }
        }
        for w in wrong {
            let message = format!("{} {w}", at.commit.short_id());
            self.finding(FindingRule::ImplausibleRemoval, index, at, message);
        }
    }

    /// A grant still present at the end of the history: its state at `now`.
    fn judge_present(&mut self, index: usize, tip: Option<&HistoryCommit>, now: DateTime<Utc>) {
        let late_after = self.options.late_after;
        let Some(lifecycle) = self.lifecycles.get_mut(&index) else {
            return;
        };
        lifecycle.state = match lifecycle.window {
            None => State::Unknown,
            Some(w) if now < w.start => State::Scheduled,
            Some(w) if w.contains(now) => State::Active,
            Some(_) => State::Expired,
        };
        let Some(w) = lifecycle.window else { return };
        if is_late(now, w.end, late_after) {
            let finding = Finding {
                rule: FindingRule::LateRemoval,
                grant: Some(lifecycle.id.clone()),
                occurrence: Some(lifecycle.occurrence),
                role: lifecycle.role.clone(),
                commit: tip.map(|c| c.id.clone()).unwrap_or_default(),
                time: now,
                message: format!(
                    "still present {} after its window ended at {}",
                    fmt_delta(now - w.end),
                    fmt_time(w.end)
                ),
            };
            self.findings.push(finding);
        }
    }

    // -----------------------------------------------------------------------
    // Checks on a version of a grant as it lands (added or edited)

    /// The findings any newly landed version of a grant can give rise to.
    /// `judged` is the window whose length is checked against the policy.
    fn landing_checks(
        &mut self,
        at: &At,
        index: usize,
        version: &Version,
        judged: Option<Window>,
        how: &str,
    ) {
        if at.evidence == GitEvidence::None && !at.commit.truncated {
            let message = match at.pr {
                None => format!(
                    "{how} in a commit whose message names no pull request: \"{}\"",
                    at.commit.summary()
                ),
                Some(n) => format!(
                    "{how} in a commit titled as the merge of pull request #{n} but with one parent (GitHub's merge commits have two): \"{}\"",
                    at.commit.summary()
                ),
            };
            self.finding(FindingRule::DirectPush, index, at, message);
        }
        if at.policy_changed {
            let message = format!("{how} in the same commit that changed gitgrant.yaml");
            self.finding(FindingRule::GrantWithPolicyChange, index, at, message);
        }
        if let Some(message) = self.over_max(index, judged) {
            self.finding(FindingRule::WindowOverMax, index, at, message);
        }
        if let Some(message) = invalid_grant(version) {
            self.finding(FindingRule::InvalidGrant, index, at, message);
        }
    }

    /// Whether a window is longer than the role allows in the policy in
    /// force, and by how much.
    fn over_max(&self, index: usize, window: Option<Window>) -> Option<String> {
        let lifecycle = self.life(index);
        let role = self
            .policy
            .as_ref()?
            .roles
            .get(lifecycle.role.as_deref()?)?;
        let w = window?;
        let length = crate::duration::GrantDuration::from_delta(w.end - w.start)?;
        (length > role.max_duration).then(|| {
            format!(
                "window is {length}, longer than role `{}` allowed then ({}): {w}",
                role.name, role.max_duration
            )
        })
    }

    fn extension(&mut self, at: &At, index: usize, before: Window, after: Window) {
        let mut moved = Vec::new();
        if after.end > before.end {
            moved.push(format!(
                "end moved later by {}, from {} to {}",
                fmt_delta(after.end - before.end),
                fmt_time(before.end),
                fmt_time(after.end)
            ));
        }
        if after.start < before.start {
            moved.push(format!(
                "start moved earlier by {}, from {} to {}",
                fmt_delta(before.start - after.start),
                fmt_time(before.start),
                fmt_time(after.start)
            ));
        }
        if !moved.is_empty() {
            let message = format!("window extended: {}", moved.join("; "));
            self.finding(FindingRule::Extended, index, at, message);
        }
    }

    fn re_added(&mut self, at: &At, earlier: &Latest, index: usize) {
        let message = match &earlier.end {
            Some((time, reason)) => format!(
                "grant id used again; its lifecycle #{} ended at {} ({})",
                earlier.occurrence,
                fmt_time(*time),
                reason
            ),
            None => "grant id used again after an earlier lifecycle ended".to_string(),
        };
        self.finding(FindingRule::ReAdded, index, at, message);
    }

    fn finding(&mut self, rule: FindingRule, index: usize, at: &At, message: String) {
        self.found
            .entry(index)
            .or_default()
            .push(self.findings.len());
        let lifecycle = self.life(index);
        self.findings.push(Finding {
            rule,
            grant: Some(lifecycle.id.clone()),
            occurrence: Some(lifecycle.occurrence),
            role: lifecycle.role.clone(),
            commit: at.id(),
            time: at.time(),
            message,
        });
    }

    /// Reads a version of a grant file against the policy in force.
    fn read(
        &self,
        path: &str,
        v: &FileVersion,
        now: DateTime<Utc>,
        landed: DateTime<Utc>,
    ) -> Version {
        let file = SourceFile {
            path: path.to_string(),
            content: v.content.clone(),
        };
        let (grant, violations) =
            validate::read_grant(self.policy.as_ref(), &file, now, Some(landed));
        let fields = match &grant {
            Some(g) => Fields {
                subject: Some(g.subject.clone()),
                reason: Some(g.reason.clone()),
                ticket: g.ticket.clone(),
            },
            None => loose_fields(&v.content),
        };
        Version {
            grant,
            fields,
            violations,
        }
    }
}

// ---------------------------------------------------------------------------
// Helpers

/// How strongly a commit shows, from git alone, that it landed through the
/// pull request `pr` its message names. A merge title on a commit with one
/// parent is a claim the commit itself refutes; a committer and a signature
/// can be forged, and the signature is not verified, but a commit without
/// them was certainly not written by GitHub's merge or squash button.
fn evidence(c: &HistoryCommit, pr: Option<u64>) -> GitEvidence {
    let merge_title = c.summary().trim_start().starts_with(MERGE_TITLE);
    if pr.is_none() || (merge_title && c.parents < 2) {
        GitEvidence::None
    } else if c.committer == GITHUB_COMMITTER && c.signature == Some(Signature::OpenPgp) {
        GitEvidence::GithubSigned
    } else {
        GitEvidence::Message
    }
}

/// `<role>/<name>` from `grants/<role>/<name>.yaml`; for any other path
/// under `grants/`, the path without those.
fn grant_id(path: &str) -> String {
    let rest = path.strip_prefix("grants/").unwrap_or(path);
    rest.strip_suffix(".yaml").unwrap_or(rest).to_string()
}

/// The role folder of `grants/<role>/<file>`.
fn folder_role(path: &str) -> Option<String> {
    match path.split('/').collect::<Vec<_>>().as_slice() {
        ["grants", role, _] => Some(role.to_string()),
        _ => None,
    }
}

/// Why a lifecycle ended when no reconciler trailer says: removed before the
/// window's end revokes early; after it, by hand.
fn end_reason(time: DateTime<Utc>, window: Option<Window>) -> String {
    match window {
        Some(w) if time < w.end => "revoked-early".to_string(),
        _ => "removed".to_string(),
    }
}

/// How and how late access ended, for a lifecycle that has ended or whose
/// window is over: `None` while scheduled or active, or with no window.
///
/// The end git asked for is the window's end, or the file's removal when
/// that came first (the reconciler's removal commit: its
/// `Gitgrant-Revoked-At`). The cloud itself ends access at the end of the
/// window its conditions carry, which is the file's window once a run has
/// applied it; the latest end any version gave bounds that.
/// A run's end holds everywhere only after the cloud's documented
/// propagation time (`propagation`), recorded beside the lag; the cloud's
/// own end (the window's conditions, judged on every request) needs none.
/// A kind with no timed grant (PostgreSQL: `run_ends`) is ended by a run
/// alone, at the window's end too: its lag is known only from the
/// reconciler's removal commit.
fn revocation(l: &Lifecycle, facts: EndFacts) -> Option<Revocation> {
    let EndFacts {
        unfenced,
        propagation,
        run_ends,
    } = facts;
    let w = l.window?;
    let latest = l.windows().map(|v| v.end).max().unwrap_or(w.end).max(w.end);
    // When the file was removed, and when a run is known to have revoked.
    let (removed, revoked) = match (&l.end, l.state) {
        (Some(e), _) if e.by_reconciler => (Some(e.revoked_at), Some(e.revoked_at)),
        (Some(e), _) => (Some(e.time), None),
        (None, State::Expired) => (None, None),
        (None, _) => return None,
    };
    let intended = removed.map_or(w.end, |t| t.min(w.end));
    let revocation = |ended_by, lag_seconds, lag_at_most_seconds| {
        Some(Revocation {
            ended_by,
            lag_seconds,
            lag_at_most_seconds,
            unfenced: unfenced.clone(),
            propagation_seconds: propagation.filter(|_| ended_by == EndedBy::Run),
        })
    };
    if run_ends {
        // No timed grant: only a run ended it, and only the reconciler's
        // own removal commit says when; nothing bounds the lag otherwise.
        let lag = revoked.map(|r| (r - intended).num_seconds().max(0));
        return revocation(EndedBy::Run, lag, None);
    }
    if intended == w.end && latest == w.end {
        // It ran to its window's end, and no version ever gave more.
        return revocation(EndedBy::Cloud, Some(0), None);
    }
    // Removed early, or the window shortened: a run had to act. The cloud
    // ends access by the latest end regardless; a reconciler's removal
    // says when it revoked.
    let ceiling = revoked.map_or(latest, |r| r.min(latest));
    let at_most = (ceiling - intended).num_seconds().max(0);
    if at_most == 0 {
        revocation(EndedBy::Run, Some(0), None)
    } else {
        revocation(EndedBy::Run, None, Some(at_most))
    }
}

/// The fields of an unreadable grant file that can still be made out, best
/// effort: the YAML read leniently, strings only.
fn loose_fields(content: &Content) -> Fields {
    let Content::Bytes(bytes) = content else {
        return Fields::default();
    };
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| crate::yaml::parse::<Fields>(text).ok())
        .map(|doc| doc.value)
        .unwrap_or_default()
}

/// Any YAML value; kept only when it is a string.
fn loose_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = serde_yaml::Value::deserialize(d)?;
    Ok(value.as_str().map(str::to_string))
}

fn unreadable(version: &Version) -> Option<String> {
    if version.grant.is_some() {
        return None;
    }
    Some(if version.violations.is_empty() {
        "the grant file could not be read".to_string()
    } else {
        format!(
            "the grant file could not be read: {}",
            summarise(&version.violations)
        )
    })
}

/// The `invalid-grant` message for a version with violations. A window
/// longer than the role allows has a finding of its own (`window-over-max`).
fn invalid_grant(version: &Version) -> Option<String> {
    let other: Vec<Violation> = version
        .violations
        .iter()
        .filter(|v| v.rule != Rule::WindowTooLong)
        .cloned()
        .collect();
    if other.is_empty() {
        return None;
    }
    let what = if version.grant.is_some() {
        "does not validate"
    } else {
        "could not be read"
    };
    Some(format!("{what}: {}", summarise(&other)))
}

fn grant_violations(at: &At, violations: &[Violation]) -> Vec<GrantViolation> {
    violations
        .iter()
        .map(|v| GrantViolation {
            commit: at.id(),
            rule: v.rule.id().to_string(),
            message: v.message.clone(),
        })
        .collect()
}

/// Violations on one line: `rule (message); rule (message)`.
fn summarise(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{} ({})", v.rule, v.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn changed_fields(
    old: &Fields,
    new: &Fields,
    before: Option<Window>,
    after: Option<Window>,
) -> Vec<String> {
    [
        ("subject", old.subject != new.subject),
        ("reason", old.reason != new.reason),
        ("ticket", old.ticket != new.ticket),
        ("window", before != after),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(name, _)| name.to_string())
    .collect()
}

/// Whether `t` is more than `late_after` past a window's `end`. A lag that
/// reaches past the calendar's end (`--late-after 99999999d`) is never
/// over.
fn is_late(t: DateTime<Utc>, end: DateTime<Utc>, late_after: chrono::TimeDelta) -> bool {
    end.checked_add_signed(late_after)
        .is_some_and(|deadline| t > deadline)
}

/// A time difference as people read it: `2h`, `1d3h`, `45s`.
pub(super) fn fmt_delta(delta: chrono::TimeDelta) -> String {
    let secs = delta.num_seconds().max(0);
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut out = String::new();
    for (n, unit) in [(d, "d"), (h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

pub(super) fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(finding_order);
}

/// The audit's order of findings: time, rule id, grant, occurrence, text.
fn finding_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    (a.time, a.rule.id(), &a.grant, a.occurrence, &a.message).cmp(&(
        b.time,
        b.rule.id(),
        &b.grant,
        b.occurrence,
        &b.message,
    ))
}

/// A lifecycle's place in the audit's order.
fn key_of(l: &Lifecycle) -> Key {
    (l.landed.time, l.id.clone(), l.occurrence)
}

/// Lists on each lifecycle the rule ids of its findings, once each, in the
/// order they arose.
pub(super) fn attach_findings(lifecycles: &mut [Lifecycle], findings: &[Finding]) {
    let by_key: HashMap<(&str, u32), usize> = lifecycles
        .iter()
        .enumerate()
        .map(|(i, l)| ((l.id.as_str(), l.occurrence), i))
        .collect();
    let mut rules: Vec<Vec<FindingRule>> = vec![Vec::new(); lifecycles.len()];
    for f in findings {
        let (Some(grant), Some(n)) = (&f.grant, f.occurrence) else {
            continue;
        };
        if let Some(&i) = by_key.get(&(grant.as_str(), n))
            && !rules[i].contains(&f.rule)
        {
            rules[i].push(f.rule);
        }
    }
    for (lifecycle, rules) in lifecycles.iter_mut().zip(rules) {
        lifecycle.findings = rules;
    }
}
