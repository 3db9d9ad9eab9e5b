//! Azure's names, pure: GUIDs, scopes, role names, the endpoint; the
//! built-in roles whose holder can make their own access permanent; the
//! marker gitgrant writes in a schedule request's justification; and the
//! deterministic request names.

use crate::grant::Window;

/// The longest justification PIM takes.
pub const MAX_JUSTIFICATION: usize = 500;
/// ARM's public cloud endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://management.azure.com";

/// Built-in roles that can write role assignments (so their holder can
/// make an assignment of their own with no end), by name and by their
/// role definition id, which is the same in every tenant.
pub const ADMIN_ROLES: [(&str, &str); 3] = [
    ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
    (
        "User Access Administrator",
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
    ),
    (
        "Role Based Access Control Administrator",
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
    ),
];

/// The actions that let their holder assign roles themselves.
const ASSIGNING: [&str; 2] = [
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleAssignmentScheduleRequests/write",
];

/// Whether a permission of `actions` less `not_actions` (as a role
/// definition lists them, `*` a wildcard, without regard to case) lets
/// its holder write role assignments: a custom role that does needs
/// `allow_admin` too, known only once its definition is read.
pub fn writes_role_assignments(actions: &[&str], not_actions: &[&str]) -> bool {
    ASSIGNING.iter().any(|a| {
        actions.iter().any(|p| matches(p, a)) && !not_actions.iter().any(|p| matches(p, a))
    })
}

/// Whether the action pattern `pattern` (`*` matching any run of
/// characters) covers `action`, without regard to case.
fn matches(pattern: &str, action: &str) -> bool {
    let (p, a) = (pattern.to_ascii_lowercase(), action.to_ascii_lowercase());
    let parts: Vec<&str> = p.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return p == a;
    }
    if !a.starts_with(first) || !a[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &a[first.len()..a.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `role` (a name or a role definition id, as written) is one of
/// [`ADMIN_ROLES`].
pub fn is_admin_role(role: &str) -> bool {
    let id = role.rsplit('/').next().unwrap_or(role);
    ADMIN_ROLES
        .iter()
        .any(|(name, guid)| role.eq_ignore_ascii_case(name) || id.eq_ignore_ascii_case(guid))
}

/// Why `s` is not a GUID (`8-4-4-4-12` hexadecimal digits).
pub fn check_guid(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    let hex = parts
        .iter()
        .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()));
    if lens == [8, 4, 4, 4, 12] && hex {
        Ok(())
    } else {
        Err(format!("`{s}` is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"))
    }
}

/// Why `s` is not a scope an azure-pim provider can name: a subscription,
/// a resource group in one, or a management group.
pub fn check_scope(s: &str) -> Result<(), String> {
    let parts: Vec<&str> = s.split('/').collect();
    let plain = |n: &str| {
        !n.is_empty()
            && n.len() <= 90
            && n
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.()".contains(c))
            && !n.ends_with('.')
    };
    let ok = match parts.as_slice() {
        ["", subs, id] if subs.eq_ignore_ascii_case("subscriptions") => check_guid(id).is_ok(),
        ["", a, b, c, d] => {
            let group = a.eq_ignore_ascii_case("subscriptions")
                && check_guid(b).is_ok()
                && c.eq_ignore_ascii_case("resourceGroups");
            let management = a.eq_ignore_ascii_case("providers")
                && b.eq_ignore_ascii_case("Microsoft.Management")
                && c.eq_ignore_ascii_case("managementGroups");
            (group || management) && plain(d)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a scope PIM assigns roles at: /subscriptions/<id>, /subscriptions/<id>/resourceGroups/<name> or /providers/Microsoft.Management/managementGroups/<id>"
        ))
    }
}

/// Why `s` is not an ARM endpoint gitgrant sends its token to: an
/// `https://` URL with a host and nothing after it.
pub fn check_endpoint(s: &str) -> Result<(), String> {
    let rest = s.strip_prefix("https://").ok_or_else(|| {
        format!("`{s}` is not an https:// URL; the reconciler's token is never sent in the clear")
    })?;
    let host = rest.trim_end_matches('/');
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
    {
        return Err(format!(
            "`{s}` is not an endpoint such as https://management.usgovcloudapi.net (a host, no path)"
        ));
    }
    Ok(())
}

/// Why `s` cannot name an Azure role: a role name (at most 512
/// characters, no control characters or `/`) or a role definition id
/// (a GUID, or `/…/providers/Microsoft.Authorization/roleDefinitions/<GUID>`).
pub fn check_role(s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.trim() != s {
        return Err(format!(
            "`{s}` is not a role name: no leading or trailing blanks"
        ));
    }
    if s.chars().any(char::is_control) || s.chars().count() > 512 {
        return Err("a role name is at most 512 characters, with no control characters".into());
    }
    if s.contains('/') {
        let id = s.rsplit('/').next().unwrap_or_default();
        let prefix = &s[..s.len() - id.len()];
        if !prefix
            .to_ascii_lowercase()
            .ends_with("/providers/microsoft.authorization/roledefinitions/")
            || check_guid(id).is_err()
        {
            return Err(format!(
                "`{s}` is neither a role name nor a role definition id (…/providers/Microsoft.Authorization/roleDefinitions/<GUID>)"
            ));
        }
    }
    Ok(())
}

