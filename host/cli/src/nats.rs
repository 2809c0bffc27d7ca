//! The head's NATS server: `nats-server` (Debian's package, installed by
//! scripts/setup.sh) started as a child process with JetStream, bound to
//! loopback unless told otherwise, requiring the cluster's token, and
//! stopped with the head.
//!
//! The token reaches the server in a config file readable only by this user
//! (inside a 0700 directory), never on its command line where `ps` would
//! show it. The server gets SIGTERM when the head's thread that started it
//! dies, so a head killed with `kill -9` leaves no orphan server behind,
//! and the server's storage directory (which names its head's pid) is
//! removed by the next head that starts on the machine.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A running `nats-server`, stopped when dropped.
pub struct NatsServer {
    child: Child,
    /// Where clients connect: `nats://host:port`.
    pub url: String,
    /// JetStream's storage, removed with the server.
    _store: tempfile::TempDir,
}

/// A new random token: 32 hex digits from the kernel's generator.
pub fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl NatsServer {
    /// Start `nats-server` on `host:port` (port 0: any free one) with
    /// JetStream, requiring `token`; returns once it accepts clients.
    pub fn start(host: std::net::IpAddr, port: u16, token: &str) -> anyhow::Result<NatsServer> {
        sweep_stale(&std::env::temp_dir());
        let store = tempfile::Builder::new().prefix(PREFIX).tempdir()?;
        std::fs::write(store.path().join(OWNER), std::process::id().to_string())?;
        let port_arg = if port == 0 {
            "-1".to_string()
        } else {
            port.to_string()
        };
        check_token(token)?;
        // tempdir() makes the directory 0700; the file is 0600 as well.
        let conf = store.path().join("nats.conf");
        write_conf(&conf, token, None)?;
        let mut cmd = Command::new("nats-server");
        cmd.arg("-c")
            .arg(&conf)
            .args(["-a", &host.to_string(), "-p", &port_arg, "-js", "-sd"])
            .arg(store.path().join("js"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the forked child before exec and
            // calls only prctl(2), which is async-signal-safe.
            #[allow(unsafe_code)]
            unsafe {
                cmd.pre_exec(|| {
                    if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .spawn()
            .context("cannot start nats-server (is it installed? scripts/setup.sh installs it)")?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        let tail = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = tail.clone();
        // The server logs to stderr: read where it listens and when it is
        // ready, then keep draining so that it never blocks on a full pipe.
        // The last lines before it is ready explain a failure to start.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines();
            let mut url = None;
            for line in lines.by_ref().map_while(Result::ok) {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    url = Some(format!("nats://{}", rest.trim()));
                }
                if line.contains("Server is ready") {
                    let _ = tx.send(url.take());
                    break;
                }
                let mut t = seen.lock().unwrap_or_else(|e| e.into_inner());
                if t.len() == 5 {
                    t.remove(0);
                }
                t.push(line);
            }
            for _ in lines {}
        });
        let said = || {
            let t = tail.lock().unwrap_or_else(|e| e.into_inner());
            let errors: Vec<&str> = t
                .iter()
                .filter(|l| l.contains("[FTL]") || l.contains("[ERR]"))
                .map(|l| l.as_str())
                .collect();
            if errors.is_empty() {
                String::new()
            } else {
                format!(": {}", errors.join("; "))
            }
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(Some(url)) => {
                    return Ok(NatsServer {
                        child,
                        url,
                        _store: store,
                    });
                }
                Ok(None) => bail!("nats-server started but did not say where it listens"),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.wait();
                    bail!("nats-server exited before it was ready{}", said())
                }
            }
            if let Some(status) = child.try_wait()? {
                // Let the reader take in the last lines it wrote.
                std::thread::sleep(Duration::from_millis(50));
                bail!(
                    "nats-server exited before it was ready ({status}){}",
                    said()
                );
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("nats-server did not become ready within 15 s");
            }
        }
    }
}

/// One server of a NATS cluster: its name, the port its peers reach it on,
/// and theirs.
#[derive(Debug, Clone)]
pub struct Peering {
    /// The server's name in the cluster (unique among its servers).
    pub name: String,
    /// Where it listens for its peers (`host:port`).
    pub listen: String,
    /// Its peers' cluster addresses (`host:port`).
    pub peers: Vec<String>,
    /// Where the server keeps its configuration and JetStream's storage
    /// (made private to this user).
    pub store: std::path::PathBuf,
}

