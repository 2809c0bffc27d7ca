//! A sandbox's stdout and stderr, whole lines at a time.
//!
//! Guests write their output in pieces: Rust's `eprintln!("x = {x}")` is
//! three writes, and two tasks printing at once on two workers interleaved
//! mid-line (`chunk: get_range 13.chunk: get_range 13.91 ms`). A task's or
//! actor's stream ([`Lines::whole`]) keeps what follows its last line end
//! and hands complete lines (`\n`, or `\r` for progress lines) to the
//! destination in one write, so lines of different tasks never mix. What
//! is left without a line end goes out when the call ends
//! ([`Lines::flush_pending`], called by the runtime after every task
//! attempt and actor call), when the instance goes, or once it passes
//! [`MAX_PENDING`] bytes. A driver's streams ([`Lines::pieces`]) pass every
//! write through at once: a driver printing progress dots without a line
//! end (`print!(".")` then a flush) shows them as they come. (WASI's
//! `blocking-write-and-flush` flushes after every write, so a flush cannot
//! mark the end of a line.)

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::core::jobs::JobLog;

/// Most bytes kept waiting for a line end.
pub(crate) const MAX_PENDING: usize = 64 << 10;

/// Where an instance's lines go.
#[derive(Clone)]
pub(crate) enum Sink {
    /// The host's stdout (`run`).
    Stdout,
    /// The host's stderr (`run`).
    Stderr,
    /// A job's log on the head (stdout and stderr together).
    Log(JobLog),
}

impl Sink {
    fn write(&self, bytes: &[u8]) {
        // The terminal going away is not the guest's error: output is
        // dropped, as a closed pipe drops it.
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(bytes).and_then(|()| out.flush());
            }
            Sink::Stderr => {
                let _ = std::io::stderr().lock().write_all(bytes);
            }
            Sink::Log(log) => log.push(bytes),
        }
    }

    fn is_terminal(&self) -> bool {
        match self {
            Sink::Stdout => std::io::IsTerminal::is_terminal(&std::io::stdout()),
            Sink::Stderr => std::io::IsTerminal::is_terminal(&std::io::stderr()),
            Sink::Log(_) => false,
        }
    }
}

/// One instance's stdout or stderr (every stream the guest opens on it
/// shares the pending part).
#[derive(Clone)]
pub(crate) struct Lines(Arc<Inner>);

struct Inner {
    sink: Sink,
    /// Whole lines only (tasks, actors), or every write at once (drivers).
    whole: bool,
    /// Lock order: before a `JobLog`'s ring (and the host's stdout or
    /// stderr, written under it); after nothing.
    pending: Mutex<Vec<u8>>,
}

impl Drop for Inner {
    /// The instance went: what it left without a line end goes out now.
    fn drop(&mut self) {
        let pending = std::mem::take(self.pending.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !pending.is_empty() {
            self.sink.write(&pending);
        }
    }
}

impl Lines {
    /// A task's or actor's stream: whole lines.
    pub(crate) fn whole(sink: Sink) -> Self {
        Self::new(sink, true)
    }

    /// A driver's stream: every write at once.
    pub(crate) fn pieces(sink: Sink) -> Self {
        Self::new(sink, false)
    }

    fn new(sink: Sink, whole: bool) -> Self {
        Lines(Arc::new(Inner {
            sink,
            whole,
            pending: Mutex::new(Vec::new()),
        }))
    }

    /// Write out what waits for a line end (the call that wrote it ended).
    pub(crate) fn flush_pending(&self) {
        let mut pending = self.0.pending.lock().unwrap_or_else(|p| p.into_inner());
        if !pending.is_empty() {
            let out = std::mem::take(&mut *pending);
            self.0.sink.write(&out);
        }
    }

    fn push(&self, bytes: &[u8]) {
        if !self.0.whole {
            self.0.sink.write(bytes);
            return;
        }
        let is_end = |b: &u8| *b == b'\n' || *b == b'\r';
        let mut pending = self.0.pending.lock().unwrap_or_else(|p| p.into_inner());
        // The common case: whole lines and nothing waiting.
        if pending.is_empty() && bytes.last().is_some_and(is_end) {
            drop(pending);
            self.0.sink.write(bytes);
            return;
        }
        pending.extend_from_slice(bytes);
        let out = match pending.iter().rposition(is_end) {
            Some(end) => {
                let rest = pending.split_off(end + 1);
                std::mem::replace(&mut *pending, rest)
            }
            None if pending.len() >= MAX_PENDING => std::mem::take(&mut *pending),
            None => return,
        };
        // Written under the lock: the same stream's pieces keep their order.
        self.0.sink.write(&out);
    }
}

impl IsTerminal for Lines {
    fn is_terminal(&self) -> bool {
        self.0.sink.is_terminal()
    }
}

impl StdoutStream for Lines {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for Lines {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    /// Called after every write by WASI's `blocking-write-and-flush`, so it
    /// cannot end a line: a line ends with its line end.
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(1 << 20)
    }
}

impl Pollable for Lines {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(std::future::ready(()))
    }
}

impl tokio::io::AsyncWrite for Lines {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(lines: impl FnOnce(&Lines)) -> String {
        let log = JobLog::new(1 << 20);
        let stream = Lines::whole(Sink::Log(log.clone()));
        lines(&stream);
        drop(stream);
        String::from_utf8(log.read(0, 1 << 20).bytes).unwrap()
    }

    #[test]
    fn pieces_of_two_streams_come_out_as_whole_lines() {
        let log = JobLog::new(1 << 20);
        let a = Lines::whole(Sink::Log(log.clone()));
        let b = Lines::whole(Sink::Log(log.clone()));
        a.push(b"chunk: get_range ");
        b.push(b"chunk: get_range ");
        a.push(b"13.91 ms");
        b.push(b"5.16 ms\n");
        a.push(b"\nnext");
        assert_eq!(
            String::from_utf8(log.read(0, 1 << 20).bytes).unwrap(),
            "chunk: get_range 5.16 ms\nchunk: get_range 13.91 ms\n"
        );
        // What has no line end yet goes out with the instance.
        drop(a);
        drop(b);
        assert!(
            String::from_utf8(log.read(0, 1 << 20).bytes)
                .unwrap()
                .ends_with("ms\nnext")
        );
    }

    #[test]
    fn the_end_of_a_call_writes_what_waits_and_drivers_wait_for_nothing() {
        let log = JobLog::new(1 << 20);
        let task = Lines::whole(Sink::Log(log.clone()));
        task.push(b"no line end");
        assert!(log.read(0, 1 << 20).bytes.is_empty());
        task.flush_pending();
        assert_eq!(log.read(0, 1 << 20).bytes, b"no line end");
        let driver = Lines::pieces(Sink::Log(log.clone()));
        driver.push(b".");
        assert_eq!(log.read(0, 1 << 20).bytes, b"no line end.");
    }

    #[test]
    fn progress_lines_and_long_pieces_are_not_held_back() {
        let out = log_of(|s| {
            s.push(b"10%\r");
            s.push(b"20%\r");
        });
        assert_eq!(out, "10%\r20%\r");
        let long = vec![b'x'; MAX_PENDING];
        let log = JobLog::new(1 << 20);
        let s = Lines::whole(Sink::Log(log.clone()));
        s.push(&long);
        assert_eq!(
            log.read(0, 1 << 20).bytes.len(),
            MAX_PENDING,
            "written at once"
        );
    }
}
