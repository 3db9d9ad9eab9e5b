//! The client of Azure Resource Manager's PIM methods for Azure resources
//! (`Microsoft.Authorization`, api-version 2020-10-01): role definitions,
//! role assignment schedule requests and their instances at a scope.
//!
//! Tokens come from Entra ID through Microsoft's `azure_identity`
//! (workload identity federation: `AZURE_CLIENT_ID`,
//! `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST`; the tenant is the
//! provider's `tenant_id`). The calls go through reqwest: there is no
//! maintained Rust crate for `Microsoft.Authorization`'s schedule
//! requests, and gitgrant counts every call and decides its retries
//! itself (429 with `Retry-After`, 5xx, no connection; bounded).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use base64::Engine as _;
use serde_json::Value;

use crate::providers::{Calls, first_line};

/// The api-version of the schedule methods.
pub const PIM_API_VERSION: &str = "2020-10-01";
/// The api-version of role definitions.
pub const DEFINITIONS_API_VERSION: &str = "2022-04-01";
/// Attempts per call, the first included, while ARM throttles or fails.
pub const MAX_ATTEMPTS: u32 = 6;
/// How long one attempt may take, answer included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The largest answer read (one page).
pub const MAX_BODY: usize = 8 << 20;
/// The most pages of one list followed.
pub const MAX_PAGES: usize = 200;
/// The service name calls are counted under.
pub const SERVICE: &str = "authorization";

/// What to set when no credentials were found or Entra refused them.
const NO_CREDENTIALS: &str = "no usable Azure credentials: set AZURE_CLIENT_ID and AZURE_FEDERATED_TOKEN_FILE for workload identity federation \
(in GitHub Actions, the reusable workflow writes the token file from the job's OIDC token given azure-client-id and azure-tenant-id)";

/// A failed read or change in Azure, in one line.
#[derive(Debug, thiserror::Error)]
#[error("{method} {scope}: {detail}")]
pub struct AzureError {
    /// The method, such as `PutRoleAssignmentScheduleRequest`.
    pub method: &'static str,
    /// The scope.
    pub scope: String,
    /// ARM's code and message, or what to do, in one line.
    pub detail: String,
}

/// An ARM error answer: its status, code and message.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// ARM's `error.code`.
    pub code: String,
    /// ARM's `error.message`, first line.
    pub message: String,
}

