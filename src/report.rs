//! Printing violations for people (with the offending line), for machines
//! (JSON) and for GitHub Actions (workflow-command annotations).

use std::borrow::Cow;
use std::fmt::Write as _;

use annotate_snippets::{AnnotationKind, Level, Origin, Renderer, Snippet};

use crate::rule::Violation;
use crate::snapshot::{Content, Snapshot};
use crate::yaml::Pos;

/// Renders violations with the source lines they point at, as a compiler
/// does. `color` turns on ANSI styling.
pub fn human(violations: &[Violation], snapshot: &Snapshot, color: bool) -> String {
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let mut out = String::new();
    for v in violations {
        // Messages quote the file and paths come from it: shown, not run.
        let (message, path) = (visible(&v.message), visible(&v.file));
        let title = Level::ERROR.primary_title(message.as_ref()).id(v.rule.id());
        let text = snapshot
            .files()
            .find(|f| f.path == v.file)
            .and_then(|f| match &f.content {
                // Positions count from after a byte-order mark.
                Content::Bytes(b) => std::str::from_utf8(b).ok().map(crate::yaml::without_bom),
                _ => None,
            })
            .filter(|t| !t.is_empty() && v.span.start.line as usize <= t.lines().count());
        let group = match text {
            Some(text) => {
                let start = byte_offset(text, v.span.start);
                let mut end = byte_offset(text, v.span.end).max(start);
                // Underline at most to the end of the first line.
                let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
                end = end.min(line_end);
                if end == start && start < line_end {
                    end = start + text[start..].chars().next().map_or(1, char::len_utf8);
                }
                title.element(
                    Snippet::source(text)
                        .path(path.as_ref())
                        .annotation(AnnotationKind::Primary.span(start..end)),
                )
            }
            None => title.element(
                Origin::path(path.as_ref())
                    .line(v.span.start.line as usize)
                    .char_column(v.span.start.col.saturating_sub(1) as usize),
            ),
        };
        let report = [group.element(Level::HELP.message(v.help.as_str()))];
        let _ = writeln!(out, "{}\n", renderer.render(&report[..]));
    }
    out
}

/// Whether `c` must not reach a person's screen as it is: a control
/// character (C0, DEL, C1: escape sequences, carriage returns, NUL, line
/// breaks) or a bidirectional-text control that makes text read in another
/// order than it is stored.
pub fn is_hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text from a file or from git history, safe to print for people on one
/// line: every [hidden](is_hidden) character is written as its escape
/// (`\u{1b}`), so that a grant's reason or a commit message can neither
/// drive the terminal nor break a table's lines.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The longest run of backticks in `s`.
fn backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// Text someone else wrote, as a Markdown code span on one line: GitHub
/// renders nothing in it (no mention, link, image or HTML), and a backtick
/// in it cannot close the span early.
pub fn md_code(s: &str) -> String {
    let line = visible(s).replace("\\u{a}", " ");
    let fence = "`".repeat(backtick_run(&line) + 1);
    let pad = if line.is_empty() || line.starts_with('`') || line.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{line}{pad}{fence}")
}

/// Text someone else wrote, over several lines, as a fenced Markdown code
/// block that nothing in it can close.
pub fn md_block(s: &str) -> String {
    let lines: Vec<String> = s
        .trim_end()
        .lines()
        .map(|l| visible(l).into_owned())
        .collect();
    let text = lines.join("\n");
    let fence = "`".repeat(backtick_run(&text).max(2) + 1);
    format!("{fence}text\n{text}\n{fence}")
}

/// The byte offset of a position in `text` (clamped to the text).
fn byte_offset(text: &str, pos: Pos) -> usize {
    let mut line_start = 0;
    for _ in 1..pos.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line = &text[line_start..];
    let col = line
        .char_indices()
        .nth(pos.col.saturating_sub(1) as usize)
        .map_or(line.len(), |(i, _)| i);
    (line_start + col).min(text.len())
}

/// One GitHub Actions `::error` workflow command per violation.
pub fn github(violations: &[Violation]) -> String {
    let mut out = String::new();
    for v in violations {
        let _ = writeln!(
            out,
            "::error file={},line={},col={},endLine={},endColumn={},title={}::{}",
            escape_property(&visible(&v.file)),
            v.span.start.line,
            v.span.start.col,
            v.span.end.line.max(v.span.start.line),
            v.span.end.col.max(v.span.start.col),
            escape_property(&format!("gitgrant {}", v.rule)),
            escape_data(&format!("{} (help: {})", visible(&v.message), v.help)),
        );
    }
    out
}

/// Escaping for a workflow command's message, as the Actions runner decodes it.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping for a workflow command's properties.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Rule;
    use crate::yaml::Span;

    fn violation(file: &str, line: u32, col: u32) -> Violation {
        Violation {
            rule: Rule::UnknownSubject,
            file: file.to_string(),
            span: Span {
                start: Pos { line, col },
                end: Pos { line, col: col + 3 },
            },
            message: "`zed` is not in people, 100%".to_string(),
            help: "add the person".to_string(),
        }
    }

    #[test]
    fn github_annotations_escape_what_the_runner_decodes() {
        let out = github(&[violation("grants/a,b/x:y.yaml", 2, 10)]);
        assert_eq!(
            out,
            "::error file=grants/a%2Cb/x%3Ay.yaml,line=2,col=10,endLine=2,endColumn=13,\
             title=gitgrant unknown-subject::`zed` is not in people, 100%25 (help: add the person)\n"
        );
    }

    #[test]
    fn human_output_shows_the_line_and_the_rule() {
        let snapshot = Snapshot {
            policy: None,
            grants: vec![crate::snapshot::SourceFile {
                path: "grants/r/x.yaml".to_string(),
                content: Content::Bytes(b"role: r\nsubject: zed\n".to_vec()),
            }],
        };
        let out = human(&[violation("grants/r/x.yaml", 2, 10)], &snapshot, false);
        assert!(out.contains("error[unknown-subject]"), "{out}");
        assert!(out.contains("grants/r/x.yaml:2:10"), "{out}");
        assert!(out.contains("subject: zed"), "{out}");
        assert!(out.contains("help: add the person"), "{out}");
    }

    #[test]
    fn hidden_characters_are_shown_as_escapes_on_one_line() {
        assert_eq!(
            visible("a\x1b[2Jb\r\nc\u{9b}\u{202e}d"),
            "a\\u{1b}[2Jb\\u{d}\\u{a}c\\u{9b}\\u{202e}d"
        );
        assert!(matches!(visible("plain, é"), Cow::Borrowed("plain, é")));
    }

    #[test]
    fn byte_offsets_count_characters_not_bytes() {
        let text = "a: é\nb: ü x\n";
        assert_eq!(
            byte_offset(text, Pos { line: 2, col: 6 }),
            text.find('x').unwrap()
        );
        assert_eq!(byte_offset(text, Pos { line: 9, col: 1 }), text.len());
    }
}

#[cfg(test)]
mod markdown_tests {
    use super::*;

    #[test]
    fn code_spans_and_blocks_cannot_be_closed_from_inside() {
        assert_eq!(md_code("INC-1"), "`INC-1`");
        assert_eq!(md_code("a `b` c"), "``a `b` c``");
        assert_eq!(md_code("`x"), "`` `x ``");
        assert_eq!(
            md_code("two\nlines @acme/security"),
            "`two lines @acme/security`"
        );
        let block = md_block("ok\n```\n@acme/security <img src=x>\n");
        assert_eq!(block, "````text\nok\n```\n@acme/security <img src=x>\n````");
    }
}
