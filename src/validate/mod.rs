//! Validation: the policy on its own, then every grant file against it.
//!
//! Each check is a named function that pushes violations; all of them run, so
//! one run reports every problem in every file. A failed validation is a
//! result ([`Validation`]), not an error.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

mod grant;
pub(crate) mod policy;

use crate::grant::Grant;
use crate::policy::{POLICY_PATH, Policy};
use crate::rule::{Rule, Violation};
use crate::snapshot::{Content, MAX_FILE_BYTES, Snapshot, SourceFile};
use crate::yaml::{self, Pos, Span, Spans, YamlError, YamlErrorKind};

use grant::{GrantContext, check_grant_file, check_grant_files};
use policy::check_policy;

/// When each grant file first landed on the default branch, by path. Empty
/// for a working tree that has not landed.
pub type Landings = HashMap<String, DateTime<Utc>>;

/// The outcome of validating an access repository.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The policy, if it could be read. Present but with violations, it is a
    /// best-effort model: nothing should be applied from it.
    pub policy: Option<Policy>,
    /// Every grant that passed every check, sorted by id.
    pub grants: Vec<Grant>,
    /// Paths of grant files that did not pass.
    pub rejected: Vec<String>,
    /// Every violation, sorted by file and position.
    pub violations: Vec<Violation>,
}

impl Validation {
    /// No violations at all.
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Validates a snapshot of an access repository at `now`.
pub fn validate(snapshot: &Snapshot, now: DateTime<Utc>, landings: &Landings) -> Validation {
    let mut violations = Vec::new();
    let policy = match &snapshot.policy {
        Some(file) => check_policy(file, &mut violations),
        None => {
            violations.push(Violation {
                rule: Rule::PolicyMissing,
                file: POLICY_PATH.to_string(),
                span: point(Pos::START),
                message: "no gitgrant.yaml in the access repository".to_string(),
                help: Rule::PolicyMissing.help().to_string(),
            });
            None
        }
    };
    let ctx = GrantContext {
        policy: policy.as_ref(),
        now,
        landings,
    };
    let results = check_grant_files(&snapshot.grants, &ctx);
    let mut grants = Vec::new();
    let mut rejected = Vec::new();
    for (file, (grant, mut found)) in snapshot.grants.iter().zip(results) {
        match grant {
            // Without a policy nothing was checked against one: nothing is accepted.
            Some(g) if found.is_empty() && policy.is_some() => grants.push(g),
            _ => rejected.push(file.path.clone()),
        }
        violations.append(&mut found);
    }
    grants.sort_by(|a, b| a.id.cmp(&b.id));
    violations.sort();
    Validation {
        policy,
        grants,
        rejected,
        violations,
    }
}

/// Checks one grant file's content as if it were at `path`, against a policy:
/// what `gitgrant request` runs before writing a file.
pub fn check_grant(
    policy: &Policy,
    path: &str,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<Grant, Vec<Violation>> {
    let file = SourceFile {
        path: path.to_string(),
        content: Content::Bytes(bytes.to_vec()),
    };
    match read_grant(Some(policy), &file, now, None) {
        (Some(g), v) if v.is_empty() => Ok(g),
        (_, v) => Err(v),
    }
}

/// Reads one grant file leniently: the grant as written whenever its path and
/// timing can be read — even if it breaks the policy — with every violation
/// found, sorted. The audit uses it to account for grants that landed invalid.
/// `landed` is when the file landed, if it has.
pub fn read_grant(
    policy: Option<&Policy>,
    file: &SourceFile,
    now: DateTime<Utc>,
    landed: Option<DateTime<Utc>>,
) -> (Option<Grant>, Vec<Violation>) {
    let landings: Landings = landed.map(|t| (file.path.clone(), t)).into_iter().collect();
    let ctx = GrantContext {
        policy,
        now,
        landings: &landings,
    };
    let (grant, mut v) = check_grant_file(file, &ctx);
    v.sort();
    (grant, v)
}

/// Reads and checks a policy file on its own: the (best-effort) model, if the
/// file could be parsed, and every violation, sorted.
pub fn read_policy(file: &SourceFile) -> (Option<Policy>, Vec<Violation>) {
    let mut v = Vec::new();
    let policy = check_policy(file, &mut v);
    v.sort();
    (policy, v)
}

// ---------------------------------------------------------------------------
// Shared plumbing

fn point(pos: Pos) -> Span {
    Span {
        start: pos,
        end: pos,
    }
}

/// Collects the violations of one file: what every check, the provider
/// kinds' included, reports to.
pub struct Sink<'a> {
    file: &'a str,
    spans: &'a Spans,
    out: Vec<Violation>,
}

impl<'a> Sink<'a> {
    fn new(file: &'a str, spans: &'a Spans) -> Self {
        Sink {
            file,
            spans,
            out: Vec::new(),
        }
    }

