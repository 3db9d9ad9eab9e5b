//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The fixtures folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The project's `examples/` folder.
pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The real `gitgrant` binary, with an environment that cannot leak in from
/// the machine running the tests.
pub fn gitgrant() -> Command {
    Command::from_std(gitgrant_process())
}

/// The violations `gitgrant validate --format json` reports for a
/// repository holding only `policy` as its gitgrant.yaml, which must not
/// validate (exit 2).
pub fn violations_of_policy(policy: &str) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gitgrant.yaml"), policy).unwrap();
    let out = gitgrant()
        .args(["validate", "--format", "json", "--repo"])
        .arg(dir.path())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    report["violations"].as_array().unwrap().clone()
}

/// [`gitgrant`] as a process to spawn and stop.
pub fn gitgrant_process() -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("gitgrant"));
    for var in [
        "GITGRANT_REPO",
        "GITGRANT_BRANCH",
        "GITGRANT_PROVIDER",
        "GITGRANT_REMOVAL",
        "GITHUB_ACTOR",
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITHUB_API_URL",
        "GITHUB_REPOSITORY",
        "GITHUB_EVENT_NAME",
        "GITHUB_EVENT_PATH",
        "GITHUB_STEP_SUMMARY",
        "GITGRANT_LOG",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Copies a directory tree (symlinks as symlinks).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).unwrap();
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(link, &target).unwrap();
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A time inside every fixture's windows.
pub const NOW: &str = "2026-11-23T12:00:00Z";

/// A real git repository in a temporary directory, with commits at pinned
/// times, made with the git command line as people make them.
pub struct GitRepo {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The work tree.
    pub path: PathBuf,
}

