//! A local fake of Resource Manager v3's IAM methods for projects, folders
//! and organizations (`POST /v3/{resource}:getIamPolicy` and
//! `:setIamPolicy`), and of Google's OAuth token endpoint, following
//! Google's documented shapes, since no emulator of these methods exists:
//!
//! - every answer carries an etag; a write whose etag is stale is 409
//!   `ABORTED`; a write without an etag overwrites (as Google documents)
//!   and is recorded, so tests can assert gitgrant never makes one;
//! - the version rules: a read that asks for less than version 3 of a
//!   policy with conditions answers version 1 with each conditional
//!   binding's role suffixed `_withcond_<hash>` and its condition left out;
//!   a write of version 1 (or none) holding a condition is
//!   `INVALID_ARGUMENT`, as is a condition without a title;
//! - the quotas: more than 1,500 principals or 250 groups (each
//!   occurrence counted) or a condition with more than 12 logical
//!   operators is `INVALID_ARGUMENT`, more than 20 bindings of one role
//!   and one principal `FAILED_PRECONDITION`;
//! - faults on demand: the next N requests answer 429 `RESOURCE_EXHAUSTED`
//!   or 503 `UNAVAILABLE`;
//! - a bearer-token check (401 `UNAUTHENTICATED`), an unknown resource is
//!   403 `PERMISSION_DENIED` as Google answers it;
//! - a concurrent writer: a change applied to a resource's policy right
//!   after gitgrant's next read of it, so the write that follows is stale;
//! - a count of calls by method.
//!
//! Errors are `google.rpc.Status` JSON: `{"error":{"code","message","status"}}`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

/// The access token the fake's token endpoint hands out and its API takes.
pub const TOKEN: &str = "ya29.gitgrant-fake-token";
/// The OIDC token an Actions job would hand Workload Identity Federation,
/// as the subject token the `external_account` file points to.
pub const OIDC_TOKEN: &str = "gitgrant-fake-github-oidc-jwt";
/// The refresh token the credentials file carries.
pub const REFRESH_TOKEN: &str = "gitgrant-fake-refresh-token";

/// An error status the next requests answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 `RESOURCE_EXHAUSTED`.
    Throttled,
    /// 503 `UNAVAILABLE`.
    Unavailable,
}

/// A change a concurrent writer makes to a policy (the stored JSON).
type Writer = Box<dyn FnOnce(&mut Value) + Send>;

struct Stored {
    policy: Value,
    etag: u64,
}

#[derive(Default)]
struct State {
    policies: BTreeMap<String, Stored>,
    next_etag: u64,
    faults: VecDeque<Fault>,
    concurrent: BTreeMap<String, (usize, Writer)>,
    calls: BTreeMap<String, u64>,
    writes_without_etag: u64,
    writes: Vec<Value>,
    raw_writes: Vec<String>,
    reads: Vec<Value>,
    /// Writes are stored at once but answered this much later: a run can
    /// be stopped after Google took its write and before it heard so.
    answer_writes_after: Option<std::time::Duration>,
}

/// The fake, on a real HTTP server on loopback.
pub struct FakeGcp {
    server: MockServer,
    state: Arc<Mutex<State>>,
    dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

impl FakeGcp {
    /// Starts the server with no resources.
    pub fn start() -> FakeGcp {
        let state = Arc::new(Mutex::new(State::default()));
        let (server, rt) = crate::support::serve(Responder(state.clone()));
        FakeGcp {
            server,
            state,
            dir: tempfile::tempdir().unwrap(),
            _rt: rt,
        }
    }

    /// The base URL, ending in `/`, as gcloud's endpoint override takes it.
    pub fn endpoint(&self) -> String {
        format!("{}/", self.server.uri())
    }

    /// Serves `resource` (`projects/acme-prod`) with `policy` as its allow
    /// policy (its etag is set by the fake).
    pub fn policy(&self, resource: &str, policy: Value) {
        let mut s = self.state.lock().unwrap();
        s.next_etag += 1;
        let etag = s.next_etag;
        s.policies.insert(
            resource.to_string(),
            Stored {
                policy: strip_etag(policy),
                etag,
            },
        );
    }

    /// The policy stored for `resource`, as a version-3 read answers it,
    /// without its etag.
    pub fn stored(&self, resource: &str) -> Value {
        self.state.lock().unwrap().policies[resource].policy.clone()
    }

    /// The stored policy's current etag.
    pub fn etag(&self, resource: &str) -> String {
        etag_text(self.state.lock().unwrap().policies[resource].etag)
    }