    fn push_span(&mut self, rule: Rule, span: Span, message: String, help: Option<String>) {
        self.out.push(Violation {
            rule,
            file: self.file.to_string(),
            span,
            message,
            help: help.unwrap_or_else(|| rule.help().to_string()),
        });
    }

    /// At the value of `path` (or its nearest parent).
    pub fn at(&mut self, rule: Rule, path: &str, message: impl Into<String>) {
        let span = self.spans.at(path);
        self.push_span(rule, span, message.into(), None);
    }

    /// At the value of `path`, with a help line of its own.
    pub fn at_help(&mut self, rule: Rule, path: &str, message: impl Into<String>, help: String) {
        let span = self.spans.at(path);
        self.push_span(rule, span, message.into(), Some(help));
    }

    /// At the key that names `path`.
    pub fn at_key(&mut self, rule: Rule, path: &str, message: impl Into<String>) {
        let span = self.spans.key(path).unwrap_or_else(|| self.spans.at(path));
        self.push_span(rule, span, message.into(), None);
    }
}

/// The file's text, or the violation that prevents reading it.
fn text_of(file: &SourceFile) -> Result<&str, Violation> {
    let v = |rule: Rule, span: Span, message: String| Violation {
        rule,
        file: file.path.clone(),
        span,
        message,
        help: rule.help().to_string(),
    };
    match &file.content {
        Content::Symlink => Err(v(
            Rule::Symlink,
            point(Pos::START),
            "a symbolic link; gitgrant never follows links".to_string(),
        )),
        Content::TooLarge(size) => Err(v(
            Rule::FileTooLarge,
            point(Pos::START),
            format!("{size} bytes, over the limit of {MAX_FILE_BYTES}"),
        )),
        Content::Bytes(bytes) => std::str::from_utf8(bytes).map_err(|e| {
            let good = &bytes[..e.valid_up_to()];
            // The prefix is valid UTF-8 by definition.
            let good = std::str::from_utf8(good).unwrap_or_default();
            let line = good.matches('\n').count() as u32 + 1;
            let col = good.rsplit('\n').next().unwrap_or("").chars().count() as u32 + 1;
            v(
                Rule::NotUtf8,
                point(Pos { line, col }),
                format!("byte 0x{:02x} is not UTF-8", bytes[e.valid_up_to()]),
            )
        }),
    }
}

fn yaml_violation(file: &str, e: YamlError) -> Violation {
    let rule = match e.kind {
        YamlErrorKind::Syntax | YamlErrorKind::ComplexKey => Rule::YamlSyntax,
        YamlErrorKind::Empty => Rule::EmptyFile,
        YamlErrorKind::NotAMapping => Rule::NotAMapping,
        YamlErrorKind::MultipleDocuments => Rule::MultipleDocuments,
        YamlErrorKind::Anchor => Rule::YamlAnchor,
        YamlErrorKind::Tag => Rule::YamlTag,
        YamlErrorKind::DuplicateKey => Rule::DuplicateKey,
        YamlErrorKind::UnknownField => Rule::UnknownField,
        YamlErrorKind::MissingField => Rule::MissingField,
        YamlErrorKind::InvalidType => Rule::InvalidType,
    };
    Violation {
        rule,
        file: file.to_string(),
        span: e.span,
        message: e.message,
        help: rule.help().to_string(),
    }
}

fn parse_file<T: serde::de::DeserializeOwned>(
    file: &SourceFile,
    out: &mut Vec<Violation>,
) -> Option<yaml::Located<T>> {
    let text = text_of(file).map_err(|v| out.push(v)).ok()?;
    yaml::parse::<T>(text)
        .map_err(|e| out.push(yaml_violation(&file.path, e)))
        .ok()
}
