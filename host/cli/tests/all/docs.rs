//! The guide cannot drift: every command in a ```` ```sh ```` block of
//! README.md and docs/*.md is run here, with this build's `raylab-host`
//! first on the PATH, and every relative link of those pages leads to a
//! file (and heading) that exists.
//!
//! How a page's blocks are read:
//!
//! - ```` ```sh ````: each line is a command (`#` comments stripped, lines
//!   ending in `\` joined); the block runs as one `sh` script, so a
//!   variable or a `cd` holds for the rest of its block, and each command
//!   must exit 0.
//! - ```` ```sh fails ````: each command must exit non-zero.
//! - ```` ```sh head ````: run against a head this test starts on free ports
//!   (`RAYLAB_ADDRESS` points at it), as the guide's `start --detach` would.
//! - ```` ```sh no-run ````: skipped, knowingly: commands that start a
//!   long-lived server or a second node, install packages, build with cargo
//!   for minutes, clear the shared cache, or are the top-level scripts
//!   (which CI runs itself).
//! - ```` ```python file=NAME ````: the program is written to `NAME` in the
//!   page's directory before its commands run, so `raylab-host run NAME`
//!   runs the program the page shows.
//! - Any other shell-like fence (`bash`, `console`, `shell`, ...) fails the
//!   test: a command the test cannot see is a command that can drift.
//!
//! Each page runs in a scratch directory laid out like a checkout whose
//! guests are built: `guest-tasks/target/wasm32-wasip2/release/` and
//! `examples/target/wasm32-wasip2/release/` hold links to the test guests,
//! `guest-tasks/python` links to the repository's; `$T` is set as the
//! guide's build block sets it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::head::Head;
use crate::{guests, show, test_cache};

/// Where the guide's build commands put the lab's components (`$T`).
const T: &str = "guest-tasks/target/wasm32-wasip2/release";
/// Where `cargo build --manifest-path examples/Cargo.toml` puts the examples.
const EXAMPLES: &str = "examples/target/wasm32-wasip2/release";
/// The components of `examples/` (the rest of the test guests are
/// guest-tasks').
const EXAMPLE_GUESTS: &[&str] = &[
    "chunked-sum",
    "parameter-server",
    "quickstart",
    "stats-client",
    "stats_plugin",
    "word-count",
];
/// Longest one block may run.
const BLOCK_TIMEOUT_S: u32 = 240;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// README.md and every page of docs/.
fn pages() -> Vec<PathBuf> {
    let root = root();
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// A fenced block: the line of its opening fence, its info string, its text.
struct Block {
    line: usize,
    info: String,
    body: String,
}

/// The fenced blocks of a markdown page.
fn blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = t.strip_prefix("```") {
                    open = Some(Block {
                        line: i + 1,
                        info: info.trim().to_string(),
                        body: String::new(),
                    });
                }
            }
            Some(block) => {
                if t.trim_end() == "```" {
                    out.push(open.take().unwrap());
                } else {
                    block.body.push_str(line);
                    block.body.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "a fence is never closed");
    out
}

/// `line` without its `#` comment (a `#` at the start or after a blank,
/// outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double, mut after_blank) = (false, false, true);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && after_blank => return &line[..i],
            _ => {}
        }
        after_blank = c.is_whitespace();
    }
    line
}

/// The commands of a `sh` block: one a line, comments stripped, lines
/// continued with `\` joined.
fn commands(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in body.lines() {
        let mut line = strip_comment(line).trim_end();
        if !current.is_empty() {
            line = line.trim_start();
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head.trim_end());
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let command = current.trim().to_string();
        current.clear();
        if !command.is_empty() {
            out.push(command);
        }
    }
    assert!(current.trim().is_empty(), "a `\\` continues past the block");
    out
}

/// How a `sh` block is run.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Run,
    Fails,
    Head,
    NoRun,
}

