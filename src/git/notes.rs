//! Evidence notes: what the reconciler verified about a grant when it first
//! applied it, recorded under `refs/notes/gitgrant` on the grant's landing
//! commit, so that the trail is in git.
//!
//! A note is a record, never a credential: anyone with write access can
//! push a notes ref, so the reconciler never applies a grant because a note
//! says it was approved. The audit reads notes (and the removal commits'
//! trailers, which repeat them on the protected branch) without a network;
//! `audit --github` checks them against GitHub.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{CommitId, Context as _, GitError, Repo};

/// The notes ref gitgrant writes.
pub const NOTES_REF: &str = "refs/notes/gitgrant";

/// The note on one landing commit: a record per grant file that landed in it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Format version; only `1` exists.
    #[serde(default = "one")]
    pub version: u32,
    /// Records by grant file.
    #[serde(default)]
    pub grants: BTreeMap<String, Record>,
    /// Notifications sent about what this commit landed: `<channel>:<event
    /// id>` → when. A later run sends none of these again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sent: BTreeMap<String, String>,
}

fn one() -> u32 {
    1
}

/// What the reconciler verified about one grant before applying it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Record {
    /// The grant id.
    pub grant: String,
    /// The pull request that landed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<u64>,
    /// The pull request's final head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// What approved it.
    pub approved: Approved,
    /// When the reconciler verified it.
    #[serde(serialize_with = "crate::grant::ser_time")]
    #[schemars(with = "String")]
    pub verified_at: DateTime<Utc>,
    /// Which run: the Actions run's URL, or `local`.
    pub run: String,
}

/// What approved a grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Approved {
    /// A quorum of code owners' reviews.
    Reviews {
        /// Each counted approval.
        approvals: Vec<ReviewRecord>,
    },
    /// An auto-approval rule, judged at the landing.
    Rule {
        /// The rule's name.
        rule: String,
    },
    /// A break-glass role: no review needed.
    BreakGlass {
        /// Its post-incident review issue, once opened.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        review: Option<String>,
    },
}

/// One counted approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ReviewRecord {
    /// The reviewer's login.
    pub reviewer: String,
    /// The review's id on GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_id: Option<u64>,
    /// When it was submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
}

impl Approved {
    /// In words, as the `Gitgrant-Approved-By` trailer and the audit say
    /// it: `carol, dave`, `rule on-call`, `break-glass`.
    pub fn text(&self) -> String {
        match self {
            Approved::Reviews { approvals } => approvals
                .iter()
                .map(|a| a.reviewer.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            Approved::Rule { rule } => format!("rule {rule}"),
            Approved::BreakGlass { .. } => "break-glass".to_string(),
        }
    }
}

impl Note {
    /// Reads a note's text; `None` when it is not a gitgrant note.
    pub fn parse(text: &str) -> Option<Note> {
        serde_json::from_str(text).ok()
    }

    /// The note's text.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// Adds `other`'s records to this note, keeping this note's where both
    /// have one.
    pub fn merge(&mut self, other: &Note) {
        for (path, r) in &other.grants {
            self.grants.entry(path.clone()).or_insert_with(|| r.clone());
        }
        for (id, at) in &other.sent {
            self.sent.entry(id.clone()).or_insert_with(|| at.clone());
        }
    }
}

impl Repo {
    /// The note on `commit`, if there is a gitgrant one.
    pub fn note(&self, commit: CommitId) -> Option<Note> {
        let n = self.repo.find_note(Some(NOTES_REF), commit.0).ok()?;
        Note::parse(n.message().ok()?)
    }

    /// Every gitgrant note, by commit.
    pub fn notes(&self) -> BTreeMap<String, Note> {
        let mut out = BTreeMap::new();
        let Ok(iter) = self.repo.notes(Some(NOTES_REF)) else {
            return out;
        };
        for (_, annotated) in iter.flatten() {
            if let Some(note) = self.note(CommitId(annotated)) {
                out.insert(annotated.to_string(), note);
            }
        }
        out
    }