/// A cluster token may hold only these: it is written into a config file
/// and into route URLs.
fn check_token(token: &str) -> anyhow::Result<()> {
    if token.is_empty()
        || !token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        bail!("a cluster token must be letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

/// Write a `nats-server` configuration at `path` (mode 0600, a new file):
/// clients need `token`; with `peering`, the server is one of a JetStream
/// cluster whose routes authenticate with the same token.
fn write_conf(
    path: &std::path::Path,
    token: &str,
    peering: Option<&Peering>,
) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "authorization {{ token: \"{token}\" }}")?;
    if let Some(p) = peering {
        let routes: Vec<String> = p
            .peers
            .iter()
            .map(|peer| format!("\"nats-route://raylab:{token}@{peer}\""))
            .collect();
        writeln!(f, "server_name: \"{}\"", p.name)?;
        writeln!(f, "jetstream {{ store_dir: {:?} }}", p.store)?;
        writeln!(
            f,
            "cluster {{\n  name: raylab\n  listen: \"{}\"\n  \
             authorization {{ user: raylab, password: \"{token}\" }}\n  routes: [{}]\n}}",
            p.listen,
            routes.join(", ")
        )?;
    }
    Ok(())
}

/// Become `nats-server` (exec: this process is the server from now on, so
/// that a signal sent to it reaches the server itself) serving clients on
/// `host:port` with JetStream, one of a cluster as `peering` says, clients
/// and routes authenticated by `token`.
pub fn exec_clustered(
    host: std::net::IpAddr,
    port: u16,
    token: &str,
    peering: &Peering,
) -> anyhow::Result<std::convert::Infallible> {
    use std::os::unix::process::CommandExt;
    check_token(token)?;
    if peering.name.is_empty()
        || !peering
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        bail!("a server name must be letters, digits, '-' and '_'");
    }
    // The configuration names the token: it lives in the store directory,
    // private to this user.
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&peering.store)
            .with_context(|| format!("cannot make {}", peering.store.display()))?;
        std::fs::set_permissions(&peering.store, std::fs::Permissions::from_mode(0o700))?;
    }
    let conf = peering.store.join("nats.conf");
    let _ = std::fs::remove_file(&conf);
    let mut peering = peering.clone();
    peering.store = peering.store.join("js");
    write_conf(&conf, token, Some(&peering))?;
    let err = Command::new("nats-server")
        .arg("-c")
        .arg(&conf)
        .args(["-a", &host.to_string(), "-p", &port.to_string()])
        .exec();
    Err(anyhow::Error::new(err)
        .context("cannot run nats-server (is it installed? scripts/setup.sh installs it)"))
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The name of a head's NATS storage directory starts with this.
const PREFIX: &str = "raylab-nats-";
/// The file in it that names the head's process.
const OWNER: &str = "owner.pid";

/// Remove the NATS storage directories in `tmp` left by heads that died
/// without cleaning up (`kill -9`): those whose owner process is gone.
/// Directories of other users, or without an owner file, are left alone.
fn sweep_stale(tmp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir = entry.path();
        let Some(pid) = std::fs::read_to_string(dir.join(OWNER))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Whether `nats-server` is on the PATH.
pub fn available() -> bool {
    Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_of_dead_heads_is_swept_and_live_or_unknown_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let make = |name: &str, owner: Option<u32>| {
            let dir = tmp.path().join(name);
            std::fs::create_dir_all(dir.join("js")).unwrap();
            if let Some(pid) = owner {
                std::fs::write(dir.join(OWNER), pid.to_string()).unwrap();
            }
            dir
        };
        // A process that has exited: its pid is free.
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let gone = make("raylab-nats-dead", Some(dead));
        let live = make("raylab-nats-live", Some(std::process::id()));
        let unknown = make("raylab-nats-old", None);
        let other = make("something-else", Some(dead));
        sweep_stale(tmp.path());
        assert!(!gone.exists(), "a dead head's storage goes");
        assert!(live.exists() && unknown.exists() && other.exists());
    }
}
