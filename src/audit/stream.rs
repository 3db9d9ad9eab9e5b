//! The audit written out while the history is still being folded: a
//! lifecycle leaves memory once it has ended and nothing later can sort
//! before it, so what the audit holds is bounded by the grants still open
//! (and the findings), not by every grant ever made.
//!
//! The order is the audit's own — landing time, grant id, occurrence —
//! kept exactly: a lifecycle is written once it has ended, every lifecycle
//! still open sorts after it, and no later commit is dated before its
//! landing (each commit of the walk carries the earliest time after it,
//! [`HistoryCommit::later`]). The output is byte for byte what the
//! collected audit prints.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io;

use chrono::{DateTime, Utc};
use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::fold::Fold;
use super::{FORMAT_VERSION, Filter, Finding, Lifecycle, Options, RevocationSummary};
use crate::git::notes::{Note, Trust};
use crate::history::HistoryCommit;

/// The evidence notes, by landing commit.
pub type Notes = BTreeMap<String, (Note, Trust)>;

/// The audit's lifecycles as they are folded, recorded (the evidence
/// notes) and filtered, in the audit's order; then, once they are all
/// out, its findings and summary ([`Stream::tail`]).
pub struct Stream<'o, I> {
    history: I,
    fold: Option<Fold<'o>>,
    now: DateTime<Utc>,
    notes: &'o Notes,
    filter: &'o Filter,
    ready: VecDeque<Lifecycle>,
    last: Option<HistoryCommit>,
    /// The fold's findings, once the history is folded.
    findings: Vec<Finding>,
    /// Findings of the evidence notes, in the order of the lifecycles.
    recorded: Vec<Finding>,
    kept: HashSet<(String, u32)>,
    summary: RevocationSummary,
}

impl<'o, I: Iterator<Item = HistoryCommit>> Stream<'o, I> {
    /// The audit of `history` (the walk's commits, oldest first, each with
    /// its [`HistoryCommit::later`]) as of `now`.
    pub fn new(
        history: I,
        now: DateTime<Utc>,
        options: &'o Options,
        notes: &'o Notes,
        filter: &'o Filter,
    ) -> Self {
        Stream {
            history,
            fold: Some(Fold::new(options)),
            now,
            notes,
            filter,
            ready: VecDeque::new(),
            last: None,
            findings: Vec::new(),
            recorded: Vec::new(),
            kept: HashSet::new(),
            summary: RevocationSummary::none(),
        }
    }

    /// The findings the filter keeps, in the audit's order, and the
    /// summary of the lifecycles it kept: complete once every lifecycle
    /// has been taken.
    pub fn tail(&mut self) -> (Vec<Finding>, RevocationSummary) {
        let findings = std::mem::take(&mut self.findings)
            .into_iter()
            .chain(std::mem::take(&mut self.recorded))
            .filter(|f| match (&f.grant, f.occurrence) {
                (Some(g), Some(n)) => self.kept.contains(&(g.clone(), n)),
                _ => self.filter.keeps_general(f),
            })
            .collect();
        (findings, self.summary.clone())
    }
}

impl<I: Iterator<Item = HistoryCommit>> Iterator for Stream<'_, I> {
    type Item = Lifecycle;

    fn next(&mut self) -> Option<Lifecycle> {
        loop {
            if let Some(mut l) = self.ready.pop_front() {
                super::record(&mut l, self.notes, &mut self.recorded);
                if self.filter.keeps(&l) {
                    self.kept.insert((l.id.clone(), l.occurrence));
                    self.summary.add(&l);
                    return Some(l);
                }
                continue;
            }
            let fold = self.fold.as_mut()?;
            match self.history.next() {
                Some(c) => {
                    fold.commit(&c);
                    self.ready.extend(fold.take_ready(c.later));
                    self.last = Some(c);
                }
                None => {
                    let rest = self.fold.take()?.finish(self.last.as_ref(), self.now);
                    self.ready.extend(rest.lifecycles);
                    self.findings = rest.findings;
                }
            }
        }
    }
}

/// Writes the audit of `stream` as `gitgrant audit --format json` prints
/// it, each lifecycle as soon as it is out. `tip` is the newest commit.
pub fn json_to<I: Iterator<Item = HistoryCommit>>(
    out: &mut dyn io::Write,
    tip: Option<&str>,
    now: DateTime<Utc>,
    stream: Stream<'_, I>,
) -> io::Result<()> {
    let cell = RefCell::new(stream);
    serde_json::to_writer_pretty(
        &mut *out,
        &Whole {
            tip,
            now,
            stream: &cell,
        },
    )?;
    out.write_all(b"\n")
}

/// Writes the audit of `stream` as `gitgrant audit --format csv` prints it.
pub fn csv_to<I: Iterator<Item = HistoryCommit>>(
    out: &mut dyn io::Write,
    stream: Stream<'_, I>,
) -> io::Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    w.write_record(super::render::CSV_HEADER)?;
    for l in stream {
        w.write_record(super::render::csv_row(&l))?;
    }
    w.flush()
}

/// The audit's JSON object, its lifecycles taken from the stream as the
/// serialiser reaches them, and the fields after them once it has.
struct Whole<'a, 'o, I> {
    tip: Option<&'a str>,
    now: DateTime<Utc>,
    stream: &'a RefCell<Stream<'o, I>>,
}

impl<I: Iterator<Item = HistoryCommit>> Serialize for Whole<'_, '_, I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The fields of `Audit`, in its order.
        let mut st = s.serialize_struct("Audit", 6)?;
        st.serialize_field("version", &FORMAT_VERSION)?;
        st.serialize_field("tip", &self.tip)?;
        st.serialize_field("now", &crate::grant::fmt_time(self.now))?;
        st.serialize_field("lifecycles", &Lifecycles(self.stream))?;
        let (findings, summary) = self.stream.borrow_mut().tail();
        st.serialize_field("findings", &findings)?;
        st.serialize_field("revocation", &summary)?;
        st.end()
    }
}

struct Lifecycles<'a, 'o, I>(&'a RefCell<Stream<'o, I>>);

impl<I: Iterator<Item = HistoryCommit>> Serialize for Lifecycles<'_, '_, I> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(std::iter::from_fn(|| self.0.borrow_mut().next()))
    }
}
