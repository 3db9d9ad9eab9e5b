//! A loopback HTTP proxy in front of moto_server that injects faults into a
//! share of the requests — IAM `Throttling` errors, HTTP 500s, connections
//! dropped before or after the request reached moto — and that pages
//! `GetAccountAuthorizationDetails` as IAM does (moto answers it in one page
//! whatever `MaxItems` says).
//!
//! IAM and STS speak the query protocol: a form-encoded POST naming its
//! `Action`, answered in XML. moto does not check signatures, so requests are
//! forwarded unchanged.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Which faults to inject, and how often.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of requests answered `400 Throttling` instead of forwarded.
    pub throttle: f64,
    /// Share answered `500 ServiceFailure` instead of forwarded.
    pub server_error: f64,
    /// Share whose connection is closed unanswered, never reaching moto.
    pub drop_request: f64,
    /// Share forwarded to moto (so the change is made) whose answer is lost:
    /// the connection closes unanswered.
    pub drop_response: f64,
    /// Seed of the fault decisions, so a run is repeatable.
    pub seed: u64,
    /// Page `GetAccountAuthorizationDetails` by its `MaxItems` and `Marker`.
    pub page_gaad: bool,
    /// Stop injecting after this many faults.
    pub max_faults: Option<u64>,
    /// Wait this long before forwarding each request.
    pub delay: Duration,
}

/// What the proxy saw.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests received.
    pub requests: u64,
    /// Requests forwarded to moto.
    pub forwarded: u64,
    /// Answered with a throttling error.
    pub throttled: u64,
    /// Answered with a 500.
    pub server_errors: u64,
    /// Dropped before reaching moto.
    pub dropped_requests: u64,
    /// Dropped after moto answered.
    pub dropped_responses: u64,
    /// The `Action` of every request, in order.
    pub actions: Vec<String>,
}

struct State {
    upstream: String,
    faults: Faults,
    rng: u64,
    stats: Stats,
}

