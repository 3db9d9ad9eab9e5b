//! `gitgrant init`, and the GitHub Actions files it and the examples ship:
//! what init writes validates and is current, it never overwrites, and every
//! workflow call and action use names inputs that exist and grants the
//! permissions the called jobs ask for (actionlint cannot see across these
//! calls: the reusable workflows and the action are remote to their callers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml::Value;

use crate::support::{examples, gitgrant, run_ok};

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `gitgrant init` for acme/access and 111111111111 into `dir`.
fn init(dir: &Path) -> std::process::Output {
    init_with(&["--account", "111111111111"], dir)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn init_makes_a_repository_that_validates_and_whose_generated_files_are_current() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("new-repo");
    let out = init(&repo);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for file in [
        "gitgrant.yaml",
        "README.md",
        "grants/.gitkeep",
        ".github/CODEOWNERS",
        ".github/workflows/gitgrant-check.yml",
        ".github/workflows/gitgrant-reconcile.yml",
        ".github/workflows/gitgrant-portal.yml",
        ".github/ISSUE_TEMPLATE/gitgrant-request.yml",
        "aws/trust-policy.json",
        "aws/reconciler-policy.json",
        "schema/grant.schema.json",
        "schema/policy.schema.json",
    ] {
        assert!(repo.join(file).is_file(), "{file} missing");
        assert!(stdout.contains(&format!("  {file}\n")), "{file} not listed");
    }

    let valid = run_ok(&["validate"], &repo);
    assert!(valid.starts_with("valid: gitgrant.yaml"), "{valid}");
    run_ok(&["codeowners", "--check"], &repo);
    run_ok(&["schema", "--check"], &repo);
    run_ok(&["portal", "--check"], &repo);
    assert_eq!(
        run_ok(&["iam-policy", "--provider", "aws"], &repo),
        read(&repo.join("aws/reconciler-policy.json")),
        "aws/reconciler-policy.json is not what `gitgrant iam-policy` prints"
    );

    let policy = read(&repo.join("gitgrant.yaml"));
    assert!(policy.contains("repository: acme/access\n"), "{policy}");
    assert!(policy.contains("account: \"111111111111\""), "{policy}");
    let trust: serde_json::Value =
        serde_json::from_str(&read(&repo.join("aws/trust-policy.json"))).unwrap();
    let statement = &trust["Statement"][0];
    assert_eq!(
        statement["Principal"]["Federated"],
        "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
    );
    let equals = &statement["Condition"]["StringEquals"];
    assert_eq!(
        equals["token.actions.githubusercontent.com:sub"],
        "repo:acme/access:ref:refs/heads/main"
    );
    assert_eq!(
        equals["token.actions.githubusercontent.com:aud"],
        "sts.amazonaws.com"
    );
}

#[test]
fn init_overwrites_nothing_and_writes_nothing_when_a_file_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("existing");
    std::fs::create_dir_all(repo.join(".github")).unwrap();
    std::fs::write(repo.join(".github/CODEOWNERS"), "* @someone\n").unwrap();
    let out = init(&repo);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("CODEOWNERS already exists") && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(read(&repo.join(".github/CODEOWNERS")), "* @someone\n");
    let left: Vec<_> = walk(&repo);
    assert_eq!(left, [".github/CODEOWNERS"], "init wrote files: {left:?}");

    // A second run into a directory init made is refused the same way.
    let fresh = tmp.path().join("fresh");
    assert_eq!(init(&fresh).status.code(), Some(0));
    let again = init(&fresh);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("gitgrant.yaml already exists (and "));
}

#[test]
fn init_refuses_a_bad_account_or_repository_with_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    for (repository, account, says) in [
        ("acme", "111111111111", "`acme` is not a GitHub repository"),
        (
            "acme/access/x",
            "111111111111",
            "is not a GitHub repository",
        ),
        (
            "acme/access",
            "11111111111",
            "`11111111111` is not an AWS account id",
        ),
        ("acme/access", "1111-1111-1111", "is not an AWS account id"),
    ] {
        let dir = tmp.path().join("out");
        let out = gitgrant()
            .args(["init", "--repository", repository, "--account", account])
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{repository} {account}");
        let err = stderr(&out);
        assert!(err.starts_with("error: ") && err.contains(says), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            !dir.exists(),
            "init made {} for {repository} {account}",
            dir.display()
        );
    }
}

