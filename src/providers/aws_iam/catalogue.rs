//! Every IAM action AWS has, with its access level.
//!
//! The data is AWS's Service Authorization Reference, as bundled by the PyPI
//! package parliament; `scripts/gen-iam-catalogue` trims it into
//! `actions.txt` beside this file, which is compiled in and parsed once. So
//! validation needs no network, and a misspelt action, a service that does not
//! exist or a wildcard that matches nothing is caught before it reaches AWS
//! (which would accept it silently and grant nothing — or, in a `Deny`, deny
//! nothing).
//!
//! Matching follows IAM: action names are case-insensitive, and `*` (any run
//! of characters) and `?` (one character) may stand anywhere in the name.
//! An action AWS added after the bundled version is unknown here until the
//! file is regenerated.

use std::cmp::Ordering;
use std::fmt;
use std::sync::LazyLock;

static DATA: &str = include_str!("actions.txt");

static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| Catalogue::parse(DATA));

/// The catalogue compiled into gitgrant.
pub fn catalogue() -> &'static Catalogue {
    &CATALOGUE
}

/// What an action can do, as AWS classifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AccessLevel {
    /// Lists resources.
    List,
    /// Reads resources.
    Read,
    /// Creates, changes or deletes resources.
    Write,
    /// Changes tags, which conditions in policies may depend on.
    Tagging,
    /// Changes who may do what: policies, attachments, trust.
    PermissionsManagement,
}

impl AccessLevel {
    /// AWS's name for the level, such as `Permissions management`.
    pub fn name(self) -> &'static str {
        match self {
            AccessLevel::List => "List",
            AccessLevel::Read => "Read",
            AccessLevel::Write => "Write",
            AccessLevel::Tagging => "Tagging",
            AccessLevel::PermissionsManagement => "Permissions management",
        }
    }

    /// Whether the level changes something: Write, Tagging or Permissions
    /// management.
    pub fn changes(self) -> bool {
        !matches!(self, AccessLevel::List | AccessLevel::Read)
    }

    fn from_letter(letter: &str) -> Option<Self> {
        Some(match letter {
            "L" => AccessLevel::List,
            "R" => AccessLevel::Read,
            "W" => AccessLevel::Write,
            "T" => AccessLevel::Tagging,
            "P" => AccessLevel::PermissionsManagement,
            _ => return None,
        })
    }
}

