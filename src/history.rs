//! An access repository's history as the audit reads it: the default
//! branch's first-parent commits, oldest first, each with what it changed in
//! `gitgrant.yaml` and under `grants/`. The git adapter produces it; the audit
//! folds it. Nothing here knows about git2.

use chrono::{DateTime, Utc};

use crate::snapshot::Content;

/// One version of a file: its blob id and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    /// Hex object id of the blob (equal ids mean equal content).
    pub blob: String,
    /// The content, as a working-tree read would give it.
    pub content: Content,
}

/// What one commit did to one path, compared with its first parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path relative to the repository's top.
    pub path: String,
    /// Before the commit (`None`: added). Its `content` is what the walk
    /// read for that blob at an earlier commit, and empty when it read none
    /// (old sides are told apart by `blob`, which is always there).
    pub old: Option<FileVersion>,
    /// After the commit (`None`: deleted).
    pub new: Option<FileVersion>,
}

/// One commit on the default branch's first-parent chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCommit {
    /// Full hex commit id.
    pub id: String,
    /// Committer time: when the commit landed on the branch.
    pub time: DateTime<Utc>,
    /// The committer time's offset from UTC, in minutes, as recorded.
    pub offset_minutes: i32,
    /// Author as `Name <email>`.
    pub author: String,
    /// Committer as `Name <email>`: who wrote the commit object, such as
    /// `GitHub <noreply@github.com>` for GitHub's merge buttons.
    pub committer: String,
    /// The kind of signature the commit object carries (its `gpgsig`
    /// header), if any. Never verified: that needs the signer's public key.
    pub signature: Option<Signature>,
    /// A commit that claims to be a reconciler's removal (a
    /// `Gitgrant-Grant` trailer) and carries an SSH signature: the
    /// signature and what it signs, for the audit to check against the
    /// allowed signers. `None` for every other commit.
    pub ssh_signed: Option<Box<SshSigned>>,
    /// The whole commit message.
    pub message: String,
    /// How many parents the commit has (2 or more: a merge).
    pub parents: usize,
    /// A merge's second parent: the head of the branch (pull request) merged,
    /// where the change was requested.
    pub merged_head: Option<String>,
    /// Changes to `gitgrant.yaml` and under `grants/`, sorted by path.
    pub changes: Vec<FileChange>,
    /// The earliest committer time of the commits after this one on the
    /// first-parent chain (`None` for the tip, or when not known): no
    /// later commit lands anything before it, so a reader folding the
    /// history oldest first can write out what sorts earlier.
    pub later: Option<DateTime<Utc>>,
    /// Its first parent is named but missing from the repository (a shallow
    /// clone, or history rewritten by a force-push): the walk stops here and
    /// everything present in this commit counts as added by it.
    pub truncated: bool,
}

/// An SSH commit signature and the bytes it signs (the commit object
/// without its `gpgsig` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSigned {
    /// The armoured `SSHSIG`.
    pub armour: String,
    /// The signed commit content.
    pub payload: Vec<u8>,
}

/// The kind of a commit's signature, from its armour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// OpenPGP (`-----BEGIN PGP SIGNATURE-----`): what GitHub signs its
    /// web-flow commits with.
    OpenPgp,
    /// SSH (`-----BEGIN SSH SIGNATURE-----`).
    Ssh,
    /// X.509 / S/MIME, or any other armour.
    Other,
}

impl Signature {
    /// The kind of the signature whose text is `armour` (a `gpgsig`
    /// header's value).
    pub fn of(armour: &[u8]) -> Signature {
        if armour.starts_with(b"-----BEGIN PGP SIGNATURE-----") {
            Signature::OpenPgp
        } else if armour.starts_with(b"-----BEGIN SSH SIGNATURE-----") {
            Signature::Ssh
        } else {
            Signature::Other
        }
    }
}

impl HistoryCommit {
    /// The first line of the message.
    pub fn summary(&self) -> &str {
        self.message.lines().next().unwrap_or_default()
    }

    /// Short commit id (7 characters), as people quote it.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(7)]
    }
}

/// The pull request number a merge or squash commit's message names:
/// `Merge pull request #123 from …` or a summary ending in `(#123)`.
pub fn pull_request_number(message: &str) -> Option<u64> {
    let summary = message.lines().next().unwrap_or_default().trim();
    if let Some(rest) = summary.strip_prefix("Merge pull request #") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return digits.parse().ok();
    }
    let inner = summary.strip_suffix(')')?;
    let at = inner.rfind("(#")?;
    inner[at + 2..].parse().ok()
}

/// The trailers of a commit message: `Key: value` lines of its last paragraph,
/// in order. A last paragraph with any other line has no trailers.
pub fn trailers(message: &str) -> Vec<(String, String)> {
    let trimmed = message.trim_end();
    let last = trimmed.rsplit("\n\n").next().unwrap_or_default();
    if last == trimmed.lines().next().unwrap_or_default() && !trimmed.contains("\n\n") {
        // A one-paragraph message is all subject: no trailers.
        return Vec::new();
    }
    let mut out = Vec::new();
    for line in last.lines() {
        let Some((key, value)) = line.split_once(": ") else {
            return Vec::new();
        };
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Vec::new();
        }
        out.push((key.to_string(), value.trim().to_string()));
    }
    out
}

/// The value of trailer `key` (the last one, as git reports it).
pub fn trailer<'a>(trailers: &'a [(String, String)], key: &str) -> Option<&'a str> {
    trailers
        .iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_numbers_from_merge_and_squash_messages() {
        assert_eq!(
            pull_request_number("Merge pull request #123 from alice/grant\n\nx"),
            Some(123)
        );
        assert_eq!(
            pull_request_number("Grant prod-readonly to alice (#45)"),
            Some(45)
        );
        assert_eq!(pull_request_number("Grant prod-readonly to alice"), None);
        assert_eq!(pull_request_number("Fix (#abc)"), None);
        assert_eq!(pull_request_number("body only\n\n(#9)"), None);
    }

    #[test]
    fn trailers_come_from_the_last_paragraph_only() {
        let m = "gitgrant: expire r/a\n\nAccess ended.\n\nGitgrant-Grant: r/a\nGitgrant-Reason: expired\n";
        let t = trailers(m);
        assert_eq!(trailer(&t, "gitgrant-grant"), Some("r/a"));
        assert_eq!(trailer(&t, "Gitgrant-Reason"), Some("expired"));
        assert!(trailers("Subject: looks like a trailer").is_empty());
        assert!(trailers("s\n\nbody\nGitgrant-Grant: x").is_empty());
    }
}
