//! The policy's checks, and its model.
//!
//! ## What a role's statements may grant
//!
//! A grant's window holds only while the grantee cannot rewrite IAM: whoever
//! can change their own policy can strip the `aws:CurrentTime` conditions, and
//! AWS no longer ends their access by itself. So each Allow statement's
//! actions are expanded against the [catalogue] of AWS's actions (wildcards
//! as IAM matches them: anywhere in the name, ignoring case) and checked by
//! what they can change. Deny statements grant nothing; only their spelling
//! is checked (a misspelt Deny silently denies nothing).
//!
//! - `unknown-action`: a service, action or wildcard that names no action in
//!   the catalogue, with a did-you-mean when a known name is close.
//! - `admin-statement`: the action `*` on a resource that covers everything
//!   (`*`, or an ARN whose segments are all wildcards, such as
//!   `arn:*:*:*:*:*`, `arn:aws:*:*:*:*` or `arn:aws:*:*:*:*/*`), without
//!   `allow_admin: true`. With it, `writes-gitgrant-policies` still refuses
//!   the statement: full admin cannot be granted through `statements`.
//! - `iam-write`: any action of `iam`, `sts`, `organizations`, `sso`,
//!   `sso-directory` or `identitystore` (IAM Identity Center's permission
//!   sets, assignments, users and groups) whose access level is Write,
//!   Permissions management or Tagging, on any resource,
//!   without `allow_admin: true` (resources are not consulted: `*` on an S3
//!   bucket counts, write `s3:*`). `allow_admin` is the organisation saying
//!   it accepts that the window may not hold. One exception: the STS session
//!   actions `AssumeRole`, `AssumeRoleWithSAML`, `AssumeRoleWithWebIdentity`,
//!   `SetContext`, `SetSourceIdentity` and `TagSession` are ordinary JIT use
//!   when every resource of the statement is an exact role ARN
//!   (`arn:aws:iam::<account>:role/<name>`, no wildcard): they change no
//!   policy, and the session they start ends with its own expiry (the residual
//!   window docs/security.md describes). On `*` or a wildcard ARN they let the
//!   grantee become any role that trusts the account, which is admin-like, so
//!   they count. `assume_roles` is the intended way to grant role sessions.
//!   `sts:AssumeRole` itself is left to the next rule.
//! - `assume-role-statement`, whatever `allow_admin` says, on either provider
//!   kind: an Allow statement whose actions cover `sts:AssumeRole` on a
//!   resource that can match a role ARN. The session it returns holds the
//!   target role's own permissions until it expires (up to 12 hours past
//!   the window), under any session name, and no fence ends it: role
//!   sessions are granted through `assume_roles`, which pins and fences
//!   them.
//! - `writes-gitgrant-policies`, whatever `allow_admin` says: an Allow
//!   statement that can change the policies carrying every grant's window, or
//!   their attachments. It counts
//!   - `iam:CreatePolicy`, `CreatePolicyVersion`, `DeletePolicy`,
//!     `DeletePolicyVersion`, `SetDefaultPolicyVersion`, `TagPolicy` and
//!     `UntagPolicy` on a resource that can match
//!     `arn:aws:iam::<12 digits>:policy/gitgrant/<anything without :>`
//!     (gitgrant's path, in every account and for every access repository):
//!     `*`, `arn:aws:iam::*:policy/*`, `arn:aws:iam::*` and
//!     `arn:aws:iam::111111111111:policy/git*` do;
//!     `arn:aws:iam::*:policy/team/*` does not;
//!   - `iam:AttachUserPolicy` and `DetachUserPolicy` on a resource that can
//!     match `arn:aws:iam::<12 digits>:user/<anything without :>` (`*`,
//!     `user/*`, `user/${aws:username}`), and the same for `Role` with
//!     `role/` and `Group` with `group/`: IAM names the policy in a request
//!     parameter, not in the resource, so any of them can attach another
//!     grant's policy or detach one.
//!
//!   Resources are compared as IAM wildcards (`*`, `?`, and a policy
//!   variable such as `${aws:username}` standing for anything): is there an
//!   ARN both match? Case is ignored, to err on the side of refusing.
//!
//! [catalogue]: crate::providers::aws_iam::catalogue

use std::collections::BTreeMap;

use regex::Regex;

use super::{Sink, parse_file};
use crate::duration::{GrantDuration, HARD_CAP};
use crate::names;
use crate::policy::{
    DEFAULT_SESSION, Effect, Identity, IdentityCenter, MAX_SESSION, Person, Policy, Provider,
    ProviderType, RawIdentity, RawPolicy, RawProvider, Requester, Role,
};
use crate::providers::aws_iam::catalogue::{Action, Class, Wildcard, catalogue, meet, wildcards};
use crate::rule::{Rule, Violation};
use crate::snapshot::SourceFile;

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
    ("shared-account", check_shared_accounts),
    ("identity-center", check_identity_center),
    ("notify", check_notify),
    ("portal", check_portal),
];

/// The portal's identity is a GitHub login, a bot's (`name[bot]`) or a
/// user's, and not someone who can be a grant's subject.
fn check_portal(p: &RawPolicy, s: &mut Sink) {
    let Some(portal) = &p.portal else {
        return;
    };
    let id = portal.identity.as_str();
    if !names::is_login(id.strip_suffix("[bot]").unwrap_or(id)) {
        s.at(
            Rule::Portal,
            "portal.identity",
            format!("`{id}` is not a GitHub login such as acme-gitgrant[bot]"),
        );
    } else if p.people.contains_key(&id.to_lowercase()) {
        s.at(
            Rule::Portal,
            "portal.identity",
            format!("`{id}` is in `people`: the portal opens requests for others and must not hold access itself"),
        );
    }
}

