//! A check on the TUI's own shape: no module of `src/tui/` imports, directly or through
//! others, a module that imports it back. Every `use` (braces expanded) and every
//! `crate::…`/`super::…` path in the code of a file is an edge to the deepest module it names;
//! the unit tests at the end of a file (`#[cfg(test)]`) are left out, since their `super` is the
//! file itself.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`tui::panes::pane`) → the source text that counts.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir)
            .expect("src/tui is readable")
            .flatten()
        {
            let p = entry.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p.strip_prefix(root).unwrap().with_extension("");
                let mut segs: Vec<String> = rel
                    .iter()
                    .map(|s| s.to_string_lossy().into_owned())
                    .collect();
                if segs.last().is_some_and(|s| s == "mod") {
                    segs.pop();
                }
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap_or_default();
                let code: String = code
                    .lines()
                    .map(|l| l.split("//").next().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\n");
                out.insert(segs.join("::"), code);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&src.join("tui"), &src, &mut out);
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let (Some(open), Some(close)) = (tree.find('{'), tree.rfind('}')) else {
        return vec![tree.to_string()];
    };
    let (prefix, inner) = (&tree[..open], &tree[open + 1..close]);
    let (mut parts, mut depth, mut cur) = (Vec::new(), 0, String::new());
    for ch in inner.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    parts.push(cur);
    parts
        .iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(p))
        .map(|p| format!("{prefix}{p}"))
        .collect()
}

/// Every path a file's code names: its `use` trees and the `crate::`/`super::` paths inline.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let at_start = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || c == ')');
        let stmt = &rest[i + 4..];
        let end = stmt.find(';').unwrap_or(stmt.len());
        if at_start {
            out.extend(expand(&stmt[..end]));
        }
        rest = &stmt[end.min(stmt.len())..];
    }
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    for start in ["crate::", "super::"] {
        for (i, _) in code.match_indices(start) {
            if code[..i].chars().last().is_some_and(ident) {
                continue;
            }
            let end = code[i..]
                .find(|c: char| !ident(c))
                .map_or(code.len(), |e| i + e);
            out.push(code[i..end].trim_end_matches(':').to_string());
        }
    }
    out
}

/// The module `path` (as written in `module`) lands in, when it is one of `mods`.
fn resolve(module: &str, path: &str, mods: &BTreeMap<String, String>) -> Option<String> {
    let segs: Vec<&str> = path
        .split("::")
        .map(|s| s.split(" as ").next().unwrap_or_default().trim())
        .collect();
    let mut full: Vec<&str> = module.split("::").collect();
    let children = |m: &str, name: &str| mods.contains_key(&format!("{m}::{name}"));
    let mut rest = &segs[..];
    match segs.first() {
        Some(&"crate") => {
            full.clear();
            rest = &segs[1..];
        }
        Some(&"super") => {
            while rest.first() == Some(&"super") {
                full.pop();
                rest = &rest[1..];
            }
        }
        Some(&"self") => rest = &segs[1..],
        Some(first) if children(module, first) => {}
        _ => return None,
    }
    full.extend(rest);
    (1..=full.len())
        .rev()
        .map(|k| full[..k].join("::"))
        .find(|m| mods.contains_key(m))
}

#[test]
fn no_module_of_the_tui_imports_itself_back() {
    let mods = modules();
    assert!(mods.contains_key("tui::app") && mods.len() > 20, "{mods:?}");
    let edges: BTreeMap<&str, BTreeSet<String>> = mods
        .iter()
        .map(|(m, code)| {
            let to = paths(code)
                .iter()
                .filter_map(|p| resolve(m, p, &mods))
                .filter(|t| t != m)
                .collect();
            (m.as_str(), to)
        })
        .collect();
    // Known edges, so a parser that finds nothing cannot pass.
    assert!(edges["tui::panes"].contains("tui::panes::pane"));
    assert!(edges["tui::panes::schedule"].contains("tui::panes::schedule::fields"));
    assert!(edges["tui::popups::run_list"].contains("tui::popups::confirm"));
    // Depth-first search; a module met again while still on the path closes a circle.
    fn visit<'a>(
        m: &'a str,
        edges: &'a BTreeMap<&str, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(i) = path.iter().position(|p| *p == m) {
            panic!("import circle: {} -> {m}", path[i..].join(" -> "));
        }
        if !done.insert(m) {
            return;
        }
        path.push(m);
        for to in &edges[m] {
            visit(to, edges, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done);
    }
}

#[test]
fn paths_are_read_from_use_trees_and_code() {
    assert_eq!(
        expand("super::a::{b, c::{d, e as f}}"),
        ["super::a::b", "super::a::c::d", "super::a::c::e as f"]
    );
    let code = "use super::x::Y;\npub use z::{W};\nfn f() { crate::tui::q::r(); my_super::s(); }";
    assert_eq!(
        paths(code),
        ["super::x::Y", "z::W", "crate::tui::q::r", "super::x::Y"]
    );
}