impl fmt::Display for AccessLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One IAM action, such as `iam:CreatePolicyVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Action {
    service: &'static str,
    name: &'static str,
    level: AccessLevel,
}

impl Action {
    /// The service prefix, such as `iam`.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// The action's name within its service, as AWS spells it, such as
    /// `CreatePolicyVersion`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its access level.
    pub fn level(&self) -> AccessLevel {
        self.level
    }
}

/// `service:Name`.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.service, self.name)
    }
}

struct Service {
    prefix: &'static str,
    /// Sorted case-insensitively by name.
    actions: Vec<Action>,
}

/// Why a written action names nothing in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unknown {
    /// No service has this prefix.
    Service {
        /// The prefix as written.
        prefix: String,
        /// A close known prefix, or that prefix's action of the same name.
        did_you_mean: Option<String>,
    },
    /// The service has no action of this name.
    Action {
        /// The action as written.
        action: String,
        /// A close action of the same service.
        did_you_mean: Option<String>,
    },
    /// A pattern with wildcards that covers no action.
    NoMatch {
        /// The pattern as written.
        pattern: String,
    },
    /// Not `*` or `service:Action`.
    Malformed {
        /// The text as written.
        text: String,
    },
}

impl fmt::Display for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = |f: &mut fmt::Formatter<'_>, d: &Option<String>| match d {
            Some(d) => write!(f, " (did you mean `{d}`?)"),
            None => Ok(()),
        };
        match self {
            Unknown::Service {
                prefix,
                did_you_mean,
            } => {
                write!(f, "AWS has no service with the prefix `{prefix}`")?;
                hint(f, did_you_mean)
            }
            Unknown::Action {
                action,
                did_you_mean,
            } => {
                write!(f, "`{action}` is not an IAM action")?;
                hint(f, did_you_mean)
            }
            Unknown::NoMatch { pattern } => write!(f, "`{pattern}` matches no IAM action"),
            Unknown::Malformed { text } => write!(f, "`{text}` is not service:Action"),
        }
    }
}

/// Every service's actions, searchable as IAM matches them.
pub struct Catalogue {
    source: &'static str,
    /// Sorted by prefix.
    services: Vec<Service>,
    actions: usize,
}

impl Catalogue {
    fn parse(data: &'static str) -> Catalogue {
        let mut source = "";
        let mut services: Vec<Service> = Vec::new();
        for line in data.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("source ") {
                source = rest;
            } else if let Some(prefix) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                services.push(Service {
                    prefix,
                    actions: Vec::new(),
                });
            } else if let (Some((letter, name)), Some(service)) =
                (line.split_once(' '), services.last_mut())
                && let Some(level) = AccessLevel::from_letter(letter)
            {
                service.actions.push(Action {
                    service: service.prefix,
                    name,
                    level,
                });
            } else {
                // The file is generated and compiled in; a unit test parses it.
                panic!("actions.txt: unreadable line {line:?}; run scripts/gen-iam-catalogue");
            }
        }
        services.sort_by(|a, b| a.prefix.cmp(b.prefix));
        for s in &mut services {
            s.actions.sort_by(|a, b| cmp_ignore_case(a.name, b.name));
        }
        let actions = services.iter().map(|s| s.actions.len()).sum();
        Catalogue {
            source,
            services,
            actions,
        }
    }

    /// Where the data comes from: the package and its version, such as
    /// `parliament 1.6.4`.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// How many actions the catalogue has, over all services.
    pub fn action_count(&self) -> usize {
        self.actions
    }

    fn service(&self, prefix: &str) -> Option<&Service> {
        self.services
            .binary_search_by(|s| cmp_ignore_case(s.prefix, prefix))
            .ok()
            .map(|i| &self.services[i])
    }

    /// The action `service:Name`, ignoring case as IAM does; `None` for
    /// anything else, including patterns.
    pub fn lookup(&self, action: &str) -> Option<&Action> {
        let (prefix, name) = action.split_once(':')?;
        let service = self.service(prefix)?;
        service
            .actions
            .binary_search_by(|a| cmp_ignore_case(a.name, name))
            .ok()
            .map(|i| &service.actions[i])
    }

    /// Every action a pattern covers, as IAM matches it: `*` alone is every
    /// action; otherwise `service:Name` where either part may hold `*` and
    /// `?`, case-insensitively. In catalogue order (by service, then name).
    pub fn expand(&self, pattern: &str) -> Vec<&Action> {
        if pattern == "*" {
            return self.services.iter().flat_map(|s| &s.actions).collect();
        }
        let Some((prefix, name)) = pattern.split_once(':') else {
            return Vec::new();
        };
        self.services
            .iter()
            .filter(|s| wildcards_meet(prefix, s.prefix))
            .flat_map(|s| &s.actions)
            .filter(|a| wildcards_meet(name, a.name))
            .collect()
    }

    /// The actions a written action or pattern covers, or why it covers none,
    /// with a suggestion where a known name is close.
    pub fn resolve(&self, written: &str) -> Result<Vec<&Action>, Unknown> {
        let found = self.expand(written);
        if !found.is_empty() {
            return Ok(found);
        }
        let Some((prefix, name)) = written.split_once(':') else {
            return Err(Unknown::Malformed {
                text: written.to_string(),
            });
        };
        let has_wildcard = |s: &str| s.contains(['*', '?']);
        let service = self.service(prefix);
        if service.is_none() && !has_wildcard(prefix) {
            return Err(Unknown::Service {
                prefix: prefix.to_string(),
                did_you_mean: self.suggest_service(prefix, name),
            });
        }
        if has_wildcard(written) {
            return Err(Unknown::NoMatch {
                pattern: written.to_string(),
            });
        }
        Err(Unknown::Action {
            action: written.to_string(),
            did_you_mean: service.and_then(|s| {
                crate::names::closest(name, s.actions.iter().map(|a| a.name)).map(|n| format!("{}:{n}", s.prefix))
            }),
        })
    }

    /// A close prefix; its action `name` instead when it has one, as the
    /// more useful correction.
    fn suggest_service(&self, prefix: &str, name: &str) -> Option<String> {
        let near = crate::names::closest(prefix, self.services.iter().map(|s| s.prefix))?;
        Some(match self.lookup(&format!("{near}:{name}")) {
            Some(action) => action.to_string(),
            None => near.to_string(),
        })
    }
}

fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// What one position of a wildcard pattern stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wildcard {
    /// This character (ASCII case ignored).
    Char(char),
    /// Exactly one character of the class: IAM's `?` is `One(Class::Any)`.
    One(Class),
    /// Any run of characters of the class, including none: IAM's `*` is
    /// `Run(Class::Any)`.
    Run(Class),
}

/// A set of characters a [`Wildcard`] may stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Every character.
    Any,
    /// `0` to `9`, as in an account id.
    Digit,
    /// Every character but `:`, as within the last segment of an ARN.
    NotColon,
}

impl Class {
    fn contains(self, c: char) -> bool {
        match self {
            Class::Any => true,
            Class::Digit => c.is_ascii_digit(),
            Class::NotColon => c != ':',
        }
    }
}

/// A pattern as IAM reads it: `*` any run of characters, `?` any one, every
/// other character itself. A policy variable such as `${aws:username}` is
/// filled in per request, so it may be anything: a run; `${*}`, `${?}` and
/// `${$}` are the escaped characters.
pub fn wildcards(pattern: &str) -> Vec<Wildcard> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if let Some(var) = rest.strip_prefix("${")
            && let Some(end) = var.find('}')
        {
            out.push(match &var[..end] {
                escaped @ ("*" | "?" | "$") => {
                    Wildcard::Char(escaped.chars().next().unwrap_or('$'))
                }
                _ => Wildcard::Run(Class::Any),
            });
            rest = &var[end + 1..];
            continue;
        }
        out.push(match c {
            '*' => Wildcard::Run(Class::Any),
            '?' => Wildcard::One(Class::Any),
            c => Wildcard::Char(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Whether some string matches both patterns, ignoring ASCII case. With a
/// plain text on one side this is ordinary matching; with wildcards on both
/// it answers "can these overlap", as for a resource pattern and the ARNs of
/// gitgrant's own policies.
pub fn meet(a: &[Wildcard], b: &[Wildcard]) -> bool {
    use Wildcard::{Char, One, Run};
    // Every class holds the digits, so two classes always share a character.
    let share = |x: Wildcard, y: Wildcard| match (x, y) {
        (Char(x), Char(y)) => x.eq_ignore_ascii_case(&y),
        (Char(c), One(k) | Run(k)) | (One(k) | Run(k), Char(c)) => k.contains(c),
        _ => true,
    };
    let (n, m) = (a.len(), b.len());
    // meet[i][j]: the suffixes a[i..] and b[j..] match a common string.
    let mut meet = vec![vec![false; m + 1]; n + 1];
    meet[n][m] = true;
    for i in (0..=n).rev() {
        for j in (0..=m).rev() {
            if i == n && j == m {
                continue;
            }
            let (x, y) = (a.get(i).copied(), b.get(j).copied());
            // A run may stand for nothing.
            let mut ok = (matches!(x, Some(Run(_))) && meet[i + 1][j])
                || (matches!(y, Some(Run(_))) && meet[i][j + 1]);
            if !ok && let (Some(x), Some(y)) = (x, y) {
                // Both take one shared character; a run stays where it is.
                // Two runs staying is the same state: covered above.
                let (i2, j2) = (
                    if matches!(x, Run(_)) { i } else { i + 1 },
                    if matches!(y, Run(_)) { j } else { j + 1 },
                );
                ok = (i2, j2) != (i, j) && share(x, y) && meet[i2][j2];
            }
            meet[i][j] = ok;
        }
    }
    meet[0][0]
}

/// [`meet`] for two patterns written as IAM writes them.
pub fn wildcards_meet(a: &str, b: &str) -> bool {
    meet(&wildcards(a), &wildcards(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(actions: &[&Action]) -> Vec<String> {
        actions.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn the_compiled_in_data_parses_and_names_its_source() {
        let c = catalogue();
        assert!(c.source().starts_with("parliament "), "{}", c.source());
        // AWS has well over 15,000 actions in some 400 services.
        assert!(c.action_count() > 15_000, "{}", c.action_count());
        assert!(c.services.len() > 350);
    }

    #[test]
    fn lookup_ignores_case_as_iam_does() {
        let c = catalogue();
        let a = c.lookup("IAM:createpolicyversion").expect("a real action");
        assert_eq!(a.to_string(), "iam:CreatePolicyVersion");
        assert_eq!(a.level(), AccessLevel::PermissionsManagement);
        assert_eq!(
            c.lookup("logs:GetLogEvents").unwrap().level(),
            AccessLevel::Read
        );
        assert!(c.lookup("logs:GetLogEvent").is_none());
        assert!(
            c.lookup("logs:Get*").is_none(),
            "lookup is for names, not patterns"
        );
    }

    #[test]
    fn access_levels_are_aws_own() {
        let level = |a: &str| catalogue().lookup(a).unwrap().level();
        assert_eq!(level("s3:ListAllMyBuckets"), AccessLevel::List);
        assert_eq!(level("iam:PassRole"), AccessLevel::Write);
        assert_eq!(level("iam:TagUser"), AccessLevel::Tagging);
        assert_eq!(
            level("iam:AttachUserPolicy"),
            AccessLevel::PermissionsManagement
        );
        assert!(!AccessLevel::Read.changes() && AccessLevel::Tagging.changes());
    }

    #[test]
    fn wildcards_match_anywhere_in_the_name_ignoring_case() {
        let c = catalogue();
        let found = names(&c.expand("iam:*policy*"));
        for expected in [
            "iam:AttachUserPolicy",
            "iam:CreatePolicyVersion",
            "iam:PutRolePolicy",
            "iam:GetPolicy",
        ] {
            assert!(
                found.contains(&expected.to_string()),
                "{expected} in {found:?}"
            );
        }
        assert!(found.iter().all(|a| a.to_lowercase().contains("policy")));
        assert_eq!(
            names(&c.expand("iam:Attach?olePolicy")),
            ["iam:AttachRolePolicy"]
        );
        assert_eq!(
            names(&c.expand("iam:Put*Policy")),
            [
                "iam:PutGroupPolicy",
                "iam:PutRolePolicy",
                "iam:PutUserPolicy"
            ]
        );
        assert_eq!(c.expand("*").len(), c.action_count());
        assert!(c.expand("iam:*").iter().all(|a| a.service() == "iam"));
    }

    #[test]
    fn resolve_explains_what_names_nothing() {
        let c = catalogue();
        assert_eq!(
            c.resolve("logs:GetLogEvent").unwrap_err(),
            Unknown::Action {
                action: "logs:GetLogEvent".into(),
                did_you_mean: Some("logs:GetLogEvents".into())
            }
        );
        assert_eq!(
            c.resolve("logz:GetLogEvents").unwrap_err(),
            Unknown::Service {
                prefix: "logz".into(),
                did_you_mean: Some("logs:GetLogEvents".into())
            }
        );
        assert_eq!(
            c.resolve("logs:Frobnicate*").unwrap_err(),
            Unknown::NoMatch {
                pattern: "logs:Frobnicate*".into()
            }
        );
        let far = c.resolve("qqqqqqqq:Thing").unwrap_err();
        assert!(
            matches!(
                far,
                Unknown::Service {
                    did_you_mean: None,
                    ..
                }
            ),
            "{far:?}"
        );
        assert_eq!(c.resolve("s3:getobject").unwrap().len(), 1);
        assert_eq!(
            c.resolve("logs:GetLogEvent").unwrap_err().to_string(),
            "`logs:GetLogEvent` is not an IAM action (did you mean `logs:GetLogEvents`?)"
        );
    }

    #[test]
    fn patterns_meet_where_some_string_matches_both() {
        assert!(wildcards_meet(
            "arn:aws:iam::*:policy/*",
            "arn:aws:iam::*:policy/gitgrant/*"
        ));
        assert!(wildcards_meet("*", "arn:aws:iam::1:policy/gitgrant/x"));
        assert!(!wildcards_meet(
            "arn:aws:s3:::*",
            "arn:aws:iam::*:policy/gitgrant/*"
        ));
        assert!(wildcards_meet("a?c", "A*") && !wildcards_meet("a?c", "abcd"));
        assert!(wildcards_meet("", "*") && !wildcards_meet("", "?"));
        assert!(wildcards_meet("iam:*policy*", "iam:AttachUserPolicy"));
    }

    #[test]
    fn classes_keep_a_star_from_running_across_segments() {
        // As strings, `*` in the account could swallow `:policy/team/...`;
        // an account is twelve digits and a policy's name has no colon.
        let mut target = wildcards("arn:aws:iam::");
        target.extend([Wildcard::One(Class::Digit); 12]);
        target.extend(wildcards(":policy/gitgrant/"));
        target.push(Wildcard::Run(Class::NotColon));
        let reaches = |r: &str| meet(&wildcards(r), &target);
        assert!(wildcards_meet(
            "arn:aws:iam::*:policy/team/*",
            "arn:aws:iam::*:policy/gitgrant/*"
        ));
        assert!(!reaches("arn:aws:iam::*:policy/team/*"));
        assert!(!reaches("arn:aws:iam::111111111111:policy/team/*"));
        assert!(!reaches("arn:aws:iam::1111:policy/gitgrant/x"));
        assert!(reaches("arn:aws:iam::111111111111:policy/git*"));
        assert!(reaches("arn:*:*:*:*:*") && reaches("arn:aws:iam::*") && reaches("*"));
    }

    #[test]
    fn a_policy_variable_may_stand_for_anything() {
        assert_eq!(wildcards("${aws:username}"), [Wildcard::Run(Class::Any)]);
        assert_eq!(
            wildcards("a${*}"),
            [Wildcard::Char('a'), Wildcard::Char('*')]
        );
        assert!(wildcards_meet("user/${aws:username}", "user/alice"));
        assert!(!wildcards_meet("user/${*}", "user/alice"));
    }
}
