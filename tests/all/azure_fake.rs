//! A local fake of Azure Resource Manager's PIM methods for Azure
//! resources (`Microsoft.Authorization`, api-version 2020-10-01) and of
//! Entra ID's token endpoint, following the documented shapes (the
//! `azure-rest-api-specs` examples of `roleAssignmentScheduleRequests` and
//! `roleAssignmentScheduleInstances`, MIT-licensed, shaped its answers),
//! since no emulator of PIM exists:
//!
//! - Entra's `/{tenant}/oauth2/v2.0/token` takes a client assertion (the
//!   federated token) and hands out a JWT-shaped token whose `oid` is the
//!   reconciler's object id; ARM takes only that token (401 otherwise);
//! - a schedule request `PUT` makes, changes or removes a schedule, and
//!   records the caller's `oid` as its `requestorId`; a name already used,
//!   or an assignment that already exists, is 409 `RoleAssignmentExists`;
//!   a window longer than the role's PIM setting is 400
//!   `RoleAssignmentRequestPolicyValidationFailed` (`ExpirationRule`); a
//!   removal of an assignment that is not there is 400
//!   `RoleAssignmentDoesNotExist`;
//! - instances are the schedules in force at the fake's clock, so Azure
//!   ends them at their end with no call at all;
//! - lists come in pages with `nextLink`; 429 with `Retry-After` and 503
//!   on demand;
//! - TLS: Entra's authority host must be `https://`, so the fake is served
//!   behind a TLS front whose certificate a test CA signs; the binary
//!   trusts it through `SSL_CERT_FILE`.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

/// The tenant.
pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
/// The reconciler's app registration (client id).
pub const CLIENT_ID: &str = "0c3f5e0a-7d1b-4b8e-9f2a-5e6d7c8b9a01";
/// The reconciler's service principal object id: the `oid` of its token.
pub const RECONCILER_OID: &str = "9d2f6a3b-1c4e-4f5a-8b7c-6d5e4f3a2b1c";
/// The federated token an Actions job would hand Entra.
pub const OIDC_TOKEN: &str = "gitgrant-fake-github-oidc-jwt";
/// The subscription.
pub const SUBSCRIPTION: &str = "/subscriptions/6c1f4f2e-9a4b-4d5c-8e3a-0b1c2d3e4f50";

/// Built-in role definitions: name, GUID, actions and not-actions, as
/// Azure defines them (abridged).
pub const BUILT_IN: [(&str, &str, &[&str], &[&str]); 6] = [
    (
        "Reader",
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",
        &["*/read"],
        &[],
    ),
    (
        "Contributor",
        "b24988ac-6180-42a0-ab88-20f7382dd24c",
        &["*"],
        &[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
        ],
    ),
    ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", &["*"], &[]),
    (
        "Storage Blob Data Reader",
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        &["Microsoft.Storage/storageAccounts/blobServices/containers/read"],
        &[],
    ),
    (
        "User Access Administrator",
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        &["*/read", "Microsoft.Authorization/*"],
        &[],
    ),
    (
        "Role Based Access Control Administrator",
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        &["Microsoft.Authorization/roleAssignments/write"],
        &[],
    ),
];

/// The role definition id of `name` at `scope`.
pub fn definition_id(scope: &str, name: &str) -> String {
    let guid = BUILT_IN
        .iter()
        .find(|(n, _, _, _)| *n == name)
        .map(|(_, g, _, _)| *g)
        .unwrap_or(name);
    format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}")
}

/// A role assignment schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Its GUID.
    pub id: String,
    /// The scope.
    pub scope: String,
    /// The principal.
    pub principal: String,
    /// The role definition id.
    pub role: String,
    /// Its start.
    pub start: DateTime<Utc>,
    /// Its end (`None`: permanent).
    pub end: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct State {
    now: Option<DateTime<Utc>>,
    base: String,
    custom: Vec<Value>,
    schedules: Vec<Schedule>,
    requests: Vec<Value>,
    /// The PIM setting per role GUID: the longest active assignment.
    max_minutes: BTreeMap<String, i64>,
    page_size: usize,
    faults: VecDeque<u16>,
    lost: usize,
    calls: BTreeMap<String, u64>,
    puts: Vec<Value>,
    next: u64,
}

