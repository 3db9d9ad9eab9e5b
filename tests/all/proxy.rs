//! A loopback HTTP proxy in front of moto_server that injects faults into a
//! share of the requests — IAM `Throttling` errors, HTTP 500s, connections
//! dropped before or after the request reached moto — and that pages
//! `GetAccountAuthorizationDetails` as IAM does (moto answers it in one page
//! whatever `MaxItems` says).
//!
//! IAM and STS speak the query protocol: a form-encoded POST naming its
//! `Action`, answered in XML. sso-admin and identitystore speak JSON 1.1: a
//! POST naming its operation in `X-Amz-Target`, errors as `__type` JSON.
//! moto does not check signatures, so requests are forwarded with their
//! bodies unchanged.
//!
//! For Identity Center it can also refuse writes with `ConflictException`
//! (one update per account at a time) and make account assignments fail as
//! AWS reports it: `IN_PROGRESS`, then `FAILED` with a reason.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, header::HeaderName};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use quick_xml::events::Event;

/// What a handler gives hyper: an answer, or an error, on which hyper closes
/// the connection without writing a byte (its HTTP/1 dispatcher returns the
/// service's error before encoding any response head).
type Answer = Result<Response<Full<Bytes>>, io::Error>;

/// Which faults to inject, and how often. Each request takes one roll, which
/// the shares split in field order, so their sum should not exceed 1.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of requests answered `400 Throttling` instead of forwarded.
    pub throttle: f64,
    /// Share answered `500 ServiceFailure` instead of forwarded.
    pub server_error: f64,
    /// Share whose connection is closed unanswered, never reaching moto.
    pub drop_request: f64,
    /// Share forwarded to moto (so the change is made) whose answer is lost:
    /// the connection closes unanswered. This tests idempotency.
    pub drop_response: f64,
    /// Seed of the rolls: a sequential client sees the same faults on every
    /// run (concurrent requests take the rolls in arrival order).
    pub seed: u64,
    /// Page `GetAccountAuthorizationDetails` by its `MaxItems` and `Marker`.
    pub page_gaad: bool,
    /// Stop injecting after this many faults in all; `None`: never stop.
    pub max_faults: Option<u64>,
    /// Wait this long before forwarding each request.
    pub delay: Duration,
    /// Actions never faulted; `/moto-api/...` paths never are either.
    pub exempt: Vec<&'static str>,
    /// Share of Identity Center writes answered `ConflictException`; rolls
    /// after the four shares above, so adding it shifts none of them.
    pub conflict: f64,
    /// This many `CreateAccountAssignment` requests are not forwarded but
    /// answered `IN_PROGRESS`; asked for, their status is `FAILED` with
    /// `FAILURE_REASON`.
    pub fail_assignments: u64,
}

/// The reason a failed assignment gives, as AWS words such failures.
pub const FAILURE_REASON: &str =
    "Received a 404 status error: Not supported policy arn:aws:iam::aws:policy/Missing.";

/// What the proxy saw.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests received.
    pub requests: u64,
    /// Requests forwarded to moto, including those whose answer was dropped.
    pub forwarded: u64,
    /// Answered with a throttling error.
    pub throttled: u64,
    /// Answered with a 500.
    pub server_errors: u64,
    /// Dropped before reaching moto.
    pub dropped_requests: u64,
    /// Dropped after moto answered.
    pub dropped_responses: u64,
    /// Answered `ConflictException`.
    pub conflicts: u64,
    /// Account assignments answered as failing.
    pub failed_assignments: u64,
    /// The `Action` of every request received, in order ("" if none).
    pub actions: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Throttle,
    ServerError,
    DropRequest,
    DropResponse,
    Conflict,
}

/// What the proxy's connections share.
type Shared = Arc<Mutex<State>>;

/// The proxy's state.
struct State {
    faults: Faults,
    rng: u64,
    stats: Stats,
    /// Request ids of the assignments answered as failing.
    failing: Vec<String>,
}

