//! Validation: the policy on its own, then every grant file against it.
//!
//! Each check is a named function that pushes violations; all of them run, so
//! one run reports every problem in every file. A failed validation is a
//! result ([`Validation`]), not an error.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};
use regex::Regex;

use crate::duration::{GrantDuration, HARD_CAP};
use crate::grant::{Grant, GrantId, MAX_REASON_CHARS, RawGrant, Timing};
use crate::names;
use crate::policy::{
    Effect, Identity, POLICY_PATH, Person, Policy, Provider, RawIdentity, RawPolicy, Requester,
    Role,
};
use crate::rule::{Rule, Violation};
use crate::snapshot::{Content, MAX_FILE_BYTES, Snapshot, SourceFile};
use crate::yaml::{self, Pos, Span, Spans, YamlError, YamlErrorKind};

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
            Some(g) if found.is_empty() => grants.push(g),
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
    let landings = Landings::new();
    let ctx = GrantContext {
        policy: Some(policy),
        now,
        landings: &landings,
    };
    match check_grant_file(&file, &ctx) {
        (Some(g), v) if v.is_empty() => Ok(g),
        (_, mut v) => {
            v.sort();
            Err(v)
        }
    }
}

// ---------------------------------------------------------------------------
// Shared plumbing

fn point(pos: Pos) -> Span {
    Span {
        start: pos,
        end: pos,
    }
}

