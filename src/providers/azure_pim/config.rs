//! What `gitgrant.yaml` says for the `azure-pim` kind, as data: the tenant
//! and scope whose role assignments carry the grants, a person's Entra
//! object id, and the Azure roles a grant assigns. Imports nothing of the
//! policy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The keys of an `azure-pim` provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct RawProvider {
    /// `azure-pim` only: the Entra tenant (directory) id, a GUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// `azure-pim` only: where the role assignments are made:
    /// `/subscriptions/<id>`, `/subscriptions/<id>/resourceGroups/<name>`
    /// or `/providers/Microsoft.Management/managementGroups/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `azure-pim` only: Azure Resource Manager's endpoint, for sovereign
    /// clouds (`https://management.usgovcloudapi.net`); default
    /// `https://management.azure.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_endpoint: Option<String>,
}

/// A role's keys for the `azure-pim` kind: none beside its permissions.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawRole {}

/// A person's Entra identity as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawIdentity {
    /// The object id of the person's Entra user, which azure-pim role
    /// assignments name as their principal (a GUID, as
    /// `az ad user show --id alice@acme.com --query id` prints it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azure_object_id: Option<String>,
}

impl RawIdentity {
    /// The identity written, if any.
    pub fn identity(&self) -> Option<Identity> {
        self.azure_object_id.clone().map(Identity::ObjectId)
    }

    /// Whether any of its keys is written.
    pub fn is_set(&self) -> bool {
        self.azure_object_id.is_some()
    }
}

/// An Entra principal, by object id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Identity {
    /// The Entra user's object id.
    #[serde(rename = "azure_object_id")]
    ObjectId(String),
}

impl Identity {
    /// `Entra user`.
    pub fn kind_words(&self) -> &'static str {
        "Entra user"
    }

    /// The object id as written.
    pub fn name(&self) -> &str {
        let Identity::ObjectId(id) = self;
        id
    }

    /// The key two identities collide under: Entra compares GUIDs without
    /// regard to case.
    pub fn key(&self) -> Identity {
        Identity::ObjectId(self.name().to_ascii_lowercase())
    }
}

/// What a role's grants assign on `azure-pim` providers.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawPermissions {
    /// `azure-pim` roles only: the Azure roles a grant assigns at the
    /// provider's scope for the window, each a role assignment of its own
    /// that Azure ends: built-in or custom role names (`Contributor`,
    /// `Storage Blob Data Reader`) or role definition ids (a GUID).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub azure_roles: Vec<String>,
}

impl RawPermissions {
    /// Whether it assigns nothing.
    pub fn is_empty(&self) -> bool {
        self.azure_roles.is_empty()
    }
}
