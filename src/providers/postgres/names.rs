//! PostgreSQL's names, pure: what an identifier gitgrant sends may be, the
//! fixed list of privileges, the predefined roles that reach past the
//! database, the name of a grant's own role and the comment that marks it
//! as gitgrant's.

use sha2::{Digest, Sha256};

/// The longest identifier PostgreSQL keeps (`NAMEDATALEN` - 1 bytes).
pub const MAX_IDENTIFIER: usize = 63;

/// Every grant's role's name starts with this.
pub const ROLE_PREFIX: &str = "gitgrant_";

/// The table privileges a role may hand out. `TRIGGER` lets its holder
/// attach a trigger that outlives the window, so it needs `allow_admin`.
pub const PRIVILEGES: [&str; 7] = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
];

/// Privileges whose holder can leave something behind that outlives the
/// window.
pub const ADMIN_PRIVILEGES: [&str; 1] = ["TRIGGER"];

/// Predefined roles whose holder reaches past the database (the server's
/// files and programs, as the server's operating-system user): enough to
/// make access permanent.
pub const ADMIN_ROLES: [&str; 3] = [
    "pg_execute_server_program",
    "pg_read_server_files",
    "pg_write_server_files",
];

/// Why `name` is not an identifier gitgrant sends: 1 to 63 bytes of ASCII
/// letters, digits, `_` and `$`, not starting with a digit or `$`. Every
/// identifier is sent quoted all the same.
pub fn check_identifier(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("an identifier cannot be empty".to_string());
    };
    if name.len() > MAX_IDENTIFIER {
        return Err(format!(
            "`{name}` is longer than PostgreSQL's {MAX_IDENTIFIER} bytes"
        ));
    }
    if !(first.is_ascii_alphabetic() || first == '_')
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    {
        return Err(format!(
            "`{name}` is not a plain identifier (letters, digits, `_` and `$`, not starting with a digit)"
        ));
    }
    Ok(())
}

/// Why `name` cannot be a role a grant is given or given to: not an
/// identifier, or one of gitgrant's own.
pub fn check_role_name(name: &str) -> Result<(), String> {
    check_identifier(name)?;
    if name.starts_with(ROLE_PREFIX) {
        return Err(format!(
            "`{name}` is named like a grant's own role (`{ROLE_PREFIX}…`), which gitgrant makes and drops"
        ));
    }
    Ok(())
}

/// The privilege as PostgreSQL spells it, when it is one of [`PRIVILEGES`]
/// (written in any case).
pub fn privilege(p: &str) -> Option<&'static str> {
    PRIVILEGES.iter().copied().find(|k| k.eq_ignore_ascii_case(p))
}

/// Why `name` is not an environment variable a URL may come from: a
/// `GITGRANT_` name of upper-case letters, digits and `_`.
pub fn check_url_env(name: &str) -> Result<(), String> {
    let ok = name.len() > "GITGRANT_".len()
        && name.starts_with("GITGRANT_")
        && (name.chars()).all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a GITGRANT_* environment variable (upper-case letters, digits and `_`)"
        ))
    }
}

/// The name of grant `grant`'s role in `repository`: `gitgrant_` and 24
/// hex digits of a hash of both, so no two grants share one and it is
/// always an identifier.
pub fn role_name(repository: &str, grant: &str) -> String {
    let mut h = Sha256::new();
    h.update(repository.as_bytes());
    h.update([0]);
    h.update(grant.as_bytes());
    let digest = h.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{ROLE_PREFIX}{hex}")
}

/// The comment on a grant's role, which makes it gitgrant's:
/// `gitgrant <repository> <grant>`.
pub fn comment(repository: &str, grant: &str) -> String {
    format!("gitgrant {repository} {grant}")
}

/// The grant a role's comment names, when it is gitgrant's for
/// `repository` and the role's name is the one that grant's role gets.
pub fn grant_of<'a>(name: &str, comment: &'a str, repository: &str) -> Option<&'a str> {
    let grant = comment
        .strip_prefix("gitgrant ")?
        .strip_prefix(repository)?
        .strip_prefix(' ')?;
    (role_name(repository, grant) == name).then_some(grant)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_that_carry_sql_are_refused_and_plain_ones_kept() {
        for ok in ["sales", "vendor_globex", "_x", "Reporting", "a$1"] {
            assert_eq!(check_identifier(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "sales; DROP TABLE x",
            "a\"b",
            "1abc",
            "$x",
            "sales--",
            "é",
            &"a".repeat(64),
        ] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
        assert!(check_role_name("gitgrant_0123").is_err());
    }

    #[test]
    fn a_grants_role_is_named_by_repository_and_grant_and_claimed_only_by_its_comment() {
        let r = role_name("acme/access", "sales-read/globex");
        assert!(r.starts_with(ROLE_PREFIX) && r.len() == ROLE_PREFIX.len() + 24);
        assert_eq!(check_identifier(&r), Ok(()));
        assert_ne!(r, role_name("acme/other", "sales-read/globex"));
        assert_ne!(r, role_name("acme/access", "sales-read/globex2"));
        let c = comment("acme/access", "sales-read/globex");
        assert_eq!(grant_of(&r, &c, "acme/access"), Some("sales-read/globex"));
        // Another repository's comment, or a comment moved to a role of
        // another name, is not ours.
        assert_eq!(grant_of(&r, &c, "acme/other"), None);
        assert_eq!(grant_of(&r, &comment("acme/access", "sales-read/x"), "acme/access"), None);
        assert_eq!(grant_of("gitgrant_x", &c, "acme/access"), None);
        assert_eq!(grant_of(&r, "gitgrant acme/accessx sales-read/globex", "acme/access"), None);
    }

    #[test]
    fn privileges_come_from_the_fixed_list_in_any_case() {
        assert_eq!(privilege("select"), Some("SELECT"));
        assert_eq!(privilege("ALL"), None);
        assert_eq!(privilege("SELECT; DROP"), None);
        assert!(check_url_env("GITGRANT_PG").is_ok());
        assert!(check_url_env("DATABASE_URL").is_err());
        assert!(check_url_env("GITGRANT_").is_err());
    }
}