/// The GUID of a role definition id, or the text when it is one.
pub fn definition_guid(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// The marker that opens the justification of every schedule request
/// gitgrant makes: `[gitgrant <repository> <grant-id>]`.
pub fn marker(repository: &str, grant: &str) -> String {
    format!("[gitgrant {repository} {grant}]")
}

/// The justification of a request: the marker, then `text` (the grant's
/// reason, or why access ends), cut to what PIM takes.
pub fn justification(repository: &str, grant: &str, text: &str) -> String {
    let mut out = format!("{} {}", marker(repository, grant), text.replace(['\n', '\r'], " "));
    if out.len() > MAX_JUSTIFICATION {
        let mut cut = MAX_JUSTIFICATION - "…".len();
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// The grant a justification's marker names for `repository`, if it is
/// this repository's marker.
pub fn grant_of<'a>(justification: &'a str, repository: &str) -> Option<&'a str> {
    let rest = justification.strip_prefix("[gitgrant ")?;
    let rest = rest.strip_prefix(repository)?.strip_prefix(' ')?;
    let (grant, _) = rest.split_once(']')?;
    (!grant.is_empty() && !grant.contains(' ')).then_some(grant)
}

/// The namespace of gitgrant's request names (a UUID of its own).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6a1f_43d0_5c3e_4b8a_9e61_7f0c_2d4b_9a15);

/// A schedule request's name: a name-based (version 5) UUID of what the
/// request is, so that a retried request is the same request and two
/// different ones never share a name.
pub fn request_name(
    action: &str,
    repository: &str,
    grant: &str,
    role_definition: &str,
    scope: &str,
    window: Window,
) -> String {
    let text = format!(
        "{action}\0{repository}\0{grant}\0{}\0{}\0{}\0{}",
        definition_guid(role_definition).to_ascii_lowercase(),
        scope.to_ascii_lowercase(),
        window.start.timestamp(),
        window.end.timestamp()
    );
    uuid::Uuid::new_v5(&NAMESPACE, text.as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn scopes_and_roles() {
        let sub = "/subscriptions/6c1f4f2e-9a4b-4d5c-8e3a-0b1c2d3e4f50";
        assert!(check_scope(sub).is_ok());
        assert!(check_scope(&format!("{sub}/resourceGroups/rg-prod.eu")).is_ok());
        assert!(check_scope("/providers/Microsoft.Management/managementGroups/acme").is_ok());
        assert!(check_scope("/subscriptions/nope").is_err());
        assert!(check_scope(&format!("{sub}/")).is_err());
        assert!(check_scope(&format!("{sub}/resourceGroups/a/providers/x")).is_err());
        assert!(check_role("Storage Blob Data Reader").is_ok());
        assert!(check_role(&format!("{sub}/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c")).is_ok());
        assert!(check_role("a/b").is_err());
        assert!(check_role(" Owner").is_err());
        assert!(is_admin_role("owner"));
        assert!(is_admin_role("/providers/Microsoft.Authorization/roleDefinitions/18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"));
        assert!(!is_admin_role("Contributor"));
        assert!(writes_role_assignments(&["*"], &[]));
        assert!(!writes_role_assignments(&["*"], &["Microsoft.Authorization/*/Write"]));
        assert!(writes_role_assignments(&["microsoft.authorization/*"], &["Microsoft.Authorization/*/Delete"]));
        assert!(!writes_role_assignments(&["*/read"], &[]));
        assert!(check_endpoint("http://management.azure.com").is_err());
        assert!(check_endpoint("https://management.azure.com/").is_ok());
        assert!(check_endpoint("https://evil.example/path").is_err());
    }

    #[test]
    fn markers_name_only_this_repository() {
        let j = justification("acme/access", "prod/alice-1", "deploy\nfix");
        assert_eq!(j, "[gitgrant acme/access prod/alice-1] deploy fix");
        assert_eq!(grant_of(&j, "acme/access"), Some("prod/alice-1"));
        assert_eq!(grant_of(&j, "acme/acc"), None);
        assert_eq!(grant_of(&j, "other/access"), None);
        let long = justification("a/b", "r/g", &"x".repeat(900));
        assert!(long.len() <= MAX_JUSTIFICATION);
    }

    #[test]
    fn request_names_are_stable_and_distinct() {
        let t = |h| chrono::Utc.with_ymd_and_hms(2026, 12, 5, h, 0, 0).unwrap();
        let w = Window { start: t(1), end: t(3) };
        let a = request_name("assign", "a/b", "r/g", "x/roleDefinitions/B24988AC-6180-42a0-ab88-20f7382dd24c", "/subscriptions/S", w);
        let b = request_name("assign", "a/b", "r/g", "b24988ac-6180-42a0-ab88-20f7382dd24c", "/subscriptions/s", w);
        assert_eq!(a, b);
        assert!(check_guid(&a).is_ok());
        let c = request_name("assign", "a/b", "r/g", "b24988ac-6180-42a0-ab88-20f7382dd24c", "/subscriptions/s", Window { start: t(1), end: t(4) });
        assert_ne!(a, c);
    }
}