/// Collects the violations of one file.
struct Sink<'a> {
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
    fn at(&mut self, rule: Rule, path: &str, message: impl Into<String>) {
        let span = self.spans.at(path);
        self.push_span(rule, span, message.into(), None);
    }

    /// At the value of `path`, with a help line of its own.
    fn at_help(&mut self, rule: Rule, path: &str, message: impl Into<String>, help: String) {
        let span = self.spans.at(path);
        self.push_span(rule, span, message.into(), Some(help));
    }

    /// At the key that names `path`.
    fn at_key(&mut self, rule: Rule, path: &str, message: impl Into<String>) {
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

// ---------------------------------------------------------------------------
// The policy

type PolicyCheck = fn(&RawPolicy, &mut Sink);

/// The policy's checks, by name, in the order they run.
static POLICY_CHECKS: &[(&str, PolicyCheck)] = &[
    ("version", check_version),
    ("repository", check_repository),
    ("security-team", check_security_team),
    ("providers", check_providers),
    ("people", check_people),
    ("duplicate-identities", check_duplicate_identities),
    ("roles", check_roles),
];

fn check_policy(file: &SourceFile, out: &mut Vec<Violation>) -> Option<Policy> {
    let doc = parse_file::<RawPolicy>(file, out)?;
    let mut sink = Sink::new(&file.path, &doc.spans);
    for (_name, check) in POLICY_CHECKS {
        check(&doc.value, &mut sink);
    }
    out.append(&mut sink.out);
    Some(build_policy(&doc.value))
}

fn check_version(p: &RawPolicy, s: &mut Sink) {
    if p.version != 1 {
        s.at(
            Rule::PolicyVersion,
            "version",
            format!("unsupported policy version {}", p.version),
        );
    }
}

fn check_repository(p: &RawPolicy, s: &mut Sink) {
    if !names::is_repository(&p.repository) {
        s.at(
            Rule::InvalidRepository,
            "repository",
            format!("`{}` is not owner/name", p.repository),
        );
    }
}

fn check_security_team(p: &RawPolicy, s: &mut Sink) {
    if !names::is_owner(&p.security_team) {
        s.at(
            Rule::InvalidApprover,
            "security_team",
            format!("`{}` is not @org/team or @login", p.security_team),
        );
    }
}

fn check_providers(p: &RawPolicy, s: &mut Sink) {
    for (name, provider) in &p.providers {
        let path = format!("providers.{name}");
        if !names::is_slug(name) {
            s.at_key(
                Rule::InvalidName,
                &path,
                format!("provider name `{name}` is not lower-case letters, digits and hyphens"),
            );
        }
        if !names::is_account(&provider.account) {
            s.at(
                Rule::InvalidAccount,
                &format!("{path}.account"),
                format!("`{}` is not a 12-digit AWS account id", provider.account),
            );
        }
        if let Some(arn) = &provider.assume_role {
            match names::role_arn_account(arn) {
                None => s.at(
                    Rule::InvalidArn,
                    &format!("{path}.assume_role"),
                    format!("`{arn}` is not an IAM role ARN"),
                ),
                Some(account) if account != provider.account => s.at(
                    Rule::InvalidArn,
                    &format!("{path}.assume_role"),
                    format!(
                        "`{arn}` is in account {account}, not the provider's account {}",
                        provider.account
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}

fn check_identity(user: &Option<String>, role: &Option<String>, path: &str, s: &mut Sink) {
    if user.is_some() && role.is_some() {
        s.at(
            Rule::InvalidIdentity,
            &format!("{path}.aws_iam_role"),
            "both aws_iam_user and aws_iam_role are set",
        );
    }
    for (key, name) in [("aws_iam_user", user), ("aws_iam_role", role)] {
        if let Some(name) = name
            && !names::is_iam_name(name)
        {
            s.at(
                Rule::InvalidIdentity,
                &format!("{path}.{key}"),
                format!("`{name}` is not a valid IAM name"),
            );
        }
    }
}

fn check_people(p: &RawPolicy, s: &mut Sink) {
    for (login, person) in &p.people {
        let path = format!("people.{login}");
        if !names::is_login(login) {
            s.at_key(
                Rule::InvalidLogin,
                &path,
                format!("`{login}` is not a lower-case GitHub login"),
            );
        }
        check_identity(&person.aws_iam_user, &person.aws_iam_role, &path, s);
        for (provider, identity) in &person.providers {
            let ppath = format!("{path}.providers.{provider}");
            if !p.providers.contains_key(provider) {
                s.at_key(
                    Rule::UnknownProvider,
                    &ppath,
                    format!("no provider named `{provider}`"),
                );
            }
            check_identity(&identity.aws_iam_user, &identity.aws_iam_role, &ppath, s);
        }
    }
}

fn identity_of(user: &Option<String>, role: &Option<String>) -> Option<Identity> {
    match (user, role) {
        (Some(u), _) => Some(Identity::AwsIamUser(u.clone())),
        (None, Some(r)) => Some(Identity::AwsIamRole(r.clone())),
        (None, None) => None,
    }
}

fn build_person(raw: &crate::policy::RawPerson) -> Person {
    Person {
        default: identity_of(&raw.aws_iam_user, &raw.aws_iam_role),
        providers: raw
            .providers
            .iter()
            .filter_map(
                |(
                    name,
                    RawIdentity {
                        aws_iam_user,
                        aws_iam_role,
                    },
                )| {
                    identity_of(aws_iam_user, aws_iam_role).map(|i| (name.clone(), i))
                },
            )
            .collect(),
    }
}

fn check_duplicate_identities(p: &RawPolicy, s: &mut Sink) {
    let mut owners: BTreeMap<(&str, Identity), &str> = BTreeMap::new();
    for (login, raw) in &p.people {
        let person = build_person(raw);
        for provider in p.providers.keys() {
            let Some(identity) = person.identity_on(provider) else {
                continue;
            };
            match owners.get(&(provider.as_str(), identity.clone())) {
                Some(first) => s.at_key(
                    Rule::DuplicateIdentity,
                    &format!("people.{login}"),
                    format!(
                        "{login} and {first} have the same identity {} on provider {provider}",
                        describe_identity(identity)
                    ),
                ),
                None => {
                    owners.insert((provider.as_str(), identity.clone()), login);
                }
            }
        }
    }
}

/// `IAM user alice` or `IAM role Deploy`.
pub fn describe_identity(identity: &Identity) -> String {
    match identity {
        Identity::AwsIamUser(u) => format!("IAM user {u}"),
        Identity::AwsIamRole(r) => format!("IAM role {r}"),
    }
}

fn check_roles(p: &RawPolicy, s: &mut Sink) {
    for (name, role) in &p.roles {
        let path = format!("roles.{name}");
        if !names::is_slug(name) {
            s.at_key(
                Rule::InvalidName,
                &path,
                format!("role name `{name}` is not lower-case letters, digits and hyphens"),
            );
        }
        if role.description.trim().is_empty() {
            s.at(
                Rule::EmptyField,
                &format!("{path}.description"),
                "the role's description is empty",
            );
        }
        if !p.providers.contains_key(&role.provider) {
            s.at(
                Rule::UnknownProvider,
                &format!("{path}.provider"),
                format!("no provider named `{}`", role.provider),
            );
        }
        match role.max_duration.parse::<GrantDuration>() {
            Err(e) => s.at(
                Rule::InvalidDuration,
                &format!("{path}.max_duration"),
                e.to_string(),
            ),
            Ok(d) if d > HARD_CAP => s.at(
                Rule::MaxDurationCap,
                &format!("{path}.max_duration"),
                format!("max_duration {d} is above the hard cap of {HARD_CAP}"),
            ),
            Ok(_) => {}
        }
        for (i, owner) in role.approvers.iter().enumerate() {
            if !names::is_owner(owner) {
                s.at(
                    Rule::InvalidApprover,
                    &format!("{path}.approvers.{i}"),
                    format!("`{owner}` is not @org/team or @login"),
                );
            }
        }
        if role.approvers.is_empty() && !role.break_glass {
            s.at_key(
                Rule::NoApprovers,
                &path,
                format!("role `{name}` has no approvers"),
            );
        }
        let all_logins = role.approvers.iter().all(|o| !o.contains('/'));
        if role.min_approvals == 0 && !role.break_glass {
            s.at(
                Rule::MinApprovals,
                &format!("{path}.min_approvals"),
                "min_approvals is 0; only a break-glass role may land without review",
            );
        } else if all_logins
            && !role.approvers.is_empty()
            && role.min_approvals as usize > role.approvers.len()
        {
            s.at(
                Rule::MinApprovals,
                &format!("{path}.min_approvals"),
                format!(
                    "min_approvals is {} but only {} approvers are named",
                    role.min_approvals,
                    role.approvers.len()
                ),
            );
        }
        for (i, r) in role.requesters.iter().enumerate() {
            if parse_requester(r).is_none() {
                s.at(
                    Rule::InvalidRequester,
                    &format!("{path}.requesters.{i}"),
                    format!("`{r}` is not \"*\", a login or @org/team"),
                );
            }
        }
        if let Some(pattern) = &role.require_ticket
            && let Err(e) = Regex::new(pattern)
        {
            let first = e.to_string().lines().last().unwrap_or_default().to_string();
            s.at(
                Rule::InvalidRegex,
                &format!("{path}.require_ticket"),
                format!("`{pattern}` is not a valid regular expression: {first}"),
            );
        }
        check_permissions(name, role, s);
    }
}

fn check_permissions(name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    let path = format!("roles.{name}.permissions");
    let perms = &role.permissions;
    if perms.assume_roles.is_empty() && perms.statements.is_empty() {
        s.at_key(
            Rule::EmptyPermissions,
            &path,
            format!("role `{name}` grants nothing"),
        );
    }
    for (i, arn) in perms.assume_roles.iter().enumerate() {
        if names::role_arn_account(arn).is_none() {
            s.at(
                Rule::InvalidArn,
                &format!("{path}.assume_roles.{i}"),
                format!("`{arn}` is not an IAM role ARN"),
            );
        }
    }
    for (i, st) in perms.statements.iter().enumerate() {
        let spath = format!("{path}.statements.{i}");
        if st.actions.is_empty() {
            s.at(
                Rule::InvalidAction,
                &format!("{spath}.actions"),
                "no actions",
            );
        }
        if st.resources.is_empty() {
            s.at(
                Rule::InvalidResource,
                &format!("{spath}.resources"),
                "no resources",
            );
        }
        for (j, a) in st.actions.iter().enumerate() {
            if !names::is_action(a) {
                s.at(
                    Rule::InvalidAction,
                    &format!("{spath}.actions.{j}"),
                    format!("`{a}` is not an IAM action (service:Action)"),
                );
            }
        }
        for (j, r) in st.resources.iter().enumerate() {
            if !names::is_resource(r) {
                s.at(
                    Rule::InvalidResource,
                    &format!("{spath}.resources.{j}"),
                    format!("`{r}` is not an ARN or `*`"),
                );
            }
        }
        let all_actions = st.actions.iter().any(|a| a == "*" || a == "*:*");
        let all_resources = st.resources.iter().any(|r| r == "*");
        if st.effect == Effect::Allow && all_actions && all_resources && !role.allow_admin {
            s.at(
                Rule::AdminStatement,
                &spath,
                format!("role `{name}` allows every action on every resource"),
            );
        }
    }
}

fn parse_requester(r: &str) -> Option<Requester> {
    if r == "*" {
        Some(Requester::Anyone)
    } else if r.starts_with('@') && r.contains('/') && names::is_owner(r) {
        Some(Requester::Team(r.to_string()))
    } else if names::is_login(r) {
        Some(Requester::Login(r.to_string()))
    } else {
        None
    }
}

/// The model of a policy whose checks have run; invalid parts get safe
/// stand-ins (their violations fail the run regardless).
fn build_policy(raw: &RawPolicy) -> Policy {
    let (owner, name) = raw
        .repository
        .split_once('/')
        .unwrap_or((raw.repository.as_str(), ""));
    Policy {
        owner: owner.to_string(),
        name: name.to_string(),
        security_team: raw.security_team.clone(),
        providers: raw
            .providers
            .iter()
            .map(|(n, p)| {
                (
                    n.clone(),
                    Provider {
                        name: n.clone(),
                        kind: p.kind,
                        account: p.account.clone(),
                        assume_role: p.assume_role.clone(),
                    },
                )
            })
            .collect(),
        people: raw
            .people
            .iter()
            .map(|(l, p)| (l.clone(), build_person(p)))
            .collect(),
        roles: raw
            .roles
            .iter()
            .map(|(n, r)| {
                (
                    n.clone(),
                    Role {
                        name: n.clone(),
                        description: r.description.clone(),
                        provider: r.provider.clone(),
                        max_duration: r
                            .max_duration
                            .parse()
                            .ok()
                            .filter(|d| *d <= HARD_CAP)
                            .unwrap_or(HARD_CAP),
                        approvers: r.approvers.clone(),
                        min_approvals: r.min_approvals,
                        requesters: r
                            .requesters
                            .iter()
                            .filter_map(|q| parse_requester(q))
                            .collect(),
                        require_ticket: r
                            .require_ticket
                            .as_ref()
                            .map(|p| Regex::new(&format!("^(?:{p})$")))
                            .and_then(Result::ok),
                        require_mfa: r.require_mfa,
                        break_glass: r.break_glass,
                        permissions: r.permissions.clone(),
                    },
                )
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------
// Grants

struct GrantContext<'a> {
    policy: Option<&'a Policy>,
    now: DateTime<Utc>,
    landings: &'a Landings,
}

/// One parsed grant file and what the checks need to know about it.
struct GrantFile<'a> {
    raw: &'a RawGrant,
    /// The role named by the folder, when the path has the right shape.
    folder_role: Option<&'a str>,
    policy: Option<&'a Policy>,
    /// The folder's role in the policy.
    role: Option<&'a Role>,
}

type GrantCheck = fn(&GrantFile, &mut Sink);

/// The per-field checks of a grant, by name, in the order they run. Timing is
/// checked apart, because the grant is built from its result.
static GRANT_CHECKS: &[(&str, GrantCheck)] = &[
    ("subject", check_subject),
    ("role", check_role),
    ("reason", check_reason),
    ("ticket", check_ticket),
];

fn check_grant_files(
    files: &[SourceFile],
    ctx: &GrantContext,
) -> Vec<(Option<Grant>, Vec<Violation>)> {
    // Files are independent: split them across the machine's cores.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers < 2 || files.len() < 512 {
        return files.iter().map(|f| check_grant_file(f, ctx)).collect();
    }
    let chunk = files.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|f| check_grant_file(f, ctx))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("grant checks do not panic"))
            .collect()
    })
}

/// The grant id a path stands for, pushing what is wrong with the path.
fn check_path(path: &str, out: &mut Vec<Violation>) -> Option<GrantId> {
    let mut v = |rule: Rule, message: String| {
        out.push(Violation {
            rule,
            file: path.to_string(),
            span: point(Pos::START),
            message,
            help: rule.help().to_string(),
        })
    };
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["grants", role, file] => {
            let stem = file.strip_suffix(".yaml");
            match stem {
                Some(stem) if names::is_slug(stem) => {
                    return Some(GrantId {
                        role: role.to_string(),
                        name: stem.to_string(),
                    });
                }
                Some(_) => v(
                    Rule::GrantFileName,
                    format!("`{file}` is not a valid grant file name"),
                ),
                None => v(
                    Rule::GrantFileName,
                    format!("`{file}` does not end in .yaml"),
                ),
            }
        }
        ["grants", _] => v(
            Rule::GrantPath,
            "a file directly in grants/; it must be in a role's folder".to_string(),
        ),
        _ => v(
            Rule::GrantPath,
            "a file nested below a role's folder; grants are grants/<role>/<name>.yaml".to_string(),
        ),
    }
    None
}

fn check_grant_file(file: &SourceFile, ctx: &GrantContext) -> (Option<Grant>, Vec<Violation>) {
    let mut out = Vec::new();
    let id = check_path(&file.path, &mut out);
    let Some(doc) = parse_file::<RawGrant>(file, &mut out) else {
        return (None, out);
    };
    let folder_role = file.path.split('/').nth(1).filter(|_| id.is_some());
    let gf = GrantFile {
        raw: &doc.value,
        folder_role,
        policy: ctx.policy,
        role: folder_role.and_then(|r| ctx.policy.and_then(|p| p.roles.get(r))),
    };
    let mut sink = Sink::new(&file.path, &doc.spans);
    for (_name, check) in GRANT_CHECKS {
        check(&gf, &mut sink);
    }
    let timing = check_timing(&gf, &file.path, ctx, &mut sink);
    out.append(&mut sink.out);
    let grant = match (id, timing) {
        // Without a policy nothing was checked against one: no grant is accepted.
        (Some(id), Some(timing)) if out.is_empty() && ctx.policy.is_some() => Some(Grant {
            id,
            subject: gf.raw.subject.clone(),
            reason: gf.raw.reason.clone(),
            ticket: gf.raw.ticket.clone(),
            timing,
        }),
        _ => None,
    };
    (grant, out)
}

fn check_subject(g: &GrantFile, s: &mut Sink) {
    let subject = &g.raw.subject;
    if subject.trim().is_empty() {
        s.at(Rule::EmptyField, "subject", "`subject` is empty");
        return;
    }
    let Some(policy) = g.policy else { return };
    let Some(person) = policy.people.get(subject) else {
        s.at(
            Rule::UnknownSubject,
            "subject",
            format!("`{subject}` is not in gitgrant.yaml `people`"),
        );
        return;
    };
    let Some(role) = g.role else { return };
    if person.identity_on(&role.provider).is_none() {
        s.at(
            Rule::SubjectNoIdentity,
            "subject",
            format!(
                "`{subject}` has no identity on provider `{}` of role `{}`",
                role.provider, role.name
            ),
        );
    }
    if role.admits(subject) == crate::policy::Admission::No {
        s.at_help(
            Rule::RequesterNotAllowed,
            "subject",
            format!(
                "role `{}` does not admit `{subject}` as a subject",
                role.name
            ),
            format!(
                "role `{}` admits only: {}",
                role.name,
                role.requesters
                    .iter()
                    .map(|q| match q {
                        Requester::Anyone => "*",
                        Requester::Login(l) | Requester::Team(l) => l.as_str(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
}

fn check_role(g: &GrantFile, s: &mut Sink) {
    let role = &g.raw.role;
    if role.trim().is_empty() {
        s.at(Rule::EmptyField, "role", "`role` is empty");
        return;
    }
    let Some(folder) = g.folder_role else { return };
    if role != folder {
        s.at(
            Rule::RoleFolderMismatch,
            "role",
            format!("`role` is `{role}` but the file is in grants/{folder}/"),
        );
    }
    if let Some(policy) = g.policy
        && g.role.is_none()
    {
        let known: Vec<&str> = policy.roles.keys().map(String::as_str).collect();
        s.at_help(
            Rule::UnknownRole,
            "role",
            format!("no role `{folder}` in gitgrant.yaml"),
            format!("roles are: {}", known.join(", ")),
        );
    }
}

fn check_reason(g: &GrantFile, s: &mut Sink) {
    let reason = &g.raw.reason;
    if reason.trim().is_empty() {
        s.at(Rule::EmptyField, "reason", "`reason` is empty");
    } else {
        let n = reason.chars().count();
        if n > MAX_REASON_CHARS {
            s.at(
                Rule::ReasonTooLong,
                "reason",
                format!("`reason` has {n} characters, over {MAX_REASON_CHARS}"),
            );
        }
    }
}

fn check_ticket(g: &GrantFile, s: &mut Sink) {
    if let Some(t) = &g.raw.ticket
        && t.trim().is_empty()
    {
        s.at(Rule::EmptyField, "ticket", "`ticket` is empty");
        return;
    }
    let Some(role) = g.role else { return };
    let Some(pattern) = &role.require_ticket else {
        return;
    };
    let shown = pattern
        .as_str()
        .trim_start_matches("^(?:")
        .trim_end_matches(")$");
    match &g.raw.ticket {
        None => s.at_help(
            Rule::TicketRequired,
            "",
            format!("role `{}` requires a ticket", role.name),
            format!("add `ticket:` with an id matching `{shown}`"),
        ),
        Some(t) if !pattern.is_match(t) => s.at_help(
            Rule::TicketMismatch,
            "ticket",
            format!("ticket `{t}` does not match `{shown}`"),
            format!("role `{}` takes tickets matching `{shown}`", role.name),
        ),
        Some(_) => {}
    }
}

fn parse_time(text: &str, field: &str, s: &mut Sink) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f"))
                .is_ok()
                || chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok();
            if naive {
                s.at(
                    Rule::TimeWithoutOffset,
                    field,
                    format!("`{field}: {text}` has no UTC offset"),
                );
            } else {
                s.at(
                    Rule::InvalidTime,
                    field,
                    format!("`{text}` is not an RFC 3339 time"),
                );
            }
            None
        }
    }
}

fn check_timing(g: &GrantFile, path: &str, ctx: &GrantContext, s: &mut Sink) -> Option<Timing> {
    let raw = g.raw;
    let timing = match (&raw.duration, &raw.starts, &raw.expires) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            let field = if raw.expires.is_some() {
                "expires"
            } else {
                "starts"
            };
            s.at_key(
                Rule::DurationAndWindow,
                field,
                format!("both `duration` and `{field}` are given"),
            );
            return None;
        }
        (None, _, None) => {
            s.at(
                Rule::NoDurationOrWindow,
                "",
                "neither `duration` nor `expires` is given",
            );
            return None;
        }
        (Some(text), None, None) => match text.parse::<GrantDuration>() {
            Err(e) => {
                s.at(Rule::InvalidDuration, "duration", e.to_string());
                return None;
            }
            Ok(d) if d > HARD_CAP => {
                s.at(
                    Rule::InvalidDuration,
                    "duration",
                    format!("duration {text} is longer than gitgrant's hard cap of {HARD_CAP}"),
                );
                return None;
            }
            Ok(d) => Timing::Duration(d),
        },
        (None, starts, Some(expires)) => {
            let starts = match starts {
                Some(t) => Some(parse_time(t, "starts", s)),
                None => None,
            };
            let expires = parse_time(expires, "expires", s);
            match (starts, expires) {
                (Some(Some(st)), Some(ex)) if st >= ex => {
                    s.at(
                        Rule::WindowInverted,
                        "starts",
                        "`starts` is not before `expires`",
                    );
                    return None;
                }
                (Some(None), _) | (_, None) => return None,
                (starts, Some(expires)) => Timing::Window {
                    starts: starts.flatten(),
                    expires,
                },
            }
        }
    };
    check_window_length(g, path, timing, ctx, s);
    Some(timing)
}

/// A grant's window may never exceed its role's `max_duration`. A window
/// that starts at landing is measured from the landing time, or — before it
/// has landed — from `now`, the soonest it could land.
fn check_window_length(
    g: &GrantFile,
    path: &str,
    timing: Timing,
    ctx: &GrantContext,
    s: &mut Sink,
) {
    let Some(role) = g.role else { return };
    let landed = ctx.landings.get(path).copied();
    let (length, field) = match timing {
        Timing::Duration(d) => (Some(d), "duration"),
        Timing::Window { starts, expires } => {
            let start = starts.or(landed).unwrap_or(ctx.now);
            // A starts-less grant already past its expiry is reported as expired, not too long.
            (GrantDuration::from_delta(expires - start), "expires")
        }
    };
    if let Some(length) = length
        && length > role.max_duration
    {
        s.at(
            Rule::WindowTooLong,
            field,
            format!(
                "the window is {length}, longer than role `{}` allows ({})",
                role.name, role.max_duration
            ),
        );
    }
}
