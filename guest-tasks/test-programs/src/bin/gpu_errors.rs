//! GPU errors are values: a bad shader, mismatched buffers, a task without
//! a GPU, a dispatch over quota. Each prints `<case>: <error>`.
use raylab_guest::gpu::{GpuError, Kernel, f32_bytes};
use raylab_guest::{remote, tasks};

const DOUBLE: &str = "@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x < arrayLength(&x)) { x[id.x] = 2.0 * x[id.x]; }
}";

const BROKEN: &str = "@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    x[id.x] = undefined_thing;
}";

#[remote(num_gpus = 1.0)]
fn on_gpu(case: String) -> Result<Vec<f32>, String> {
    let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0]);
    let kernel = match case.as_str() {
        "ok" => Kernel::new(DOUBLE, "main").input_output(0, data),
        "bad-shader" => Kernel::new(BROKEN, "main").input_output(0, data),
        "bad-entry" => Kernel::new(DOUBLE, "nope").input_output(0, data),
        "mismatch" => Kernel::new(DOUBLE, "main").input_output(3, data),
        "over-quota" => Kernel::new(DOUBLE, "main").output(0, 1 << 30),
        other => return Err(format!("unknown case {other}")),
    };
    kernel
        .run()
        .map(|out| raylab_guest::gpu::bytes_f32(&out[0]))
        .map_err(|e| match e {
            GpuError::InvalidShader(m) => format!("InvalidShader: {m}"),
            GpuError::BindingMismatch(m) => format!("BindingMismatch: {m}"),
            GpuError::OverQuota(m) => format!("OverQuota: {m}"),
            other => format!("other: {other}"),
        })
}

#[remote]
fn without_gpu() -> String {
    match Kernel::new(DOUBLE, "main")
        .input_output(0, f32_bytes(&[1.0]))
        .run()
    {
        Err(GpuError::NoGpu(m)) => format!("NoGpu: {m}"),
        other => format!("unexpected: {other:?}"),
    }
}
tasks!(on_gpu, without_gpu);

fn main() {
    let gpus = raylab_guest::cluster_resources()
        .into_iter()
        .find(|(n, _)| n == "GPU")
        .map_or(0.0, |r| r.1);
    if gpus == 0.0 {
        // No adapter: GPU tasks are infeasible at once, CPU tasks still run.
        let e = raylab_guest::submit::<_, Vec<f32>>("on_gpu", &("ok",), &on_gpu::default_options())
            .unwrap_err();
        println!("infeasible: {e}");
        println!("cpu task: {}", without_gpu::remote().get().unwrap());
        return;
    }
    for case in [
        "ok",
        "bad-shader",
        "bad-entry",
        "mismatch",
        "over-quota",
        "ok",
    ] {
        match on_gpu::remote(case.to_string()).get() {
            Ok(v) => println!("{case}: ok {v:?}"),
            Err(e) => println!("{case}: {}", e.message.replace('\n', " ")),
        }
    }
    println!("no-gpu: {}", without_gpu::remote().get().unwrap());
}
