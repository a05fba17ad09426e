//! The library's import structure (issue 15): modules sit in layers, each importing only from
//! its own layer or the ones below, and no two files or modules import each other in a loop.
//! This reads every `crate::` path of src/ (use lines, re-exports and inline paths, brace
//! groups expanded, `super::` resolved; test modules left out) and fails on an upward arrow, a
//! cycle, or a module missing from the table below. docs/ARCHITECTURE.md draws the same table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The declared layers, lowest first. A new top-level module must be placed here.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "ground",
        &[
            "error", "defaults", "rng", "stats", "text", "output", "progress", "csvcell", "cancel",
            "matching", "readback",
        ],
    ),
    ("data", &["table", "ingest", "generate"]),
    (
        "domain",
        &[
            "clean",
            "scale",
            "cluster",
            "score",
            "profile",
            "naming",
            "model",
            "labels",
            "lifecycle",
            "segmentation",
        ],
    ),
    ("outputs", &["report", "dashboard", "export"]),
    (
        "commands",
        &[
            "run",
            "pipeline",
            "predict",
            "inspect",
            "rebuild",
            "serve",
            "writeback",
        ],
    ),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Module path of a file: src/cluster/lloyd.rs -> ["cluster", "lloyd"]; mod.rs -> its folder.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The file that defines module path `parts` (the deepest module that exists).
fn file_of(parts: &[String]) -> Option<PathBuf> {
    let mut dir = src();
    let mut found = None;
    for p in parts {
        let as_file = dir.join(format!("{p}.rs"));
        let as_dir = dir.join(p).join("mod.rs");
        if as_file.is_file() {
            found = Some(as_file);
        } else if as_dir.is_file() {
            found = Some(as_dir);
        } else {
            break;
        }
        dir = dir.join(p);
    }
    found
}

/// The code of a file without comments, string literals and its `#[cfg(test)]` modules.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut in_tests = false;
    let mut depth = 0i64;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim_start();
        if !in_tests
            && t.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|n| n.trim_start().starts_with("mod ") && n.contains('{'))
        {
            in_tests = true;
            depth = 0;
            continue;
        }
        let code = strip(line);
        if in_tests {
            depth += code.matches('{').count() as i64 - code.matches('}').count() as i64;
            if depth <= 0 && code.contains('}') {
                in_tests = false;
            }
            continue;
        }
        out.push_str(&code);
        out.push('\n');
    }
    out
}

/// One line without its `//` comment and with string contents blanked.
fn strip(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        if in_str {
            if c == '\\' {
                chars.next();
            } else if c == '"' {
                in_str = false;
                out.push('"');
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            out.push('"');
        } else if c == '/' && chars.peek() == Some(&'/') {
            break;
        } else {
            out.push(c);
        }
    }
    out
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = format!("{prefix}{}", &tree[..open]);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&head, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&head, &inner[start..], out);
    } else if !tree.is_empty() {
        out.push(format!("{prefix}{tree}"));
    }
}

/// Every path a file names: `use` trees expanded, plus inline `crate::a::b` paths.
fn paths_of(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let flat: String = code.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut rest = flat.as_str();
    while let Some(at) = rest.find("use ") {
        let before_ok = at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric();
        let stmt_end = rest[at..].find(';').map(|e| at + e).unwrap_or(rest.len());
        if before_ok {
            expand("", &rest[at + 4..stmt_end].replace(' ', ""), &mut out);
        }
        rest = &rest[(at + 4).min(stmt_end)..];
    }
    let bytes = flat.as_bytes();
    for (at, _) in flat.match_indices("crate::") {
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let end = flat[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map(|e| at + e)
            .unwrap_or(flat.len());
        out.push(flat[at..end].to_string());
    }
    out
}

/// Resolves a path named in the file of module `me` to the file it points into.
fn target(me: &[String], path: &str) -> Option<PathBuf> {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first() {
        Some(&"crate") => Vec::new(),
        Some(&"super") => {
            // In a/b.rs `super` is a; in a/mod.rs (module a) it is a's parent: both drop
            // the last part of the module path.
            let mut b = me.to_vec();
            b.pop();
            b
        }
        _ => return None,
    };
    let mut rest = &segs[1..];
    while rest.first() == Some(&"super") {
        base.pop();
        rest = &rest[1..];
    }
    let parts: Vec<String> = base
        .into_iter()
        .chain(rest.iter().map(|s| s.to_string()))
        .collect();
    if parts.is_empty() {
        return None;
    }
    file_of(&parts)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// File -> files it imports (within the library; lib.rs and main.rs are not modules).
fn file_graph() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut g = BTreeMap::new();
    for f in files {
        let me = module_of(&f);
        if me.is_empty() || me[0] == "lib" || me[0] == "main" || me[0] == "cli" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&f).unwrap());
        let mut to = BTreeSet::new();
        for p in paths_of(&code) {
            if let Some(t) = target(&me, &p) {
                if t != f {
                    to.insert(t);
                }
            }
        }
        g.insert(f, to);
    }
    g
}