/// The fake, on loopback behind TLS.
pub struct FakeAzure {
    state: Arc<Mutex<State>>,
    front: SocketAddr,
    dir: tempfile::TempDir,
    _server: MockServer,
    _rt: tokio::runtime::Runtime,
}

impl FakeAzure {
    /// Starts the fake with the built-in roles and no assignments; its
    /// clock is `now` (RFC 3339).
    pub fn start(now: &str) -> FakeAzure {
        let state = Arc::new(Mutex::new(State {
            page_size: 2,
            ..State::default()
        }));
        let (server, rt) = crate::support::serve(Responder(state.clone()));
        let dir = tempfile::tempdir().unwrap();
        let upstream = *server.address();
        let front = tls_front(&rt, upstream, &dir.path().join("ca.pem"));
        std::fs::write(dir.path().join("federated-token"), OIDC_TOKEN).unwrap();
        let fake = FakeAzure {
            state,
            front,
            dir,
            _server: server,
            _rt: rt,
        };
        fake.state.lock().unwrap().base = fake.endpoint();
        fake.set_now(now);
        fake
    }

    /// The endpoint, as a provider's `management_endpoint` and
    /// `AZURE_AUTHORITY_HOST` name it: `https://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.front.port())
    }

    /// Sets the fake's clock: which schedules are in force.
    pub fn set_now(&self, now: &str) {
        self.state.lock().unwrap().now = Some(now.parse().unwrap());
    }

    /// The environment that points gitgrant at the fake.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = |f: &str| self.dir.path().join(f).display().to_string();
        vec![
            ("AZURE_CLIENT_ID".into(), CLIENT_ID.into()),
            ("AZURE_TENANT_ID".into(), TENANT.into()),
            ("AZURE_FEDERATED_TOKEN_FILE".into(), path("federated-token")),
            ("AZURE_AUTHORITY_HOST".into(), self.endpoint()),
            ("SSL_CERT_FILE".into(), path("ca.pem")),
        ]
    }

    /// PIM's setting for `role` (name or GUID): active assignments of at
    /// most `minutes`.
    pub fn max_active(&self, role: &str, minutes: i64) {
        let guid = definition_guid(&definition_id("", role));
        self.state.lock().unwrap().max_minutes.insert(guid, minutes);
    }

    /// A custom role at the subscription, with `actions`; its GUID.
    pub fn custom_role(&self, name: &str, guid: &str, actions: &[&str]) {
        self.state.lock().unwrap().custom.push(json!({
            "id": format!("{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
            "name": guid,
            "type": "Microsoft.Authorization/roleDefinitions",
            "properties": {"roleName": name, "type": "CustomRole", "permissions": [{"actions": actions, "notActions": []}]}
        }));
    }

    /// An assignment made by someone else (`requestor`), over the window `(start, end)`
    /// (no end: permanent), with its request carrying `justification`: from PIM's portal or another tool.
    pub fn foreign(
        &self,
        principal: &str,
        role: &str,
        (start, end): (&str, Option<&str>),
        requestor: &str,
        justification: &str,
    ) {
        let mut s = self.state.lock().unwrap();
        let name = s.fresh();
        let body = json!({"properties": {
            "principalId": principal,
            "roleDefinitionId": definition_id(SUBSCRIPTION, role),
            "requestType": "AdminAssign",
            "justification": justification,
            "scheduleInfo": {"startDateTime": start, "expiration": match end {
                Some(e) => json!({"type": "AfterDateTime", "endDateTime": e}),
                None => json!({"type": "NoExpiration"}),
            }},
        }});
        let (code, answer) = s.put(SUBSCRIPTION, &name, &body, requestor);
        assert_eq!(code, 201, "{answer}");
    }

    /// Someone else (`requestor`) ends `principal`'s assignment of `role`
    /// before its end, with an `AdminRemove` of their own.
    pub fn remove_as(&self, requestor: &str, principal: &str, role: &str) {
        let mut s = self.state.lock().unwrap();
        let name = s.fresh();
        let body = json!({"properties": {
            "principalId": principal,
            "roleDefinitionId": definition_id(SUBSCRIPTION, role),
            "requestType": "AdminRemove",
            "justification": "cleaning up",
        }});
        let (code, answer) = s.put(SUBSCRIPTION, &name, &body, requestor);
        assert_eq!(code, 201, "{answer}");
    }

    /// The next `n` requests to ARM answer `status` (429 with
    /// `Retry-After: 1`, or a 5xx).
    pub fn faults(&self, status: u16, n: usize) {
        self.state
            .lock()
            .unwrap()
            .faults
            .extend(std::iter::repeat_n(status, n));
    }

    /// The next `n` schedule requests are made but answered 502, as when
    /// the gateway fails after PIM took the request: a retry of the same
    /// request is then `RoleAssignmentExists`.
    pub fn lose_answers(&self, n: usize) {
        self.state.lock().unwrap().lost += n;
    }

    /// Calls by method (`token`, `ListRoleDefinitions`,
    /// `PutRoleAssignmentScheduleRequest`, …), every request counted.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Calls of one method.
    pub fn count(&self, method: &str) -> u64 {
        self.calls().get(method).copied().unwrap_or(0)
    }

    /// Every schedule request PUT that reached ARM: `[name, body]`.
    pub fn puts(&self) -> Vec<Value> {
        self.state.lock().unwrap().puts.clone()
    }

    /// The schedules in force at the fake's clock.
    pub fn in_force(&self) -> Vec<Schedule> {
        let s = self.state.lock().unwrap();
        s.schedules.iter().filter(|x| s.live(x)).cloned().collect()
    }

    /// The requests PIM holds, as it lists them.
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn definition_guid(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase()
}

fn error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": {"code": code, "message": message}}))
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| s.parse().ok())
}

