//! The GPU figures of `bench`: task3's matmul through the broker against
//! the same matmul natively on the CPU, the broker's cost of a trivial
//! dispatch, and task3's scheduling overhead beyond its work.

use std::time::Instant;

use super::{Bench, Better, Figure, median, parse_after};
use raylab_labkit::task3::cpu_matmul;

/// task3's shader, measured through the broker.
const MATMUL_WGSL: &str = include_str!("../../../../guest-tasks/task3/src/matmul.wgsl");

/// GPU matmul through the broker vs the same naive matmul natively on the
/// CPU, over a size sweep; the broker's cost of a trivial dispatch; and
/// task3's scheduling overhead beyond its work.
pub(super) fn gpu_figures(
    b: &Bench,
    runs: usize,
    add: &mut dyn FnMut(Figure),
) -> anyhow::Result<()> {
    use raylab::gpu::{BufferKind, BufferSpec, DispatchSpec, GpuBackend, GpuBroker};
    let broker = GpuBroker::probe(GpuBackend::Auto, raylab::gpu::SoftwareGpus::Auto);
    let Some(dev) = broker.devices().into_iter().next() else {
        eprintln!("  no GPU adapter: skipping the GPU figures");
        return Ok(());
    };
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    for n in [64usize, 128, 256, 512] {
        let a: Vec<f32> = (0..n * n)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let bm: Vec<f32> = (0..n * n)
            .map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let spec = DispatchSpec {
            wgsl: MATMUL_WGSL.into(),
            entry_point: "main".into(),
            buffers: vec![
                BufferSpec {
                    binding: 0,
                    kind: BufferKind::Uniform,
                    data: bytes_u32(&[n as u32, 0, 0, 0]),
                    size: 16,
                },
                BufferSpec {
                    binding: 1,
                    kind: BufferKind::Input,
                    data: bytes(&a),
                    size: 0,
                },
                BufferSpec {
                    binding: 2,
                    kind: BufferKind::Input,
                    data: bytes(&bm),
                    size: 0,
                },
                BufferSpec {
                    binding: 3,
                    kind: BufferKind::Output,
                    data: Vec::new(),
                    size: (4 * n * n) as u64,
                },
            ],
            workgroups: (n.div_ceil(8) as u32, n.div_ceil(8) as u32, 1),
        };
        // Warm-up compiles and caches the pipeline.
        pollster::block_on(broker.run(0, spec.clone(), u64::MAX, None))
            .map_err(anyhow::Error::msg)?;
        let mut gpu = Vec::new();
        let mut cpu = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            pollster::block_on(broker.run(0, spec.clone(), u64::MAX, None))
                .map_err(anyhow::Error::msg)?;
            gpu.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            std::hint::black_box(cpu_matmul(&a, &bm, n));
            cpu.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (g, c) = (median(gpu), median(cpu));
        add(Figure {
            name: match n {
                64 => "GPU matmul 64x64 (vs native CPU)",
                128 => "GPU matmul 128x128 (vs native CPU)",
                256 => "GPU matmul 256x256 (vs native CPU)",
                _ => "GPU matmul 512x512 (vs native CPU)",
            },
            value: g,
            unit: "ms",
            better: Better::Lower,
            target: None,
            ray: None,
            note: format!(
                "CPU {c:.2} ms, GPU/CPU {:.2}x on {} ({})",
                g / c,
                dev.name,
                dev.device_type
            ),
        });
    }
    let tiny = DispatchSpec {
        wgsl: "@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n@compute @workgroup_size(1) fn main() { x[0] = x[0] + 1.0; }".into(),
        entry_point: "main".into(),
        buffers: vec![BufferSpec { binding: 0, kind: BufferKind::InputOutput, data: vec![0; 16], size: 0 }],
        workgroups: (1, 1, 1),
    };
    pollster::block_on(broker.run(0, tiny.clone(), u64::MAX, None)).map_err(anyhow::Error::msg)?;
    let mut xs = Vec::new();
    for _ in 0..runs.max(20) {
        let t = Instant::now();
        pollster::block_on(broker.run(0, tiny.clone(), u64::MAX, None))
            .map_err(anyhow::Error::msg)?;
        xs.push(t.elapsed().as_secs_f64() * 1e6);
    }
    add(Figure {
        name: "broker round trip of a trivial dispatch",
        value: median(xs),
        unit: "us",
        better: Better::Lower,
        target: None,
        ray: None,
        note: "buffers, submit, read back; cached pipeline".into(),
    });
    // task3's four GPU tasks on one GPU: the wall time beyond their work.
    let mut overhead = Vec::new();
    for _ in 0..runs {
        let out = b.output(
            "task3",
            &["--num-gpus", "1"],
            &["--tasks", "4", "--size", "64", "--repeat", "2"],
        )?;
        let round: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("num_gpus = 1"))
            .take_while(|l| !l.starts_with("total:"))
            .collect();
        // The "took ms" column, found by its header (the table has
        // grown columns before: a fixed index once summed the end times).
        let took = round
            .iter()
            .find(|l| l.starts_with("task"))
            .and_then(|h| {
                h.split("  ")
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .position(|c| c == "took ms")
            })
            .ok_or_else(|| anyhow::anyhow!("task3 printed no `took ms` column:\n{out}"))?;
        let work: f64 = round
            .iter()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .filter_map(|l| {
                l.split_whitespace()
                    .nth(took)
                    .and_then(|v| v.parse::<f64>().ok())
            })
            .sum();
        overhead.push(parse_after(&out, "total:")? - work);
    }
    add(Figure {
        name: "task3: 4 GPU tasks, wall time beyond their work",
        value: median(overhead),
        unit: "ms",
        better: Better::Lower,
        target: Some(10.0),
        ray: Some("~1.1 s (0.3-0.4 s per task)"),
        note: "queueing on one GPU, sandbox start, result transfer".into(),
    });
    Ok(())
}

fn bytes_u32(xs: &[u32]) -> Vec<u8> {
    xs.iter().flat_map(|x| x.to_le_bytes()).collect()
}
