//! How Google Cloud carries a grant, as pure values: one conditional role
//! binding per grant and role in the resource's allow policy, whose
//! condition holds the window, so IAM itself stops honouring the binding at
//! the window's end with no run at all.
//!
//! Here: the binding's condition (expression, title, description) and the
//! ownership marker parsed back from it; the allow policy as Google sends
//! it, read and written without losing or reordering anything gitgrant does
//! not own; [`merge`], the read-modify-write's pure middle; the quotas a
//! policy must keep; and the validators of Google's names. Nothing here
//! calls Google (the adapter is `api`).
//!
//! The numbers, and where they come from:
//! - The `google.iam.v1.Policy` reference (field `bindings`: "can refer to
//!   up to 1,500 principals; up to 250 of these principals can be Google
//!   groups. Each occurrence of a principal counts towards these limits"):
//!   [`MAX_PRINCIPALS`], [`MAX_GROUPS`]. The same reference: "If you use
//!   IAM Conditions, you must include the etag field whenever you call
//!   setIamPolicy. If you omit this field, then IAM allows you to overwrite
//!   a version 3 policy with a version 1 policy, and all of the conditions
//!   in the version 3 policy are lost" ([`POLICY_VERSION`], `api`).
//! - Google's "IAM quotas and limits" page (cloud.google.com/iam/quotas,
//!   "Limits"): [`MAX_SAME_ROLE_AND_MEMBER`] (role bindings with the same
//!   role and principal, differing only in their condition) and
//!   [`MAX_LOGICAL_OPERATORS`] (per condition expression).
//! - The IAM Conditions overview (cloud.google.com/iam/docs/conditions-overview)
//!   and `google.type.Expr`: a condition's title is at most 100 characters
//!   ([`MAX_TITLE_CHARS`]) and its description at most 256
//!   ([`MAX_DESCRIPTION_CHARS`]).
//! - [`MAX_CONDITIONAL_BINDINGS`] (100) is issue 24's reading of Google's
//!   advice to keep conditional role bindings per policy few; it was not
//!   found as a number in the reference text searched, so it is gitgrant's
//!   own limit, held so a policy never nears Google's hard ones.
//! - [`MAX_CONDITION_CHARS`] is gitgrant's own bound on a role's
//!   `gcp_condition`, far below anything Google takes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::grant::{GrantId, Window, fmt_time};

/// The policy version gitgrant reads and writes: the only one that keeps
/// conditions. A version-1 write drops every condition in the policy.
pub const POLICY_VERSION: i32 = 3;
/// The start of every title gitgrant writes, so people see whose a binding
/// is. Ownership is never read from it (see [`owner`]).
pub const TITLE_PREFIX: &str = "gitgrant ";
/// The start of the description gitgrant writes: its ownership marker.
pub const MARKER_PREFIX: &str = "gitgrant repository=";
/// Hex digits of the title's hash: 128 bits of SHA-256.
pub const TITLE_HASH_HEX: usize = 32;
/// The most characters of a condition's title (Google's limit).
pub const MAX_TITLE_CHARS: usize = 100;
/// The most characters of a condition's description (Google's limit).
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// The most principals one allow policy may name, each occurrence counted.
pub const MAX_PRINCIPALS: usize = 1_500;
/// The most Google groups one allow policy may name, each occurrence
/// counted.
pub const MAX_GROUPS: usize = 250;
/// The most role bindings of one role and one principal that differ only in
/// their condition.
pub const MAX_SAME_ROLE_AND_MEMBER: usize = 20;
/// The most logical operators (`&&`, `||`, `!`) in one condition expression.
pub const MAX_LOGICAL_OPERATORS: usize = 12;
/// The most conditional role bindings gitgrant lets a policy hold (Google's
/// advice, held as a limit).
pub const MAX_CONDITIONAL_BINDINGS: usize = 100;
/// The most characters of a role's `gcp_condition` (gitgrant's bound).
pub const MAX_CONDITION_CHARS: usize = 1_000;

/// The condition expression of a grant's binding: the window, as IAM
/// evaluates it on every request, and the role's own condition ANDed in
/// parentheses when it has one.
pub fn expression(window: Window, gcp_condition: Option<&str>) -> String {
    let mut e = format!(
        "request.time >= timestamp(\"{}\") && request.time < timestamp(\"{}\")",
        fmt_time(window.start),
        fmt_time(window.end)
    );
    if let Some(c) = gcp_condition {
        e.push_str(&format!(" && ({c})"));
    }
    e
}

