//! An audit printed for people and machines: a terminal table, JSON, CSV and
//! Markdown (for a GitHub step summary or an auditor's report).

use std::fmt::{self, Write as _};
use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::{Audit, Finding, FindingRule, Lifecycle, State, Window};
use crate::grant::fmt_time;
use crate::report::visible;

/// The width of the terminal the table is laid out for.
pub const TABLE_WIDTH: usize = 100;

/// An output format of the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Aligned columns for a terminal 100 columns wide.
    #[default]
    Table,
    /// The [`Audit`] as JSON (see `schema/audit.schema.json`).
    Json,
    /// One row per lifecycle, with a header.
    Csv,
    /// A table of lifecycles and a list of findings.
    Markdown,
    /// One self-contained HTML page: a timeline, a cursor, filters and the
    /// tables.
    Html,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: &'static [Format] = &[
        Format::Table,
        Format::Json,
        Format::Csv,
        Format::Markdown,
        Format::Html,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Markdown => "markdown",
            Format::Html => "html",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown format `{s}`; use table, json, csv, markdown or html"))
    }
}

/// Renders an audit in a format.
pub fn render(audit: &Audit, format: Format) -> String {
    match format {
        Format::Table => table(audit),
        Format::Json => json(audit),
        Format::Csv => csv(audit),
        Format::Markdown => markdown(audit),
        Format::Html => super::html::html(audit, None),
    }
}

/// The audit as pretty-printed JSON, ending in a newline.
pub fn json(audit: &Audit) -> String {
    let mut out = Vec::new();
    json_to(&mut out, audit).expect("the audit serialises to JSON in memory");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// [`json`], written to `out` as it is made (a long history's JSON is
/// never held whole in memory).
pub fn json_to(out: &mut dyn std::io::Write, audit: &Audit) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, audit)?;
    out.write_all(b"\n")
}

// ---------------------------------------------------------------------------
// CSV

/// The CSV columns, in order.
pub const CSV_HEADER: &[&str] = &[
    "id",
    "subject",
    "role",
    "provider",
    "reason",
    "ticket",
    "pr",
    "requested_commit",
    "landed_commit",
    "landed_at",
    "window_start",
    "window_end",
    "edits",
    "end_state",
    "end_reason",
    "end_commit",
    "ended_at",
    "findings",
    "approvers",
    "access",
    "revocation",
    "lag_seconds",
    "unfenced",
];

/// One row per lifecycle, with a header; the last columns say how access
/// ended (`revocation`: `cloud` or `run`, `lag_seconds` empty when unknown,
/// `unfenced` role ARNs joined with `;`). A CSV has no room for the audit's
/// summary line (`revocation: …`): sum the rows, or use another format.
/// Text taken from grant files that a
/// spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`) is
/// prefixed with `'`.
pub fn csv(audit: &Audit) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)
        .expect("writing to memory cannot fail");
    for l in &audit.lifecycles {
        w.write_record(csv_row(l))
            .expect("writing to memory cannot fail");
    }
    let bytes = w.into_inner().expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("the fields are UTF-8")
}

/// Every cell is [visible]: text from history (paths, reasons, trailers)
/// cannot drive a terminal the file is shown in, and a row stays one line.
pub(super) fn csv_row(l: &Lifecycle) -> Vec<String> {
    csv_cells(l)
        .into_iter()
        .map(|cell| visible(&cell).into_owned())
        .collect()
}

fn csv_cells(l: &Lifecycle) -> Vec<String> {
    let opt = |s: &Option<String>| s.as_deref().map(spreadsheet_safe).unwrap_or_default();
    let time = |t: Option<DateTime<Utc>>| t.map(fmt_time).unwrap_or_default();
    let end = l.end.as_ref();
    let rev = l.revocation.as_ref();
    vec![
        spreadsheet_safe(&l.id),
        opt(&l.subject),
        l.role.clone().unwrap_or_default(),
        l.provider.clone().unwrap_or_default(),
        opt(&l.reason),
        opt(&l.ticket),
        l.requested.pr.map(|n| n.to_string()).unwrap_or_default(),
        l.requested.commit.clone(),
        l.landed.commit.clone(),
        fmt_time(l.landed.time),
        time(l.window.map(|w| w.start)),
        time(l.window.map(|w| w.end)),
        l.edits.len().to_string(),
        l.state.to_string(),
        end.map(|e| e.reason.clone()).unwrap_or_default(),
        end.map(|e| e.commit.clone()).unwrap_or_default(),
        time(end.map(|e| e.time)),
        l.findings
            .iter()
            .map(|r| r.id())
            .collect::<Vec<_>>()
            .join(";"),
        // Approvers may come from a note anyone who can push wrote.
        spreadsheet_safe(&match &l.approval {
            Some(crate::approval::Found::Judged(e)) if !e.met() => e
                .approved_by_rule()
                .map(|r| format!("rule {r}"))
                .unwrap_or_default(),
            Some(crate::approval::Found::Judged(e)) => e.approvers.join(";"),
            Some(_) => String::new(),
            None => l.approved_by.clone().unwrap_or_default().replace(", ", ";"),
        }),
        opt(&l.access),
        rev.map(|r| r.ended_by.to_string()).unwrap_or_default(),
        rev.and_then(|r| r.lag_seconds)
            .map(|s| s.to_string())
            .unwrap_or_default(),
        rev.map(|r| r.unfenced.join(";")).unwrap_or_default(),
    ]
}

