//! Actors: Ray's `@ray.remote class`.
//!
//! An actor is one long-lived instance of its class's module that keeps
//! state between calls. Its methods run one at a time, in the order they
//! were submitted, in that instance. The class `C` is a set of remote
//! functions of the module: `C.new` (the constructor, which stores the
//! state in the instance) and `C.m` for each method `m`; the [`actor`]
//! macro writes them. The actor's handle ([`ActorHandle`]) is an object
//! reference like any other: when no reference to it is left, the host
//! kills the actor (unless it is detached).
//!
//! [`actor`]: macro@crate::actor
//!
//! Longer than the ~600 lines a file keeps to: the handle, the options, the
//! instance side and the generators' helpers of one concept, which the
//! `#[actor]` macro's expansion reaches as one module.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::EncodeArgs;
use crate::{Error, ObjectRef, RefId, Result, Scheduling, decode, encode, rt, serialize_ref, wit};

// ---------------------------------------------------------------------------
// Actor options
// ---------------------------------------------------------------------------

/// Options of an actor (`@ray.remote(...)` on a class, `C.options(...)`).
/// Unset fields take the host's defaults. The resources are held for the
/// actor's whole life.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActorOptions {
    /// A name to find the actor by with [`get_actor`]: unique among the
    /// live actors of the job (of the node, for detached ones).
    pub name: Option<String>,
    /// CPU slots held for the actor's life (default 0).
    pub num_cpus: Option<f64>,
    /// GPUs held for the actor's life (default 0).
    pub num_gpus: Option<f64>,
    /// Memory in bytes reserved for the actor's life, and enforced as its
    /// instance's quota.
    pub memory: Option<u64>,
    /// Custom resources held for the actor's life.
    pub resources: Vec<(String, f64)>,
    /// Restarts after a crash: a fresh instance, the constructor run again
    /// (default 0).
    pub max_restarts: Option<u32>,
    /// Retries of a method call cut short by a crash, on the restarted
    /// actor (default 0).
    pub max_task_retries: Option<u32>,
    /// Time limit of one method call (default: the node's task time limit).
    pub timeout: Option<Duration>,
    /// Outlive the job that created it, until killed (Ray's
    /// `lifetime="detached"`; a detached actor must have a name). `None`
    /// is not detached.
    pub detached: Option<bool>,
    /// Where it lives: in a cluster it is placed as a task is
    /// ([`spread`](ActorOptions::spread),
    /// [`node_affinity`](ActorOptions::node_affinity), its resources), or
    /// by its placement group ([`ActorOptions::placement_group`]); with no
    /// strategy and no CPU asked for, on the node that makes it.
    pub scheduling: Option<Scheduling>,
}

