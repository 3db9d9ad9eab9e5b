//! The policy's checks, and its model.

use std::collections::BTreeMap;

use regex::Regex;

use super::{Sink, parse_file};
use crate::duration::{GrantDuration, HARD_CAP};
use crate::names;
use crate::policy::{
    Effect, Identity, Person, Policy, Provider, RawIdentity, RawPolicy, Requester, Role,
};
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
];

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
        // One report per pair of people, naming the providers they collide on.
        let mut clashes: BTreeMap<&str, (Identity, Vec<&str>)> = BTreeMap::new();
        for provider in p.providers.keys() {
            let Some(identity) = person.identity_on(provider) else {
                continue;
            };
            match owners.get(&(provider.as_str(), identity.clone())) {
                Some(first) => clashes
                    .entry(first)
                    .or_insert_with(|| (identity.clone(), Vec::new()))
                    .1
                    .push(provider),
                None => {
                    owners.insert((provider.as_str(), identity.clone()), login);
                }
            }
        }
        for (first, (identity, providers)) in clashes {
            s.at_key(
                Rule::DuplicateIdentity,
                &format!("people.{login}"),
                format!(
                    "{login} and {first} have the same identity {} on {}",
                    describe_identity(&identity),
                    providers.join(", ")
                ),
            );
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
        // `{account}` stands for each provider's account: any 12 digits
        // check the rest of the ARN.
        let arn = &arn.replace(crate::policy::ACCOUNT_PLACEHOLDER, "000000000000");
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
        require_approval: raw.require_approval,
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
                        permissions: r.permissions.clone(),
                    },
                )
            })
            .collect(),
    }
}