/// The condition's title: `gitgrant <hash> <grant id>`, at most
/// [`MAX_TITLE_CHARS`]. The hash is the first 128 bits of SHA-256 over the
/// repository, the grant id, the Google role and the window, so no two
/// grants' bindings (nor one grant's bindings of two roles or two windows)
/// share a title. It comes before the id so that cutting a long id to fit
/// never cuts it.
pub fn title(repository: &str, grant: &GrantId, role: &str, window: Window) -> String {
    let id = grant.to_string();
    let (start, end) = (fmt_time(window.start), fmt_time(window.end));
    let hash = crate::names::hash_hex(&[repository, &id, role, &start, &end], TITLE_HASH_HEX);
    let mut t = format!("{TITLE_PREFIX}{hash} {id}");
    // Ids are ASCII (`[a-z0-9-]` and `/`), so a byte cut is a character cut.
    t.truncate(MAX_TITLE_CHARS);
    t
}

/// The condition's description: the ownership marker, which records the
/// repository and the grant id. `None` when the two are too long for
/// Google's 256 characters (a grant that cannot be carried).
pub fn description(repository: &str, grant: &GrantId) -> Option<String> {
    let d = format!("{MARKER_PREFIX}{repository} grant={grant}");
    (d.chars().count() <= MAX_DESCRIPTION_CHARS).then_some(d)
}

/// Whose a binding is: the repository and grant its description's marker
/// records, when it is exactly what [`description`] writes. A binding
/// without a condition, or whose description is anything else (a title
/// that looks like gitgrant's proves nothing), has no owner.
pub fn owner(binding: &BindingFields) -> Option<(String, GrantId)> {
    let d = binding.condition.as_ref()?.description.as_deref()?;
    let (repository, grant) = d.strip_prefix(MARKER_PREFIX)?.split_once(" grant=")?;
    if !crate::names::is_repository(repository) {
        return None;
    }
    let grant: GrantId = grant.parse().ok()?;
    // Only the exact rendering counts: no trailing text, no other spelling.
    (description(repository, &grant).as_deref() == Some(d)).then(|| (repository.to_string(), grant))
}

/// The grant a binding carries for `repository`, when it is this
/// repository's; `None` for every binding gitgrant must leave alone.
pub fn ours(binding: &BindingFields, repository: &str) -> Option<GrantId> {
    owner(binding).and_then(|(r, g)| (r == repository).then_some(g))
}

/// The binding that carries `grant`'s `role` for `member` over `window`.
/// `None` when the description cannot hold the marker.
pub fn binding(
    repository: &str,
    grant: &GrantId,
    role: &str,
    member: &str,
    window: Window,
    gcp_condition: Option<&str>,
) -> Option<Binding> {
    Some(Binding::new(BindingFields {
        role: role.to_string(),
        members: vec![canonical_member(member)],
        condition: Some(Condition {
            expression: expression(window, gcp_condition),
            title: Some(title(repository, grant, role, window)),
            description: Some(description(repository, grant)?),
            extra: Map::new(),
        }),
        extra: Map::new(),
    }))
}

/// A condition on a role binding (`google.type.Expr`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The CEL expression IAM evaluates on every request.
    pub expression: String,
    /// A short title; Google requires one on conditional bindings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Fields gitgrant does not know (`location`, say), kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What gitgrant reads of a role binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BindingFields {
    /// The role, such as `roles/logging.viewer`.
    pub role: String,
    /// The principals, such as `user:alice@example.com`.
    #[serde(default)]
    pub members: Vec<String>,
    /// The condition, when the binding has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// Fields gitgrant does not know, kept.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One role binding of an allow policy, kept as the bytes it was read as:
/// a binding gitgrant does not own is written back exactly as it came.
#[derive(Debug, Clone)]
pub struct Binding {
    raw: Box<RawValue>,
    fields: BindingFields,
}

impl Binding {
    /// A binding gitgrant makes.
    pub fn new(fields: BindingFields) -> Binding {
        let text = serde_json::to_string(&fields).unwrap_or_default();
        let raw = RawValue::from_string(text).unwrap_or_else(|_| empty_object());
        Binding { raw, fields }
    }

    /// What it says.
    pub fn fields(&self) -> &BindingFields {
        &self.fields
    }

    /// The JSON it was read as (or made as).
    pub fn raw(&self) -> &str {
        self.raw.get()
    }

    /// Whether two bindings say the same (however their JSON is spaced).
    pub fn same(&self, other: &Binding) -> bool {
        self.fields == other.fields
    }
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_string()).expect("valid JSON")
}

/// Bindings compare by their bytes: "unchanged" means byte for byte.
impl PartialEq for Binding {
    fn eq(&self, other: &Binding) -> bool {
        self.raw.get() == other.raw.get()
    }
}

