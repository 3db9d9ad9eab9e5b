//! The postgres kind through the real binary, against a real PostgreSQL
//! server (pg.rs): during the window the vendor reads `sales` and nothing
//! else, before and after it nothing; an open session is ended at the end;
//! a steady run sends one catalogue query and no changing statement;
//! foreign roles and privileges are never touched; drift is repaired; a
//! name carrying SQL never reaches the server; an unreachable server is
//! reported and nothing is claimed about it.

use serde_json::Value;

use crate::gcp_run::{json_of, text_of};
use crate::pg::{Server, server};
use crate::support::{GitRepo, grant_yaml};

const DB: &str = "analytics";
const GRANT: &str = "grants/sales-read/globex-1.yaml";

fn policy(extra: &str) -> String {
    format!(
        r#"version: 1
repository: acme/access
security_team: "@acme/security"
providers:
  pg-analytics: {{ type: postgres, url_env: GITGRANT_PG_ANALYTICS }}
people:
  globex: {{ postgres_user: vendor_globex }}
roles:
  sales-read:
    description: A vendor reads the sales schema
    provider: pg-analytics
    max_duration: 3d
    approvers: ["@acme/data"]
    permissions:
      postgres:
        schemas:
          sales: [SELECT]
        roles: [reporting]
{extra}"#
    )
}

/// The database: `sales` and `hr`, the vendor's login, a `reporting`
/// role, a foreign analyst with privileges of their own, and a role named
/// like gitgrant's that another repository's comment claims.
fn database(pg: &Server) {
    pg.exec("postgres", &format!("CREATE DATABASE {DB}"));
    pg.exec(
        DB,
        "CREATE SCHEMA sales; CREATE SCHEMA hr; CREATE SCHEMA reports;
         CREATE TABLE sales.orders (id int, amount int); INSERT INTO sales.orders VALUES (1, 100);
         CREATE TABLE sales.customers (id int); CREATE TABLE hr.employees (id int, salary int);
         CREATE TABLE reports.daily (day date); 
         CREATE ROLE vendor_globex LOGIN; CREATE ROLE reporting NOLOGIN;
         GRANT USAGE ON SCHEMA reports TO reporting; GRANT SELECT ON reports.daily TO reporting;
         CREATE ROLE analyst LOGIN; GRANT USAGE ON SCHEMA sales TO analyst;
         GRANT SELECT, INSERT ON sales.orders TO analyst;
         CREATE ROLE gitgrant_0123456789abcdef01234567 NOLOGIN;
         COMMENT ON ROLE gitgrant_0123456789abcdef01234567 IS 'gitgrant acme/other sales-read/globex-1';
         GRANT gitgrant_0123456789abcdef01234567 TO vendor_globex;",
    );
}

/// The repository, with globex's grant for 12:00 to 20:00 landed at 10:00,
/// and the database with the reconciler set up by `gitgrant iam-policy`'s
/// SQL.
fn setup(pg: &Server) -> GitRepo {
    database(pg);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("gitgrant.yaml"), policy("")).unwrap();
    let repo = GitRepo::from_template(tmp.path(), "2026-11-23T08:00:00Z", "Access policy (#1)");
    repo.commit(
        &[(
            GRANT,
            Some(&grant_yaml(
                "globex",
                "sales-read",
                "starts: 2026-11-23T12:00:00Z\nexpires: 2026-11-23T20:00:00Z",
            )),
        )],
        "globex: sales-read (#2)",
        "2026-11-23T10:00:00Z",
    );
    let (code, sql) = text_of(
        &["iam-policy", "--provider", "pg-analytics"],
        &repo.path,
        &[],
    );
    assert_eq!(code, Some(0), "{sql}");
    assert!(
        sql.contains("CREATE ROLE gitgrant LOGIN CREATEROLE"),
        "{sql}"
    );
    pg.exec(DB, &sql);
    repo
}

