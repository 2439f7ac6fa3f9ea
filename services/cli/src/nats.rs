//! Starting a local `nats-server` with JetStream for the development stack, the demo and
//! the tests.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Oldest server version whose key-value and consumer features async-nats 0.52 relies on.
const MIN_VERSION: (u32, u32) = (2, 10);

/// A `nats-server` child process, killed when dropped.
pub struct NatsServer {
    pub url: String,
    pub port: u16,
    child: Child,
}

impl NatsServer {
    /// Starts a server with JetStream on a free loopback port, storing into `store_dir`.
    pub fn start(store_dir: &Path) -> anyhow::Result<NatsServer> {
        let port = free_port()?;
        NatsServer::start_on(store_dir, port)
    }

    /// Starts a server on `port`, for restarts that must keep the address.
    pub fn start_on(store_dir: &Path, port: u16) -> anyhow::Result<NatsServer> {
        let binary = find_binary()?;
        std::fs::create_dir_all(store_dir)
            .with_context(|| format!("creating {}", store_dir.display()))?;
        let child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(store_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = NatsServer {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            child,
        };
        server.wait_until_listening(Duration::from_secs(10))?;
        Ok(server)
    }

    fn wait_until_listening(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "nats-server exited with {status} before listening on port {}",
                    self.port
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "nats-server did not listen on port {} within {timeout:?}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Returns a TCP port that was free on 127.0.0.1 a moment ago.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// Finds a `nats-server` of version 2.10 or newer: `DATAORCH_NATS_SERVER`, then
/// `.tools/bin/nats-server` (where `scripts/install-tools.sh` puts it), then `PATH`.
pub fn find_binary() -> anyhow::Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("DATAORCH_NATS_SERVER") {
        candidates.push(PathBuf::from(path));
    }
    candidates.push(PathBuf::from(".tools/bin/nats-server"));
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/nats-server"));
    candidates.push(PathBuf::from("nats-server"));

    let mut seen = Vec::new();
    for candidate in candidates {
        let Ok(output) = Command::new(&candidate).arg("--version").output() else {
            continue;
        };
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        match parse_version(&text) {
            Some(version) if version >= MIN_VERSION => return Ok(candidate),
            _ => seen.push(format!("{} ({})", candidate.display(), text.trim())),
        }
    }
    bail!(
        "no nats-server of version {}.{} or newer found{}; run scripts/install-tools.sh or set DATAORCH_NATS_SERVER",
        MIN_VERSION.0,
        MIN_VERSION.1,
        if seen.is_empty() {
            String::new()
        } else {
            format!(" (too old: {})", seen.join(", "))
        }
    )
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let version = text
        .split_whitespace()
        .find_map(|word| word.strip_prefix('v'))?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_parsed() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9)));
        assert_eq!(parse_version("garbage"), None);
        assert!(parse_version("nats-server: v2.9.10").unwrap() < MIN_VERSION);
    }
}
