//! Precise sleeps for guests: `wasi:clocks/monotonic-clock`'s clock and
//! its `subscribe-duration` and `subscribe-instant`, replacing
//! wasmtime-wasi's.
//!
//! wasmtime-wasi waits with `tokio::time::sleep`, whose timer wheel ticks
//! every millisecond: a guest's `time.sleep(0.00001)` took about 1.1 ms,
//! so 10,000 tiny sleeps took 11 s instead of Python's 0.8 s. Here a wait
//! longer than [`SPIN_BELOW`] sleeps on tokio until that much is left (the
//! worker thread serves other instances meanwhile), and the rest is slept
//! by the OS on the calling thread, which is precise to tens of
//! microseconds; at most [`SPIN_BELOW`] of a worker thread is held so. A
//! zero wait yields to tokio once, as wasmtime-wasi's does (a guest
//! polling in a busy loop must not starve the reactor).

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

/// The tail of a wait that the OS sleeps, on the guest's thread.
pub(crate) const SPIN_BELOW: Duration = Duration::from_millis(2);

/// The WASI interface this replaces a function of (the version
/// wasmtime-wasi 48 links; components asking for an older 0.2 match it).
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Where every guest's monotonic clock starts (so that an instant the
/// guest read maps back to the host's).
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

/// The guests' monotonic clock: nanoseconds since [`EPOCH`].
pub(crate) struct Monotonic;

impl wasmtime_wasi::HostMonotonicClock for Monotonic {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        EPOCH.elapsed().as_nanos().try_into().unwrap_or(u64::MAX)
    }
}

/// A deadline `nanos` after `from`.
fn after(from: Instant, nanos: u64) -> Instant {
    from.checked_add(Duration::from_nanos(nanos))
        // Past what Instant can hold: as good as never.
        .unwrap_or_else(|| from + Duration::from_secs(u32::MAX.into()))
}

/// A pollable that is ready at `deadline`.
fn subscribe_until<T: WasiView>(
    store: &mut StoreContextMut<'_, T>,
    deadline: Instant,
) -> wasmtime::Result<Resource<DynPollable>> {
    let table = store.data_mut().ctx().table;
    let sleep = table.push(Sleep {
        deadline,
        yielded: false,
    })?;
    subscribe(table, sleep)
}

/// A wait until `deadline`.
struct Sleep {
    deadline: Instant,
    yielded: bool,
}

#[wasmtime_wasi::async_trait]
impl Pollable for Sleep {
    async fn ready(&mut self) {
        let now = Instant::now();
        if now >= self.deadline {
            if !self.yielded {
                self.yielded = true;
                tokio::task::yield_now().await;
            }
            return;
        }
        if self.deadline - now > SPIN_BELOW {
            tokio::time::sleep_until((self.deadline - SPIN_BELOW).into()).await;
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if !left.is_zero() {
            std::thread::sleep(left);
        }
    }
}

/// Put the subscriptions in `linker` in place of wasmtime-wasi's (call
/// after `wasmtime_wasi::p2::add_to_linker_async`; the stores' WASI
/// contexts use [`Monotonic`], so that instants mean the same here).
pub(crate) fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, T>, (nanos,): (u64,)| {
            Ok((subscribe_until(&mut store, after(Instant::now(), nanos))?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, T>, (when,): (u64,)| {
            Ok((subscribe_until(&mut store, after(*EPOCH, when))?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}
