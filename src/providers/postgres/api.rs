//! The client of one PostgreSQL database: a connection made from the URL
//! in the provider's environment variable (TLS through rustls, `sslmode`
//! honoured), the one catalogue query a run reads, and the transactions
//! its changes run.

use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio_postgres::config::SslMode;

use super::tls::{Tls, split_url};
use super::plan::{DbRole, Membership, SchemaPrivilege, TablePrivilege};
use crate::providers::Calls;

/// A failed connection, read or change, in one line.
#[derive(Debug, thiserror::Error)]
#[error("PostgreSQL {provider}: {what}")]
pub struct PgError {
    /// The provider.
    pub provider: String,
    /// What went wrong and what to do, in one line.
    pub what: String,
    /// The server's SQLSTATE, when it answered with an error.
    pub code: Option<String>,
    /// The driver's error, under `-v`.
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl PgError {
    pub(crate) fn new(provider: &str, what: impl Into<String>) -> PgError {
        PgError {
            provider: provider.to_string(),
            what: what.into(),
            code: None,
            source: None,
        }
    }

    /// The driver's error `e` while doing `doing`, in one line: the
    /// server's own message when it sent one.
    fn of(provider: &str, doing: &str, e: tokio_postgres::Error) -> PgError {
        let what = match e.as_db_error() {
            Some(db) => format!(
                "{doing}: {} (SQLSTATE {}){}",
                crate::providers::first_line(db.message()),
                db.code().code(),
                match db.code().code() {
                    "42501" => "; grant the reconciler's role what `gitgrant iam-policy` prints",
                    _ => "",
                }
            ),
            None => {
                // The driver's own words, then its cause (a TLS handshake
                // says why in its source: the certificate's issuer, name).
                let mut words = e.to_string();
                let mut cause = std::error::Error::source(&e);
                while let Some(c) = cause {
                    let text = c.to_string();
                    if !words.contains(&text) {
                        words = format!("{words}: {text}");
                    }
                    cause = c.source();
                }
                format!("{doing}: {}", crate::providers::first_line(&words))
            }
        };
        PgError {
            provider: provider.to_string(),
            what,
            code: e.code().map(|c| c.code().to_string()),
            source: Some(Box::new(e)),
        }
    }
}

/// One database, reached.
pub struct Client {
    provider: String,
    client: tokio_postgres::Client,
    calls: Mutex<Calls>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("provider", &self.provider).finish()
    }
}

impl Client {
    /// Connects to `provider`'s database at the URL in `url_env`.
    pub async fn connect(provider: &str, url_env: &str) -> Result<Client, PgError> {
        let url = std::env::var(url_env).map_err(|_| {
            PgError::new(
                provider,
                format!("{url_env} is not set; set it to the database's connection URL (postgres://…)"),
            )
        })?;
        let (url, tls, root) = split_url(&url)
            .map_err(|why| PgError::new(provider, format!("{url_env}: {why}")))?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| PgError {
            provider: provider.to_string(),
            what: format!("{url_env} is not a connection URL gitgrant can read"),
            code: None,
            source: Some(Box::new(e)),
        })?;
        if config.get_application_name().is_none() {
            config.application_name("gitgrant");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.ssl_mode(match tls {
            Tls::Disable => SslMode::Disable,
            Tls::Prefer => SslMode::Prefer,
            Tls::Require | Tls::VerifyCa | Tls::VerifyFull => SslMode::Require,
        });
        let connector = super::tls::connector(tls, root.as_deref())
            .map_err(|why| PgError::new(provider, why))?;
        let where_ = config
            .get_hosts()
            .first()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                #[allow(unreachable_patterns)] // Unix sockets exist on unix only
                _ => "a local socket".to_string(),
            })
            .unwrap_or_else(|| "localhost".to_string());
        let (client, connection) = config.connect(connector).await.map_err(|e| {
            PgError::of(
                provider,
                &format!("could not connect to {where_} (from {url_env}); check the URL and that the server is up"),
                e,
            )
        })?;
        let name = provider.to_string();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!("PostgreSQL {name}: the connection ended: {e}");
            }
        });
        Ok(Client {
            provider: provider.to_string(),
            client,
            calls: Mutex::new(Calls::default()),
        })
    }

    fn count(&self, operation: &str) {
        if let Ok(mut c) = self.calls.lock() {
            c.count("postgres", operation);
        }
    }

    /// The calls made so far.
    pub fn calls(&self) -> Calls {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// The catalogue, in one query.
    pub async fn catalogue(&self) -> Result<Catalogue, PgError> {
        self.count("GetCatalogue");
        let row = (self.client.query_one(CATALOGUE, &[]).await)
            .map_err(|e| PgError::of(&self.provider, "reading the catalogue", e))?;
        let text: String = row.try_get(0).map_err(|e| PgError::of(&self.provider, "reading the catalogue", e))?;
        serde_json::from_str(&text).map_err(|e| PgError {
            provider: self.provider.clone(),
            what: "the catalogue's answer could not be read".to_string(),
            code: None,
            source: Some(Box::new(e)),
        })
    }

    /// Runs `statements` as `operation`, in one transaction: one simple
    /// query, which PostgreSQL runs as a single transaction (all or
    /// nothing).
    pub async fn transaction(&self, operation: &str, statements: &[String]) -> Result<(), PgError> {
        self.count(operation);
        (self.client.batch_execute(&statements.join(";\n")).await)
            .map_err(|e| PgError::of(&self.provider, operation, e))
    }

    /// Ends every session of the logins `users` but the reconciler's own,
    /// in every database of the server; how many it ended.
    pub async fn end_sessions(&self, users: &[String]) -> Result<u64, PgError> {
        if users.is_empty() {
            return Ok(0);
        }
        self.count("EndSessions");
        let row = (self.client.query_one(END_SESSIONS, &[&users]).await)
            .map_err(|e| PgError::of(&self.provider, "ending the sessions", e))?;
        let ended: i64 = (row.try_get(0)).map_err(|e| PgError::of(&self.provider, "ending the sessions", e))?;
        Ok(ended.max(0) as u64)
    }
}

