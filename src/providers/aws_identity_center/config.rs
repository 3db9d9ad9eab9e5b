//! What `gitgrant.yaml` says for the `aws-identity-center` kind, as data: a
//! person's Identity Store user, and the AWS-managed and customer-managed
//! policies a permission set references. Imports nothing of the policy.

use schemars::JsonSchema;

use crate::duration::GrantDuration;
use serde::{Deserialize, Serialize};

/// Where an `aws-identity-center` provider's instance is, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct RawProvider {
    /// `aws-identity-center` only: the region of the instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `aws-identity-center` only: the instance's ARN
    /// (`arn:aws:sso:::instance/ssoins-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_arn: Option<String>,
    /// `aws-identity-center` only: the instance's Identity Store id (`d-…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_store_id: Option<String>,
}

/// Where an `aws-identity-center` provider's instance is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityCenter {
    /// The instance's region.
    pub region: String,
    /// The instance's ARN.
    pub instance_arn: String,
    /// The instance's Identity Store id.
    pub identity_store_id: String,
}

impl RawProvider {
    /// The instance, when every key of it is written.
    pub fn instance(&self) -> Option<IdentityCenter> {
        Some(IdentityCenter {
            region: self.region.clone()?,
            instance_arn: self.instance_arn.clone()?,
            identity_store_id: self.identity_store_id.clone()?,
        })
    }
}

/// A role's keys for the `aws-identity-center` kind.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawRole {
    /// `aws-identity-center` roles only (and required there): the 12-digit
    /// AWS accounts a grant's permission set is assigned in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// `aws-identity-center` roles only: how long one sign-in session of the
    /// permission set lasts, at most `12h` (default `1h`). The window's
    /// denies end a session at the window's end whatever this says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_duration: Option<String>,
}

impl RawRole {
    /// The session duration written, or the default when it is missing or
    /// not one Identity Center takes (validation reports it).
    pub fn session(&self) -> GrantDuration {
        self.session_duration
            .as_ref()
            .and_then(|d| d.parse().ok())
            .filter(|d| *d <= MAX_SESSION)
            .unwrap_or(DEFAULT_SESSION)
    }
}

/// The session duration of a permission set when the role names none.
pub const DEFAULT_SESSION: GrantDuration = GrantDuration::ONE_HOUR;

/// The longest session duration IAM Identity Center allows.
pub const MAX_SESSION: GrantDuration = GrantDuration::TWELVE_HOURS;

/// A person's Identity Center user as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawIdentity {
    /// Identity Store UserName the grant's permission set is assigned to
    /// (aws-identity-center providers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_sso_user: Option<String>,
}

impl RawIdentity {
    /// The identity written, if any.
    pub fn identity(&self) -> Option<Identity> {
        self.aws_sso_user.clone().map(Identity::User)
    }

    /// Whether any of its keys is written.
    pub fn is_set(&self) -> bool {
        self.aws_sso_user.is_some()
    }
}

/// An Identity Center user, by Identity Store UserName.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Identity {
    /// An Identity Store user.
    #[serde(rename = "aws_sso_user")]
    User(String),
}

impl Identity {
    /// `Identity Center user`.
    pub fn kind_words(&self) -> &'static str {
        "Identity Center user"
    }

    /// Its Identity Store UserName.
    pub fn name(&self) -> &str {
        let Identity::User(n) = self;
        n
    }

    /// The key two identities collide under: Identity Store user names are
    /// unique ignoring case.
    pub fn key(&self) -> Identity {
        Identity::User(self.name().to_lowercase())
    }
}

/// A customer-managed policy a permission set references, by name and path
/// as it exists in each account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerManagedPolicy {
    /// The policy's name.
    pub name: String,
    /// The policy's path, `/` by default.
    #[serde(default = "root_path")]
    pub path: String,
}

fn root_path() -> String {
    "/".to_string()
}

/// What a role's permission sets reference beyond their statements.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawPermissions {
    /// `aws-identity-center` roles only: AWS-managed policy ARNs
    /// (`arn:aws:iam::aws:policy/…`) attached to the permission set. They
    /// carry no window themselves; the permission set's denies end them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_policies: Vec<String>,
    /// `aws-identity-center` roles only: customer-managed policies, by name
    /// and path, that must exist in every account of the role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub customer_managed_policies: Vec<CustomerManagedPolicy>,
}

impl RawPermissions {
    /// Whether it references nothing.
    pub fn is_empty(&self) -> bool {
        self.managed_policies.is_empty() && self.customer_managed_policies.is_empty()
    }
}