impl Serialize for Binding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Binding {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Binding, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let fields = serde_json::from_str(raw.get()).map_err(D::Error::custom)?;
        Ok(Binding { raw, fields })
    }
}

/// A resource's allow policy as Google sends it (`google.iam.v1.Policy`).
/// Everything gitgrant does not own comes back out as it went in: the
/// bindings as their bytes, `auditConfigs` and any field gitgrant does not
/// know as their JSON (a serde `flatten` map could not hold raw bytes, so
/// the (de)serialisation is written out below).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    /// 1 or 3; gitgrant writes 3 only.
    pub version: i32,
    /// The etag of the policy read, which a write must carry.
    pub etag: Option<String>,
    /// The role bindings, in Google's order.
    pub bindings: Vec<Binding>,
    /// The audit logging configuration, never read by gitgrant.
    pub audit_configs: Option<RawJson>,
    /// Every other field, as read.
    pub extra: BTreeMap<String, RawJson>,
}

/// A JSON value kept as the text it was read as.
#[derive(Debug, Clone)]
pub struct RawJson(Box<RawValue>);

impl RawJson {
    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for RawJson {
    fn eq(&self, other: &RawJson) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Serialize for Policy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if self.version != 0 {
            m.serialize_entry("version", &self.version)?;
        }
        if let Some(etag) = &self.etag {
            m.serialize_entry("etag", etag)?;
        }
        if !self.bindings.is_empty() {
            m.serialize_entry("bindings", &self.bindings)?;
        }
        if let Some(a) = &self.audit_configs {
            m.serialize_entry("auditConfigs", &a.0)?;
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, &v.0)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Policy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Policy, D::Error> {
        let mut fields = BTreeMap::<String, Box<RawValue>>::deserialize(d)?;
        let mut take = |k: &str| fields.remove(k);
        let version = match take("version") {
            Some(v) => serde_json::from_str(v.get()).map_err(D::Error::custom)?,
            None => 0,
        };
        let etag = match take("etag") {
            Some(v) => serde_json::from_str(v.get()).map_err(D::Error::custom)?,
            None => None,
        };
        let bindings = match take("bindings") {
            Some(v) => serde_json::from_str(v.get()).map_err(D::Error::custom)?,
            None => Vec::new(),
        };
        let audit_configs = take("auditConfigs").map(RawJson);
        let extra = fields.into_iter().map(|(k, v)| (k, RawJson(v))).collect();
        Ok(Policy {
            version,
            etag,
            bindings,
            audit_configs,
            extra,
        })
    }
}

impl Policy {
    /// The bindings gitgrant owns for `repository`, with their grants.
    pub fn ours<'a>(&'a self, repository: &'a str) -> impl Iterator<Item = (GrantId, &'a Binding)> {
        self.bindings
            .iter()
            .filter_map(move |b| ours(&b.fields, repository).map(|g| (g, b)))
    }
}

/// The policy to write after reading `read`: every binding `repository`
/// does not own kept, in its place and byte for byte; this repository's
/// bindings that say the same as one in `remove` dropped; each of `add`
/// that is not already there appended; `version` 3 and the etag read.
/// A binding in `remove` that is not this repository's is never dropped,
/// nor is one in `add` that is not this repository's ever added.
pub fn merge(read: &Policy, repository: &str, add: &[Binding], remove: &[Binding]) -> Policy {
    let mine = |b: &Binding| ours(&b.fields, repository).is_some();
    let mut bindings: Vec<Binding> = read
        .bindings
        .iter()
        .filter(|b| !(mine(b) && remove.iter().any(|r| r.same(b))))
        .cloned()
        .collect();
    for a in add.iter().filter(|a| mine(a)) {
        if !bindings.iter().any(|b| b.same(a)) {
            bindings.push(a.clone());
        }
    }
    Policy {
        version: POLICY_VERSION,
        etag: read.etag.clone(),
        bindings,
        audit_configs: read.audit_configs.clone(),
        extra: read.extra.clone(),
    }
}

