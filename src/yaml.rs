//! The one module that parses YAML.
//!
//! A grant file is read in two passes over the same text:
//!
//! 1. a *shape scan* over the YAML event stream (`saphyr-parser`), which rejects
//!    what gitgrant never accepts — anchors and aliases (so a billion-laughs file
//!    stops at its first `&`, in bounded memory), tags, several documents,
//!    duplicate keys, complex keys — and records where every key and value
//!    starts and ends, so that later checks can point at `file:line:col`;
//! 2. typing with serde through `serde_yaml` (the `yaml_serde` crate) into the
//!    raw file types, which rejects unknown fields and wrong types with their
//!    own location.
//!
//! The scan needs an event parser that reports positions, which `serde_yaml`
//! does not expose; a file must pass both passes to be accepted.

use std::collections::HashMap;
use std::fmt;

use saphyr_parser::{Event, Marker, Parser, ScanError};
use serde::de::DeserializeOwned;

/// A position in a text file: 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Pos {
    /// Line, counting from 1.
    pub line: u32,
    /// Column in characters, counting from 1.
    pub col: u32,
}

impl Pos {
    /// The start of a file.
    pub const START: Pos = Pos { line: 1, col: 1 };

    fn from_marker(m: &Marker) -> Pos {
        Pos {
            line: m.line().max(1) as u32,
            col: m.col() as u32 + 1,
        }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// Where a key or value stands: from `start` up to (not including) `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// First character.
    pub start: Pos,
    /// One past the last character.
    pub end: Pos,
}

impl Span {
    fn point(pos: Pos) -> Span {
        Span {
            start: pos,
            end: pos,
        }
    }
}

/// Where each key and value of a document stands, by path.
///
/// A path joins mapping keys and sequence indexes with `.`:
/// `roles.prod-readonly.permissions.statements.0.actions.1`.
#[derive(Debug, Default, Clone)]
pub struct Spans {
    values: HashMap<String, Span>,
    keys: HashMap<String, Span>,
}

impl Spans {
    /// The span of the value at `path`, if the document has one.
    pub fn value(&self, path: &str) -> Option<Span> {
        self.values.get(path).copied()
    }

    /// The span of the key that names `path`, if the document has one.
    pub fn key(&self, path: &str) -> Option<Span> {
        self.keys.get(path).copied()
    }

    /// The best place to point at for `path`: its value, else the value of the
    /// nearest enclosing path that exists, else the start of the file.
    pub fn at(&self, path: &str) -> Span {
        let mut p = path;
        loop {
            if let Some(s) = self.value(p) {
                return s;
            }
            match p.rfind('.') {
                Some(i) => p = &p[..i],
                None => return self.value("").unwrap_or(Span::point(Pos::START)),
            }
        }
    }
}

/// A typed document with the positions of its keys and values.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// The typed value.
    pub value: T,
    /// Where each key and value stands.
    pub spans: Spans,
}

/// What is wrong with a YAML document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// Not well-formed YAML.
    Syntax,
    /// No content at all (or only comments).
    Empty,
    /// The top level is not a mapping.
    NotAMapping,
    /// More than one document (`---`) in one file.
    MultipleDocuments,
    /// An anchor (`&a`) or alias (`*a`).
    Anchor,
    /// A tag such as `!!python/object` or `!custom`.
    Tag,
    /// The same key twice in one mapping.
    DuplicateKey,
    /// A mapping or sequence used as a key.
    ComplexKey,
    /// A key that the file format does not have.
    UnknownField,
    /// A key that the file format requires.
    MissingField,
    /// A value of the wrong type.
    InvalidType,
}

/// A YAML document that gitgrant does not accept, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// What kind of problem.
    pub kind: YamlErrorKind,
    /// Where it was found.
    pub span: Span,
    /// What was found, in words.
    pub message: String,
}

impl fmt::Display for YamlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.span.start, self.message)
    }
}

impl std::error::Error for YamlError {}

/// Parses one YAML document into `T`, rejecting anchors, aliases, tags,
/// duplicate keys and multi-document files, and recording spans.
///
/// A leading UTF-8 byte-order mark is accepted and dropped first, once for
/// both passes: the two parsers treat it differently, and editors that
/// write it do not show it, so positions count from the character after it.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<Located<T>, YamlError> {
    let text = without_bom(text);
    let spans = scan(text)?;
    match serde_yaml::from_str::<T>(text) {
        Ok(value) => Ok(Located { value, spans }),
        Err(e) => Err(from_serde(&e, &spans)),
    }
}

/// `text` without a leading byte-order mark, as positions are counted.
pub fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Writes a value as YAML (for files gitgrant writes itself).
pub fn to_string<T: serde::Serialize>(value: &T) -> String {
    serde_yaml::to_string(value).expect("gitgrant's own types serialise to YAML")
}