/// The client: one per provider per run.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    audience: String,
    credential: Arc<dyn TokenCredential>,
    calls: Arc<Mutex<Calls>>,
    backoff: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of ARM at `endpoint` (`https://management.azure.com`),
    /// with workload identity federation in `tenant`. The token file is
    /// read now; no call is made until the first read.
    pub fn from_env(tenant: &str, endpoint: &str) -> Result<Client, AzureError> {
        let fail = |detail: String| AzureError {
            method: "credentials",
            scope: String::new(),
            detail,
        };
        for var in ["AZURE_CLIENT_ID", "AZURE_FEDERATED_TOKEN_FILE"] {
            if std::env::var(var).map_or(true, |v| v.trim().is_empty()) {
                return Err(fail(format!("{var} is not set; {NO_CREDENTIALS}")));
            }
        }
        let options = azure_identity::WorkloadIdentityCredentialOptions {
            tenant_id: Some(tenant.to_string()),
            ..Default::default()
        };
        let credential = azure_identity::WorkloadIdentityCredential::new(Some(options))
            .map_err(|e| {
                tracing::info!("Azure credentials: {e:#}");
                fail(format!("{NO_CREDENTIALS} ({})", first_line(&e.to_string())))
            })?;
        let http = crate::http::client(CALL_TIMEOUT).map_err(|e| fail(first_line(&e)))?;
        let endpoint = endpoint.trim_end_matches('/').to_string();
        Ok(Client {
            http,
            audience: format!("{endpoint}/.default"),
            endpoint,
            credential,
            calls: Arc::new(Mutex::new(Calls::default())),
            backoff: Duration::from_millis(500),
        })
    }

    /// The same client waiting `base` before its first retry when ARM
    /// gives no `Retry-After`.
    pub fn with_backoff(mut self, base: Duration) -> Client {
        self.backoff = base;
        self
    }

    /// The calls made so far.
    pub fn calls(&self) -> Calls {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn count(&self, method: &str, retry: bool) {
        if let Ok(mut c) = self.calls.lock() {
            if retry {
                c.retries += 1;
            } else {
                c.count(SERVICE, method);
            }
        }
    }

    async fn token(&self, method: &'static str, scope: &str) -> Result<String, AzureError> {
        match self.credential.get_token(&[&self.audience], None).await {
            Ok(t) => Ok(t.token.secret().to_string()),
            Err(e) => {
                tracing::info!("{method} {scope}: credentials: {e:#}");
                Err(AzureError {
                    method,
                    scope: scope.to_string(),
                    detail: format!("{NO_CREDENTIALS} ({})", first_line(&e.to_string())),
                })
            }
        }
    }

    /// The object id of the principal the reconciler acts as: the `oid`
    /// of its own access token (Entra's, not a caller's). PIM records it
    /// as the requestor of every request the reconciler makes, which is
    /// how gitgrant tells its own requests from look-alikes.
    pub async fn me(&self, scope: &str) -> Result<String, AzureError> {
        let token = self.token("credentials", scope).await?;
        let oid = token
            .split('.')
            .nth(1)
            .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["oid"].as_str().map(str::to_ascii_lowercase));
        oid.ok_or_else(|| AzureError {
            method: "credentials",
            scope: scope.to_string(),
            detail: "Entra's access token names no object id (`oid`); the reconciler must sign in as a service principal or managed identity".into(),
        })
    }

    fn url(&self, scope: &str, path: &str, api: &str) -> String {
        format!(
            "{}{scope}/providers/Microsoft.Authorization/{path}{}api-version={api}",
            self.endpoint,
            if path.contains('?') { "&" } else { "?" }
        )
    }

    /// One call, retried while ARM answers 429 (after its `Retry-After`)
    /// or 5xx, or no connection is made, at most [`MAX_ATTEMPTS`]. The
    /// parsed answer on success; any other status as [`Refused`].
    async fn call(
        &self,
        method: &'static str,
        scope: &str,
        verb: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Result<Value, Refused>, AzureError> {
        self.count(method, false);
        let fail = |detail: String| AzureError {
            method,
            scope: scope.to_string(),
            detail,
        };
        let mut attempt = 0;
        loop {
            let token = self.token(method, scope).await?;
            let mut req = self.http.request(verb.clone(), url).bearer_auth(token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let (last, wait) = match req.send().await {
                Ok(r) => {
                    let code = r.status().as_u16();
                    let after = r
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
                    let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
                    let bytes = crate::http::body(r, MAX_BODY, deadline)
                        .await
                        .map_err(|f| fail(format!("reading ARM's answer (HTTP {code}): {f}")))?;
                    let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if (200..300).contains(&code) {
                        return Ok(Ok(parsed));
                    }
                    let refused = refused(code, &parsed);
                    if code != 429 && code < 500 {
                        tracing::info!("{method} {scope}: HTTP {code}: {}", String::from_utf8_lossy(&bytes));
                        return Ok(Err(refused));
                    }
                    (format!("HTTP {code} {}", refused.code), after)
                }
                Err(e) => {
                    tracing::info!("{method} {scope}: {e:#}");
                    if !(e.is_connect() || e.is_timeout()) || attempt + 1 >= MAX_ATTEMPTS {
                        return Err(fail(if e.is_connect() {
                            format!("could not connect to {}: check the network, or the provider's management_endpoint", self.endpoint)
                        } else if e.is_timeout() {
                            format!("{} did not answer in time; the next run tries again", self.endpoint)
                        } else {
                            first_line(&e.without_url().to_string())
                        }));
                    }
                    (e.to_string(), None)
                }
            };
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                return Err(fail(format!(
                    "ARM still answered {last} after {MAX_ATTEMPTS} attempts; the next run tries again"
                )));
            }
            self.count(method, true);
            let backoff = self.backoff * 2u32.pow((attempt - 1).min(4));
            tokio::time::sleep(wait.unwrap_or(backoff)).await;
        }
    }

    /// Every item of a list, following `nextLink` (only to this client's
    /// own endpoint: the token never goes elsewhere).
    async fn list(
        &self,
        method: &'static str,
        scope: &str,
        first: String,
    ) -> Result<Vec<Value>, AzureError> {
        let mut out = Vec::new();
        let mut url = first;
        for _ in 0..MAX_PAGES {
            let page = match self.call(method, scope, reqwest::Method::GET, &url, None).await? {
                Ok(v) => v,
                Err(r) => return Err(error(method, scope, &r)),
            };
            if let Some(items) = page["value"].as_array() {
                out.extend(items.iter().cloned());
            }
            match page["nextLink"].as_str().filter(|l| !l.is_empty()) {
                None => return Ok(out),
                Some(next) if next.starts_with(&format!("{}/", self.endpoint)) => {
                    url = next.to_string();
                }
                Some(next) => {
                    return Err(AzureError {
                        method,
                        scope: scope.to_string(),
                        detail: format!(
                            "ARM's nextLink leads away from {} ({}); not followed",
                            self.endpoint,
                            first_line(next)
                        ),
                    });
                }
            }
        }
        Err(AzureError {
            method,
            scope: scope.to_string(),
            detail: format!("more than {MAX_PAGES} pages; not read to the end"),
        })
    }

    /// The role definitions assignable at `scope`.
    pub async fn definitions(&self, scope: &str) -> Result<Vec<Value>, AzureError> {
        let url = self.url(scope, "roleDefinitions", DEFINITIONS_API_VERSION);
        self.list("ListRoleDefinitions", scope, url).await
    }

    /// The role assignment schedule requests at `scope` (and above it).
    pub async fn requests(&self, scope: &str) -> Result<Vec<Value>, AzureError> {
        let url = self.url(
            scope,
            "roleAssignmentScheduleRequests?$filter=atScope()",
            PIM_API_VERSION,
        );
        self.list("ListRoleAssignmentScheduleRequests", scope, url).await
    }

    /// The role assignments in force at `scope` (and above it), as
    /// schedule instances.
    pub async fn instances(&self, scope: &str) -> Result<Vec<Value>, AzureError> {
        let url = self.url(
            scope,
            "roleAssignmentScheduleInstances?$filter=atScope()",
            PIM_API_VERSION,
        );
        self.list("ListRoleAssignmentScheduleInstances", scope, url).await
    }

    /// Makes the schedule request `name` at `scope`: ARM's answer, or
    /// its refusal.
    pub async fn put_request(
        &self,
        scope: &str,
        name: &str,
        body: &Value,
    ) -> Result<Result<Value, Refused>, AzureError> {
        let url = self.url(scope, &format!("roleAssignmentScheduleRequests/{name}"), PIM_API_VERSION);
        self.call("PutRoleAssignmentScheduleRequest", scope, reqwest::Method::PUT, &url, Some(body))
            .await
    }

    /// The schedule request `name` at `scope`, if it exists.
    pub async fn get_request(&self, scope: &str, name: &str) -> Result<Option<Value>, AzureError> {
        let url = self.url(scope, &format!("roleAssignmentScheduleRequests/{name}"), PIM_API_VERSION);
        match self
            .call("GetRoleAssignmentScheduleRequest", scope, reqwest::Method::GET, &url, None)
            .await?
        {
            Ok(v) => Ok(Some(v)),
            Err(r) if r.status == 404 => Ok(None),
            Err(r) => Err(error("GetRoleAssignmentScheduleRequest", scope, &r)),
        }
    }
}

