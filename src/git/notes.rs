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
use crate::signing::{self, AllowedSigners, Keys, Signer, SigningError};

/// The notes ref gitgrant writes.
pub const NOTES_REF: &str = "refs/notes/gitgrant";

/// The note on one landing commit: a record per grant file that landed in it.
///
/// Written with a signing key, the note names the commit it annotates and
/// its text is followed by the reconciler's SSH signature over the text
/// before it ([`crate::signing`]): only such a note, signed by a key of the
/// allowed-signers file, is believed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Format version; only `1` exists.
    #[serde(default = "one")]
    pub version: u32,
    /// The commit the note is on, bound into what is signed so that a
    /// signed note cannot be moved onto another commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
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

impl Default for Note {
    fn default() -> Note {
        Note {
            version: one(),
            commit: None,
            grants: BTreeMap::new(),
            sent: BTreeMap::new(),
        }
    }
}

/// How far a note read from the notes ref can be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// Signed, for this commit, by a key of the allowed-signers file.
    Signed,
    /// Anything else: anyone with push access can write it.
    Unsigned,
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
        /// For a rule with a `history` condition, the history facts it was
        /// judged on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        history: Option<crate::approval::history::Seen>,
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
            Approved::Rule { rule, .. } => format!("rule {rule}"),
            Approved::BreakGlass { .. } => "break-glass".to_string(),
        }
    }
}

impl Note {
    /// Reads a note's text, a signature after it or not; `None` when it is
    /// not a gitgrant note.
    pub fn parse(text: &str) -> Option<Note> {
        let data = signing::split_signed(text).map_or(text, |(data, _)| data);
        serde_json::from_str(data).ok()
    }

    /// Reads the note on `commit` and says whether it is the reconciler's:
    /// signed by a key that `signers` allows, for that very commit.
    pub fn read(
        text: &str,
        commit: CommitId,
        signers: Option<&AllowedSigners>,
    ) -> Option<(Note, Trust)> {
        let note = Note::parse(text)?;
        let signed = match (signing::split_signed(text), signers) {
            (Some((data, sig)), Some(signers)) => {
                note.commit.as_deref() == Some(commit.to_string().as_str())
                    && signers
                        .verify(
                            signing::NOTE_NAMESPACE,
                            data.as_bytes(),
                            sig,
                            note.signed_at(),
                        )
                        .is_some()
            }
            _ => false,
        };
        Some((
            note,
            if signed {
                Trust::Signed
            } else {
                Trust::Unsigned
            },
        ))
    }

    /// When the note was last signed: the latest time it records.
    fn signed_at(&self) -> DateTime<Utc> {
        let sent = self
            .sent
            .values()
            .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        self.grants
            .values()
            .map(|r| r.verified_at)
            .chain(sent)
            .max()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// The note's text.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The note's text for `commit`: signed by `signer` when there is one
    /// (naming the commit, the signature appended), else as it is.
    pub fn text_for(
        &self,
        commit: CommitId,
        signer: Option<&Signer>,
    ) -> Result<String, SigningError> {
        let Some(signer) = signer else {
            return Ok(self.to_text());
        };
        let mut bound = self.clone();
        bound.commit = Some(commit.to_string());
        let text = bound.to_text();
        let sig = signer.sign(signing::NOTE_NAMESPACE, text.as_bytes())?;
        Ok(text + &sig)
    }

    /// What a run writing with `signer` builds on: the stored note as it
    /// is when nothing is signed, else only if it is the reconciler's own
    /// (a note anyone could have written is dropped, never re-signed).
    pub fn base(stored: Option<(Note, Trust)>, signer: Option<&Signer>) -> Note {
        match stored {
            Some((note, Trust::Signed)) => note,
            Some((note, Trust::Unsigned)) if signer.is_none() => note,
            _ => Note::default(),
        }
    }

    /// Lays `new` over this note: a record of `new` takes its file's place
    /// when this note has none or says something else approved the grant
    /// (otherwise the first verification, and its time, stays); sent
    /// notifications are added.
    pub fn absorb(&mut self, new: &Note) {
        for (path, r) in &new.grants {
            if self
                .grants
                .get(path)
                .is_none_or(|old| old.approved != r.approved)
            {
                self.grants.insert(path.clone(), r.clone());
            }
        }
        for (id, at) in &new.sent {
            self.sent.entry(id.clone()).or_insert_with(|| at.clone());
        }
    }

    /// `new` laid over `old` ([`Note::absorb`]), when that changes `old`
    /// as written (times are kept in whole seconds).
    pub fn over(old: &Note, new: &Note) -> Option<Note> {
        let mut merged = old.clone();
        merged.absorb(new);
        (merged.to_text() != old.to_text()).then_some(merged)
    }
}

/// The notes `records` and notifications `sent` (`<channel>:<id>`, sent at
/// `time`) make, by commit.
pub fn batch(
    records: &[(CommitId, String, Record)],
    sent: &[(CommitId, String)],
    time: DateTime<Utc>,
) -> BTreeMap<CommitId, Note> {
    let mut out: BTreeMap<CommitId, Note> = BTreeMap::new();
    for (commit, path, record) in records {
        out.entry(*commit)
            .or_default()
            .grants
            .insert(path.clone(), record.clone());
    }
    for (commit, id) in sent {
        out.entry(*commit)
            .or_default()
            .sent
            .insert(id.clone(), crate::grant::fmt_time(time));
    }
    out
}

impl Repo {
    /// The note on `commit`, if there is a gitgrant one, and whether a key
    /// of `signers` signed it ([`Note::read`]).
    pub fn note(
        &self,
        commit: CommitId,
        signers: Option<&AllowedSigners>,
    ) -> Option<(Note, Trust)> {
        let n = self.repo.find_note(Some(NOTES_REF), commit.0).ok()?;
        Note::read(n.message().ok()?, commit, signers)
    }

