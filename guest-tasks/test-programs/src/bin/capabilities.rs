//! What a guest can see of the host: files and environment only when
//! granted (`--dir`, `--env`), for the driver and its tasks alike.
use raylab_guest::{remote, tasks};

fn probe() -> String {
    let env = std::env::var("RAYLAB_TEST_VAR").unwrap_or_else(|_| "<unset>".into());
    let file =
        std::fs::read_to_string("/data/hello.txt").unwrap_or_else(|e| format!("<{}>", e.kind()));
    let write = std::fs::write("/data/out.txt", "x")
        .map(|_| "ok".to_string())
        .unwrap_or_else(|e| format!("<{}>", e.kind()));
    format!("env={env} file={} write={write}", file.trim())
}

#[remote]
fn remote_probe() -> String {
    probe()
}
tasks!(remote_probe);

fn main() {
    println!("driver: {}", probe());
    println!("task: {}", remote_probe::remote().get().unwrap());
}