impl State {
    /// Whether to fault this request; counted in the stats if so.
    fn decide(&mut self, path: &str, action: &str, json: bool) -> Option<Fault> {
        // Roll even when exempt, so exemptions do not shift later faults.
        let roll = (next(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
        let (f, s) = (&self.faults, &mut self.stats);
        let injected =
            s.throttled + s.server_errors + s.dropped_requests + s.dropped_responses + s.conflicts;
        if path.starts_with("/moto-api")
            || f.exempt.contains(&action)
            || f.max_faults.is_some_and(|max| injected >= max)
        {
            return None;
        }
        let mut edge = 0.0;
        let write = json && WRITES.iter().any(|w| action.starts_with(w));
        let conflict = if write { f.conflict } else { 0.0 };
        let shares = [
            f.throttle,
            f.server_error,
            f.drop_request,
            f.drop_response,
            conflict,
        ];
        let hit = shares.iter().position(|share| {
            edge += share;
            roll < edge
        });
        let (fault, count) = match hit? {
            0 => (Fault::Throttle, &mut s.throttled),
            1 => (Fault::ServerError, &mut s.server_errors),
            2 => (Fault::DropRequest, &mut s.dropped_requests),
            3 => (Fault::DropResponse, &mut s.dropped_responses),
            _ => (Fault::Conflict, &mut s.conflicts),
        };
        *count += 1;
        Some(fault)
    }
}

/// How the Identity Center operations that write begin.
const WRITES: [&str; 7] = [
    "Create",
    "Delete",
    "Put",
    "Attach",
    "Detach",
    "Provision",
    "Update",
];

/// splitmix64: small, and good enough to spread faults.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A running proxy; dropping it stops its server thread.
pub struct Proxy {
    server: Server,
    state: Shared,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream` (`http://host:port`).
    pub fn start(upstream: &str, faults: Faults) -> Proxy {
        let (rng, stats) = (faults.seed, Stats::default());
        let failing = Vec::new();
        let state = Arc::new(Mutex::new(State {
            faults,
            rng,
            stats,
            failing,
        }));
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let client = Client::builder(TokioExecutor::new()).build_http();
        let shared = state.clone();
        let server =
            Server::start(move |req| handle(req, shared.clone(), upstream.clone(), client.clone()));
        Proxy { server, state }
    }

    /// The proxy's URL, for `AWS_ENDPOINT_URL`: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// What it has seen so far.
    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats.clone()
    }
}

/// An HTTP/1 server on a loopback port, run by a thread and tokio runtime of
/// its own so that plain `#[test]`s can use it; stops when dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start<H, F>(handler: H) -> Server
    where
        H: Fn(Request<Incoming>) -> F + Clone + Send + 'static,
        F: Future<Output = Answer> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let serve = async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let stream = tokio::select! {
                    _ = &mut stopped => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => TokioIo::new(stream),
                        Err(_) => continue,
                    },
                };
                let service = hyper::service::service_fn(handler.clone());
                let http = hyper::server::conn::http1::Builder::new();
                // Fails whenever a fault drops the connection: expected.
                tokio::spawn(async move { http.serve_connection(stream, service).await });
            }
        };
        let thread = std::thread::spawn(move || {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            let runtime = runtime.worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(serve);
            // Abandons connections still open, e.g. requests mid-delay.
            runtime.shutdown_background();
        });
        let (stop, thread) = (Some(stop), Some(thread));
        Server { addr, stop, thread }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A form field of the request body, undecoded: Action, MaxItems and our
/// own markers need no decoding.
fn field<'a>(form: &'a str, name: &str) -> Option<&'a str> {
    let mut fields = form.split('&');
    fields.find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// An error answer as IAM words one in the query protocol, with a UUID-like
/// request id made of `id`.
fn error(status: u16, kind: &str, code: &str, message: &str, id: u128) -> Answer {
    let mut id = format!("{id:032x}");
    for dash in [20, 16, 12, 8] {
        id.insert(dash, '-');
    }
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>"
    );
    let answer = Response::builder().status(status);
    let answer = answer.header("content-type", "text/xml");
    Ok(answer.body(Full::new(Bytes::from(body))).unwrap())
}

