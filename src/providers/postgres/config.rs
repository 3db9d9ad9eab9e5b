//! What `gitgrant.yaml` says for the `postgres` kind, as data: where the
//! connection URL comes from, a person's own login role, and the schemas
//! and roles a grant hands out. Imports nothing of the policy.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The keys of a `postgres` provider.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub struct RawProvider {
    /// `postgres` only: the environment variable (`GITGRANT_*`) that holds
    /// the database's connection URL (`postgres://…`, `sslmode` honoured).
    /// The URL, with its password, never comes from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
}

/// A role's keys for the `postgres` kind: none beside its permissions.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawRole {}

/// A person's PostgreSQL login as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawIdentity {
    /// The person's own login role, which the database already has
    /// (`vendor_globex`): a grant's role is granted to it for the window.
    /// Matched exactly, as a quoted identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_user: Option<String>,
}

impl RawIdentity {
    /// The identity written, if any.
    pub fn identity(&self) -> Option<Identity> {
        self.postgres_user.clone().map(Identity::User)
    }

    /// Whether any of its keys is written.
    pub fn is_set(&self) -> bool {
        self.postgres_user.is_some()
    }
}

/// A PostgreSQL login role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Identity {
    /// The login role's name.
    #[serde(rename = "postgres_user")]
    User(String),
}

impl Identity {
    /// `PostgreSQL login`.
    pub fn kind_words(&self) -> &'static str {
        "PostgreSQL login"
    }

    /// The role's name as written.
    pub fn name(&self) -> &str {
        let Identity::User(u) = self;
        u
    }

    /// The key two identities collide under: the name itself, which
    /// gitgrant always quotes (so case counts).
    pub fn key(&self) -> Identity {
        self.clone()
    }
}

/// What a role's grants hand out on `postgres` providers.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
pub struct RawPermissions {
    /// `postgres` roles only: the schemas and roles a grant hands out in
    /// the provider's database, through a role of the grant's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<RawPostgres>,
}

/// What a role that names no `postgres:` hands out: nothing.
static NOTHING: RawPostgres = RawPostgres {
    schemas: BTreeMap::new(),
    roles: Vec::new(),
};

impl RawPermissions {
    /// Whether it hands out nothing.
    pub fn is_empty(&self) -> bool {
        self.get().is_empty()
    }

    /// What it hands out (nothing when it names no `postgres:`).
    pub fn get(&self) -> &RawPostgres {
        self.postgres.as_ref().unwrap_or(&NOTHING)
    }
}

/// A database's privileges, as a role writes them.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPostgres {
    /// Privileges on every table (and view) of each schema, by schema:
    /// `sales: [SELECT]`. `USAGE` on the schema is implied. From
    /// `SELECT`, `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`, `REFERENCES`
    /// and `TRIGGER` (which needs `allow_admin`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub schemas: BTreeMap<String, Vec<String>>,
    /// Roles the database already has, granted for the window
    /// (`reporting`). A role that is a superuser, can create roles or
    /// bypasses row security needs `allow_admin`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl RawPostgres {
    /// Whether it hands out nothing.
    pub fn is_empty(&self) -> bool {
        self.schemas.values().all(Vec::is_empty) && self.roles.is_empty()
    }

    /// The table privileges by schema, as PostgreSQL spells them (those
    /// validation refuses are left out).
    pub fn privileges(&self) -> BTreeMap<String, BTreeSet<&'static str>> {
        (self.schemas.iter())
            .map(|(s, ps)| (s.clone(), ps.iter().filter_map(|p| super::names::privilege(p)).collect()))
            .collect()
    }
}
