//! The lab tasks' command-line flags, declared in one expression:
//!
//! ```
//! use raylab_labkit::Flags;
//!
//! let (mut n, mut seed, mut quick) = (10i64, None::<u64>, false);
//! Flags::new("demo [--n N] [--seed S] [--quick]")
//!     .value("--n", &mut n)
//!     .optional("--seed", &mut seed)
//!     .set("--quick", &mut quick, true)
//!     .parse(["--n", "3", "--quick"])?;
//! assert_eq!((n, seed, quick), (3, None, true));
//! # Ok::<(), String>(())
//! ```
//!
//! Every task reads its flags this way, so they all behave alike:
//! `--name VALUE` (the next argument, whatever it looks like, is the value),
//! no `--name=VALUE` form, `-h`/`--help` prints the usage line and exits 0
//! ([`Flags::parse_env`]), and the errors read
//! ``unknown argument `x` (try --help)``, `--n needs a value` and
//! `--n: invalid digit found in string` (the name, then the value's own
//! parse error).

use std::fmt::Display;
use std::str::FromStr;

/// What a flag with a value does with it.
type Handler<'a> = Box<dyn FnMut(&str) -> Result<(), String> + 'a>;

/// What a flag does when it is given.
enum Action<'a> {
    /// A switch: takes no value.
    Switch(Box<dyn FnMut() + 'a>),
    /// Takes the next argument as its value.
    Value(Handler<'a>),
}

/// The outcome of a successful [`Flags::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// Every argument was a known flag; the targets hold their values.
    Done,
    /// `-h` or `--help` was given: the caller should print the usage line
    /// ([`Flags::usage`]) and stop. Arguments after it are not read.
    Help,
}

/// A set of flags, each writing into a variable of the caller's, then
/// parsed from the arguments in one go. Unset flags leave their variables
/// as they were, so the variables' initial values are the defaults.
pub struct Flags<'a> {
    usage: &'a str,
    flags: Vec<(&'a str, Action<'a>)>,
}

impl<'a> Flags<'a> {
    /// No flags yet; `usage` is the line `--help` prints.
    pub fn new(usage: &'a str) -> Self {
        Flags {
            usage,
            flags: Vec::new(),
        }
    }

    /// The usage line.
    pub fn usage(&self) -> &'a str {
        self.usage
    }

    fn add(mut self, name: &'a str, action: Action<'a>) -> Self {
        debug_assert!(
            !matches!(name, "-h" | "--help") && self.flags.iter().all(|(n, _)| *n != name),
            "flag {name} declared twice"
        );
        self.flags.push((name, action));
        self
    }

    /// `name VALUE`: `VALUE` parsed as a `T` into `target` (the last one
    /// given wins). A value that does not parse is the error
    /// `name: <T's parse error>`.
    pub fn value<T>(self, name: &'a str, target: &'a mut T) -> Self
    where
        T: FromStr + 'a,
        T::Err: Display,
    {
        self.with(name, move |v| {
            *target = parse(name, v)?;
            Ok(())
        })
    }

    /// Like [`value`](Self::value), for a flag without a default: `target`
    /// becomes `Some(VALUE)`.
    pub fn optional<T>(self, name: &'a str, target: &'a mut Option<T>) -> Self
    where
        T: FromStr + 'a,
        T::Err: Display,
    {
        self.with(name, move |v| {
            *target = Some(parse(name, v)?);
            Ok(())
        })
    }

    /// `name` alone, a switch: sets `target` to `value` (`--no-sequential`
    /// sets a `sequential` flag to `false`).
    pub fn set<T: Clone + 'a>(self, name: &'a str, target: &'a mut T, value: T) -> Self {
        self.add(
            name,
            Action::Switch(Box::new(move || *target = value.clone())),
        )
    }

    /// `name KEY=VALUE`, any number of times: each is appended to `list`
    /// in order. A value without `=` is the error
    /// `name VALUE: expected NAME=VALUE`.
    pub fn pairs(self, name: &'a str, list: &'a mut Vec<(String, String)>) -> Self {
        self.with(name, move |v| {
            let (key, value) = v
                .split_once('=')
                .ok_or_else(|| format!("{name} {v}: expected NAME=VALUE"))?;
            list.push((key.to_string(), value.to_string()));
            Ok(())
        })
    }

    /// `name VALUE`, handled by `f` (which writes its own error messages).
    pub fn with(self, name: &'a str, f: impl FnMut(&str) -> Result<(), String> + 'a) -> Self {
        self.add(name, Action::Value(Box::new(f)))
    }

    /// Apply `args` (without the program name) to the flags' targets, in
    /// order. Stops at the first error, or at `-h`/`--help`.
    pub fn parse<I>(mut self, args: I) -> Result<Parsed, String>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let arg = arg.as_ref();
            if matches!(arg, "-h" | "--help") {
                return Ok(Parsed::Help);
            }
            let Some((name, action)) = self.flags.iter_mut().find(|(n, _)| *n == arg) else {
                return Err(format!("unknown argument `{arg}` (try --help)"));
            };
            match action {
                Action::Switch(f) => f(),
                Action::Value(f) => {
                    let value = args.next().ok_or_else(|| format!("{name} needs a value"))?;
                    f(value.as_ref())?;
                }
            }
        }
        Ok(Parsed::Done)
    }

    /// Parse this program's own arguments (`std::env::args`, after the
    /// program name); on `-h`/`--help`, print the usage line to stdout and
    /// exit with status 0.
    pub fn parse_env(self) -> Result<(), String> {
        let usage = self.usage;
        match self.parse(std::env::args().skip(1))? {
            Parsed::Done => Ok(()),
            Parsed::Help => {
                println!("{usage}");
                std::process::exit(0);
            }
        }
    }
}

