//! The client of Resource Manager v3's IAM methods (`getIamPolicy`,
//! `setIamPolicy`) on projects, folders and organizations.
//!
//! Credentials are Application Default Credentials through Google's own
//! `google-cloud-auth`: `GOOGLE_APPLICATION_CREDENTIALS` naming a
//! service-account key, an `external_account` file (Workload Identity
//! Federation, as `google-github-actions/auth` writes it from the Actions
//! job's OIDC token) or an `authorized_user` file; else gcloud's
//! well-known file, else the metadata server.
//!
//! The calls go through reqwest against the REST API, not
//! `google-cloud-resourcemanager-v3`, for three reasons: a binding gitgrant
//! does not own must be written back byte for byte, which needs the policy
//! as gitgrant's own raw-JSON model ([`super::document::Policy`]) rather
//! than the generated message (which re-serialises every field in its own
//! order and form); gitgrant decides retries itself (bounded 429/503
//! backoff, and the whole read-modify-write again on 409/412 with a re-plan
//! in between) and counts every call, which the generated client's own
//! retry loop would hide; and the crate with its generated types and
//! `google-cloud-gax` adds much to a cold build for two methods.
//!
//! The endpoint is gcloud's override variable,
//! `CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER` (default
//! `https://cloudresourcemanager.googleapis.com/`).

use crate::providers::first_line;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::document::{self, POLICY_VERSION, Policy};
use crate::providers::Calls;

/// Google's endpoint for Resource Manager.
pub const DEFAULT_ENDPOINT: &str = "https://cloudresourcemanager.googleapis.com/";
/// gcloud's variable that overrides it (a local stand-in, a private endpoint).
pub const ENDPOINT_ENV: &str = "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER";
/// The scope the access token asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Attempts per call, the first included, while Google answers 429 or 503.
pub const MAX_ATTEMPTS: u32 = 6;
/// Rounds of read-modify-write while Google answers 409 `ABORTED` or 412.
pub const MAX_ROUNDS: u32 = 5;
/// How long one attempt may take, answer included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read: a policy of 1,500 principals with long
/// conditions is well under 1 MiB.
pub const MAX_BODY: usize = 4 << 20;
/// The service name calls are counted under.
pub const SERVICE: &str = "cloudresourcemanager";

/// What to set when no credentials were found or Google refused them.
const NO_CREDENTIALS: &str = "no usable Google Cloud credentials: set GOOGLE_APPLICATION_CREDENTIALS to a service-account key or to the external_account file of Workload Identity Federation \
(in GitHub Actions, google-github-actions/auth with the workload identity provider and service account writes it)";

/// A failed read or change in Google Cloud, in one line.
#[derive(Debug, thiserror::Error)]
pub enum GcpError {
    /// A call failed (after the bounded retries, when it retries).
    #[error("{method} {resource}: {detail}")]
    Call {
        /// `getIamPolicy` or `setIamPolicy`.
        method: &'static str,
        /// The resource, such as `projects/acme-prod`.
        resource: String,
        /// Google's status and message, or what to do, in one line.
        detail: String,
    },
    /// The policy kept changing between gitgrant's read and its write.
    #[error(
        "setIamPolicy {resource}: the allow policy changed between each of {rounds} reads and the write that followed; nothing was written, the next run tries again"
    )]
    Contended {
        /// The resource.
        resource: String,
        /// Rounds tried.
        rounds: u32,
    },
    /// A write gitgrant refuses to make: it would break a quota, or drop
    /// conditions, or overwrite without an etag.
    #[error("setIamPolicy {resource}: not written: {why}")]
    Refused {
        /// The resource.
        resource: String,
        /// Why, naming the quota or the rule.
        why: String,
    },
}

/// The client: one per run, shared by every resource it reaches.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    endpoint: String,
    /// Where access tokens come from (cached and refreshed by the crate).
    credentials: google_cloud_auth::credentials::AccessTokenCredentials,
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

/// What [`Client::read_modify_write`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The plan asked for no change: the policy as read (one read, no write).
    Unchanged(Policy),
    /// The policy as Google stored it after the write.
    Written(Policy),
}

