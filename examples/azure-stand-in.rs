//! A local stand-in for Azure's PIM methods and Entra's token endpoint,
//! for `examples/demo.sh`: the same fake the tests serve
//! (tests/all/azure_fake.rs, which answers as the azure-rest-api-specs
//! examples document: schedule requests, instances that end at their end,
//! `RoleAssignmentExists`, `ExpirationRule`), on loopback behind TLS with a
//! test CA. No emulator of PIM exists; this is not Azure.
//!
//! `azure-stand-in ENV_FILE STATE_FILE CLOCK_FILE`: serves the
//! subscription with a permanent Owner assignment of the platform team's,
//! writes the environment that points gitgrant at it to ENV_FILE (`export
//! NAME=value` lines, `AZURE_MANAGEMENT_ENDPOINT` among them), takes its
//! clock from CLOCK_FILE (an RFC 3339 instant, as the demo's `--now`), and
//! keeps the requests it holds and the assignments in force, as JSON, in
//! STATE_FILE until it is stopped.

#[allow(dead_code)] // the tests' helpers, of which the stand-in needs one
#[path = "../tests/all/support.rs"]
mod support;

#[allow(dead_code)] // the tests' fake, of which the stand-in needs a part
#[path = "../tests/all/azure_fake.rs"]
mod azure_fake;

use std::time::Duration;

/// The platform team's break-glass group's object id.
const PLATFORM: &str = "77777777-7777-4777-8777-777777777777";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [env_file, state_file, clock_file] = args.as_slice() else {
        eprintln!("usage: azure-stand-in ENV_FILE STATE_FILE CLOCK_FILE");
        std::process::exit(2);
    };
    let fake = azure_fake::FakeAzure::start("2026-11-23T09:00:00Z");
    fake.foreign(
        PLATFORM,
        "Owner",
        ("2026-01-01T00:00:00Z", None),
        PLATFORM,
        "Platform team break-glass, permanent",
    );
    let mut exports: String = fake
        .env()
        .iter()
        .map(|(k, v)| format!("export {k}='{v}'\n"))
        .collect();
    exports.push_str(&format!(
        "export AZURE_MANAGEMENT_ENDPOINT='{}'\n",
        fake.endpoint()
    ));
    let written = std::fs::write(format!("{env_file}.part"), exports)
        .and_then(|()| std::fs::rename(format!("{env_file}.part"), env_file));
    if let Err(e) = written {
        eprintln!("azure-stand-in: {env_file}: {e}");
        std::process::exit(1);
    }
    loop {
        if let Ok(now) = std::fs::read_to_string(clock_file)
            && now.trim().parse::<chrono::DateTime<chrono::Utc>>().is_ok()
        {
            fake.set_now(now.trim());
        }
        let in_force: Vec<serde_json::Value> = fake
            .in_force()
            .iter()
            .map(|s| {
                serde_json::json!({
                    "principal": s.principal, "role": s.role, "start": s.start,
                    "end": s.end, "schedule": s.id,
                })
            })
            .collect();
        let state = serde_json::json!({"requests": fake.requests(), "in_force": in_force});
        let text = serde_json::to_string_pretty(&state).unwrap_or_default();
        let _ = std::fs::write(format!("{state_file}.part"), text)
            .and_then(|()| std::fs::rename(format!("{state_file}.part"), state_file));
        std::thread::sleep(Duration::from_millis(100));
    }
}