    /// The next `n` requests, of any method, answer `fault`.
    pub fn faults(&self, fault: Fault, n: usize) {
        self.state
            .lock()
            .unwrap()
            .faults
            .extend(std::iter::repeat_n(fault, n));
    }

    /// Right after the next getIamPolicy of `resource` is answered, a
    /// concurrent writer changes its policy with `change` (and so its etag).
    pub fn concurrent_write(
        &self,
        resource: &str,
        change: impl FnOnce(&mut Value) + Send + 'static,
    ) {
        self.concurrent_write_after(resource, 1, change);
    }

    /// Right after the `nth` getIamPolicy of `resource` from now is
    /// answered (a run reads once to plan and once more to write), a
    /// concurrent writer changes its policy with `change`.
    pub fn concurrent_write_after(
        &self,
        resource: &str,
        nth: usize,
        change: impl FnOnce(&mut Value) + Send + 'static,
    ) {
        self.state
            .lock()
            .unwrap()
            .concurrent
            .insert(resource.to_string(), (nth, Box::new(change)));
    }

    /// From now on, each write is stored at once but answered `delay`
    /// later, as when a run is stopped after Google took its write.
    pub fn answer_writes_after(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().answer_writes_after = Some(delay);
    }

    /// Calls by method (`getIamPolicy`, `setIamPolicy`, `token`), every
    /// request counted, faults included.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Calls of one method.
    pub fn count(&self, method: &str) -> u64 {
        self.calls().get(method).copied().unwrap_or(0)
    }

    /// How many writes came without an etag (and overwrote whatever was
    /// there, as Google lets them).
    pub fn writes_without_etag(&self) -> u64 {
        self.state.lock().unwrap().writes_without_etag
    }

    /// The body of every setIamPolicy request that reached the fake.
    pub fn writes(&self) -> Vec<Value> {
        self.state.lock().unwrap().writes.clone()
    }

    /// The text of every setIamPolicy request that reached the fake, as sent.
    pub fn raw_writes(&self) -> Vec<String> {
        self.state.lock().unwrap().raw_writes.clone()
    }

    /// The body of every getIamPolicy request that reached the fake.
    pub fn reads(&self) -> Vec<Value> {
        self.state.lock().unwrap().reads.clone()
    }

    /// The `external_account` credentials (Workload Identity Federation)
    /// that `google-github-actions/auth` would write, with the fake as the
    /// Security Token Service and `subject` in the subject-token file.
    pub fn external_account(&self, subject: &str) -> Value {
        let token = self.dir.path().join("oidc-token");
        std::fs::write(&token, subject).unwrap();
        json!({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/providers/acme",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("{}/sts/v1/token", self.server.uri()),
            "credential_source": {"file": token.display().to_string()},
        })
    }

    /// Writes an `authorized_user` credentials file whose token endpoint is
    /// the fake, and returns the environment that points Application
    /// Default Credentials and Resource Manager at the fake.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = self.dir.path().join("adc.json");
        let creds = json!({
            "type": "authorized_user",
            "client_id": "gitgrant-fake.apps.googleusercontent.com",
            "client_secret": "fake-secret",
            "refresh_token": REFRESH_TOKEN,
            "token_uri": format!("{}/token", self.server.uri()),
        });
        std::fs::write(&path, creds.to_string()).unwrap();
        vec![
            (
                "GOOGLE_APPLICATION_CREDENTIALS".into(),
                path.display().to_string(),
            ),
            (
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER".into(),
                self.endpoint(),
            ),
        ]
    }
}

/// Keys in the order Google's JSON has them (the proto's field order);
/// any other key after these, sorted.
const GOOGLE_ORDER: &[&str] = &[
    "version",
    "etag",
    "bindings",
    "auditConfigs",
    "role",
    "members",
    "condition",
    "expression",
    "title",
    "description",
    "location",
];