/// A quota a policy would break, checked before writing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quota {
    /// More principals than [`MAX_PRINCIPALS`], each occurrence counted.
    Principals {
        /// How many the policy would name.
        count: usize,
    },
    /// More Google groups than [`MAX_GROUPS`], each occurrence counted.
    Groups {
        /// How many the policy would name.
        count: usize,
    },
    /// More than [`MAX_SAME_ROLE_AND_MEMBER`] bindings of one role and one
    /// principal.
    SameRoleAndMember {
        /// The role.
        role: String,
        /// The principal.
        member: String,
        /// How many bindings the policy would hold.
        count: usize,
    },
    /// An expression with more than [`MAX_LOGICAL_OPERATORS`].
    LogicalOperators {
        /// The binding's role.
        role: String,
        /// The condition's title.
        title: String,
        /// How many operators it has.
        count: usize,
    },
    /// More than [`MAX_CONDITIONAL_BINDINGS`] conditional bindings.
    ConditionalBindings {
        /// How many the policy would hold.
        count: usize,
    },
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quota::Principals { count } => write!(
                f,
                "the allow policy would name {count} principals, over Google's limit of {MAX_PRINCIPALS} per policy (each occurrence counts)"
            ),
            Quota::Groups { count } => write!(
                f,
                "the allow policy would name {count} Google groups, over Google's limit of {MAX_GROUPS} per policy (each occurrence counts)"
            ),
            Quota::SameRoleAndMember {
                role,
                member,
                count,
            } => write!(
                f,
                "the allow policy would hold {count} bindings of {role} for {member}, over Google's limit of {MAX_SAME_ROLE_AND_MEMBER} bindings of one role and one principal that differ only in their condition"
            ),
            Quota::LogicalOperators { role, title, count } => write!(
                f,
                "the condition {title:?} of {role} has {count} logical operators, over Google's limit of {MAX_LOGICAL_OPERATORS} per condition expression"
            ),
            Quota::ConditionalBindings { count } => write!(
                f,
                "the allow policy would hold {count} conditional role bindings, over the {MAX_CONDITIONAL_BINDINGS} Google advises (and gitgrant holds) per policy"
            ),
        }
    }
}

/// Every quota `policy` breaks; empty when it may be written.
pub fn quotas(policy: &Policy) -> Vec<Quota> {
    let mut out = Vec::new();
    let fields = policy.bindings.iter().map(|b| &b.fields);
    let principals: usize = fields.clone().map(|b| b.members.len()).sum();
    if principals > MAX_PRINCIPALS {
        out.push(Quota::Principals { count: principals });
    }
    let groups = fields
        .clone()
        .flat_map(|b| &b.members)
        .filter(|m| m.starts_with("group:"))
        .count();
    if groups > MAX_GROUPS {
        out.push(Quota::Groups { count: groups });
    }
    let mut same: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for b in fields.clone().filter(|b| b.condition.is_some()) {
        for m in &b.members {
            *same.entry((&b.role, m)).or_default() += 1;
        }
    }
    for ((role, member), count) in same {
        if count > MAX_SAME_ROLE_AND_MEMBER {
            out.push(Quota::SameRoleAndMember {
                role: role.to_string(),
                member: member.to_string(),
                count,
            });
        }
    }
    for b in fields.clone() {
        if let Some(c) = &b.condition {
            let count = logical_operators(&c.expression);
            if count > MAX_LOGICAL_OPERATORS {
                out.push(Quota::LogicalOperators {
                    role: b.role.clone(),
                    title: c.title.clone().unwrap_or_default(),
                    count,
                });
            }
        }
    }
    let conditional = fields.filter(|b| b.condition.is_some()).count();
    if conditional > MAX_CONDITIONAL_BINDINGS {
        out.push(Quota::ConditionalBindings { count: conditional });
    }
    out
}

/// The parts of a CEL expression outside its string literals, in order,
/// or `None` when a literal is never closed.
fn outside_literals(expression: &str) -> Option<String> {
    let mut out = String::with_capacity(expression.len());
    let mut chars = expression.chars();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' {
            // Within a literal, a backslash escapes the next character.
            loop {
                match chars.next()? {
                    '\\' => {
                        chars.next()?;
                    }
                    q if q == c => break,
                    _ => {}
                }
            }
            // Keep a placeholder so that `"a"&&"b"` still reads as two operands.
            out.push('_');
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// How many logical operators (`&&`, `||`, `!` but not `!=`) an expression
/// has, outside its string literals.
pub fn logical_operators(expression: &str) -> usize {
    let code = outside_literals(expression).unwrap_or_else(|| expression.to_string());
    let and_or = code.matches("&&").count() + code.matches("||").count();
    let not = code
        .char_indices()
        .filter(|&(i, c)| c == '!' && !code[i + 1..].starts_with('='))
        .count();
    and_or + not
}

/// Why a role's `gcp_condition` cannot be ANDed into a grant's binding, or
/// `Ok`: non-empty, at most [`MAX_CONDITION_CHARS`], string literals closed
/// and parentheses balanced outside them, and room left for the window's
/// operators within Google's limit.
pub fn check_condition(condition: &str) -> Result<(), String> {
    if condition.trim().is_empty() {
        return Err("the condition is empty".to_string());
    }
    let chars = condition.chars().count();
    if chars > MAX_CONDITION_CHARS {
        return Err(format!(
            "the condition has {chars} characters; gitgrant takes at most {MAX_CONDITION_CHARS}"
        ));
    }
    let Some(code) = outside_literals(condition) else {
        return Err("a string literal in the condition is never closed".to_string());
    };
    let mut depth = 0usize;
    for c in code.chars() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("the condition closes a parenthesis it never opened")?;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(format!("the condition leaves {depth} parenthesis(es) open"));
    }
    // The window adds two `&&`: its own and the one joining this condition.
    let count = logical_operators(condition) + 2;
    if count > MAX_LOGICAL_OPERATORS {
        return Err(format!(
            "with the window's two, the condition has {count} logical operators; Google takes at most {MAX_LOGICAL_OPERATORS} per expression"
        ));
    }
    Ok(())
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$").expect("valid regex")
});
static FEDERATED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(principal|principalSet)://iam\.googleapis\.com/[A-Za-z0-9._~:@/%+=-]+$")
        .expect("valid regex")
});
static PROJECT_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$").expect("valid regex"));
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[1-9][0-9]{0,24}$").expect("valid regex"));
static PREDEFINED_ROLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^roles/[A-Za-z0-9_.]+$").expect("valid regex"));
static CUSTOM_ROLE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9_.]{3,64}$").expect("valid regex"));