impl State {
    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.next)
    }

    fn live(&self, x: &Schedule) -> bool {
        let now = self.now.unwrap_or_else(Utc::now);
        x.start <= now && x.end.is_none_or(|e| now < e)
    }

    fn definitions(&self, scope: &str) -> Vec<Value> {
        let mut out: Vec<Value> = BUILT_IN
            .iter()
            .map(|(name, guid, actions, not_actions)| {
                json!({
                    "id": format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{guid}"),
                    "name": guid,
                    "type": "Microsoft.Authorization/roleDefinitions",
                    "properties": {"roleName": name, "type": "BuiltInRole",
                        "permissions": [{"actions": actions, "notActions": not_actions}]}
                })
            })
            .collect();
        out.extend(self.custom.iter().cloned());
        out
    }

    fn instances(&self, scope: &str) -> Vec<Value> {
        self.schedules
            .iter()
            .filter(|x| x.scope.eq_ignore_ascii_case(scope) && self.live(x))
            .map(|x| {
                json!({
                    "name": x.id,
                    "id": format!("{scope}/providers/Microsoft.Authorization/RoleAssignmentScheduleInstances/{}", x.id),
                    "type": "Microsoft.Authorization/RoleAssignmentScheduleInstances",
                    "properties": {
                        "scope": x.scope,
                        "roleDefinitionId": x.role,
                        "principalId": x.principal,
                        "principalType": "User",
                        "roleAssignmentScheduleId": format!("{}/providers/Microsoft.Authorization/RoleAssignmentSchedules/{}", x.scope, x.id),
                        "originRoleAssignmentId": format!("{}/providers/Microsoft.Authorization/roleAssignments/{}", x.scope, x.id),
                        "startDateTime": x.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        "endDateTime": x.end.map(|e| e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                        "memberType": "Direct",
                        "assignmentType": "Assigned",
                        "status": "Provisioned",
                    }
                })
            })
            .collect()
    }

    /// A schedule request: `(status, answer)`.
    fn put(&mut self, scope: &str, name: &str, body: &Value, requestor: &str) -> (u16, Value) {
        let err = |code: &str, message: &str| json!({"error": {"code": code, "message": message}});
        if self.requests.iter().any(|r| r["name"] == name) {
            return (
                409,
                err(
                    "RoleAssignmentExists",
                    "The Role assignment already exists.",
                ),
            );
        }
        let p = &body["properties"];
        let principal = p["principalId"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let role = p["roleDefinitionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let kind = p["requestType"].as_str().unwrap_or_default().to_string();
        let start = time(&p["scheduleInfo"]["startDateTime"]);
        let end = time(&p["scheduleInfo"]["expiration"]["endDateTime"]);
        let known = self.definitions(scope).iter().any(|d| {
            definition_guid(d["id"].as_str().unwrap_or_default()) == definition_guid(&role)
        });
        if principal.is_empty() || !known {
            return (
                400,
                err(
                    "InvalidRoleDefinitionId",
                    "The role definition ID is not valid.",
                ),
            );
        }
        let same = |x: &Schedule| {
            x.scope.eq_ignore_ascii_case(scope)
                && x.principal == principal
                && definition_guid(&x.role) == definition_guid(&role)
                && x.end.is_none_or(|e| e > self.now.unwrap_or_else(Utc::now))
        };
        let existing = self.schedules.iter().position(same);
        if kind != "AdminRemove" {
            let permanent = p["scheduleInfo"]["expiration"]["type"] == "NoExpiration";
            let (Some(s), Some(e)) = (start, end.or(permanent.then_some(DateTime::<Utc>::MAX_UTC)))
            else {
                return (
                    400,
                    err(
                        "InvalidScheduleInfo",
                        "scheduleInfo needs startDateTime and an end",
                    ),
                );
            };
            if let Some(max) = self.max_minutes.get(&definition_guid(&role))
                && (e - s).num_minutes() > *max
            {
                return (
                    400,
                    err(
                        "RoleAssignmentRequestPolicyValidationFailed",
                        "The following policy rules failed: [\"ExpirationRule\"]",
                    ),
                );
            }
        }
        let target = match (kind.as_str(), existing) {
            ("AdminAssign", Some(_)) => {
                return (
                    409,
                    err(
                        "RoleAssignmentExists",
                        "The Role assignment already exists.",
                    ),
                );
            }
            ("AdminAssign", None) => {
                let id = self.fresh();
                self.schedules.push(Schedule {
                    id: id.clone(),
                    scope: scope.to_string(),
                    principal: principal.clone(),
                    role: role.clone(),
                    start: start.unwrap(),
                    end,
                });
                id
            }
            ("AdminUpdate", Some(i)) => {
                self.schedules[i].start = start.unwrap();
                self.schedules[i].end = end;
                self.schedules[i].id.clone()
            }
            ("AdminRemove", Some(i)) => self.schedules.remove(i).id,
            ("AdminUpdate" | "AdminRemove", None) => {
                return (
                    400,
                    err(
                        "RoleAssignmentDoesNotExist",
                        "The Role assignment does not exist.",
                    ),
                );
            }
            _ => return (400, err("InvalidRequestType", "requestType is not valid")),
        };
        let now = self
            .now
            .unwrap_or_else(Utc::now)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut props = p.clone();
        props["scope"] = json!(scope);
        props["principalId"] = json!(principal);
        props["principalType"] = json!("User");
        props["status"] = json!(if kind == "AdminRemove" {
            "Revoked"
        } else {
            "Provisioned"
        });
        props["requestorId"] = json!(requestor);
        props["createdOn"] = json!(now);
        props["targetRoleAssignmentScheduleId"] = json!(target);
        let request = json!({
            "name": name,
            "id": format!("{scope}/providers/Microsoft.Authorization/RoleAssignmentScheduleRequests/{name}"),
            "type": "Microsoft.Authorization/RoleAssignmentScheduleRequests",
            "properties": props,
        });
        self.requests.push(request.clone());
        (201, request)
    }

    fn page(&self, items: Vec<Value>, req: &Request) -> ResponseTemplate {
        let skip: usize = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "$skipToken")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let end = (skip + self.page_size).min(items.len());
        let mut body = json!({"value": items[skip.min(end)..end]});
        if end < items.len() {
            let mut url = req.url.clone();
            let kept: Vec<(String, String)> = (url.query_pairs())
                .filter(|(k, _)| k != "$skipToken")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("$skipToken", &end.to_string());
            body["nextLink"] = json!(format!(
                "{}{}?{}",
                self.base,
                url.path(),
                url.query().unwrap_or_default()
            ));
        }
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// A JWT-shaped token (unsigned: nothing verifies it but the fake).
fn token_for(oid: &str) -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"typ": "JWT", "alg": "RS256"})),
        b64(
            json!({"oid": oid, "tid": TENANT, "appid": CLIENT_ID, "aud": "https://management.azure.com"})
        )
    )
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let path = req.url.path().to_string();
        if path.ends_with("/oauth2/v2.0/token") {
            *s.calls.entry("token".into()).or_default() += 1;
            let decode = |t: &str| {
                percent_encoding::percent_decode_str(&t.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let form: BTreeMap<String, String> = String::from_utf8_lossy(&req.body)
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (decode(k), decode(v)))
                .collect();
            let ok = path == format!("/{TENANT}/oauth2/v2.0/token")
                && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_assertion").map(String::as_str) == Some(OIDC_TOKEN)
                && form.get("grant_type").map(String::as_str) == Some("client_credentials");
            if !ok {
                return ResponseTemplate::new(400).set_body_json(json!({
                    "error": "invalid_client",
                    "error_description": "AADSTS700213: No matching federated identity record found for presented assertion subject.",
                    "error_codes": [700213]
                }));
            }
            return ResponseTemplate::new(200).set_body_json(json!({
                "token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                "access_token": token_for(RECONCILER_OID)
            }));
        }
        let Some((scope, rest)) = path.split_once("/providers/Microsoft.Authorization/") else {
            return error(404, "NotFound", "no such resource");
        };
        let (scope, rest) = (scope.to_string(), rest.to_string());
        let method = match (req.method.as_str(), rest.as_str()) {
            ("GET", "roleDefinitions") => "ListRoleDefinitions",
            ("GET", "roleAssignmentScheduleRequests") => "ListRoleAssignmentScheduleRequests",
            ("GET", "roleAssignmentScheduleInstances") => "ListRoleAssignmentScheduleInstances",
            ("GET", r) if r.starts_with("roleAssignmentScheduleRequests/") => {
                "GetRoleAssignmentScheduleRequest"
            }
            ("PUT", r) if r.starts_with("roleAssignmentScheduleRequests/") => {
                "PutRoleAssignmentScheduleRequest"
            }
            _ => return error(404, "NotFound", "no such method"),
        };
        *s.calls.entry(method.into()).or_default() += 1;
        if let Some(status) = s.faults.pop_front() {
            let t = error(
                status,
                if status == 429 {
                    "TooManyRequests"
                } else {
                    "InternalServerError"
                },
                "try again later",
            );
            return if status == 429 {
                t.insert_header("Retry-After", "1")
            } else {
                t
            };
        }
        let bearer = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let Some(oid) = bearer
            .strip_prefix("Bearer ")
            .filter(|t| t.split('.').count() == 3)
            .and_then(|t| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t.split('.').nth(1)?)
                    .ok()
            })
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["oid"].as_str().map(str::to_string))
        else {
            return error(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            );
        };
        let api = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v.into_owned());
        let want = if method == "ListRoleDefinitions" {
            "2022-04-01"
        } else {
            "2020-10-01"
        };
        if api.as_deref() != Some(want) {
            return error(
                400,
                "InvalidApiVersionParameter",
                "The api-version is invalid.",
            );
        }
        match method {
            "ListRoleDefinitions" => {
                let items = s.definitions(&scope);
                s.page(items, req)
            }
            "ListRoleAssignmentScheduleRequests" => {
                let items: Vec<Value> = (s.requests.iter())
                    .filter(|r| {
                        r["properties"]["scope"]
                            .as_str()
                            .is_some_and(|x| x.eq_ignore_ascii_case(&scope))
                    })
                    .cloned()
                    .collect();
                s.page(items, req)
            }
            "ListRoleAssignmentScheduleInstances" => {
                let items = s.instances(&scope);
                s.page(items, req)
            }
            "GetRoleAssignmentScheduleRequest" => {
                let name = rest.rsplit('/').next().unwrap_or_default();
                match s.requests.iter().find(|r| r["name"] == name) {
                    Some(r) => ResponseTemplate::new(200).set_body_json(r),
                    None => error(404, "RoleAssignmentScheduleRequestNotFound", "not found"),
                }
            }
            _ => {
                let name = rest.rsplit('/').next().unwrap_or_default().to_string();
                let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                s.puts.push(json!([name, body]));
                let (code, answer) = s.put(&scope, &name, &body, &oid);
                if code == 201 && s.lost > 0 {
                    s.lost -= 1;
                    return error(
                        502,
                        "BadGateway",
                        "The gateway did not receive a response in time.",
                    );
                }
                ResponseTemplate::new(code).set_body_json(answer)
            }
        }
    }
}

/// A TLS front on loopback for `upstream`, with a certificate for
/// 127.0.0.1 signed by a CA of its own, whose PEM is written to `ca`.
fn tls_front(
    rt: &tokio::runtime::Runtime,
    upstream: SocketAddr,
    ca: &std::path::Path,
) -> SocketAddr {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "gitgrant test CA");
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    std::fs::write(ca, issuer.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![leaf.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                }
            });
        }
    });
    addr
}
