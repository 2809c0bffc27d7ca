//! Unit tests of the SDK's pure parts, run natively:
//! `cargo test --manifest-path guest-tasks/Cargo.toml -p raylab-guest`.
//!
//! The runtime's imports exist only in a component (natively wit-bindgen
//! makes them `unreachable!()`), so nothing here may reach them: no `get`,
//! `put` or `submit`, and every [`ObjectRef`] made here is kept from being
//! dropped (its `Drop` releases the reference on the host).
//!
//! Longer than ~600 lines by choice: one test per behaviour of the SDK's
//! pure parts, sharing the helpers at the top.

use std::mem::ManuallyDrop;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;
use crate::refs::bin_header;
use serde::Serializer;

/// A reference that is never dropped (see the module's doc).
fn object_ref<T>(id: u64) -> ManuallyDrop<ObjectRef<T>> {
    ManuallyDrop::new(ObjectRef::from_owned_id(id))
}

/// The MessagePack form of a reference to `id`: fixext 8 of type 82.
fn ref_bytes(id: u64) -> Vec<u8> {
    let mut b = vec![0xd7, 0x52];
    b.extend_from_slice(&id.to_be_bytes());
    b
}

fn round_trip<T: Serialize + DeserializeOwned + 'static>(value: &T) -> T {
    decode(&encode(value).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i64,
    label: String,
    weights: Vec<f64>,
    next: Option<Box<Point>>,
}

#[test]
fn values_round_trip() {
    assert_eq!(round_trip(&42i64), 42);
    assert_eq!(round_trip(&-1.5f64), -1.5);
    assert_eq!(round_trip(&String::from("héllo")), "héllo");
    assert_eq!(round_trip(&(1u8, true, 'x')), (1u8, true, 'x'));
    assert_eq!(round_trip(&vec![Some(1u32), None]), vec![Some(1u32), None]);
    let p = Point {
        x: -7,
        label: "a".into(),
        weights: vec![0.25, f64::MAX],
        next: Some(Box::new(Point {
            x: 1,
            label: String::new(),
            weights: vec![],
            next: None,
        })),
    };
    assert_eq!(round_trip(&p), p);
}

#[test]
fn structs_travel_as_maps_and_arguments_as_arrays() {
    #[derive(Serialize)]
    struct S {
        a: u8,
    }
    // {"a": 1}: field names go along, so other languages can read them.
    assert_eq!(encode(&S { a: 1 }).unwrap(), [0x81, 0xa1, b'a', 0x01]);
    // An argument tuple is a MessagePack array.
    assert_eq!(encode(&(1i64, "x")).unwrap(), [0x92, 0x01, 0xa1, b'x']);
}

#[test]
fn a_value_that_does_not_decode_is_an_invalid_argument_saying_why() {
    let bytes = encode(&"seven").unwrap();
    let e = decode::<i64>(&bytes).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.task, None);
    // What it expected, then rmp-serde's reason.
    let cause = rmp_serde::from_slice::<i64>(&bytes).unwrap_err();
    assert_eq!(
        e.message,
        format!("could not decode the value as `i64`: {cause}")
    );
    // Truncated input, and a struct missing a field.
    let e = decode::<Vec<u32>>(&[0x93, 0x01]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("Vec<u32>"), "{}", e.message);
    let e = decode::<Point>(&encode(&std::collections::BTreeMap::from([("x", 1)])).unwrap())
        .unwrap_err();
    assert!(e.message.contains("Point"), "{}", e.message);
    assert!(
        e.message.contains("label"),
        "names the field: {}",
        e.message
    );
}

#[test]
fn a_value_that_does_not_encode_is_an_invalid_argument_saying_why() {
    struct Refuses;
    impl Serialize for Refuses {
        fn serialize<S: Serializer>(&self, _: S) -> std::result::Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("not today"))
        }
    }
    let e = encode(&Refuses).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("Refuses"), "{}", e.message);
    assert!(e.message.ends_with("not today"), "{}", e.message);
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn error_kinds_display_as_their_names() {
    for (kind, name) in [
        (ErrorKind::TaskFailed, "task-failed"),
        (ErrorKind::TaskCrashed, "task-crashed"),
        (ErrorKind::DependencyFailed, "dependency-failed"),
        (ErrorKind::NoSuchFunction, "no-such-function"),
        (ErrorKind::UnknownObject, "unknown-object"),
        (ErrorKind::ObjectStoreFull, "object-store-full"),
        (ErrorKind::Timeout, "timeout"),
        (ErrorKind::InvalidArgument, "invalid-argument"),
        (ErrorKind::Infeasible, "infeasible"),
        (ErrorKind::Cancelled, "cancelled"),
        (ErrorKind::MemoryQuotaExceeded, "memory-quota-exceeded"),
        (ErrorKind::TimeLimitExceeded, "time-limit-exceeded"),
        (ErrorKind::TooManyTasks, "too-many-tasks"),
        (ErrorKind::ActorDied, "actor-died"),
        (ErrorKind::Internal, "internal"),
    ] {
        assert_eq!(kind.to_string(), name);
    }
    // Width and alignment apply, as to any string.
    assert_eq!(format!("[{:<10}]", ErrorKind::Timeout), "[timeout   ]");
    // Exactly the host's names (its `kind_name`), so output reads the same.
    assert_eq!(ErrorKind::ObjectStoreFull.to_string(), "object-store-full");
}