/// ARM's `{"error":{"code","message"}}`.
fn refused(status: u16, body: &Value) -> Refused {
    let e = &body["error"];
    Refused {
        status,
        code: e["code"].as_str().unwrap_or_default().to_string(),
        message: first_line(e["message"].as_str().unwrap_or_default()),
    }
}

/// An ARM refusal as one line that says what to do.
pub fn error(method: &'static str, scope: &str, r: &Refused) -> AzureError {
    let said = match (r.code.is_empty(), r.message.is_empty()) {
        (true, true) => format!("HTTP {}", r.status),
        (false, true) => r.code.clone(),
        (true, false) => r.message.clone(),
        (false, false) => format!("{}: {}", r.code, r.message),
    };
    let detail = match r.status {
        401 => format!("{said}; {NO_CREDENTIALS}"),
        403 => format!(
            "{said}; the reconciler's principal needs the custom role `gitgrant iam-policy` prints, assigned at {scope}"
        ),
        404 => format!("{said}; check the provider's scope ({scope})"),
        _ => said,
    };
    AzureError {
        method,
        scope: scope.to_string(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_say_what_to_do() {
        let body = serde_json::json!({"error": {"code": "AuthorizationFailed", "message": "The client 'x' with object id 'y' does not have authorization\nto perform action"}});
        let e = error("PutRoleAssignmentScheduleRequest", "/subscriptions/s", &refused(403, &body)).to_string();
        assert!(e.starts_with("PutRoleAssignmentScheduleRequest /subscriptions/s: AuthorizationFailed: The client"), "{e}");
        assert!(e.contains("gitgrant iam-policy") && !e.contains('\n'), "{e}");
        let e = error("ListRoleDefinitions", "/subscriptions/s", &refused(401, &Value::Null)).to_string();
        assert!(e.contains("HTTP 401") && e.contains("AZURE_CLIENT_ID"), "{e}");
    }
}
