//! The policy file `gitgrant.yaml`: providers, people and roles.

use std::collections::BTreeMap;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use crate::approval::rules::Requester;
use crate::duration::GrantDuration;

pub use crate::providers::types::{
    Identity, IdentityParts, ProviderType, RawIdentity, RawPermissions, RawPerson, RawProvider,
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

/// A role that can be granted.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// What the role is for.
    pub description: String,
    /// The provider (account) the role's grants apply to, or a list of
    /// them: one grant is then applied in each, with one window.
    pub provider: Providers,
    /// The longest window one grant may have, such as `8h` (at most 90d).
    pub max_duration: String,
    /// Code owners of `grants/<role>/`: `@org/team` or `@login`.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Approvals needed from `approvers` before a grant applies.
    #[serde(default = "one")]
    pub min_approvals: u32,
    /// Who may be a grant's subject: `*`, logins, or `@org/team`.
    #[serde(default = "anyone")]
    pub requesters: Vec<String>,
    /// A regular expression the whole `ticket` must match; a ticket is then required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_ticket: Option<String>,
    /// Require MFA on every request made with the grant.
    #[serde(default)]
    pub require_mfa: bool,
    /// Grants may land without review; each opens a post-incident review.
    #[serde(default)]
    pub break_glass: bool,
    /// Allow statements granting `*` on `*`.
    #[serde(default)]
    pub allow_admin: bool,
    /// `aws-iam` roles only: refuse a grant whose `assume_roles` reach a
    /// role gitgrant cannot fence (one outside every account it
    /// reconciles), instead of reporting it as unfenced.
    #[serde(default)]
    pub require_fence: bool,
    /// `aws-identity-center` roles only (and required there): the 12-digit
    /// AWS accounts a grant's permission set is assigned in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// `aws-identity-center` roles only: how long one sign-in session of the
    /// permission set lasts, at most `12h` (default `1h`). The window's
    /// denies end a session at the window's end whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<String>,
    /// Rules that approve a grant without a human review: any one whose
    /// every condition holds when the grant lands approves it. Not for
    /// break-glass roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auto_approve: Vec<RawAutoApprove>,
    /// What a grant of this role allows.
    pub permissions: RawPermissions,
}

/// One auto-approval rule as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAutoApprove {
    /// How the check, the reconciler and the audit name the rule.
    pub name: String,
    /// The longest window the rule approves (the grant's whole window must
    /// fit), at most the role's `max_duration`.
    pub max_duration: String,
    /// Who the rule approves, as logins or `@org/team`; default: anyone the
    /// role admits. The subject must be the pull request's author.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requesters: Vec<String>,
    /// The subject must be on call in this schedule when the grant lands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_call: Option<RawOnCall>,
    /// The grant must land inside these hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<RawHours>,
    /// The grant must carry a ticket matching the role's `require_ticket`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_ticket: bool,
}

/// An on-call schedule: exactly one of its fields.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOnCall {
    /// A PagerDuty schedule id, such as `PABC123`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerduty_schedule: Option<String>,
    /// An Opsgenie schedule id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opsgenie_schedule: Option<String>,
}

/// Office hours as written.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHours {
    /// Days of the week: `mon` … `sun`.
    pub days: Vec<String>,
    /// The first minute inside, `HH:MM`.
    pub from: String,
    /// The first minute outside again, `HH:MM`, later than `from`.
    pub to: String,
    /// An IANA time zone, such as `Europe/Berlin`; daylight saving is the zone's.
    pub time_zone: String,
}

/// One provider's name, or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Providers {
    /// One provider.
    One(String),
    /// Several providers; a grant is applied in each.
    Many(Vec<String>),
}

impl Providers {
    /// The names, in the order written.
    pub fn names(&self) -> Vec<&str> {
        match self {
            Providers::One(p) => vec![p.as_str()],
            Providers::Many(ps) => ps.iter().map(String::as_str).collect(),
        }
    }
}

fn one() -> u32 {
    1
}

fn anyone() -> Vec<String> {
    vec!["*".to_string()]
}

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
    /// Grants whose target roles cannot be fenced are refused.
    pub require_fence: bool,
    /// The organisation accepts that a grantee may lift their own window:
    /// needed for statements that write IAM and for `assume_roles` into a
    /// role that can.
    pub allow_admin: bool,
    /// What a grant allows.
    pub permissions: RawPermissions,
    /// The accounts an Identity Center grant is assigned in.
    pub accounts: Vec<String>,
    /// An Identity Center permission set's session duration.
    pub session_duration: GrantDuration,
    /// Rules that approve a grant without a human review.
    pub auto_approve: Vec<crate::approval::rules::Rule>,
}

/// The session duration of a permission set when the role names none.
pub const DEFAULT_SESSION: GrantDuration = GrantDuration::ONE_HOUR;

/// The longest session duration IAM Identity Center allows.
pub const MAX_SESSION: GrantDuration = GrantDuration::TWELVE_HOURS;

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
