//! What the reconciler signs, and how the audit and later runs check it.
//!
//! The reconciler signs two things with one SSH key (OpenSSH's `SSHSIG`
//! format, the one `git` writes with `gpg.format ssh`): its removal commits,
//! in the commit's `gpgsig` header under the namespace `git`, so plain
//! `git verify-commit` checks them; and each evidence note's text, under
//! the namespace `gitgrant`, with the signature appended to the note as
//! `git tag` appends one to a tag's message. Both are checked against the
//! allowed-signers file on the default branch
//! ([`ALLOWED_SIGNERS_PATH`], git's `gpg.ssh.allowedSignersFile` format),
//! which the security team owns in CODEOWNERS.
//!
//! A signature proves that whoever held the key wrote those bytes; nothing
//! more. It is what lets an audit without a network tell the reconciler's
//! records from a note or trailer anyone with push access could write.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone as _, Utc};
use ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey, SshSig};

/// The environment variable holding the reconciler's private key (OpenSSH
/// format, unencrypted): a repository secret.
pub const SIGNING_KEY_ENV: &str = "GITGRANT_SIGNING_KEY";

/// Where the allowed-signers file lives in the access repository (`.github/`
/// is the security team's in the generated CODEOWNERS).
pub const ALLOWED_SIGNERS_PATH: &str = ".github/allowed_signers";

/// The namespace git signs commits under.
pub const COMMIT_NAMESPACE: &str = "git";

/// The namespace evidence notes are signed under.
pub const NOTE_NAMESPACE: &str = "gitgrant";

/// The name and email of the commits the reconciler makes itself and
/// signs, when git's configuration names no one.
pub const COMMITTER: (&str, &str) = ("gitgrant", "gitgrant@users.noreply.github.com");

/// The armour's first line.
pub const ARMOUR_BEGIN: &str = "-----BEGIN SSH SIGNATURE-----";

/// Why a key or an allowed-signers file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// The private key could not be read.
    #[error(
        "{SIGNING_KEY_ENV} is not an OpenSSH private key ({0}); put the whole file \
         `ssh-keygen -t ed25519 -N '' -f key` wrote into the secret"
    )]
    Key(String),
    /// The private key has a passphrase.
    #[error(
        "{SIGNING_KEY_ENV} holds a key with a passphrase; the reconciler needs one without \
         (`ssh-keygen -p -N '' -f key`), kept only in the repository secret"
    )]
    Encrypted,
    /// Signing failed.
    #[error("signing with {SIGNING_KEY_ENV}: {0}")]
    Sign(String),
    /// A line of the allowed-signers file could not be read.
    #[error("{ALLOWED_SIGNERS_PATH}:{line}: {message}")]
    AllowedSigners {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// The reconciler's signing key.
pub struct Signer {
    key: PrivateKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer({})", self.public_text())
    }
}

impl Signer {
    /// The key in [`SIGNING_KEY_ENV`], if it is set and not empty.
    pub fn from_env() -> Result<Option<Signer>, SigningError> {
        match std::env::var(SIGNING_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => Signer::from_openssh(&text).map(Some),
            _ => Ok(None),
        }
    }

    /// Reads an OpenSSH private key.
    pub fn from_openssh(text: &str) -> Result<Signer, SigningError> {
        let key = PrivateKey::from_openssh(text.trim().as_bytes())
            .map_err(|e| SigningError::Key(e.to_string()))?;
        if key.is_encrypted() {
            return Err(SigningError::Encrypted);
        }
        Ok(Signer { key })
    }

    /// The public key as an allowed-signers line takes it
    /// (`ssh-ed25519 AAAA…`).
    pub fn public_text(&self) -> String {
        let mut public = self.key.public_key().clone();
        public.set_comment("");
        public.to_openssh().unwrap_or_default()
    }

    /// The public key.
    pub fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// An armoured `SSHSIG` over `data` in `namespace`, ending in a newline.
    pub fn sign(&self, namespace: &str, data: &[u8]) -> Result<String, SigningError> {
        let sig = self
            .key
            .sign(namespace, HashAlg::Sha512, data)
            .map_err(|e| SigningError::Sign(e.to_string()))?;
        let mut pem = sig
            .to_pem(LineEnding::LF)
            .map_err(|e| SigningError::Sign(e.to_string()))?;
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        Ok(pem)
    }
}

/// What a run signs with and believes: its own key, if it has one, and the
/// allowed-signers file of the commit it runs at, if there is one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys<'a> {
    /// The key this run signs with ([`SIGNING_KEY_ENV`]).
    pub signer: Option<&'a Signer>,
    /// The keys whose signatures it believes ([`ALLOWED_SIGNERS_PATH`]).
    pub allowed: Option<&'a AllowedSigners>,
}

/// A run's signing key and allowed signers, owned ([`Keys`] borrows them).
#[derive(Debug, Default)]
pub struct Signing {
    /// The key this run signs with.
    pub signer: Option<Signer>,
    /// The allowed-signers file of the commit the run reads.
    pub allowed: Option<AllowedSigners>,
}