impl ActorOptions {
    /// Set the name to find the actor by ([`get_actor`]).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Set the number of restarts after a crash.
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = Some(n);
        self
    }
    /// Set the number of retries of a method call cut short by a crash.
    pub fn max_task_retries(mut self, n: u32) -> Self {
        self.max_task_retries = Some(n);
        self
    }
    /// Let the actor outlive its job (`lifetime="detached"`); it needs a
    /// [`name`](ActorOptions::name).
    pub fn detached(mut self, yes: bool) -> Self {
        self.detached = Some(yes);
        self
    }
    /// Place actors in turn on the cluster's nodes that can hold them.
    pub fn spread(mut self) -> Self {
        self.scheduling = Some(Scheduling::Spread);
        self
    }
    /// Make the actor on one node of the cluster, by name or id; `soft`:
    /// where the default would when that node cannot hold it.
    pub fn node_affinity(mut self, node: impl Into<String>, soft: bool) -> Self {
        self.scheduling = Some(Scheduling::NodeAffinity {
            node: node.into(),
            soft,
        });
        self
    }

    /// These options, with every unset field taken from `base` (resources
    /// merge by name, those set here winning).
    pub fn or(self, base: ActorOptions) -> ActorOptions {
        let resources = crate::merge_resources(self.resources, base.resources);
        ActorOptions {
            name: self.name.or(base.name),
            num_cpus: self.num_cpus.or(base.num_cpus),
            num_gpus: self.num_gpus.or(base.num_gpus),
            memory: self.memory.or(base.memory),
            resources,
            max_restarts: self.max_restarts.or(base.max_restarts),
            max_task_retries: self.max_task_retries.or(base.max_task_retries),
            timeout: self.timeout.or(base.timeout),
            detached: self.detached.or(base.detached),
            scheduling: self.scheduling.or(base.scheduling),
        }
    }

    pub(crate) fn to_wit(&self) -> wit::ActorOptions {
        wit::ActorOptions {
            name: self.name.clone(),
            num_cpus: self.num_cpus,
            num_gpus: self.num_gpus,
            memory: self.memory,
            resources: self
                .resources
                .iter()
                .map(|(name, amount)| wit::ResourceAmount {
                    name: name.clone(),
                    amount: *amount,
                })
                .collect(),
            max_restarts: self.max_restarts,
            max_task_retries: self.max_task_retries,
            timeout_ms: self.timeout.map(|t| t.as_millis() as u64),
            detached: self.detached.unwrap_or(false),
            scheduling: self.scheduling.as_ref().map(Scheduling::to_wit),
        }
    }
}

// ---------------------------------------------------------------------------
// Actor handles
// ---------------------------------------------------------------------------

/// A handle to an actor of class `T` (what `C.remote(...)` returns in
/// Ray). It is an object reference: each `ActorHandle` owns one reference
/// count on the host (cloning takes another, dropping gives it back), and
/// the actor is killed when no reference to it is left, unless it is
/// detached.
///
/// The class's methods are called through the trait that [`actor`]
/// generates (`CounterMethods` for `Counter`): `counter.incr(1)` returns an
/// [`ObjectRef`] to the result. A handle can be passed to remote functions
/// and to other actors' methods, or stored inside objects: it travels as a
/// handle (a reference nested in a one-element array, like [`ByRef`]), not
/// as a dependency, and the receiver decodes its own `ActorHandle`.
///
/// Its inherent methods ([`id`](Self::id), [`ready`](Self::ready),
/// [`kill`](Self::kill), [`call`](Self::call),
/// [`call_raw`](Self::call_raw), [`fallible`](Self::fallible)) are names an
/// actor's methods cannot take.
///
/// [`actor`]: macro@crate::actor
/// [`ByRef`]: crate::ByRef
pub struct ActorHandle<T> {
    id: u64,
    _class: PhantomData<fn() -> T>,
}

impl<T> ActorHandle<T> {
    /// Adopt a handle reference the caller already owns (as returned by the
    /// raw `create-actor` and `get-actor` bindings).
    pub fn from_owned_id(id: u64) -> Self {
        ActorHandle {
            id,
            _class: PhantomData,
        }
    }

    /// The id of the handle's object.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Wait until the actor's constructor has run: `Ok` once it has, its
    /// error if it failed (or the actor died first).
    pub fn ready(&self) -> Result<()> {
        let _class: String = decode(&rt::get(self.id, None)?)?;
        Ok(())
    }

    /// Kill the actor (`ray.kill(actor)`): a call in progress is stopped,
    /// queued ones fail with [`ErrorKind::ActorDied`](crate::ErrorKind),
    /// later ones too (their results hold the error at once, as in Ray),
    /// and it is not restarted. Killing a dead
    /// actor does nothing.
    pub fn kill(&self) -> Result<()> {
        Ok(rt::kill_actor(self.id)?)
    }

