//! What `gitgrant.yaml` says for the `gcp-iam` kind, as data: the resource
//! whose IAM policy carries the grants, a person's principal, and the roles
//! a grant binds. Imports nothing of the policy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The keys of a `gcp-iam` provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct RawProvider {
    /// `gcp-iam` only: the resource whose IAM policy carries the grants:
    /// `projects/<project-id>`, `folders/<number>` or
    /// `organizations/<number>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// A role's keys for the `gcp-iam` kind: none beside its permissions.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawRole {}

/// A person's Google Cloud principal as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawIdentity {
    /// The principal a grant's binding names on gcp-iam providers:
    /// `user:alice@acme.com`, or a workforce identity
    /// `principal://iam.googleapis.com/locations/global/workforcePools/…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_member: Option<String>,
}

impl RawIdentity {
    /// The identity written, if any.
    pub fn identity(&self) -> Option<Identity> {
        self.gcp_member.clone().map(Identity::Member)
    }

    /// Whether any of its keys is written.
    pub fn is_set(&self) -> bool {
        self.gcp_member.is_some()
    }
}

/// A Google Cloud principal, as IAM policies name members.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Identity {
    /// `user:…`, `group:…`, `serviceAccount:…`, `principal://…`.
    #[serde(rename = "gcp_member")]
    Member(String),
}

impl Identity {
    /// `principal`.
    pub fn kind_words(&self) -> &'static str {
        "principal"
    }

    /// The member as IAM writes it: `user:alice@acme.com`.
    pub fn name(&self) -> &str {
        let Identity::Member(m) = self;
        m
    }

    /// The key two identities collide under: Google compares the email
    /// address of `user:`, `group:` and `serviceAccount:` members without
    /// regard to case; the rest as written.
    pub fn key(&self) -> Identity {
        let m = self.name();
        match m.split_once(':') {
            Some((kind, email)) if !kind.contains('/') && email.contains('@') => {
                Identity::Member(format!("{kind}:{}", email.to_lowercase()))
            }
            _ => Identity::Member(m.to_string()),
        }
    }
}

/// What a role's grants bind on `gcp-iam` providers.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawPermissions {
    /// `gcp-iam` roles only: the IAM roles a grant binds, each in a binding
    /// of its own whose condition is the window: predefined
    /// (`roles/logging.viewer`) or custom
    /// (`projects/acme-prod/roles/incidentReader`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gcp_roles: Vec<String>,
    /// `gcp-iam` roles only: a CEL condition ANDed with the window, such as
    /// `resource.name.startsWith('projects/_/buckets/acme-logs')`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gcp_condition: Option<String>,
}

impl RawPermissions {
    /// Whether it binds nothing.
    pub fn is_empty(&self) -> bool {
        self.gcp_roles.is_empty()
    }
}