fn top(f: &Path) -> String {
    module_of(f)[0].clone()
}

fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

fn short(f: &Path) -> String {
    f.strip_prefix(src()).unwrap().display().to_string()
}

/// One cycle of `g`, if any (depth-first search with colours).
fn find_cycle<T: Ord + Clone>(g: &BTreeMap<T, BTreeSet<T>>) -> Option<Vec<T>> {
    fn visit<T: Ord + Clone>(
        n: &T,
        g: &BTreeMap<T, BTreeSet<T>>,
        state: &mut BTreeMap<T, u8>,
        stack: &mut Vec<T>,
    ) -> Option<Vec<T>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|x| x == m).unwrap();
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if state.get(n).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, g, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn every_module_has_a_layer() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let missing: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';'))
        .filter(|m| layer(m).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "modules without a layer in tests/architecture.rs (and docs/ARCHITECTURE.md): {missing:?}"
    );
}

#[test]
fn no_module_imports_a_higher_layer() {
    let mut upward = Vec::new();
    for (f, to) in file_graph() {
        let a = top(&f);
        for t in to {
            let m = top(&t);
            if let (Some(la), Some(lb)) = (layer(&a), layer(&m)) {
                if lb > la {
                    upward.push(format!(
                        "{} ({}) -> {} ({})",
                        short(&f),
                        LAYERS[la].0,
                        short(&t),
                        LAYERS[lb].0
                    ));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up the layers:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_import_cycle_between_files_or_modules() {
    let g = file_graph();
    if let Some(c) = find_cycle(&g) {
        let names: Vec<String> = c.iter().map(|f| short(f)).collect();
        panic!("files import each other in a loop: {}", names.join(" -> "));
    }
    let mut modules: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (f, to) in &g {
        let entry = modules.entry(top(f)).or_default();
        for t in to {
            if top(t) != top(f) {
                entry.insert(top(t));
            }
        }
    }
    if let Some(c) = find_cycle(&modules) {
        panic!("modules import each other in a loop: {}", c.join(" -> "));
    }
}

/// The checker itself sees arrows: on today's tree it must find the pipeline's imports of the
/// domain, so a parser that finds nothing cannot pass the tests above by accident.
#[test]
fn the_checker_reads_imports() {
    let g = file_graph();
    let arrows: usize = g.values().map(BTreeSet::len).sum();
    assert!(arrows > 100, "only {arrows} import arrows read from src/");
    let mut out = Vec::new();
    expand("", "crate::a::{b,c::{d,e}}", &mut out);
    assert_eq!(out, ["crate::a::b", "crate::a::c::d", "crate::a::c::e"]);
    let code = code_of("use crate::x::Y; // crate::z\nfn f() { crate::w::f(\"crate::q\") }\n#[cfg(test)]\nmod tests {\n    use crate::t;\n}\n");
    let found: BTreeSet<String> = paths_of(&code).into_iter().collect();
    assert_eq!(
        found,
        BTreeSet::from(["crate::x::Y".into(), "crate::w::f".into()])
    );
}