#[test]
fn errors_display_the_task_and_message_and_come_from_the_host_unchanged() {
    let e = Error::from(wit::Error {
        kind: ErrorKind::TimeLimitExceeded,
        task: Some("spin".into()),
        message: "exceeded its time limit of 0.3 s".into(),
    });
    assert_eq!(e.kind, ErrorKind::TimeLimitExceeded);
    assert_eq!(e.task.as_deref(), Some("spin"));
    assert_eq!(
        e.to_string(),
        "task `spin`: exceeded its time limit of 0.3 s"
    );
    assert_eq!(
        format!("{}: {e}", e.kind),
        "time-limit-exceeded: task `spin`: exceeded its time limit of 0.3 s"
    );
    let e = Error::from(wit::Error {
        kind: ErrorKind::ObjectStoreFull,
        task: None,
        message: "no room".into(),
    });
    assert_eq!(e.to_string(), "no room");
}

// ---------------------------------------------------------------------------
// Object references
// ---------------------------------------------------------------------------

#[test]
fn an_object_ref_is_ext_82_with_a_big_endian_id() {
    let r = object_ref::<i64>(0x0102_0304_0506_0708);
    assert_eq!(encode(&*r).unwrap(), [0xd7, 0x52, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(OBJECT_REF_EXT, b'R' as i8);
    for id in [0, 1, 255, u64::MAX] {
        let r = object_ref::<String>(id);
        let bytes = encode(&*r).unwrap();
        assert_eq!(bytes, ref_bytes(id));
        // The id reads back (without the host's reference count).
        assert_eq!(decode::<RefId>(&bytes).unwrap().0, id);
    }
}

#[test]
fn only_a_well_formed_ext_82_reads_as_a_reference() {
    let mut other_type = ref_bytes(5);
    other_type[1] = 0x51;
    // fixext 4 of type 82: a payload of the wrong length.
    let short = [0xd6, 0x52, 0, 0, 0, 5];
    for bad in [other_type.as_slice(), &short, &[0x05], &[0xa1, b'R']] {
        let e = decode::<RefId>(bad).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{bad:x?}");
    }
}

#[test]
fn args_are_values_or_dependencies() {
    // A value goes as itself; a ref as the ref (the host resolves it).
    assert_eq!(encode(&Arg::Value(5i64)).unwrap(), [0x05]);
    let dep = ManuallyDrop::new(Arg::Ref(ObjectRef::<i64>::from_owned_id(9)));
    assert_eq!(encode(&*dep).unwrap(), ref_bytes(9));
    // As a remote call's argument list: `f.remote(1, &r)`.
    let args = ManuallyDrop::new((
        Arg::from(1i64),
        Arg::Ref(ObjectRef::<i64>::from_owned_id(9)),
    ));
    let mut expect = vec![0x92, 0x01];
    expect.extend(ref_bytes(9));
    assert_eq!(encode(&*args).unwrap(), expect);
}

#[test]
fn by_ref_travels_as_a_ref_nested_in_a_one_element_array() {
    let by_ref = ManuallyDrop::new(ByRef(ObjectRef::<PackedVec<f64>>::from_owned_id(3)));
    let mut expect = vec![0x91];
    expect.extend(ref_bytes(3));
    assert_eq!(encode(&*by_ref).unwrap(), expect);
    // A `ByRef` parameter is declared with `Arg<ByRef<T>>`, and the caller
    // passes `&data_ref`: it must encode the same.
    let arg = ManuallyDrop::new(Arg::<ByRef<PackedVec<f64>>>::from(ObjectRef::<
        PackedVec<f64>,
    >::from_owned_id(3)));
    assert_eq!(encode(&*arg).unwrap(), expect);
    // The nested form reads back as the same id.
    assert_eq!(decode::<(RefId,)>(&expect).unwrap().0.0, 3);
}

#[test]
fn object_refs_compare_by_id_and_cast_keeps_it() {
    let a = object_ref::<i64>(4);
    let b = object_ref::<i64>(4);
    let c = object_ref::<i64>(5);
    assert_eq!(*a, *b);
    assert_ne!(*a, *c);
    assert_eq!(format!("{:?}", *a), "ObjectRef(4)");
    let cast = ManuallyDrop::new(ManuallyDrop::into_inner(a).cast::<String>());
    assert_eq!(cast.id(), 4);
}

// ---------------------------------------------------------------------------
// Packed vectors
// ---------------------------------------------------------------------------

/// A byte string as serde sees one (what `serde_bytes` does).
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// The MessagePack `bin` (the shortest header) of `payload`, built by hand.
fn bin(payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    let mut out = if n < 1 << 8 {
        vec![0xc4, n as u8]
    } else if n < 1 << 16 {
        let mut h = vec![0xc5];
        h.extend((n as u16).to_be_bytes());
        h
    } else {
        let mut h = vec![0xc6];
        h.extend((n as u32).to_be_bytes());
        h
    };
    out.extend_from_slice(payload);
    out
}

#[test]
fn a_packed_vec_is_one_bin_of_little_endian_elements() {
    for n in [0usize, 3, 31, 32, 8191, 8192, 70_000] {
        let xs: Vec<f64> = (0..n).map(|i| i as f64 * 0.5 - 7.0).collect();
        let le: Vec<u8> = xs.iter().flat_map(|x| x.to_le_bytes()).collect();
        let bytes = encode(&PackedVec(xs.clone())).unwrap();
        assert_eq!(bytes, bin(&le), "{n} elements");
        // What rmp-serde itself makes of the same bytes.
        assert_eq!(
            bytes,
            rmp_serde::to_vec(&Bytes(&le)).unwrap(),
            "{n} elements"
        );
        assert_eq!(decode::<PackedVec<f64>>(&bytes).unwrap().0, xs);
        // get_range finds the payload where the encoding puts it.
        let (skip, len) = bin_header(&bytes[..bytes.len().min(5)]).unwrap();
        assert_eq!((skip, len), (bytes.len() - le.len(), le.len()));
        assert_eq!(&bytes[skip..], le);
    }
    assert_eq!(
        bin_header(&encode(&vec![1.0f64]).unwrap()),
        None,
        "an array"
    );
    assert_eq!(bin_header(&[0xc5, 0x01]), None, "a cut header");
}

#[test]
fn packed_vecs_of_every_number_type_round_trip() {
    fn check<T>(xs: Vec<T>)
    where
        T: Packable + PartialEq + std::fmt::Debug + Serialize + DeserializeOwned,
    {
        let packed = PackedVec(xs.clone());
        let bytes = encode(&packed).unwrap();
        assert_eq!(bytes.len(), bin(&vec![0; xs.len() * T::SIZE]).len());
        assert_eq!(round_trip(&packed).0, xs);
        // Also from a plain array of the same numbers.
        assert_eq!(decode::<PackedVec<T>>(&encode(&xs).unwrap()).unwrap().0, xs);
    }
    check(vec![f64::MIN, -0.0, 1e-300, f64::INFINITY]);
    check(vec![f32::MAX, -1.5, 0.0]);
    check(vec![i64::MIN, -1, 0, i64::MAX]);
    check(vec![u64::MAX, 0, 1]);
    check(vec![i32::MIN, 7]);
    check(vec![u32::MAX, 7]);
    check(vec![i16::MIN, -2]);
    check(vec![u16::MAX, 2]);
    check(vec![i8::MIN, -3, i8::MAX]);
    check(vec![0u8, 255, 3]);
    check::<f64>(vec![]);
    // NaN survives bit for bit.
    let nan = f64::from_bits(0x7ff8_0000_dead_beef);
    let back = round_trip(&PackedVec(vec![nan]));
    assert_eq!(back[0].to_bits(), nan.to_bits());
}

#[test]
fn a_packed_vec_refuses_a_partial_element() {
    let e = decode::<PackedVec<f64>>(&bin(&[0; 12])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(
        e.message
            .contains("12 bytes is not a whole number of 8-byte elements"),
        "{}",
        e.message
    );
}

#[test]
fn a_packed_vec_is_a_vec() {
    let mut v: PackedVec<u32> = (1..=3).collect();
    v.push(4);
    assert_eq!(v.len(), 4);
    assert_eq!(v.iter().sum::<u32>(), 10);
    assert_eq!(v.clone().into_iter().collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(PackedVec::from(vec![1u32, 2, 3, 4]), v);
}

// ---------------------------------------------------------------------------
// Task options
// ---------------------------------------------------------------------------

#[test]
fn task_options_build_up() {
    let o = TaskOptions::new()
        .name("train")
        .num_cpus(2.0)
        .num_gpus(0.5)
        .memory(1 << 30)
        .resource("TPU", 1.0)
        .resource("disk", 3.0)
        .max_retries(0)
        .retry_exceptions(true)
        .timeout(Duration::from_millis(1500))
        .isolation(Isolation::Warm);
    assert_eq!(o.name.as_deref(), Some("train"));
    assert_eq!((o.num_cpus, o.num_gpus), (Some(2.0), Some(0.5)));
    assert_eq!(o.memory, Some(1 << 30));
    assert_eq!(
        o.resources,
        [("TPU".to_string(), 1.0), ("disk".to_string(), 3.0)]
    );
    assert_eq!(o.max_retries, Some(0));
    assert_eq!(o.retry_exceptions, Some(true));
    assert_eq!(o.timeout, Some(Duration::from_millis(1500)));
    assert_eq!(o.isolation, Some(Isolation::Warm));

    // What the host receives.
    let w = o.to_wit();
    assert_eq!(w.name.as_deref(), Some("train"));
    assert_eq!(
        (w.num_cpus, w.num_gpus, w.memory),
        (Some(2.0), Some(0.5), Some(1 << 30))
    );
    let res: Vec<(String, f64)> = w
        .resources
        .iter()
        .map(|r| (r.name.clone(), r.amount))
        .collect();
    assert_eq!(res, o.resources);
    assert_eq!((w.max_retries, w.retry_exceptions), (Some(0), Some(true)));
    assert_eq!(w.timeout_ms, Some(1500));
    assert!(matches!(w.isolation, Some(wit::Isolation::Warm)));

    // Unset fields stay unset: the host's defaults apply.
    let w = TaskOptions::new().to_wit();
    assert!(w.name.is_none() && w.num_cpus.is_none() && w.num_gpus.is_none());
    assert!(w.memory.is_none() && w.resources.is_empty() && w.max_retries.is_none());
    assert!(w.retry_exceptions.is_none() && w.timeout_ms.is_none() && w.isolation.is_none());
    assert!(matches!(
        TaskOptions::new()
            .isolation(Isolation::Fresh)
            .to_wit()
            .isolation,
        Some(wit::Isolation::Fresh)
    ));
}

#[test]
fn call_options_override_declared_ones_field_by_field() {
    let declared = TaskOptions::new()
        .num_gpus(1.0)
        .max_retries(5)
        .resource("TPU", 1.0)
        .resource("disk", 2.0);
    let o = TaskOptions::new()
        .num_gpus(0.5)
        .name("half")
        .resource("disk", 9.0)
        .or(declared);
    assert_eq!(o.num_gpus, Some(0.5), "set at the call: wins");
    assert_eq!(o.name.as_deref(), Some("half"));
    assert_eq!(o.max_retries, Some(5), "unset at the call: declared");
    assert_eq!(o.num_cpus, None, "set nowhere: the host's default");
    assert_eq!(
        o.resources,
        [("TPU".to_string(), 1.0), ("disk".to_string(), 9.0)],
        "resources merge by name"
    );
}

#[test]
fn tasks_and_actors_share_one_builder_for_what_they_demand() {
    let t = TaskOptions::new()
        .num_cpus(2.0)
        .num_gpus(0.5)
        .memory(1 << 20)
        .resource("disk", 1.0)
        .timeout(Duration::from_secs(3));
    let a = ActorOptions::new()
        .num_cpus(2.0)
        .num_gpus(0.5)
        .memory(1 << 20)
        .resource("disk", 1.0)
        .timeout(Duration::from_secs(3));
    assert_eq!(
        (t.num_cpus, t.num_gpus, t.memory, &t.resources, t.timeout),
        (a.num_cpus, a.num_gpus, a.memory, &a.resources, a.timeout)
    );
    // Resources merge by name the same way for both.
    let merged = ActorOptions::new()
        .resource("disk", 9.0)
        .or(ActorOptions::new()
            .resource("TPU", 1.0)
            .resource("disk", 2.0));
    assert_eq!(
        merged.resources,
        [("TPU".to_string(), 1.0), ("disk".to_string(), 9.0)]
    );
}

// ---------------------------------------------------------------------------
// Remote functions (their host-facing side; submitting needs the host)
// ---------------------------------------------------------------------------

/// Add two numbers.
#[remote]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Divide, failing on zero.
#[remote(num_gpus = 1.0, max_retries = 1)]
fn div(a: i64, b: i64) -> Result<i64, String> {
    if b == 0 {
        Err("division by zero".into())
    } else {
        Ok(a / b)
    }
}

/// No arguments.
#[remote]
fn answer() -> u8 {
    42
}

/// A `Result` alias (one type argument) and a pattern argument.
#[remote(num_cpus = 2, resource = ("disk", 1), spread)]
fn parse((text, radix): (String, u32)) -> std::io::Result<u32> {
    u32::from_str_radix(&text, radix).map_err(std::io::Error::other)
}

#[test]
fn attribute_options_are_the_builders_calls_whole_numbers_as_amounts() {
    let d = div::default_options();
    assert_eq!((d.num_gpus, d.max_retries), (Some(1.0), Some(1)));
    let p = parse::default_options();
    let want = TaskOptions::new()
        .num_cpus(2.0)
        .resource("disk", 1.0)
        .spread();
    // (TaskOptions has no PartialEq: compared by their Debug forms.)
    assert_eq!(format!("{p:?}"), format!("{want:?}"));
    let none = format!("{:?}", TaskOptions::default());
    assert_eq!(format!("{:?}", answer::default_options()), none);
}

#[test]
fn a_result_alias_fails_the_task_with_its_message() {
    let out = parse::__invoke(encode(&(("ff".to_string(), 16u32),)).unwrap()).unwrap();
    assert_eq!(decode::<u32>(&out).unwrap(), 255);
    let e = parse::__invoke(encode(&(("zz".to_string(), 10u32),)).unwrap()).unwrap_err();
    assert!(e.contains("invalid digit"), "{e}");
}

#[test]
fn remote_functions_stay_plain_functions() {
    assert_eq!(add(2, 3), 5);
    assert_eq!(div(7, 0), Err("division by zero".to_string()));
    assert_eq!(add::NAME, "add");
    assert_eq!(div::NAME, "div");
}

#[test]
fn remote_functions_decode_their_arguments_and_encode_their_results() {
    let out = add::__invoke(encode(&(2i64, 40i64)).unwrap()).unwrap();
    assert_eq!(decode::<i64>(&out).unwrap(), 42);
    let out = div::__invoke(encode(&(9i64, 3i64)).unwrap()).unwrap();
    assert_eq!(decode::<i64>(&out).unwrap(), 3);
    // The function's own error is the task's failure message.
    assert_eq!(
        div::__invoke(encode(&(1i64, 0i64)).unwrap()).unwrap_err(),
        "division by zero"
    );
    // No arguments arrive as an empty array.
    let out = answer::__invoke(vec![0x90]).unwrap();
    assert_eq!(decode::<u8>(&out).unwrap(), 42);
    // Bad arguments name the function.
    let e = add::__invoke(encode(&("x", 1i64)).unwrap()).unwrap_err();
    assert!(e.starts_with("bad arguments for `add`: "), "{e}");
    let e = add::__invoke(encode(&(1i64,)).unwrap()).unwrap_err();
    assert!(e.starts_with("bad arguments for `add`: "), "{e}");
}

#[test]
fn declared_options_are_defaults_that_calls_override() {
    let d = div::default_options();
    assert_eq!((d.num_gpus, d.max_retries), (Some(1.0), Some(1)));
    assert_eq!(add::default_options().num_gpus, None);
    let caller = div::options(TaskOptions::new().num_gpus(0.5));
    assert_eq!(
        (caller.0.num_gpus, caller.0.max_retries),
        (Some(0.5), Some(1))
    );
}

// ---------------------------------------------------------------------------
// Actors (their host-facing side; creating and calling needs the host)
// ---------------------------------------------------------------------------

#[test]
fn actor_options_build_up() {
    let o = ActorOptions::new()
        .name("board")
        .num_cpus(1.0)
        .num_gpus(0.25)
        .memory(64 << 20)
        .resource("TPU", 1.0)
        .max_restarts(2)
        .max_task_retries(1)
        .timeout(Duration::from_millis(300))
        .detached(true);
    assert_eq!(o.name.as_deref(), Some("board"));
    assert_eq!((o.num_cpus, o.num_gpus), (Some(1.0), Some(0.25)));
    assert_eq!(o.memory, Some(64 << 20));
    assert_eq!(o.resources, [("TPU".to_string(), 1.0)]);
    assert_eq!((o.max_restarts, o.max_task_retries), (Some(2), Some(1)));
    assert_eq!(o.timeout, Some(Duration::from_millis(300)));
    assert_eq!(o.detached, Some(true));

    // What the host receives.
    let w = o.to_wit();
    assert_eq!(w.name.as_deref(), Some("board"));
    assert_eq!(
        (w.num_cpus, w.num_gpus, w.memory),
        (Some(1.0), Some(0.25), Some(64 << 20))
    );
    assert_eq!(w.resources.len(), 1);
    assert_eq!(
        (w.resources[0].name.as_str(), w.resources[0].amount),
        ("TPU", 1.0)
    );
    assert_eq!((w.max_restarts, w.max_task_retries), (Some(2), Some(1)));
    assert_eq!(w.timeout_ms, Some(300));
    assert!(w.detached);

    // Unset fields stay unset: the host's defaults apply; not detached.
    let w = ActorOptions::new().to_wit();
    assert!(w.name.is_none() && w.num_cpus.is_none() && w.num_gpus.is_none());
    assert!(w.memory.is_none() && w.resources.is_empty() && w.max_restarts.is_none());
    assert!(w.max_task_retries.is_none() && w.timeout_ms.is_none() && !w.detached);
}

#[test]
fn actor_options_override_declared_ones_field_by_field() {
    let declared = ActorOptions::new()
        .max_restarts(1)
        .num_cpus(1.0)
        .resource("TPU", 1.0)
        .resource("disk", 2.0)
        .detached(true);
    let o = ActorOptions::new()
        .name("c")
        .num_cpus(0.0)
        .resource("disk", 9.0)
        .detached(false)
        .or(declared.clone());
    assert_eq!(o.name.as_deref(), Some("c"));
    assert_eq!(o.num_cpus, Some(0.0), "set at the call: wins");
    assert_eq!(o.max_restarts, Some(1), "unset at the call: declared");
    assert_eq!(o.detached, Some(false), "explicitly not detached: wins");
    assert_eq!(o.timeout, None, "set nowhere: the host's default");
    assert_eq!(
        o.resources,
        [("TPU".to_string(), 1.0), ("disk".to_string(), 9.0)],
        "resources merge by name"
    );
    // Nothing set: the declared options as they are.
    assert_eq!(ActorOptions::new().or(declared.clone()), declared);
}

/// Two classes that share a method name (`get`), one with the optional
/// declared options, fallible constructor and methods, and every receiver.
mod classes {
    use super::*;

    /// A counter.
    pub struct Counter {
        n: i64,
    }

    #[actor(max_restarts = 1, num_cpus = 0.5)]
    impl Counter {
        /// Start at `start`.
        pub fn new(start: i64) -> Self {
            Counter { n: start }
        }
        /// Add `by`; the new count.
        pub fn incr(&mut self, by: i64) -> i64 {
            self.n += by;
            self.n
        }
        /// The count.
        pub fn get(&self) -> i64 {
            self.n
        }
        /// Divide the count, failing on zero.
        pub fn divide(&mut self, by: i64) -> Result<i64, String> {
            if by == 0 {
                return Err(format!("cannot divide {} by zero", self.n));
            }
            self.n /= by;
            Ok(self.n)
        }
        /// Back to zero.
        pub fn reset(&mut self) {
            self.n = 0
        }
    }

    /// A log of strings; refuses an empty name.
    pub struct Journal {
        name: String,
        lines: Vec<String>,
    }

    #[actor]
    impl Journal {
        /// A journal called `name`.
        pub fn new(name: String) -> Result<Self, String> {
            if name.is_empty() {
                return Err("a journal needs a name".into());
            }
            Ok(Journal {
                name,
                lines: Vec::new(),
            })
        }
        /// Append a line; the number of lines.
        pub fn write(&mut self, line: String, times: u32) -> usize {
            for _ in 0..times {
                self.lines.push(line.clone());
            }
            self.lines.len()
        }
        /// Its name and lines.
        pub fn get(&self) -> (String, Vec<String>) {
            (self.name.clone(), self.lines.clone())
        }
    }

    /// Stateless.
    pub struct Unit;

    #[actor]
    impl Unit {
        /// Nothing to build.
        pub fn new() -> Self {
            Unit
        }
        /// Always 7.
        pub fn seven(&self) -> u8 {
            7
        }
    }

    /// A remote function beside the classes.
    #[remote]
    pub fn twice(x: i64) -> i64 {
        2 * x
    }

    /// Method-call syntax on handles resolves to the right class's trait
    /// with the right result types (compiled, never run: calls need the
    /// host).
    #[allow(dead_code, clippy::needless_borrows_for_generic_args)]
    fn method_calls_type_check(c: &ActorHandle<Counter>, j: &ActorHandle<Journal>) {
        let _: ObjectRef<i64> = c.incr(1);
        let _: ObjectRef<i64> = c.incr(&ObjectRef::<i64>::from_owned_id(1));
        let _: ObjectRef<i64> = c.get();
        let _: ObjectRef<i64> = c.divide(2);
        let _: ObjectRef<()> = c.reset();
        let _: ObjectRef<(String, Vec<String>)> = j.get();
        let _: ObjectRef<usize> = j.write("x".to_string(), 2u32);
        let _: Result<ObjectRef<i64>> = c.fallible().incr(1);
        let _: ActorHandle<Counter> = Counter::remote(1);
        let _: Result<ActorHandle<Journal>> = Journal::try_remote("j".to_string());
        let _: ActorHandle<Counter> = Counter::options(ActorOptions::new().name("c")).remote(5);
        let _: Result<ActorHandle<Unit>> = Unit::options(ActorOptions::new()).try_remote();
        let _: ObjectRef<ActorHandle<Counter>> = put(c).unwrap();
    }
}

use classes::{Counter, Journal, Unit, twice};

#[test]
fn a_class_registers_its_constructor_and_methods_beside_remote_functions() {
    let table = __private::collect_table(&[
        twice::__raylab_table(),
        Counter::__raylab_table(),
        Journal::__raylab_table(),
        Unit::__raylab_table(),
    ]);
    let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "twice",
            "Counter.new",
            "Counter.incr",
            "Counter.get",
            "Counter.divide",
            "Counter.reset",
            "Journal.new",
            "Journal.write",
            "Journal.get",
            "Unit.new",
            "Unit.seven",
        ]
    );
    assert_eq!(Counter::CLASS, "Counter");
    // Declared options, and `options(..)` over them.
    let d = Counter::default_options();
    assert_eq!((d.max_restarts, d.num_cpus), (Some(1), Some(0.5)));
    assert_eq!(Journal::default_options(), ActorOptions::default());
    let o = Counter::options(ActorOptions::new().name("c").num_cpus(0.0)).0;
    assert_eq!(o.name.as_deref(), Some("c"));
    assert_eq!((o.max_restarts, o.num_cpus), (Some(1), Some(0.0)));
    // The methods stay plain methods.
    let mut c = Counter::new(1);
    assert_eq!((c.incr(2), c.get()), (3, 3));
}

fn call<T: DeserializeOwned + 'static>(
    table: &[(&str, __private::Invoke)],
    function: &str,
    args: &impl Serialize,
) -> std::result::Result<T, String> {
    let mut bytes = encode(args).unwrap();
    if bytes == [0xc0] {
        bytes = vec![0x90];
    }
    __private::route(table, function, bytes).map(|out| decode(&out).unwrap())
}

#[test]
fn an_actor_keeps_its_state_in_the_instance_between_calls() {
    let table = __private::collect_table(&[Counter::__raylab_table(), twice::__raylab_table()]);
    // A method before the constructor: an error naming the class.
    let e = call::<i64>(&table, "Counter.incr", &(1i64,)).unwrap_err();
    assert!(e.contains("`Counter`"), "{e}");
    assert!(e.contains("before the constructor `Counter.new`"), "{e}");
    // The constructor answers with the class name (what the handle's
    // object holds).
    let class: String = call(&table, "Counter.new", &(5i64,)).unwrap();
    assert_eq!(class, "Counter");
    assert_eq!(call::<i64>(&table, "Counter.incr", &(1i64,)), Ok(6));
    assert_eq!(call::<i64>(&table, "Counter.incr", &(10i64,)), Ok(16));
    assert_eq!(call::<i64>(&table, "Counter.get", &()), Ok(16));
    assert_eq!(call::<i64>(&table, "Counter.divide", &(4i64,)), Ok(4));
    // A method's own error fails the call, and the state stays.
    assert_eq!(
        call::<i64>(&table, "Counter.divide", &(0i64,)),
        Err("cannot divide 4 by zero".to_string())
    );
    call::<()>(&table, "Counter.reset", &()).unwrap();
    assert_eq!(call::<i64>(&table, "Counter.get", &()), Ok(0));
    // Remote functions in the same table still work.
    assert_eq!(call::<i64>(&table, "twice", &(21i64,)), Ok(42));
    // Bad arguments name the method.
    let e = call::<i64>(&table, "Counter.incr", &("x",)).unwrap_err();
    assert!(e.starts_with("bad arguments for `Counter.incr`: "), "{e}");
    // The constructor run again starts over.
    call::<String>(&table, "Counter.new", &(100i64,)).unwrap();
    assert_eq!(call::<i64>(&table, "Counter.get", &()), Ok(100));
    // Unknown names list what there is.
    let e = call::<i64>(&table, "Counter.nope", &()).unwrap_err();
    assert!(e.contains("no remote function `Counter.nope`"), "{e}");
    assert!(e.contains("Counter.incr"), "{e}");
}

#[test]
fn a_failing_constructor_leaves_no_actor_and_classes_do_not_mix() {
    let table = __private::collect_table(&[Counter::__raylab_table(), Journal::__raylab_table()]);
    assert_eq!(
        call::<String>(&table, "Journal.new", &("",)),
        Err("a journal needs a name".to_string())
    );
    let e = call::<usize>(&table, "Journal.write", &("a", 1u32)).unwrap_err();
    assert!(e.contains("before the constructor `Journal.new`"), "{e}");
    call::<String>(&table, "Journal.new", &("j",)).unwrap();
    assert_eq!(call::<usize>(&table, "Journal.write", &("a", 2u32)), Ok(2));
    assert_eq!(
        call::<(String, Vec<String>)>(&table, "Journal.get", &()),
        Ok(("j".to_string(), vec!["a".to_string(), "a".to_string()]))
    );
    // This instance is a Journal: a Counter method refuses, naming both.
    let e = call::<i64>(&table, "Counter.get", &()).unwrap_err();
    assert!(e.contains("another class than `Counter`"), "{e}");
    // A stateless class.
    let table = Unit::__raylab_table();
    call::<String>(table, "Unit.new", &()).unwrap();
    assert_eq!(call::<u8>(table, "Unit.seven", &()), Ok(7));
}

#[test]
fn an_actor_handle_travels_as_a_nested_ref_not_a_dependency() {
    let h = ManuallyDrop::new(ActorHandle::<Counter>::from_owned_id(3));
    let mut expect = vec![0x91];
    expect.extend(ref_bytes(3));
    assert_eq!(encode(&*h).unwrap(), expect, "like ByRef: [ext 82]");
    assert_eq!(format!("{:?}", *h), "ActorHandle(3)");
    assert_eq!(h.id(), 3);
    // As an argument (by value) and inside a value.
    let arg = ManuallyDrop::new(Arg::from(ActorHandle::<Counter>::from_owned_id(3)));
    assert_eq!(encode(&*arg).unwrap(), expect);
    let args = ManuallyDrop::new((
        Arg::from(1i64),
        Arg::from(ActorHandle::<Counter>::from_owned_id(3)),
    ));
    let mut list = vec![0x92, 0x01];
    list.extend(&expect);
    assert_eq!(encode(&*args).unwrap(), list);
    #[derive(Serialize)]
    struct Holder {
        c: ActorHandle<Counter>,
    }
    let holder = ManuallyDrop::new(Holder {
        c: ActorHandle::from_owned_id(3),
    });
    let mut map = vec![0x81, 0xa1, b'c'];
    map.extend(&expect);
    assert_eq!(encode(&*holder).unwrap(), map);
    // The nested form reads back as the same id; a bare ref (what a
    // dependency would be) is not a handle.
    assert_eq!(decode::<(RefId,)>(&expect).unwrap().0.0, 3);
    assert!(decode::<ActorHandle<Counter>>(&ref_bytes(3)).is_err());
}

#[test]
fn actor_method_names_that_handles_shadow_are_reserved() {
    for name in [
        "id", "ready", "kill", "call", "call_raw", "fallible", "remote", "options",
    ] {
        assert!(__private::reserved_method(name), "{name}");
    }
    for name in ["incr", "get", "kil", "idx", ""] {
        assert!(!__private::reserved_method(name), "{name}");
    }
}

#[test]
fn an_error_debugs_as_one_line_with_its_kind() {
    let e = Error {
        kind: ErrorKind::NoSuchFunction,
        task: Some("nope".into()),
        message: "no such function".into(),
    };
    // What Rust prints for a `main` that returns it: `Error: {e:?}`.
    assert_eq!(
        format!("{e:?}"),
        "no-such-function: task `nope`: no such function"
    );
}

/// What a split put hands the host is, header then body, the bytes a
/// whole put would have sent.
fn split_is_whole<T: Serialize + 'static>(value: &T) {
    let (head, body) = crate::codec::split_value(value)
        .unwrap()
        .expect("a type whose encoding splits");
    let mut whole = Vec::new();
    crate::codec::encode_value(value, &mut whole).unwrap();
    assert_eq!([&head[..], body].concat(), whole);
    assert!(head.len() <= 6);
}

#[test]
fn a_byte_or_number_vector_is_put_from_where_it_is_as_the_same_bytes() {
    split_is_whole(&vec![7u8; 70_000]);
    split_is_whole(&vec![1u8; 3]);
    split_is_whole(&vec![0.5f64; 100_000]);
    split_is_whole(&vec![-3i64; 9]);
    split_is_whole(&vec![2.5f32; 1]);
    split_is_whole(&PackedVec(vec![1.25f64; 200_000]));
    split_is_whole(&PackedVec(vec![9u16; 40_000]));
    // Other types are encoded whole.
    assert!(
        crate::codec::split_value(&"text".to_string())
            .unwrap()
            .is_none()
    );
    assert!(crate::codec::split_value(&(1u8, 2u8)).unwrap().is_none());
}