/// An error answer as the JSON 1.1 services (sso-admin, identitystore)
/// word one.
fn json_error(status: u16, code: &str, message: &str) -> Answer {
    json_answer(
        status,
        &serde_json::json!({ "__type": code, "Message": message }),
    )
    .map(|mut a| {
        let value = hyper::header::HeaderValue::from_str(code).unwrap();
        a.headers_mut().insert("x-amzn-errortype", value);
        a
    })
}

/// A JSON 1.1 answer.
fn json_answer(status: u16, body: &serde_json::Value) -> Answer {
    let answer = Response::builder().status(status);
    let answer = answer.header("content-type", "application/x-amz-json-1.1");
    Ok(answer
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap())
}

/// The answer to an Identity Center request the proxy makes fail, if this
/// is one: a `CreateAccountAssignment` among the first `fail_assignments`
/// (not forwarded: AWS made nothing), or a status of one of those.
fn failing(state: &mut State, action: &str, body: &[u8]) -> Option<Answer> {
    let request: serde_json::Value = serde_json::from_slice(body).ok()?;
    match action {
        "CreateAccountAssignment"
            if state.stats.failed_assignments < state.faults.fail_assignments =>
        {
            state.stats.failed_assignments += 1;
            let id = format!("failing-{}", state.stats.failed_assignments);
            state.failing.push(id.clone());
            let mut status = request;
            status["Status"] = "IN_PROGRESS".into();
            status["RequestId"] = id.into();
            let status = serde_json::json!({ "AccountAssignmentCreationStatus": status });
            Some(json_answer(200, &status))
        }
        "DescribeAccountAssignmentCreationStatus" => {
            let id = request["AccountAssignmentCreationRequestId"].as_str()?;
            state.failing.iter().any(|f| f == id).then(|| {
                let status = serde_json::json!({ "AccountAssignmentCreationStatus": {
                    "Status": "FAILED", "RequestId": id, "FailureReason": FAILURE_REASON,
                }});
                json_answer(200, &status)
            })
        }
        _ => None,
    }
}

/// Whether a header is copied across: not if hop-by-hop (RFC 9110 §7.6.1),
/// nor if hyper or the proxy sets it itself.
fn copied(name: &HeaderName) -> bool {
    let not = "connection keep-alive proxy-connection te trailer transfer-encoding upgrade";
    !(not.split(' ').any(|n| n == name) || name == "host" || name == "content-length")
}

/// A client for moto.
type Moto = Client<HttpConnector, Full<Bytes>>;

/// Answers one request: forwards it to moto at `url`, or injects a fault.
async fn handle(req: Request<Incoming>, state: Shared, url: Arc<str>, moto: Moto) -> Answer {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    let form = String::from_utf8_lossy(&body).into_owned();
    // JSON 1.1: `X-Amz-Target: SWBExternalService.CreateAccountAssignment`.
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|t| t.to_str().ok());
    let json = target.is_some();
    let action = match target {
        Some(t) => t.rsplit('.').next().unwrap_or(t),
        None => field(&form, "Action").unwrap_or(""),
    };
    let action = action.to_string();
    let (fault, id, faults) = {
        let mut state = state.lock().unwrap();
        state.stats.requests += 1;
        state.stats.actions.push(action.clone());
        if json && let Some(answer) = failing(&mut state, &action, &body) {
            return answer;
        }
        // Request ids from a sequence of their own, so as not to shift rolls.
        let mut seq = state.faults.seed ^ state.stats.requests.rotate_left(32);
        let id = u128::from(next(&mut seq)) << 64 | u128::from(next(&mut seq));
        let faults = state.faults.clone();
        (state.decide(parts.uri.path(), &action, json), id, faults)
    };
    let unknown = "Request processing has failed because of an unknown error.";
    match fault {
        Some(Fault::Throttle) if json => {
            return json_error(400, "ThrottlingException", "Rate exceeded");
        }
        Some(Fault::Throttle) => return error(400, "Sender", "Throttling", "Rate exceeded", id),
        Some(Fault::ServerError) if json => {
            return json_error(500, "InternalServerException", unknown);
        }
        Some(Fault::ServerError) => return error(500, "Receiver", "ServiceFailure", unknown, id),
        Some(Fault::Conflict) => {
            let message = "Another update is in progress for this account. Try again later.";
            return json_error(400, "ConflictException", message);
        }
        Some(Fault::DropRequest) => return Err(io::Error::other("fault: request dropped")),
        Some(Fault::DropResponse) | None => {}
    }
    tokio::time::sleep(faults.delay).await;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let host = url.trim_start_matches("http://");
    let mut forward = Request::builder().method(parts.method).header("host", host);
    for (name, value) in parts.headers.iter().filter(|(name, _)| copied(name)) {
        forward = forward.header(name, value);
    }
    let forward = forward.uri(format!("{url}{path}")).body(Full::new(body));
    // An unreachable moto also ends in a closed connection.
    let answer = moto.request(forward.unwrap()).await;
    let answer = answer.map_err(io::Error::other)?;
    state.lock().unwrap().stats.forwarded += 1;
    if fault == Some(Fault::DropResponse) {
        return Err(io::Error::other("fault: response dropped"));
    }
    let (parts, body) = answer.into_parts();
    let mut body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    if faults.page_gaad && action == "GetAccountAuthorizationDetails" && parts.status == 200 {
        let size = field(&form, "MaxItems").and_then(|m| m.parse().ok());
        let marker = field(&form, "Marker").and_then(|m| m.strip_prefix("page-"));
        let offset = marker.and_then(|m| m.parse().ok()).unwrap_or(0);
        match page_of(&body, size.unwrap_or(100), offset) {
            Some(page) => body = Bytes::from(page),
            None => eprintln!("proxy: cannot page this answer, passed whole: {body:?}"),
        }
    }
    let mut answer = Response::builder().status(parts.status);
    for (name, value) in parts.headers.iter().filter(|(name, _)| copied(name)) {
        answer = answer.header(name, value);
    }
    Ok(answer.body(Full::new(body)).unwrap())
}

