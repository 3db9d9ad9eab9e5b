//! A local stand-in for Google Cloud's Resource Manager IAM methods, for
//! `examples/demo.sh`: the same fake the tests serve (tests/all/gcp_fake.rs,
//! which follows Google's documented answers: etags, version 3, 409
//! `ABORTED`, the quotas), on loopback, with a token endpoint for
//! Application Default Credentials. Google Cloud has no emulator of these
//! methods; this is not Google.
//!
//! `gcp-stand-in ENV_FILE POLICY_FILE`: serves `projects/acme-prod` with
//! a binding of the platform team's, writes the environment that points
//! gitgrant at it to ENV_FILE (`export NAME=value` lines), and keeps the
//! project's allow policy, as stored, in POLICY_FILE until it is stopped.

#[allow(dead_code)] // the tests' helpers, of which the stand-in needs one
#[path = "../tests/all/support.rs"]
mod support;

#[allow(dead_code)] // the tests' fake, of which the stand-in needs a part
#[path = "../tests/all/gcp_fake.rs"]
mod gcp_fake;

use std::time::Duration;

const PROJECT: &str = "projects/acme-prod";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [env_file, policy_file] = args.as_slice() else {
        eprintln!("usage: gcp-stand-in ENV_FILE POLICY_FILE");
        std::process::exit(2);
    };
    let fake = gcp_fake::FakeGcp::start();
    fake.policy(
        PROJECT,
        serde_json::json!({
            "version": 1,
            "bindings": [
                {"role": "roles/owner", "members": ["group:platform-admins@acme.com"]},
                {"role": "roles/logging.viewer", "members": ["group:sre@acme.com"]}
            ]
        }),
    );
    let exports: String = fake
        .env()
        .iter()
        .map(|(k, v)| format!("export {k}='{v}'\n"))
        .collect();
    let written = std::fs::write(format!("{env_file}.part"), exports)
        .and_then(|()| std::fs::rename(format!("{env_file}.part"), env_file));
    if let Err(e) = written {
        eprintln!("gcp-stand-in: {env_file}: {e}");
        std::process::exit(1);
    }
    loop {
        let stored = serde_json::to_string_pretty(&fake.stored(PROJECT)).unwrap_or_default();
        let _ = std::fs::write(format!("{policy_file}.part"), stored)
            .and_then(|()| std::fs::rename(format!("{policy_file}.part"), policy_file));
        std::thread::sleep(Duration::from_millis(100));
    }
}
