//! Progress of a run or a followed job: tasks done / submitted, as a bar on
//! a terminal (indicatif) or a plain line a second otherwise, and nothing
//! until the first task is submitted.

use std::cell::Cell;
use std::io::IsTerminal;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use raylab::Runtime;

/// A progress display on stderr.
pub struct Progress {
    enabled: bool,
    bar: Option<indicatif::ProgressBar>,
    shown: Cell<bool>,
    last_line: Cell<(Instant, u64, u64)>,
}

impl Progress {
    /// A display; `enabled` false shows nothing.
    pub fn new(enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {pos}/{len} tasks done {wide_bar} {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            enabled,
            bar,
            shown: Cell::new(false),
            last_line: Cell::new((Instant::now(), 0, 0)),
        }
    }

    /// Run `f` (which prints) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// `done` of `submitted` tasks are done; `detail` follows the count.
    pub fn update(&self, done: u64, submitted: u64, detail: &str) {
        if !self.enabled || submitted == 0 {
            return;
        }
        match &self.bar {
            Some(bar) => {
                if !self.shown.replace(true) {
                    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                bar.set_length(submitted);
                bar.set_position(done);
                bar.set_message(detail.to_string());
            }
            None => {
                let (at, d, s) = self.last_line.get();
                if (d, s) != (done, submitted) && at.elapsed() >= Duration::from_secs(1) {
                    let detail = if detail.is_empty() {
                        String::new()
                    } else {
                        format!(" ({detail})")
                    };
                    eprintln!("raylab: {done}/{submitted} tasks done{detail}");
                    self.last_line.set((Instant::now(), done, submitted));
                }
            }
        }
    }

    /// Clear the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Show the progress of `runtime`'s tasks until `finished` disconnects (or
/// receives), checking every 100 ms; the run's exit never waits for a tick.
pub fn follow_run(runtime: &Runtime, finished: Receiver<()>) {
    // The line form waits a second before its first line, so a short run
    // prints nothing.
    let progress = Progress::new(true);
    loop {
        let s = runtime.stats();
        progress.update(
            s.finished + s.failed,
            s.submitted,
            &format!("{} running, {} failed", s.tasks.running, s.failed),
        );
        if !matches!(
            finished.recv_timeout(Duration::from_millis(100)),
            Err(RecvTimeoutError::Timeout)
        ) {
            break;
        }
    }
    progress.finish();
}