/// Each channel names its URL (and key) by a `GITGRANT_*` environment
/// variable, gets known events, and has a name of its own. Only
/// `GITGRANT_*` names: a policy edit must not be able to post the value of
/// another variable of the run (a token, AWS's keys) or sign with it.
fn check_notify(p: &RawPolicy, s: &mut Sink) {
    let env_name = |v: &str| {
        v.strip_prefix("GITGRANT_").is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in p.notify.iter().enumerate() {
        let path = format!("notify.{i}");
        if !names::is_slug(&c.name) || !seen.insert(c.name.as_str()) {
            s.at(
                Rule::Notify,
                &format!("{path}.name"),
                format!(
                    "channel name `{}` is not unique lower-case letters, digits and hyphens",
                    c.name
                ),
            );
        }
        if !env_name(&c.url_env) {
            s.at(
                Rule::Notify,
                &format!("{path}.url_env"),
                format!("`{}` is not a `GITGRANT_*` environment variable's name (A-Z, 0-9, _): the URL itself never goes in git", c.url_env),
            );
        }
        match (&c.secret_env, c.kind) {
            (Some(v), crate::policy::ChannelKind::Webhook) if !env_name(v) => s.at(
                Rule::Notify,
                &format!("{path}.secret_env"),
                format!("`{v}` is not a `GITGRANT_*` environment variable's name (A-Z, 0-9, _)"),
            ),
            (Some(_), kind) if kind != crate::policy::ChannelKind::Webhook => s.at(
                Rule::Notify,
                &format!("{path}.secret_env"),
                "only a webhook signs its messages: slack and teams take no secret_env",
            ),
            _ => {}
        }
        if c.events.is_empty() {
            s.at(
                Rule::Notify,
                &format!("{path}.events"),
                "the channel gets no events",
            );
        }
        if let Some(lead) = &c.expiring_lead
            && let Err(e) = lead.parse::<GrantDuration>()
        {
            s.at(
                Rule::InvalidDuration,
                &format!("{path}.expiring_lead"),
                e.to_string(),
            );
        }
    }
}

pub(super) fn check_policy(file: &SourceFile, out: &mut Vec<Violation>) -> Option<Policy> {
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
            let at = format!("{path}.assume_role");
            match check_role_arn(arn, &at, s) {
                Some(account) if account != provider.account => s.at(
                    Rule::InvalidArn,
                    &at,
                    format!(
                        "`{arn}` is in account {account}, not the provider's account {}",
                        provider.account
                    ),
                ),
                _ => {}
            }
        }
    }
}

/// Checks one IAM role ARN, pushing what is wrong with it at `path`; its
/// account when it is a role ARN gitgrant can use.
fn check_role_arn<'a>(arn: &'a str, path: &str, s: &mut Sink) -> Option<&'a str> {
    match names::parse_role_arn(arn) {
        Some(parsed) if parsed.partition == names::PARTITION => Some(parsed.account),
        Some(parsed) => {
            s.at_help(
                Rule::InvalidArn,
                path,
                format!("`{arn}` is in the `{}` partition", parsed.partition),
                format!(
                    "gitgrant supports only the `{}` partition: write arn:{}:iam::<12-digit account>:role/<name>",
                    names::PARTITION,
                    names::PARTITION
                ),
            );
            None
        }
        // A wildcard would let the grant (or the reconciler) assume roles
        // that nobody named in a reviewed change.
        None if arn.contains(['*', '?']) => {
            s.at_help(
                Rule::InvalidArn,
                path,
                format!("`{arn}` has a wildcard; a role ARN names one role"),
                "write each role ARN in full, without `*` or `?`: arn:aws:iam::<12-digit account>:role/<name>".to_string(),
            );
            None
        }
        None => {
            s.at(
                Rule::InvalidArn,
                path,
                format!("`{arn}` is not an IAM role ARN"),
            );
            None
        }
    }
}

fn check_sso_user(user: &Option<String>, path: &str, s: &mut Sink) {
    if let Some(name) = user
        && !crate::providers::aws_identity_center::document::is_user_name(name)
    {
        s.at(
            Rule::InvalidIdentity,
            &format!("{path}.aws_sso_user"),
            format!("`{name}` is not an Identity Store UserName"),
        );
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
        check_sso_user(&person.aws_sso_user, &path, s);
        if let Some(email) = &person.email
            && !is_email(email)
        {
            s.at(
                Rule::InvalidEmail,
                &format!("{path}.email"),
                format!("`{email}` is not an email address"),
            );
        }
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
            check_sso_user(&identity.aws_sso_user, &ppath, s);
            let kind = p.providers.get(provider).map(|pr| pr.kind);
            let iam = identity.aws_iam_user.is_some() || identity.aws_iam_role.is_some();
            let sso = identity.aws_sso_user.is_some();
            if kind == Some(ProviderType::AwsIdentityCenter) && iam
                || kind == Some(ProviderType::AwsIam) && sso
                || iam && sso
            {
                s.at_key(
                    Rule::KindMismatch,
                    &ppath,
                    format!(
                        "the identity on provider `{provider}` is not one a {} provider uses",
                        kind.map_or("known".to_string(), |k| k.to_string())
                    ),
                );
            }
        }
    }
}

/// `local@domain.tld`, without spaces or control characters: enough to
/// compare with what an on-call service reports.
fn is_email(e: &str) -> bool {
    e.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
    }) && !e.chars().any(|c| c.is_whitespace() || c.is_control())
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
        sso_user: raw.aws_sso_user.clone().map(Identity::AwsSsoUser),
        providers: raw
            .providers
            .iter()
            .filter_map(
                |(
                    name,
                    RawIdentity {
                        aws_iam_user,
                        aws_iam_role,
                        aws_sso_user,
                    },
                )| {
                    identity_of(aws_iam_user, aws_iam_role)
                        .or_else(|| aws_sso_user.clone().map(Identity::AwsSsoUser))
                        .map(|i| (name.clone(), i))
                },
            )
            .collect(),
        email: raw.email.as_ref().map(|e| e.to_lowercase()),
    }
}

/// The key two identities collide under: IAM finds users (and roles) by
/// name case-insensitively, so `Alice` and `alice` are one user.
fn identity_key(identity: &Identity) -> Identity {
    match identity {
        Identity::AwsIamUser(u) => Identity::AwsIamUser(names::iam_name_key(u)),
        Identity::AwsIamRole(r) => Identity::AwsIamRole(names::iam_name_key(r)),
        // Identity Store user names are unique ignoring case.
        Identity::AwsSsoUser(u) => Identity::AwsSsoUser(u.to_lowercase()),
    }
}

fn check_duplicate_identities(p: &RawPolicy, s: &mut Sink) {
    // By provider and identity key: the first person mapped to it, and the
    // identity as that person's entry spells it.
    let mut owners: BTreeMap<(&str, Identity), (&str, Identity)> = BTreeMap::new();
    for (login, raw) in &p.people {
        let person = build_person(raw);
        // One report per pair of people, naming the providers they collide on.
        let mut clashes: BTreeMap<&str, (Identity, Identity, Vec<&str>)> = BTreeMap::new();
        for (provider, config) in &p.providers {
            let Some(identity) = person.identity_on(&model_provider(provider, config)) else {
                continue;
            };
            let key = (provider.as_str(), identity_key(identity));
            match owners.get(&key) {
                Some((first, theirs)) => clashes
                    .entry(first)
                    .or_insert_with(|| (identity.clone(), theirs.clone(), Vec::new()))
                    .2
                    .push(provider),
                None => {
                    owners.insert(key, (login, identity.clone()));
                }
            }
        }
        for (first, (identity, theirs, providers)) in clashes {
            let message = if identity == theirs {
                format!(
                    "{login} and {first} have the same identity {} on {}",
                    describe_identity(&identity),
                    providers.join(", ")
                )
            } else {
                format!(
                    "{login}'s {} is {first}'s {} on {}: IAM names are not case-sensitive",
                    describe_identity(&identity),
                    describe_identity(&theirs),
                    providers.join(", ")
                )
            };
            s.at_key(Rule::DuplicateIdentity, &format!("people.{login}"), message);
        }
    }
}

