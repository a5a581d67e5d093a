//! A connection to a NATS server with JetStream, and the names of the
//! objects made on it.
//!
//! One [`Remote`] per process is the rule: it is cheap to clone (the
//! clones share the connection) and every object opened through it shares
//! its connection. The client reconnects by itself when the server
//! restarts; a call made meanwhile waits (within its deadline) and is
//! retried.

use std::time::Duration;

use async_nats::jetstream;

use crate::error::{Error, Result};
use crate::options::{Auth, RemoteOptions};
use ipc_core::Deadline;

use crate::runtime::{self, DeadlineExt};

/// A connection to a NATS server with JetStream enabled.
#[derive(Clone, Debug)]
pub struct Remote {
    pub(crate) client: async_nats::Client,
    pub(crate) js: jetstream::Context,
    pub(crate) opts: RemoteOptions,
}

/// The longest name accepted (JetStream allows longer stream names, but
/// the subjects and consumer names made from it must fit too).
pub const MAX_NAME_LEN: usize = 128;

/// Checks an object name: 1 to [`MAX_NAME_LEN`] ASCII letters, digits,
/// `-` and `_` (a stream, a bucket and a subject token are all made from
/// it, and NATS reserves `.`, `*`, `>`, spaces and path separators).
pub fn check_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is longer than 128 bytes");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return bad("only ASCII letters, digits, '-' and '_' may be used");
    }
    Ok(())
}

impl Remote {
    /// Connects (blocking), within the options' connect timeout.
    ///
    /// Errors: [`Unreachable`](Error::Unreachable) if no server answers,
    /// [`Unauthorized`](Error::Unauthorized) for refused or missing
    /// credentials, [`Tls`](Error::Tls), [`Options`](Error::Options).
    /// Blocking methods must not be called from inside an async runtime;
    /// use the `_async` twins there.
    pub fn connect(opts: &RemoteOptions) -> Result<Self> {
        runtime::block_on(Self::connect_async(opts))
    }

    /// [`connect`](Self::connect) as a future. The connection's task runs
    /// on the runtime that polls this future.
    pub async fn connect_async(opts: &RemoteOptions) -> Result<Self> {
        let mut o = async_nats::ConnectOptions::new()
            .connection_timeout(opts.connect_timeout)
            .request_timeout(Some(opts.request_timeout))
            // Reconnect for ever: a restarted server is waited for by
            // every call within its own deadline.
            .max_reconnects(None)
            .require_tls(opts.require_tls)
            // Reply subjects (and the queue's message ids, made from them)
            // carry this process's own token: the client's id generator is
            // process-global state that a forked child copies, and two
            // children making the same reply subjects receive each other's
            // answers (a dict read, an acknowledgement) and the same
            // message ids (deduplicated away by the server).
            .custom_inbox_prefix(format!("_INBOX.{}", process_token()));
        if let Some(n) = &opts.name {
            o = o.name(n);
        }
        o = match &opts.auth {
            Auth::None => o,
            Auth::UserPassword { user, password } => {
                o.user_and_password(user.clone(), password.clone())
            }
            Auth::Token(t) => o.token(t.clone()),
            Auth::NKey(seed) => {
                // The client would only find a bad seed when it signs.
                nkeys::KeyPair::from_seed(seed).map_err(|e| Error::Options {
                    reason: format!("invalid NKey seed: {e}"),
                })?;
                o.nkey(seed.clone())
            }
            Auth::CredentialsFile(p) => {
                o.credentials_file(p).await.map_err(|e| Error::Options {
                    reason: format!("credentials file {}: {e}", p.display()),
                })?
            }
        };
        if let Some(ca) = &opts.root_certificate {
            o = o.add_root_certificates(ca.clone());
        }
        if let Some((cert, key)) = &opts.client_certificate {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        // The client's own connect timeout covers one attempt; bound the
        // whole (DNS, TLS, the server's INFO) by it too.
        let connect = o.connect(opts.url.as_str());
        let client = match tokio::time::timeout(opts.connect_timeout, connect).await {
            Err(_) => {
                return Err(Error::Unreachable {
                    url: opts.url.clone(),
                    reason: format!("no answer within {:?}", opts.connect_timeout),
                });
            }
            Ok(r) => r.map_err(|e| connect_error(&opts.url, &e))?,
        };
        let mut js = jetstream::new(client.clone());
        js.set_timeout(opts.request_timeout);
        Ok(Self {
            client,
            js,
            opts: opts.clone(),
        })
    }

    /// The options it was opened with.
    pub fn options(&self) -> &RemoteOptions {
        &self.opts
    }

    /// The largest message the server takes (its `max_payload`).
    pub fn max_payload(&self) -> usize {
        self.client.server_info().max_payload
    }

    /// The server's version (`2.10.14`).
    pub fn server_version(&self) -> String {
        self.client.server_info().version
    }

    /// Whether the client is connected right now (it reconnects by itself).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Waits until every message published so far reached the server.
    pub fn flush(&self) -> Result<()> {
        runtime::block_on(self.flush_async())
    }

    /// [`flush`](Self::flush) as a future.
    pub async fn flush_async(&self) -> Result<()> {
        self.client.flush().await.map_err(|e| Error::Server {
            op: "flush",
            reason: e.to_string(),
        })
    }

    /// A fresh unique id (for message ids and reply subjects).
    pub(crate) fn unique_id(&self) -> String {
        self.client.new_inbox().replace("_INBOX.", "")
    }
}

/// A token unique to this process among those that may share a server:
/// its pid and the clock at first use, in this process (made again after
/// a fork).
fn process_token() -> String {
    use std::sync::Mutex;
    static TOKEN: Mutex<Option<(u32, String)>> = Mutex::new(None);
    let pid = std::process::id();
    let mut t = TOKEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match &*t {
        Some((p, token)) if *p == pid => token.clone(),
        _ => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let token = format!("p{pid}t{nanos:x}");
            *t = Some((pid, token.clone()));
            token
        }
    }
}