/// Defuses a cell a spreadsheet would read as a formula.
fn spreadsheet_safe(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

// ---------------------------------------------------------------------------
// Table

/// A line per lifecycle (grant id, subject, landed, window end, state) in at
/// most [`TABLE_WIDTH`] columns, the revocation summary line, then the
/// findings, one per line.
pub fn table(audit: &Audit) -> String {
    let mut out = String::new();
    if audit.lifecycles.is_empty() {
        out.push_str("No grants in the history.\n");
    } else {
        lifecycle_table(&mut out, &audit.lifecycles);
    }
    out.push('\n');
    let _ = writeln!(out, "{}\n", audit.revocation.line());
    if audit.findings.is_empty() {
        out.push_str("No findings.\n");
    } else {
        finding_lines(&mut out, &audit.findings);
    }
    out
}

fn lifecycle_table(out: &mut String, lifecycles: &[Lifecycle]) {
    const HEADER: [&str; 5] = [
        "GRANT",
        "SUBJECT",
        "LANDED (UTC)",
        "WINDOW END (UTC)",
        "STATE",
    ];
    let rows: Vec<[String; 5]> = lifecycles
        .iter()
        .map(|l| {
            [
                visible(&l.id).into_owned(),
                l.subject
                    .as_deref()
                    .map_or_else(|| "?".to_string(), |s| visible(s).into_owned()),
                short_time(l.landed.time),
                l.window
                    .map_or_else(|| "?".to_string(), |w| short_time(w.end)),
                visible(state_word(l)).into_owned(),
            ]
        })
        .collect();
    let natural = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([HEADER[i].len()])
            .max()
            .unwrap_or(0)
    };
    let mut widths = [
        0,
        natural(1).min(20),
        natural(2),
        natural(3),
        natural(4).min(16),
    ];
    let rest: usize = widths[1..].iter().sum::<usize>() + 2 * (widths.len() - 1);
    widths[0] = natural(0).min(TABLE_WIDTH.saturating_sub(rest)).max(8);
    let line = |cells: [&str; 5]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| pad(&truncate(c, w), w))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    out.push_str(&line(HEADER));
    for r in &rows {
        out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
    }
}

/// The state column: how an ended grant ended; else where it stands.
fn state_word(l: &Lifecycle) -> &str {
    match (&l.end, l.state) {
        (Some(end), _) => &end.reason,
        (None, State::Expired) => "awaiting removal",
        (None, s) => s.name(),
    }
}

fn finding_lines(out: &mut String, findings: &[Finding]) {
    let rule_width = findings
        .iter()
        .map(|f| f.rule.id().len())
        .max()
        .unwrap_or(0);
    out.push_str("FINDINGS\n");
    for f in findings {
        // A long grant id must leave room for the message.
        // Messages quote commit subjects and file contents.
        let message = visible(&f.message);
        let subject = match &f.grant {
            Some(g) => format!("{}: {message}", truncate(&visible(g), 40)),
            None => message.into_owned(),
        };
        let text = format!(
            "{}  {}  {subject}",
            short_time(f.time),
            pad(f.rule.id(), rule_width)
        );
        let _ = writeln!(out, "{}", truncate(&text, TABLE_WIDTH));
    }
}

/// `2026-11-22 10:00`: minutes are enough to read a table by.
fn short_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// At most `width` characters, ending in `…` when cut.
fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut cut: String = s.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

// ---------------------------------------------------------------------------
// Markdown