/// The lists of a GetAccountAuthorizationDetails answer, paged together in
/// this order.
const LISTS: &str = "UserDetailList GroupDetailList RoleDetailList Policies";

/// Where the pageable parts of a GetAccountAuthorizationDetails answer lie.
struct Layout {
    /// Every item, in `LISTS` order: the index of its list in `LISTS`, and
    /// the byte range of its whole `<member>` element.
    items: Vec<(usize, Range<usize>)>,
    /// The byte range of `IsTruncated`'s text and end tag.
    truncated: Range<usize>,
}

/// Finds the items and `IsTruncated` of a full answer, shaped
/// `Response/Result/List/member`: an item is a `<member>` at depth 3;
/// deeper ones (attached policies, policy versions) are parts of an item.
fn layout(xml: &[u8]) -> Option<Layout> {
    let (mut items, mut truncated) = (Vec::new(), None);
    // Per open element: its name, where its start tag begins and ends.
    let mut open: Vec<(Vec<u8>, usize, usize)> = Vec::new();
    let mut reader = quick_xml::Reader::from_reader(xml);
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().ok()?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(e) => open.push((e.name().as_ref().to_vec(), before, after)),
            Event::End(_) => {
                let (name, start, content) = open.pop()?;
                let parent = open.get(2).map_or(&b""[..], |(l, ..)| l.as_slice());
                let list = LISTS.split(' ').position(|l| l.as_bytes() == parent);
                match (open.len(), list) {
                    (3, Some(list)) if name == b"member" => items.push((list, start..after)),
                    (2, _) if name == b"IsTruncated" => truncated = Some(content..after),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // A stable sort: items keep their order within their list.
    items.sort_by_key(|(list, _)| *list);
    let truncated = truncated?;
    Some(Layout { items, truncated })
}

/// Items `[offset, offset + size)` of a full GetAccountAuthorizationDetails
/// answer, across its four lists in order, each left in its own list, with
/// `IsTruncated` and `Marker` set as IAM sets them; `None` if not one.
fn page_of(full: &[u8], size: usize, offset: usize) -> Option<Vec<u8>> {
    let Layout { items, truncated } = layout(full)?;
    let page = offset..offset.saturating_add(size);
    let flag = match page.end < items.len() {
        true => format!("true</IsTruncated><Marker>page-{}</Marker>", page.end),
        false => "false</IsTruncated>".to_string(),
    };
    // Cut the items off the page and set the flag, from the end backwards so
    // that the ranges still ahead stay valid.
    let mut edits = vec![(truncated, flag.as_bytes())];
    let cut = items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !page.contains(i));
    edits.extend(cut.map(|(_, (_, range))| (range, &b""[..])));
    edits.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut out = full.to_vec();
    for (range, with) in edits {
        out.splice(range, with.iter().copied());
    }
    Some(out)
}

/// Items shaped as moto's (which has dates and ids besides), `#` their
/// number: they nest `<member>`s of their own, and hold policy documents
/// URL-encoded or entity-escaped.
const USER: &str = "<member><UserName>u#</UserName><UserPolicyList><member><PolicyName>in</PolicyName><PolicyDocument>%7B%22Version%22%3A%222012-10-17%22%7D</PolicyDocument></member></UserPolicyList><GroupList/><AttachedManagedPolicies><member><PolicyName>p0</PolicyName><PolicyArn>arn:aws:iam::123456789012:policy/p0</PolicyArn></member></AttachedManagedPolicies></member>";
const ROLE: &str = "<member><RoleName>r#</RoleName><AssumeRolePolicyDocument>{&quot;Version&quot;: &quot;2012-10-17&quot;}</AssumeRolePolicyDocument><RolePolicyList/><AttachedManagedPolicies><member><PolicyName>p0</PolicyName><PolicyArn>arn:aws:iam::123456789012:policy/p0</PolicyArn></member></AttachedManagedPolicies><Tags/></member>";
const POLICY: &str = "<member><PolicyName>p#</PolicyName><Arn>arn:aws:iam::123456789012:policy/p#</Arn><PolicyVersionList><member><Document>%7B%7D</Document><VersionId>v1</VersionId></member><member><Document>%7B%22Version%22%3A%222012-10-17%22%7D</Document><VersionId>v2</VersionId></member></PolicyVersionList></member>";
/// The end of the answer, which every page keeps.
const METADATA: &str = "<ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></GetAccountAuthorizationDetailsResponse>";

/// A full answer: 5 users, no groups, 2 roles and 7 policies.
fn full_answer() -> String {
    let all = |n, item: &str| {
        (0..n)
            .map(|i| item.replace('#', &i.to_string()))
            .collect::<String>()
    };
    let (users, roles, policies) = (all(5, USER), all(2, ROLE), all(7, POLICY));
    format!(
        "<GetAccountAuthorizationDetailsResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetAccountAuthorizationDetailsResult><UserDetailList>{users}</UserDetailList><GroupDetailList/><RoleDetailList>{roles}</RoleDetailList><Policies>{policies}</Policies><IsTruncated>false</IsTruncated></GetAccountAuthorizationDetailsResult>{METADATA}"
    )
}

const GAAD: &str = "Action=GetAccountAuthorizationDetails&Version=2010-05-08";
const LIST_USERS: &str = "Action=ListUsers&Version=2010-05-08";

/// A proxy in front of a stand-in for moto, which answers
/// GetAccountAuthorizationDetails with `full_answer()`, anything else with a
/// small document, and counts the requests that reach it.
struct Fake {
    proxy: Proxy,
    hits: Arc<AtomicU64>,
    _moto: Server,
}

impl Fake {
    fn start(set: impl FnOnce(&mut Faults)) -> Fake {
        let hits = Arc::new(AtomicU64::new(0));
        let counter = hits.clone();
        let moto = Server::start(move |req: Request<Incoming>| {
            counter.fetch_add(1, SeqCst);
            async move {
                let form = req.into_body().collect().await.map_err(io::Error::other)?;
                let gaad = form.to_bytes().starts_with(GAAD.as_bytes());
                let answer = if gaad { full_answer() } else { "<Ok/>".into() };
                Ok(Response::new(Full::new(Bytes::from(answer))))
            }
        });
        let mut faults = Faults::default();
        set(&mut faults);
        let proxy = Proxy::start(&format!("http://{}/", moto.addr), faults);
        let _moto = moto;
        Fake { proxy, hits, _moto }
    }

    /// POSTs `form` to `path` on a connection of its own, in raw bytes to see
    /// all that comes back: `None` if the connection closed (or was reset)
    /// without a byte of answer.
    fn post(&self, path: &str, form: &str) -> Option<(u16, String)> {
        self.send(path, "", form)
    }

    /// POSTs a JSON 1.1 request for the sso-admin operation `op`.
    fn post_json(&self, op: &str, body: &str) -> (u16, String) {
        let target = format!("\r\nx-amz-target: SWBExternalService.{op}");
        self.send("/", &target, body).expect("an answer")
    }

    /// POSTs `body` with `headers` (each after `\r\n`) added.
    fn send(&self, path: &str, headers: &str, form: &str) -> Option<(u16, String)> {
        let mut stream = std::net::TcpStream::connect(self.proxy.server.addr).unwrap();
        let timeout = Some(Duration::from_secs(10));
        stream.set_read_timeout(timeout).unwrap();
        let length = form.len();
        let head = format!(
            "POST {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {length}{headers}"
        );
        let request = format!("{head}\r\n\r\n{form}");
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        if stream.read_to_string(&mut answer).is_err() || answer.is_empty() {
            return None;
        }
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        Some((head[9..12].parse().unwrap(), body.to_string()))
    }

    fn status(&self, form: &str) -> u16 {
        self.post("/", form).expect("an answer").0
    }

    /// Requests that reached moto, then the proxy's counts in field order.
    fn counts(&self) -> [u64; 7] {
        let (s, hits) = (self.proxy.stats(), self.hits.load(SeqCst));
        [
            hits,
            s.requests,
            s.forwarded,
            s.throttled,
            s.server_errors,
            s.dropped_requests,
            s.dropped_responses,
        ]
    }
}

/// Each item of a GetAccountAuthorizationDetails answer, with its list.
fn items(xml: &str) -> Vec<(usize, &str)> {
    let layout = layout(xml.as_bytes()).expect("an account details answer");
    let items = layout.items.into_iter();
    items.map(|(list, range)| (list, &xml[range])).collect()
}

#[test]
fn pages_of_account_details_add_up_to_the_whole_answer() {
    let fake = Fake::start(|f| f.page_gaad = true);
    let (mut pages, mut marker) = (Vec::new(), String::new());
    for n in 1.. {
        let form = format!("{GAAD}&MaxItems=4{marker}");
        let (status, page) = fake.post("/", &form).unwrap();
        let mut reader = quick_xml::Reader::from_str(&page);
        while reader.read_event().expect("a well-formed page") != Event::Eof {}
        let (_, end) = page.split_once("<IsTruncated>").expect("IsTruncated");
        let tail = format!("</GetAccountAuthorizationDetailsResult>{METADATA}");
        let last = end == format!("false</IsTruncated>{tail}");
        let token = format!("page-{}", 4 * n);
        let more = end == format!("true</IsTruncated><Marker>{token}</Marker>{tail}");
        assert!(status == 200 && (last || more), "{status} {page}");
        marker = format!("&Marker={token}");
        pages.push(page);
        if last {
            break;
        }
    }
    let sizes: Vec<usize> = pages.iter().map(|page| items(page).len()).collect();
    assert_eq!(sizes, [4, 4, 4, 2]);
    let all: Vec<_> = pages.iter().flat_map(|page| items(page)).collect();
    assert_eq!(all, items(&full_answer()));
    // Without MaxItems, IAM's default of 100 takes all 14 items at once.
    assert_eq!(fake.post("/", GAAD).unwrap().1, full_answer());
    assert_eq!(fake.counts(), [5, 5, 5, 0, 0, 0, 0]);
    let actions = fake.proxy.stats().actions;
    assert_eq!(actions, ["GetAccountAuthorizationDetails"; 5]);
}

#[test]
fn throttling_and_server_errors_answer_as_iam_does() {
    let fake = Fake::start(|f| (f.throttle, f.exempt) = (1.0, vec!["GetUser"]));
    for _ in 0..3 {
        let (status, body) = fake.post("/", LIST_USERS).unwrap();
        let error = "<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>";
        assert!(status == 400 && body.contains(error), "{status} {body}");
    }
    // Neither an exempt action nor moto's own API is ever faulted.
    assert_eq!(fake.status("Action=GetUser&UserName=a"), 200);
    assert_eq!(fake.post("/moto-api/reset", "").unwrap().0, 200);
    assert_eq!(fake.counts(), [2, 5, 2, 3, 0, 0, 0]);
    let actions = fake.proxy.stats().actions;
    assert_eq!(actions.join(" "), "ListUsers ListUsers ListUsers GetUser ");

    let fake = Fake::start(|f| f.server_error = 1.0);
    let (status, body) = fake.post("/", LIST_USERS).unwrap();
    let start = "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Receiver</Type><Code>ServiceFailure</Code>";
    assert!(status == 500 && body.starts_with(start), "{status} {body}");
    assert_eq!(fake.counts(), [0, 1, 0, 0, 1, 0, 0]);
}

#[test]
fn dropped_requests_never_reach_moto_and_dropped_responses_do() {
    let fake = Fake::start(|f| f.drop_request = 1.0);
    assert_eq!(fake.post("/", "Action=CreatePolicy"), None);
    assert_eq!(fake.counts(), [0, 1, 0, 0, 0, 1, 0]);

    let fake = Fake::start(|f| f.drop_response = 1.0);
    assert_eq!(fake.post("/", "Action=CreatePolicy"), None);
    assert_eq!(fake.counts(), [1, 1, 1, 0, 0, 0, 1]);
}

#[test]
fn max_faults_bounds_them_and_a_seed_repeats_them() {
    let statuses = |fake: Fake| (0..20).map(|_| fake.status(LIST_USERS)).collect::<Vec<_>>();
    let fake = Fake::start(|f| (f.throttle, f.max_faults) = (1.0, Some(3)));
    let first: Vec<u16> = (0..6).map(|_| fake.status(LIST_USERS)).collect();
    assert_eq!(first, [400, 400, 400, 200, 200, 200]);
    assert_eq!(fake.counts(), [3, 6, 3, 3, 0, 0, 0]);

    let shares =
        |seed| move |f: &mut Faults| (f.throttle, f.server_error, f.seed) = (0.3, 0.3, seed);
    let first = statuses(Fake::start(shares(7)));
    assert_eq!(first, statuses(Fake::start(shares(7))));
    assert_ne!(first, statuses(Fake::start(shares(8))));
    for status in [200, 400, 500] {
        assert!(first.contains(&status), "{first:?}");
    }
}

#[test]
fn identity_center_conflicts_throttling_and_failed_assignments_answer_as_aws_does() {
    let fake = Fake::start(|f| (f.conflict, f.fail_assignments) = (1.0, 1));
    // The first assignment never reaches moto: in progress, then failed.
    let assign = r#"{"InstanceArn":"arn:aws:sso:::instance/ssoins-1","TargetId":"111111111111"}"#;
    let (status, body) = fake.post_json("CreateAccountAssignment", assign);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let created = &answer["AccountAssignmentCreationStatus"];
    assert_eq!((status, &created["Status"]), (200, &"IN_PROGRESS".into()));
    assert_eq!(created["TargetId"], "111111111111");
    let ask = format!(
        r#"{{"AccountAssignmentCreationRequestId":{}}}"#,
        created["RequestId"]
    );
    let (status, body) = fake.post_json("DescribeAccountAssignmentCreationStatus", &ask);
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    let asked = &answer["AccountAssignmentCreationStatus"];
    assert_eq!((status, &asked["Status"]), (200, &"FAILED".into()));
    assert_eq!(asked["FailureReason"], FAILURE_REASON);
    assert_eq!(fake.proxy.stats().failed_assignments, 1);
    // Later ones are writes like any other: refused as conflicting.
    let (status, body) = fake.post_json("CreateAccountAssignment", assign);
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, &error["__type"]),
        (400, &"ConflictException".into())
    );
    // Reads never conflict, and reach moto.
    assert_eq!(fake.post_json("ListPermissionSets", "{}").0, 200);
    assert_eq!(fake.counts()[..3], [1, 4, 1]);
    assert_eq!(fake.proxy.stats().conflicts, 1);

    let fake = Fake::start(|f| f.throttle = 1.0);
    let (status, body) = fake.post_json("ListPermissionSets", "{}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, &error["__type"]),
        (400, &"ThrottlingException".into())
    );
}
