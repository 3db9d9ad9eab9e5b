//! The shape of `src/`, checked from the source itself: no import cycle
//! between its files, and no AWS provider kind named outside
//! `src/providers/`.
//!
//! A file imports another when it names an item of it by path (`use
//! crate::a::b`, `crate::a::b::f()`, `super::x`, and in the binary
//! `gitgrant::…`). A module using its own submodules is composition, not an
//! import: only edges to files outside a module's own folder count. Test
//! code (`#[cfg(test)]` modules and `tests.rs` files) is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A source file and the module path it defines within its crate.
struct File {
    path: PathBuf,
    /// `lib` or `bin`.
    krate: &'static str,
    module: Vec<String>,
}

fn files() -> Vec<File> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs")
                || path.file_name().is_some_and(|n| n == "tests.rs")
            {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let mut module: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            let krate = if module.first().is_some_and(|m| m == "main" || m == "cmd") {
                "bin"
            } else {
                "lib"
            };
            if module == ["main"] || module == ["lib"] {
                module.clear();
            }
            out.push(File {
                path,
                krate,
                module,
            });
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Collects the absolute module paths (crate, segments) a file names.
struct Paths<'a> {
    krate: &'static str,
    /// The module the visitor is in: the file's, plus inline modules.
    here: Vec<String>,
    /// Whether the file is a `mod.rs`/root (so `super` leaves its folder).
    found: &'a mut Vec<(&'static str, Vec<String>)>,
}

impl Paths<'_> {
    fn resolve(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let (krate, mut base, rest) = match first.as_str() {
            "crate" => (self.krate, Vec::new(), &segments[1..]),
            "gitgrant" if self.krate == "bin" => ("lib", Vec::new(), &segments[1..]),
            "self" => (self.krate, self.here.clone(), &segments[1..]),
            "super" => {
                let mut base = self.here.clone();
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                (self.krate, base, rest)
            }
            _ => return,
        };
        base.extend(rest.iter().filter(|s| *s != "self").cloned());
        self.found.push((krate, base));
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                let p = prefix.clone();
                self.resolve(&p);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                let p = prefix.clone();
                self.resolve(&p);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => {
                let p = prefix.clone();
                self.resolve(&p);
            }
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t);
                }
            }
        }
    }
}

fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().contains("test"))
    })
}

impl<'ast> Visit<'ast> for Paths<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        if !is_test(&u.attrs) {
            self.use_tree(&mut Vec::new(), &u.tree);
        }
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        self.resolve(&segments);
        syn::visit::visit_path(self, p);
    }

    // `pub(super)` names who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test(&m.attrs) {
            return;
        }
        if m.content.is_some() {
            self.here.push(m.ident.to_string());
            syn::visit::visit_item_mod(self, m);
            self.here.pop();
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test(&f.attrs) {
            syn::visit::visit_item_fn(self, f);
        }
    }
}

/// The import graph of `src/`: for each file (relative path), the files it
/// imports outside its own folder.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let files = files();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let name = |f: &File| f.path.strip_prefix(&src).unwrap().display().to_string();
    let by_module: BTreeMap<(&str, &[String]), &File> = files
        .iter()
        .map(|f| ((f.krate, f.module.as_slice()), f))
        .collect();
    let mut out = BTreeMap::new();
    for f in &files {
        let text = std::fs::read_to_string(&f.path).unwrap();
        let ast = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", f.path.display()));
        let mut found = Vec::new();
        Paths {
            krate: f.krate,
            here: f.module.clone(),
            found: &mut found,
        }
        .visit_file(&ast);
        let is_folder =
            f.path.ends_with("mod.rs") || f.path.ends_with("lib.rs") || f.path.ends_with("main.rs");
        let mut edges = BTreeSet::new();
        for (krate, path) in found {
            // The longest prefix of the path that is a file.
            let Some(target) = (0..=path.len())
                .rev()
                .find_map(|n| by_module.get(&(krate, &path[..n])))
            else {
                continue;
            };
            let inside = target.krate == f.krate
                && target.module.starts_with(&f.module)
                && (is_folder || target.module == f.module);
            if !inside {
                edges.insert(name(target));
            }
        }
        out.insert(name(f), edges);
    }
    out
}