    /// Call `method` with an already-encoded argument list (a MessagePack
    /// array; top-level references are dependencies, as for
    /// [`submit_raw`](crate::submit_raw)). The low-level form of the
    /// generated methods.
    pub fn call_raw<R>(&self, method: &str, args: &[u8]) -> Result<ObjectRef<R>> {
        let id = rt::call_actor(self.id, method, args)?;
        Ok(ObjectRef::from_owned_id(id))
    }

    /// Call `method`, encoding `args` (a tuple) for it; the host refusing
    /// the call is an error value.
    pub fn call<A: Serialize, R>(&self, method: &str, args: &A) -> Result<ObjectRef<R>> {
        self.call_raw(method, &encode_args(args)?)
    }

    /// The same handle for calls that return the host's refusal as an
    /// error instead of panicking: `counter.fallible().incr(1)` is a
    /// `Result<ObjectRef<i64>>`.
    pub fn fallible(&self) -> Fallible<'_, T> {
        Fallible(self)
    }
}

impl<T> Clone for ActorHandle<T> {
    fn clone(&self) -> Self {
        // The id is owned by `self`, so the host cannot refuse it.
        let _ = rt::retain(self.id);
        ActorHandle::from_owned_id(self.id)
    }
}

impl<T> Drop for ActorHandle<T> {
    fn drop(&mut self) {
        rt::release(self.id);
    }
}

impl<T> fmt::Debug for ActorHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorHandle({})", self.id)
    }
}

impl<T> PartialEq for ActorHandle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T> Eq for ActorHandle<T> {}

/// An object reference's id, serialized as the reference itself.
struct RefOut(u64);

impl Serialize for RefOut {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_ref(self.0, s)
    }
}

impl<T> Serialize for ActorHandle<T> {
    /// A one-element array holding the reference (ext 82), so the host
    /// passes it through as a nested, borrowed reference rather than
    /// resolving it as a dependency.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (RefOut(self.id),).serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for ActorHandle<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let (RefId(id),) = <(RefId,)>::deserialize(d)?;
        // A decoded handle is a new owned copy: the bytes it came from hold
        // their own count on the host (as for `ObjectRef`).
        rt::retain(id).map_err(|e| serde::de::Error::custom(Error::from(e)))?;
        Ok(ActorHandle::from_owned_id(id))
    }
}

impl<T> From<&ActorHandle<T>> for crate::Arg<ActorHandle<T>> {
    /// Pass a handle by reference: the callee gets its own copy.
    fn from(h: &ActorHandle<T>) -> Self {
        crate::Arg::Value(h.clone())
    }
}

/// An [`ActorHandle`] whose generated method calls return
/// `Result<ObjectRef<R>>` (the host refusing a call is an error value, not
/// a panic). Made by [`ActorHandle::fallible`].
pub struct Fallible<'a, T>(&'a ActorHandle<T>);

impl<T> fmt::Debug for Fallible<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fallible({:?})", self.0)
    }
}

/// What an actor's methods are called through: [`ActorHandle`] (a call
/// returns an [`ObjectRef`], and panics if the host refuses it, like
/// `f::remote`) or [`Fallible`] (a call returns `Result<ObjectRef<R>>`).
/// The trait [`actor`] generates for a class (`CounterMethods`) is
/// implemented for every `ActorCaller` of that class.
///
/// [`actor`]: macro@crate::actor
pub trait ActorCaller {
    /// The actor's class.
    type Class;
    /// What a call of a method returning `R` gives.
    type Output<R>;
    #[doc(hidden)]
    fn __call<A: EncodeArgs, R>(&self, method: &str, args: &A) -> Self::Output<R>;
}

impl<T> ActorCaller for ActorHandle<T> {
    type Class = T;
    type Output<R> = ObjectRef<R>;
    fn __call<A: EncodeArgs, R>(&self, method: &str, args: &A) -> ObjectRef<R> {
        match typed_args(args).and_then(|args| self.call_raw(method, &args)) {
            Ok(r) => r,
            Err(e) => panic!("cannot call `{method}` of actor {}: {e}", self.id),
        }
    }
}