/// Runs git in `dir` with a fixed identity, failing the test on error.
pub fn git(dir: &Path, args: &[&str], date: Option<&str>) -> String {
    let mut cmd = std::process::Command::new("git");
    cmd.current_dir(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    if let Some(d) = date {
        cmd.env("GIT_AUTHOR_DATE", d).env("GIT_COMMITTER_DATE", d);
    }
    let out = cmd.output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl GitRepo {
    /// A new repository on branch main, holding a copy of `template`.
    pub fn from_template(template: &Path, date: &str, message: &str) -> GitRepo {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work");
        std::fs::create_dir_all(&path).unwrap();
        git(&path, &["init", "-q", "-b", "main"], None);
        copy_tree(template, &path);
        git(&path, &["add", "-A"], None);
        git(&path, &["commit", "-q", "-m", message], Some(date));
        GitRepo { dir, path }
    }

    /// Writes (`Some`) or deletes (`None`) files and commits them at `date`.
    pub fn commit(&self, files: &[(&str, Option<&str>)], message: &str, date: &str) -> String {
        for (rel, content) in files {
            let p = self.path.join(rel);
            match content {
                Some(text) => {
                    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                    std::fs::write(&p, text).unwrap();
                }
                None => std::fs::remove_file(&p).unwrap(),
            }
        }
        git(&self.path, &["add", "-A"], None);
        git(
            &self.path,
            &["commit", "-q", "--allow-empty", "-m", message],
            Some(date),
        );
        self.head()
    }

    /// Merges `branch` into main with a merge commit, as GitHub's merge button does.
    pub fn merge(&self, branch: &str, message: &str, date: &str) -> String {
        git(&self.path, &["checkout", "-q", "main"], None);
        git(
            &self.path,
            &["merge", "-q", "--no-ff", "-m", message, branch],
            Some(date),
        );
        self.head()
    }

    /// The commit id of HEAD.
    pub fn head(&self) -> String {
        git(&self.path, &["rev-parse", "HEAD"], None)
            .trim()
            .to_string()
    }

    /// A bare remote `origin` with main pushed to it; returns its path.
    pub fn with_bare_remote(&self) -> PathBuf {
        let bare = self.dir.path().join("remote.git");
        git(
            self.dir.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
            None,
        );
        git(
            &self.path,
            &["remote", "add", "origin", bare.to_str().unwrap()],
            None,
        );
        git(&self.path, &["push", "-q", "origin", "main"], None);
        bare
    }
}

/// A grant file's text.
pub fn grant_yaml(subject: &str, role: &str, timing: &str) -> String {
    format!("subject: {subject}\nrole: {role}\nreason: Test access for {subject}\n{timing}\n")
}

impl GitRepo {
    /// A new repository whose first commit holds only the base fixture's policy.
    pub fn policy_only(date: &str) -> GitRepo {
        let policy = std::fs::read_to_string(fixtures().join("base/gitgrant.yaml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work");
        std::fs::create_dir_all(&path).unwrap();
        git(&path, &["init", "-q", "-b", "main"], None);
        std::fs::write(path.join("gitgrant.yaml"), policy).unwrap();
        // The reconciler's key, as `run_signed` signs with it.
        std::fs::create_dir_all(path.join(".github")).unwrap();
        std::fs::copy(
            fixtures().join("github-access/.github/allowed_signers"),
            path.join(".github/allowed_signers"),
        )
        .unwrap();
        git(&path, &["add", "-A"], None);
        git(
            &path,
            &["commit", "-q", "-m", "Access policy (#1)"],
            Some(date),
        );
        GitRepo { dir, path }
    }

    /// Adds `files` on a new branch at `requested`, then merges it at
    /// `merged` as pull request `pr`.
    pub fn pull_request(
        &self,
        pr: u32,
        files: &[(&str, Option<&str>)],
        requested: &str,
        merged: &str,
    ) {
        let branch = format!("pr-{pr}");
        git(&self.path, &["checkout", "-q", "-b", &branch], None);
        self.commit(files, &format!("Request (pr {pr})"), requested);
        self.merge(
            &branch,
            &format!("Merge pull request #{pr} from someone/{branch}"),
            merged,
        );
    }
}

impl GitRepo {
    /// Clones of the bare remote, one per `now`, each running
    /// `gitgrant expire --push origin --now <now>` — all started before any is
    /// waited for, so their pushes race.
    pub fn race_expire(&self, bare: &Path, nows: &[&str]) {
        let children: Vec<_> = nows
            .iter()
            .enumerate()
            .map(|(i, now)| {
                let name = format!("clone-{i}");
                git(
                    self.dir.path(),
                    &["clone", "-q", bare.to_str().unwrap(), &name],
                    None,
                );
                std::process::Command::new(assert_cmd::cargo::cargo_bin("gitgrant"))
                    .args(["-v", "expire", "--push", "origin", "--now", now, "--repo"])
                    .arg(self.dir.path().join(name))
                    .env("NO_COLOR", "1")
                    .env("GITGRANT_SIGNING_KEY", signing_key("reconciler"))
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let c = c.wait_with_output().unwrap();
            assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
        }
    }
}

/// The private key `name` of tests/fixtures/signing (`reconciler`, which
/// the fixtures' `.github/allowed_signers` list, or `mallory`).
pub fn signing_key(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("signing").join(name)).unwrap()
}

/// [`run_ok`] as the reconciler runs in Actions: with its signing key.
pub fn run_signed(args: &[&str], dir: &Path) -> String {
    let mut cmd = gitgrant();
    cmd.env("GITGRANT_SIGNING_KEY", signing_key("reconciler"));
    succeed(cmd, args, dir)
}

/// Runs `gitgrant ARGS --repo DIR`, asserts it succeeded (showing stderr when
/// not), and returns its stdout.
pub fn run_ok(args: &[&str], dir: &Path) -> String {
    succeed(gitgrant(), args, dir)
}

/// `cmd ARGS --repo DIR`, which must exit 0: its stdout.
fn succeed(mut cmd: assert_cmd::Command, args: &[&str], dir: &Path) -> String {
    let out = cmd.args(args).arg("--repo").arg(dir).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "gitgrant {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Writes `text` as the gitgrant note on `commit` in the repository at
/// `dir`, over any note there, as anyone who may push notes could.
pub fn put_note(dir: &Path, commit: &str, text: &str) {
    git(
        dir,
        &[
            "notes", "--ref", "gitgrant", "add", "-f", "-m", text, commit,
        ],
        None,
    );
}

impl GitRepo {
    /// Merges pull request `pr`, requested at 09:00 and merged at 10:00 on
    /// 2026-11-23, adding one grant file per `(subject, role, timing)`, named
    /// `grants/<role>/<subject>-<n>.yaml` with `n` its place in the list
    /// plus `first`.
    pub fn land_grants(&self, pr: u32, first: usize, grants: &[(&str, &str, &str)]) {
        let files: Vec<(String, String)> = grants
            .iter()
            .enumerate()
            .map(|(i, (who, role, timing))| {
                (
                    format!("grants/{role}/{who}-{}.yaml", first + i),
                    grant_yaml(who, role, timing),
                )
            })
            .collect();
        let changes: Vec<(&str, Option<&str>)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), Some(c.as_str())))
            .collect();
        self.pull_request(pr, &changes, "2026-11-23T09:00:00Z", "2026-11-23T10:00:00Z");
    }
}

/// A wiremock server on loopback that answers every request with
/// `responder`, on a runtime of its own (kept alive by the caller as long
/// as the server is used): how the tests' stateful fakes are served.
pub fn serve(
    responder: impl wiremock::Respond + 'static,
) -> (wiremock::MockServer, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(async {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(responder)
            .mount(&server)
            .await;
        server
    });
    (server, rt)
}