/// Retries `op` (a JetStream request) until it succeeds, fails for a reason
/// other than the server being away (`retry` says which), or `deadline`
/// passes: a server restarting is waited for, as the module docs promise.
pub(crate) async fn retrying<T, F, Fut>(
    deadline: Deadline,
    retry: impl Fn(&Error) -> bool,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut pause = Duration::from_millis(5);
    loop {
        match op().await {
            Err(e) if retry(&e) && !deadline.has_passed() && !matches!(deadline, Deadline::Now) => {
                tokio::time::sleep(deadline.slice(pause)).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            other => return other,
        }
    }
}

/// Whether an error means "the server is away or slow; try again".
pub(crate) fn transient(e: &Error) -> bool {
    matches!(e, Error::Timeout)
        || matches!(e, Error::Server { reason, .. } if is_transient_text(reason))
}

fn is_transient_text(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    [
        "timed out",
        "timeout",
        "broken pipe",
        "no responders",
        "disconnected",
        "connection",
        "jetstream not enabled",
        "temporarily unavailable",
        "insufficient resources",
        // A direct get answered with a bare status while the stream is
        // busy or recovering.
        "no headers",
    ]
    .iter()
    .any(|t| r.contains(t))
}

/// Maps a connect failure to the typed error a caller acts on.
fn connect_error(url: &str, e: &async_nats::ConnectError) -> Error {
    use async_nats::ConnectErrorKind as K;
    let reason = match std::error::Error::source(e) {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    };
    // A rejected certificate arrives as an I/O error of the handshake.
    let lower = reason.to_ascii_lowercase();
    let tls = ["certificate", "tls", "handshake"]
        .iter()
        .any(|t| lower.contains(t));
    match e.kind() {
        K::AuthorizationViolation | K::Authentication => Error::Unauthorized { reason },
        K::Tls => Error::Tls { reason },
        K::Io if tls => Error::Tls { reason },
        K::ServerParse => Error::Options { reason },
        K::Dns | K::TimedOut | K::Io | K::MaxReconnects => Error::Unreachable {
            url: url.to_owned(),
            reason,
        },
    }
}

/// The text of any displayable error, with its source.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    match e.source() {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

/// A server-side refusal or a transport failure, as `Server` (which
/// [`transient`] recognises when retrying helps).
pub(crate) fn server_error(op: &'static str, e: &(dyn std::error::Error + 'static)) -> Error {
    let reason = describe(e);
    if reason.contains("jetstream not enabled") || reason.contains("JetStream not enabled") {
        return Error::NoJetStream { reason };
    }
    Error::Server { op, reason }
}
