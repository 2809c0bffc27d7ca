//! `gpus`: the GPU adapters this node would use.

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use raylab::gpu::{GpuBackend, GpuBroker, SoftwareGpus};

#[derive(Args)]
pub(crate) struct GpusArgs {
    /// wgpu backends to probe.
    #[arg(long, default_value = "auto",
          value_parser = PossibleValuesParser::new(GpuBackend::NAMES).map(|s| s.parse::<GpuBackend>().expect("listed")))]
    gpu_backend: GpuBackend,
    /// Whether software adapters count (as `run --software-gpus`).
    #[arg(long, default_value = "auto",
          value_parser = PossibleValuesParser::new(SoftwareGpus::NAMES).map(|s| s.parse::<SoftwareGpus>().expect("listed")))]
    software_gpus: SoftwareGpus,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn gpus(args: GpusArgs) -> anyhow::Result<i32> {
    let devices = GpuBroker::probe(args.gpu_backend, args.software_gpus).devices();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&devices)?);
    } else if devices.is_empty() {
        if args.software_gpus == SoftwareGpus::No {
            println!(
                "no hardware GPU adapter found (software ones are not used: --software-gpus no)"
            );
        } else {
            println!("no GPU adapter found (install mesa-vulkan-drivers for a software one)");
        }
    } else {
        for d in &devices {
            println!(
                "GPU {}: {} ({}, {}{})",
                d.id,
                d.name,
                d.backend,
                d.device_type,
                if d.software {
                    ", software: shaders run on the CPU"
                } else {
                    ""
                }
            );
        }
    }
    Ok(0)
}
