//! What `gitgrant.yaml` says for the `aws-iam` kind, as data: a person's
//! IAM user or role, and what a role's grants carry (IAM statements and
//! roles to assume, which Identity Center roles share). Imports nothing of
//! the policy: the policy's types are made of these.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The keys of a provider of either AWS kind: the account it is in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct RawProvider {
    /// The 12-digit AWS account id, quoted (required for the AWS kinds).
    /// For `aws-identity-center`, the account that holds the instance
    /// (management or delegated admin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// A role the reconciler assumes to manage this account (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<String>,
}

/// A role's keys for the `aws-iam` kind.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawRole {
    /// `aws-iam` roles only: refuse a grant whose `assume_roles` reach a
    /// role gitgrant cannot fence (one outside every account it
    /// reconciles), instead of reporting it as unfenced.
    #[serde(default)]
    pub require_fence: bool,
}

/// A person's IAM identity as written: on every aws-iam provider (at the
/// person's top level) or on one (under `providers:`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawIdentity {
    /// IAM user name the grant's policy is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_iam_user: Option<String>,
    /// IAM role name the grant's policy is attached to (instead of a user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_iam_role: Option<String>,
}

impl RawIdentity {
    /// The identity written, if any: a user before a role.
    pub fn identity(&self) -> Option<Identity> {
        match (&self.aws_iam_user, &self.aws_iam_role) {
            (Some(u), _) => Some(Identity::User(u.clone())),
            (None, Some(r)) => Some(Identity::Role(r.clone())),
            (None, None) => None,
        }
    }

    /// Whether any of its keys is written.
    pub fn is_set(&self) -> bool {
        self.aws_iam_user.is_some() || self.aws_iam_role.is_some()
    }
}

/// An IAM identity a grant's policy is attached to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Identity {
    /// An IAM user.
    #[serde(rename = "aws_iam_user")]
    User(String),
    /// An IAM role.
    #[serde(rename = "aws_iam_role")]
    Role(String),
}

impl Identity {
    /// `IAM user`, `IAM role`.
    pub fn kind_words(&self) -> &'static str {
        match self {
            Identity::User(_) => "IAM user",
            Identity::Role(_) => "IAM role",
        }
    }

    /// Its name in IAM.
    pub fn name(&self) -> &str {
        match self {
            Identity::User(n) | Identity::Role(n) => n,
        }
    }

    /// `IAM user alice`, for plain text.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind_words(), self.name())
    }

    /// The key two identities collide under: IAM finds users (and roles)
    /// by name case-insensitively, so `Alice` and `alice` are one user.
    pub fn key(&self) -> Identity {
        match self {
            Identity::User(u) => Identity::User(crate::names::iam_name_key(u)),
            Identity::Role(r) => Identity::Role(crate::names::iam_name_key(r)),
        }
    }
}

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Effect {
    /// Allows the actions.
    Allow,
    /// Denies the actions.
    Deny,
}

/// One IAM policy statement.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// `Allow` or `Deny`.
    pub effect: Effect,
    /// IAM actions, such as `logs:GetLogEvents` or `s3:Get*`.
    pub actions: Vec<String>,
    /// Resource ARNs, or `*`.
    pub resources: Vec<String>,
}

/// What a role's grants carry in AWS IAM (and, for statements, in
/// Identity Center's permission sets).
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawPermissions {
    /// IAM role ARNs the subject may assume while the grant is active.
    /// `{account}` stands for the account of each of the role's providers.
    #[serde(default)]
    pub assume_roles: Vec<String>,
    /// IAM policy statements in force while the grant is active.
    #[serde(default)]
    pub statements: Vec<Statement>,
}

impl RawPermissions {
    /// Whether it grants nothing.
    pub fn is_empty(&self) -> bool {
        self.assume_roles.is_empty() && self.statements.is_empty()
    }
}