/// `IAM user alice` or `IAM role Deploy`.
pub fn describe_identity(identity: &Identity) -> String {
    match identity {
        Identity::AwsIamUser(u) => format!("IAM user {u}"),
        Identity::AwsIamRole(r) => format!("IAM role {r}"),
        Identity::AwsSsoUser(u) => format!("Identity Center user {u}"),
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
        check_role_providers(p, name, role, s);
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
        check_fence(p, name, role, s);
        check_auto_approve(name, role, s);
    }
}

/// Each auto-approval rule must be judgeable and approve no more than its
/// role allows.
fn check_auto_approve(name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    if role.break_glass && !role.auto_approve.is_empty() {
        s.at_key(
            Rule::AutoApprove,
            &format!("roles.{name}.auto_approve"),
            format!("role `{name}` is break-glass: its grants land without review already"),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, r) in role.auto_approve.iter().enumerate() {
        let path = format!("roles.{name}.auto_approve.{i}");
        if !names::is_slug(&r.name) {
            s.at(
                Rule::AutoApprove,
                &format!("{path}.name"),
                format!(
                    "rule name `{}` is not lower-case letters, digits and hyphens",
                    r.name
                ),
            );
        } else if !seen.insert(r.name.as_str()) {
            s.at(
                Rule::AutoApprove,
                &format!("{path}.name"),
                format!("role `{name}` has two rules named `{}`", r.name),
            );
        }
        match (
            r.max_duration.parse::<GrantDuration>(),
            role.max_duration.parse::<GrantDuration>(),
        ) {
            (Err(e), _) => s.at(
                Rule::InvalidDuration,
                &format!("{path}.max_duration"),
                e.to_string(),
            ),
            (Ok(d), Ok(max)) if d > max => s.at(
                Rule::AutoApprove,
                &format!("{path}.max_duration"),
                format!("the rule approves {d}, longer than the role's max_duration {max}"),
            ),
            _ => {}
        }
        for (j, q) in r.requesters.iter().enumerate() {
            if parse_requester(q).is_none() {
                s.at(
                    Rule::InvalidRequester,
                    &format!("{path}.requesters.{j}"),
                    format!("`{q}` is not \"*\", a login or @org/team"),
                );
            }
        }
        if let Some(h) = &r.hours
            && let Err(e) = crate::auto_approve::Hours::parse(&h.days, &h.from, &h.to, &h.time_zone)
        {
            use crate::auto_approve::HoursError as E;
            let field = match &e {
                E::Day(d) => {
                    let i = h.days.iter().position(|x| x == d).unwrap_or_default();
                    format!("days.{i}")
                }
                E::Time(t) if *t == h.from => "from".to_string(),
                E::Time(_) | E::Order { .. } => "to".to_string(),
                E::Zone(_) => "time_zone".to_string(),
            };
            s.at(
                Rule::AutoApprove,
                &format!("{path}.hours.{field}"),
                e.to_string(),
            );
        }
        if let Some(o) = &r.on_call {
            let ids = [&o.pagerduty_schedule, &o.opsgenie_schedule];
            let given = ids.iter().filter(|i| i.is_some()).count();
            if given != 1 {
                s.at(
                    Rule::AutoApprove,
                    &format!("{path}.on_call"),
                    "name exactly one schedule: pagerduty_schedule or opsgenie_schedule",
                );
            }
            for id in ids.into_iter().flatten() {
                if id.is_empty()
                    || !id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    s.at(
                        Rule::AutoApprove,
                        &format!("{path}.on_call"),
                        format!("`{id}` is not a schedule id (letters, digits, `-` and `_`)"),
                    );
                }
            }
        }
        if r.require_ticket && role.require_ticket.is_none() {
            s.at(
                Rule::AutoApprove,
                &format!("{path}.require_ticket"),
                format!("role `{name}` has no require_ticket pattern for the rule to check"),
            );
        }
    }
}

/// The model of one auto-approval rule (its checks have run).
fn build_rule(r: &crate::policy::RawAutoApprove) -> crate::auto_approve::Rule {
    use crate::auto_approve::{Hours, Schedule};
    crate::auto_approve::Rule {
        name: r.name.clone(),
        max_duration: r.max_duration.parse().ok(),
        requesters: r
            .requesters
            .iter()
            .filter_map(|q| parse_requester(q))
            .collect(),
        hours: r
            .hours
            .as_ref()
            .and_then(|h| Hours::parse(&h.days, &h.from, &h.to, &h.time_zone).ok()),
        on_call: r.on_call.as_ref().and_then(|o| {
            o.pagerduty_schedule
                .clone()
                .map(Schedule::PagerDuty)
                .or_else(|| o.opsgenie_schedule.clone().map(Schedule::Opsgenie))
        }),
        require_ticket: r.require_ticket,
    }
}

/// `require_fence` asks that every role a grant may assume be fenced: each
/// must lie in an account an `aws-iam` provider reconciles (`{account}`
/// always does).
fn check_fence(p: &RawPolicy, name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    if !role.require_fence {
        return;
    }
    let reconciled: Vec<&str> = p
        .providers
        .values()
        .filter(|pr| pr.kind == crate::policy::ProviderType::AwsIam)
        .map(|pr| pr.account.as_str())
        .collect();
    for (i, arn) in role.permissions.assume_roles.iter().enumerate() {
        let account = arn
            .strip_prefix("arn:aws:iam::")
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default();
        if account != crate::policy::ACCOUNT_PLACEHOLDER && !reconciled.contains(&account) {
            s.at(
                Rule::UnfenceableRole,
                &format!("roles.{name}.permissions.assume_roles.{i}"),
                format!("role `{name}` requires a fence, but `{arn}` is in account {account}, which no aws-iam provider reconciles"),
            );
        }
    }
}

fn check_permissions(name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    let path = format!("roles.{name}.permissions");
    let perms = &role.permissions;
    if perms.assume_roles.is_empty()
        && perms.statements.is_empty()
        && perms.managed_policies.is_empty()
        && perms.customer_managed_policies.is_empty()
    {
        s.at_key(
            Rule::EmptyPermissions,
            &path,
            format!("role `{name}` grants nothing"),
        );
    }
    for (i, arn) in perms.assume_roles.iter().enumerate() {
        // `{account}` stands for each provider's account: any 12 digits
        // check the rest of the ARN.
        let arn = arn.replace(crate::policy::ACCOUNT_PLACEHOLDER, "000000000000");
        check_role_arn(&arn, &format!("{path}.assume_roles.{i}"), s);
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
        let covered = covered_actions(st, &spath, s);
        // A Deny grants nothing, so only its spelling matters.
        if st.effect == Effect::Allow {
            // One refusal that no flag lifts is enough for a statement.
            if !check_gitgrant_policies(name, st, &covered, &spath, s) {
                check_assume_role(name, st, &covered, &spath, s);
            }
            let all_actions = st.actions.iter().any(|a| a == "*");
            let all_resources = st.resources.iter().any(|r| covers_everything(r));
            if all_actions && all_resources && !role.allow_admin {
                s.at(
                    Rule::AdminStatement,
                    &spath,
                    format!("role `{name}` allows every action on every resource"),
                );
            } else if !role.allow_admin {
                check_identity_writes(name, st, &covered, &spath, s);
            }
        }
    }
}

