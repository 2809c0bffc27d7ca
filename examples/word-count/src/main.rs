//! Example: a driver with its own remote functions.
//!
//! The text is put into the object store once; one remote task per line
//! counts its words (map), and a final remote task merges the counts
//! (reduce), taking the map results as dependencies: it starts only when
//! they are all ready and receives their values, never blocking.
//!
//! Run: `raylab-host run word_count.wasm -- "some text" "more text"`

use std::collections::BTreeMap;

use raylab_guest::{put, remote, tasks};

/// Count the words of one line.
#[remote]
fn count_words(line: String) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in line.split_whitespace() {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}

/// Merge two partial counts.
#[remote]
fn merge(a: BTreeMap<String, u64>, b: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut out = a;
    for (word, n) in b {
        *out.entry(word).or_insert(0) += n;
    }
    out
}

tasks!(count_words, merge);

fn main() -> Result<(), raylab_guest::Error> {
    let mut lines: Vec<String> = std::env::args().skip(1).collect();
    if lines.is_empty() {
        lines = vec![
            "the quick brown fox".into(),
            "jumps over the lazy dog".into(),
            "The End".into(),
        ];
    }
    // Map: one task per line; each line goes through the object store.
    let mut partials: Vec<_> = lines
        .iter()
        .map(|line| put(line).map(count_words::remote))
        .collect::<Result<_, _>>()?;
    // Reduce: a tree of merges, each waiting on its two inputs.
    while partials.len() > 1 {
        let mut next = Vec::new();
        let mut it = partials.into_iter();
        while let Some(a) = it.next() {
            match it.next() {
                Some(b) => next.push(merge::remote(a, b)),
                None => next.push(a),
            }
        }
        partials = next;
    }
    let counts = partials.pop().expect("at least one line").get()?;
    for (word, n) in &counts {
        println!("{word}: {n}");
    }
    Ok(())
}