/// A running proxy; stops when dropped.
pub struct Proxy {
    url: String,
    state: Arc<Mutex<State>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 in front of `upstream`.
    pub fn start(upstream: &str, faults: Faults) -> Proxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            upstream: upstream.trim_end_matches('/').to_string(),
            rng: faults.seed,
            faults,
            stats: Stats::default(),
        }));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let client: Client<HttpConnector, Full<Bytes>> =
                    Client::builder(TokioExecutor::new()).build_http();
                loop {
                    let stream = tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => match accepted {
                            Ok((s, _)) => s,
                            Err(_) => continue,
                        },
                    };
                    let (state, client) = (shared.clone(), client.clone());
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            handle(req, state.clone(), client.clone())
                        });
                        // A dropped connection ends here with an error: expected.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Proxy {
            url,
            state,
            stop: Some(stop),
        }
    }

    /// The proxy's URL, for `AWS_ENDPOINT_URL`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// What it has seen so far.
    pub fn stats(&self) -> Stats {
        self.state.lock().unwrap().stats.clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// splitmix64, as a share in [0, 1).
fn roll(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// A form field of the request body.
fn field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

enum Fault {
    Throttle,
    ServerError,
    DropRequest,
    DropResponse,
}

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>00000000-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    client: Client<HttpConnector, Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    let action = field(&text, "Action").unwrap_or("").to_string();
    let (fault, delay, upstream, page) = {
        let mut s = state.lock().unwrap();
        s.stats.requests += 1;
        s.stats.actions.push(action.clone());
        let f = s.faults.clone();
        let injected = s.stats.throttled
            + s.stats.server_errors
            + s.stats.dropped_requests
            + s.stats.dropped_responses;
        let own_api = parts.uri.path().starts_with("/moto-api");
        let r = roll(&mut s.rng);
        let fault = if own_api || f.max_faults.is_some_and(|m| injected >= m) {
            None
        } else if r < f.throttle {
            Some(Fault::Throttle)
        } else if r < f.throttle + f.server_error {
            Some(Fault::ServerError)
        } else if r < f.throttle + f.server_error + f.drop_request {
            Some(Fault::DropRequest)
        } else if r < f.throttle + f.server_error + f.drop_request + f.drop_response {
            Some(Fault::DropResponse)
        } else {
            None
        };
        match fault {
            Some(Fault::Throttle) => s.stats.throttled += 1,
            Some(Fault::ServerError) => s.stats.server_errors += 1,
            Some(Fault::DropRequest) => s.stats.dropped_requests += 1,
            Some(Fault::DropResponse) => s.stats.dropped_responses += 1,
            None => {}
        }
        let page = (f.page_gaad && action == "GetAccountAuthorizationDetails").then(|| {
            (
                field(&text, "MaxItems")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(100),
                field(&text, "Marker")
                    .and_then(|m| m.strip_prefix("page-")?.parse().ok())
                    .unwrap_or(0),
            )
        });
        (fault, f.delay, s.upstream.clone(), page)
    };
    match fault {
        Some(Fault::Throttle) => {
            return Ok(error(
                StatusCode::BAD_REQUEST,
                "Sender",
                "Throttling",
                "Rate exceeded",
            ));
        }
        Some(Fault::ServerError) => {
            return Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Receiver",
                "ServiceFailure",
                "Request processing has failed because of an unknown error.",
            ));
        }
        // An error from the service makes hyper close the connection
        // without writing a response.
        Some(Fault::DropRequest) => return Err(std::io::Error::other("dropped request")),
        _ => {}
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut forward = Request::builder().method(parts.method).uri(format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    ));
    for (name, value) in &parts.headers {
        if !matches!(name.as_str(), "host" | "connection" | "content-length") {
            forward = forward.header(name, value);
        }
    }
    let answer = client
        .request(forward.body(Full::new(body)).unwrap())
        .await
        .map_err(std::io::Error::other)?;
    state.lock().unwrap().stats.forwarded += 1;
    if matches!(fault, Some(Fault::DropResponse)) {
        return Err(std::io::Error::other("dropped response"));
    }
    let (parts, body) = answer.into_parts();
    let mut body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if let (Some((size, offset)), true) = (page, parts.status.is_success()) {
        body = Bytes::from(page_of(&body, size, offset));
    }
    let mut out = Response::builder().status(parts.status);
    for (name, value) in &parts.headers {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out = out.header(name, value);
        }
    }
    Ok(out.body(Full::new(body)).unwrap())
}

/// The lists of a GetAccountAuthorizationDetails answer, paged together.
const LISTS: [&[u8]; 4] = [
    b"UserDetailList",
    b"GroupDetailList",
    b"RoleDetailList",
    b"Policies",
];