/// Names once each, in the order first written.
fn unique(names: Vec<&str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out
}

/// A role names at least one provider, each defined once; `{account}` in
/// its `assume_roles` needs no more than that.
fn check_role_providers(p: &RawPolicy, name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    let path = format!("roles.{name}.provider");
    let names = role.provider.names();
    if names.is_empty() {
        s.at(
            Rule::UnknownProvider,
            &path,
            format!("role `{name}` names no provider"),
        );
    }
    let many = matches!(role.provider, crate::policy::Providers::Many(_));
    for (i, provider) in names.iter().enumerate() {
        let at = if many {
            format!("{path}.{i}")
        } else {
            path.clone()
        };
        if !p.providers.contains_key(*provider) {
            s.at(
                Rule::UnknownProvider,
                &at,
                format!("no provider named `{provider}`"),
            );
        } else if names[..i].contains(provider) {
            s.at(
                Rule::UnknownProvider,
                &at,
                format!("provider `{provider}` is named twice"),
            );
        }
    }
}

/// Two providers of one kind in one account would each see the other's
/// resources under this repository's ownership path as drift and revoke
/// them on every run, sharded or not: one account, one provider per kind.
fn check_shared_accounts(p: &RawPolicy, s: &mut Sink) {
    let mut first: BTreeMap<(crate::policy::ProviderType, &str), &str> = BTreeMap::new();
    for (name, provider) in &p.providers {
        match first.get(&(provider.kind, provider.account.as_str())) {
            Some(other) => s.at(
                Rule::SharedAccount,
                &format!("providers.{name}.account"),
                format!(
                    "providers `{other}` and `{name}` are both {} in account {}: each would revoke the other's grants as drift",
                    provider.kind, provider.account
                ),
            ),
            None => {
                first.insert((provider.kind, provider.account.as_str()), name);
            }
        }
    }
}

/// Services whose writes change who may do what, and so can take the window
/// off a grant: IAM's, and IAM Identity Center's (`sso` holds the permission
/// sets and their assignments, `sso-directory` and `identitystore` the users
/// and groups they are assigned to).
const IDENTITY_SERVICES: &[&str] = &[
    "iam",
    "sts",
    "organizations",
    "sso",
    "sso-directory",
    "identitystore",
];

/// STS actions that start or label a session of a role. On exact role ARNs
/// they are what a JIT grant is for; on anything wider they let the grantee
/// become any role that trusts the account.
const SESSION_ACTIONS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "SetContext",
    "SetSourceIdentity",
    "TagSession",
];

/// IAM actions that change a managed policy itself: its document, its
/// versions, its tags, or whether it exists.
const POLICY_WRITES: &[&str] = &[
    "CreatePolicy",
    "CreatePolicyVersion",
    "DeletePolicy",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "TagPolicy",
    "UntagPolicy",
];

/// IAM actions that attach or detach a managed policy, and the kind of
/// identity they act on. Any of them can attach or detach a gitgrant policy:
/// IAM names the policy in a request parameter, not in the resource.
const ATTACHMENTS: &[(&str, &str)] = &[
    ("AttachUserPolicy", "user/"),
    ("DetachUserPolicy", "user/"),
    ("AttachRolePolicy", "role/"),
    ("DetachRolePolicy", "role/"),
    ("AttachGroupPolicy", "group/"),
    ("DetachGroupPolicy", "group/"),
];

/// Whether a resource pattern can match some IAM ARN
/// `arn:aws:iam::<12 digits>:<kind><rest>` in any account, where the rest
/// holds no `:` (IAM names and paths of gitgrant's making never do). Kinds:
/// `policy/gitgrant/` (every access repository's grants), `user/`, `role/`,
/// `group/`.
fn reaches_iam(resource: &str, kind: &str) -> bool {
    let mut arn = wildcards("arn:aws:iam::");
    arn.extend([Wildcard::One(Class::Digit); 12]);
    arn.extend(wildcards(&format!(":{kind}")));
    arn.push(Wildcard::Run(Class::NotColon));
    meet(&wildcards(resource), &arn)
}

/// Each action of a statement with the catalogue's actions it covers, by
/// index; reports those that cover none. Malformed ones are already reported.
fn covered_actions(
    st: &crate::policy::Statement,
    spath: &str,
    s: &mut Sink,
) -> Vec<(usize, &'static Action)> {
    let mut covered = Vec::new();
    for (j, a) in st.actions.iter().enumerate() {
        if !names::is_action(a) {
            continue;
        }
        match catalogue().resolve(a) {
            Ok(found) => covered.extend(found.into_iter().map(|f| (j, f))),
            Err(unknown) => s.at(
                Rule::UnknownAction,
                &format!("{spath}.actions.{j}"),
                unknown.to_string(),
            ),
        }
    }
    covered
}

/// Whether a resource pattern covers every resource: `*`, or an ARN whose
/// segments (between `:` and `/`) are all wildcards — the partition may be
/// `aws`, the one gitgrant's accounts are in. `arn:*:*:*:*:*`,
/// `arn:aws:*:*:*:*` and `arn:aws:*:*:*:*/*` all count; an empty segment
/// (`arn:aws:iam::*:*`) does not, as it matches only what is empty there.
fn covers_everything(resource: &str) -> bool {
    let stars = |p: &str| !p.is_empty() && p.chars().all(|c| c == '*');
    if stars(resource) {
        return true;
    }
    let Some(rest) = resource.strip_prefix("arn:") else {
        return false;
    };
    let mut segments = rest.split([':', '/']);
    segments.next().is_some_and(|p| p == "aws" || stars(p)) && segments.all(stars)
}

/// `a, b, c and 4 more`.
fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let head = names[..names.len().min(SHOWN)].join(", ");
    match names.len().saturating_sub(SHOWN) {
        0 => head,
        more => format!("{head} and {more} more"),
    }
}