    /// The note on `commit` only when the reconciler signed it: what a run
    /// may act on or copy into a removal commit.
    pub fn signed_note(&self, commit: CommitId, signers: Option<&AllowedSigners>) -> Option<Note> {
        match self.note(commit, signers)? {
            (note, Trust::Signed) => Some(note),
            (_, Trust::Unsigned) => None,
        }
    }

    /// Every gitgrant note, by commit, with whether it is signed.
    pub fn notes(&self, signers: Option<&AllowedSigners>) -> BTreeMap<String, (Note, Trust)> {
        let mut out = BTreeMap::new();
        let Ok(iter) = self.repo.notes(Some(NOTES_REF)) else {
            return out;
        };
        for (_, annotated) in iter.flatten() {
            if let Some(note) = self.note(CommitId(annotated), signers) {
                out.insert(annotated.to_string(), note);
            }
        }
        out
    }

    /// Lays each of `notes` over the note on its commit under
    /// [`NOTES_REF`] ([`Note::absorb`] on [`Note::base`]), signed by
    /// `signer` when there is one, writing only those that change.
    /// Returns the ones that did, as given: what is still to be pushed.
    pub fn write_notes(
        &self,
        notes: BTreeMap<CommitId, Note>,
        time: DateTime<Utc>,
        keys: Keys,
    ) -> Result<BTreeMap<CommitId, Note>, GitError> {
        let sig = self.signature(time)?;
        let mut changed = BTreeMap::new();
        for (commit, note) in notes {
            let stored = self.note(commit, keys.allowed);
            let Some(merged) = Note::over(&Note::base(stored, keys.signer), &note) else {
                continue;
            };
            let text = merged.text_for(commit, keys.signer)?;
            self.repo
                .note(&sig, &sig, Some(NOTES_REF), commit.0, &text, true)
                .context(|| format!("writing the evidence note on {commit}"))?;
            changed.insert(commit, note);
        }
        Ok(changed)
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
        keys: Keys,
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
        let mine = self.notes(keys.allowed);
        self.set_notes(theirs)?;
        if !self
            .repo
            .graph_descendant_of(theirs.0, ours.0)
            .unwrap_or(false)
        {
            // Ours are re-applied as records, so only what may be re-signed
            // travels ([`Note::base`]).
            let mine = mine
                .into_iter()
                .filter_map(|(c, n)| {
                    let commit = CommitId(git2::Oid::from_str(&c).ok()?);
                    Some((commit, Note::base(Some(n), keys.signer)))
                })
                .collect();
            self.write_notes(mine, time, keys)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::test_key;

    fn commit(hex: &str) -> CommitId {
        CommitId(git2::Oid::from_str(hex).unwrap())
    }

    #[test]
    fn a_note_made_from_nothing_is_version_1() {
        assert_eq!(Note::default().version, 1);
        assert!(Note::default().to_text().contains("\"version\": 1"));
    }

    #[test]
    fn a_signed_note_is_believed_only_on_its_own_commit_and_unaltered() {
        let a = commit("1111111111111111111111111111111111111111");
        let b = commit("2222222222222222222222222222222222222222");
        let mut note = Note::default();
        note.sent
            .insert("ops:x".into(), "2026-11-23T09:00:00Z".into());
        let signer = test_key::signer();
        let allowed = test_key::allowed();
        let text = note.text_for(a, Some(&signer)).unwrap();
        let trust = |t: &str, c| Note::read(t, c, Some(&allowed)).map(|(_, t)| t);
        assert_eq!(trust(&text, a), Some(Trust::Signed));
        // Moved onto another commit, or edited, or with no signers known.
        assert_eq!(trust(&text, b), Some(Trust::Unsigned));
        let edited = text.replace("ops:x", "ops:y");
        assert_eq!(trust(&edited, a), Some(Trust::Unsigned));
        assert_eq!(
            Note::read(&text, a, None).map(|(_, t)| t),
            Some(Trust::Unsigned)
        );
        // What a signing run builds on: never an unsigned note's content.
        let forged = Some((note.clone(), Trust::Unsigned));
        assert_eq!(Note::base(forged.clone(), Some(&signer)), Note::default());
        assert_eq!(Note::base(forged, None), note);
    }
}
