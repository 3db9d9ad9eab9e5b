//! What a role's IAM statements may grant.
//!
//! A grant's window holds only while the grantee cannot rewrite IAM: whoever
//! can change their own policy can strip the `aws:CurrentTime` conditions, and
//! AWS no longer ends their access by itself. So each Allow statement's
//! actions are expanded against the [catalogue] of AWS's actions (wildcards
//! as IAM matches them: anywhere in the name, ignoring case) and checked by
//! what they can change. Deny statements grant nothing; only their spelling
//! is checked (a misspelt Deny silently denies nothing).
//!
//! - `unknown-action`: a service, action or wildcard that names no action in
//!   the catalogue, with a did-you-mean when a known name is close.
//! - `admin-statement`: the action `*` on a resource that covers everything
//!   (`*`, or an ARN whose segments are all wildcards, such as
//!   `arn:*:*:*:*:*`, `arn:aws:*:*:*:*` or `arn:aws:*:*:*:*/*`), without
//!   `allow_admin: true`. With it, `writes-gitgrant-policies` still refuses
//!   the statement: full admin cannot be granted through `statements`.
//! - `iam-write`: any action of `iam`, `sts`, `organizations`, `sso`,
//!   `sso-directory` or `identitystore` (IAM Identity Center's permission
//!   sets, assignments, users and groups) whose access level is Write,
//!   Permissions management or Tagging, on any resource,
//!   without `allow_admin: true` (resources are not consulted: `*` on an S3
//!   bucket counts, write `s3:*`). `allow_admin` is the organisation saying
//!   it accepts that the window may not hold. One exception: the STS session
//!   actions `AssumeRole`, `AssumeRoleWithSAML`, `AssumeRoleWithWebIdentity`,
//!   `SetContext`, `SetSourceIdentity` and `TagSession` are ordinary JIT use
//!   when every resource of the statement is an exact role ARN
//!   (`arn:aws:iam::<account>:role/<name>`, no wildcard): they change no
//!   policy, and the session they start ends with its own expiry (the residual
//!   window docs/security.md describes). On `*` or a wildcard ARN they let the
//!   grantee become any role that trusts the account, which is admin-like, so
//!   they count. `assume_roles` is the intended way to grant role sessions.
//!   `sts:AssumeRole` itself is left to the next rule.
//! - `assume-role-statement`, whatever `allow_admin` says, on either provider
//!   kind: an Allow statement whose actions cover `sts:AssumeRole` on a
//!   resource that can match a role ARN. The session it returns holds the
//!   target role's own permissions until it expires (up to 12 hours past
//!   the window), under any session name, and no fence ends it: role
//!   sessions are granted through `assume_roles`, which pins and fences
//!   them.
//! - `writes-gitgrant-policies`, whatever `allow_admin` says: an Allow
//!   statement that can change the policies carrying every grant's window, or
//!   their attachments. It counts
//!   - `iam:CreatePolicy`, `CreatePolicyVersion`, `DeletePolicy`,
//!     `DeletePolicyVersion`, `SetDefaultPolicyVersion`, `TagPolicy` and
//!     `UntagPolicy` on a resource that can match
//!     `arn:aws:iam::<12 digits>:policy/gitgrant/<anything without :>`
//!     (gitgrant's path, in every account and for every access repository):
//!     `*`, `arn:aws:iam::*:policy/*`, `arn:aws:iam::*` and
//!     `arn:aws:iam::111111111111:policy/git*` do;
//!     `arn:aws:iam::*:policy/team/*` does not;
//!   - `iam:AttachUserPolicy` and `DetachUserPolicy` on a resource that can
//!     match `arn:aws:iam::<12 digits>:user/<anything without :>` (`*`,
//!     `user/*`, `user/${aws:username}`), and the same for `Role` with
//!     `role/` and `Group` with `group/`: IAM names the policy in a request
//!     parameter, not in the resource, so any of them can attach another
//!     grant's policy or detach one.
//!
//!   Resources are compared as IAM wildcards (`*`, `?`, and a policy
//!   variable such as `${aws:username}` standing for anything): is there an
//!   ARN both match? Case is ignored, to err on the side of refusing.
//!
//! [catalogue]: crate::providers::aws_iam::catalogue