fn env(pg: &Server) -> Vec<(String, String)> {
    vec![("GITGRANT_PG_ANALYTICS".to_string(), pg.url("gitgrant", DB))]
}

/// `gitgrant reconcile --now NOW`: its exit code and JSON.
fn reconcile(repo: &GitRepo, pg: &Server, now: &str) -> (i32, Value) {
    json_of(
        &["reconcile", "--now", now, "--format", "json"],
        &repo.path,
        &env(pg),
    )
}

fn reconciled(repo: &GitRepo, pg: &Server, now: &str) -> Value {
    let (code, json) = reconcile(repo, pg, now);
    assert_eq!(code, 0, "{json:#}");
    json
}

/// A run that changes nothing: its JSON applied nothing.
fn assert_quiet(json: &Value) {
    assert!(
        json["applied"].as_array().is_none_or(Vec::is_empty),
        "{json:#}"
    );
}

/// `gitgrant plan --now NOW`: what it printed.
fn plan_at(repo: &GitRepo, pg: &Server, now: &str) -> String {
    text_of(&["plan", "--now", now], &repo.path, &env(pg)).1
}

/// The repository after a run at 12:05 made the grant, and its role.
fn granted(pg: &Server) -> (GitRepo, String) {
    let repo = setup(pg);
    reconciled(&repo, pg, "2026-11-23T12:05:00Z");
    let role = grant_role(pg).expect("the grant's role");
    (repo, role)
}

/// Whether the role `role` can log in.
fn can_log_in(pg: &Server, role: &str) -> bool {
    let rows = pg.query(
        DB,
        &format!("SELECT rolcanlogin::text FROM pg_roles WHERE rolname = '{role}'"),
    );
    rows[0][0].as_deref() == Some("true")
}

/// Whether `user` may run `sql` in the database.
fn can(pg: &Server, user: &str, sql: &str) -> bool {
    pg.query_as(user, DB, sql).is_ok()
}

/// The grant's role, as gitgrant names it.
fn grant_role(pg: &Server) -> Option<String> {
    pg.query(
        DB,
        "SELECT r.rolname FROM pg_roles r WHERE shobj_description(r.oid, 'pg_authid') = 'gitgrant acme/access sales-read/globex-1'",
    )
    .into_iter()
    .next()
    .and_then(|r| r.into_iter().next().flatten())
}

/// The foreign analyst's privileges and the look-alike role, which no run
/// may touch.
fn foreign(pg: &Server) -> Vec<Vec<Option<String>>> {
    pg.query(
        DB,
        "(SELECT 'analyst', privilege_type FROM information_schema.role_table_grants
           WHERE grantee = 'analyst' ORDER BY privilege_type)
         UNION ALL
         SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles
           WHERE rolname = 'gitgrant_0123456789abcdef01234567'
         UNION ALL
         SELECT 'member', m.rolname FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member
           WHERE a.roleid = 'gitgrant_0123456789abcdef01234567'::regrole",
    )
}

const READ_SALES: &str = "SELECT amount FROM sales.orders";
const WRITE_SALES: &str = "INSERT INTO sales.orders VALUES (2, 5)";
const READ_HR: &str = "SELECT salary FROM hr.employees";
const READ_REPORTS: &str = "SELECT day FROM reports.daily";

