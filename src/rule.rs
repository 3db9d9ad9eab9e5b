//! Validation rules and the violations they report.

use std::fmt;

use serde::Serialize;

use crate::yaml::Span;

macro_rules! rules {
    ($( $(#[doc = $doc:literal])* $variant:ident = $id:literal, $help:literal; )*) => {
        /// A named validation rule. Its id is stable: scripts and people match on it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl Rule {
            /// Every rule, in declaration order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant),*];

            /// The stable id, such as `unknown-subject`.
            pub fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id,)* }
            }

            /// The default help line.
            pub fn help(self) -> &'static str {
                match self { $(Rule::$variant => $help,)* }
            }

            /// What the rule checks: its doc comment, for the generated
            /// rule table (`gitgrant reference`).
            pub fn checks(self) -> &'static str {
                match self { $(Rule::$variant => concat!($($doc),*),)* }
            }
        }
    };
}

rules! {
    /// A file larger than 64 KiB.
    FileTooLarge = "file-too-large", "grant and policy files are small; keep them under 64 KiB";
    /// Bytes that are not UTF-8.
    NotUtf8 = "not-utf8", "save the file as UTF-8";
    /// A symbolic link where a file was expected.
    Symlink = "symlink", "replace the link with a regular file";
    /// A file directly in grants/ or in a folder below a role's folder.
    GrantPath = "grant-path", "grant files live at grants/<role>/<name>.yaml";
    /// A grant file name that is not `[a-z0-9][a-z0-9-]{0,62}.yaml`.
    GrantFileName = "grant-file-name", "name grant files like alice-20261123-7f3a.yaml: lower-case letters, digits and hyphens, ending in .yaml";
    /// YAML that does not parse, or uses a mapping or list as a key.
    YamlSyntax = "yaml-syntax", "fix the YAML syntax at this position";
    /// A file with no content.
    EmptyFile = "empty-file", "write the fields of the file, or delete it";
    /// A top level that is not a mapping.
    NotAMapping = "not-a-mapping", "write the file as `key: value` lines";
    /// More than one YAML document in one file.
    MultipleDocuments = "multiple-documents", "keep one document per file: remove the `---` separator and what follows, or split it into files";
    /// YAML anchors or aliases.
    YamlAnchor = "yaml-anchor", "write each value out in full; anchors (&) and aliases (*) are not accepted";
    /// YAML tags.
    YamlTag = "yaml-tag", "remove the tag (the part starting with `!`); values are plain strings, numbers and booleans";
    /// The same key twice in a mapping.
    DuplicateKey = "duplicate-key", "keep one of the two keys";
    /// A key the file format does not have.
    UnknownField = "unknown-field", "remove the key or fix its spelling; the schema in schema/ lists the fields";
    /// A required key that is not there.
    MissingField = "missing-field", "add the key; the schema in schema/ lists the required fields";
    /// A value of the wrong type.
    InvalidType = "invalid-type", "give the value the type the schema in schema/ names";
    /// A required value that is empty.
    EmptyField = "empty-field", "give the field a value";
    /// No gitgrant.yaml at the top of the access repository.
    PolicyMissing = "policy-missing", "an access repository needs gitgrant.yaml at its top; `gitgrant init` writes one";
    /// A subject not in `people`.
    UnknownSubject = "unknown-subject", "add the person to `people` in gitgrant.yaml (a reviewed change), or fix the login";
    /// A subject with no identity on the role's provider.
    SubjectNoIdentity = "subject-no-identity", "give the person an identity on the role's provider in gitgrant.yaml";
    /// A subject the role's `requesters` do not admit.
    RequesterNotAllowed = "requester-not-allowed", "this role admits only the subjects in its `requesters`";
    /// A `role` that differs from the grant's folder.
    RoleFolderMismatch = "role-folder-mismatch", "move the file to grants/<role>/ or set `role` to the folder's name";
    /// A role that gitgrant.yaml does not define.
    UnknownRole = "unknown-role", "use a role from gitgrant.yaml `roles` (`gitgrant validate` lists them)";
    /// Both `duration` and a window (`starts`/`expires`).
    DurationAndWindow = "duration-and-window", "give either `duration`, or `expires` with an optional `starts`, not both";
    /// Neither `duration` nor `expires`.
    NoDurationOrWindow = "no-duration-or-window", "add `duration: 2h` (from landing) or `expires: <RFC 3339 time>`";
    /// A duration that is malformed, zero, or above the 90-day hard cap.
    InvalidDuration = "invalid-duration", "write durations like 30m, 2h, 1d or 1h30m, longer than zero and at most 90d";
    /// A window longer than the role's `max_duration`.
    WindowTooLong = "window-too-long", "ask for a shorter window; a longer one needs a new grant later";
    /// A time without a UTC offset.
    TimeWithoutOffset = "time-without-offset", "add an offset, such as 2026-11-23T09:00:00Z or 2026-11-23T10:00:00+01:00; times are never guessed";
    /// A time that is not RFC 3339.
    InvalidTime = "invalid-time", "write times in RFC 3339 with an offset, such as 2026-11-23T09:00:00Z";
    /// `starts` at or after `expires`.
    WindowInverted = "window-inverted", "`starts` must be before `expires`";
    /// A reason longer than 1,000 characters.
    ReasonTooLong = "reason-too-long", "keep the reason under 1,000 characters; link a ticket for the details";
    /// No ticket on a role that requires one.
    TicketRequired = "ticket-required", "add `ticket:` with an id matching the role's `require_ticket`";
    /// A ticket that does not match the role's pattern.
    TicketMismatch = "ticket-mismatch", "use a ticket id matching the role's `require_ticket` pattern";
    /// A policy `version` other than 1.
    PolicyVersion = "policy-version", "set `version: 1`; this gitgrant reads version 1 only";
    /// A repository that is not `owner/name`.
    InvalidRepository = "invalid-repository", "write the repository as owner/name, as on GitHub";
    /// An AWS account that is not 12 digits.
    InvalidAccount = "invalid-account", "write the account as 12 digits in quotes, such as \"111111111111\"";
    /// A reference to a provider that is not defined.
    UnknownProvider = "unknown-provider", "use a provider defined under `providers`";
    /// A malformed IAM role ARN.
    InvalidArn = "invalid-arn", "write role ARNs as arn:aws:iam::<12-digit account>:role/<name>";
    /// An IAM action that is not `service:Action` or `*`.
    InvalidAction = "invalid-action", "write actions as service:Action, such as logs:GetLogEvents or s3:Get*";
    /// An action, service or wildcard that names no IAM action.
    UnknownAction = "unknown-action", "check the spelling against AWS's Service Authorization Reference; an action AWS added after this gitgrant was built needs a newer gitgrant";
    /// An Allow statement that can write IAM, STS, Organizations or IAM
    /// Identity Center (`sso`, `sso-directory`, `identitystore`), without
    /// `allow_admin: true`.
    IamWrite = "iam-write", "a grantee who can write IAM can remove the window from their own grant, so AWS no longer ends their access by itself; narrow the actions, or set `allow_admin: true` on the role to say the organisation accepts that";
    /// An Allow statement that can change gitgrant's own policies or attach and detach policies.
    WritesGitgrantPolicies = "writes-gitgrant-policies", "not even `allow_admin: true` permits this: a grantee could rewrite or detach the policies that carry every grant's window; keep policy writes off arn:aws:iam::*:policy/gitgrant/ and drop Attach/Detach*Policy";
    /// A resource that is not `*` or an ARN.
    InvalidResource = "invalid-resource", "write resources as ARNs in the aws partition (arn:aws:… or arn:*:…, wildcards allowed) or `*`; gitgrant supports only the aws partition";
    /// A code owner that is not `@org/team` or `@login`.
    InvalidApprover = "invalid-approver", "write owners as @org/team or @login";
    /// A role with no approvers that is not break-glass.
    NoApprovers = "no-approvers", "name at least one approver, or mark the role `break_glass: true`";
    /// A `min_approvals` that is zero or cannot be reached.
    MinApprovals = "min-approvals", "set min_approvals between 1 and what the approvers can give";
    /// A `requesters` entry that is not `*`, a login or a team.
    InvalidRequester = "invalid-requester", "write requesters as \"*\", a login, or @org/team";
    /// A person key that is not a lower-case GitHub login.
    InvalidLogin = "invalid-login", "use the person's GitHub login in lower case";
    /// A malformed or conflicting cloud identity.
    InvalidIdentity = "invalid-identity", "give one identity per provider: aws_iam_user or aws_iam_role, a valid IAM name; gcp_member as user:<email>, group:<email>, serviceAccount:<email> or principal://…; azure_object_id as the Entra user's object id (a GUID)";
    /// Two people with the same cloud identity.
    DuplicateIdentity = "duplicate-identity", "each cloud identity belongs to one person; remove the duplicate";
    /// A grant of a role with `assume_roles` to a person mapped to an IAM
    /// role: the grant pins `sts:RoleSessionName` to `${aws:username}`,
    /// which a role session does not have, so it could never be used.
    AssumeRolesNeedUser = "assume-roles-need-user", "map the person to an aws_iam_user, or give the role statements instead";
    /// A `max_duration` above 90 days.
    MaxDurationCap = "max-duration-cap", "set max_duration to 90d or less; standing access is what gitgrant replaces";
    /// A `require_ticket` that is not a valid regular expression.
    InvalidRegex = "invalid-regex", "fix the regular expression (Rust regex syntax)";
    /// `*` on every resource without `allow_admin: true`.
    AdminStatement = "admin-statement", "narrow the statement: every action includes rewriting gitgrant's own policies, which not even `allow_admin: true` permits (writes-gitgrant-policies)";
    /// A role or provider name that is not `[a-z0-9][a-z0-9-]{0,62}`.
    InvalidName = "invalid-name", "use lower-case letters, digits and hyphens (it becomes a folder and a policy name)";
    /// A role that grants nothing.
    EmptyPermissions = "empty-permissions", "give the role what it grants on each kind it applies in: `assume_roles` or `statements` (AWS), `gcp_roles` (Google Cloud), `azure_roles` (Azure), `postgres` (PostgreSQL)";
    /// Two providers of one kind in one account.
    SharedAccount = "shared-account", "keep one provider per kind and account; roles may name that provider (or a list of providers) instead";
    /// A pull request that asks for access for someone else.
    SubjectNotAuthor = "subject-not-author", "open the request as the person who needs the access; only logins or teams named in the role's `requesters` may ask for others";
    /// A pull request that changes gitgrant.yaml (or CODEOWNERS) and grants together.
    PolicyWithGrants = "policy-with-grants", "split the pull request: change gitgrant.yaml or CODEOWNERS on its own, then request access under the new policy";
    /// A grant whose window starts at a landing commit dated outside the
    /// years 0000 to 9999, where no window can be computed or written.
    LandingTimeOutOfRange = "landing-time-out-of-range", "the commit that landed this grant has a committer date no window can be computed from; remove the file and land it again in a commit with a true date, or give `starts` and `expires`";
    /// A control character (escape, carriage return, NUL, …) in free text.
    ControlCharacter = "control-character", "write plain text: control characters such as escape sequences could rewrite an auditor's terminal";
    /// An aws-identity-center provider without its instance, or an instance field on another kind.
    IdentityCenterProvider = "identity-center-provider", "give an aws-identity-center provider `region`, `instance_arn` (arn:aws:sso:::instance/ssoins-…) and `identity_store_id` (d-…), as `aws sso-admin list-instances` prints them; other kinds take none of them";
    /// An Identity Center role without `accounts`, an account that is not 12 digits, the instance's own account, or `accounts` on an aws-iam role.
    RoleAccounts = "role-accounts", "list the 12-digit accounts an aws-identity-center role is assigned in under `accounts` (never the instance's own account: admin there could rewrite the permission set); aws-iam roles take their account from the provider";
    /// A field of one provider kind on a role or person of another kind.
    KindMismatch = "kind-mismatch", "managed_policies, customer_managed_policies, session_duration and aws_sso_user are for aws-identity-center; assume_roles, require_mfa, aws_iam_user and aws_iam_role are for aws-iam; gcp_roles, gcp_condition, gcp_member and resource are for gcp-iam; azure_roles, azure_object_id, tenant_id, scope and management_endpoint are for azure-pim; postgres, postgres_user and url_env are for postgres; a role names one AWS kind at most";
    /// A session duration that is not a duration of at most 12h.
    SessionDuration = "session-duration", "set session_duration between 1m and 12h, such as 1h (IAM Identity Center's limit)";
    /// A managed or customer-managed policy reference that is not well formed, or too many.
    PolicyReference = "policy-reference", "write managed_policies as AWS-managed ARNs (arn:aws:iam::aws:policy/…), customer_managed_policies as { name, path } with a path that starts and ends with `/`; at most 20 in all";
    /// A role with `require_fence` that may assume a role gitgrant cannot fence.
    UnfenceableRole = "unfenceable-role", "a role with `require_fence: true` may assume only roles in accounts an aws-iam provider reconciles, whose sessions gitgrant can end: add that account as a provider, or name a role there";
    /// An Allow statement that lets its grantee call `sts:AssumeRole`: the
    /// session holds the target role's permissions until it expires,
    /// whatever the window says, with a name nothing pins and no fence.
    AssumeRoleStatement = "assume-role-statement", "a role session outlives the grant's window by up to 12 hours; name the role in `assume_roles` (aws-iam), which pins the session to the subject and fences it at the window's end, and keep sts:AssumeRole out of `statements` (an aws-identity-center role cannot assume roles: give it the permissions instead)";
    /// An Identity Center role whose statements make an inline policy over the quota.
    /// A gcp-iam provider without its resource, or one that is not a
    /// project, folder or organization; `resource` on another kind.
    GcpProvider = "gcp-provider", "give a gcp-iam provider `resource`: projects/<project-id>, folders/<number> or organizations/<number> (the resource whose allow policy carries the grants); other kinds take none";
    /// A Google role that is not a role name, a predefined role Google does
    /// not have, or a condition IAM would refuse.
    GcpRole = "gcp-role", "name predefined roles as roles/<service>.<role> (gcloud iam roles list) and custom ones as projects/<p>/roles/<r> or organizations/<o>/roles/<r>; keep gcp_condition a CEL expression of balanced parentheses, at most 10 logical operators";
    /// A Google role that can outlive or lift the window (set IAM policy,
    /// write roles, mint or act as a service account's credentials),
    /// without `allow_admin`.
    GcpAdminRole = "gcp-admin-role", "a grantee with this role can strip the condition from their own binding or hold credentials that outlive the window; bind a narrower role, or set `allow_admin: true` on the role to say the organisation accepts that";
    /// An azure-pim provider without its tenant or scope, or with one that
    /// is not well formed; an Azure key on another kind.
    AzureProvider = "azure-provider", "give an azure-pim provider `tenant_id` (a GUID) and `scope`: /subscriptions/<id>, /subscriptions/<id>/resourceGroups/<name> or /providers/Microsoft.Management/managementGroups/<id>; `management_endpoint`, when given, an https:// host; other kinds take none";
    /// An Azure role that is neither a role name nor a role definition id,
    /// or named twice.
    AzureRole = "azure-role", "name Azure roles as the portal shows them (Contributor, Storage Blob Data Reader) or by role definition id (a GUID, or …/providers/Microsoft.Authorization/roleDefinitions/<GUID>), each once";
    /// An Azure role that can write role assignments, without `allow_admin`.
    AzureAdminRole = "azure-admin-role", "a grantee who can write role assignments (Owner, User Access Administrator, Role Based Access Control Administrator) can make their own access permanent; assign a narrower role, or set `allow_admin: true` on the role to say the organisation accepts that";
    /// A postgres provider without `url_env`, or one that is not a
    /// `GITGRANT_*` variable; `url_env` on another kind.
    PgProvider = "pg-provider", "give a postgres provider `url_env`: the GITGRANT_* environment variable that holds its connection URL (never the URL itself); other kinds take none";
    /// A schema, role or login name that is not a plain identifier, one
    /// of gitgrant's own role names, or named twice.
    PgIdentifier = "pg-identifier", "write schema, role and login names as plain identifiers (letters, digits, `_` and `$`, at most 63 bytes, exactly as the database has them), each once and none starting `gitgrant_`";
    /// A table privilege outside the fixed list, or named twice.
    PgPrivilege = "pg-privilege", "list table privileges from SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES and TRIGGER, each once";
    /// A privilege or role that outlives the window or reaches past the
    /// database, without `allow_admin`.
    PgAdminRole = "pg-admin-role", "TRIGGER and the roles pg_execute_server_program, pg_read_server_files and pg_write_server_files let their holder leave behind what outlives the window; hand out less, or set `allow_admin: true` on the role to say the organisation accepts that";
    /// An auto-approval rule that cannot be judged, or that would approve
    /// what its role does not allow.
    AutoApprove = "auto-approve", "each auto_approve rule needs a unique name, a max_duration within the role's, valid hours (mon…sun, HH:MM, an IANA time_zone), one schedule, and a role pattern for require_ticket; break-glass roles take none";
    /// The request form's identity is not a login, or holds access itself.
    Portal = "portal", "name the request form's GitHub App as `portal: { identity: <app-slug>[bot] }`, a login that is not in `people`";
    /// A notification channel that cannot be used.
    Notify = "notify", "give each notify channel a unique name, url_env (and for a webhook secret_env) naming GITGRANT_* environment variables, and at least one event";
    /// A person's email that is not an address.
    InvalidEmail = "invalid-email", "write the address the on-call schedule knows the person by, such as alice@acme.com";
    /// An Identity Center role whose statements make an inline policy over the quota.
    InlinePolicySize = "inline-policy-size", "keep an aws-identity-center role's statements within IAM Identity Center's 10,240 characters of inline policy (whitespace not counted): move permissions into managed_policies or customer_managed_policies, or split the role";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// One problem found by validation: which rule, where, what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// The file, relative to the access repository.
    pub file: String,
    /// Where in the file.
    pub span: Span,
    /// What is wrong, in words.
    pub message: String,
    /// One line on how to fix it.
    pub help: String,
}

impl Violation {
    /// Sort key: file, position, rule.
    fn key(&self) -> (&str, crate::yaml::Pos, Rule) {
        (&self.file, self.span.start, self.rule)
    }
}

impl PartialOrd for Violation {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Violation {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key()
            .cmp(&other.key())
            .then_with(|| self.message.cmp(&other.message))
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: error[{}]: {}",
            self.file, self.span.start, self.rule, self.message
        )
    }
}

impl Serialize for Violation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Violation", 8)?;
        st.serialize_field("rule", &self.rule)?;
        st.serialize_field("file", &self.file)?;
        st.serialize_field("line", &self.span.start.line)?;
        st.serialize_field("col", &self.span.start.col)?;
        st.serialize_field("end_line", &self.span.end.line)?;
        st.serialize_field("end_col", &self.span.end.col)?;
        st.serialize_field("message", &self.message)?;
        st.serialize_field("help", &self.help)?;
        st.end()
    }
}
