//! A real PostgreSQL server for the postgres kind's tests.
//!
//! The suite runs `initdb` in a temporary directory and starts `postgres`
//! on a free loopback port, logging every statement with the application
//! and user that sent it; a watchdog shell stops it when the test process
//! ends, however it ends. As root (PostgreSQL refuses to run as root) the
//! server runs as the `postgres` user (Debian's package makes it) or
//! `nobody`. Tests take turns: each holds a lock and starts from a server
//! with no role but the superuser and no database but `postgres`.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The running server, kept for the life of the test process.
pub struct Server {
    /// Its loopback port.
    pub port: u16,
    /// The file every statement is logged to.
    pub log: PathBuf,
    /// The CA that signed the server's certificate (for `localhost` only).
    pub ca: PathBuf,
    /// A CA that signed nothing of the server's.
    pub other_ca: PathBuf,
    _dir: tempfile::TempDir,
    _watchdog: (Child, ChildStdin),
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

const HOW: &str = "PostgreSQL's server is needed for the postgres tests: run scripts/test, \
which installs Debian's postgresql package when it is missing, or `apt-get install postgresql`; \
or set GITGRANT_PG_BIN to the directory that holds initdb and postgres";

/// The directory of `initdb` and `postgres`.
fn bin_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GITGRANT_PG_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("postgres").exists())
        .collect();
    found.sort();
    found.pop()
}

/// The user to run the server as, when this process is root.
fn server_user() -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    let uid_of = |name: &str| {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name))
                .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
    };
    uid_of("postgres").or_else(|| uid_of("nobody"))
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