/// `value` as Google writes it: compact, object keys in [`GOOGLE_ORDER`]
/// (not sorted, as `serde_json::Value` would write them), so that a client
/// that re-renders a binding instead of keeping its bytes is caught.
pub fn google_json(value: &Value) -> String {
    match value {
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            let rank = |k: &str| {
                GOOGLE_ORDER
                    .iter()
                    .position(|g| *g == k)
                    .unwrap_or(GOOGLE_ORDER.len())
            };
            keys.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.cmp(b)));
            let fields: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Value::String((*k).clone()), google_json(&o[*k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(google_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

fn ok(value: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(google_json(value), "application/json")
}

fn etag_text(n: u64) -> String {
    // Google's etags are base64 of a few bytes; any opaque text will do.
    format!("BwZ{n:08}=")
}

fn strip_etag(mut policy: Value) -> Value {
    if let Some(o) = policy.as_object_mut() {
        o.remove("etag");
    }
    policy
}

fn status(code: u16, status: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({
        "error": {"code": code, "message": message, "status": status}
    }))
}

fn bindings(policy: &Value) -> &[Value] {
    policy["bindings"].as_array().map_or(&[], Vec::as_slice)
}

fn has_conditions(policy: &Value) -> bool {
    bindings(policy)
        .iter()
        .any(|b| b.get("condition").is_some())
}

/// The policy as a read of `version` answers it.
fn as_version(policy: &Value, version: i64, etag: u64) -> Value {
    let mut p = policy.clone();
    let conditional = has_conditions(policy);
    if conditional && version < 3 {
        let downgraded: Vec<Value> = bindings(policy)
            .iter()
            .map(|b| match b.get("condition") {
                Some(c) => {
                    let hash = Sha256::digest(c.to_string().as_bytes());
                    let hex: String = hash.iter().take(10).map(|x| format!("{x:02x}")).collect();
                    let mut b = b.clone();
                    let o = b.as_object_mut().unwrap();
                    o.remove("condition");
                    let role = o["role"].as_str().unwrap_or_default().to_string();
                    o.insert("role".into(), json!(format!("{role}_withcond_{hex}")));
                    b
                }
                None => b.clone(),
            })
            .collect();
        p["bindings"] = json!(downgraded);
    }
    p["version"] = json!(if conditional && version >= 3 { 3 } else { 1 });
    p["etag"] = json!(etag_text(etag));
    p
}

fn logical_operators(expression: &str) -> usize {
    expression.matches("&&").count()
        + expression.matches("||").count()
        + expression
            .char_indices()
            .filter(|&(i, c)| c == '!' && !expression[i + 1..].starts_with('='))
            .count()
}

/// Why Google would refuse to store `policy`, as a status.
fn refusal(policy: &Value) -> Option<ResponseTemplate> {
    let version = policy["version"].as_i64().unwrap_or(0);
    if !(0..=3).contains(&version) {
        return Some(status(400, "INVALID_ARGUMENT", "Invalid policy version."));
    }
    if has_conditions(policy) && version < 3 {
        return Some(status(
            400,
            "INVALID_ARGUMENT",
            "Conditions are only supported in policy version 3; set the policy's version to 3.",
        ));
    }
    let mut principals = 0;
    let mut same: BTreeMap<(String, String), usize> = BTreeMap::new();
    for b in bindings(policy) {
        let members: Vec<&str> = b["members"]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        principals += members.len();
        if let Some(c) = b.get("condition") {
            if c["title"].as_str().is_none_or(str::is_empty) {
                return Some(status(
                    400,
                    "INVALID_ARGUMENT",
                    "Condition title is required.",
                ));
            }
            let ops = logical_operators(c["expression"].as_str().unwrap_or_default());
            if ops > 12 {
                return Some(status(
                    400,
                    "INVALID_ARGUMENT",
                    &format!(
                        "The condition expression has {ops} logical operators; at most 12 are allowed."
                    ),
                ));
            }
            for m in &members {
                *same
                    .entry((b["role"].as_str().unwrap_or_default().into(), (*m).into()))
                    .or_default() += 1;
            }
        }
    }
    let groups = bindings(policy)
        .iter()
        .flat_map(|b| b["members"].as_array().cloned().unwrap_or_default())
        .filter(|m| m.as_str().is_some_and(|m| m.starts_with("group:")))
        .count();
    if groups > 250 {
        return Some(status(
            400,
            "INVALID_ARGUMENT",
            &format!(
                "The number of groups in the policy ({groups}) is larger than the maximum allowed size 250."
            ),
        ));
    }
    if principals > 1500 {
        return Some(status(
            400,
            "INVALID_ARGUMENT",
            &format!(
                "The number of members in the policy ({principals}) is larger than the maximum allowed size 1500."
            ),
        ));
    }
    if let Some(((role, member), n)) = same.into_iter().find(|(_, n)| *n > 20) {
        return Some(status(
            400,
            "FAILED_PRECONDITION",
            &format!(
                "The policy has {n} bindings of {role} for {member} that differ only in their conditions; at most 20 are allowed."
            ),
        ));
    }
    None
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let path = req.url.path().to_string();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        if path == "/sts/v1/token" {
            // Security Token Service: the OIDC token for an access token
            // (the external_account file names no impersonation, so the
            // federated token is used as it is).
            *s.calls.entry("sts".into()).or_default() += 1;
            let form = String::from_utf8_lossy(&req.body);
            if !form.contains("token-exchange")
                || !form.contains(&format!("subject_token={OIDC_TOKEN}"))
            {
                return ResponseTemplate::new(400).set_body_json(json!({
                    "error": "invalid_grant",
                    "error_description": "The audience in ID Token does not match the expected audience."
                }));
            }
            return ResponseTemplate::new(200).set_body_json(json!({
                "access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer",
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token"
            }));
        }
        if path == "/token" {
            *s.calls.entry("token".into()).or_default() += 1;
            let form = String::from_utf8_lossy(&req.body);
            if !form.contains(REFRESH_TOKEN) {
                return ResponseTemplate::new(400).set_body_json(json!({
                    "error": "invalid_grant", "error_description": "Bad refresh token."
                }));
            }
            return ResponseTemplate::new(200).set_body_json(json!({
                "access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/cloud-platform"
            }));
        }
        let Some((resource, method)) = path
            .strip_prefix("/v3/")
            .and_then(|p| p.rsplit_once(':'))
            .map(|(r, m)| (r.to_string(), m.to_string()))
        else {
            return status(404, "NOT_FOUND", &format!("No such method: {path}"));
        };
        *s.calls.entry(method.clone()).or_default() += 1;
        if req.method.as_str() != "POST" {
            return status(404, "NOT_FOUND", "Only POST is served.");
        }
        let token = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if token != Some(TOKEN) {
            return status(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            );
        }
        match s.faults.pop_front() {
            Some(Fault::Throttled) => {
                return status(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Quota exceeded for quota metric 'Read requests'.",
                );
            }
            Some(Fault::Unavailable) => {
                return status(503, "UNAVAILABLE", "The service is currently unavailable.");
            }
            None => {}
        }
        let kind = resource.split('/').next().unwrap_or_default().to_string();
        if !s.policies.contains_key(&resource) {
            return status(
                403,
                "PERMISSION_DENIED",
                &format!(
                    "The caller does not have permission resourcemanager.{kind}.{method} on {resource}"
                ),
            );
        }
        match method.as_str() {
            "getIamPolicy" => {
                s.reads.push(body.clone());
                let version = body["options"]["requestedPolicyVersion"]
                    .as_i64()
                    .unwrap_or(0);
                let stored = &s.policies[&resource];
                let answer = as_version(&stored.policy, version, stored.etag);
                let due = match s.concurrent.get_mut(&resource) {
                    Some((nth, _)) if *nth > 1 => {
                        *nth -= 1;
                        false
                    }
                    Some(_) => true,
                    None => false,
                };
                if let Some((_, change)) = due.then(|| s.concurrent.remove(&resource)).flatten() {
                    s.next_etag += 1;
                    let etag = s.next_etag;
                    let stored = s.policies.get_mut(&resource).unwrap();
                    change(&mut stored.policy);
                    stored.etag = etag;
                }
                ok(&answer)
            }
            "setIamPolicy" => {
                s.writes.push(body.clone());
                s.raw_writes
                    .push(String::from_utf8_lossy(&req.body).into_owned());
                let policy = body["policy"].clone();
                if !policy.is_object() {
                    return status(
                        400,
                        "INVALID_ARGUMENT",
                        "Request contains an invalid argument: policy.",
                    );
                }
                let current = s.policies[&resource].etag;
                match policy.get("etag").and_then(Value::as_str) {
                    Some(e) if e != etag_text(current) => {
                        return status(
                            409,
                            "ABORTED",
                            "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
                        );
                    }
                    Some(_) => {}
                    None => s.writes_without_etag += 1,
                }
                if let Some(refused) = refusal(&policy) {
                    return refused;
                }
                let mask = body["updateMask"].as_str().unwrap_or("bindings,etag");
                let mut next = s.policies[&resource].policy.clone();
                next["bindings"] = policy.get("bindings").cloned().unwrap_or(json!([]));
                next["version"] = policy["version"].clone();
                if mask.split(',').any(|f| f.trim() == "auditConfigs") {
                    next["auditConfigs"] = policy.get("auditConfigs").cloned().unwrap_or(json!([]));
                }
                s.next_etag += 1;
                let etag = s.next_etag;
                let stored = s.policies.get_mut(&resource).unwrap();
                stored.policy = strip_etag(next);
                stored.etag = etag;
                let answer = ok(&as_version(&stored.policy, 3, etag));
                match s.answer_writes_after {
                    Some(delay) => answer.set_delay(delay),
                    None => answer,
                }
            }
            other => status(404, "NOT_FOUND", &format!("No such method: {other}")),
        }
    }
}