/// Runs `gitgrant init` for acme/access with `clouds` into `dir`.
fn init_with(clouds: &[&str], dir: &Path) -> std::process::Output {
    gitgrant()
        .args(["init", "--repository", "acme/access"])
        .args(clouds)
        .arg(dir)
        .output()
        .unwrap()
}

/// The checks every new repository passes, whatever its clouds: it
/// validates, its generated files are current, each reconciler file is
/// what `gitgrant iam-policy` prints for its provider, and its reconcile
/// workflow names only inputs gitgrant's reusable workflow declares.
fn assert_current(repo: &Path, reconciler_files: &[(&str, &str)]) {
    let valid = run_ok(&["validate"], repo);
    assert!(valid.starts_with("valid: gitgrant.yaml"), "{valid}");
    run_ok(&["codeowners", "--check"], repo);
    run_ok(&["schema", "--check"], repo);
    run_ok(&["portal", "--check"], repo);
    for (provider, file) in reconciler_files {
        assert_eq!(
            run_ok(&["iam-policy", "--provider", provider], repo),
            read(&repo.join(file)),
            "{file} is not what `gitgrant iam-policy --provider {provider}` prints"
        );
    }
    let caller = yaml(&repo.join(".github/workflows/gitgrant-reconcile.yml"));
    let called = yaml(&project().join(".github/workflows/gitgrant-reconcile.yml"));
    check_inputs(
        "the scaffolded reconcile workflow",
        &called["on"]["workflow_call"]["inputs"],
        &caller["jobs"]["reconcile"]["with"],
    );
}

#[test]
fn init_for_a_google_cloud_project_binds_there_and_says_how_to_federate() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("new-repo");
    let out = init_with(&["--gcp-resource", "projects/acme-prod"], &repo);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("  gcp/reconciler-role.json\n"), "{stdout}");
    assert!(
        !repo.join("aws").exists(),
        "an AWS folder for a Google-only repository"
    );
    assert_current(&repo, &[("gcp", "gcp/reconciler-role.json")]);

    let policy = read(&repo.join("gitgrant.yaml"));
    assert!(
        policy.contains("  gcp:\n    type: gcp-iam\n    resource: projects/acme-prod\n"),
        "{policy}"
    );
    assert!(
        policy.contains("gcp_roles: [roles/logging.viewer"),
        "{policy}"
    );
    let workflow = yaml(&repo.join(".github/workflows/gitgrant-reconcile.yml"));
    let with = &workflow["jobs"]["reconcile"]["with"];
    assert_eq!(
        with["gcp-workload-identity-provider"],
        "${{ vars.GITGRANT_GCP_WORKLOAD_IDENTITY_PROVIDER }}"
    );
    assert_eq!(
        with["gcp-service-account"],
        "${{ vars.GITGRANT_GCP_SERVICE_ACCOUNT }}"
    );
    assert!(with.get("role-to-assume").is_none(), "{with:?}");
    for step in [
        "gcloud iam roles create gitgrantReconciler --project=acme-prod --file=gcp/reconciler-role.json",
        "--role=projects/acme-prod/roles/gitgrantReconciler",
        "assertion.repository == 'acme/access' && assertion.ref == 'refs/heads/main'",
        "roles/iam.workloadIdentityUser",
        "GITGRANT_GCP_WORKLOAD_IDENTITY_PROVIDER",
        "GITGRANT_GCP_SERVICE_ACCOUNT",
    ] {
        assert!(
            stdout.contains(step),
            "the next steps miss `{step}`:\n{stdout}"
        );
    }
    assert!(!stdout.contains("GITGRANT_AWS_ROLE"), "{stdout}");
}

#[test]
fn init_with_an_account_and_a_google_folder_makes_one_repository_for_both() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("new-repo");
    let out = init_with(
        &[
            "--account",
            "111111111111",
            "--gcp-resource",
            "folders/123456789012",
        ],
        &repo,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_current(
        &repo,
        &[
            ("aws", "aws/reconciler-policy.json"),
            ("gcp", "gcp/reconciler-role.json"),
        ],
    );
    assert!(
        read(&repo.join("gcp/reconciler-role.json"))
            .contains("resourcemanager.folders.setIamPolicy")
    );
    assert!(repo.join("aws/trust-policy.json").is_file());
    let workflow = yaml(&repo.join(".github/workflows/gitgrant-reconcile.yml"));
    let with = &workflow["jobs"]["reconcile"]["with"];
    assert_eq!(with["role-to-assume"], "${{ vars.GITGRANT_AWS_ROLE }}");
    assert_eq!(
        with["gcp-workload-identity-provider"],
        "${{ vars.GITGRANT_GCP_WORKLOAD_IDENTITY_PROVIDER }}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for step in [
        "GITGRANT_AWS_ROLE to arn:aws:iam::111111111111:role/gitgrant-reconciler",
        "gcloud resource-manager folders add-iam-policy-binding 123456789012",
        "GITGRANT_GCP_SERVICE_ACCOUNT",
    ] {
        assert!(
            stdout.contains(step),
            "the next steps miss `{step}`:\n{stdout}"
        );
    }
}