/// `program args…`, as the server's user when this process is root.
fn as_server(program: &Path, owner: Option<(u32, u32)>) -> Command {
    match owner {
        Some((uid, gid)) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn start() -> Result<Server, String> {
    let bin = bin_dir().ok_or_else(|| HOW.to_string())?;
    let dir = tempfile::Builder::new()
        .prefix("gitgrant-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let owner = if is_root() { server_user() } else { None };
    if is_root() && owner.is_none() {
        return Err(format!(
            "running as root with no `postgres` or `nobody` user to run the server as; {HOW}"
        ));
    }
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).map_err(|e| e.to_string())?;
    }
    let data = dir.path().join("data");
    let out = as_server(&bin.join("initdb"), owner)
        .args([
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ])
        .output()
        .map_err(|e| format!("running initdb: {e}; {HOW}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // TLS: a certificate for `localhost` (not 127.0.0.1) from a CA of the
    // suite's own; the role `reconciler_tls` may connect only over TLS.
    let (ca, other_ca) = (dir.path().join("ca.pem"), dir.path().join("other-ca.pem"));
    let (cert, key) = certificates(&ca, &other_ca);
    let files = [
        (data.join("server.crt"), cert),
        (data.join("server.key"), key),
        (
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostnossl all reconciler_tls 127.0.0.1/32 reject\n\
             host all all 127.0.0.1/32 trust\n"
                .to_string(),
        ),
    ];
    for (path, text) in files {
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(|e| e.to_string())?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("finding a free port: {e}"))?
        .port();
    let log = dir.path().join("statements.log");
    let mut cmd = Command::new("sh");
    // The shell starts the server, then waits for its stdin to close — at
    // the latest when this process exits — and stops it.
    cmd.arg("-c")
        .arg(r#""$@" 2>"$LOG" & pid=$!; read _ || true; kill -INT $pid; wait $pid"#)
        .arg("sh")
        .env("LOG", &log);
    let server = as_server(&bin.join("postgres"), owner);
    cmd.arg(server.get_program());
    cmd.args(server.get_args());
    cmd.args([
        "-D",
        data.to_str().unwrap(),
        "-p",
        &port.to_string(),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        &format!("unix_socket_directories={}", dir.path().display()),
        "-c",
        "log_statement=all",
        "-c",
        "log_line_prefix=%a|%u|",
        "-c",
        "fsync=off",
        "-c",
        "ssl=on",
    ]);
    if let Some((uid, gid)) = owner {
        // The log file is the server's to write.
        std::fs::write(&log, "").map_err(|e| e.to_string())?;
        std::os::unix::fs::chown(&log, Some(uid), Some(gid)).map_err(|e| e.to_string())?;
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting postgres: {e}; {HOW}"))?;
    let stdin = child.stdin.take().expect("piped stdin");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
            .status()
            .is_ok_and(|s| s.success())
        {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "postgres did not come up on port {port}: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Server {
        port,
        log,
        ca,
        other_ca,
        _dir: dir,
        _watchdog: (child, stdin),
    })
}

/// Writes the suite's CA to `ca` and another to `other_ca`; the server's
/// certificate (for `localhost`) and key, as PEM.
fn certificates(ca: &Path, other_ca: &Path) -> (String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let issuer = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    };
    let (mine, other) = (issuer("gitgrant test CA"), issuer("someone else's CA"));
    std::fs::write(ca, mine.pem()).unwrap();
    std::fs::write(other_ca, other.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &mine)
        .unwrap();
    (leaf.pem(), key.serialize_pem())
}

/// The server, started once per test process, and this test's turn on it,
/// from a clean server.
pub fn server() -> (&'static Server, MutexGuard<'static, ()>) {
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let server = match SERVER.get_or_init(start) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    server.reset();
    (server, turn)
}

impl Server {
    /// A URL for `user` on `database`.
    pub fn url(&self, user: &str, database: &str) -> String {
        format!(
            "postgres://{user}@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// Runs `sql` (statements separated by `;`) as `user` on `database`;
    /// the server's error when it fails.
    pub fn exec_as(&self, user: &str, database: &str, sql: &str) -> Result<(), String> {
        let url = self.url(user, database);
        let sql = sql.to_string();
        runtime().block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            client.batch_execute(&sql).await.map_err(|e| {
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string())
            })
        })
    }

    /// Runs `sql` as the superuser on `database`; panics when it fails.
    pub fn exec(&self, database: &str, sql: &str) {
        if let Err(e) = self.exec_as("postgres", database, sql) {
            panic!("{sql}: {e}");
        }
    }

    /// The rows `sql` answers, as `user`, each column as text.
    pub fn query_as(
        &self,
        user: &str,
        database: &str,
        sql: &str,
    ) -> Result<Vec<Vec<Option<String>>>, String> {
        let url = self.url(user, database);
        let sql = sql.to_string();
        runtime().block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let rows = client.simple_query(&sql).await.map_err(|e| {
                e.as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_string())
            })?;
            Ok(rows
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                    }
                    _ => None,
                })
                .collect())
        })
    }

    /// The rows `sql` answers as the superuser.
    pub fn query(&self, database: &str, sql: &str) -> Vec<Vec<Option<String>>> {
        self.query_as("postgres", database, sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The statements logged so far, as `(application, user, statement)`:
    /// simple queries and executions of prepared ones.
    pub fn statements(&self) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut out: Vec<(String, String, String)> = Vec::new();
        for line in text.lines() {
            let mut parts = line.splitn(3, '|');
            let (Some(app), Some(user), Some(rest)) = (parts.next(), parts.next(), parts.next())
            else {
                // A statement's later lines.
                if let Some(last) = out.last_mut() {
                    last.2.push('\n');
                    last.2.push_str(line);
                }
                continue;
            };
            let statement = rest.strip_prefix("LOG:  statement: ").or_else(|| {
                rest.strip_prefix("LOG:  execute ")
                    .and_then(|r| Some(r.split_once(": ")?.1))
            });
            if let Some(s) = statement {
                out.push((app.to_string(), user.to_string(), s.to_string()));
            }
        }
        out
    }

    /// Drops every database but `postgres` and the templates, and every
    /// role but the superuser and the predefined ones.
    fn reset(&self) {
        let dbs = self.query("postgres", "SELECT datname FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')");
        for db in dbs
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
        {
            self.exec("postgres", &format!("DROP DATABASE \"{db}\" WITH (FORCE)"));
        }
        let roles = self.query(
            "postgres",
            "SELECT rolname FROM pg_roles WHERE rolname <> 'postgres' AND rolname !~ '^pg_'",
        );
        for r in roles
            .into_iter()
            .filter_map(|r| r.into_iter().next().flatten())
        {
            self.exec(
                "postgres",
                &format!("DROP OWNED BY \"{r}\" CASCADE; DROP ROLE \"{r}\""),
            );
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}
