//! `raylab-host new`: a new project that builds and runs with the two
//! commands its README gives, outside this repository.
//!
//! A Rust project depends on the guest SDK by path, and the path is a copy
//! of the SDK compiled into this binary (its source and the WIT contract,
//! [`sdk_dir`], in `sdk`), extracted once per SDK version to the user's data
//! directory (`$XDG_DATA_HOME/raylab/sdk/raylab-guest-VERSION-HASH`). So
//! the SDK a project builds against is exactly the one the running
//! `raylab-host` speaks, and no checkout or registry release is needed. The
//! project's `.cargo/config.toml` builds for `wasm32-wasip2` with SIMD and
//! makes `raylab-host runner` Cargo's runner, so `cargo run` and `cargo
//! test` run the component on raylab (tests call `.remote()` for real).
//!
//! A Python project is a program (`app.py`) plus, for editors, the
//! `raylab` package under `.raylab/python` (dot-directories are never
//! bundled, so it cannot shadow the runtime's own copy) with the settings
//! that point Pyright/Pylance at it.
//!
//! The templates' text is in `templates`.

use std::path::{Path, PathBuf};

use anyhow::bail;

mod sdk;
mod templates;

pub use sdk::{RUST_SDK, data_dir, sdk_dir, sdk_dir_in};
pub(crate) use sdk::{digest_of, write_files};

/// The versions of the SDK's dependencies that this repository builds and
/// tests its guests with: a new project starts from them (Cargo drops what
/// it does not use), so it builds with what was tested, offline when the
/// registry cache has them.
const GUEST_LOCK: &str = include_str!("../../../guest-tasks/Cargo.lock");

/// The language of a new project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate built into a WebAssembly component.
    Rust,
    /// A Python program run by raylab's Python runtime.
    Python,
}

/// What a new project starts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// Remote functions and a driver that fans out calls and gathers them
    /// (`@ray.remote def f`, `ray.get([f.remote(x) ...])`).
    Task,
    /// An actor: state that lives between calls in a sandbox of its own.
    Actor,
    /// Remote functions only, callable by name from drivers in any
    /// language (`--plugin NAME=...`); Rust only.
    Plugin,
    /// A driver that handles results as they finish (`ray.wait`) under a
    /// deadline.
    Driver,
}

/// `raylab-host new`'s arguments.
#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The project's name: a directory of that name is made (letters,
    /// digits, `-` and `_`, starting with a letter).
    pub name: String,
    /// The language.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// What it starts as.
    #[arg(long, value_enum, default_value = "task")]
    pub template: Template,
    /// Make the project here instead of `./NAME`.
    #[arg(long)]
    pub path: Option<PathBuf>,
}

/// Check a project name: it becomes a crate name, a directory and a file
/// name.
fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64;
    if !ok {
        bail!(
            "`{name}` cannot name a project: use letters, digits, `-` and `_`, starting with a letter"
        );
    }
    const RESERVED: [&str; 8] = [
        "test",
        "std",
        "core",
        "alloc",
        "proc_macro",
        "self",
        "super",
        "crate",
    ];
    if RESERVED.contains(&name) {
        bail!("`{name}` is reserved by Rust: choose another name");
    }
    Ok(())
}