#[test]
fn init_refuses_a_bad_google_resource_or_no_cloud_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    for resource in [
        "projects/ACME",
        "buckets/acme",
        "projects/acme-prod\npeople: {}",
    ] {
        let out = init_with(&["--gcp-resource", resource], &dir);
        assert_eq!(out.status.code(), Some(2), "{resource}");
        let err = stderr(&out);
        assert!(
            err.starts_with("error: ") && err.contains("is not a Google Cloud resource"),
            "{err}"
        );
        assert!(!dir.exists(), "init made {} for {resource}", dir.display());
    }
    let out = init_with(&[], &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--account"), "{}", stderr(&out));
    assert!(!dir.exists());
}

/// Files under `dir`, relative, sorted.
fn walk(dir: &Path) -> Vec<String> {
    fn go(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                go(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    go(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn the_example_workflows_and_aws_policies_are_what_gitgrant_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("new-repo");
    // The example reaches an AWS account and a Google project, as this does.
    let out = init_with(
        &[
            "--account",
            "111111111111",
            "--gcp-resource",
            "projects/acme-prod",
        ],
        &repo,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let example = examples().join("access-repo");
    for workflow in [
        "gitgrant-check.yml",
        "gitgrant-reconcile.yml",
        "gitgrant-portal.yml",
    ] {
        let rel = format!(".github/workflows/{workflow}");
        assert_eq!(
            read(&example.join(&rel)),
            read(&repo.join(&rel)),
            "examples/access-repo/{rel} differs from what `gitgrant init --account … \
             --gcp-resource …` writes (src/scaffold/{workflow}): copy it over"
        );
    }

    let aws = examples().join("aws");
    assert_eq!(
        read(&aws.join("trust-policy.json")),
        read(&repo.join("aws/trust-policy.json")),
        "examples/aws/trust-policy.json differs from what `gitgrant init --repository acme/access --account 111111111111` writes"
    );
    let policy: Value = serde_yaml::from_str(&read(&example.join("gitgrant.yaml"))).unwrap();
    let mut assume_roles = Vec::new();
    for (name, provider) in policy["providers"].as_mapping().unwrap() {
        let name = name.as_str().unwrap();
        // Google's and Azure's side: the custom role the reconciler's
        // identity holds on the resource or at the scope; PostgreSQL's: the
        // SQL that sets up the reconciler's role.
        let (folder, file) = match provider["type"].as_str() {
            Some("gcp-iam") => (Some("gcp"), format!("reconciler-role.{name}.json")),
            Some("azure-pim") => (Some("azure"), format!("reconciler-role.{name}.json")),
            Some("postgres") => (Some("postgres"), format!("reconciler-setup.{name}.sql")),
            _ => (None, String::new()),
        };
        if let Some(folder) = folder {
            assert_eq!(
                read(&examples().join(folder).join(&file)),
                run_ok(&["iam-policy", "--provider", name], &example),
                "examples/{folder}/{file} drifted: run \
                 `cargo run -- iam-policy --repo examples/access-repo --provider {name} > examples/{folder}/{file}`"
            );
            continue;
        }
        let file = format!("reconciler-policy.{name}.json");
        assert_eq!(
            read(&aws.join(&file)),
            run_ok(&["iam-policy", "--provider", name], &example),
            "examples/aws/{file} drifted: run \
             `cargo run -- iam-policy --repo examples/access-repo --provider {name} > examples/aws/{file}`"
        );
        assume_roles.push(provider["assume_role"].as_str().unwrap().to_string());
    }
    // The hub role may reach exactly the providers' reconciler roles.
    let hub: serde_json::Value =
        serde_json::from_str(&read(&aws.join("github-role-policy.json"))).unwrap();
    let reach: Vec<String> =
        serde_json::from_value(hub["Statement"][0]["Resource"].clone()).unwrap();
    assert_eq!(reach, assume_roles, "examples/aws/github-role-policy.json");
    let trust: serde_json::Value =
        serde_json::from_str(&read(&aws.join("reconciler-trust-policy.json"))).unwrap();
    assert_eq!(
        trust["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::111111111111:role/gitgrant-github"
    );
}

// ---------------------------------------------------------------------------
// Calls across files, which actionlint does not follow.

fn yaml(path: &Path) -> Value {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn keys(v: &Value) -> Vec<String> {
    v.as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Inputs given in `with` must be declared; required inputs without a
/// default must be given.
fn check_inputs(what: &str, declared: &Value, with: &Value) {
    let given = keys(with);
    for name in &given {
        assert!(
            declared.get(name.as_str()).is_some(),
            "{what}: input `{name}` is not declared; it has {:?}",
            keys(declared)
        );
    }
    for name in keys(declared) {
        let input = &declared[name.as_str()];
        let required = input["required"].as_bool().unwrap_or(false);
        if required && input.get("default").is_none() {
            assert!(
                given.contains(&name),
                "{what}: required input `{name}` not given"
            );
        }
    }
}

fn level(v: Option<&Value>) -> u8 {
    match v.and_then(Value::as_str) {
        Some("write") => 2,
        Some("read") => 1,
        _ => 0,
    }
}

/// Every workflow file in `dir`.
fn workflows(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    out.sort();
    out
}

#[test]
fn workflow_calls_name_declared_inputs_and_grant_the_permissions_called_jobs_need() {
    let own = project().join(".github/workflows");
    let mut calls = 0;
    for file in workflows(&examples().join("access-repo/.github/workflows")) {
        let caller = yaml(&file);
        for (job, spec) in caller["jobs"].as_mapping().unwrap() {
            let what = format!("{} job {}", file.display(), job.as_str().unwrap());
            let Some(uses) = spec["uses"].as_str() else {
                continue;
            };
            let called = uses
                .strip_prefix("gitgrant/gitgrant/.github/workflows/")
                .and_then(|r| r.split_once('@'))
                .map(|(name, _)| own.join(name))
                .unwrap_or_else(|| panic!("{what}: calls {uses}, not gitgrant's workflows"));
            let called = yaml(&called);
            let declared = &called["on"]["workflow_call"]["inputs"];
            check_inputs(&what, declared, &spec["with"]);
            // A called job gets at most what its caller grants.
            for (name, called_job) in called["jobs"].as_mapping().unwrap() {
                for scope in keys(&called_job["permissions"]) {
                    assert!(
                        level(spec["permissions"].get(scope.as_str()))
                            >= level(called_job["permissions"].get(scope.as_str())),
                        "{what}: grants too little `{scope}` for job {}",
                        name.as_str().unwrap()
                    );
                }
            }
            calls += 1;
        }
    }
    assert_eq!(calls, 3, "the three example workflows call gitgrant's");
}

#[test]
fn action_uses_name_declared_inputs_and_the_action_reads_only_declared_ones() {
    let action = yaml(&project().join("action.yml"));
    let declared = &action["inputs"];
    let mut uses = 0;
    for file in workflows(&project().join(".github/workflows")) {
        let workflow = yaml(&file);
        for (job, spec) in workflow["jobs"].as_mapping().unwrap() {
            let steps = spec["steps"]
                .as_sequence()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            for step in steps {
                let target = step["uses"].as_str().unwrap_or_default();
                if target == "./" || target.starts_with("gitgrant/gitgrant@") {
                    let what = format!("{} job {}", file.display(), job.as_str().unwrap());
                    check_inputs(&what, declared, &step["with"]);
                    uses += 1;
                }
            }
        }
    }
    assert!(uses >= 3, "check, reconcile and CI use the action: {uses}");

    // Every `inputs.X` the action reads is declared.
    let text = read(&project().join("action.yml"));
    let read_inputs = regex::Regex::new(r"inputs\.([A-Za-z0-9_-]+)").unwrap();
    for m in read_inputs.captures_iter(&text) {
        assert!(
            declared.get(&m[1]).is_some(),
            "action.yml reads undeclared input `{}`",
            &m[1]
        );
    }
    // Its scripts exist where its steps run them.
    let outputs: BTreeMap<String, Value> =
        serde_yaml::from_value(action["outputs"].clone()).unwrap();
    assert!(outputs.contains_key("changes") && outputs.contains_key("errors"));
    for script in ["action/install.sh", "action/run.sh"] {
        assert!(text.contains(script), "action.yml does not run {script}");
        assert!(project().join(script).is_file(), "{script} missing");
    }
}
