//! The policy's checks, and its model.
//!
//! What each provider kind's keys may say is checked in that kind's
//! folder (`src/providers/<kind>/validate.rs`), through the registry.

use std::collections::BTreeMap;

use regex::Regex;

use super::{Sink, parse_file};
use crate::duration::{GrantDuration, HARD_CAP};
use crate::names;
use crate::policy::{Identity, Person, Policy, Provider, RawPolicy, RawProvider, Requester, Role};
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
    ("kinds", crate::providers::check_policy),
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
    for name in p.providers.keys() {
        let path = format!("providers.{name}");
        if !names::is_slug(name) {
            s.at_key(
                Rule::InvalidName,
                &path,
                format!("provider name `{name}` is not lower-case letters, digits and hyphens"),
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
        crate::providers::check_identities(person.parts(), &path, None, s);
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
            let kind = p.providers.get(provider).map(|pr| pr.kind);
            crate::providers::check_identities(identity.parts(), &ppath, Some((provider, kind)), s);
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

fn build_person(raw: &crate::policy::RawPerson) -> Person {
    Person {
        defaults: raw.parts().identities().into_iter().collect(),
        providers: raw
            .providers
            .iter()
            .filter_map(|(name, i)| {
                let first = i.parts().identities().into_iter().next();
                first.map(|(_, identity)| (name.clone(), identity))
            })
            .collect(),
        email: raw.email.as_ref().map(|e| e.to_lowercase()),
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
            let key = (provider.as_str(), crate::policy::Identity::key(identity));
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
                    identity.describe(),
                    providers.join(", ")
                )
            } else {
                format!(
                    "{login}'s {} is {first}'s {} on {}: IAM names are not case-sensitive",
                    identity.describe(),
                    theirs.describe(),
                    providers.join(", ")
                )
            };
            s.at_key(Rule::DuplicateIdentity, &format!("people.{login}"), message);
        }
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
        crate::providers::check_role(p, name, role, s);
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
            && let Err(e) =
                crate::approval::rules::Hours::parse(&h.days, &h.from, &h.to, &h.time_zone)
        {
            use crate::approval::rules::HoursError as E;
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
        if let Some(h) = &r.history {
            let path = format!("{path}.history");
            if !h.held_before && h.max_grants.is_none() && h.clean_for.is_none() {
                s.at(
                    Rule::AutoApprove,
                    &path,
                    "history names no condition: give held_before, max_grants or clean_for",
                );
            }
            if let Some(rate) = &h.max_grants {
                if rate.count == 0 {
                    s.at(
                        Rule::AutoApprove,
                        &format!("{path}.max_grants.count"),
                        "max_grants.count is at least 1: this grant itself counts",
                    );
                }
                if let Err(e) = rate.per.parse::<GrantDuration>() {
                    s.at(
                        Rule::InvalidDuration,
                        &format!("{path}.max_grants.per"),
                        e.to_string(),
                    );
                }
            }
            if let Some(Err(e)) = h.clean_for.as_ref().map(|d| d.parse::<GrantDuration>()) {
                s.at(
                    Rule::InvalidDuration,
                    &format!("{path}.clean_for"),
                    e.to_string(),
                );
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
fn build_rule(r: &crate::policy::RawAutoApprove) -> crate::approval::rules::Rule {
    use crate::approval::rules::{HistoryCondition, Hours, Rate, Schedule};
    crate::approval::rules::Rule {
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
        history: r.history.as_ref().map(|h| HistoryCondition {
            held_before: h.held_before,
            max_grants: h.max_grants.as_ref().and_then(|m| {
                Some(Rate {
                    count: m.count,
                    per: m.per.parse().ok()?,
                })
            }),
            clean_for: h.clean_for.as_ref().and_then(|d| d.parse().ok()),
        }),
    }
}

fn check_permissions(name: &str, role: &crate::policy::RawRole, s: &mut Sink) {
    if role.permissions.is_empty() {
        s.at_key(
            Rule::EmptyPermissions,
            &format!("roles.{name}.permissions"),
            format!("role `{name}` grants nothing"),
        );
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

/// The model of one provider as written.
fn model_provider(name: &str, p: &RawProvider) -> Provider {
    Provider {
        name: name.to_string(),
        kind: p.kind,
        keys: p.clone(),
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
                        allow_admin: r.allow_admin,
                        permissions: r.permissions.clone(),
                        keys: r.keys(),
                        auto_approve: r.auto_approve.iter().map(build_rule).collect(),
                    },
                )
            })
            .collect(),
    }
}
