//! How to reach a server: its address, the credentials it requires, TLS,
//! and the timeouts, in one value every remote object is opened through.

use std::path::PathBuf;
use std::time::Duration;

/// The credentials a server may require; one kind at a time, as NATS takes
/// them.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// None: the server must allow anonymous clients.
    #[default]
    None,
    /// A user name and password (`authorization { user, password }`).
    UserPassword {
        /// The user.
        user: String,
        /// The password.
        password: String,
    },
    /// A token (`authorization { token }`).
    Token(String),
    /// An NKey seed (`SU...`): the client signs the server's nonce with it.
    NKey(String),
    /// A credentials file (a user JWT and its NKey seed, as `nsc` writes).
    CredentialsFile(PathBuf),
}

impl std::fmt::Debug for Auth {
    // Never print a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::UserPassword { user, .. } => write!(f, "UserPassword({user}, ***)"),
            Auth::Token(_) => f.write_str("Token(***)"),
            Auth::NKey(_) => f.write_str("NKey(***)"),
            Auth::CredentialsFile(p) => write!(f, "CredentialsFile({})", p.display()),
        }
    }
}

/// Where and how to connect. Built with setters, as the toolkit's builders
/// are:
///
/// ```
/// use ipc_remote::RemoteOptions;
/// use std::time::Duration;
///
/// let opts = RemoteOptions::new("nats://10.0.0.5:4222")
///     .user_password("svc", "secret")
///     .root_certificate("/etc/nats/ca.pem")
///     .connect_timeout(Duration::from_secs(2));
/// assert_eq!(opts.url(), "nats://10.0.0.5:4222");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RemoteOptions {
    pub(crate) url: String,
    pub(crate) auth: Auth,
    pub(crate) root_certificate: Option<PathBuf>,
    pub(crate) client_certificate: Option<(PathBuf, PathBuf)>,
    pub(crate) require_tls: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) name: Option<String>,
}

impl RemoteOptions {
    /// A server at `url` (`nats://host:port`, `tls://host:port`, or a
    /// comma-separated list of a cluster's servers), no credentials, a
    /// 5-second connect timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: Auth::None,
            root_certificate: None,
            client_certificate: None,
            require_tls: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            name: None,
        }
    }

    /// The server address given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Authenticates with a user name and password.
    pub fn user_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth = Auth::UserPassword {
            user: user.into(),
            password: password.into(),
        };
        self
    }

    /// Authenticates with a token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth = Auth::Token(token.into());
        self
    }

    /// Authenticates with an NKey seed.
    pub fn nkey(mut self, seed: impl Into<String>) -> Self {
        self.auth = Auth::NKey(seed.into());
        self
    }

    /// Authenticates with a credentials file.
    pub fn credentials_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth = Auth::CredentialsFile(path.into());
        self
    }

    /// Any of the above.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Trusts the CA certificate (PEM) at `path` for the server's TLS
    /// certificate, and requires TLS.
    pub fn root_certificate(mut self, path: impl Into<PathBuf>) -> Self {
        self.root_certificate = Some(path.into());
        self.require_tls = true;
        self
    }

    /// Presents a client certificate and key (PEM) for mutual TLS.
    pub fn client_certificate(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_certificate = Some((cert.into(), key.into()));
        self.require_tls = true;
        self
    }

    /// Refuses a server that does not speak TLS.
    pub fn require_tls(mut self, require: bool) -> Self {
        self.require_tls = require;
        self
    }

    /// How long connecting may take before [`Unreachable`](crate::Error::Unreachable).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one request to the server (an acknowledgement, a lookup)
    /// is waited for before it is retried; a blocking call's own timeout
    /// bounds the whole.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The client name the server shows in its monitoring.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}
