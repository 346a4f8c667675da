//! The library's modules import only downwards: experiments → what experiments of one kind
//! share (`rec`, `personal`) → what every experiment shares (`common`, `report`, `config`,
//! `error`), with each experiment's `settings` a leaf that `config` imports. The test reads
//! every `crate::…` and `super::…` path in `src/` (use trees expanded), resolves it to the file
//! that defines it, and checks the layers and that the file graph has no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path (`["rec", "table"]`) per source file, relative to `src/`.
fn module_files(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut files = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(src).unwrap().to_path_buf();
            if path.is_dir() {
                if relative != Path::new("bin") {
                    stack.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let mut module: Vec<String> = relative
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            files.insert(module, relative);
        }
    }
    files
}

/// Drops comments (doc comments name modules in prose) and string contents.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut in_string = false;
        let mut previous = ' ';
        for c in line.chars() {
            if c == '"' && previous != '\\' {
                in_string = !in_string;
            } else if !in_string {
                out.push(c);
            }
            previous = c;
        }
        out.push('\n');
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every path of a use tree such as `crate::rec::{table::{Job, row}, Evaluation}`.
fn expand_use_tree(prefix: &[String], tree: &str, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let mut prefix = prefix.to_vec();
        prefix.extend(head);
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_use_tree(&prefix, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand_use_tree(&prefix, &inner[start..], out);
    } else {
        let mut path = prefix.to_vec();
        let tree = tree.split(" as ").next().unwrap_or("");
        path.extend(
            tree.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "self" && *s != "*")
                .map(String::from),
        );
        if !path.is_empty() {
            out.push(path);
        }
    }
}

/// The `crate::` and `super::` paths a file names, in `use` items and in code.
fn paths_in(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        rest = after;
        if before.is_some_and(is_ident) {
            continue;
        }
        let end = after.find(';').unwrap_or(after.len());
        let tree = &after[..end];
        if tree.trim_start().starts_with("crate::") || tree.trim_start().starts_with("super::") {
            expand_use_tree(&[], tree, &mut paths);
        }
    }
    for root in ["crate::", "super::"] {
        let mut start = 0;
        while let Some(i) = code[start..].find(root) {
            let at = start + i;
            start = at + root.len();
            if code[..at]
                .chars()
                .last()
                .is_some_and(|c| is_ident(c) || c == ':')
            {
                continue;
            }
            let tail: String = code[at..]
                .chars()
                .take_while(|&c| is_ident(c) || c == ':')
                .collect();
            let path: Vec<String> = tail
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            paths.push(path);
        }
    }
    paths
}

/// The file a path from module `from` names: the longest prefix that is a module.
fn resolve(
    from: &[String],
    path: &[String],
    files: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<PathBuf> {
    let mut absolute: Vec<String> = Vec::new();
    let mut segments = path.iter().peekable();
    match segments.peek().map(|s| s.as_str()) {
        Some("crate") => {
            segments.next();
        }
        Some("super") => {
            absolute = from.to_vec();
            while segments.peek().map(|s| s.as_str()) == Some("super") {
                segments.next();
                absolute.pop();
            }
        }
        _ => return None,
    }
    absolute.extend(segments.cloned());
    (1..=absolute.len())
        .rev()
        .find_map(|n| files.get(&absolute[..n]).cloned())
}

/// The layer of a file: an import may only point to the same or a lower layer.
fn layer(file: &Path) -> usize {
    let name = file.to_string_lossy().replace('\\', "/");
    let top = name.split('/').next().unwrap_or("");
    if matches!(name.as_str(), "error.rs" | "checks.rs") || name.ends_with("/settings.rs") {
        0
    } else if name == "config.rs" {
        1
    } else if matches!(top, "common" | "report") {
        2
    } else if matches!(top, "rec" | "personal" | "synthetic.rs") {
        3
    } else if matches!(top, "sdpo" | "rosepo" | "prlhf" | "lore" | "rpo") {
        4
    } else {
        5
    }
}

fn import_graph() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = module_files(&src);
    let mut graph = BTreeMap::new();
    for (module, file) in &files {
        let code = code_of(&std::fs::read_to_string(src.join(file)).unwrap());
        let targets: BTreeSet<PathBuf> = paths_in(&code)
            .iter()
            .filter_map(|p| resolve(module, p, &files))
            .filter(|target| target != file)
            .collect();
        graph.insert(file.clone(), targets);
    }
    graph
}

#[test]
fn the_parser_sees_nested_use_trees_and_inline_paths() {
    let code = code_of(
        "use crate::rec::{table::{Job, row}, Evaluation};\n// crate::runner in a comment\n\
         let x = super::super::common::mean(&v);\nlet s = \"crate::lore\";\n",
    );
    let paths = paths_in(&code);
    let has = |p: &[&str]| {
        paths
            .iter()
            .any(|q| q.iter().map(String::as_str).eq(p.iter().copied()))
    };
    assert!(has(&["crate", "rec", "table", "Job"]), "{paths:?}");
    assert!(has(&["crate", "rec", "Evaluation"]), "{paths:?}");
    assert!(!has(&["super", "common", "mean"]), "{paths:?}");
    assert!(has(&["super", "super", "common", "mean"]), "{paths:?}");
    assert!(!paths.iter().any(|p| p.contains(&"runner".to_string())));
    assert!(!paths.iter().any(|p| p.contains(&"lore".to_string())));
}

#[test]
fn imports_point_to_the_same_or_a_lower_layer() {
    let graph = import_graph();
    assert!(graph.len() > 30, "only {} files read", graph.len());
    let upward: Vec<String> = graph
        .iter()
        .flat_map(|(from, targets)| {
            targets
                .iter()
                .filter(|to| layer(to) > layer(from))
                .map(move |to| format!("{} → {}", from.display(), to.display()))
        })
        .collect();
    assert!(upward.is_empty(), "imports that point upwards: {upward:#?}");
}

#[test]
fn the_module_graph_has_no_cycle() {
    let graph = import_graph();
    // Depth-first search with colours: reaching a file still on the stack closes a cycle.
    fn visit(
        file: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        state: &mut BTreeMap<PathBuf, bool>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        match state.get(file) {
            Some(true) => return None,
            Some(false) => {
                let at = stack.iter().position(|f| f == file).unwrap_or(0);
                let mut cycle = stack[at..].to_vec();
                cycle.push(file.clone());
                return Some(cycle);
            }
            None => {}
        }
        state.insert(file.clone(), false);
        stack.push(file.clone());
        for next in graph.get(file).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(file.clone(), true);
        None
    }
    let mut state = BTreeMap::new();
    for file in graph.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(file, &graph, &mut state, &mut stack) {
            let names: Vec<String> = cycle.iter().map(|f| f.display().to_string()).collect();
            panic!("import cycle: {}", names.join(" → "));
        }
    }
}
