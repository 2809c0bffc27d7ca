//! Compiling uploaded modules in a child process, bounded in time and
//! memory: what a head does with every module a job uploads, so that a
//! module crafted to be expensive to compile costs the head at most the
//! limits (Cranelift cannot be stopped mid-compile, but a child process
//! can). The child is this same binary (`raylab-host compile-module`),
//! with the head's engine settings, so its output is what the head would
//! have compiled itself.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use raylab::{EngineConfig, ModuleCompiler};

/// Compiles in a child process with limits.
#[derive(Debug, Clone)]
pub struct ChildCompiler {
    /// The `raylab-host` binary.
    pub exe: PathBuf,
    /// The engine settings to compile for.
    pub engine: EngineConfig,
    /// Most resident memory the child may use, bytes.
    pub max_memory: u64,
    /// Longest the child may take.
    pub timeout: Duration,
}

/// Resident memory of process `pid`, bytes.
fn rss(pid: u32) -> u64 {
    crate::procfs::rss(&pid.to_string())
}

impl ModuleCompiler for ChildCompiler {
    fn compile(&self, name: &str, bytes: &[u8], out: &Path) -> Result<(), String> {
        let mut cmd = Command::new(&self.exe);
        cmd.arg("compile-module")
            .arg("--name")
            .arg(name)
            .arg("--out")
            .arg(out)
            .arg("--sandbox-keep-resident")
            .arg(self.engine.keep_resident.to_string());

        if !self.engine.epoch_interruption {
            cmd.arg("--no-preemption");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the compiler: {e}"))?;
        let pid = child.id();
        let mut stdin = child.stdin.take().expect("piped");
        let input = bytes.to_vec();
        // Fed from a thread: a child that stops reading must not block us.
        let mut feeder = Some(std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        }));
        let mut join_feeder = || {
            if let Some(f) = feeder.take() {
                let _ = f.join();
            }
        };
        let start = Instant::now();
        let mut peak = 0;
        let failure = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                join_feeder();
                if status.success() {
                    return Ok(());
                }
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                let message = err
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or(err.trim())
                    .to_string();
                break message;
            }
            peak = peak.max(rss(pid));
            if peak > self.max_memory {
                break format!(
                    "compiling it used more than {} MiB (--compile-memory); refused",
                    self.max_memory >> 20
                );
            }
            if start.elapsed() > self.timeout {
                break format!(
                    "compiling it took longer than {} s (--compile-timeout); refused",
                    self.timeout.as_secs_f64()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = child.kill();
        let _ = child.wait();
        join_feeder();
        let _ = std::fs::remove_file(out);
        Err(failure)
    }
}

/// `raylab-host compile-module`: compile the module on stdin to `out`.
pub fn compile_module(engine: &EngineConfig, name: &str, out: &Path) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
    raylab::compile_to_file(engine, name, &bytes, out)?;
    Ok(())
}
