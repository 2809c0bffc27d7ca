//! `start`: a head or a node joining one, in the foreground or detached,
//! serving the HTTP API and the dashboard.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use raylab::Runtime;
use raylab_host::size::parse_size;

use super::node::NodeArgs;
use super::parse_seconds;

#[derive(Args)]
pub(crate) struct StartArgs {
    /// Start a head (the default without --address): it founds a cluster,
    /// starting a local nats-server unless --nats names one.
    #[arg(long, conflicts_with = "address")]
    head: bool,
    /// Join the cluster whose NATS server is at this address
    /// (`nats://host:port`, as the head prints it) as a worker node.
    #[arg(long, value_name = "NATS_URL")]
    address: Option<String>,
    /// The cluster's token (the head prints it; a head makes one when none
    /// is given). A node without it is refused.
    #[arg(long, env = "RAYLAB_CLUSTER_TOKEN", hide_env_values = true)]
    cluster_token: Option<String>,
    /// Head: use this NATS server (or cluster) instead of starting one.
    #[arg(long, value_name = "NATS_URL", conflicts_with = "address")]
    nats: Option<String>,
    /// Head: port of the nats-server it starts (0: any free port).
    #[arg(long, default_value_t = 4222)]
    nats_port: u16,
    /// This node's name in the cluster [default: head, or node-PID].
    #[arg(long)]
    node_name: Option<String>,
    /// Port of the HTTP API and dashboard (0: any free port) [default:
    /// 8265 for a head, any free port for a node joining one].
    #[arg(long)]
    port: Option<u16>,
    /// Address to bind; anything but loopback requires --token.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// The host other nodes and `status` show for this node's API
    /// [default: --host, or where it binds every interface, the address
    /// this machine reaches the NATS server from].
    #[arg(long, value_name = "HOST")]
    advertise_address: Option<String>,
    /// Serve bulk bytes (arguments and results too big for one message)
    /// through NATS only, in chunks, rather than on a data port of this
    /// node's advertised address that other nodes read from directly
    /// (about 3x faster): for networks where nodes cannot connect to each
    /// other.
    #[arg(long)]
    no_data_port: bool,
    /// Token every request must carry (`Authorization: Bearer ...`).
    #[arg(long, env = "RAYLAB_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Largest module a job may upload.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64M")]
    max_upload: usize,
    /// Start the head in the background and return once it answers (like
    /// `ray start --head`); its output goes to --log-file.
    #[arg(long)]
    detach: bool,
    /// With --detach: where the head writes its output [default:
    /// raylab-head-PORT.log in the temporary directory].
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Longest an uploaded module may take to compile (in a child
    /// process; past it the upload is refused), in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds, default_value = "60")]
    compile_timeout: f64,
    /// Most memory compiling an uploaded module may use (in a child
    /// process; past it the upload is refused).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "2G")]
    compile_memory: usize,
    /// Finished jobs the head remembers (status and log); older ones are
    /// forgotten.
    #[arg(long, value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    keep_finished_jobs: u32,
    #[command(flatten)]
    node: NodeArgs,
}

impl StartArgs {
    /// The HTTP port: as given, else 8265 for a head and any free port for
    /// a node joining one (several may share a machine).
    fn port(&self) -> u16 {
        self.port
            .unwrap_or(if self.address.is_some() { 0 } else { 8265 })
    }
}

/// `start --detach`: run `start` again as a background process of its own
/// (its own process group, stdin closed, output to the log file) and
/// return once it listens, or fail with its log if it exits first.
pub(crate) fn start_detached(args: &StartArgs) -> anyhow::Result<i32> {
    use std::os::unix::process::CommandExt;
    let log_path = args.log_file.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(match &args.address {
            None => format!("raylab-head-{}.log", args.port()),
            Some(_) => format!("raylab-node-{}.log", std::process::id()),
        })
    });
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create the log file {}", log_path.display()))?;
    let child_args: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "--detach")
        .collect();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(&child_args)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start the head")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let url = text.lines().find_map(|l| {
            l.strip_prefix("raylab head listening on ")
                .or_else(|| l.strip_prefix("raylab node listening on "))
        });
        // A node says how it stands in the cluster right after.
        let cluster: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.starts_with("cluster: ")
                    || l.starts_with("join with: ")
                    || l.starts_with("joined the cluster")
                    || l.starts_with("warning: nats-server")
            })
            .collect();
        let settled = cluster.iter().any(|l| !l.starts_with("cluster: "));
        if let Some(url) = url.filter(|_| settled) {
            let role = if args.address.is_some() {
                "node"
            } else {
                "head"
            };
            println!(
                "raylab {role} started in the background (pid {})",
                child.id()
            );
            println!("address:   {url}");
            println!("dashboard: {url}/");
            println!("log:       {}", log_path.display());
            for line in cluster {
                println!("{line}");
            }
            if args.port() == 8265 && args.host.is_loopback() {
                println!("stop it with: raylab-host stop");
            } else {
                println!("stop it with: raylab-host stop --address {url}");
            }
            return Ok(0);
        }
        if let Some(status) = child.try_wait()? {
            eprint!("{text}");
            bail!("the head exited before it was ready ({status})");
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            eprint!("{text}");
            bail!("the head did not start listening within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn start(args: StartArgs) -> anyhow::Result<i32> {
    if !args.host.is_loopback() && args.token.is_none() {
        bail!(
            "binding {} (not loopback) requires --token or RAYLAB_TOKEN",
            args.host
        );
    }
    if args.detach {
        return start_detached(&args);
    }
    let config = args
        .node
        .config()?
        .keep_finished_jobs(args.keep_finished_jobs as usize);
    // Uploaded modules compile in a bounded child process.
    let compiler = raylab_host::compiler::ChildCompiler {
        exe: std::env::current_exe()?,
        engine: config.engine_config(),
        max_memory: args.compile_memory as u64,
        timeout: Duration::from_secs_f64(args.compile_timeout),
    };
    let config = config.compiler(std::sync::Arc::new(compiler)).build();
    let runtime = std::sync::Arc::new(Runtime::new(config)?);
    // A node serves modules it has not seen yet: probe the GPUs now.
    runtime.probe_gpus();
    let head = args.address.is_none();
    let durable_jobs = args.nats.is_some();
    // The cluster: a head starts its NATS server (or uses the one given);
    // a worker joins the one at --address.
    let mut nats = None;
    let cluster = if head {
        let token = match &args.cluster_token {
            Some(t) => t.clone(),
            None => raylab_host::nats::new_token()?,
        };
        match &args.nats {
            Some(url) => Some((url.clone(), token)),
            None if raylab_host::nats::available() => {
                let server =
                    raylab_host::nats::NatsServer::start(args.host, args.nats_port, &token)?;
                let url = server.url.clone();
                nats = Some(server);
                Some((url, token))
            }
            None => {
                eprintln!(
                    "warning: nats-server is not installed: this head runs alone (scripts/setup.sh installs it so that nodes can join)"
                );
                None
            }
        }
    } else {
        let token = args.cluster_token.clone().context(
            "joining a cluster needs its token: --cluster-token or RAYLAB_CLUSTER_TOKEN (the head printed it)",
        )?;
        Some((args.address.clone().expect("not a head"), token))
    };
    let cfg = raylab_host::head::HeadConfig {
        addr: std::net::SocketAddr::new(args.host, args.port()),
        role: if head { "raylab head" } else { "raylab node" },
        token: args.token,
        max_upload: args.max_upload,
    };
    let joined = runtime.clone();
    let advertise = args.advertise_address.clone();
    let data_port = !args.no_data_port;
    let bind_host = args.host;
    let name = args.node_name.clone().unwrap_or_else(|| {
        if head {
            "head".into()
        } else {
            format!("node-{}", std::process::id())
        }
    });
    raylab_host::head::serve(runtime.clone(), cfg, move |addr| {
        let Some((url, token)) = cluster else {
            return Ok(Vec::new());
        };
        // The data port serves other nodes whatever the API binds: at the
        // address they reach this node at (the route to NATS by default).
        let data_host = advertise.clone().unwrap_or_else(|| {
            advertised_host(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), &url)
        });
        let host = advertise.unwrap_or_else(|| advertised_host(bind_host, &url));
        let http = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => format!("http://{}", std::net::SocketAddr::new(ip, addr.port())),
            Err(_) => format!("http://{host}:{}", addr.port()),
        };
        let id = joined
            .join_cluster(raylab::ClusterConfig {
                nats: url.clone(),
                token: token.clone(),
                name,
                http: Some(http),
                head,
                // Jobs outlive their head where NATS outlives it: a head on
                // a NATS it did not start keeps them in JetStream.
                durable_jobs: head && durable_jobs,
                data_host: data_port.then_some(data_host),
            })
            .map_err(|e| {
                // The library's message, with the flag or command to reach for.
                let hint = match &e {
                    raylab::ClusterError::Connect { why, .. } if why.contains("token") => {
                        " (--cluster-token)"
                    }
                    raylab::ClusterError::NoHead { .. } => {
                        " (run `raylab-host start --head` there)"
                    }
                    _ => "",
                };
                anyhow::anyhow!("{e}{hint}")
            })?;
        let standby = matches!(joined.head_role(), Some(raylab::HeadRole::Standby(_)));
        Ok(if head && standby {
            vec![
                format!(
                    "cluster: {url} (this head is node {id}, a standby: it takes over when the active head stops)"
                ),
                format!("join with: raylab-host start --address {url} --cluster-token {token}"),
            ]
        } else if head {
            vec![
                format!("cluster: {url} (this head is node {id})"),
                format!("join with: raylab-host start --address {url} --cluster-token {token}"),
            ]
        } else {
            vec![format!("joined the cluster at {url} as node {id}")]
        })
    })?;
    // Tasks run here for other nodes finish first (for a while).
    runtime.leave_cluster(Duration::from_secs(60));
    drop(nats);
    Ok(0)
}

/// The host a node advertises for its API: the address it binds, or where
/// it binds every interface, the local address of the route to the NATS
/// server (a UDP socket "connected" there sends nothing; it only picks the
/// route), so other nodes get an address of this machine they can reach.
pub(crate) fn advertised_host(bind: std::net::IpAddr, nats: &str) -> String {
    use std::net::{ToSocketAddrs, UdpSocket};
    if !bind.is_unspecified() {
        return bind.to_string();
    }
    let server = nats
        .split(',')
        .next()
        .unwrap_or(nats)
        .trim()
        .trim_start_matches("nats://")
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .to_string();
    let local = server
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .and_then(|to| {
            let any: std::net::SocketAddr = if to.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let s = UdpSocket::bind(any).ok()?;
            s.connect(to).ok()?;
            s.local_addr().ok()
        });
    match local {
        Some(a) => a.ip().to_string(),
        None => bind.to_string(),
    }
}