impl<T> ActorCaller for Fallible<'_, T> {
    type Class = T;
    type Output<R> = Result<ObjectRef<R>>;
    fn __call<A: EncodeArgs, R>(&self, method: &str, args: &A) -> Result<ObjectRef<R>> {
        self.0.call_raw(method, &typed_args(args)?)
    }
}

/// Encode a generated caller's argument list (bulk types packed).
fn typed_args<A: EncodeArgs>(args: &A) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    args.encode_args(&mut bytes)?;
    Ok(bytes)
}

/// Encode an argument tuple as the MessagePack array the host expects
/// (`()` is `[]`, not nil).
pub(crate) fn encode_args<A: Serialize + ?Sized>(args: &A) -> Result<Vec<u8>> {
    let bytes = encode(args)?;
    Ok(if bytes == [0xc0] { vec![0x90] } else { bytes })
}

// ---------------------------------------------------------------------------
// Creating and finding actors
// ---------------------------------------------------------------------------

/// Create an actor of `class` with already-encoded constructor arguments
/// (a MessagePack array; top-level references are dependencies). `class` is
/// `C` for a class of this module or `module/C` for a plugin's. Returns at
/// once; [`ActorHandle::ready`] waits for the constructor. Most code uses
/// the `C::remote(..)` that [`#[actor]`](macro@crate::actor) generates instead.
pub fn create_actor_raw<T>(
    class: &str,
    args: &[u8],
    options: &ActorOptions,
) -> Result<ActorHandle<T>> {
    let id = rt::create_actor(class, args, &options.to_wit())?;
    Ok(ActorHandle::from_owned_id(id))
}

/// Create an actor of `class`, encoding `args` (a tuple) for its
/// constructor.
pub fn create_actor<A: Serialize, T>(
    class: &str,
    args: &A,
    options: &ActorOptions,
) -> Result<ActorHandle<T>> {
    create_actor_raw(class, &encode_args(args)?, options)
}

/// A handle to the live actor named `name` (`ray.get_actor(name)`): of
/// this job, or a detached one. No such actor is an error. The class `T`
/// is the caller's word: it is not checked here (a method the actor does
/// not have fails the call).
pub fn get_actor<T>(name: &str) -> Result<ActorHandle<T>> {
    let id = rt::get_actor(name)?;
    Ok(ActorHandle::from_owned_id(id))
}

// ---------------------------------------------------------------------------
// Support for the macro
// ---------------------------------------------------------------------------

pub(crate) mod support {
    use std::any::Any;
    use std::cell::RefCell;

    use crate::codec::EncodeArgs;

    use super::{ActorHandle, ActorOptions};
    use crate::Result;

    thread_local! {
        /// The state of the actor this instance is (set by its constructor).
        static ACTOR: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    }