impl Signing {
    /// What to sign with and believe, borrowed.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            signer: self.signer.as_ref(),
            allowed: self.allowed.as_ref(),
        }
    }
}

/// One line of an allowed-signers file.
#[derive(Debug, Clone)]
struct Entry {
    principals: Vec<String>,
    namespaces: Option<Vec<String>>,
    valid_after: Option<DateTime<Utc>>,
    valid_before: Option<DateTime<Utc>>,
    key: PublicKey,
}

/// The keys whose signatures count, read from the repository's
/// allowed-signers file (git's `gpg.ssh.allowedSignersFile` format:
/// `principals [options] keytype base64-key`, with the options
/// `namespaces="…"`, `valid-after="…"` and `valid-before="…"`;
/// `cert-authority` lines are refused).
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    entries: Vec<Entry>,
}

impl AllowedSigners {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<AllowedSigners, SigningError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |message: String| SigningError::AllowedSigners {
                line: i + 1,
                message,
            };
            let tokens = tokens(line);
            let [principals, rest @ ..] = tokens.as_slice() else {
                continue;
            };
            let (options, key) = match rest {
                [first, key @ ..] if !is_key_type(first) => (Some(first.as_str()), key),
                key => (None, key),
            };
            let (mut namespaces, mut valid_after, mut valid_before) = (None, None, None);
            for option in options.map(split_options).unwrap_or_default() {
                let (name, value) = option.split_once('=').unwrap_or((option.as_str(), ""));
                let value = value.trim_matches('"');
                let stamp = |what: &str| {
                    parse_stamp(value).ok_or_else(|| err(format!("{what} {value:?} is no time")))
                };
                match name.to_ascii_lowercase().as_str() {
                    "namespaces" => {
                        namespaces = Some(value.split(',').map(str::to_string).collect());
                    }
                    "valid-after" => valid_after = Some(stamp("valid-after")?),
                    "valid-before" => valid_before = Some(stamp("valid-before")?),
                    "cert-authority" => {
                        return Err(err(
                            "cert-authority is not supported: list the reconciler's key itself"
                                .into(),
                        ));
                    }
                    other => return Err(err(format!("unknown option {other:?}"))),
                }
            }
            let entry = Entry {
                principals: principals.split(',').map(str::to_string).collect(),
                namespaces,
                valid_after,
                valid_before,
                key: PublicKey::from_openssh(&key.join(" "))
                    .map_err(|e| err(format!("not a public key: {e}")))?,
            };
            entries.push(entry);
        }
        Ok(AllowedSigners { entries })
    }

    /// Whether no key is allowed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `key` is allowed to sign in `namespace` at `at`.
    pub fn allows(&self, key: &PublicKey, namespace: &str, at: DateTime<Utc>) -> bool {
        self.entries
            .iter()
            .any(|e| e.key.key_data() == key.key_data() && e.admits(namespace, at))
    }

    /// The principal of the allowed key that signed `data` in `namespace`
    /// with the armoured `signature`, the signature made at `at` (valid
    /// windows are checked against it); `None` when no allowed key did.
    pub fn verify(
        &self,
        namespace: &str,
        data: &[u8],
        signature: &str,
        at: DateTime<Utc>,
    ) -> Option<&str> {
        let sig = SshSig::from_pem(signature.trim().as_bytes()).ok()?;
        if sig.namespace() != namespace {
            return None;
        }
        let entry = self
            .entries
            .iter()
            .find(|e| e.key.key_data() == sig.public_key() && e.admits(namespace, at))?;
        entry.key.verify(namespace, data, &sig).ok()?;
        entry.principals.first().map(String::as_str)
    }
}

impl Entry {
    fn admits(&self, namespace: &str, at: DateTime<Utc>) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|ns| ns.iter().any(|n| n == namespace))
            && self.valid_after.is_none_or(|t| at >= t)
            && self.valid_before.is_none_or(|t| at < t)
    }
}

/// The whitespace-separated words of a line, a double-quoted span kept whole.
fn tokens(line: &str) -> Vec<String> {
    split_unquoted(line, char::is_whitespace)
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect()
}

/// `a="x,y",b` → `a="x,y"`, `b`.
fn split_options(options: &str) -> Vec<String> {
    split_unquoted(options, |c| c == ',')
}