/// Items `[offset, offset + size)` of a full GetAccountAuthorizationDetails
/// answer, across its four lists in order, with `IsTruncated` and `Marker`
/// set as IAM sets them.
pub fn page_of(full: &[u8], size: usize, offset: usize) -> Vec<u8> {
    use quick_xml::events::Event;
    // Per list: the range of its content, and its top-level members.
    let mut lists: Vec<(usize, Range<usize>, Vec<Range<usize>>)> = Vec::new();
    let mut truncated: Option<Range<usize>> = None;
    let mut stack: Vec<Vec<u8>> = Vec::new();
    let mut reader = quick_xml::Reader::from_reader(full);
    let mut member_start = 0;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().expect("moto answers well-formed XML");
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(e) => {
                let name = e.name().as_ref().to_vec();
                if let Some(i) = LISTS.iter().position(|l| *l == name.as_slice())
                    && stack.len() == 2
                {
                    lists.push((i, after..after, Vec::new()));
                }
                let in_list =
                    stack.len() == 3 && LISTS.contains(&stack[2].as_slice()) && name == b"member";
                if in_list {
                    member_start = before;
                }
                if name == b"IsTruncated" && stack.len() == 2 {
                    truncated = Some(after..after);
                }
                stack.push(name);
            }
            Event::End(e) => {
                stack.pop();
                let name = e.name().as_ref().to_vec();
                if stack.len() == 3 && LISTS.contains(&stack[2].as_slice()) && name == b"member" {
                    lists.last_mut().unwrap().2.push(member_start..after);
                } else if stack.len() == 2 && LISTS.contains(&name.as_slice()) {
                    lists.last_mut().unwrap().1.end = before;
                } else if stack.len() == 2 && name == b"IsTruncated" {
                    truncated.as_mut().unwrap().end = before;
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    lists.sort_by_key(|(i, ..)| *i);
    let total: usize = lists.iter().map(|(_, _, m)| m.len()).sum();
    let more = offset + size < total;
    // Edits, applied from the end so earlier ranges stay valid.
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    let mut seen = 0;
    for (_, content, members) in &lists {
        let mut kept = Vec::new();
        for m in members {
            if (offset..offset + size).contains(&seen) {
                kept.extend_from_slice(&full[m.clone()]);
            }
            seen += 1;
        }
        edits.push((content.clone(), kept));
    }
    let flag = truncated.expect("an IsTruncated element");
    let after_flag = flag.end + "</IsTruncated>".len();
    edits.push((
        flag,
        if more {
            b"true".to_vec()
        } else {
            b"false".to_vec()
        },
    ));
    if more {
        let marker = format!("<Marker>page-{}</Marker>", offset + size);
        edits.push((after_flag..after_flag, marker.into_bytes()));
    }
    edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = full.to_vec();
    for (range, with) in edits {
        out.splice(range, with);
    }
    out
}

/// A canned answer shaped as moto's, members nesting members of their own.
fn canned() -> String {
    let member = |body: &str| format!("<member>{body}</member>");
    let users: String = (0..5)
        .map(|i| {
            member(&format!(
                "<UserName>u{i}</UserName><AttachedManagedPolicies>{}</AttachedManagedPolicies>",
                member("<PolicyArn>arn:x</PolicyArn>")
            ))
        })
        .collect();
    let roles: String = (0..2)
        .map(|i| member(&format!("<RoleName>r{i}</RoleName>")))
        .collect();
    let policies: String = (0..7)
        .map(|i| {
            member(&format!(
                "<PolicyName>p{i}</PolicyName><PolicyVersionList>{}</PolicyVersionList>",
                member("<Document>%7B%7D</Document>")
            ))
        })
        .collect();
    format!(
        "<GetAccountAuthorizationDetailsResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetAccountAuthorizationDetailsResult><UserDetailList>{users}</UserDetailList><GroupDetailList/><RoleDetailList>{roles}</RoleDetailList><Policies>{policies}</Policies><IsTruncated>false</IsTruncated></GetAccountAuthorizationDetailsResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetAccountAuthorizationDetailsResponse>"
    )
}

#[test]
fn pages_of_account_details_add_up_to_the_whole_answer() {
    let full = canned();
    let names = |xml: &str| -> Vec<String> {
        xml.split('<')
            .filter_map(|t| {
                let t = t
                    .strip_prefix("UserName>")
                    .or(t.strip_prefix("RoleName>"))
                    .or(t.strip_prefix("PolicyName>"))?;
                Some(t.to_string())
            })
            .collect()
    };
    let mut all = Vec::new();
    let mut offset = 0;
    let mut pages = 0;
    loop {
        let page = String::from_utf8(page_of(full.as_bytes(), 4, offset)).unwrap();
        let mut reader = quick_xml::Reader::from_str(&page);
        while !matches!(
            reader.read_event().expect("well-formed page"),
            quick_xml::events::Event::Eof
        ) {}
        pages += 1;
        let got = names(&page);
        assert!(got.len() <= 4, "{page}");
        all.extend(got);
        match page.split("<Marker>").nth(1) {
            Some(rest) => {
                assert!(page.contains("<IsTruncated>true</IsTruncated>"), "{page}");
                offset = rest.split("</Marker>").next().unwrap()["page-".len()..]
                    .parse()
                    .unwrap();
            }
            None => {
                assert!(page.contains("<IsTruncated>false</IsTruncated>"), "{page}");
                break;
            }
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(all, names(&full));
    assert_eq!(all.len(), 14);
}