/// The mode of a fence's info string; `None` for a block that holds no
/// commands (rust, toml, text, ...).
fn mode(info: &str, at: &str) -> Option<Mode> {
    let mut words = info.split_whitespace();
    let lang = words.next().unwrap_or("");
    let shell_like = [
        "bash",
        "shell",
        "console",
        "shell-session",
        "zsh",
        "sh-session",
    ];
    assert!(
        !shell_like.contains(&lang),
        "{at}: a ```{lang} block: write commands in ```sh blocks (the guide's test runs those)"
    );
    if lang != "sh" {
        return None;
    }
    let marks: Vec<&str> = words.collect();
    let mode = match marks.as_slice() {
        [] => Mode::Run,
        ["fails"] => Mode::Fails,
        ["head"] => Mode::Head,
        ["no-run"] => Mode::NoRun,
        other => panic!("{at}: unknown marks {other:?} (sh, sh fails, sh head, sh no-run)"),
    };
    Some(mode)
}

/// A scratch directory laid out like a checkout with its guests built,
/// and a `bin` with `raylab-host`.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let link = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(from, to).unwrap();
    };
    link(
        Path::new(env!("CARGO_BIN_EXE_raylab-host")),
        &d.join("bin/raylab-host"),
    );
    for (_, _, path) in guests::ALL {
        let path = Path::new(path);
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let dir = if EXAMPLE_GUESTS.contains(&stem) {
            EXAMPLES
        } else {
            T
        };
        link(path, &d.join(dir).join(path.file_name().unwrap()));
    }
    link(
        &root().join("guest-tasks/python"),
        &d.join("guest-tasks/python"),
    );
    dir
}

/// The shell script of a block: its commands in order, each checked (exit
/// 0, or non-zero for `fails`), the first that is not as expected ending
/// the script with a line naming it.
fn script(commands: &[String], mode: Mode) -> String {
    let mut s = String::new();
    for (i, command) in commands.iter().enumerate() {
        s.push_str(command);
        let check = if mode == Mode::Fails {
            "-eq 0"
        } else {
            "-ne 0"
        };
        s.push_str(&format!(
            "\n__status=$?; if [ $__status {check} ]; then echo \"@@command {i} exited $__status\" >&2; exit 97; fi\n"
        ));
    }
    s
}

/// Run one block's commands in `dir`; panics with what went wrong.
fn run_block(dir: &Path, commands: &[String], mode: Mode, at: &str, address: Option<&str>) {
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("timeout");
    cmd.arg(BLOCK_TIMEOUT_S.to_string())
        .args(["sh", "-c", &script(commands, mode)])
        .current_dir(dir)
        .env("PATH", path)
        .env("T", T)
        .env("RAYLAB_CACHE_DIR", test_cache())
        .env_remove("RAYLAB_ADDRESS")
        .env_remove("RAYLAB_LOG")
        .stdin(Stdio::null());
    // The outer cargo's settings must not reach a command of the guide.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "CARGO_MANIFEST_DIR",
    ] {
        cmd.env_remove(var);
    }
    if let Some(address) = address {
        cmd.env("RAYLAB_ADDRESS", address);
    }
    let start = std::time::Instant::now();
    let out = cmd.output().expect("run sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failed = stderr
        .lines()
        .find_map(|l| l.strip_prefix("@@command "))
        .and_then(|l| l.split_once(" exited "))
        .map(|(i, status)| {
            (
                commands[i.parse::<usize>().unwrap()].clone(),
                status.to_string(),
            )
        });
    match failed {
        Some((command, status)) => panic!(
            "{at}: `{command}` exited {status}{}\n{}",
            if mode == Mode::Fails {
                " (the block is marked `fails`)"
            } else {
                ""
            },
            show(&out)
        ),
        None => assert!(
            out.status.success(),
            "{at}: the block did not finish (timed out after {BLOCK_TIMEOUT_S} s?)\n{}",
            show(&out)
        ),
    }
    eprintln!(
        "{at}: {} command(s) in {:.1} s",
        commands.len(),
        start.elapsed().as_secs_f64()
    );
}

