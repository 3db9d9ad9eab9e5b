//! The book in `docs/`, README.md and ARCHITECTURE.md: every relative link and
//! `#anchor` resolves, every page is in `docs/SUMMARY.md`, and each recipe's
//! role in its page is the one in its example repository, which validates
//! with the real binary.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

use crate::support::run_ok;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// README.md, ARCHITECTURE.md and every Markdown page under docs/.
fn pages(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut out = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    walk(&root.join("docs"), &mut out);
    out.sort();
    out
}

/// What a page holds for the link check: its links (with their line) and
/// the anchors of its headings, by GitHub's slug rules.
struct Page {
    links: Vec<(usize, String)>,
    anchors: BTreeSet<String>,
}

/// GitHub's heading anchor: lower case, punctuation dropped but `-` and `_`,
/// spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn parse(text: &str) -> Page {
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut links = Vec::new();
    let mut anchors = BTreeSet::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut heading: Option<String> = None;
    for (event, range) in Parser::new_ext(text, Options::all()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::End(TagEnd::Heading(_)) => {
                let base = slug(&heading.take().unwrap_or_default());
                let n = seen.entry(base.clone()).or_insert(0);
                anchors.insert(if *n == 0 {
                    base.clone()
                } else {
                    format!("{base}-{n}")
                });
                *n += 1;
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some(h) = heading.as_mut() {
                    h.push_str(&t);
                }
            }
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                links.push((line_of(range.start), dest_url.to_string()));
            }
            _ => {}
        }
    }
    Page { links, anchors }
}

/// Every broken relative link or anchor under `root`, as `file:line: link`.
fn broken_links(root: &Path) -> Vec<String> {
    let parsed: BTreeMap<PathBuf, Page> = pages(root)
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, parse(&text))
        })
        .collect();
    let mut broken = Vec::new();
    for (path, page) in &parsed {
        for (line, link) in &page.links {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = link.split_once('#').unwrap_or((link, ""));
            let target = if file.is_empty() {
                path.clone()
            } else {
                path.parent().unwrap().join(file)
            };
            let ok = if !target.exists() {
                false
            } else if anchor.is_empty() {
                true
            } else {
                let canonical = target.canonicalize().unwrap();
                match parsed
                    .iter()
                    .find(|(p, _)| p.canonicalize().unwrap() == canonical)
                {
                    Some((_, target_page)) => target_page.anchors.contains(anchor),
                    None => false,
                }
            };
            if !ok {
                let rel = path.strip_prefix(root).unwrap().display();
                broken.push(format!("{rel}:{line}: {link}"));
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_and_anchor_in_the_docs_resolves() {
    let broken = broken_links(&root());
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn a_broken_link_or_anchor_is_caught_but_one_in_a_code_block_is_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("docs")).unwrap();
    std::fs::write(
        dir.path().join("ARCHITECTURE.md"),
        "# Arch\n\n## Same `name`\n\n## Same name\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("README.md"),
        "# Top\n\n[ok](ARCHITECTURE.md#same-name-1) [ok](#top) [missing](docs/nope.md)\n\
         [bad anchor](ARCHITECTURE.md#same-name-2)\n\n```md\n[in code](nowhere.md)\n```\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("docs/SUMMARY.md"), "# Summary\n").unwrap();
    assert_eq!(
        broken_links(dir.path()),
        vec![
            "README.md:3: docs/nope.md".to_string(),
            "README.md:4: ARCHITECTURE.md#same-name-2".to_string()
        ]
    );
}

#[test]
fn every_page_of_the_book_is_in_its_summary() {
    let root = root();
    let summary = parse(&std::fs::read_to_string(root.join("docs/SUMMARY.md")).unwrap());
    let listed: BTreeSet<PathBuf> = summary
        .links
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(_, l)| root.join("docs").join(l).canonicalize().unwrap())
        .collect();
    let missing: Vec<_> = pages(&root)
        .into_iter()
        .filter(|p| p.starts_with(root.join("docs")) && !p.ends_with("docs/SUMMARY.md"))
        .filter(|p| !listed.contains(&p.canonicalize().unwrap()))
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "pages not in docs/SUMMARY.md: {missing:?}"
    );
}

/// The YAML code blocks of a page.
fn yaml_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for event in Parser::new(text) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) if &*lang == "yaml" => {
                current = Some(String::new())
            }
            Event::Text(t) => {
                if let Some(c) = current.as_mut() {
                    c.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => blocks.extend(current.take()),
            _ => {}
        }
    }
    blocks
}

#[test]
fn each_recipe_role_is_its_example_and_validates() {
    let root = root();
    for recipe in [
        "ssm-session",
        "eks-access-entry",
        "rds-iam-auth",
        "gce-os-login-sudo",
        "gke-cluster",
    ] {
        let page = std::fs::read_to_string(root.join(format!("docs/recipes/{recipe}.md"))).unwrap();
        let repo = root.join("examples/recipes").join(recipe);
        let policy = std::fs::read_to_string(repo.join("gitgrant.yaml")).unwrap();
        let blocks = yaml_blocks(&page);
        assert!(!blocks.is_empty(), "{recipe}: the page shows no role");
        for block in &blocks {
            assert!(
                policy.contains(block.as_str()),
                "{recipe}: the page's block is not in examples/recipes/{recipe}/gitgrant.yaml \
                 (the page and the file drifted apart):\n{block}"
            );
        }
        // Exits 0, or fails naming the rule and the line.
        run_ok(&["validate", "--now", "2026-11-23T10:00:00Z"], &repo);
    }
}

#[test]
fn headings_slug_as_github_does() {
    assert_eq!(slug("`gitgrant.yaml`"), "gitgrantyaml");
    assert_eq!(
        slug("Attempts, and what stops them"),
        "attempts-and-what-stops-them"
    );
    assert_eq!(
        slug("Issue 22 (hardening, second round): the cloud"),
        "issue-22-hardening-second-round-the-cloud"
    );
}