/// A member as gitgrant writes it: the email of a `user:`, `group:` or
/// `serviceAccount:` member in lower case (email addresses are
/// case-insensitive, so Google may answer either spelling, and a binding
/// read back must compare equal to the one wanted, or every run would add
/// it again); `principal://` and `principalSet://` names as written (their
/// subjects are the identity provider's and may be case-sensitive).
pub fn canonical_member(member: &str) -> String {
    match member.split_once(':') {
        Some((kind @ ("user" | "group" | "serviceAccount"), email)) if !email.starts_with("//") => {
            format!("{kind}:{}", email.to_lowercase())
        }
        _ => member.to_string(),
    }
}

/// Why `member` is not a principal gitgrant binds a person as, or `Ok`:
/// `user:`, `group:` or `serviceAccount:` and an email address, or a
/// workforce or workload identity `principal://` or `principalSet://`
/// name. Public principals (`allUsers`, `allAuthenticatedUsers`), whole
/// domains and `deleted:` principals are refused.
pub fn check_member(member: &str) -> Result<(), String> {
    if let Some((kind, email)) = member.split_once(':')
        && matches!(kind, "user" | "group" | "serviceAccount")
        && !email.starts_with("//")
    {
        return if EMAIL.is_match(email) {
            Ok(())
        } else {
            Err(format!("`{email}` is not an email address"))
        };
    }
    if FEDERATED.is_match(member) {
        return Ok(());
    }
    Err(match member {
        "allUsers" | "allAuthenticatedUsers" => {
            format!("`{member}` is everyone, not a person")
        }
        m if m.starts_with("domain:") => "a whole domain is not a person".to_string(),
        m if m.starts_with("deleted:") => "a deleted principal cannot be granted".to_string(),
        _ => "expected user:EMAIL, group:EMAIL, serviceAccount:EMAIL, principal://iam.googleapis.com/… or principalSet://iam.googleapis.com/…".to_string(),
    })
}

/// Why `resource` is not a resource whose allow policy gitgrant manages,
/// or `Ok`: `projects/<project id>`, `folders/<number>` or
/// `organizations/<number>`.
pub fn check_resource(resource: &str) -> Result<(), String> {
    let ok = match resource.split_once('/') {
        Some(("projects", id)) => PROJECT_ID.is_match(id),
        Some(("folders" | "organizations", n)) => NUMBER.is_match(n),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("expected projects/<project id> (6 to 30 lowercase letters, digits and hyphens, starting with a letter), folders/<number> or organizations/<number>".to_string())
    }
}

