//! JSON Schemas of the file formats, generated from the types so that they
//! cannot disagree with what gitgrant reads.

use crate::audit::Audit;
use crate::grant::RawGrant;
use crate::policy::RawPolicy;

/// A generated schema: where it lives in a repository and its text.
#[derive(Debug, Clone)]
pub struct SchemaFile {
    /// Path relative to the repository's top.
    pub path: &'static str,
    /// Pretty-printed JSON, ending in a newline.
    pub text: String,
}

fn render<T: schemars::JsonSchema>() -> String {
    let schema = schemars::schema_for!(T);
    let mut text = serde_json::to_string_pretty(&schema).expect("schemas serialise");
    text.push('\n');
    text
}

/// Every schema gitgrant publishes.
pub fn all() -> Vec<SchemaFile> {
    vec![
        SchemaFile {
            path: "schema/grant.schema.json",
            text: render::<RawGrant>(),
        },
        SchemaFile {
            path: "schema/policy.schema.json",
            text: render::<RawPolicy>(),
        },
        SchemaFile {
            path: "schema/audit.schema.json",
            text: render::<Audit>(),
        },
    ]
}
