//! The policy file `gitgrant.yaml`: providers, people and roles.

use std::collections::BTreeMap;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::approval::rules::Requester;
use crate::duration::GrantDuration;

pub use crate::providers::types::{
    Identity, IdentityParts, ProviderType, Providers, RawAutoApprove, RawHours, RawIdentity,
    RawOnCall, RawPermissions, RawPerson, RawProvider, RawRole, RoleKeys,
};
pub use crate::snapshot::POLICY_PATH;

/// `gitgrant.yaml` as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "gitgrant policy", rename = "Policy")]
pub struct RawPolicy {
    /// Format version; only `1` exists.
    pub version: u32,
    /// `owner/name` of the access repository on GitHub; stamped on every cloud resource.
    pub repository: String,
    /// `@org/team` (or `@login`) that owns gitgrant.yaml, .github/ and CODEOWNERS.
    pub security_team: String,
    /// When true, `reconcile` applies a grant only with approval evidence
    /// from GitHub: a pull request approved by enough of the role's code
    /// owners. A grant pushed directly (by an admin bypassing branch
    /// protection, say) then grants nothing. Break-glass roles are exempt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_approval: bool,
    /// Cloud accounts that grants are applied to, by name.
    pub providers: BTreeMap<String, RawProvider>,
    /// GitHub login (lower case) → cloud identities.
    pub people: BTreeMap<String, RawPerson>,
    /// Roles that can be granted, by name (the folder under `grants/`).
    pub roles: BTreeMap<String, RawRole>,
    /// Where the reconciler tells people what happened: Slack, Teams, or a
    /// signed webhook. URLs and secrets come from environment variables,
    /// never from git.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<RawChannel>,
    /// The request form (`gitgrant portal`): who opens its pull requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<RawPortal>,
}

/// The request form's settings as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPortal {
    /// The GitHub login that opens the form's pull requests: the portal
    /// workflow's GitHub App, as `<app-slug>[bot]`. The check accepts a pull
    /// request it opened on behalf of an issue's author only when that issue,
    /// read from GitHub, was opened by the grant's subject.
    pub identity: String,
}

/// A notification channel as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawChannel {
    /// Its name in the run's summary.
    pub name: String,
    /// What it posts.
    pub kind: ChannelKind,
    /// The environment variable that holds the URL (`GITGRANT_*`).
    pub url_env: String,
    /// `webhook` only: the environment variable that holds the HMAC key
    /// (`GITGRANT_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    /// The events it gets.
    pub events: Vec<Event>,
    /// How long before a grant's end `expiring` is sent (default `15m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiring_lead: Option<String>,
}

/// What a channel posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// A Slack incoming webhook: Block Kit with a text fallback.
    Slack,
    /// A Microsoft Teams Workflows webhook: an Adaptive Card.
    Teams,
    /// Any HTTPS endpoint: a CloudEvents 1.0 JSON body, signed with
    /// HMAC-SHA256 over its timestamp and body when `secret_env` is set.
    Webhook,
}

/// Something the reconciler tells.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// A grant was applied.
    Applied,
    /// A grant ends within the channel's lead time.
    Expiring,
    /// A grant's access was revoked (with the reason).
    Revoked,
    /// A grant was refused (no approval, a quota, no identity).
    Refused,
    /// A break-glass grant was applied.
    BreakGlass,
    /// Tampering was found and repaired.
    Drift,
    /// A change failed.
    Failed,
}

impl Event {
    /// Its name: `applied`, `break-glass`, …
    pub fn name(self) -> &'static str {
        match self {
            Event::Applied => "applied",
            Event::Expiring => "expiring",
            Event::Revoked => "revoked",
            Event::Refused => "refused",
            Event::BreakGlass => "break-glass",
            Event::Drift => "drift",
            Event::Failed => "failed",
        }
    }
}

/// A validated channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Its name.
    pub name: String,
    /// What it posts.
    pub kind: ChannelKind,
    /// The URL's environment variable.
    pub url_env: String,
    /// The HMAC key's environment variable.
    pub secret_env: Option<String>,
    /// Its events.
    pub events: Vec<Event>,
    /// The lead of `expiring`.
    pub expiring_lead: GrantDuration,
}

/// `expiring`'s lead when a channel names none.
pub const DEFAULT_EXPIRING_LEAD: GrantDuration = GrantDuration::FIFTEEN_MINUTES;

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// GitHub owner of the access repository.
    pub owner: String,
    /// GitHub name of the access repository.
    pub name: String,
    /// Owner of the policy files.
    pub security_team: String,
    /// Whether grants need approval evidence before they are applied.
    pub require_approval: bool,
    /// Providers by name.
    pub providers: BTreeMap<String, Provider>,
    /// People by login.
    pub people: BTreeMap<String, Person>,
    /// Roles by name.
    pub roles: BTreeMap<String, Role>,
    /// Notification channels.
    pub notify: Vec<Channel>,
    /// The login (lower case) that opens the request form's pull requests
    /// on behalf of issues' authors, if the form is used.
    pub portal_identity: Option<String>,
}