#[test]
fn the_vendor_reads_sales_during_the_window_only_and_nothing_else() {
    let (pg, _turn) = server();
    let repo = setup(pg);
    let before = foreign(pg);
    // Before the window: nothing.
    let json = reconciled(&repo, pg, "2026-11-23T11:00:00Z");
    assert_quiet(&json);
    assert_eq!(grant_role(pg), None);
    assert!(!can(pg, "vendor_globex", READ_SALES));
    // During it: SELECT on every table of sales, and reporting's access;
    // no write, and nothing of hr.
    reconciled(&repo, pg, "2026-11-23T12:05:00Z");
    let role = grant_role(pg).expect("the grant's role");
    assert!(role.starts_with("gitgrant_"), "{role}");
    assert!(can(pg, "vendor_globex", READ_SALES));
    assert!(can(pg, "vendor_globex", "SELECT id FROM sales.customers"));
    assert!(can(pg, "vendor_globex", READ_REPORTS));
    assert!(!can(pg, "vendor_globex", WRITE_SALES));
    assert!(!can(pg, "vendor_globex", READ_HR));
    // The role cannot log in, and only the vendor holds it.
    assert!(!can_log_in(pg, &role));
    // After it: nothing, the role dropped, the file removed.
    reconciled(&repo, pg, "2026-11-23T20:05:00Z");
    assert_eq!(grant_role(pg), None);
    assert!(!can(pg, "vendor_globex", READ_SALES));
    assert!(!can(pg, "vendor_globex", READ_REPORTS));
    assert!(!repo.path.join(GRANT).exists());
    // The analyst's privileges and the look-alike role of another
    // repository, held by the vendor, are as they were.
    assert_eq!(foreign(pg), before);
    assert!(before.len() >= 4, "{before:?}");
    // The audit: a run ended it, as for every PostgreSQL grant.
    let (_, audit) = json_of(
        &["audit", "--format", "json", "--now", "2026-11-23T21:00:00Z"],
        &repo.path,
        &[],
    );
    let l = &audit["lifecycles"][0];
    assert_eq!(l["revocation"]["ended_by"], "run", "{l:#}");
}