/// Every command of the guide's `sh` blocks runs as the guide says (or is
/// marked `no-run`); see the module docs.
#[test]
fn every_command_of_the_guide_runs() {
    let root = root();
    let (mut ran, mut skipped) = (0, Vec::new());
    for page in pages() {
        let name = page.strip_prefix(&root).unwrap().display().to_string();
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = scratch();
        let blocks = blocks(&text);
        // The programs a page shows, written where its commands run them.
        for block in &blocks {
            let mut words = block.info.split_whitespace();
            if words.next() == Some("python")
                && let Some(file) = words.find_map(|w| w.strip_prefix("file="))
            {
                std::fs::write(dir.path().join(file), &block.body).unwrap();
            }
        }
        for block in &blocks {
            let at = format!("{name}:{}", block.line);
            let Some(mode) = mode(&block.info, &at) else {
                continue;
            };
            let commands = commands(&block.body);
            assert!(!commands.is_empty(), "{at}: an empty sh block");
            match mode {
                Mode::NoRun => skipped.extend(commands.into_iter().map(|c| format!("{at}: {c}"))),
                Mode::Head => {
                    let head = Head::start();
                    run_block(dir.path(), &commands, mode, &at, Some(&head.address));
                    ran += commands.len();
                }
                Mode::Run | Mode::Fails => {
                    run_block(dir.path(), &commands, mode, &at, None);
                    ran += commands.len();
                }
            }
        }
    }
    eprintln!(
        "ran {ran} commands of the guide; skipped {} marked no-run:\n  {}",
        skipped.len(),
        skipped.join("\n  ")
    );
    assert!(ran > 0, "no command of the guide ran");
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, blanks
/// made `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a markdown file's headings (outside fenced blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced && line.starts_with('#') {
            let heading = line.trim_start_matches('#');
            if heading.starts_with(' ') {
                let base = slug(heading);
                // GitHub numbers repeated headings: x, x-1, x-2, ...
                let mut anchor = base.clone();
                let mut n = 0;
                while out.contains(&anchor) {
                    n += 1;
                    anchor = format!("{base}-{n}");
                }
                out.insert(anchor);
            }
        }
    }
    out
}

/// The targets of a page's markdown links (`[text](target)`,
/// `![alt](target)`), outside fenced blocks and code spans.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fenced = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop code spans: what is between backticks is not a link.
        let plain: String = line
            .split('`')
            .enumerate()
            .filter(|(n, _)| n % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((i + 1, after[..end].trim().to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// Every relative link of README.md and docs/*.md names a file that exists,
/// and every `#anchor` a heading of the page it points to.
#[test]
fn every_link_of_the_guide_leads_somewhere() {
    let root = root();
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let name = page.strip_prefix(&root).unwrap().display().to_string();
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            if !path.exists() {
                broken.push(format!("{name}:{line}: {target} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor {
                let is_md = path.extension().is_some_and(|e| e == "md");
                let known =
                    is_md && anchors(&std::fs::read_to_string(&path).unwrap()).contains(anchor);
                if !known {
                    broken.push(format!("{name}:{line}: {target} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));

    // The README links to every page of the guide.
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let linked: BTreeSet<String> = links(&readme).into_iter().map(|(_, t)| t).collect();
    for page in pages().iter().skip(1) {
        let target = page.strip_prefix(&root).unwrap().display().to_string();
        assert!(
            linked.contains(&target),
            "README.md does not link to {target}"
        );
    }
}

/// The reader's own checks: comments, continuations, fences and anchors
/// are read as a reader (and GitHub) reads them.
#[test]
fn the_guide_is_read_as_written() {
    assert_eq!(
        commands("a --x 1   # a comment\n# only a comment\n\nb \\\n  --y 2\nc '#not' \"x # y\"\n"),
        ["a --x 1", "b --y 2", "c '#not' \"x # y\""]
    );
    assert_eq!(mode("sh no-run", ""), Some(Mode::NoRun));
    assert_eq!(mode("rust", ""), None);
    assert_eq!(
        slug("Coming from Ray: the API, side by side"),
        "coming-from-ray-the-api-side-by-side"
    );
    assert_eq!(slug("`raylab-host run` flags"), "raylab-host-run-flags");
    let a = anchors("# A\n```sh\n# not a heading\n```\n## A\n");
    assert_eq!(a, BTreeSet::from(["a".to_string(), "a-1".to_string()]));
    assert_eq!(
        links("see [x](a.md#b) and `[y](not)` ![i](p.png)"),
        [(1, "a.md#b".to_string()), (1, "p.png".to_string())]
    );
}
