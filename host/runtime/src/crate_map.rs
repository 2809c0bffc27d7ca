//! The crate docs' module map, checked against the code: every module has
//! one row naming its layer, each module sits in its layer's folder, each
//! row's "uses" column is exactly the crate modules its code imports
//! (`crate::x` or `crate::layer::x`, tests and comments aside), no module
//! imports from a later layer, and there is no import cycle. A test-only
//! module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, first to last; the folders of the middle three.
const LAYERS: [&str; 6] = ["base", "core", "wasm", "exec", "cluster", "node"];
const FOLDERS: [&str; 3] = ["core", "wasm", "exec"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `mod` declarations of a file.
fn mods(file: &str) -> Vec<String> {
    file.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("pub(crate) mod "))
                .or_else(|| l.strip_prefix("mod "))?;
            l.strip_suffix(';').map(str::to_string)
        })
        .collect()
}

/// The modules the crate declares, each with its folder (`""`: `src/`):
/// those of `lib.rs` but the layer folders and this one, and those each
/// layer folder's file declares.
fn declared(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in mods(lib) {
        if FOLDERS.contains(&m.as_str()) {
            let file = std::fs::read_to_string(src().join(format!("{m}.rs"))).unwrap();
            for inner in mods(&file) {
                out.insert(inner, m.clone());
            }
        } else if m != "crate_map" {
            out.insert(m, String::new());
        }
    }
    out
}

/// The names in backticks of a table cell.
fn names(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.trim_start_matches('[').trim_end_matches(']').to_string())
        .collect()
}

/// A row of the map.
#[derive(Debug)]
struct Row {
    layer: String,
    /// `None`: "everything".
    uses: Option<BTreeSet<String>>,
}

/// The map's rows, by module.
fn map(lib: &str) -> BTreeMap<String, Row> {
    let mut out = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("//! | ")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        if cells.len() < 4 || cells[0].starts_with("layer") || cells[0].starts_with("---") {
            continue;
        }
        let uses = cells[3].trim_end_matches('|').trim();
        let uses = if uses.starts_with("everything") {
            None
        } else {
            Some(
                uses.split(',')
                    .map(|u| u.trim().trim_matches('`').to_string())
                    .filter(|u| !u.is_empty())
                    .collect(),
            )
        };
        for m in names(cells[1]) {
            let row = Row {
                layer: cells[0].trim().to_string(),
                uses: uses.clone(),
            };
            assert!(out.insert(m.clone(), row).is_none(), "`{m}` has two rows");
        }
    }
    out
}

/// A module's source files: `m.rs` and everything under `m/`, in `folder`.
fn files(folder: &str, m: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let dir = src().join(folder);
    let mut out = Vec::new();
    let file = dir.join(format!("{m}.rs"));
    if file.exists() {
        out.push(file);
    }
    walk(&dir.join(m), &mut out);
    out
}

/// The crate modules a source file imports, its tests and comments aside.
fn imports(source: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = match source.find("#[cfg(test)]\nmod tests") {
        Some(i) => &source[..i],
        None => source,
    };
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or("");
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            for folder in FOLDERS {
                if let Some(r) = rest.strip_prefix(folder).and_then(|r| r.strip_prefix("::")) {
                    rest = r;
                }
            }
            let group = rest
                .strip_prefix('{')
                .map(|g| g.split('}').next().unwrap_or(""));
            let heads: Vec<&str> = match group {
                Some(g) => g.split(',').map(|p| p.trim()).collect(),
                None => vec![rest],
            };
            for head in heads {
                let name: String = head
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if modules.contains(&name) {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// The import graph's cycles (strongly connected parts of two or more
/// modules), each sorted.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<Vec<String>> {
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            for n in graph.get(&m).into_iter().flatten() {
                if seen.insert(n.clone()) {
                    todo.push(n.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    graph
        .keys()
        .map(|m| {
            let mut part: Vec<String> = reaches[m]
                .iter()
                .filter(|n| reaches[n].contains(m))
                .cloned()
                .collect();
            part.sort();
            part
        })
        .filter(|part| part.len() > 1)
        .collect()
}

#[test]
fn the_crate_map_is_the_code() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared = declared(&lib);
    let modules: BTreeSet<String> = declared.keys().cloned().collect();
    let map = map(&lib);
    let rows: BTreeSet<String> = map.keys().cloned().collect();
    assert_eq!(
        rows, modules,
        "the crate map's rows and the declared modules differ"
    );

    let rank = |layer: &str| {
        LAYERS
            .iter()
            .position(|l| *l == layer)
            .unwrap_or_else(|| panic!("`{layer}` is not a layer"))
    };
    let mut wrong = Vec::new();
    for (m, folder) in &declared {
        let layer = &map[m].layer;
        let in_folder = FOLDERS.contains(&layer.as_str());
        if in_folder && folder != layer || !in_folder && !folder.is_empty() {
            wrong.push(format!(
                "`{m}` is in the `{layer}` layer but sits in src/{folder}"
            ));
        }
    }
    let graph: BTreeMap<String, BTreeSet<String>> = declared
        .iter()
        .map(|(m, folder)| {
            let mut uses = BTreeSet::new();
            for f in files(folder, m) {
                let source = std::fs::read_to_string(&f).unwrap();
                uses.extend(imports(&source, &modules));
            }
            uses.remove(m);
            (m.clone(), uses)
        })
        .collect();
    for (m, uses) in &graph {
        let row = &map[m];
        if let Some(said) = &row.uses
            && said != uses
        {
            let missing: Vec<_> = uses.difference(said).collect();
            let extra: Vec<_> = said.difference(uses).collect();
            wrong.push(format!(
                "`{m}` imports {uses:?}: the map lacks {missing:?} and names {extra:?} it does not use"
            ));
        }
        for u in uses {
            if rank(&map[u].layer) > rank(&row.layer) {
                wrong.push(format!(
                    "`{m}` ({}) imports `{u}` of a later layer ({})",
                    row.layer, map[u].layer
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "update the crate map in lib.rs, or the code:\n{}",
        wrong.join("\n")
    );
    assert_eq!(cycles(&graph), BTreeSet::new(), "modules import each other");
}

#[test]
fn the_checker_sees_grouped_and_layered_imports_and_cycles() {
    let modules: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
    let seen = imports(
        "use crate::{a::X, b};\nuse crate::exec::d::Y;\n// crate::c in a comment\nfn f() { crate::a::g(); }\n#[cfg(test)]\nmod tests { use crate::c; }",
        &modules,
    );
    assert_eq!(seen, ["a", "b", "d"].map(String::from).into());
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["a", "c"]), ("c", vec![])]
            .into_iter()
            .map(|(m, u)| (m.to_string(), u.into_iter().map(String::from).collect()))
            .collect();
    assert_eq!(
        cycles(&graph),
        [vec!["a".to_string(), "b".to_string()]].into()
    );
}