impl Policy {
    /// `owner/name`.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Who `subject` is beyond their login: each identity they have (as
    /// the cloud compares names, with the kind or provider it is on) and
    /// their email, lower case, sorted. Two logins sharing one of these are
    /// one person under two names.
    pub fn known_as(&self, subject: &str) -> Vec<String> {
        let Some(person) = self
            .people
            .get(subject)
            .or_else(|| self.people.get(&subject.to_lowercase()))
        else {
            return Vec::new();
        };
        let named = |at: &str, i: &Identity| {
            let key = i.key();
            format!("{at}: {} {}", key.kind_words(), key.name()).to_lowercase()
        };
        let mut out: Vec<String> = person
            .defaults
            .iter()
            .map(|(kind, i)| named(kind.name(), i))
            .chain(person.providers.iter().map(|(p, i)| named(p, i)))
            .chain(
                person
                    .email
                    .iter()
                    .map(|e| format!("email {}", e.to_lowercase())),
            )
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The providers a grant of `role` is applied in (those defined).
    pub fn targets<'a>(&'a self, role: &'a Role) -> impl Iterator<Item = &'a Provider> + 'a {
        role.providers.iter().filter_map(|p| self.providers.get(p))
    }
}

/// A validated provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Its name in the policy.
    pub name: String,
    /// Its kind.
    pub kind: ProviderType,
    /// Its keys as written, each kind's apart: a kind reads its own here.
    pub keys: RawProvider,
}

/// A validated person.
#[derive(Debug, Clone, Default)]
pub struct Person {
    /// The identity on every provider of a kind without an override.
    pub defaults: BTreeMap<ProviderType, Identity>,
    /// Identities by provider name.
    pub providers: BTreeMap<String, Identity>,
    /// How on-call schedules know this person.
    pub email: Option<String>,
}

impl Person {
    /// The identity this person has on `provider`: its override, or the
    /// default of the provider's kind.
    pub fn identity_on(&self, provider: &Provider) -> Option<&Identity> {
        self.providers
            .get(&provider.name)
            .or(self.defaults.get(&provider.kind))
    }
}

/// A validated role.
#[derive(Debug, Clone)]
pub struct Role {
    /// Its name (the folder under `grants/`).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The providers its grants apply to (at least one), in the order
    /// written and without repeats.
    pub providers: Vec<String>,
    /// The longest window one grant may have.
    pub max_duration: GrantDuration,
    /// Code owners of its grants.
    pub approvers: Vec<String>,
    /// Approvals needed.
    pub min_approvals: u32,
    /// Who may be a subject.
    pub requesters: Vec<Requester>,
    /// Pattern a ticket must match in whole.
    pub require_ticket: Option<Regex>,
    /// MFA required on every request.
    pub require_mfa: bool,
    /// Lands without review.
    pub break_glass: bool,
    /// The organisation accepts that a grantee may lift their own window:
    /// needed for statements that write IAM and for `assume_roles` into a
    /// role that can.
    pub allow_admin: bool,
    /// What a grant allows.
    pub permissions: RawPermissions,
    /// Its keys of every kind, as written.
    pub keys: RoleKeys,
    /// Rules that approve a grant without a human review.
    pub auto_approve: Vec<crate::approval::rules::Rule>,
}

impl Role {
    /// The role's providers joined for people: `aws-prod, aws-dev`.
    pub fn providers_text(&self) -> String {
        self.providers.join(", ")
    }

    /// Who reviews this role's grants: its approvers, then `security_team`
    /// unless already among them. Break-glass grants are reviewed by them
    /// after the fact.
    pub fn reviewers<'a>(&'a self, security_team: &'a str) -> Vec<&'a str> {
        let mut all: Vec<&str> = self.approvers.iter().map(String::as_str).collect();
        if !all.contains(&security_team) {
            all.push(security_team);
        }
        all
    }

    /// Whether `login` may be the subject of a grant of this role, as far as
    /// can be told without asking GitHub: a team entry admits nobody here
    /// (team membership is checked against GitHub by `gitgrant check`).
    pub fn admits(&self, login: &str) -> Admission {
        let mut teams = false;
        for r in &self.requesters {
            match r {
                Requester::Anyone => return Admission::Yes,
                Requester::Login(l) if l == login => return Admission::Yes,
                Requester::Login(_) => {}
                Requester::Team(_) => teams = true,
            }
        }
        if teams {
            Admission::IfTeamMember
        } else {
            Admission::No
        }
    }
}

/// The answer of [`Role::admits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Allowed.
    Yes,
    /// Allowed only if a member of one of the role's requester teams.
    IfTeamMember,
    /// Not allowed.
    No,
}