/// Why `role` is not a role name, or `Ok`: a predefined role
/// `roles/<name>`, or a custom role `projects/<project id>/roles/<id>` or
/// `organizations/<number>/roles/<id>`.
pub fn check_role(role: &str) -> Result<(), String> {
    if PREDEFINED_ROLE.is_match(role) {
        return Ok(());
    }
    let parts: Vec<&str> = role.split('/').collect();
    let ok = match parts.as_slice() {
        ["projects", p, "roles", id] => PROJECT_ID.is_match(p) && CUSTOM_ROLE_ID.is_match(id),
        ["organizations", o, "roles", id] => NUMBER.is_match(o) && CUSTOM_ROLE_ID.is_match(id),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err("expected roles/<name>, projects/<project id>/roles/<id> or organizations/<number>/roles/<id>".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn window() -> Window {
        Window {
            start: Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap(),
            end: Utc.with_ymd_and_hms(2026, 12, 4, 17, 0, 0).unwrap(),
        }
    }

    fn id(s: &str) -> GrantId {
        s.parse().unwrap()
    }

    fn ours_binding(grant: &str, role: &str) -> Binding {
        binding(
            "acme/access",
            &id(grant),
            role,
            "user:alice@acme.com",
            window(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn the_expression_is_the_window_and_the_roles_condition() {
        assert_eq!(
            expression(window(), None),
            r#"request.time >= timestamp("2026-12-04T09:00:00Z") && request.time < timestamp("2026-12-04T17:00:00Z")"#
        );
        assert_eq!(
            expression(
                window(),
                Some("resource.name.startsWith('projects/_/buckets/logs')")
            ),
            r#"request.time >= timestamp("2026-12-04T09:00:00Z") && request.time < timestamp("2026-12-04T17:00:00Z") && (resource.name.startsWith('projects/_/buckets/logs'))"#
        );
    }

    #[test]
    fn titles_fit_and_differ_by_repository_grant_role_and_window() {
        let g = id("prod-logs/alice-1");
        let t = title("acme/access", &g, "roles/logging.viewer", window());
        assert!(
            t.starts_with(TITLE_PREFIX) && t.ends_with(" prod-logs/alice-1"),
            "{t}"
        );
        let mut other = window();
        other.end += chrono::Duration::hours(1);
        let all = [
            t.clone(),
            title("acme/other", &g, "roles/logging.viewer", window()),
            title(
                "acme/access",
                &id("prod-logs/alice-2"),
                "roles/logging.viewer",
                window(),
            ),
            title("acme/access", &g, "roles/logging.admin", window()),
            title("acme/access", &g, "roles/logging.viewer", other),
        ];
        let distinct: std::collections::BTreeSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len());
        let long = id(&format!("{}/{}", "r".repeat(63), "n".repeat(63)));
        let t = title("acme/access", &long, "roles/x", window());
        assert_eq!(t.len(), MAX_TITLE_CHARS);
        assert_eq!(t.split(' ').nth(1).unwrap().len(), TITLE_HASH_HEX);
    }

    #[test]
    fn ownership_is_the_description_for_this_repository_only() {
        let b = ours_binding("prod-logs/alice-1", "roles/logging.viewer");
        assert_eq!(
            ours(b.fields(), "acme/access"),
            Some(id("prod-logs/alice-1"))
        );
        assert_eq!(ours(b.fields(), "acme/other"), None);
        // A look-alike: gitgrant's title, someone else's description.
        let mut look = b.fields().clone();
        look.condition.as_mut().unwrap().description = Some("mine".into());
        assert_eq!(owner(&look), None);
        // The marker with anything after it is not what gitgrant writes.
        let mut trailing = b.fields().clone();
        trailing.condition.as_mut().unwrap().description =
            Some("gitgrant repository=acme/access grant=prod-logs/alice-1 x".into());
        assert_eq!(owner(&trailing), None);
        let mut no_condition = b.fields().clone();
        no_condition.condition = None;
        assert_eq!(owner(&no_condition), None);
        assert!(description("a".repeat(200).as_str(), &id("r/n")).is_some());
        assert!(
            description(
                &format!("{}/{}", "o".repeat(39), "n".repeat(100)),
                &id(&format!("{}/{}", "r".repeat(63), "n".repeat(63)))
            )
            .is_none()
        );
    }

    const READ: &str = r#"{"version":3,"etag":"BwXhqDc2=","bindings":[{"role":"roles/owner","members":["user:root@acme.com","group:admins@acme.com"]},{"members":["user:bob@acme.com"],"role":"roles/viewer","condition":{"title":"gitgrant 0123 prod-logs/alice-1","expression":"request.time < timestamp(\"2030-01-01T00:00:00Z\")","description":"bob's own"}},  {"role":"roles/browser","members":["user:eve@acme.com"],"newField":{"z":1,"a":2}}],"auditConfigs":[{"service":"allServices","auditLogConfigs":[{"logType":"DATA_READ"}]}],"futureField":{"b":1,"a":[2,1]}}"#;

    #[test]
    fn a_policy_round_trips_every_field_it_does_not_understand() {
        let p: Policy = serde_json::from_str(READ).unwrap();
        assert_eq!(p.version, 3);
        assert_eq!(p.etag.as_deref(), Some("BwXhqDc2="));
        assert_eq!(p.bindings.len(), 3);
        let out = serde_json::to_string(&p).unwrap();
        // Every binding, auditConfigs and the unknown field come out as their bytes.
        for b in &p.bindings {
            assert!(out.contains(b.raw()), "{out}");
        }
        assert!(out.contains(r#""auditConfigs":[{"service":"allServices","auditLogConfigs":[{"logType":"DATA_READ"}]}]"#));
        assert!(out.contains(r#""futureField":{"b":1,"a":[2,1]}"#));
        let again: Policy = serde_json::from_str(&out).unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn merge_keeps_foreign_bindings_byte_for_byte_and_in_order() {
        let mut read: Policy = serde_json::from_str(READ).unwrap();
        read.version = 1;
        let old = ours_binding("prod-logs/alice-0", "roles/logging.viewer");
        read.bindings.insert(1, old.clone());
        let new = ours_binding("prod-logs/alice-1", "roles/logging.viewer");
        let foreign_removal = read.bindings[0].clone();
        let merged = merge(
            &read,
            "acme/access",
            std::slice::from_ref(&new),
            &[old.clone(), foreign_removal],
        );
        assert_eq!(merged.version, POLICY_VERSION);
        assert_eq!(merged.etag, read.etag);
        let raws: Vec<&str> = merged.bindings.iter().map(Binding::raw).collect();
        let expected: Vec<&str> = [
            &read.bindings[0],
            &read.bindings[2],
            &read.bindings[3],
            &new,
        ]
        .iter()
        .map(|b| b.raw())
        .collect();
        assert_eq!(raws, expected);
        // Adding what is there already changes nothing; another repository's
        // binding is never added.
        let again = merge(&merged, "acme/access", std::slice::from_ref(&new), &[]);
        assert_eq!(again.bindings, merged.bindings);
        let theirs = binding(
            "acme/other",
            &id("x/y"),
            "roles/owner",
            "user:eve@acme.com",
            window(),
            None,
        )
        .unwrap();
        assert_eq!(
            merge(&merged, "acme/access", &[theirs], &[]).bindings,
            merged.bindings
        );
        let out = serde_json::to_string(&merged).unwrap();
        assert!(
            out.starts_with(r#"{"version":3,"etag":"BwXhqDc2=","bindings":["#),
            "{out}"
        );
    }

    #[test]
    fn quotas_name_what_they_refuse() {
        let many = |n: usize, role: &str, member: &str| -> Vec<Binding> {
            (0..n)
                .map(|i| {
                    binding(
                        "acme/access",
                        &id(&format!("r/g{i}")),
                        role,
                        member,
                        window(),
                        None,
                    )
                    .unwrap()
                })
                .collect()
        };
        let mut p = Policy {
            version: 3,
            bindings: many(MAX_SAME_ROLE_AND_MEMBER, "roles/viewer", "user:a@acme.com"),
            ..Policy::default()
        };
        assert_eq!(quotas(&p), vec![]);
        p.bindings
            .extend(many(1, "roles/viewer", "user:a@acme.com"));
        let q = quotas(&p);
        assert!(
            matches!(&q[..], [Quota::SameRoleAndMember { count: 21, .. }]),
            "{q:?}"
        );
        assert!(
            q[0].to_string()
                .contains("20 bindings of one role and one principal")
        );

        let mut p = Policy::default();
        for i in 0..(MAX_CONDITIONAL_BINDINGS + 1) {
            p.bindings
                .extend(many(1, "roles/viewer", &format!("user:u{i}@acme.com")));
        }
        assert_eq!(quotas(&p), vec![Quota::ConditionalBindings { count: 101 }]);

        let members: Vec<String> = (0..=MAX_PRINCIPALS)
            .map(|i| format!("user:u{i}@acme.com"))
            .collect();
        let big = Binding::new(BindingFields {
            role: "roles/viewer".into(),
            members,
            condition: None,
            extra: Map::new(),
        });
        let p = Policy {
            bindings: vec![big],
            ..Policy::default()
        };
        assert_eq!(quotas(&p), vec![Quota::Principals { count: 1501 }]);
        assert!(quotas(&p)[0].to_string().contains("1500 per policy"));
        let groups = Binding::new(BindingFields {
            role: "roles/viewer".into(),
            members: (0..=MAX_GROUPS)
                .map(|i| format!("group:g{i}@acme.com"))
                .collect(),
            condition: None,
            extra: Map::new(),
        });
        let p = Policy {
            bindings: vec![groups],
            ..Policy::default()
        };
        assert_eq!(quotas(&p), vec![Quota::Groups { count: 251 }]);

        let cond = (0..12)
            .map(|i| format!("a{i} == 1"))
            .collect::<Vec<_>>()
            .join(" || ");
        let b = binding(
            "acme/access",
            &id("r/g"),
            "roles/viewer",
            "user:a@acme.com",
            window(),
            Some(&cond),
        )
        .unwrap();
        let p = Policy {
            bindings: vec![b],
            ..Policy::default()
        };
        assert!(matches!(
            &quotas(&p)[..],
            [Quota::LogicalOperators { count: 13, .. }]
        ));
    }

    #[test]
    fn logical_operators_are_counted_outside_literals() {
        assert_eq!(logical_operators("a && b || !c"), 3);
        assert_eq!(logical_operators("a != b"), 0);
        assert_eq!(logical_operators(r#"a == "&&||!" && b"#), 1);
        assert_eq!(logical_operators(r"a == 'it\'s && so' || b"), 1);
    }

    #[test]
    fn conditions_are_checked_for_balance_and_room() {
        assert_eq!(
            check_condition("resource.name.startsWith('projects/_/buckets/(x')"),
            Ok(())
        );
        assert!(check_condition("").is_err());
        assert!(check_condition("(a").unwrap_err().contains("open"));
        assert!(check_condition("a)").unwrap_err().contains("never opened"));
        assert!(
            check_condition("a == 'x")
                .unwrap_err()
                .contains("never closed")
        );
        assert!(check_condition(&"a".repeat(MAX_CONDITION_CHARS + 1)).is_err());
        let ten = (0..11)
            .map(|i| format!("a{i}"))
            .collect::<Vec<_>>()
            .join(" && ");
        assert_eq!(check_condition(&ten), Ok(()));
        let eleven = format!("{ten} && b");
        assert!(
            check_condition(&eleven)
                .unwrap_err()
                .contains("13 logical operators")
        );
    }

    #[test]
    fn members_are_written_in_the_case_google_compares() {
        assert_eq!(
            canonical_member("user:Alice@Acme.com"),
            "user:alice@acme.com"
        );
        assert_eq!(
            canonical_member("serviceAccount:CI@p.iam.gserviceaccount.com"),
            "serviceAccount:ci@p.iam.gserviceaccount.com"
        );
        let federated =
            "principal://iam.googleapis.com/locations/global/workforcePools/acme/subject/Alice";
        assert_eq!(canonical_member(federated), federated);
        let b = binding(
            "acme/access",
            &id("r/n"),
            "roles/viewer",
            "user:Alice@acme.com",
            window(),
            None,
        )
        .unwrap();
        assert_eq!(b.fields().members, ["user:alice@acme.com"]);
        let p = Policy {
            bindings: vec![b],
            ..Policy::default()
        };
        let ours: Vec<GrantId> = p.ours("acme/access").map(|(g, _)| g).collect();
        assert_eq!(ours, [id("r/n")]);
        assert_eq!(p.ours("acme/other").count(), 0);
    }

    #[test]
    fn names_say_why_not() {
        for ok in [
            "user:alice@acme.com",
            "group:sre@acme.com",
            "serviceAccount:ci@acme-prod.iam.gserviceaccount.com",
            "principal://iam.googleapis.com/locations/global/workforcePools/acme/subject/alice",
            "principalSet://iam.googleapis.com/locations/global/workforcePools/acme/group/sre",
        ] {
            assert_eq!(check_member(ok), Ok(()), "{ok}");
        }
        for bad in [
            "allUsers",
            "domain:acme.com",
            "user:alice",
            "deleted:user:a@b.c?uid=1",
            "alice@acme.com",
            "principal://evil.example.com/x",
            "user://x",
        ] {
            assert!(check_member(bad).is_err(), "{bad}");
        }
        for ok in [
            "projects/acme-prod",
            "folders/123456789012",
            "organizations/1",
        ] {
            assert_eq!(check_resource(ok), Ok(()), "{ok}");
        }
        for bad in [
            "projects/Acme",
            "projects/a",
            "projects/acme-",
            "folders/x1",
            "folders/0123",
            "buckets/x",
            "projects/acme-prod/x",
        ] {
            assert!(check_resource(bad).is_err(), "{bad}");
        }
        for ok in [
            "roles/logging.viewer",
            "roles/owner",
            "projects/acme-prod/roles/incidentReader",
            "organizations/123/roles/custom.role_1",
        ] {
            assert_eq!(check_role(ok), Ok(()), "{ok}");
        }
        for bad in [
            "logging.viewer",
            "roles/",
            "roles/a b",
            "projects/acme-prod/roles/x",
            "folders/1/roles/abc",
            "projects/acme-prod/roles/a/b",
        ] {
            assert!(check_role(bad).is_err(), "{bad}");
        }
    }
}
