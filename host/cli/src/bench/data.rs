//! Moving data: `put` and `get` of large objects against `memcpy`, plain
//! Rust types as arguments and results, and spilling to disk.

use super::{Bench, BenchArgs, Better, Figure, median, native};

/// `put` and `get` of 100 MB, beside a `memcpy` of as much.
pub(super) fn put(b: &Bench, args: &BenchArgs, add: &mut impl FnMut(Figure)) -> anyhow::Result<()> {
    let copy = native::memcpy_gbps(args.runs);
    add(Figure {
        name: "memcpy of 100 MB (baseline)",
        value: copy,
        unit: "GB/s",
        better: Better::Higher,
        target: None,
        ray: None,
        note: "warm buffers, this process".into(),
    });
    for (name, mode) in [("put of 100 MB", "put"), ("get of 100 MB", "get")] {
        let v = b.guest(&[], &[mode, "100"])?;
        add(Figure {
            name,
            value: v,
            unit: "GB/s",
            better: Better::Higher,
            target: Some(10.0),
            ray: Some("1.4 GB/s (ray.put)"),
            note: format!("{:.1}x Ray, {:.2}x memcpy", v / 1.4, v / copy),
        });
    }
    Ok(())
}

/// Plain Rust types of 100 MB as a task's argument and result, and as a
/// `put` and `get`.
pub(super) fn plain(b: &Bench, add: &mut impl FnMut(Figure)) -> anyhow::Result<()> {
    // Plain Rust types with no wrapper, 100 MB, as a task's argument and
    // result (a fresh sandbox each round) and as a put and get: what
    // `Vec<u8>` cost before the SDK packed it was 0.04 GB/s (serde
    // element by element).
    const STRUCT: &str = "a struct of String, Vec<u8>, Vec<f32> (packed fields)";
    for (ty, how, name) in [
        ("bytes", "call", "100 MB Vec<u8>, argument + result"),
        ("bytes", "put", "100 MB Vec<u8>, put + get"),
        ("string", "call", "100 MB String, argument + result"),
        ("string", "put", "100 MB String, put + get"),
        ("f64", "call", "100 MB Vec<f64>, argument + result"),
        ("f64", "put", "100 MB Vec<f64>, put + get"),
        ("f32", "call", "100 MB Vec<f32>, argument + result"),
        ("f32", "put", "100 MB Vec<f32>, put + get"),
        ("i64", "call", "100 MB Vec<i64>, argument + result"),
        ("i64", "put", "100 MB Vec<i64>, put + get"),
        ("struct", "call", "100 MB struct, argument + result"),
        ("struct", "put", "100 MB struct, put + get"),
    ] {
        let v = b.guest(&[], &["plain", "100", ty, how])?;
        add(Figure {
            name,
            value: v,
            unit: "GB/s",
            better: Better::Higher,
            target: Some(1.0),
            ray: None,
            note: if ty == "struct" {
                format!("{STRUCT}; both ways, median of 4 warm rounds")
            } else {
                "both ways, median of 4 warm rounds".into()
            },
        });
    }
    Ok(())
}

/// Objects through a store too small for them: spilled and restored.
pub(super) fn spill(
    b: &Bench,
    args: &BenchArgs,
    add: &mut impl FnMut(Figure),
) -> anyhow::Result<()> {
    // 8 objects of 100 MB through a store of 256 MiB: most go to disk
    // and come back (the page cache helps: a figure of this machine's
    // disk path, not of a cold disk).
    let (mut out, mut back) = (Vec::new(), Vec::new());
    for _ in 0..args.runs {
        let s = b.run_stats(
            "bench",
            &["--object-store-memory", "256M", "--spill-size", "2G"],
            &["spill", "8"],
        )?;
        let spill = &s["objects"]["spill"];
        let gbps = |bytes: &str, secs: &str| {
            spill[bytes].as_f64().unwrap_or(0.0)
                / 1e9
                / spill[secs].as_f64().unwrap_or(1.0).max(1e-9)
        };
        out.push(gbps("spilled_total", "spill_seconds"));
        back.push(gbps("restored_total", "restore_seconds"));
    }
    for (name, v) in [
        ("spill to disk", median(out)),
        ("restore from disk", median(back)),
    ] {
        add(Figure {
            name,
            value: v,
            unit: "GB/s",
            better: Better::Higher,
            target: None,
            ray: None,
            note: "8 x 100 MB through a 256 MiB store".into(),
        });
    }
    Ok(())
}