/// The run's one read: roles, memberships, schemas, tables, and the
/// privileges of roles named like gitgrant's, as one JSON document.
const CATALOGUE: &str = r"
SELECT json_build_object(
  'me', current_user,
  'database', current_database(),
  'roles', (SELECT coalesce(json_agg(json_build_object(
      'name', r.rolname, 'login', r.rolcanlogin,
      'admin', r.rolsuper OR r.rolcreaterole OR r.rolbypassrls OR r.rolreplication,
      'comment', shobj_description(r.oid, 'pg_authid'))), '[]') FROM pg_roles r),
  'memberships', (SELECT coalesce(json_agg(json_build_object(
      'role', g.rolname, 'member', m.rolname, 'admin', a.admin_option)), '[]')
    FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member),
  'schemas', (SELECT coalesce(json_agg(n.nspname), '[]') FROM pg_namespace n
    WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'),
  'tables', (SELECT coalesce(json_agg(json_build_array(n.nspname, c.relname)), '[]')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'),
  'table_privileges', (SELECT coalesce(json_agg(json_build_object(
      'grantee', g.rolname, 'schema', n.nspname, 'table', c.relname,
      'privilege', a.privilege_type, 'grantable', a.is_grantable)), '[]')
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    CROSS JOIN LATERAL aclexplode(c.relacl) a JOIN pg_roles g ON g.oid = a.grantee
    WHERE g.rolname ~ '^gitgrant_'),
  'schema_privileges', (SELECT coalesce(json_agg(json_build_object(
      'grantee', g.rolname, 'schema', n.nspname,
      'privilege', a.privilege_type, 'grantable', a.is_grantable)), '[]')
    FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) a
    JOIN pg_roles g ON g.oid = a.grantee WHERE g.rolname ~ '^gitgrant_')
)::text";

/// Ends the sessions of the given logins, in every database, but this one.
const END_SESSIONS: &str = "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) \
     FROM pg_stat_activity WHERE usename = ANY($1) AND pid <> pg_backend_pid()";

/// What the catalogue query answers.
#[derive(Debug, Deserialize)]
pub struct Catalogue {
    /// The reconciler's role.
    pub me: String,
    /// The database.
    pub database: String,
    /// Every role.
    pub roles: Vec<DbRole>,
    /// Every membership.
    pub memberships: Vec<Membership>,
    /// The schemas.
    pub schemas: Vec<String>,
    /// `[schema, table]` pairs.
    pub tables: Vec<(String, String)>,
    /// Table privileges of roles named like gitgrant's.
    pub table_privileges: Vec<TablePrivilege>,
    /// Schema privileges of roles named like gitgrant's.
    pub schema_privileges: Vec<SchemaPrivilege>,
}
