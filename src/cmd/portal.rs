//! `gitgrant portal`.

use gitgrant::portal::{FORM_PATH, issue_form};
use gitgrant::scaffold::{PORTAL_WORKFLOW, PORTAL_WORKFLOW_PATH};

/// Its options: `--check`.
pub type Args = super::GeneratedArgs;

pub fn run(g: &super::Global, args: Args) -> anyhow::Result<u8> {
    super::generate(g, args, "gitgrant portal", |policy| {
        vec![
            (FORM_PATH, issue_form(policy)),
            (PORTAL_WORKFLOW_PATH, PORTAL_WORKFLOW.to_string()),
        ]
    })
}