#[test]
fn an_open_session_of_the_vendors_is_ended_at_the_end() {
    let (pg, _turn) = server();
    let (repo, _) = granted(pg);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(async {
        let (client, conn) =
            tokio_postgres::connect(&pg.url("vendor_globex", DB), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(conn);
        client
    });
    // The session reads during the window…
    rt.block_on(client.simple_query(READ_SALES))
        .expect("a read during the window");
    let json = reconciled(&repo, pg, "2026-11-23T20:05:00Z");
    assert!(
        json["applied"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "revoke" && a["ok"] == true),
        "{json:#}"
    );
    // …and is gone after the run that ended the grant.
    let after = rt.block_on(client.simple_query("SELECT 1"));
    assert!(after.is_err(), "the vendor's session outlived the grant");
    // The reconciler's other sessions and the superuser's are not ended.
    assert!(can(pg, "analyst", "SELECT 1"));
}

#[test]
fn a_second_run_sends_one_catalogue_query_and_no_changing_statement() {
    let (pg, _turn) = server();
    let (repo, _) = granted(pg);
    let logged = pg.statements().len();
    let json = reconciled(&repo, pg, "2026-11-23T12:10:00Z");
    assert_quiet(&json);
    let sent: Vec<_> = pg
        .statements()
        .into_iter()
        .skip(logged)
        .filter(|s| s.0 == "gitgrant")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(
        sent[0]
            .2
            .trim_start()
            .starts_with("SELECT json_build_object("),
        "{sent:#?}"
    );
    assert_eq!(sent[0].1, "gitgrant");
    let calls = &json["calls"]["pg-analytics"];
    assert_eq!(calls["reads"]["postgres:GetCatalogue"], 1, "{json:#}");
    assert!(
        calls["writes"].as_object().is_none_or(|w| w.is_empty()),
        "{json:#}"
    );
}

#[test]
fn a_drifted_gitgrant_role_is_repaired_and_reported() {
    let (pg, _turn) = server();
    let (repo, role) = granted(pg);
    // Someone who can manage roles lets the grant's role log in and hands
    // it to the analyst too.
    pg.exec(
        DB,
        &format!("GRANT {role} TO analyst; ALTER ROLE {role} LOGIN"),
    );
    // A table made after the grant is no drift: it is granted.
    pg.exec(DB, "CREATE TABLE sales.refunds (id int)");
    assert!(can(pg, "analyst", READ_REPORTS));
    let plan = plan_at(&repo, pg, "2026-11-23T12:10:00Z");
    for found in [
        format!("drift: {role} can log in"),
        format!("drift: analyst holds {role}"),
        "SELECT on sales.refunds granted".to_string(),
    ] {
        assert!(plan.contains(&found), "{found}: {plan}");
    }
    reconciled(&repo, pg, "2026-11-23T12:10:00Z");
    assert!(!can(pg, "analyst", READ_REPORTS));
    assert!(can(pg, "vendor_globex", READ_SALES));
    assert!(can(pg, "vendor_globex", "SELECT id FROM sales.refunds"));
    assert!(!can_log_in(pg, &role));
    // The analyst's own privileges stay.
    assert!(can(pg, "analyst", WRITE_SALES));
    // Repaired: the next run changes nothing.
    let json = reconciled(&repo, pg, "2026-11-23T12:15:00Z");
    assert_quiet(&json);
}

#[test]
fn privileges_the_reconciler_cannot_revoke_take_the_role_from_the_vendor_until_they_are() {
    let (pg, _turn) = server();
    let (repo, role) = granted(pg);
    // The tables' owner widens the grant's role: a write, and hr. Only
    // the owner can revoke what the owner granted.
    pg.exec(
        DB,
        &format!(
            "GRANT INSERT ON sales.orders TO {role}; GRANT USAGE ON SCHEMA hr TO {role};
             GRANT SELECT ON hr.employees TO {role}"
        ),
    );
    assert!(can(pg, "vendor_globex", WRITE_SALES));
    let plan = plan_at(&repo, pg, "2026-11-23T12:10:00Z");
    assert!(
        plan.contains("INSERT on sales.orders") && plan.contains("SELECT on hr.employees"),
        "{plan}"
    );
    let (code, json) = reconcile(&repo, pg, "2026-11-23T12:10:00Z");
    assert_ne!(code, 0, "{json:#}");
    let text = json.to_string();
    assert!(text.contains("cannot revoke"), "{json:#}");
    // Fail closed: the vendor holds nothing of it meanwhile.
    assert!(!can(pg, "vendor_globex", WRITE_SALES));
    assert!(!can(pg, "vendor_globex", READ_HR));
    assert!(!can(pg, "vendor_globex", READ_SALES));
    // Once the owner revokes them, the next run hands the role back.
    pg.exec(
        DB,
        &format!("REVOKE INSERT ON sales.orders FROM {role}; REVOKE ALL ON SCHEMA hr FROM {role}; REVOKE ALL ON hr.employees FROM {role}"),
    );
    reconciled(&repo, pg, "2026-11-23T12:15:00Z");
    assert!(can(pg, "vendor_globex", READ_SALES));
    assert!(!can(pg, "vendor_globex", WRITE_SALES));
}

#[test]
fn an_early_delete_ends_the_grant_at_the_next_run() {
    let (pg, _turn) = server();
    let (repo, _) = granted(pg);
    repo.commit(
        &[(GRANT, None)],
        "Revoke globex early (#3)",
        "2026-11-23T13:00:00Z",
    );
    let json = reconciled(&repo, pg, "2026-11-23T13:05:00Z");
    let revoked =
        json["applied"].as_array().unwrap().iter().any(|a| {
            a["action"] == "revoke" && a["grant"] == "sales-read/globex-1" && a["ok"] == true
        });
    assert!(revoked, "{json:#}");
    assert_eq!(grant_role(pg), None);
    assert!(!can(pg, "vendor_globex", READ_SALES));
}

#[test]
fn a_grant_whose_login_or_schema_the_database_lacks_is_refused_with_why() {
    let (pg, _turn) = server();
    let repo = setup(pg);
    pg.exec(DB, "DROP SCHEMA sales CASCADE");
    let (code, json) = reconcile(&repo, pg, "2026-11-23T12:05:00Z");
    let text = json.to_string();
    assert!(text.contains("has no schema `sales`"), "{json:#}");
    assert_ne!(code, 0, "{json:#}");
    assert_eq!(grant_role(pg), None);
}

#[test]
fn a_name_carrying_sql_is_refused_by_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let text = policy("")
        .replace(
            "sales: [SELECT]",
            "\"sales; DROP TABLE hr.employees\": [SELECT]",
        )
        .replace(
            "roles: [reporting]",
            "roles: [\"reporting\\\" TO analyst; --\"]",
        );
    std::fs::write(tmp.path().join("gitgrant.yaml"), &text).unwrap();
    let repo = GitRepo::from_template(tmp.path(), "2026-11-23T08:00:00Z", "Access policy (#1)");
    let (code, out) = text_of(&["validate"], &repo.path, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("pg-identifier"), "{out}");
    assert!(out.contains("gitgrant.yaml:17:"), "{out}");
    assert!(out.contains("gitgrant.yaml:18:"), "{out}");
}