/// Fill a template's `{{name}}`, `{{crate}}` (the name as a Rust
/// identifier), `{{sdk}}` and `{{wasm}}` (the built component's file).
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// The files of a new project, by path relative to its directory.
pub fn files(
    name: &str,
    lang: Lang,
    template: Template,
    sdk: &Path,
) -> anyhow::Result<Vec<(String, String)>> {
    check_name(name)?;
    let krate = name.replace('-', "_");
    let sdk = sdk.display().to_string();
    let wasm = match template {
        // A library's file takes the crate's name (underscores).
        Template::Plugin => format!("{krate}.wasm"),
        _ => format!("{name}.wasm"),
    };
    let vars = [
        ("name", name),
        ("crate", krate.as_str()),
        ("sdk", sdk.as_str()),
        ("wasm", wasm.as_str()),
    ];
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |path: &str, text: &str| out.push((path.to_string(), fill(text, &vars)));
    match lang {
        Lang::Rust => {
            add(".gitignore", "/target\n");
            add(".cargo/config.toml", templates::CARGO_CONFIG);
            add("Cargo.lock", GUEST_LOCK);
            let (main, readme) = match template {
                Template::Task => (templates::RUST_TASK, templates::RUST_README_TASK),
                Template::Actor => (templates::RUST_ACTOR, templates::RUST_README_ACTOR),
                Template::Driver => (templates::RUST_DRIVER, templates::RUST_README_DRIVER),
                Template::Plugin => {
                    add("Cargo.toml", templates::RUST_PLUGIN_MANIFEST);
                    add("src/lib.rs", templates::RUST_PLUGIN);
                    add("examples/call.rs", templates::RUST_PLUGIN_CALL);
                    add("README.md", templates::RUST_README_PLUGIN);
                    return Ok(out);
                }
            };
            add("Cargo.toml", templates::RUST_MANIFEST);
            add("src/main.rs", main);
            add("README.md", readme);
        }
        Lang::Python => {
            let (app, readme) = match template {
                Template::Task => (templates::PY_TASK, templates::PY_README_TASK),
                Template::Actor => (templates::PY_ACTOR, templates::PY_README_ACTOR),
                Template::Driver => (templates::PY_DRIVER, templates::PY_README_DRIVER),
                Template::Plugin => bail!(
                    "a plugin is a component other modules call by name, and raylab's Python \
                     programs are drivers: write the plugin in Rust (--lang rust --template \
                     plugin) and call it from Python with ray.remote_function(\"NAME/function\")"
                ),
            };
            add("app.py", app);
            add("README.md", readme);
            add(".gitignore", "__pycache__/\n");
            // For editors: the package itself, where Pyright and Pylance
            // look (never bundled: dot-directories are skipped).
            for (path, text) in crate::python::SDK_FILES {
                if path.starts_with("raylab/") {
                    add(&format!(".raylab/python/{path}"), text);
                }
            }
            add("pyrightconfig.json", templates::PYRIGHT);
            add(".vscode/settings.json", templates::VSCODE);
        }
    }
    Ok(out)
}

/// `raylab-host new`: make the project and say how to build and run it.
pub fn new(args: &NewArgs) -> anyhow::Result<()> {
    check_name(&args.name)?;
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty: choose another name or --path",
            dir.display()
        );
    }
    let sdk = match args.lang {
        Lang::Rust => sdk_dir()?,
        Lang::Python => PathBuf::new(),
    };
    let files = files(&args.name, args.lang, args.template, &sdk)?;
    write_files(&dir, files.iter().map(|(p, t)| (p.as_str(), t.clone())))?;
    let shown = dir.display();
    println!(
        "Made {shown} ({:?} {:?}). Build and run it:",
        args.lang, args.template
    );
    println!("    cd {shown}");
    // The README's own commands (its indented block), so the two agree.
    let readme = files
        .iter()
        .find(|(p, _)| p == "README.md")
        .map(|(_, t)| t.as_str())
        .unwrap_or_default();
    for line in readme.lines().filter(|l| l.starts_with("    ")) {
        println!("{line}");
    }
    if args.lang == Lang::Rust {
        println!("It builds against the SDK in {}.", sdk.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for bad in ["", "1x", "a b", "a/b", "../x", "self", "x.y"] {
            assert!(
                files(bad, Lang::Rust, Template::Task, Path::new("/sdk")).is_err(),
                "{bad}"
            );
        }
        assert!(files("my-app_2", Lang::Rust, Template::Task, Path::new("/sdk")).is_ok());
    }

    #[test]
    fn templates_fill_every_placeholder() {
        for lang in [Lang::Rust, Lang::Python] {
            for template in [
                Template::Task,
                Template::Actor,
                Template::Driver,
                Template::Plugin,
            ] {
                let Ok(files) = files("my-app", lang, template, Path::new("/sdk")) else {
                    assert_eq!((lang, template), (Lang::Python, Template::Plugin));
                    continue;
                };
                for (path, text) in &files {
                    if path != "Cargo.lock" && !path.starts_with(".raylab/") {
                        assert!(!text.contains("{{"), "{path}: {text}");
                    }
                }
                let readme = &files.iter().find(|(p, _)| p == "README.md").unwrap().1;
                assert!(readme.contains("raylab-host run"), "{readme}");
                if lang == Lang::Rust {
                    let wasm = if template == Template::Plugin {
                        "my_app.wasm"
                    } else {
                        "my-app.wasm"
                    };
                    assert!(readme.contains(wasm), "{readme}");
                    let manifest = &files.iter().find(|(p, _)| p == "Cargo.toml").unwrap().1;
                    assert!(manifest.contains(r#"path = "/sdk""#), "{manifest}");
                } else {
                    assert!(
                        files
                            .iter()
                            .any(|(p, _)| p == ".raylab/python/raylab/__init__.py")
                    );
                }
            }
        }
    }
}
