//! The crate docs' module map, checked against the code: every module of
//! `lib.rs` has one row, each row's "uses" column is exactly the crate
//! modules its code imports (`crate::x`, tests and comments aside), and
//! the import cycles are exactly those the docs name. A test-only module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules `lib.rs` declares, but this one.
fn declared(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub mod ")
                .or_else(|| l.strip_prefix("mod "))?;
            l.strip_suffix(';').map(str::to_string)
        })
        .filter(|m| m != "crate_map")
        .collect()
}

/// The names in backticks of a table cell.
fn names(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.trim_start_matches('[').trim_end_matches(']').to_string())
        .collect()
}

/// The map's rows: module -> what it uses (`None`: "everything below").
fn map(lib: &str) -> BTreeMap<String, Option<BTreeSet<String>>> {
    let mut out = BTreeMap::new();
    for line in lib.lines().filter_map(|l| l.strip_prefix("//! | ")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        if cells.len() < 3 || cells[0].starts_with("module") || cells[0].starts_with("---") {
            continue;
        }
        let uses = cells[2].trim_end_matches(" |").trim_end_matches('|').trim();
        let uses = if uses.starts_with("everything") {
            None
        } else {
            Some(
                uses.split(',')
                    .map(|u| {
                        u.split_whitespace()
                            .next()
                            .unwrap_or("")
                            .trim_matches('`')
                            .to_string()
                    })
                    .filter(|u| !u.is_empty())
                    .collect(),
            )
        };
        for m in names(cells[0]) {
            assert!(
                out.insert(m.clone(), uses.clone()).is_none(),
                "`{m}` has two rows"
            );
        }
    }
    out
}

/// A module's source files: `m.rs` and everything under `m/`.
fn files(m: &str) -> Vec<PathBuf> {
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
    let mut out = Vec::new();
    let file = src().join(format!("{m}.rs"));
    if file.exists() {
        out.push(file);
    }
    walk(&src().join(m), &mut out);
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

/// The cycles the crate docs name: lines `//! - cycle: `a`, `b`, ...`.
fn documented_cycles(lib: &str) -> BTreeSet<Vec<String>> {
    lib.lines()
        .filter_map(|l| l.strip_prefix("//! - cycle: "))
        .map(|l| {
            let mut part = names(l);
            part.sort();
            part
        })
        .collect()
}

#[test]
fn the_crate_map_is_the_code() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let modules = declared(&lib);
    let map = map(&lib);
    let rows: BTreeSet<String> = map.keys().cloned().collect();
    assert_eq!(
        rows, modules,
        "the crate map's rows and lib.rs's modules differ"
    );

    let graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| {
            let mut uses = BTreeSet::new();
            for f in files(m) {
                let source = std::fs::read_to_string(&f).unwrap();
                uses.extend(imports(&source, &modules));
            }
            uses.remove(m);
            (m.clone(), uses)
        })
        .collect();
    let mut wrong = Vec::new();
    for (m, uses) in &graph {
        if let Some(Some(said)) = map.get(m)
            && said != uses
        {
            let missing: Vec<_> = uses.difference(said).collect();
            let extra: Vec<_> = said.difference(uses).collect();
            wrong.push(format!(
                "`{m}` imports {uses:?}: the map lacks {missing:?} and names {extra:?} it does not use"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "update the crate map in lib.rs:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        cycles(&graph),
        documented_cycles(&lib),
        "the import cycles differ from those lib.rs names (`//! - cycle: ...`)"
    );
}

#[test]
fn the_checker_sees_grouped_imports_and_cycles() {
    let modules: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    let seen = imports(
        "use crate::{a::X, b};\n// crate::c in a comment\nfn f() { crate::a::g(); }\n#[cfg(test)]\nmod tests { use crate::c; }",
        &modules,
    );
    assert_eq!(seen, ["a", "b"].map(String::from).into());
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
