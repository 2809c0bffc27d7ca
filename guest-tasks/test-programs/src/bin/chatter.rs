//! Tasks that print at once, each line in pieces (`eprint!` writes every
//! piece separately): `chatter TASKS LINES`. The host must hand on whole
//! lines, never a mix of two tasks' pieces.
use raylab_guest::{get_all, remote, tasks};

#[remote]
fn chatter(task: u32, lines: u32) -> u32 {
    for line in 0..lines {
        eprint!("task {task} ");
        eprint!("line {line} ");
        eprintln!("end");
    }
    lines
}
tasks!(chatter);

fn main() {
    let mut args = std::env::args().skip(1);
    let tasks: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let lines: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let refs: Vec<_> = (0..tasks).map(|t| chatter::remote(t, lines)).collect();
    let printed: u32 = get_all(&refs).unwrap().into_iter().sum();
    println!("printed={printed}");
}