/// Reports `rule` once for a statement, at the first of its actions that
/// brought in any of `found`, naming a few of them after `what`.
fn report_actions(
    s: &mut Sink,
    rule: Rule,
    spath: &str,
    what: String,
    found: &[&(usize, &'static Action)],
) {
    let Some(j) = found.iter().map(|(j, _)| *j).min() else {
        return;
    };
    let mut names: Vec<String> = Vec::new();
    for (_, a) in found {
        let name = a.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    s.at(
        rule,
        &format!("{spath}.actions.{j}"),
        format!("{what}: {}", some_of(&names)),
    );
}

/// Refuses, whatever `allow_admin` says, an Allow statement that can change
/// the policies carrying grants' windows or attach and detach policies;
/// whether it did.
fn check_gitgrant_policies(
    name: &str,
    st: &crate::policy::Statement,
    covered: &[(usize, &'static Action)],
    spath: &str,
    s: &mut Sink,
) -> bool {
    let reaches = |kind: &str| st.resources.iter().any(|r| reaches_iam(r, kind));
    let found: Vec<_> = covered
        .iter()
        .filter(|(_, a)| {
            a.service() == "iam"
                && (POLICY_WRITES.contains(&a.name()) && reaches("policy/gitgrant/")
                    || ATTACHMENTS
                        .iter()
                        .any(|(action, kind)| a.name() == *action && reaches(kind)))
        })
        .collect();
    report_actions(
        s,
        Rule::WritesGitgrantPolicies,
        spath,
        format!("role `{name}` can change gitgrant's own policies or attach and detach policies"),
        &found,
    );
    !found.is_empty()
}

/// Whether an IAM policy document (as AWS returns it) allows some write of
/// IAM, STS, Organizations or Identity Center, as `iam-write` counts them
/// (`sts:AssumeRole` included: a chained session is another way out). A
/// `NotAction` allow counts.
pub(crate) fn document_writes_iam(document: &serde_json::Value) -> bool {
    let list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let statements = match &document["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        one @ serde_json::Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    statements.iter().any(|st| {
        st["Effect"] == "Allow"
            && (!st["NotAction"].is_null()
                || list(&st["Action"]).iter().any(|a| {
                    catalogue()
                        .expand(a)
                        .into_iter()
                        .any(|x| IDENTITY_SERVICES.contains(&x.service()) && x.level().changes())
                }))
    })
}

/// Whether `a` is `sts:AssumeRole`, the call that starts a role session.
fn is_assume_role(a: &Action) -> bool {
    a.service() == "sts" && a.name() == "AssumeRole"
}

/// Whether any resource of `st` can match a role ARN.
fn reaches_roles(st: &crate::policy::Statement) -> bool {
    st.resources.iter().any(|r| reaches_iam(r, "role/"))
}

/// Whether an Allow statement lets its grantee start sessions of some role
/// (`sts:AssumeRole` on a resource that can match a role ARN): sessions no
/// fence ends and no name pins. Validation refuses such statements
/// (`assume-role-statement`); a policy of before that rule is read with
/// them, and its grants are reported unfenced.
pub(crate) fn assumes_roles(st: &crate::policy::Statement) -> bool {
    st.effect == Effect::Allow
        && reaches_roles(st)
        && st
            .actions
            .iter()
            .any(|a| catalogue().expand(a).into_iter().any(is_assume_role))
}

/// Refuses, whatever `allow_admin` says, an Allow statement that lets its
/// grantee call `sts:AssumeRole` on a role: see [`assumes_roles`].
fn check_assume_role(
    name: &str,
    st: &crate::policy::Statement,
    covered: &[(usize, &'static Action)],
    spath: &str,
    s: &mut Sink,
) {
    if !reaches_roles(st) {
        return;
    }
    let found: Vec<_> = covered.iter().filter(|(_, a)| is_assume_role(a)).collect();
    report_actions(
        s,
        Rule::AssumeRoleStatement,
        spath,
        format!(
            "role `{name}` lets its grantee start role sessions through `statements`, which no fence ends and no session name pins"
        ),
        &found,
    );
}

/// Requires `allow_admin` for an Allow statement that can write IAM, STS,
/// Organizations or Identity Center.
fn check_identity_writes(
    name: &str,
    st: &crate::policy::Statement,
    covered: &[(usize, &'static Action)],
    spath: &str,
    s: &mut Sink,
) {
    let exact_roles = st
        .resources
        .iter()
        .all(|r| names::role_arn_account(r).is_some() && !r.contains(['*', '?']));
    let session = |a: &Action| a.service() == "sts" && SESSION_ACTIONS.contains(&a.name());
    let mut writes: Vec<_> = covered
        .iter()
        .filter(|(_, a)| {
            IDENTITY_SERVICES.contains(&a.service())
                && a.level().changes()
                && !(session(a) && exact_roles)
                && !(is_assume_role(a) && reaches_roles(st))
        })
        .collect();
    // The most powerful first: they are the ones worth naming.
    writes.sort_by_key(|(j, a)| (std::cmp::Reverse(a.level()), *j));
    let what = if writes.iter().any(|(_, a)| session(a)) {
        format!(
            "role `{name}` can assume any role that trusts the account (name roles in `assume_roles` instead) or write IAM, STS, Organizations or Identity Center"
        )
    } else {
        format!("role `{name}` can write IAM, STS, Organizations or Identity Center")
    };
    report_actions(s, Rule::IamWrite, spath, what, &writes);
}

/// The model of one provider as written.
fn model_provider(name: &str, p: &RawProvider) -> Provider {
    let identity_center = match (p.kind, &p.region, &p.instance_arn, &p.identity_store_id) {
        (ProviderType::AwsIdentityCenter, Some(region), Some(arn), Some(store)) => {
            Some(IdentityCenter {
                region: region.clone(),
                instance_arn: arn.clone(),
                identity_store_id: store.clone(),
            })
        }
        _ => None,
    };
    Provider {
        name: name.to_string(),
        kind: p.kind,
        account: p.account.clone(),
        assume_role: p.assume_role.clone(),
        identity_center,
    }
}

/// The kinds of the providers a role names (those defined), once each.
fn role_kinds(p: &RawPolicy, role: &crate::policy::RawRole) -> Vec<ProviderType> {
    let mut kinds: Vec<ProviderType> = role
        .provider
        .names()
        .iter()
        .filter_map(|n| p.providers.get(*n).map(|pr| pr.kind))
        .collect();
    kinds.sort();
    kinds.dedup();
    kinds
}

/// Identity Center's part of the policy: each provider names its instance,
/// each role its accounts, and no field of one kind is used with another.
fn check_identity_center(p: &RawPolicy, s: &mut Sink) {
    use crate::providers::aws_identity_center::document as ic;
    for (name, provider) in &p.providers {
        let path = format!("providers.{name}");
        let fields = [
            (
                "region",
                &provider.region,
                ic::is_region as fn(&str) -> bool,
            ),
            ("instance_arn", &provider.instance_arn, ic::is_instance_arn),
            (
                "identity_store_id",
                &provider.identity_store_id,
                ic::is_identity_store_id,
            ),
        ];
        for (key, value, valid) in fields {
            match (provider.kind, value) {
                (ProviderType::AwsIdentityCenter, None) => s.at_key(
                    Rule::IdentityCenterProvider,
                    &path,
                    format!("provider `{name}` is aws-identity-center but has no `{key}`"),
                ),
                (ProviderType::AwsIdentityCenter, Some(v)) if !valid(v) => s.at(
                    Rule::IdentityCenterProvider,
                    &format!("{path}.{key}"),
                    format!("`{v}` is not a valid {key}"),
                ),
                (ProviderType::AwsIam, Some(_)) => s.at_key(
                    Rule::IdentityCenterProvider,
                    &format!("{path}.{key}"),
                    format!("`{key}` is for aws-identity-center providers; `{name}` is aws-iam"),
                ),
                _ => {}
            }
        }
    }
    for (name, role) in &p.roles {
        let path = format!("roles.{name}");
        let kinds = role_kinds(p, role);
        if kinds.len() > 1 {
            s.at(
                Rule::KindMismatch,
                &format!("{path}.provider"),
                format!("role `{name}` names providers of different kinds: {kinds:?}"),
            );
            continue;
        }
        let Some(kind) = kinds.first() else { continue };
        let perms = &role.permissions;
        match kind {
            ProviderType::AwsIam => {
                let misuse = [
                    ("accounts", !role.accounts.is_empty()),
                    ("session_duration", role.session_duration.is_some()),
                    (
                        "permissions.managed_policies",
                        !perms.managed_policies.is_empty(),
                    ),
                    (
                        "permissions.customer_managed_policies",
                        !perms.customer_managed_policies.is_empty(),
                    ),
                ];
                for (key, used) in misuse {
                    if used {
                        let rule = if key == "accounts" {
                            Rule::RoleAccounts
                        } else {
                            Rule::KindMismatch
                        };
                        s.at_key(
                            rule,
                            &format!("{path}.{key}"),
                            format!(
                                "`{key}` is for aws-identity-center roles; `{name}` is aws-iam"
                            ),
                        );
                    }
                }
            }
            ProviderType::AwsIdentityCenter => {
                check_ic_role(p, name, role, s);
            }
        }
    }
}

fn check_ic_role(p: &RawPolicy, name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    use crate::providers::aws_identity_center::document as ic;
    let path = format!("roles.{name}");
    let perms = &role.permissions;
    if role.accounts.is_empty() {
        s.at_key(
            Rule::RoleAccounts,
            &path,
            format!("aws-identity-center role `{name}` has no `accounts`"),
        );
    }
    let instance_accounts: Vec<&str> = role
        .provider
        .names()
        .iter()
        .filter_map(|n| p.providers.get(*n).map(|pr| pr.account.as_str()))
        .collect();
    for (i, account) in role.accounts.iter().enumerate() {
        let at = format!("{path}.accounts.{i}");
        if !names::is_account(account) {
            s.at(
                Rule::RoleAccounts,
                &at,
                format!("`{account}` is not a 12-digit AWS account id"),
            );
        } else if instance_accounts.contains(&account.as_str()) {
            s.at(
                Rule::RoleAccounts,
                &at,
                format!("`{account}` holds the Identity Center instance: a grantee there could rewrite permission sets"),
            );
        } else if role.accounts[..i].contains(account) {
            s.at(
                Rule::RoleAccounts,
                &at,
                format!("account `{account}` is named twice"),
            );
        }
    }
    if let Some(d) = &role.session_duration {
        match d.parse::<GrantDuration>() {
            Err(e) => s.at(
                Rule::SessionDuration,
                &format!("{path}.session_duration"),
                e.to_string(),
            ),
            Ok(d) if d > MAX_SESSION => s.at(
                Rule::SessionDuration,
                &format!("{path}.session_duration"),
                format!("session_duration {d} is above IAM Identity Center's 12h"),
            ),
            Ok(_) => {}
        }
    }
    if !perms.assume_roles.is_empty() {
        s.at_key(
            Rule::KindMismatch,
            &format!("{path}.permissions.assume_roles"),
            format!("`assume_roles` is for aws-iam roles; `{name}` is aws-identity-center (give it statements or managed_policies)"),
        );
    }
    if role.require_mfa {
        s.at(
            Rule::KindMismatch,
            &format!("{path}.require_mfa"),
            "Identity Center sessions never carry aws:MultiFactorAuthPresent: require MFA at sign-in in Identity Center instead",
        );
    }
    for (i, arn) in perms.managed_policies.iter().enumerate() {
        if !ic::is_aws_managed_policy(arn) {
            s.at(
                Rule::PolicyReference,
                &format!("{path}.permissions.managed_policies.{i}"),
                format!("`{arn}` is not an AWS-managed policy ARN"),
            );
        }
    }
    for (i, c) in perms.customer_managed_policies.iter().enumerate() {
        if !names::is_iam_name(&c.name) || !ic::is_policy_path(&c.path) {
            s.at(
                Rule::PolicyReference,
                &format!("{path}.permissions.customer_managed_policies.{i}"),
                format!(
                    "`{}{}` is not a customer-managed policy path and name",
                    c.path, c.name
                ),
            );
        }
    }
    // The policy's length does not depend on the window: any will do.
    let any = crate::grant::Window {
        start: chrono::DateTime::UNIX_EPOCH,
        end: chrono::DateTime::UNIX_EPOCH,
    };
    if let Some(why) = ic::quota(&ic::inline_policy(&perms.statements, any), 0) {
        s.at_key(
            Rule::InlinePolicySize,
            &format!("{path}.permissions.statements"),
            format!("a grant of role `{name}`: {why}"),
        );
    }
    let attached = perms.managed_policies.len() + perms.customer_managed_policies.len();
    if attached > ic::MAX_ATTACHED_POLICIES {
        s.at_key(
            Rule::PolicyReference,
            &format!("{path}.permissions"),
            format!(
                "role `{name}` attaches {attached} policies; a permission set holds at most {}",
                ic::MAX_ATTACHED_POLICIES
            ),
        );
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
        notify: raw
            .notify
            .iter()
            .map(|c| crate::policy::Channel {
                name: c.name.clone(),
                kind: c.kind,
                url_env: c.url_env.clone(),
                secret_env: c.secret_env.clone(),
                events: c.events.clone(),
                expiring_lead: c
                    .expiring_lead
                    .as_ref()
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(crate::policy::DEFAULT_EXPIRING_LEAD),
            })
            .collect(),
        portal_identity: raw.portal.as_ref().map(|p| p.identity.to_lowercase()),
        owner: owner.to_string(),
        name: name.to_string(),
        security_team: raw.security_team.clone(),
        require_approval: raw.require_approval,
        providers: raw
            .providers
            .iter()
            .map(|(n, p)| (n.clone(), model_provider(n, p)))
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
                        providers: unique(r.provider.names()),
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
                        require_fence: r.require_fence,
                        allow_admin: r.allow_admin,
                        permissions: r.permissions.clone(),
                        accounts: r.accounts.clone(),
                        session_duration: r
                            .session_duration
                            .as_ref()
                            .and_then(|d| d.parse().ok())
                            .filter(|d| *d <= MAX_SESSION)
                            .unwrap_or(DEFAULT_SESSION),
                        auto_approve: r.auto_approve.iter().map(build_rule).collect(),
                    },
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod statement_tests {
    use super::{ATTACHMENTS, POLICY_WRITES, SESSION_ACTIONS, covers_everything};
    use crate::providers::aws_iam::catalogue::catalogue;
    use crate::rule::Rule;
    use crate::snapshot::{Content, SourceFile};

    /// The rules and messages one statement of one role breaks.
    fn check(allow_admin: bool, statement: &str) -> Vec<(Rule, String)> {
        let text = format!(
            "version: 1\nrepository: acme/access\nsecurity_team: \"@acme/security\"\n\
             providers:\n  aws-prod: {{ type: aws-iam, account: \"111111111111\" }}\n\
             people:\n  alice: {{ aws_iam_user: alice }}\n\
             roles:\n  ops:\n    description: Operations\n    provider: aws-prod\n\
             \x20   max_duration: 1h\n    approvers: [\"@acme/sre\"]\n\
             \x20   allow_admin: {allow_admin}\n    permissions:\n      statements:\n\
             \x20       - {statement}\n"
        );
        let file = SourceFile {
            path: "gitgrant.yaml".into(),
            content: Content::Bytes(text.into_bytes()),
        };
        let (_, found) = super::super::read_policy(&file);
        found.into_iter().map(|v| (v.rule, v.message)).collect()
    }

    fn rules(allow_admin: bool, statement: &str) -> Vec<Rule> {
        check(allow_admin, statement)
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    fn allow(action: &str, resource: &str) -> String {
        format!("{{ effect: Allow, actions: [\"{action}\"], resources: [\"{resource}\"] }}")
    }

    #[test]
    fn a_role_with_iam_star_is_refused_without_allow_admin() {
        // On instance profiles iam:* can neither touch a policy nor attach one.
        let profiles = allow("iam:*", "arn:aws:iam::111111111111:instance-profile/*");
        assert_eq!(rules(false, &profiles), [Rule::IamWrite]);
        assert_eq!(rules(true, &profiles), []);
        let (_, message) = &check(false, &profiles)[0];
        assert!(message.contains(" more"), "{message}");
        // On everything it also reaches gitgrant's own policies.
        assert_eq!(
            rules(false, &allow("iam:*", "*")),
            [Rule::IamWrite, Rule::WritesGitgrantPolicies]
        );
    }

    #[test]
    fn star_on_arn_star_star_counts_as_everything() {
        for everything in ["*", "arn:*:*:*:*:*", "arn:aws:*:*:*:*", "arn:aws:*:*:*:*/*"] {
            let found = rules(false, &allow("*", everything));
            assert!(
                found.contains(&Rule::AdminStatement),
                "{everything}: {found:?}"
            );
        }
        for narrower in [
            "arn:aws:iam::*:*",
            "arn:aws:s3:::*",
            "arn:aws:*:*:111111111111:*",
        ] {
            assert!(!covers_everything(narrower), "{narrower}");
        }
    }

    #[test]
    fn iam_policy_wildcards_are_expanded_as_iam_matches_them() {
        let me = "arn:aws:iam::111111111111:user/${aws:username}";
        let (rule, message) = &check(false, &allow("iam:*Policy*", me))[0];
        assert_eq!(*rule, Rule::IamWrite);
        assert!(message.contains("iam:"), "{message}");
        // IAM ignores case, and so must the check.
        assert_eq!(rules(false, &allow("iam:put*policy", me)), [Rule::IamWrite]);
        assert_eq!(
            rules(false, &allow("iam:Put?serPolicy", me)),
            [Rule::IamWrite]
        );
        // Reading policies writes nothing.
        assert_eq!(rules(false, &allow("iam:Get*Policy", "*")), []);
    }

    #[test]
    fn create_policy_version_on_gitgrants_own_path_is_refused_even_with_allow_admin() {
        let rewrite = |resource: &str| {
            format!(
                "{{ effect: Allow, actions: [\"iam:CreatePolicyVersion\", \"iam:SetDefaultPolicyVersion\"], resources: [\"{resource}\"] }}"
            )
        };
        for reaching in [
            "*",
            "arn:aws:iam::*:policy/*",
            "arn:aws:iam::111111111111:policy/gitgrant/*",
            "arn:aws:iam::111111111111:policy/gitgrant/acme/access/gitgrant-ops-alice-1",
        ] {
            assert_eq!(
                rules(true, &rewrite(reaching)),
                [Rule::WritesGitgrantPolicies],
                "{reaching}"
            );
        }
        for elsewhere in [
            "arn:aws:iam::111111111111:policy/team/*",
            "arn:aws:iam::*:policy/team/*",
        ] {
            assert_eq!(rules(true, &rewrite(elsewhere)), [], "{elsewhere}");
        }
    }

    #[test]
    fn attach_user_policy_on_oneself_needs_allow_admin_and_is_still_refused() {
        let me = allow(
            "iam:AttachUserPolicy",
            "arn:aws:iam::111111111111:user/${aws:username}",
        );
        assert_eq!(
            rules(false, &me),
            [Rule::IamWrite, Rule::WritesGitgrantPolicies]
        );
        // It could attach another grant's policy, or detach one.
        assert_eq!(rules(true, &me), [Rule::WritesGitgrantPolicies]);
        assert_eq!(
            rules(
                true,
                &allow("iam:Detach*", "arn:aws:iam::111111111111:role/*")
            ),
            [Rule::WritesGitgrantPolicies]
        );
    }

    #[test]
    fn put_user_policy_on_oneself_needs_allow_admin() {
        let me = allow(
            "iam:PutUserPolicy",
            "arn:aws:iam::111111111111:user/${aws:username}",
        );
        assert_eq!(rules(false, &me), [Rule::IamWrite]);
        assert_eq!(rules(true, &me), []);
    }

    #[test]
    fn full_admin_is_refused_even_with_allow_admin() {
        assert_eq!(
            rules(true, &allow("*", "*")),
            [Rule::WritesGitgrantPolicies]
        );
    }

    #[test]
    fn a_misspelt_action_is_refused_with_a_did_you_mean() {
        let found = check(false, &allow("logs:GetLogEvent", "*"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Rule::UnknownAction);
        assert!(
            found[0].1.contains("did you mean `logs:GetLogEvents`?"),
            "{}",
            found[0].1
        );
    }

    #[test]
    fn an_unknown_service_is_refused() {
        let found = check(false, &allow("logz:GetLogEvents", "*"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Rule::UnknownAction);
        assert!(found[0].1.contains("`logz`"), "{}", found[0].1);
    }

    #[test]
    fn a_wildcard_that_matches_nothing_is_refused() {
        assert_eq!(
            rules(false, &allow("logs:Fetch*", "*")),
            [Rule::UnknownAction]
        );
    }

    #[test]
    fn a_misspelt_deny_is_refused_but_a_deny_of_iam_needs_nothing() {
        let deny = |a: &str| format!("{{ effect: Deny, actions: [\"{a}\"], resources: [\"*\"] }}");
        assert_eq!(
            rules(false, &deny("iam:CreatePolicyVersoin")),
            [Rule::UnknownAction]
        );
        assert_eq!(rules(false, &deny("iam:*")), []);
    }

    #[test]
    fn assume_role_in_statements_is_refused_whatever_allow_admin_says() {
        // Before: on an exact role ARN this was taken for ordinary JIT use,
        // and with allow_admin on any role too; the session escaped every
        // fence and pin. `assume_roles` is the way.
        for resource in [
            "arn:aws:iam::111111111111:role/Deploy",
            "arn:aws:iam::111111111111:role/*",
            "*",
        ] {
            for admin in [false, true] {
                let found = check(admin, &allow("sts:AssumeRole", resource));
                assert_eq!(found.len(), 1, "{resource}: {found:?}");
                assert_eq!(found[0].0, Rule::AssumeRoleStatement);
            }
        }
        // Tagging a session on a named role still needs nothing.
        let tag = allow("sts:TagSession", "arn:aws:iam::111111111111:role/Deploy");
        assert_eq!(rules(false, &tag), []);
        // On something that is no role, AssumeRole reaches no session.
        assert_eq!(
            rules(false, &allow("sts:AssumeRole", "arn:aws:s3:::bucket")),
            [Rule::IamWrite]
        );
        // sts:* holds more than sessions, whatever the resource.
        assert_eq!(
            rules(
                false,
                &allow("sts:*", "arn:aws:iam::111111111111:role/Deploy")
            ),
            [Rule::IamWrite, Rule::AssumeRoleStatement]
        );
        // Wider session actions still need allow_admin.
        let found = check(false, &allow("sts:SetSourceIdentity", "*"));
        assert_eq!(found[0].0, Rule::IamWrite);
        assert!(found[0].1.contains("assume_roles"), "{}", found[0].1);
    }

    #[test]
    fn a_document_that_can_write_iam_is_told_from_one_that_cannot() {
        use super::document_writes_iam;
        let doc = |v: serde_json::Value| serde_json::json!({ "Statement": v });
        let allow =
            |a: &str| doc(serde_json::json!([{ "Effect": "Allow", "Action": a, "Resource": "*" }]));
        assert!(document_writes_iam(&allow("iam:*")));
        assert!(document_writes_iam(&allow("*")));
        assert!(document_writes_iam(&allow("sso:CreatePermissionSet")));
        assert!(document_writes_iam(&allow("sts:AssumeRole")));
        assert!(!document_writes_iam(&allow("s3:*")));
        assert!(!document_writes_iam(&allow("iam:Get*")));
        let not_action =
            doc(serde_json::json!({ "Effect": "Allow", "NotAction": "s3:*", "Resource": "*" }));
        assert!(document_writes_iam(&not_action));
        let deny =
            doc(serde_json::json!([{ "Effect": "Deny", "Action": "iam:*", "Resource": "*" }]));
        assert!(!document_writes_iam(&deny));
    }

    #[test]
    fn an_identity_center_role_cannot_assume_roles_through_statements() {
        let text = "version: 1\nrepository: acme/access\nsecurity_team: \"@acme/security\"\n\
             providers:\n  sso: { type: aws-identity-center, account: \"999999999999\", region: eu-west-1, \
             instance_arn: \"arn:aws:sso:::instance/ssoins-1234567890abcdef\", identity_store_id: d-1234567890 }\n\
             people:\n  alice: { aws_sso_user: alice@acme.com }\n\
             roles:\n  ops:\n    description: Operations\n    provider: sso\n    accounts: [\"111111111111\"]\n\
             \x20   max_duration: 1h\n    approvers: [\"@acme/sre\"]\n    permissions:\n      statements:\n\
             \x20       - { effect: Allow, actions: [\"sts:AssumeRole\"], resources: [\"arn:aws:iam::111111111111:role/Deploy\"] }\n";
        let file = SourceFile {
            path: "gitgrant.yaml".into(),
            content: Content::Bytes(text.as_bytes().to_vec()),
        };
        let (_, found) = super::super::read_policy(&file);
        let rules: Vec<Rule> = found.iter().map(|v| v.rule).collect();
        assert_eq!(rules, [Rule::AssumeRoleStatement], "{found:?}");
    }

    #[test]
    fn organizations_writes_need_allow_admin_and_reads_do_not() {
        assert_eq!(
            rules(false, &allow("organizations:LeaveOrganization", "*")),
            [Rule::IamWrite]
        );
        assert_eq!(rules(false, &allow("organizations:Describe*", "*")), []);
        assert_eq!(rules(false, &allow("iam:List*", "*")), []);
    }

    #[test]
    fn pass_role_on_a_named_role_needs_allow_admin() {
        // Handing a role to a service is a way to act as that role.
        let pass = allow("iam:PassRole", "arn:aws:iam::111111111111:role/Deploy");
        assert_eq!(rules(false, &pass), [Rule::IamWrite]);
        assert_eq!(rules(true, &pass), []);
    }

    #[test]
    fn every_action_the_rules_name_is_one_aws_has() {
        let named = POLICY_WRITES
            .iter()
            .chain(ATTACHMENTS.iter().map(|(a, _)| a))
            .map(|a| format!("iam:{a}"))
            .chain(SESSION_ACTIONS.iter().map(|a| format!("sts:{a}")));
        for action in named {
            let found = catalogue().lookup(&action);
            assert!(found.is_some_and(|a| a.name() == &action[4..]), "{action}");
        }
    }

    #[test]
    fn policy_writes_are_every_write_to_a_managed_policy_aws_has() {
        // After a regeneration, a new managed-policy write (an
        // `iam:UpdatePolicy`, say) fails here until the rule names it.
        let mut writes: Vec<&str> = catalogue()
            .expand("iam:*Policy*")
            .into_iter()
            .filter(|a| a.level().changes())
            .map(|a| a.name())
            // Inline policies, attachments, trust and the password policy
            // belong to a user, role, group or the account, not to a
            // managed policy.
            .filter(|n| {
                !["User", "Role", "Group", "Account"]
                    .iter()
                    .any(|w| n.contains(w))
            })
            .collect();
        writes.sort();
        assert_eq!(writes, POLICY_WRITES);
    }
}