use super::catalogue::{Action, Class, Wildcard, catalogue, meet, wildcards};
use super::config::{Effect, Statement};
use crate::names;
use crate::rule::Rule;
use crate::validate::Sink;

/// Checks one of a role's statements (at `spath`): its spelling, and, for
/// an Allow, what it can change (see the module's documentation).
pub(crate) fn check(name: &str, st: &Statement, spath: &str, allow_admin: bool, s: &mut Sink) {
    if st.actions.is_empty() {
        s.at(
            Rule::InvalidAction,
            &format!("{spath}.actions"),
            "no actions",
        );
    }
    if st.resources.is_empty() {
        s.at(
            Rule::InvalidResource,
            &format!("{spath}.resources"),
            "no resources",
        );
    }
    for (j, a) in st.actions.iter().enumerate() {
        if !names::is_action(a) {
            s.at(
                Rule::InvalidAction,
                &format!("{spath}.actions.{j}"),
                format!("`{a}` is not an IAM action (service:Action)"),
            );
        }
    }
    for (j, r) in st.resources.iter().enumerate() {
        if !names::is_resource(r) {
            s.at(
                Rule::InvalidResource,
                &format!("{spath}.resources.{j}"),
                format!("`{r}` is not an ARN or `*`"),
            );
        }
    }
    let covered = covered_actions(st, spath, s);
    // A Deny grants nothing, so only its spelling matters.
    if st.effect == Effect::Allow {
        // One refusal that no flag lifts is enough for a statement.
        if !check_gitgrant_policies(name, st, &covered, spath, s) {
            check_assume_role(name, st, &covered, spath, s);
        }
        let all_actions = st.actions.iter().any(|a| a == "*");
        let all_resources = st.resources.iter().any(|r| covers_everything(r));
        if all_actions && all_resources && !allow_admin {
            s.at(
                Rule::AdminStatement,
                spath,
                format!("role `{name}` allows every action on every resource"),
            );
        } else if !allow_admin {
            check_identity_writes(name, st, &covered, spath, s);
        }
    }
}

/// Services whose writes change who may do what, and so can take the window
/// off a grant: IAM's, and IAM Identity Center's (`sso` holds the permission
/// sets and their assignments, `sso-directory` and `identitystore` the users
/// and groups they are assigned to).
const IDENTITY_SERVICES: &[&str] = &[
    "iam",
    "sts",
    "organizations",
    "sso",
    "sso-directory",
    "identitystore",
];

/// STS actions that start or label a session of a role. On exact role ARNs
/// they are what a JIT grant is for; on anything wider they let the grantee
/// become any role that trusts the account.
const SESSION_ACTIONS: &[&str] = &[
    "AssumeRole",
    "AssumeRoleWithSAML",
    "AssumeRoleWithWebIdentity",
    "SetContext",
    "SetSourceIdentity",
    "TagSession",
];

/// IAM actions that change a managed policy itself: its document, its
/// versions, its tags, or whether it exists.
const POLICY_WRITES: &[&str] = &[
    "CreatePolicy",
    "CreatePolicyVersion",
    "DeletePolicy",
    "DeletePolicyVersion",
    "SetDefaultPolicyVersion",
    "TagPolicy",
    "UntagPolicy",
];

/// IAM actions that attach or detach a managed policy, and the kind of
/// identity they act on. Any of them can attach or detach a gitgrant policy:
/// IAM names the policy in a request parameter, not in the resource.
const ATTACHMENTS: &[(&str, &str)] = &[
    ("AttachUserPolicy", "user/"),
    ("DetachUserPolicy", "user/"),
    ("AttachRolePolicy", "role/"),
    ("DetachRolePolicy", "role/"),
    ("AttachGroupPolicy", "group/"),
    ("DetachGroupPolicy", "group/"),
];

/// Whether a resource pattern can match some IAM ARN
/// `arn:aws:iam::<12 digits>:<kind><rest>` in any account, where the rest
/// holds no `:` (IAM names and paths of gitgrant's making never do). Kinds:
/// `policy/gitgrant/` (every access repository's grants), `user/`, `role/`,
/// `group/`.
fn reaches_iam(resource: &str, kind: &str) -> bool {
    let mut arn = wildcards("arn:aws:iam::");
    arn.extend([Wildcard::One(Class::Digit); 12]);
    arn.extend(wildcards(&format!(":{kind}")));
    arn.push(Wildcard::Run(Class::NotColon));
    meet(&wildcards(resource), &arn)
}