    /// Records `records` on their commits under [`NOTES_REF`], each merged
    /// into the note already there (a record already there is kept).
    /// Returns whether anything was written.
    pub fn add_records(
        &self,
        records: &[(CommitId, String, Record)],
        time: DateTime<Utc>,
    ) -> Result<bool, GitError> {
        let mut by_commit: BTreeMap<CommitId, Note> = BTreeMap::new();
        for (commit, path, record) in records {
            by_commit
                .entry(*commit)
                .or_default()
                .grants
                .insert(path.clone(), record.clone());
        }
        self.merge_notes(by_commit, time)
    }

    /// Merges each of `notes` into the note already on its commit, writing
    /// only those that change. Returns whether anything was written.
    fn merge_notes(
        &self,
        notes: BTreeMap<CommitId, Note>,
        time: DateTime<Utc>,
    ) -> Result<bool, GitError> {
        let sig = self.signature(time)?;
        let mut wrote = false;
        for (commit, mut note) in notes {
            let old = self.note(commit).unwrap_or_default();
            note.merge(&old);
            // Compared as written: times are kept in whole seconds.
            if note.to_text() == old.to_text() {
                continue;
            }
            self.repo
                .note(&sig, &sig, Some(NOTES_REF), commit.0, &note.to_text(), true)
                .context(|| format!("writing the evidence note on {commit}"))?;
            wrote = true;
        }
        Ok(wrote)
    }

    /// Records that the notifications `sent` (`(commit, "<channel>:<id>")`)
    /// went out at `time`, on each commit's note.
    pub fn add_sent(
        &self,
        sent: &[(CommitId, String)],
        time: DateTime<Utc>,
    ) -> Result<bool, GitError> {
        let mut by_commit: BTreeMap<CommitId, Note> = BTreeMap::new();
        for (commit, id) in sent {
            by_commit
                .entry(*commit)
                .or_default()
                .sent
                .insert(id.clone(), crate::grant::fmt_time(time));
        }
        self.merge_notes(by_commit, time)
    }

    /// The tip of [`NOTES_REF`].
    pub fn notes_tip(&self) -> Option<CommitId> {
        self.repo.refname_to_id(NOTES_REF).ok().map(CommitId)
    }

    /// Makes the local notes hold everything of `theirs` (a notes commit
    /// fetched from a remote) as well: fast-forwards when ours is behind,
    /// else re-applies our notes on top of theirs, so that the result
    /// descends from theirs. Returns the local tip afterwards.
    pub fn absorb_notes(
        &self,
        theirs: CommitId,
        time: DateTime<Utc>,
    ) -> Result<CommitId, GitError> {
        let Some(ours) = self.notes_tip() else {
            self.set_notes(theirs)?;
            return Ok(theirs);
        };
        if ours == theirs
            || self
                .repo
                .graph_descendant_of(ours.0, theirs.0)
                .unwrap_or(false)
        {
            return Ok(ours);
        }
        let mine = self.notes();
        self.set_notes(theirs)?;
        if !self
            .repo
            .graph_descendant_of(theirs.0, ours.0)
            .unwrap_or(false)
        {
            let sig = self.signature(time)?;
            for (commit, note) in mine {
                let Ok(oid) = git2::Oid::from_str(&commit) else {
                    continue;
                };
                let mut merged = self.note(CommitId(oid)).unwrap_or_default();
                let before = merged.clone();
                merged.merge(&note);
                if merged != before {
                    self.repo
                        .note(&sig, &sig, Some(NOTES_REF), oid, &merged.to_text(), true)
                        .context(|| format!("merging the evidence note on {commit}"))?;
                }
            }
        }
        Ok(self.notes_tip().unwrap_or(theirs))
    }

    fn set_notes(&self, to: CommitId) -> Result<(), GitError> {
        self.repo
            .reference(NOTES_REF, to.0, true, "gitgrant: notes")
            .context(|| format!("setting {NOTES_REF}"))?;
        Ok(())
    }
}