/// The endpoint the environment names.
pub fn endpoint() -> String {
    std::env::var(ENDPOINT_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
}

impl Client {
    /// A client with Application Default Credentials and the endpoint the
    /// environment names. No call is made until the first read. Async
    /// because the credentials' token cache runs as a task of the caller's
    /// tokio runtime; use the client on that runtime.
    pub async fn from_env() -> Result<Client, GcpError> {
        let creds = google_cloud_auth::credentials::Builder::default()
            .with_scopes([SCOPE])
            .build_access_token_credentials();
        Client::build(endpoint(), creds)
    }

    /// A client of `endpoint` (ending in `/`) with the credentials of a
    /// credentials file's JSON: a `service_account` key, an
    /// `external_account` configuration or an `authorized_user`. Async for
    /// the same reason as [`Client::from_env`].
    pub async fn new(endpoint: &str, credentials: serde_json::Value) -> Result<Client, GcpError> {
        use google_cloud_auth::credentials::{external_account, service_account, user_account};
        let creds = match credentials["type"].as_str() {
            Some("service_account") => service_account::Builder::new(credentials)
                .with_access_specifier(service_account::AccessSpecifier::from_scopes([SCOPE]))
                .build_access_token_credentials(),
            Some("external_account") => external_account::Builder::new(credentials)
                .with_scopes([SCOPE])
                .build_access_token_credentials(),
            _ => user_account::Builder::new(credentials)
                .with_scopes([SCOPE])
                .build_access_token_credentials(),
        };
        Client::build(endpoint.to_string(), creds)
    }

    fn build(
        endpoint: String,
        creds: Result<
            google_cloud_auth::credentials::AccessTokenCredentials,
            google_cloud_auth::build_errors::Error,
        >,
    ) -> Result<Client, GcpError> {
        let creds = creds.map_err(|e| {
            tracing::info!("Google Cloud credentials: {e:#}");
            GcpError::Call {
                method: "credentials",
                resource: String::new(),
                detail: format!("{NO_CREDENTIALS} ({})", first_line(&e.to_string())),
            }
        })?;
        let http = crate::http::client(CALL_TIMEOUT).map_err(|e| GcpError::Call {
            method: "client",
            resource: String::new(),
            detail: first_line(&e),
        })?;
        let endpoint = if endpoint.ends_with('/') {
            endpoint
        } else {
            format!("{endpoint}/")
        };
        Ok(Client {
            http,
            endpoint,
            credentials: creds,
            calls: Arc::new(Mutex::new(Calls::default())),
            backoff: Duration::from_millis(500),
        })
    }

    /// The same client waiting `base` before its first retry (doubling
    /// after each, at most 16 times `base`).
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
                // `Calls::count` sorts by AWS's `Get`/`List` prefixes; Google's
                // method names are lower camel case, so the map is chosen here.
                let map = if method.starts_with("get") {
                    &mut c.reads
                } else {
                    &mut c.writes
                };
                *map.entry(format!("{SERVICE}:{method}")).or_default() += 1;
            }
        }
    }

    fn wait(&self, attempt: u32) -> Duration {
        // Exponential, capped, with up to a quarter of jitter from the clock
        // (no random number crate for this).
        let base = self.backoff * 2u32.pow(attempt.min(4));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }

    async fn token(&self, method: &'static str, resource: &str) -> Result<String, GcpError> {
        self.credentials
            .access_token()
            .await
            .map(|t| t.token)
            .map_err(|e| {
                tracing::info!("{method} {resource}: credentials: {e:#}");
                GcpError::Call {
                    method,
                    resource: resource.to_string(),
                    detail: format!("{NO_CREDENTIALS} ({})", first_line(&e.to_string())),
                }
            })
    }

    /// One method call, retried with backoff while Google answers 429 or
    /// 503 (or the connection fails), at most [`MAX_ATTEMPTS`] attempts.
    /// The answer's text on success (parsed by the caller from the text, so
    /// that bindings keep their bytes); any other error status is returned
    /// as `(status, body)`.
    async fn call(
        &self,
        method: &'static str,
        resource: &str,
        body: &impl serde::Serialize,
    ) -> Result<Result<String, (u16, Value)>, GcpError> {
        let url = format!("{}v3/{resource}:{method}", self.endpoint);
        self.count(method, false);
        let mut attempt = 0;
        loop {
            let token = self.token(method, resource).await?;
            let sent = self
                .http
                .post(&url)
                .bearer_auth(token)
                .json(body)
                .send()
                .await;
            let last = match sent {
                Ok(r) => {
                    let code = r.status().as_u16();
                    let deadline = tokio::time::Instant::now() + CALL_TIMEOUT;
                    let text = match crate::http::body(r, MAX_BODY, deadline).await {
                        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                        Err(failure) => {
                            return Err(GcpError::Call {
                                method,
                                resource: resource.to_string(),
                                detail: format!("reading Google's answer (HTTP {code}): {failure}"),
                            });
                        }
                    };
                    if (200..300).contains(&code) {
                        return Ok(Ok(text));
                    }
                    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    if code != 429 && code != 503 {
                        tracing::info!("{method} {resource}: HTTP {code}: {text}");
                        return Ok(Err((code, parsed)));
                    }
                    format!("HTTP {code} {}", status_of(&parsed))
                }
                Err(e) => {
                    tracing::info!("{method} {resource}: {e:#}");
                    if !(e.is_connect() || e.is_timeout()) {
                        return Err(self.transport(method, resource, e));
                    }
                    if attempt + 1 >= MAX_ATTEMPTS {
                        return Err(self.transport(method, resource, e));
                    }
                    e.to_string()
                }
            };
            attempt += 1;
            if attempt >= MAX_ATTEMPTS {
                return Err(GcpError::Call {
                    method,
                    resource: resource.to_string(),
                    detail: format!(
                        "Google still answered {last} after {MAX_ATTEMPTS} attempts; the next run tries again"
                    ),
                });
            }
            self.count(method, true);
            tokio::time::sleep(self.wait(attempt - 1)).await;
        }
    }

    fn transport(&self, method: &'static str, resource: &str, e: reqwest::Error) -> GcpError {
        let detail = if e.is_timeout() {
            format!(
                "{} did not answer in time; try again, or check {ENDPOINT_ENV}",
                self.endpoint
            )
        } else if e.is_connect() {
            format!(
                "could not connect to {}: check the network, or {ENDPOINT_ENV} for a local endpoint",
                self.endpoint
            )
        } else {
            first_line(&e.without_url().to_string())
        };
        GcpError::Call {
            method,
            resource: resource.to_string(),
            detail,
        }
    }

    /// The allow policy of `resource`, asked for at version 3 (a version-1
    /// read would hide every condition).
    pub async fn get_policy(&self, resource: &str) -> Result<Policy, GcpError> {
        let body = json!({"options": {"requestedPolicyVersion": POLICY_VERSION}});
        match self.call("getIamPolicy", resource, &body).await? {
            Ok(text) => serde_json::from_str(&text).map_err(|e| GcpError::Call {
                method: "getIamPolicy",
                resource: resource.to_string(),
                detail: format!("Google's answer is not an allow policy: {e}"),
            }),
            Err((code, body)) => Err(status_error("getIamPolicy", resource, code, &body)),
        }
    }

    /// Writes `policy` to `resource`: refused unless it carries an etag (a
    /// write without one overwrites whatever changed since the read) and is
    /// version 3 (a version-1 write drops every condition), and unless it
    /// keeps every quota. `Ok(Err(status))` is Google's 409 or 412: the
    /// policy changed since it was read.
    pub async fn set_policy(
        &self,
        resource: &str,
        policy: &Policy,
    ) -> Result<Result<Policy, u16>, GcpError> {
        let refused = |why: String| GcpError::Refused {
            resource: resource.to_string(),
            why,
        };
        if policy.etag.as_deref().is_none_or(str::is_empty) {
            return Err(refused(
                "the policy carries no etag, and gitgrant never overwrites an allow policy blindly"
                    .into(),
            ));
        }
        if policy.version != POLICY_VERSION {
            return Err(refused(format!(
                "the policy is version {}, and only version {POLICY_VERSION} keeps conditions",
                policy.version
            )));
        }
        let broken = document::quotas(policy);
        if !broken.is_empty() {
            let words: Vec<String> = broken.iter().map(ToString::to_string).collect();
            return Err(refused(words.join("; ")));
        }
        // Serialised straight from the policy (never through a
        // `serde_json::Value`, whose maps would sort every binding's keys).
        let body = SetIamPolicy {
            policy,
            update_mask: "bindings,etag",
        };
        match self.call("setIamPolicy", resource, &body).await? {
            Ok(text) => serde_json::from_str(&text)
                .map(Ok)
                .map_err(|e| GcpError::Call {
                    method: "setIamPolicy",
                    resource: resource.to_string(),
                    detail: format!("Google's answer is not an allow policy: {e}"),
                }),
            Err((code @ (409 | 412), _)) => Ok(Err(code)),
            Err((code, body)) => Err(status_error("setIamPolicy", resource, code, &body)),
        }
    }

    /// Google's read-modify-write: read the policy at version 3, let `plan`
    /// say what to write (`None`: nothing), write it with the etag read.
    /// When Google answers 409 `ABORTED` or 412 (someone wrote between the
    /// read and the write), wait, read again, plan again over the fresh
    /// policy and retry, at most [`MAX_ROUNDS`] rounds. The written policy
    /// always carries the etag of the read it was planned from.
    pub async fn read_modify_write<F>(
        &self,
        resource: &str,
        mut plan: F,
    ) -> Result<Outcome, GcpError>
    where
        F: FnMut(&Policy) -> Option<Policy>,
    {
        for round in 0..MAX_ROUNDS {
            let read = self.get_policy(resource).await?;
            let Some(mut next) = plan(&read) else {
                return Ok(Outcome::Unchanged(read));
            };
            next.etag.clone_from(&read.etag);
            match self.set_policy(resource, &next).await? {
                Ok(written) => return Ok(Outcome::Written(written)),
                Err(code) => {
                    tracing::info!(
                        "setIamPolicy {resource}: HTTP {code}, the policy changed since it was read; reading it again"
                    );
                    self.count("setIamPolicy", true);
                    tokio::time::sleep(self.wait(round)).await;
                }
            }
        }
        Err(GcpError::Contended {
            resource: resource.to_string(),
            rounds: MAX_ROUNDS,
        })
    }
}