/// serde_yaml's error as gitgrant reports it. Within a nested mapping
/// serde_yaml says where as a path (`roles.ro: unknown field `x``) and points
/// at the mapping; an unknown key is then pointed at itself.
fn from_serde(e: &serde_yaml::Error, spans: &Spans) -> YamlError {
    let full = e.to_string();
    let pos = e
        .location()
        .map(|l| Pos {
            line: l.line() as u32,
            col: l.column() as u32,
        })
        .unwrap_or(Pos::START);
    // serde_yaml appends " at line L column C"; the position is reported apart.
    let message = match full.find(" at line ") {
        Some(i) => full[..i].to_string(),
        None => full,
    };
    let (path, what) = match message.split_once(": ") {
        Some((path, what)) if !path.contains(' ') => (Some(path), what),
        _ => (None, message.as_str()),
    };
    let key = what
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .and_then(|(field, _)| spans.key(&child(path.unwrap_or(""), field)));
    let pos = key.map_or(pos, |span| span.start);
    let kind = if what.starts_with("unknown field") {
        YamlErrorKind::UnknownField
    } else if what.starts_with("missing field") {
        YamlErrorKind::MissingField
    } else if what.starts_with("duplicate field") {
        YamlErrorKind::DuplicateKey
    } else {
        YamlErrorKind::InvalidType
    };
    YamlError {
        kind,
        span: Span::point(pos),
        message,
    }
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        seen: HashMap<String, Pos>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

fn child(path: &str, segment: &str) -> String {
    if path.is_empty() {
        segment.to_string()
    } else {
        format!("{path}.{segment}")
    }
}

fn err(kind: YamlErrorKind, span: Span, message: impl Into<String>) -> YamlError {
    YamlError {
        kind,
        span,
        message: message.into(),
    }
}

fn syntax(e: &ScanError) -> YamlError {
    err(
        YamlErrorKind::Syntax,
        Span::point(Pos::from_marker(e.marker())),
        format!("invalid YAML: {}", e.info()),
    )
}

/// The shape scan: see the module documentation.
fn scan(text: &str) -> Result<Spans, YamlError> {
    let mut spans = Spans::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut documents = 0usize;
    let mut top_seen = false;

    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| syntax(&e))?;
        let here = Span {
            start: Pos::from_marker(&span.start),
            end: Pos::from_marker(&span.end),
        };
        let (anchor, tag) = match &event {
            Event::Scalar(_, _, anchor, tag) => (*anchor, tag.is_some()),
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                (*anchor, tag.is_some())
            }
            _ => (0, false),
        };
        if anchor != 0 {
            return Err(err(
                YamlErrorKind::Anchor,
                here,
                "YAML anchors (&name) are not allowed",
            ));
        }
        if tag {
            return Err(err(
                YamlErrorKind::Tag,
                here,
                "YAML tags (!name, !!type) are not allowed",
            ));
        }
        match event {
            Event::Alias(_) => {
                return Err(err(
                    YamlErrorKind::Anchor,
                    here,
                    "YAML aliases (*name) are not allowed",
                ));
            }
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(err(
                        YamlErrorKind::MultipleDocuments,
                        here,
                        "more than one YAML document in one file",
                    ));
                }
            }
            Event::Scalar(value, style, _, _) => {
                // A key of the enclosing mapping?
                if let Some(Frame::Map { path, key, seen }) = stack.last_mut()
                    && key.is_none()
                {
                    let name = value.into_owned();
                    if let Some(first) = seen.get(&name) {
                        return Err(err(
                            YamlErrorKind::DuplicateKey,
                            here,
                            format!("duplicate key `{name}` (first at line {})", first.line),
                        ));
                    }
                    seen.insert(name.clone(), here.start);
                    spans.keys.insert(child(path, &name), here);
                    *key = Some(name);
                    continue;
                }
                let Some(path) = value_path(&mut stack) else {
                    let is_null = style == saphyr_parser::ScalarStyle::Plain
                        && matches!(&*value, "" | "~" | "null" | "Null" | "NULL");
                    return Err(if is_null {
                        err(YamlErrorKind::Empty, here, "the file is empty")
                    } else {
                        err(
                            YamlErrorKind::NotAMapping,
                            here,
                            "the file must be a mapping of `key: value` lines",
                        )
                    });
                };
                spans.values.insert(path, here);
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if let Some(Frame::Map { key: None, .. }) = stack.last() {
                    return Err(err(
                        YamlErrorKind::ComplexKey,
                        here,
                        "a mapping or list cannot be used as a key",
                    ));
                }
                let path = match value_path(&mut stack) {
                    Some(p) => p,
                    None => {
                        if !is_map {
                            return Err(err(
                                YamlErrorKind::NotAMapping,
                                here,
                                "the file must be a mapping of `key: value` lines, not a list",
                            ));
                        }
                        top_seen = true;
                        String::new()
                    }
                };
                spans.values.insert(path.clone(), here);
                stack.push(if is_map {
                    Frame::Map {
                        path,
                        key: None,
                        seen: HashMap::new(),
                    }
                } else {
                    Frame::Seq { path, index: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let frame = stack.pop();
                let path = match &frame {
                    Some(Frame::Map { path, .. } | Frame::Seq { path, .. }) => path.clone(),
                    None => String::new(),
                };
                if let Some(s) = spans.values.get_mut(&path) {
                    s.end = here.end;
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    if !top_seen {
        return Err(err(
            YamlErrorKind::Empty,
            Span::point(Pos::START),
            "the file is empty",
        ));
    }
    Ok(spans)
}

/// The path of the value that the next node fills, advancing the enclosing
/// frame; `None` at the top level.
fn value_path(stack: &mut [Frame]) -> Option<String> {
    match stack.last_mut()? {
        Frame::Map { path, key, .. } => {
            let k = key.take().unwrap_or_default();
            Some(child(path, &k))
        }
        Frame::Seq { path, index } => {
            let p = child(path, &index.to_string());
            *index += 1;
            Some(p)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        a: String,
        #[serde(default)]
        list: Vec<String>,
    }

    fn kind(text: &str) -> YamlErrorKind {
        parse::<Doc>(text).unwrap_err().kind
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read by serde only
    struct Nested {
        people: std::collections::BTreeMap<String, Person>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // read by serde only
    struct Person {
        email: Option<String>,
        #[serde(flatten)]
        aws: Aws,
    }

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)] // read by serde only
    struct Aws {
        aws_iam_user: Option<String>,
    }

    #[test]
    fn an_unknown_key_in_a_nested_or_composed_mapping_is_an_unknown_field_at_the_key() {
        let e = parse::<Nested>("people:\n  alice:\n    email: a@b.c\n    aws_iam_usr: alice\n")
            .unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::UnknownField, "{e}");
        assert_eq!(e.span.start, Pos { line: 4, col: 5 }, "{e}");
        assert!(e.message.contains("`aws_iam_usr`"), "{e}");
        let e = parse::<Nested>("people:\n  alice:\n    aws_iam_user: [1]\n").unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::InvalidType, "{e}");
    }

    #[test]
    fn records_spans_of_keys_values_and_list_items() {
        let doc = parse::<Doc>("a: hello\nlist:\n  - x\n  - yy\n").unwrap();
        assert_eq!(doc.value.a, "hello");
        assert_eq!(doc.value.list, ["x", "yy"]);
        let a = doc.spans.value("a").unwrap();
        assert_eq!(
            (a.start, a.end),
            (Pos { line: 1, col: 4 }, Pos { line: 1, col: 9 })
        );
        assert_eq!(
            doc.spans.key("list").unwrap().start,
            Pos { line: 2, col: 1 }
        );
        assert_eq!(
            doc.spans.value("list.1").unwrap().start,
            Pos { line: 4, col: 5 }
        );
        // A missing path falls back to its parent.
        assert_eq!(doc.spans.at("list.1.deeper").start, Pos { line: 4, col: 5 });
    }

    #[test]
    fn rejects_what_gitgrant_never_accepts() {
        assert_eq!(kind(""), YamlErrorKind::Empty);
        assert_eq!(kind("# only a comment\n"), YamlErrorKind::Empty);
        assert_eq!(kind("---\n"), YamlErrorKind::Empty);
        assert_eq!(kind("just a string"), YamlErrorKind::NotAMapping);
        assert_eq!(kind("- a: x\n"), YamlErrorKind::NotAMapping);
        assert_eq!(kind("a: x\na: y\n"), YamlErrorKind::DuplicateKey);
        assert_eq!(kind("a: &x hi\nlist: [*x]\n"), YamlErrorKind::Anchor);
        assert_eq!(kind("a: !!python/object x\n"), YamlErrorKind::Tag);
        assert_eq!(kind("a: x\n---\na: y\n"), YamlErrorKind::MultipleDocuments);
        assert_eq!(kind("? [a]\n: x\n"), YamlErrorKind::ComplexKey);
        assert_eq!(kind("a: x\nb: y\n"), YamlErrorKind::UnknownField);
        assert_eq!(kind("list: []\n"), YamlErrorKind::MissingField);
        assert_eq!(kind("a: [1]\n"), YamlErrorKind::InvalidType);
        assert_eq!(kind("a: \"x\n"), YamlErrorKind::Syntax);
    }

    #[test]
    fn a_byte_order_mark_is_read_past_by_both_passes_with_editor_columns() {
        let doc = parse::<Doc>("\u{feff}a: hello\n").unwrap();
        assert_eq!(doc.value.a, "hello");
        assert_eq!(doc.spans.key("a").unwrap().start, Pos { line: 1, col: 1 });
        assert_eq!(doc.spans.value("a").unwrap().start, Pos { line: 1, col: 4 });
        let e = parse::<Doc>("\u{feff}list: []\n").unwrap_err();
        assert_eq!(e.kind, YamlErrorKind::MissingField);
        assert!(e.message.contains("`a`"), "{}", e.message);
    }

    #[test]
    fn unknown_field_points_at_the_key() {
        let e = parse::<Doc>("a: x\nbogus: y\n").unwrap_err();
        assert_eq!(e.span.start.line, 2);
        assert!(e.message.contains("bogus"), "{}", e.message);
        assert!(!e.message.contains(" at line "), "{}", e.message);
    }
}
