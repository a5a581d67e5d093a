//! `ipc gateway`: forwards a local shared-memory queue to a queue on a
//! NATS JetStream server, or a remote queue into a local one (see
//! `ipc_remote::gateway` for what is guaranteed). Runs until its source is
//! closed and drained, or until SIGINT/SIGTERM (checked between waits of
//! 100 ms: a message being forwarded is finished first).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Args, ValueEnum};
use ipc_core::segment::SegmentOptions;
use ipc_queue::Queue;
use ipc_remote::{Remote, RemoteOptions, RemoteQueue, gateway};

/// Which way messages go.
#[derive(Clone, Copy, ValueEnum)]
pub enum Direction {
    /// From the local queue LOCAL to the remote queue REMOTE.
    ToRemote,
    /// From the remote queue REMOTE into the local queue LOCAL.
    FromRemote,
}

/// The server and its credentials.
#[derive(Args)]
pub struct Server {
    /// The server, e.g. nats://10.0.0.5:4222 (a comma-separated list for a
    /// cluster).
    #[arg(long)]
    url: String,
    /// User name (with --password).
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// Password (with --user); also read from $IPC_NATS_PASSWORD.
    #[arg(long, env = "IPC_NATS_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Token; also read from $IPC_NATS_TOKEN.
    #[arg(long, env = "IPC_NATS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// NKey seed file.
    #[arg(long)]
    nkey_file: Option<std::path::PathBuf>,
    /// Credentials file (user JWT and seed).
    #[arg(long)]
    creds: Option<std::path::PathBuf>,
    /// CA certificate (PEM) for the server's TLS certificate.
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
}

impl Server {
    fn options(&self) -> super::Result<RemoteOptions> {
        let mut o = RemoteOptions::new(&self.url).name("ipc gateway");
        if let (Some(u), Some(p)) = (&self.user, &self.password) {
            o = o.user_password(u, p);
        } else if let Some(t) = &self.token {
            o = o.token(t);
        } else if let Some(f) = &self.nkey_file {
            o = o.nkey(std::fs::read_to_string(f)?.trim());
        } else if let Some(c) = &self.creds {
            o = o.credentials_file(c);
        }
        if let Some(ca) = &self.ca {
            o = o.root_certificate(ca);
        }
        Ok(o)
    }
}

/// Runs a gateway; prints how many messages it forwarded.
pub fn run(
    direction: Direction,
    local: &str,
    remote: &str,
    server: &Server,
    close: bool,
) -> super::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    let r = Remote::connect(&server.options()?)?;
    let rq = RemoteQueue::builder(&r, remote).open_or_create()?;
    let lq = Queue::<u8>::builder()
        .options(SegmentOptions::named(local))
        .open()?;
    let n = match direction {
        Direction::ToRemote => gateway::forward_to_remote(&lq, &rq, &stop, close)?,
        Direction::FromRemote => gateway::forward_to_local(&rq, &lq, &stop)?,
    };
    println!("forwarded {n} messages");
    Ok(())
}