/// The body of `setIamPolicy`.
#[derive(serde::Serialize)]
struct SetIamPolicy<'a> {
    policy: &'a Policy,
    #[serde(rename = "updateMask")]
    update_mask: &'a str,
}

/// `STATUS: message` of a `google.rpc.Status` body, or empty.
fn status_of(body: &Value) -> String {
    let e = &body["error"];
    match (e["status"].as_str(), e["message"].as_str()) {
        (Some(s), Some(m)) => format!("{s}: {}", first_line(m)),
        (Some(s), None) => s.to_string(),
        (None, Some(m)) => first_line(m),
        (None, None) => String::new(),
    }
}

/// The permission a method needs on a resource:
/// `resourcemanager.projects.setIamPolicy` and the like.
pub fn permission(method: &str, resource: &str) -> String {
    let kind = resource.split('/').next().unwrap_or("projects");
    format!("resourcemanager.{kind}.{method}")
}

/// A Google error status as one line that says what to do.
fn status_error(method: &'static str, resource: &str, code: u16, body: &Value) -> GcpError {
    let said = status_of(body);
    let said = if said.is_empty() {
        format!("HTTP {code}")
    } else {
        said
    };
    let detail = match code {
        401 => format!("{said}; {NO_CREDENTIALS}"),
        403 => format!(
            "{said}; the reconciler's principal needs {} on {resource} (the custom role `gitgrant iam-policy` prints), and the resource must exist",
            permission(method, resource)
        ),
        404 => format!("{said}; check the provider's resource ({resource})"),
        _ => said,
    };
    GcpError::Call {
        method,
        resource: resource.to_string(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_set() {
        let body = json!({"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}});
        let e = status_error("setIamPolicy", "folders/123", 403, &body).to_string();
        assert!(
            e.starts_with(
                "setIamPolicy folders/123: PERMISSION_DENIED: The caller does not have permission;"
            ),
            "{e}"
        );
        assert!(e.contains("resourcemanager.folders.setIamPolicy"), "{e}");
        let e = status_error("getIamPolicy", "projects/p-123456", 401, &Value::Null).to_string();
        assert!(
            e.contains("HTTP 401") && e.contains("GOOGLE_APPLICATION_CREDENTIALS"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