/// The strongly connected components of more than one file (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    fn connect<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for w in graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                connect(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            connect(&mut s, v);
        }
    }
    s.out
}

#[test]
fn no_file_of_src_imports_one_that_imports_it_back() {
    let graph = graph();
    let cycles = cycles(&graph);
    let show: Vec<String> = cycles
        .iter()
        .map(|c| {
            let edges: Vec<String> = c
                .iter()
                .flat_map(|a| {
                    graph[a]
                        .iter()
                        .filter(|b| c.contains(b))
                        .map(move |b| format!("{a} -> {b}"))
                })
                .collect();
            edges.join(", ")
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles in src/ (break each by moving what both need down into a file neither imports):\n{}",
        show.join("\n")
    );
}

/// Lines that are neither blank nor only a comment.
fn lines_of_code(text: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("//"))
        .count()
}

/// The functions and methods a file calls, by their last path segment
/// and, for paths, every segment joined with `::`.
struct Calls(Vec<String>);

impl<'ast> Visit<'ast> for Calls {
    fn visit_expr_call(&mut self, c: &'ast syn::ExprCall) {
        if let syn::Expr::Path(p) = &*c.func {
            let path: Vec<String> = p
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            self.0.push(path.join("::"));
        }
        syn::visit::visit_expr_call(self, c);
    }

    fn visit_expr_method_call(&mut self, c: &'ast syn::ExprMethodCall) {
        self.0.push(c.method.to_string());
        syn::visit::visit_expr_method_call(self, c);
    }
}

#[test]
fn the_run_commands_only_parse_call_the_library_and_render() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cmd");
    // What a run does after it planned belongs to gitgrant::run.
    let forbidden_modules = ["notes", "trail", "notify", "removal", "push", "cas"];
    let forbidden_methods = [
        "write_notes",
        "push_notes",
        "fetch_notes",
        "push_removals",
        "commit_removals",
        "advance_branch",
        "api_removals",
        "api_notes",
        "review_issues",
        "removals_due",
        "ended_files",
    ];
    for file in ["reconcile.rs", "expire.rs"] {
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        let loc = lines_of_code(&text);
        assert!(
            loc <= 250,
            "src/cmd/{file} has {loc} lines of code (at most 250)"
        );
        let mut calls = Calls(Vec::new());
        calls.visit_file(&syn::parse_file(&text).unwrap());
        let bad: Vec<&String> = calls
            .0
            .iter()
            .filter(|c| {
                let mut segments = c.split("::");
                let last = c.rsplit("::").next().unwrap_or_default();
                forbidden_methods.contains(&last)
                    || segments.any(|s| forbidden_modules.contains(&s))
            })
            .collect();
        assert!(
            bad.is_empty(),
            "src/cmd/{file} calls what gitgrant::run does: {bad:?}"
        );
    }
}

#[test]
/// A provider kind is named only in its folder and the registry, both in
/// `src/providers/`: everything else speaks to kinds through it.
fn provider_kinds_are_named_only_in_src_providers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let kind = regex::Regex::new(
        r"AwsIam|AwsIdentityCenter|GcpIam|AzurePim|aws_iam::|aws_identity_center::|gcp_iam::|azure_pim::",
    )
    .unwrap();
    let mut found = BTreeMap::new();
    for f in files() {
        let rel = f.path.strip_prefix(&src).unwrap().display().to_string();
        if rel.starts_with("providers/") {
            continue;
        }
        let text = std::fs::read_to_string(&f.path).unwrap();
        let n = text.lines().filter(|l| kind.is_match(l)).count();
        if n > 0 {
            found.insert(rel, n);
        }
    }
    assert!(
        found.is_empty(),
        "files outside src/providers/ name a provider kind (file: lines): {found:?}; speak to kinds through src/providers/"
    );
}
