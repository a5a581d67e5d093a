//! [`SegmentOptions`]: how to create or open a segment, and its [`Backing`].

use std::path::PathBuf;
use std::time::Duration;

/// Where a segment's memory comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// A `memfd`: no name, shared by inheritance.
    Anonymous,
    /// A POSIX shared-memory name.
    Named(String),
    /// A file at a path.
    File(PathBuf),
}

/// How to create or open a segment: its backing plus a few knobs, set
/// builder-style.
///
/// ```
/// use ipc_core::segment::SegmentOptions;
/// use std::time::Duration;
///
/// let opts = SegmentOptions::named("my-app-state")
///     .mode(0o640)
///     .keep(true)
///     .init_timeout(Duration::from_millis(500));
/// # let _ = opts;
/// ```
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    pub(crate) backing: Backing,
    pub(crate) mode: u32,
    pub(crate) read_only: bool,
    pub(crate) unlink_on_drop: Option<bool>,
    pub(crate) reserve: bool,
    pub(crate) init_timeout: Duration,
}

impl SegmentOptions {
    fn with(backing: Backing) -> Self {
        Self {
            backing,
            mode: 0o600,
            read_only: false,
            unlink_on_drop: None,
            reserve: true,
            init_timeout: Duration::from_secs(2),
        }
    }

    /// A named segment in the POSIX shared-memory namespace (`/dev/shm`). The
    /// leading `/` is optional.
    pub fn named(name: &str) -> Self {
        Self::with(Backing::Named(name.to_owned()))
    }

    /// An anonymous segment, shared with forked children.
    pub fn anonymous() -> Self {
        Self::with(Backing::Anonymous)
    }

    /// A segment backed by the file at `path`, persistent across processes.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::with(Backing::File(path.into()))
    }

    /// Permission bits for a created segment (default `0o600`), applied
    /// exactly, regardless of the umask.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o777;
        self
    }

    /// Open through a read-only mapping (writes are impossible, not just
    /// discouraged).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Keep the name or file when the creator drops the segment (named
    /// segments are removed by default, files kept).
    pub fn keep(mut self, keep: bool) -> Self {
        self.unlink_on_drop = Some(!keep);
        self
    }

    /// Reserve the memory or disk blocks at creation (default on), so that a
    /// full filesystem is an error now rather than a `SIGBUS` later.
    pub fn reserve(mut self, reserve: bool) -> Self {
        self.reserve = reserve;
        self
    }

    /// How long an opener waits for a creator that is still initialising the
    /// object (default 2 s).
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.init_timeout = timeout;
        self
    }

    /// The backing these options point at.
    pub fn backing(&self) -> &Backing {
        &self.backing
    }

    /// A human-readable name for errors: the shm name, the path, or
    /// `<anonymous>`.
    pub fn display_name(&self) -> String {
        match &self.backing {
            Backing::Anonymous => "<anonymous>".to_owned(),
            Backing::Named(n) => n.clone(),
            Backing::File(p) => p.display().to_string(),
        }
    }
}