/// A table of lifecycles and a list of findings. Text from grant files is
/// escaped, so that a reason cannot inject links, images or HTML into a
/// step summary.
pub fn markdown(audit: &Audit) -> String {
    let mut out = String::from("## gitgrant audit\n\n");
    let _ = writeln!(
        out,
        "{} grant lifecycle(s), {} finding(s); history up to {}, as of {}.\n",
        audit.lifecycles.len(),
        audit.findings.len(),
        audit
            .tip
            .as_deref()
            .map_or_else(|| "(empty)".to_string(), |t| format!("`{}`", short(t))),
        fmt_time(audit.now)
    );
    if !audit.lifecycles.is_empty() {
        out.push_str(
            "| Grant | Subject | Reason | PR | Landed | Window (UTC) | State | Ended | Findings |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for l in &audit.lifecycles {
            markdown_row(&mut out, l);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "{}\n", md_text(&audit.revocation.line()));
    out.push_str("### Findings\n\n");
    if audit.findings.is_empty() {
        out.push_str("No findings.\n");
    }
    for f in &audit.findings {
        let about = f
            .grant
            .as_deref()
            .map(|g| format!("{} ", md_id(g)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- **{}** {about}at `{}`, {}: {}",
            f.rule,
            short(&f.commit),
            short_time(f.time),
            md_text(&f.message)
        );
    }
    // Each kind of finding explained once, so that a reader of a step
    // summary knows what it does and does not prove.
    let mut rules: Vec<FindingRule> = audit.findings.iter().map(|f| f.rule).collect();
    rules.sort();
    rules.dedup();
    if !rules.is_empty() {
        out.push_str("\n#### What the findings mean\n\n");
    }
    for rule in rules {
        let _ = writeln!(out, "- **{rule}**: {}", md_text(rule.help()));
    }
    out
}

fn markdown_row(out: &mut String, l: &Lifecycle) {
    let ended = l.end.as_ref().map_or_else(String::new, |e| {
        format!("{} `{}`", short_time(e.time), short(&e.commit))
    });
    let state = match &l.end {
        Some(e) => md_text(&e.reason),
        None => state_word(l).to_string(),
    };
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {} `{}` | {} | {} | {} | {} |",
        md_id(&l.id),
        l.subject
            .as_deref()
            .map_or_else(|| "?".to_string(), md_text),
        l.reason.as_deref().map_or_else(String::new, md_text),
        pr_text(l),
        short_time(l.landed.time),
        short(&l.landed.commit),
        l.window.map_or_else(|| "?".to_string(), window_text),
        state,
        ended,
        l.findings
            .iter()
            .map(|r| r.id())
            .collect::<Vec<_>>()
            .join(", "),
    );
}

/// The PR column: its number, and with `--github` who approved it. The
/// approvers are [`md_text`]: a recorded approver comes from a note, which
/// anyone who can push may have written.
fn pr_text(l: &Lifecycle) -> String {
    use crate::approval::Found;
    let pr = l
        .requested
        .pr
        .map_or_else(|| "none".to_string(), |n| format!("#{n}"));
    match &l.approval {
        Some(Found::Judged(e)) if !e.met() && e.approved_by_rule().is_some() => format!(
            "#{}, approved by rule {}",
            e.pr,
            md_text(e.approved_by_rule().unwrap_or_default())
        ),
        Some(Found::Judged(e)) if e.approvers.is_empty() => format!("#{}, not approved", e.pr),
        Some(Found::Judged(e)) => format!(
            "#{}, approved by {}",
            e.pr,
            md_text(&e.approvers.join(", "))
        ),
        Some(Found::BreakGlass { .. }) => format!("{pr}, break-glass"),
        Some(Found::NoPullRequest { .. }) => pr,
        None => match &l.approved_by {
            Some(by) => format!("{pr}, approved by {}", md_text(by)),
            None => pr,
        },
    }
}

fn window_text(w: Window) -> String {
    format!("{} → {}", short_time(w.start), short_time(w.end))
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}

/// A grant id as code when it is made of safe characters, else as text.
fn md_id(id: &str) -> String {
    let safe = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if safe { format!("`{id}`") } else { md_text(id) }
}

/// Text with every character Markdown (or GitHub's HTML) would act on
/// escaped, on one line, and other [hidden](crate::report::is_hidden)
/// characters written as escapes.
fn md_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            c if crate::report::is_hidden(c) => {
                let _ = write!(out, "\\\\u{{{:x}}}", c as u32);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '|' | '~' | '#' | '!' | '&' | '$' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}
