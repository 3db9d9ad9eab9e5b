//! Three public CODEOWNERS test corpora (tests/fixtures/codeowners/README.md
//! names them), every case run through gitgrant's matcher. gitgrant counts an
//! approval only from an owner as GitHub evaluates CODEOWNERS, so each
//! disagreement here is someone who could approve access and should not, or
//! the other way round.

use std::collections::BTreeSet;
use std::fs;

use gitgrant::codeowners::Codeowners;
use serde::Deserialize;

use crate::support::fixtures;

/// One corpus file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Corpus {
    /// Where the cases come from (README.md pins the commit).
    source: String,
    groups: Vec<Group>,
}

/// One CODEOWNERS text and the paths asked of it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    name: String,
    codeowners: String,
    cases: Vec<Case>,
}

/// A path and its owners as GitHub decides them. Where the corpus says
/// otherwise, `corpus` keeps what it said and `why` says why GitHub differs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    path: String,
    owners: Vec<String>,
    corpus: Option<Vec<String>>,
    why: Option<String>,
}

fn corpora() -> Vec<(String, Corpus)> {
    let dir = fixtures().join("codeowners");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .expect("tests/fixtures/codeowners exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy().into();
            let text = fs::read_to_string(&p).expect("a readable fixture");
            let corpus = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not a corpus file: {e}", p.display()));
            (name, corpus)
        })
        .collect()
}

/// Owners compared as GitHub compares them: a set (order and repeats do not
/// change who may approve), logins and teams case-insensitive.
fn owner_set<'a>(owners: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    owners.into_iter().map(|o| o.to_lowercase()).collect()
}

#[test]
fn every_corpus_case_gets_the_owners_github_gives() {
    let (mut cases, mut agree, mut as_written, mut differences) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for (file, corpus) in corpora() {
        assert!(
            corpus.groups.iter().any(|g| !g.cases.is_empty()),
            "{file} ({}) has no cases",
            corpus.source
        );
        for group in &corpus.groups {
            let codeowners = Codeowners::parse(&group.codeowners);
            for case in &group.cases {
                cases += 1;
                let got = owner_set(codeowners.owners(&case.path));
                if got == owner_set(&case.owners) {
                    agree += 1;
                } else {
                    wrong.push(format!(
                        "{file} {:?}: {:?} got {got:?}, GitHub gives {:?}\n    CODEOWNERS: {:?}",
                        group.name, case.path, case.owners, group.codeowners
                    ));
                }
                if case.corpus.is_some() {
                    differences += 1;
                }
                if got == owner_set(case.corpus.as_ref().unwrap_or(&case.owners)) {
                    as_written += 1;
                }
            }
        }
    }
    // `cargo test --test all codeowners_corpus -- --nocapture` prints this line.
    eprintln!(
        "codeowners corpora: GitHub's owners in {agree} of {cases} cases; \
         the corpora as written in {as_written} of {cases} \
         ({differences} cases documented as GitHub differences)"
    );
    assert!(
        wrong.is_empty(),
        "{} of {cases} corpus cases disagree with GitHub:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// A case kept with GitHub's answer instead of its corpus's must say why, and
/// must really differ: otherwise a case could be quietly rewritten to pass.
#[test]
fn every_case_kept_as_a_github_difference_says_why() {
    let mut bad = Vec::new();
    for (file, corpus) in corpora() {
        for group in &corpus.groups {
            for case in &group.cases {
                let place = format!("{file} {:?} {:?}", group.name, case.path);
                match (&case.corpus, &case.why) {
                    (None, None) => {}
                    (Some(said), Some(why)) if !why.trim().is_empty() => {
                        if owner_set(said) == owner_set(&case.owners) {
                            bad.push(format!("{place}: `corpus` equals `owners`"));
                        }
                    }
                    _ => bad.push(format!("{place}: `corpus` and `why` go together")),
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
