//! Bulk bytes node to node: a node that offers a blob (see `chunks`) also
//! serves it on a TCP port of its own, and the node that takes it reads it
//! there in one stream, straight into the memory that will hold it. NATS
//! carries only the message that names the blob; a blob through NATS goes
//! twice through the server, in chunks a round trip each, at a third of
//! the speed (BENCHMARKS.md, "Cross-node bandwidth").
//!
//! The port is as private as the cluster: a blob is read with its key, a
//! MAC of its id under a secret this node drew at start, and the key
//! travels only in NATS messages, which only nodes with the cluster's token
//! see. A node that cannot reach the port (a firewall, a route missing)
//! falls back to the chunks over NATS; one started with `--no-data-port`
//! neither serves nor reads on data ports.
//!
//! A read: the reader sends the blob's id and key (8 + 32 bytes); the
//! server answers the blob's length (8 bytes, `u64::MAX` when it has no
//! such blob or the key is wrong), then its bytes, and forgets it.

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Wire;

/// How long a reader waits to reach a data port before it reads through
/// NATS instead.
const CONNECT: std::time::Duration = std::time::Duration::from_secs(3);

/// Where this node serves blobs, and the secret their keys are made with.
pub(crate) struct Direct {
    /// `host:port` other nodes connect to.
    pub(super) addr: String,
    secret: [u8; 32],
}

/// A blob's key: a MAC of its id under `secret`.
fn key(secret: &[u8; 32], id: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(secret);
    h.update(id.to_le_bytes());
    h.update(secret);
    h.finalize().into()
}

/// Random bytes from the kernel.
fn random() -> std::io::Result<[u8; 32]> {
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes)
}

impl Direct {
    /// Bind the data port on `host` (any free port) and serve `wire`'s
    /// blobs there on `handle`; `None` (bulk bytes through NATS only) when
    /// it cannot.
    pub(super) fn serve(
        host: &str,
        wire: std::sync::Weak<Wire>,
        handle: &tokio::runtime::Handle,
    ) -> Option<Direct> {
        let bound = (|| -> std::io::Result<(std::net::TcpListener, [u8; 32])> {
            let listener = std::net::TcpListener::bind((host, 0))?;
            listener.set_nonblocking(true)?;
            Ok((listener, random()?))
        })();
        let (listener, secret) = match bound {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("no data port on {host} (bulk bytes go through NATS): {e}");
                return None;
            }
        };
        let port = listener.local_addr().ok()?.port();
        let addr = match host.parse::<std::net::IpAddr>() {
            Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
            Err(_) => format!("{host}:{port}"),
        };
        let _guard = handle.enter();
        let listener = TcpListener::from_std(listener).ok()?;
        let h = handle.clone();
        handle.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Some(wire) = wire.upgrade() else { break };
                h.spawn(async move {
                    if let Err(e) = wire.serve_direct(stream, &secret).await {
                        tracing::debug!("a blob read on the data port: {e}");
                    }
                });
            }
        });
        Some(Direct { addr, secret })
    }

    /// How another node reads blob `id` of this node.
    pub(super) fn locate(&self, id: u64) -> DirectRef {
        DirectRef {
            addr: self.addr.clone(),
            key: key(&self.secret, id)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        }
    }
}

/// Where a blob is read directly: the data port and the blob's key (hex).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DirectRef {
    pub(super) addr: String,
    pub(super) key: String,
}

impl DirectRef {
    /// The key's bytes.
    fn key(&self) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        if self.key.len() != 64 {
            return None;
        }
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(self.key.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(out)
    }
}

impl Wire {
    /// Answer one read on the data port.
    async fn serve_direct(&self, mut stream: TcpStream, secret: &[u8; 32]) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut ask = [0u8; 40];
        stream.read_exact(&mut ask).await?;
        let id = u64::from_le_bytes(ask[..8].try_into().expect("8 bytes"));
        let blob = if ask[8..] == key(secret, id) {
            let mut blobs = self.blobs.lock().unwrap_or_else(|p| p.into_inner());
            blobs.remove(&id).map(|(b, _)| b)
        } else {
            None
        };
        let Some(blob) = blob else {
            stream.write_all(&u64::MAX.to_le_bytes()).await?;
            return Ok(());
        };
        stream.write_all(&(blob.len() as u64).to_le_bytes()).await?;
        stream.write_all(&blob).await?;
        stream.shutdown().await
    }

    /// Read blob `id` of `len` bytes where `at` says.
    pub(super) async fn read_direct(at: &DirectRef, id: u64, len: u64) -> Result<Vec<u8>, String> {
        let addr = &at.addr;
        let key = &at.key().ok_or("a malformed blob key")?;
        let mut stream = tokio::time::timeout(CONNECT, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("cannot reach {addr} within {CONNECT:?}"))?
            .map_err(|e| format!("cannot reach {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let mut ask = [0u8; 40];
        ask[..8].copy_from_slice(&id.to_le_bytes());
        ask[8..].copy_from_slice(key);
        stream
            .write_all(&ask)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let mut head = [0u8; 8];
        stream
            .read_exact(&mut head)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        let sent = u64::from_le_bytes(head);
        if sent != len {
            return Err(if sent == u64::MAX {
                format!("{addr} no longer has those bytes")
            } else {
                format!("{addr} offers {sent} bytes, not {len}")
            });
        }
        let mut out = Vec::new();
        out.try_reserve_exact(len as usize)
            .map_err(|_| format!("cannot hold {len} bytes"))?;
        (&mut stream)
            .take(len)
            .read_to_end(&mut out)
            .await
            .map_err(|e| format!("{addr}: {e}"))?;
        if out.len() as u64 != len {
            return Err(format!("{addr} sent {} of {len} bytes", out.len()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_key_is_its_node_secret_and_id_and_reads_back() {
        let d = Direct {
            addr: "127.0.0.1:1".into(),
            secret: [7; 32],
        };
        let other = Direct {
            addr: d.addr.clone(),
            secret: [8; 32],
        };
        let at = d.locate(42);
        assert_eq!(at.key(), Some(key(&[7; 32], 42)));
        // Another blob, or another node's secret, gives another key.
        assert_ne!(d.locate(43).key, at.key);
        assert_ne!(other.locate(42).key, at.key);
        // A key that is not 64 hex digits is no key.
        let bad = DirectRef {
            addr: at.addr.clone(),
            key: "zz".repeat(32),
        };
        assert_eq!(bad.key(), None);
        let short = DirectRef {
            addr: at.addr,
            key: "ab".into(),
        };
        assert_eq!(short.key(), None);
    }
}