    /// Make `state` the actor state of this instance (the constructor's
    /// last step); a previous state is dropped.
    pub fn set_actor<T: 'static>(state: T) {
        let old = ACTOR.with(|slot| slot.borrow_mut().replace(Box::new(state)));
        drop(old);
    }

    /// Run `f` on this instance's actor state, which must be a `T`.
    pub fn with_actor<T: 'static, R>(
        class: &str,
        function: &str,
        f: impl FnOnce(&mut T) -> std::result::Result<R, String>,
    ) -> std::result::Result<R, String> {
        ACTOR.with(|slot| {
            let Ok(mut slot) = slot.try_borrow_mut() else {
                return Err(format!(
                    "`{function}` called while another method of this actor is running"
                ));
            };
            match slot.as_mut() {
                None => Err(format!(
                    "actor class `{class}`: `{function}` called before the constructor \
                     `{class}.new` ran in this instance"
                )),
                Some(state) => match state.downcast_mut::<T>() {
                    Some(this) => f(this),
                    None => Err(format!(
                        "`{function}` called on an instance that holds an actor of \
                         another class than `{class}`"
                    )),
                },
            }
        })
    }

    /// Create an actor of this module's `class`, panicking if the host
    /// refuses (as `f::remote` does).
    pub fn create_typed<A: EncodeArgs, T>(
        class: &str,
        args: &A,
        options: &ActorOptions,
    ) -> ActorHandle<T> {
        match super::typed_args(args).and_then(|a| super::create_actor_raw(class, &a, options)) {
            Ok(h) => h,
            Err(e) => panic!("cannot create actor `{class}`: {e}"),
        }
    }

    /// Create an actor of this module's `class`; a refusal is an error.
    pub fn try_create_typed<A: EncodeArgs, T>(
        class: &str,
        args: &A,
        options: &ActorOptions,
    ) -> Result<ActorHandle<T>> {
        super::create_actor_raw(class, &super::typed_args(args)?, options)
    }

    /// Whether an actor method called `name` would be shadowed by an
    /// inherent method of [`ActorHandle`] (or clash with the generated
    /// associated items of the class).
    pub const fn reserved_method(name: &str) -> bool {
        const RESERVED: [&str; 11] = [
            "id",
            "ready",
            "kill",
            "call",
            "call_raw",
            "fallible",
            "from_owned_id",
            "remote",
            "try_remote",
            "options",
            "default_options",
        ];
        let mut i = 0;
        while i < RESERVED.len() {
            if str_eq(RESERVED[i], name) {
                return true;
            }
            i += 1;
        }
        false
    }

    const fn str_eq(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}

/// Mark an actor class, like Ray's `@ray.remote class`: on the class's
/// `impl` block, which holds its constructor `new` and its methods; the
/// struct holding the actor's state is declared as usual.
///
/// ```ignore
/// use raylab_guest::{ActorOptions, actor, tasks};
///
/// /// A counter.
/// pub struct Counter {
///     n: i64,
/// }
///
/// #[actor(max_restarts = 1)] // options are optional
/// impl Counter {
///     pub fn new(start: i64) -> Self {
///         Counter { n: start }
///     }
///     pub fn incr(&mut self, by: i64) -> i64 {
///         self.n += by;
///         self.n
///     }
///     pub fn get(&self) -> i64 {
///         self.n
///     }
/// }
///
/// tasks!(Counter); // listed like remote functions
///
/// fn main() -> raylab_guest::Result<()> {
///     let c = Counter::remote(5);                   // ActorHandle<Counter>
///     let r = c.incr(1);                            // ObjectRef<i64>
///     assert_eq!(r.get()?, 6);
///     let named = Counter::options(ActorOptions::new().name("c")).remote(0);
///     Ok(())
/// }
/// ```
///
/// For a class `C` this keeps the `impl` block as written (the methods stay
/// callable locally), and adds:
///
/// * `C::remote(args..)` → [`ActorHandle<C>`]: create an actor with the
///   declared options (the constructor runs in the actor; each argument
///   may be a value, an `ObjectRef` or `&ObjectRef` of its type, as for
///   remote functions); it panics if the host refuses, as `f::remote` does;
///   `C::try_remote(args..)` returns the refusal as an error instead;
/// * `C::options(ActorOptions)` → a `CCreator` with the same `remote` and
///   `try_remote`, its options overriding the declared ones;
/// * `C::CLASS` (the class name), `C::default_options()`;
/// * the trait `CMethods`, with one method per actor method taking the
///   same arguments (values or refs) and returning `ObjectRef<T>` of its
///   result; it is implemented for `ActorHandle<C>` and for
///   [`Fallible<'_, C>`](Fallible) (`handle.fallible().m(..)` returns
///   `Result<ObjectRef<T>>`). Import it where the handle is used in
///   another module (`use crate::CounterMethods`).
///
/// Options are [`ActorOptions`]' builder methods as `key = value`, as for
/// [`remote`](macro@crate::remote) (`#[actor(num_cpus = 1, max_restarts =
/// 2)]`), or a whole builder as `options = ActorOptions::new()...`.
///
/// Rules: the constructor is `new`, taking no receiver and returning `Self`
/// (or a `Result` of it, to fail the creation with the error's message);
/// every function taking `&self` or `&mut self` is a method (both run on
/// the actor's state, one call at a time) and may return a `Result` to fail
/// the call with the error's message; other associated functions stay local
/// helpers. No generics or `async`; `Self` may name the class anywhere. A
/// panic in a method crashes the actor (the host restarts it if
/// `max_restarts` allows). A method cannot be named like an inherent
/// method of [`ActorHandle`] or a generated item (`id`, `ready`, `kill`,
/// `call`, `call_raw`, `fallible`, `remote`, `try_remote`, `options`,
/// `default_options`): that is a compile error.
///
/// The class must be listed in [`tasks!`](crate::tasks!) (which lists
/// `C.new` and every `C.m` among the module's remote functions): one
/// missing is a compile error.
pub use raylab_guest_macros::actor;