#[test]
fn a_server_that_cannot_be_reached_is_reported_and_nothing_is_claimed() {
    let (pg, _turn) = server();
    let repo = setup(pg);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url =
        format!("postgres://gitgrant:secret-password@127.0.0.1:{closed}/{DB}?sslmode=disable");
    let env = vec![("GITGRANT_PG_ANALYTICS".to_string(), url)];
    // After the window's end: the file stays, for nothing says access ended.
    let out = crate::gcp_run::run_in(
        &[
            "reconcile",
            "--now",
            "2026-11-23T20:05:00Z",
            "--format",
            "json",
        ],
        &repo.path,
        &env,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_ne!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stdout}{stderr}");
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("could not connect to 127.0.0.1"), "{all}");
    assert!(
        !all.contains("secret-password"),
        "the URL's password was printed: {all}"
    );
    assert!(repo.path.join(GRANT).exists(), "{all}");
    // The URL variable unset: one line saying what to set.
    let (code, text) = text_of(
        &["reconcile", "--now", "2026-11-23T12:05:00Z"],
        &repo.path,
        &[],
    );
    assert_ne!(code, Some(0));
    assert!(text.contains("GITGRANT_PG_ANALYTICS is not set"), "{text}");
}

#[test]
fn sslmode_is_honoured_over_tls_through_rustls() {
    let (pg, _turn) = server();
    let repo = setup(pg);
    // A reconciler the server admits over TLS only (pg_hba: hostnossl reject).
    pg.exec(
        DB,
        "CREATE ROLE reconciler_tls LOGIN CREATEROLE IN ROLE gitgrant; GRANT pg_signal_backend TO reconciler_tls",
    );
    let url = |host: &str, query: &str| {
        vec![(
            "GITGRANT_PG_ANALYTICS".to_string(),
            format!("postgres://reconciler_tls@{host}:{}/{DB}?{query}", pg.port),
        )]
    };
    let ca = pg.ca.display().to_string();
    let other = pg.other_ca.display().to_string();
    let plan = |env: Vec<(String, String)>| {
        text_of(&["plan", "--now", "2026-11-23T12:05:00Z"], &repo.path, &env)
    };
    // Without TLS the server refuses it: the run says so in one line.
    let (code, text) = plan(url("127.0.0.1", "sslmode=disable"));
    assert_ne!(code, Some(0), "{text}");
    assert!(
        text.contains("no encryption") || text.contains("pg_hba.conf"),
        "{text}"
    );
    // verify-full: the chain to the given root, and the host's name.
    let (code, text) = plan(url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("gitgrant_"), "{text}");
    let (code, text) = plan(url(
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={other}"),
    ));
    assert_ne!(
        code,
        Some(0),
        "a certificate from another CA was accepted: {text}"
    );
    assert!(text.contains("invalid peer certificate"), "{text}");
    let (code, text) = plan(url(
        "127.0.0.1",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    ));
    assert_ne!(
        code,
        Some(0),
        "a certificate for another name was accepted: {text}"
    );
    assert!(text.contains("certificate not valid for name"), "{text}");
    // verify-ca checks the chain and not the name; require encrypts only.
    let (code, text) = plan(url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={ca}"),
    ));
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = plan(url(
        "127.0.0.1",
        &format!("sslmode=verify-ca&sslrootcert={other}"),
    ));
    assert_ne!(code, Some(0), "{text}");
    let (code, text) = plan(url("127.0.0.1", "sslmode=require"));
    assert_eq!(code, Some(0), "{text}");
    // And a run over TLS makes the grant.
    let (code, json) = json_of(
        &[
            "reconcile",
            "--now",
            "2026-11-23T12:05:00Z",
            "--format",
            "json",
        ],
        &repo.path,
        &url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={ca}"),
        ),
    );
    assert_eq!(code, 0, "{json:#}");
    assert!(can(pg, "vendor_globex", READ_SALES));
}