/// Each action of a statement with the catalogue's actions it covers, by
/// index; reports those that cover none. Malformed ones are already reported.
fn covered_actions(st: &Statement, spath: &str, s: &mut Sink) -> Vec<(usize, &'static Action)> {
    let mut covered = Vec::new();
    for (j, a) in st.actions.iter().enumerate() {
        if !names::is_action(a) {
            continue;
        }
        match catalogue().resolve(a) {
            Ok(found) => covered.extend(found.into_iter().map(|f| (j, f))),
            Err(unknown) => s.at(
                Rule::UnknownAction,
                &format!("{spath}.actions.{j}"),
                unknown.to_string(),
            ),
        }
    }
    covered
}

/// Whether a resource pattern covers every resource: `*`, or an ARN whose
/// segments (between `:` and `/`) are all wildcards — the partition may be
/// `aws`, the one gitgrant's accounts are in. `arn:*:*:*:*:*`,
/// `arn:aws:*:*:*:*` and `arn:aws:*:*:*:*/*` all count; an empty segment
/// (`arn:aws:iam::*:*`) does not, as it matches only what is empty there.
fn covers_everything(resource: &str) -> bool {
    let stars = |p: &str| !p.is_empty() && p.chars().all(|c| c == '*');
    if stars(resource) {
        return true;
    }
    let Some(rest) = resource.strip_prefix("arn:") else {
        return false;
    };
    let mut segments = rest.split([':', '/']);
    segments.next().is_some_and(|p| p == "aws" || stars(p)) && segments.all(stars)
}

/// `a, b, c and 4 more`.
fn some_of(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let head = names[..names.len().min(SHOWN)].join(", ");
    match names.len().saturating_sub(SHOWN) {
        0 => head,
        more => format!("{head} and {more} more"),
    }
}