/// The code `#[actor]` generates for a class (an implementation detail of
/// the attribute macro).
#[doc(hidden)]
#[macro_export]
macro_rules! __actor_impl {
    // The class's generated items, from the constructor's and methods'
    // signatures as `#[actor]` read them.
    (@methods [$vis:vis $name:ident [$opts:expr]]
        [($($carg:ident : $cty:ty),*) $ckind:ident]
        [$({ [$(#[$mm:meta])*] $m:ident ($($arg:ident : $ty:ty),*) $kind:ident $out:ty })*]
    ) => {
        const _: () = {
            $(::std::assert!(
                !$crate::__private::reserved_method(::std::stringify!($m)),
                ::std::concat!(
                    "actor method `", ::std::stringify!($m),
                    "` has the name of a method of `ActorHandle` or of a generated item: rename it"
                )
            );)*
        };

        $crate::__paste::paste! {
            #[doc = ::std::concat!(
                "The remote methods of [`", ::std::stringify!($name), "`] actors: each submits a call ",
                "and returns a reference to its result (see [`", ::std::stringify!($name),
                "::remote`]). Implemented for `ActorHandle<", ::std::stringify!($name),
                ">` and `Fallible<'_, ", ::std::stringify!($name), ">`."
            )]
            #[allow(dead_code, private_bounds, private_interfaces, clippy::all)]
            $vis trait [<$name Methods>]: $crate::ActorCaller<Class = $name> {
                $(
                    $(#[$mm])*
                    fn $m(&self $(, $arg: impl ::std::convert::Into<$crate::Arg<$ty>>)*)
                        -> <Self as $crate::ActorCaller>::Output<$out>
                    {
                        let args = ($(::std::convert::Into::<$crate::Arg<$ty>>::into($arg),)*);
                        <Self as $crate::ActorCaller>::__call::<_, $out>(self, ::std::stringify!($m), &args)
                    }
                )*
            }

            impl<H: $crate::ActorCaller<Class = $name>> [<$name Methods>] for H {}

            #[doc = ::std::concat!(
                "Creates [`", ::std::stringify!($name), "`] actors with options (`",
                ::std::stringify!($name), "::options(..)`)."
            )]
            #[allow(dead_code, private_interfaces)]
            $vis struct [<$name Creator>](
                /// The options of the actors it creates.
                pub $crate::ActorOptions,
            );

            #[allow(dead_code, private_bounds, private_interfaces, clippy::all)]
            impl [<$name Creator>] {
                /// Create an actor with these options; panics if the host
                /// refuses (see `try_remote`).
                pub fn remote(&self $(, $carg: impl ::std::convert::Into<$crate::Arg<$cty>>)*) -> $crate::ActorHandle<$name> {
                    let args = ($(::std::convert::Into::<$crate::Arg<$cty>>::into($carg),)*);
                    $crate::__private::create_typed($name::CLASS, &args, &self.0)
                }

                /// Create an actor with these options; the host refusing is
                /// an error.
                pub fn try_remote(&self $(, $carg: impl ::std::convert::Into<$crate::Arg<$cty>>)*) -> $crate::Result<$crate::ActorHandle<$name>> {
                    let args = ($(::std::convert::Into::<$crate::Arg<$cty>>::into($carg),)*);
                    $crate::__private::try_create_typed($name::CLASS, &args, &self.0)
                }
            }

            #[allow(dead_code, private_bounds, private_interfaces, clippy::all)]
            impl $name {
                /// The class name the actor is registered under.
                pub const CLASS: &'static str = ::std::stringify!($name);

                /// The options declared with the class (`#[options(..)]`).
                pub fn default_options() -> $crate::ActorOptions {
                    $opts
                }

                /// Create an actor (`Class.remote(..)` in Ray): the
                /// constructor runs in the actor's own instance. Panics if
                /// the host refuses (see `try_remote`).
                pub fn remote($($carg: impl ::std::convert::Into<$crate::Arg<$cty>>),*) -> $crate::ActorHandle<$name> {
                    [<$name Creator>]($name::default_options()).remote($($carg),*)
                }

                /// Create an actor; the host refusing is an error.
                pub fn try_remote($($carg: impl ::std::convert::Into<$crate::Arg<$cty>>),*) -> $crate::Result<$crate::ActorHandle<$name>> {
                    [<$name Creator>]($name::default_options()).try_remote($($carg),*)
                }

                /// Create an actor with options: those set here override the
                /// declared ones (`.options(...)` in Ray).
                pub fn options(options: $crate::ActorOptions) -> [<$name Creator>] {
                    [<$name Creator>](options.or($name::default_options()))
                }

                #[doc(hidden)]
                pub fn __raylab_table() -> &'static [(&'static str, $crate::__private::Invoke)] {
                    const TABLE: &[(&str, $crate::__private::Invoke)] = &[
                        (::std::concat!(::std::stringify!($name), ".new"), {
                            fn invoke(args: ::std::vec::Vec<u8>) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                                const FUNCTION: &str = ::std::concat!(::std::stringify!($name), ".new");
                                let ($($carg,)*): ($($cty,)*) = $crate::__private::decode_args(FUNCTION, args)?;
                                let state: $name = $crate::__actor_impl!(@result $ckind $name::new($($carg),*))?;
                                $crate::__private::set_actor(state);
                                $crate::__private::encode_result(FUNCTION, &::std::stringify!($name))
                            }
                            invoke
                        }),
                        $((::std::concat!(::std::stringify!($name), ".", ::std::stringify!($m)), {
                            fn invoke(args: ::std::vec::Vec<u8>) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                                const FUNCTION: &str = ::std::concat!(::std::stringify!($name), ".", ::std::stringify!($m));
                                let ($($arg,)*): ($($ty,)*) = $crate::__private::decode_args(FUNCTION, args)?;
                                $crate::__private::with_actor(::std::stringify!($name), FUNCTION, |this: &mut $name| {
                                    let out = $crate::__actor_impl!(@result $kind this.$m($($arg),*))?;
                                    $crate::__private::finish(FUNCTION, out)
                                })
                            }
                            invoke
                        }),)*
                    ];
                    TABLE
                }
            }
        }
    };
    (@methods $($rest:tt)*) => {
        ::std::compile_error!(
            "an actor's `impl` block holds its constructor `fn new(..) -> Self` and methods `fn m(&self, ..)` or `fn m(&mut self, ..)` only"
        );
    };
    (@result result $e:expr) => {
        ($e).map_err(|e| ::std::string::ToString::to_string(&e))
    };
    (@result plain $e:expr) => {
        ::std::result::Result::<_, ::std::string::String>::Ok($e)
    };
}
