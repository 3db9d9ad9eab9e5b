//! The policy's types that hold every kind side by side, made from the
//! registry's list and each kind's `config.rs`: the provider's `type`, a
//! person's identities, what a role's grants carry. Data only: this file
//! and the kinds' `config.rs` import nothing of the policy, which is made
//! of them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

macro_rules! types {
    ($($(#[$doc:meta])* $kind:ident: $folder:ident = $name:literal,)*) => {
        /// The kind of a provider.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize,
            JsonSchema,
        )]
        pub enum ProviderType {
            $($(#[$doc])* #[serde(rename = $name)] $kind,)*
        }

        impl ProviderType {
            /// Its `type` in `gitgrant.yaml`: `aws-iam`, …
            pub fn name(self) -> &'static str {
                match self {
                    $(ProviderType::$kind => $name,)*
                }
            }
        }

        /// One cloud account, or one instance, of a kind.
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct RawProvider {
            /// The provider's kind.
            #[serde(rename = "type")]
            pub kind: ProviderType,
            $(
                #[serde(flatten)]
                #[allow(missing_docs)] // each key is documented by its kind
                pub $folder: super::$folder::config::RawProvider,
            )*
        }

        /// A person: the identity used on every provider of each kind, and
        /// per-provider overrides.
        #[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct RawPerson {
            $(
                #[serde(flatten)]
                #[allow(missing_docs)] // each key is documented by its kind
                pub $folder: super::$folder::config::RawIdentity,
            )*
            /// Identities on particular providers, by provider name.
            #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
            pub providers: BTreeMap<String, RawIdentity>,
            /// The address on-call schedules (PagerDuty, Opsgenie) know this
            /// person by; needed for `on_call` auto-approval rules.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub email: Option<String>,
        }

        /// A person's identity on one provider.
        #[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct RawIdentity {
            $(
                #[serde(flatten)]
                #[allow(missing_docs)] // each key is documented by its kind
                pub $folder: super::$folder::config::RawIdentity,
            )*
        }

        /// A person's identity keys as written, each kind's apart.
        #[derive(Debug, Clone, Copy)]
        pub struct IdentityParts<'a> {
            $(
                #[allow(missing_docs)] // the kind's own part
                pub $folder: &'a super::$folder::config::RawIdentity,
            )*
        }

        impl RawPerson {
            /// The keys for every provider of each kind.
            pub fn parts(&self) -> IdentityParts<'_> {
                IdentityParts { $($folder: &self.$folder,)* }
            }
        }

        impl RawIdentity {
            /// The keys for this one provider.
            pub fn parts(&self) -> IdentityParts<'_> {
                IdentityParts { $($folder: &self.$folder,)* }
            }
        }

        impl IdentityParts<'_> {
            /// The kinds whose keys are written.
            pub fn kinds(&self) -> Vec<ProviderType> {
                let mut out = Vec::new();
                $(if self.$folder.is_set() {
                    out.push(ProviderType::$kind);
                })*
                out
            }

            /// The identity written for each kind.
            pub fn identities(&self) -> Vec<(ProviderType, Identity)> {
                let mut out = Vec::new();
                $(if let Some(i) = self.$folder.identity() {
                    out.push((ProviderType::$kind, Identity::$kind(i)));
                })*
                out
            }
        }

        /// A cloud identity that a grant's access is given to, in its
        /// kind's terms (its JSON is the kind's own: `{"aws_iam_user": …}`).
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(untagged)]
        pub enum Identity {
            $($(#[$doc])* $kind(super::$folder::config::Identity),)*
        }

        impl Identity {
            /// The kind of provider it is an identity on.
            pub fn kind(&self) -> ProviderType {
                match self {
                    $(Identity::$kind(_) => ProviderType::$kind,)*
                }
            }

            /// What kind of identity it is, in words: `IAM user`, …
            pub fn kind_words(&self) -> &'static str {
                match self {
                    $(Identity::$kind(i) => i.kind_words(),)*
                }
            }

            /// Its name in the cloud.
            pub fn name(&self) -> &str {
                match self {
                    $(Identity::$kind(i) => i.name(),)*
                }
            }

            /// The key two identities collide under, as the cloud compares
            /// names.
            pub fn key(&self) -> Identity {
                match self {
                    $(Identity::$kind(i) => Identity::$kind(i.key()),)*
                }
            }
        }

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
            /// Rules that approve a grant without a human review: any one whose
            /// every condition holds when the grant lands approves it. Not for
            /// break-glass roles.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            pub auto_approve: Vec<RawAutoApprove>,
            /// What a grant of this role allows.
            pub permissions: RawPermissions,
            $(
                #[serde(flatten)]
                #[allow(missing_docs)] // each key is documented by its kind
                pub $folder: super::$folder::config::RawRole,
            )*
        }

        /// A role's keys of every kind, as written.
        #[derive(Debug, Clone, Default)]
        pub struct RoleKeys {
            $(
                #[allow(missing_docs)] // the kind's own part
                pub $folder: super::$folder::config::RawRole,
            )*
        }

        impl RawRole {
            /// Its keys of every kind.
            pub fn keys(&self) -> RoleKeys {
                RoleKeys { $($folder: self.$folder.clone(),)* }
            }
        }

        /// What a role allows, each kind's keys side by side.
        #[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct RawPermissions {
            $(
                #[serde(flatten)]
                #[allow(missing_docs)] // each key is documented by its kind
                pub $folder: super::$folder::config::RawPermissions,
            )*
        }

        impl RawPermissions {
            /// Whether it grants nothing on any kind.
            pub fn is_empty(&self) -> bool {
                true $(&& self.$folder.is_empty())*
            }
        }
    };
}

super::registry::kinds!(types);

impl std::fmt::Display for ProviderType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Identity {
    /// `IAM user alice`, for plain text.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind_words(), self.name())
    }

    /// ``IAM user `alice` ``, for Markdown.
    pub fn describe_md(&self) -> String {
        format!("{} `{}`", self.kind_words(), self.name())
    }
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
    /// What the subject's own history with the role must show, judged from
    /// the history before the grant lands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<RawHistory>,
}

/// A rule's conditions on the subject's access history: every one given
/// must hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHistory {
    /// The subject has held this role before, through a grant that was
    /// approved (what the reconciler signed says so) and in force.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub held_before: bool,
    /// At most `count` grants of this role to the subject landed in the
    /// `per` up to this one, this one included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_grants: Option<RawRate>,
    /// No audit finding on any of the subject's grants for this long before
    /// the landing, such as `30d`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_for: Option<String>,
}

/// A number of grants over a period.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRate {
    /// How many grants, this one included (at least 1).
    pub count: u32,
    /// Over how long, such as `7d`.
    pub per: String,
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