/// Reports `rule` once for a statement, at the first of its actions that
/// brought in any of `found`, naming a few of them after `what`.
fn report_actions(
    s: &mut Sink,
    rule: Rule,
    spath: &str,
    what: String,
    found: &[&(usize, &'static Action)],
) {
    let Some(j) = found.iter().map(|(j, _)| *j).min() else {
        return;
    };
    let mut names: Vec<String> = Vec::new();
    for (_, a) in found {
        let name = a.to_string();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    s.at(
        rule,
        &format!("{spath}.actions.{j}"),
        format!("{what}: {}", some_of(&names)),
    );
}

/// Refuses, whatever `allow_admin` says, an Allow statement that can change
/// the policies carrying grants' windows or attach and detach policies;
/// whether it did.
fn check_gitgrant_policies(
    name: &str,
    st: &Statement,
    covered: &[(usize, &'static Action)],
    spath: &str,
    s: &mut Sink,
) -> bool {
    let reaches = |kind: &str| st.resources.iter().any(|r| reaches_iam(r, kind));
    let found: Vec<_> = covered
        .iter()
        .filter(|(_, a)| {
            a.service() == "iam"
                && (POLICY_WRITES.contains(&a.name()) && reaches("policy/gitgrant/")
                    || ATTACHMENTS
                        .iter()
                        .any(|(action, kind)| a.name() == *action && reaches(kind)))
        })
        .collect();
    report_actions(
        s,
        Rule::WritesGitgrantPolicies,
        spath,
        format!("role `{name}` can change gitgrant's own policies or attach and detach policies"),
        &found,
    );
    !found.is_empty()
}

/// Whether an IAM policy document (as AWS returns it) allows some write of
/// IAM, STS, Organizations or Identity Center, as `iam-write` counts them
/// (`sts:AssumeRole` included: a chained session is another way out). A
/// `NotAction` allow counts.
pub fn document_writes_iam(document: &serde_json::Value) -> bool {
    let list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    };
    let statements = match &document["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        one @ serde_json::Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    statements.iter().any(|st| {
        st["Effect"] == "Allow"
            && (!st["NotAction"].is_null()
                || list(&st["Action"]).iter().any(|a| {
                    catalogue()
                        .expand(a)
                        .into_iter()
                        .any(|x| IDENTITY_SERVICES.contains(&x.service()) && x.level().changes())
                }))
    })
}

/// Whether `a` is `sts:AssumeRole`, the call that starts a role session.
fn is_assume_role(a: &Action) -> bool {
    a.service() == "sts" && a.name() == "AssumeRole"
}

/// Whether any resource of `st` can match a role ARN.
fn reaches_roles(st: &Statement) -> bool {
    st.resources.iter().any(|r| reaches_iam(r, "role/"))
}

/// Whether an Allow statement lets its grantee start sessions of some role
/// (`sts:AssumeRole` on a resource that can match a role ARN): sessions no
/// fence ends and no name pins. Validation refuses such statements
/// (`assume-role-statement`); a policy of before that rule is read with
/// them, and its grants are reported unfenced.
pub fn assumes_roles(st: &Statement) -> bool {
    st.effect == Effect::Allow
        && reaches_roles(st)
        && st
            .actions
            .iter()
            .any(|a| catalogue().expand(a).into_iter().any(is_assume_role))
}

/// Refuses, whatever `allow_admin` says, an Allow statement that lets its
/// grantee call `sts:AssumeRole` on a role: see [`assumes_roles`].
fn check_assume_role(
    name: &str,
    st: &Statement,
    covered: &[(usize, &'static Action)],
    spath: &str,
    s: &mut Sink,
) {
    if !reaches_roles(st) {
        return;
    }
    let found: Vec<_> = covered.iter().filter(|(_, a)| is_assume_role(a)).collect();
    report_actions(
        s,
        Rule::AssumeRoleStatement,
        spath,
        format!(
            "role `{name}` lets its grantee start role sessions through `statements`, which no fence ends and no session name pins"
        ),
        &found,
    );
}

/// Requires `allow_admin` for an Allow statement that can write IAM, STS,
/// Organizations or Identity Center.
fn check_identity_writes(
    name: &str,
    st: &Statement,
    covered: &[(usize, &'static Action)],
    spath: &str,
    s: &mut Sink,
) {
    let exact_roles = st
        .resources
        .iter()
        .all(|r| names::role_arn_account(r).is_some() && !r.contains(['*', '?']));
    let session = |a: &Action| a.service() == "sts" && SESSION_ACTIONS.contains(&a.name());
    let mut writes: Vec<_> = covered
        .iter()
        .filter(|(_, a)| {
            IDENTITY_SERVICES.contains(&a.service())
                && a.level().changes()
                && !(session(a) && exact_roles)
                && !(is_assume_role(a) && reaches_roles(st))
        })
        .collect();
    // The most powerful first: they are the ones worth naming.
    writes.sort_by_key(|(j, a)| (std::cmp::Reverse(a.level()), *j));
    let what = if writes.iter().any(|(_, a)| session(a)) {
        format!(
            "role `{name}` can assume any role that trusts the account (name roles in `assume_roles` instead) or write IAM, STS, Organizations or Identity Center"
        )
    } else {
        format!("role `{name}` can write IAM, STS, Organizations or Identity Center")
    };
    report_actions(s, Rule::IamWrite, spath, what, &writes);
}

#[cfg(test)]
mod tests {
    use super::{ATTACHMENTS, POLICY_WRITES, SESSION_ACTIONS, covers_everything};
    use crate::providers::aws_iam::catalogue::catalogue;
    use crate::rule::Rule;
    use crate::snapshot::{Content, SourceFile};

    /// The rules and messages one statement of one role breaks.
    fn check(allow_admin: bool, statement: &str) -> Vec<(Rule, String)> {
        let text = format!(
            "version: 1\nrepository: acme/access\nsecurity_team: \"@acme/security\"\n\
             providers:\n  aws-prod: {{ type: aws-iam, account: \"111111111111\" }}\n\
             people:\n  alice: {{ aws_iam_user: alice }}\n\
             roles:\n  ops:\n    description: Operations\n    provider: aws-prod\n\
             \x20   max_duration: 1h\n    approvers: [\"@acme/sre\"]\n\
             \x20   allow_admin: {allow_admin}\n    permissions:\n      statements:\n\
             \x20       - {statement}\n"
        );
        let file = SourceFile {
            path: "gitgrant.yaml".into(),
            content: Content::Bytes(text.into_bytes()),
        };
        let (_, found) = crate::validate::read_policy(&file);
        found.into_iter().map(|v| (v.rule, v.message)).collect()
    }

    fn rules(allow_admin: bool, statement: &str) -> Vec<Rule> {
        check(allow_admin, statement)
            .into_iter()
            .map(|(r, _)| r)
            .collect()
    }

    fn allow(action: &str, resource: &str) -> String {
        format!("{{ effect: Allow, actions: [\"{action}\"], resources: [\"{resource}\"] }}")
    }

    #[test]
    fn a_role_with_iam_star_is_refused_without_allow_admin() {
        // On instance profiles iam:* can neither touch a policy nor attach one.
        let profiles = allow("iam:*", "arn:aws:iam::111111111111:instance-profile/*");
        assert_eq!(rules(false, &profiles), [Rule::IamWrite]);
        assert_eq!(rules(true, &profiles), []);
        let (_, message) = &check(false, &profiles)[0];
        assert!(message.contains(" more"), "{message}");
        // On everything it also reaches gitgrant's own policies.
        assert_eq!(
            rules(false, &allow("iam:*", "*")),
            [Rule::IamWrite, Rule::WritesGitgrantPolicies]
        );
    }

    #[test]
    fn star_on_arn_star_star_counts_as_everything() {
        for everything in ["*", "arn:*:*:*:*:*", "arn:aws:*:*:*:*", "arn:aws:*:*:*:*/*"] {
            let found = rules(false, &allow("*", everything));
            assert!(
                found.contains(&Rule::AdminStatement),
                "{everything}: {found:?}"
            );
        }
        for narrower in [
            "arn:aws:iam::*:*",
            "arn:aws:s3:::*",
            "arn:aws:*:*:111111111111:*",
        ] {
            assert!(!covers_everything(narrower), "{narrower}");
        }
    }

    #[test]
    fn iam_policy_wildcards_are_expanded_as_iam_matches_them() {
        let me = "arn:aws:iam::111111111111:user/${aws:username}";
        let (rule, message) = &check(false, &allow("iam:*Policy*", me))[0];
        assert_eq!(*rule, Rule::IamWrite);
        assert!(message.contains("iam:"), "{message}");
        // IAM ignores case, and so must the check.
        assert_eq!(rules(false, &allow("iam:put*policy", me)), [Rule::IamWrite]);
        assert_eq!(
            rules(false, &allow("iam:Put?serPolicy", me)),
            [Rule::IamWrite]
        );
        // Reading policies writes nothing.
        assert_eq!(rules(false, &allow("iam:Get*Policy", "*")), []);
    }

    #[test]
    fn create_policy_version_on_gitgrants_own_path_is_refused_even_with_allow_admin() {
        let rewrite = |resource: &str| {
            format!(
                "{{ effect: Allow, actions: [\"iam:CreatePolicyVersion\", \"iam:SetDefaultPolicyVersion\"], resources: [\"{resource}\"] }}"
            )
        };
        for reaching in [
            "*",
            "arn:aws:iam::*:policy/*",
            "arn:aws:iam::111111111111:policy/gitgrant/*",
            "arn:aws:iam::111111111111:policy/gitgrant/acme/access/gitgrant-ops-alice-1",
        ] {
            assert_eq!(
                rules(true, &rewrite(reaching)),
                [Rule::WritesGitgrantPolicies],
                "{reaching}"
            );
        }
        for elsewhere in [
            "arn:aws:iam::111111111111:policy/team/*",
            "arn:aws:iam::*:policy/team/*",
        ] {
            assert_eq!(rules(true, &rewrite(elsewhere)), [], "{elsewhere}");
        }
    }

    #[test]
    fn attach_user_policy_on_oneself_needs_allow_admin_and_is_still_refused() {
        let me = allow(
            "iam:AttachUserPolicy",
            "arn:aws:iam::111111111111:user/${aws:username}",
        );
        assert_eq!(
            rules(false, &me),
            [Rule::IamWrite, Rule::WritesGitgrantPolicies]
        );
        // It could attach another grant's policy, or detach one.
        assert_eq!(rules(true, &me), [Rule::WritesGitgrantPolicies]);
        assert_eq!(
            rules(
                true,
                &allow("iam:Detach*", "arn:aws:iam::111111111111:role/*")
            ),
            [Rule::WritesGitgrantPolicies]
        );
    }

    #[test]
    fn put_user_policy_on_oneself_needs_allow_admin() {
        let me = allow(
            "iam:PutUserPolicy",
            "arn:aws:iam::111111111111:user/${aws:username}",
        );
        assert_eq!(rules(false, &me), [Rule::IamWrite]);
        assert_eq!(rules(true, &me), []);
    }

    #[test]
    fn full_admin_is_refused_even_with_allow_admin() {
        assert_eq!(
            rules(true, &allow("*", "*")),
            [Rule::WritesGitgrantPolicies]
        );
    }

    #[test]
    fn a_misspelt_action_is_refused_with_a_did_you_mean() {
        let found = check(false, &allow("logs:GetLogEvent", "*"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Rule::UnknownAction);
        assert!(
            found[0].1.contains("did you mean `logs:GetLogEvents`?"),
            "{}",
            found[0].1
        );
    }

    #[test]
    fn an_unknown_service_is_refused() {
        let found = check(false, &allow("logz:GetLogEvents", "*"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Rule::UnknownAction);
        assert!(found[0].1.contains("`logz`"), "{}", found[0].1);
    }

    #[test]
    fn a_wildcard_that_matches_nothing_is_refused() {
        assert_eq!(
            rules(false, &allow("logs:Fetch*", "*")),
            [Rule::UnknownAction]
        );
    }

    #[test]
    fn a_misspelt_deny_is_refused_but_a_deny_of_iam_needs_nothing() {
        let deny = |a: &str| format!("{{ effect: Deny, actions: [\"{a}\"], resources: [\"*\"] }}");
        assert_eq!(
            rules(false, &deny("iam:CreatePolicyVersoin")),
            [Rule::UnknownAction]
        );
        assert_eq!(rules(false, &deny("iam:*")), []);
    }

    #[test]
    fn assume_role_in_statements_is_refused_whatever_allow_admin_says() {
        // Before: on an exact role ARN this was taken for ordinary JIT use,
        // and with allow_admin on any role too; the session escaped every
        // fence and pin. `assume_roles` is the way.
        for resource in [
            "arn:aws:iam::111111111111:role/Deploy",
            "arn:aws:iam::111111111111:role/*",
            "*",
        ] {
            for admin in [false, true] {
                let found = check(admin, &allow("sts:AssumeRole", resource));
                assert_eq!(found.len(), 1, "{resource}: {found:?}");
                assert_eq!(found[0].0, Rule::AssumeRoleStatement);
            }
        }
        // Tagging a session on a named role still needs nothing.
        let tag = allow("sts:TagSession", "arn:aws:iam::111111111111:role/Deploy");
        assert_eq!(rules(false, &tag), []);
        // On something that is no role, AssumeRole reaches no session.
        assert_eq!(
            rules(false, &allow("sts:AssumeRole", "arn:aws:s3:::bucket")),
            [Rule::IamWrite]
        );
        // sts:* holds more than sessions, whatever the resource.
        assert_eq!(
            rules(
                false,
                &allow("sts:*", "arn:aws:iam::111111111111:role/Deploy")
            ),
            [Rule::IamWrite, Rule::AssumeRoleStatement]
        );
        // Wider session actions still need allow_admin.
        let found = check(false, &allow("sts:SetSourceIdentity", "*"));
        assert_eq!(found[0].0, Rule::IamWrite);
        assert!(found[0].1.contains("assume_roles"), "{}", found[0].1);
    }

    #[test]
    fn a_document_that_can_write_iam_is_told_from_one_that_cannot() {
        use super::document_writes_iam;
        let doc = |v: serde_json::Value| serde_json::json!({ "Statement": v });
        let allow =
            |a: &str| doc(serde_json::json!([{ "Effect": "Allow", "Action": a, "Resource": "*" }]));
        assert!(document_writes_iam(&allow("iam:*")));
        assert!(document_writes_iam(&allow("*")));
        assert!(document_writes_iam(&allow("sso:CreatePermissionSet")));
        assert!(document_writes_iam(&allow("sts:AssumeRole")));
        assert!(!document_writes_iam(&allow("s3:*")));
        assert!(!document_writes_iam(&allow("iam:Get*")));
        let not_action =
            doc(serde_json::json!({ "Effect": "Allow", "NotAction": "s3:*", "Resource": "*" }));
        assert!(document_writes_iam(&not_action));
        let deny =
            doc(serde_json::json!([{ "Effect": "Deny", "Action": "iam:*", "Resource": "*" }]));
        assert!(!document_writes_iam(&deny));
    }

    #[test]
    fn an_identity_center_role_cannot_assume_roles_through_statements() {
        let text = "version: 1\nrepository: acme/access\nsecurity_team: \"@acme/security\"\n\
             providers:\n  sso: { type: aws-identity-center, account: \"999999999999\", region: eu-west-1, \
             instance_arn: \"arn:aws:sso:::instance/ssoins-1234567890abcdef\", identity_store_id: d-1234567890 }\n\
             people:\n  alice: { aws_sso_user: alice@acme.com }\n\
             roles:\n  ops:\n    description: Operations\n    provider: sso\n    accounts: [\"111111111111\"]\n\
             \x20   max_duration: 1h\n    approvers: [\"@acme/sre\"]\n    permissions:\n      statements:\n\
             \x20       - { effect: Allow, actions: [\"sts:AssumeRole\"], resources: [\"arn:aws:iam::111111111111:role/Deploy\"] }\n";
        let file = SourceFile {
            path: "gitgrant.yaml".into(),
            content: Content::Bytes(text.as_bytes().to_vec()),
        };
        let (_, found) = crate::validate::read_policy(&file);
        let rules: Vec<Rule> = found.iter().map(|v| v.rule).collect();
        assert_eq!(rules, [Rule::AssumeRoleStatement], "{found:?}");
    }

    #[test]
    fn organizations_writes_need_allow_admin_and_reads_do_not() {
        assert_eq!(
            rules(false, &allow("organizations:LeaveOrganization", "*")),
            [Rule::IamWrite]
        );
        assert_eq!(rules(false, &allow("organizations:Describe*", "*")), []);
        assert_eq!(rules(false, &allow("iam:List*", "*")), []);
    }

    #[test]
    fn pass_role_on_a_named_role_needs_allow_admin() {
        // Handing a role to a service is a way to act as that role.
        let pass = allow("iam:PassRole", "arn:aws:iam::111111111111:role/Deploy");
        assert_eq!(rules(false, &pass), [Rule::IamWrite]);
        assert_eq!(rules(true, &pass), []);
    }

    #[test]
    fn every_action_the_rules_name_is_one_aws_has() {
        let named = POLICY_WRITES
            .iter()
            .chain(ATTACHMENTS.iter().map(|(a, _)| a))
            .map(|a| format!("iam:{a}"))
            .chain(SESSION_ACTIONS.iter().map(|a| format!("sts:{a}")));
        for action in named {
            let found = catalogue().lookup(&action);
            assert!(found.is_some_and(|a| a.name() == &action[4..]), "{action}");
        }
    }

    #[test]
    fn policy_writes_are_every_write_to_a_managed_policy_aws_has() {
        // After a regeneration, a new managed-policy write (an
        // `iam:UpdatePolicy`, say) fails here until the rule names it.
        let mut writes: Vec<&str> = catalogue()
            .expand("iam:*Policy*")
            .into_iter()
            .filter(|a| a.level().changes())
            .map(|a| a.name())
            // Inline policies, attachments, trust and the password policy
            // belong to a user, role, group or the account, not to a
            // managed policy.
            .filter(|n| {
                !["User", "Role", "Group", "Account"]
                    .iter()
                    .any(|w| n.contains(w))
            })
            .collect();
        writes.sort();
        assert_eq!(writes, POLICY_WRITES);
    }
}