/// `text` split at each character `at` accepts outside double quotes.
fn split_unquoted(text: &str, at: impl Fn(char) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in text.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if at(c) && !quoted {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

fn is_key_type(word: &str) -> bool {
    word.starts_with("ssh-") || word.starts_with("ecdsa-") || word.starts_with("sk-")
}

/// `YYYYMMDD[HHMM[SS]][Z]`, read as UTC (ssh-keygen reads a time without
/// `Z` as the system's local time; the reconciler's runners are on UTC).
fn parse_stamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.strip_suffix(['Z', 'z']).unwrap_or(s);
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let date = NaiveDate::parse_from_str(s.get(..8)?, "%Y%m%d").ok()?;
    let time = match s.len() {
        8 => date.and_hms_opt(0, 0, 0)?,
        12 => NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M").ok()?,
        14 => NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?,
        _ => return None,
    };
    Some(Utc.from_utc_datetime(&time))
}

/// Splits signed text into what was signed and the armoured signature
/// appended to it, as `git tag` does: `None` when no signature follows.
pub fn split_signed(text: &str) -> Option<(&str, &str)> {
    let at = text.rfind(ARMOUR_BEGIN)?;
    let (data, sig) = text.split_at(at);
    (at == 0 || data.ends_with('\n')).then_some((data, sig))
}

/// A throwaway key for unit tests, made with `ssh-keygen -t ed25519 -N ''`.
#[cfg(test)]
pub(crate) mod test_key {
    use super::{AllowedSigners, Signer};

    /// The private key.
    pub const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACAWNkX8jdhvrp10ppArLoTFKYyXk6zNS2sAXg1Fgg0LDAAAAJiMcA9RjHAP
UQAAAAtzc2gtZWQyNTUxOQAAACAWNkX8jdhvrp10ppArLoTFKYyXk6zNS2sAXg1Fgg0LDA
AAAEAIJ18QlqpvWspCwk2TSdr3k1KFbhoGCmvqTiOmZBU9JBY2RfyN2G+unXSmkCsuhMUp
jJeTrM1LawBeDUWCDQsMAAAAEXRlc3RAZ2l0Z3JhbnQuZGV2AQIDBA==
-----END OPENSSH PRIVATE KEY-----
";

    /// The key as a signer.
    pub fn signer() -> Signer {
        Signer::from_openssh(KEY).expect("the test key")
    }

    /// Allowed signers listing only the test key.
    pub fn allowed() -> AllowedSigners {
        AllowedSigners::parse(&format!("gitgrant@test {}", signer().public_text()))
            .expect("the test key's line")
    }
}

#[cfg(test)]
mod tests {
    use super::test_key::KEY;
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_signature_verifies_only_for_its_namespace_data_and_allowed_key() {
        let signer = Signer::from_openssh(KEY).unwrap();
        let allowed = AllowedSigners::parse(&format!(
            "# the reconciler\ngitgrant@acme namespaces=\"git,gitgrant\" {}\n",
            signer.public_text()
        ))
        .unwrap();
        let now = t("2026-12-01T00:00:00Z");
        let sig = signer.sign(NOTE_NAMESPACE, b"hello").unwrap();
        assert_eq!(
            allowed.verify(NOTE_NAMESPACE, b"hello", &sig, now),
            Some("gitgrant@acme")
        );
        assert_eq!(allowed.verify(NOTE_NAMESPACE, b"hellO", &sig, now), None);
        assert_eq!(allowed.verify(COMMIT_NAMESPACE, b"hello", &sig, now), None);
        assert_eq!(
            AllowedSigners::default().verify(NOTE_NAMESPACE, b"hello", &sig, now),
            None
        );
        let other = "other@acme ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxs/hAHc5Y1D0r2Uw9rvS8InZEDWumZ7m2X7V8PYrlW";
        assert_eq!(
            AllowedSigners::parse(other)
                .unwrap()
                .verify(NOTE_NAMESPACE, b"hello", &sig, now),
            None
        );
    }

    #[test]
    fn a_rotated_key_verifies_only_inside_its_validity() {
        let signer = Signer::from_openssh(KEY).unwrap();
        let allowed = AllowedSigners::parse(&format!(
            "old valid-after=\"20261101\",valid-before=\"20261201Z\" {}",
            signer.public_text()
        ))
        .unwrap();
        let sig = signer.sign(COMMIT_NAMESPACE, b"x").unwrap();
        let at = |s| allowed.verify(COMMIT_NAMESPACE, b"x", &sig, t(s)).is_some();
        assert!(at("2026-11-15T00:00:00Z"));
        assert!(!at("2026-12-01T00:00:00Z"));
        assert!(!at("2026-10-31T23:59:59Z"));
    }

    #[test]
    fn a_bad_allowed_signers_line_says_where() {
        let e = AllowedSigners::parse("\n\nx ssh-ed25519 AAAAnotakey").unwrap_err();
        assert!(
            e.to_string().starts_with(".github/allowed_signers:3:"),
            "{e}"
        );
        let e = AllowedSigners::parse("x cert-authority ssh-ed25519 AAAA").unwrap_err();
        assert!(e.to_string().contains("cert-authority"), "{e}");
    }

    #[test]
    fn signed_text_splits_at_its_last_armour() {
        assert_eq!(
            split_signed("{}\n-----BEGIN SSH SIGNATURE-----\nx\n"),
            Some(("{}\n", "-----BEGIN SSH SIGNATURE-----\nx\n"))
        );
        assert_eq!(split_signed("{}\n"), None);
        assert_eq!(split_signed("{} -----BEGIN SSH SIGNATURE-----"), None);
    }
}