fn parse<T>(name: &str, value: &str) -> Result<T, String>
where
    T: FromStr,
    T::Err: Display,
{
    value.parse().map_err(|e| format!("{name}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// task2's flags, as task2 declares them.
    #[derive(Debug, PartialEq)]
    struct Task2 {
        n: usize,
        chunks: Option<usize>,
        seed: u64,
        sequential: bool,
        std_math: bool,
    }

    fn task2(args: &[&str]) -> Result<(Task2, Parsed), String> {
        let mut o = Task2 {
            n: 1_000_000,
            chunks: None,
            seed: 42,
            sequential: true,
            std_math: false,
        };
        let parsed = Flags::new("task2 [--n N]")
            .value("--n", &mut o.n)
            .optional("--chunks", &mut o.chunks)
            .value("--seed", &mut o.seed)
            .set("--no-sequential", &mut o.sequential, false)
            .set("--std-math", &mut o.std_math, true)
            .parse(args)?;
        Ok((o, parsed))
    }

    #[test]
    fn no_arguments_leave_the_defaults() {
        let (o, parsed) = task2(&[]).unwrap();
        assert_eq!(parsed, Parsed::Done);
        assert_eq!(
            o,
            Task2 {
                n: 1_000_000,
                chunks: None,
                seed: 42,
                sequential: true,
                std_math: false
            }
        );
    }

    #[test]
    fn values_switches_and_options_are_applied() {
        let (o, _) = task2(&[
            "--no-sequential",
            "--n",
            "20000",
            "--chunks",
            "3",
            "--std-math",
            "--seed",
            "7",
        ])
        .unwrap();
        assert_eq!(
            o,
            Task2 {
                n: 20000,
                chunks: Some(3),
                seed: 7,
                sequential: false,
                std_math: true
            }
        );
    }

    #[test]
    fn the_last_value_given_wins() {
        let (o, _) = task2(&["--n", "1", "--n", "2"]).unwrap();
        assert_eq!(o.n, 2);
    }

    #[test]
    fn a_value_is_the_next_argument_whatever_it_looks_like() {
        let mut model = String::from("lr");
        Flags::new("")
            .value("--model", &mut model)
            .parse(["--model", "--help"])
            .unwrap();
        assert_eq!(model, "--help");
    }

    #[test]
    fn errors_name_the_flag() {
        assert_eq!(
            task2(&["--n"]).unwrap_err(),
            "--n needs a value",
            "a missing value"
        );
        assert_eq!(
            task2(&["--seed", "x"]).unwrap_err(),
            "--seed: invalid digit found in string"
        );
        assert_eq!(
            task2(&["--chunks", "-1"]).unwrap_err(),
            "--chunks: invalid digit found in string"
        );
        assert_eq!(
            task2(&["--bogus"]).unwrap_err(),
            "unknown argument `--bogus` (try --help)"
        );
        assert_eq!(
            task2(&["--n=5"]).unwrap_err(),
            "unknown argument `--n=5` (try --help)",
            "no --name=value form"
        );
        assert_eq!(
            task2(&["7"]).unwrap_err(),
            "unknown argument `7` (try --help)"
        );
    }

    #[test]
    fn the_first_error_stops_parsing() {
        let mut n = 0u32;
        let err = Flags::new("")
            .value("--n", &mut n)
            .parse(["--bogus", "--n", "5"])
            .unwrap_err();
        assert!(err.contains("--bogus"), "{err}");
        assert_eq!(n, 0);
    }

    #[test]
    fn help_stops_parsing() {
        for help in ["-h", "--help"] {
            let (o, parsed) = task2(&["--n", "5", help, "--bogus"]).unwrap();
            assert_eq!(parsed, Parsed::Help);
            assert_eq!(o.n, 5);
        }
        assert_eq!(Flags::new("task9 [--x]").usage(), "task9 [--x]");
    }

    #[test]
    fn pairs_collect_every_occurrence_in_order() {
        let mut params = Vec::new();
        Flags::new("")
            .pairs("--param", &mut params)
            .parse(["--param", "max_depth=3", "--param", "alpha=a=b"])
            .unwrap();
        assert_eq!(
            params,
            [
                ("max_depth".to_string(), "3".to_string()),
                ("alpha".to_string(), "a=b".to_string())
            ]
        );
        let err = Flags::new("")
            .pairs("--param", &mut params)
            .parse(["--param", "max_depth"])
            .unwrap_err();
        assert_eq!(err, "--param max_depth: expected NAME=VALUE");
        let err = Flags::new("")
            .pairs("--param", &mut params)
            .parse(["--param"])
            .unwrap_err();
        assert_eq!(err, "--param needs a value");
    }

    #[test]
    fn custom_handlers_report_their_own_errors() {
        let mut seen = Vec::new();
        let err = Flags::new("")
            .with("--even", |v| {
                let n: u32 = v.parse().map_err(|_| format!("--even {v}: not a number"))?;
                if n % 2 == 1 {
                    return Err(format!("--even {n}: odd"));
                }
                seen.push(n);
                Ok(())
            })
            .parse(["--even", "4", "--even", "3"])
            .unwrap_err();
        assert_eq!(err, "--even 3: odd");
        assert_eq!(seen, [4]);
    }
}