#[test]
fn what_could_make_access_permanent_is_refused_without_allow_admin() {
    // In the policy: TRIGGER, and a role that reaches the server's files.
    let tmp = tempfile::tempdir().unwrap();
    let text = policy("")
        .replace("sales: [SELECT]", "sales: [SELECT, TRIGGER]")
        .replace(
            "roles: [reporting]",
            "roles: [reporting, pg_write_server_files]",
        );
    std::fs::write(tmp.path().join("gitgrant.yaml"), &text).unwrap();
    let repo = GitRepo::from_template(tmp.path(), "2026-11-23T08:00:00Z", "Access policy (#1)");
    let (code, out) = text_of(&["validate"], &repo.path, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert_eq!(out.matches("error[pg-admin-role]").count(), 2, "{out}");
    let allowed = text.replace(
        "max_duration: 3d",
        "max_duration: 3d\n    allow_admin: true",
    );
    std::fs::write(repo.path.join("gitgrant.yaml"), allowed).unwrap();
    let (code, out) = text_of(&["validate"], &repo.path, &[]);
    assert_eq!(code, Some(0), "{out}");
    // In the database: a role that can create roles, known only there.
    let (pg, _turn) = server();
    let repo = setup(pg);
    pg.exec(DB, "ALTER ROLE reporting CREATEROLE");
    let (code, json) = reconcile(&repo, pg, "2026-11-23T12:05:00Z");
    assert_ne!(code, 0, "{json:#}");
    assert!(json.to_string().contains("can create roles"), "{json:#}");
    assert_eq!(grant_role(pg), None);
}

#[test]
fn a_role_with_the_grants_name_that_gitgrant_did_not_make_is_left_alone_and_the_grant_refused() {
    let (pg, _turn) = server();
    let repo = setup(pg);
    let name =
        gitgrant::providers::postgres::names::role_name("acme/access", "sales-read/globex-1");
    pg.exec(
        DB,
        &format!(
            "CREATE ROLE {name} NOLOGIN; COMMENT ON ROLE {name} IS 'gitgrant acme/other sales-read/globex-1';
             GRANT USAGE ON SCHEMA hr TO {name}; GRANT SELECT ON hr.employees TO {name}"
        ),
    );
    let (code, json) = reconcile(&repo, pg, "2026-11-23T12:05:00Z");
    assert_ne!(code, 0, "{json:#}");
    assert!(
        json.to_string().contains("gitgrant did not make it"),
        "{json:#}"
    );
    // Neither claimed, nor repaired, nor given to the vendor.
    assert!(!can(pg, "vendor_globex", READ_SALES));
    let held = pg.query(DB, &format!("SELECT privilege_type FROM information_schema.role_table_grants WHERE grantee = '{name}'"));
    assert_eq!(held, vec![vec![Some("SELECT".to_string())]]);
    // Even after the window, no run drops it.
    reconcile(&repo, pg, "2026-11-23T20:05:00Z");
    let left = pg.query(
        DB,
        &format!(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = '{name}'"
        ),
    );
    assert_eq!(
        left,
        vec![vec![Some(
            "gitgrant acme/other sales-read/globex-1".to_string()
        )]]
    );
}
