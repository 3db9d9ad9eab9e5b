//! A real `moto_server` for the AWS IAM tests.
//!
//! The suite starts one itself on a free loopback port (or uses the one in
//! `GITGRANT_TEST_MOTO_URL`). Tests that use it take turns: each holds a
//! lock and starts from a reset server. A watchdog shell stops the server
//! when the test process ends, however it ends.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_iam::Client;
use serde_json::Value;

/// The running server, kept for the life of the test process.
struct Server {
    url: String,
    // Dropped only at exit: closing it tells the watchdog to stop moto.
    _watchdog: Option<(Child, ChildStdin)>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

const HOW: &str = "moto_server is needed for the AWS tests: run scripts/test, which installs it \
into target/moto-venv, or `python3 -m venv target/moto-venv && target/moto-venv/bin/pip install \
'moto[server]'`; or set GITGRANT_TEST_MOTO_URL to a running server's URL";

fn find_moto() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server");
    if venv.exists() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("moto_server"))
            .find(|p| p.exists())
    })
}

fn start() -> Result<Server, String> {
    if let Ok(url) = std::env::var("GITGRANT_TEST_MOTO_URL") {
        wait_ready(&url)?;
        return Ok(Server {
            url,
            _watchdog: None,
        });
    }
    let moto = find_moto().ok_or_else(|| HOW.to_string())?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("finding a free port: {e}"))?
        .port();
    // The shell starts moto, then waits for its stdin to close — at the
    // latest when this process exits — and stops moto.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read _ || true; kill $pid"#)
        .arg(&moto)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}; {HOW}", moto.display()))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&url).map_err(|e| format!("{e} ({} did not come up)", moto.display()))?;
    Ok(Server {
        url,
        _watchdog: Some((child, stdin)),
    })
}

/// One plain HTTP request to moto's own API; returns the status code.
fn moto_api(url: &str, method: &str, path: &str) -> std::io::Result<u16> {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no HTTP status in {answer:?}")))
}

fn wait_ready(url: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match moto_api(url, "GET", "/moto-api/") {
            Ok(200) => return Ok(()),
            r if Instant::now() > deadline => {
                return Err(format!(
                    "moto_server at {url} is not answering: {r:?}; {HOW}"
                ));
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A test's turn at the server, which starts empty.
pub struct Moto {
    /// The server's URL.
    pub url: String,
    _turn: MutexGuard<'static, ()>,
}

/// Waits for the server (starting it once), then resets it.
pub fn moto() -> Moto {
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let server = SERVER
        .get_or_init(start)
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    let status = moto_api(&server.url, "POST", "/moto-api/reset").expect("resetting moto");
    assert_eq!(status, 200, "POST /moto-api/reset");
    Moto {
        url: server.url.clone(),
        _turn: turn,
    }
}

/// Runs a future to completion on a small runtime of its own.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// An IAM client in `account`, through moto's STS (a role in another
/// account is assumed as gitgrant's providers do).
pub fn iam(url: &str, account: &str) -> Client {
    block_on(async {
        let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::from_static("us-east-1"))
            .credentials_provider(aws_sdk_iam::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await;
        let creds = aws_sdk_sts::Client::new(&base)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/test-setup"))
            .role_session_name("test")
            .send()
            .await
            .unwrap()
            .credentials
            .unwrap();
        let creds = aws_sdk_iam::config::Credentials::new(
            creds.access_key_id,
            creds.secret_access_key,
            Some(creds.session_token),
            None,
            "moto",
        );
        Client::from_conf(
            aws_sdk_iam::config::Builder::from(&base)
                .credentials_provider(creds)
                .build(),
        )
    })
}

/// Creates IAM users.
pub fn create_users(iam: &Client, names: &[&str]) {
    block_on(async {
        for n in names {
            iam.create_user().user_name(*n).send().await.unwrap();
        }
    })
}

/// A managed policy as a test inspects it.
#[derive(Debug, Clone)]
pub struct SeenPolicy {
    pub name: String,
    pub path: String,
    pub document: Value,
    pub versions: usize,
    pub users: Vec<String>,
    pub tags: Vec<(String, String)>,
}

/// Every local managed policy under `prefix`, read call by call (a test may
/// spend calls that gitgrant may not).
pub fn policies(iam: &Client, prefix: &str) -> Vec<SeenPolicy> {
    block_on(async {
        let list = iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .path_prefix(prefix)
            .max_items(1000)
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for p in list.policies() {
            let arn = p.arn().unwrap().to_string();
            let version = iam
                .get_policy_version()
                .policy_arn(&arn)
                .version_id(p.default_version_id().unwrap())
                .send()
                .await
                .unwrap();
            let raw = version.policy_version().unwrap().document().unwrap();
            let decoded = percent_encoding::percent_decode_str(raw).decode_utf8_lossy();
            let versions = iam
                .list_policy_versions()
                .policy_arn(&arn)
                .send()
                .await
                .unwrap()
                .versions()
                .len();
            let users = iam
                .list_entities_for_policy()
                .policy_arn(&arn)
                .send()
                .await
                .unwrap()
                .policy_users()
                .iter()
                .filter_map(|u| u.user_name().map(str::to_string))
                .collect();
            let tags = iam
                .list_policy_tags()
                .policy_arn(&arn)
                .send()
                .await
                .unwrap()
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            out.push(SeenPolicy {
                name: p.policy_name().unwrap().to_string(),
                path: p.path().unwrap().to_string(),
                document: serde_json::from_str(&decoded).unwrap(),
                versions,
                users,
                tags,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    })
}

/// Creates a policy at `path` (someone else's, or a planted one) attached
/// to `user`; returns its ARN.
pub fn plant_policy(iam: &Client, path: &str, name: &str, user: &str) -> String {
    block_on(async {
        let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#;
        let arn = iam
            .create_policy()
            .policy_name(name)
            .path(path)
            .policy_document(doc)
            .send()
            .await
            .unwrap()
            .policy()
            .unwrap()
            .arn()
            .unwrap()
            .to_string();
        iam.attach_user_policy()
            .user_name(user)
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        arn
    })
}
