//! [`Manager`]: a named store of shared objects, found by name.
//!
//! A manager is a root segment plus the heap segments it grew (see
//! [`crate::storage::arena`]). Its directory, an internal dictionary in the root, maps
//! each object's name to a descriptor: the object's kind, where it lives in
//! the heap, and its element type. Looking an object up is a lock-free
//! dictionary read; creating one takes the writer lock, allocates and
//! initialises the object, and publishes it by inserting its descriptor
//! (one atomic store), so a creator killed midway leaves no half-made object.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ipc_core::segment::{ObjectSegment, Segment, SegmentOptions, TypeDesc};
use ipc_core::sync::{Barrier, Event, RobustMutex, Semaphore};

use crate::error::{Error, Result, corrupted};
use crate::objects::dict::Dict;
use crate::objects::directory;
use crate::objects::list::List;
use crate::objects::sync::{Handle, Lock};
use crate::objects::value::Value;
use crate::storage::arena::{Arena, Backing};
use crate::storage::inner::Inner;
use crate::storage::layout::{
    BACKING_ANONYMOUS, BACKING_FILE, BACKING_NAMED, MAGIC, MAX_SEGMENTS, MIN_BLOCK, READER_SLOTS,
    ROOT_HEAP_START, ROOT_KIND, ROOT_OFF, Root, SENTINEL, SIZE_MASK, obj,
};
use crate::storage::recovery::HeapReport;
use crate::storage::{recovery, txn};
use ipc_core::Message;

/// Sizes chosen when a manager is created.
///
/// ```
/// use ipc_manager::{Manager, ManagerConfig};
/// use ipc_core::segment::SegmentOptions;
///
/// let config = ManagerConfig {
///     initial_size: 256 * 1024,
///     ..ManagerConfig::default()
/// };
/// let m = Manager::builder().config(config).create()?;
/// m.dict("d")?.insert("k", b"v")?;
/// # Ok::<(), ipc_manager::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerConfig {
    /// Bytes of heap in the first segment (default 1 MiB). The manager grows
    /// past it on demand.
    pub initial_size: u64,
    /// For an anonymous manager: the most it may ever grow to (default
    /// 1 GiB). Only address space is taken up front; memory is reserved as
    /// the manager grows. Beyond it, writes fail with
    /// [`Error::CapacityExhausted`].
    pub anonymous_capacity: u64,
    /// An upper bound on the total size of all segments (0, the default:
    /// none but the segment count, [`MAX_SEGMENTS`]).
    pub max_size: u64,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            initial_size: 1 << 20,
            anonymous_capacity: 1 << 30,
            max_size: 0,
        }
    }
}

/// Configures and creates or opens a [`Manager`]; every shared object of the
/// toolkit is built this way (`docs/api-guidelines.md` in the repository).
///
/// ```
/// use ipc_manager::Manager;
///
/// let name = format!("doc-manager-builder-{}", std::process::id());
/// let builder = Manager::builder().named(&name).initial_size(256 * 1024);
/// let m = builder.create()?;
/// m.dict("d")?.insert("k", b"v")?;
/// // Another process opens it by the same builder (here: the same one).
/// let again = builder.open()?;
/// assert!(again.dict("d")?.contains("k")?);
/// # Ok::<(), ipc_manager::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until create, open or open_or_create is called"]
pub struct ManagerBuilder {
    options: SegmentOptions,
    config: ManagerConfig,
    write_timeout: Option<Duration>,
}

impl Default for ManagerBuilder {
    fn default() -> Self {
        Self {
            options: SegmentOptions::anonymous(),
            config: ManagerConfig::default(),
            write_timeout: None,
        }
    }
}

impl ManagerBuilder {
    /// Where the manager lives (default: anonymous, shared with forked
    /// children).
    pub fn options(mut self, options: SegmentOptions) -> Self {
        self.options = options;
        self
    }

    /// Shorthand for `.options(SegmentOptions::named(name))`.
    ///
    /// Growth adds segments `name.1` .. `name.63`, so a name (or a backing
    /// file's name) may be at most 252 bytes; a longer one is refused with
    /// `InvalidName` when the manager is created.
    pub fn named(self, name: &str) -> Self {
        self.options(SegmentOptions::named(name))
    }

    /// All the sizes at once.
    pub fn config(mut self, config: ManagerConfig) -> Self {
        self.config = config;
        self
    }

    /// Bytes of heap in the first segment ([`ManagerConfig::initial_size`]).
    pub fn initial_size(mut self, bytes: u64) -> Self {
        self.config.initial_size = bytes;
        self
    }

    /// The most an anonymous manager may grow to
    /// ([`ManagerConfig::anonymous_capacity`]).
    pub fn anonymous_capacity(mut self, bytes: u64) -> Self {
        self.config.anonymous_capacity = bytes;
        self
    }

    /// An upper bound on the total size of all segments
    /// ([`ManagerConfig::max_size`]).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.config.max_size = bytes;
        self
    }

    /// How long every write through the new handle (and its clones) waits
    /// for the manager's writer lock before failing with a timeout error
    /// ([`Error::is_timeout`]); default: for ever. Writes wait only while
    /// another process is inside a write: one stopped there (`SIGSTOP`, a
    /// debugger) would otherwise hold every writer. Reads never wait. See
    /// [`Manager::set_write_timeout`].
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = Some(timeout);
        self
    }

    fn configured(&self, m: Manager) -> Manager {
        m.set_write_timeout(self.write_timeout);
        m
    }

    /// Creates the manager; fails with `AlreadyExists` if the name or file
    /// is taken.
    pub fn create(&self) -> Result<Manager> {
        Manager::create_with(&self.options, &self.config).map(|m| self.configured(m))
    }

    /// Opens an existing named or file-backed manager (the sizes are the
    /// creator's). Growth made by other processes since it was created is
    /// mapped as it is met.
    pub fn open(&self) -> Result<Manager> {
        Manager::open_with(&self.options).map(|m| self.configured(m))
    }

    /// Opens the manager if it exists, creates it otherwise (race-free
    /// between processes; the sizes apply only if it creates).
    pub fn open_or_create(&self) -> Result<Manager> {
        Manager::open_or_create_with(&self.options, &self.config).map(|m| self.configured(m))
    }
}

/// A store of named shared objects (Python's `multiprocessing.Manager()`,
/// without the server process).
///
/// Every process that opens the manager maps the same memory; dictionaries,
/// lists and values are read and written in place. A `Manager` handle is
/// cheap to clone (clones share one mapping), can be moved into a child
/// started with [`Process::spawn`](ipc_core::process::Process::spawn), and
/// every object handle keeps the mapping alive on its own.
///
/// Three backings, chosen with [`SegmentOptions`]:
///
/// - **named** ([`SegmentOptions::named`]): any process opens it by name.
///   The segments are `/dev/shm/<name>`, `<name>.1`, `<name>.2`, ...; the
///   creating handle removes them all when dropped, unless created with
///   `keep(true)`.
/// - **file** ([`SegmentOptions::file`]): the files `<path>`, `<path>.1`,
///   ...; the contents survive every process exiting (and a reboot) and are
///   found again by [`ManagerBuilder::open`].
/// - **anonymous** ([`SegmentOptions::anonymous`]): no name; shared with
///   children forked after creation. It is one segment of fixed capacity
///   ([`ManagerConfig::anonymous_capacity`]), committed as it grows.
///
/// ```
/// use ipc_core::process::Process;
/// use ipc_core::segment::SegmentOptions;
/// use ipc_manager::Manager;
///
/// let m = Manager::new()?;
/// let d = m.dict("config")?;
/// d.insert("mode", b"fast")?;
/// let child = Process::spawn({
///     let m = m.clone();
///     move || {
///         let d = m.dict("config").unwrap();
///         assert_eq!(d.get("mode").unwrap().as_deref(), Some(&b"fast"[..]));
///         d.insert("seen", b"yes").unwrap();
///     }
/// })?;
/// assert!(child.join()?.success());
/// assert!(d.contains("seen")?);
/// # Ok::<(), ipc_manager::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Manager {
    inner: Arc<Inner>,
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn root_type() -> TypeDesc {
    TypeDesc::new("ipc_manager::Root", size_of::<Root>() as u64, 64)
}

fn backing_of(opts: &SegmentOptions) -> (Backing, u64) {
    match opts.backing() {
        ipc_core::segment::Backing::Anonymous => (Backing::Anonymous, BACKING_ANONYMOUS),
        ipc_core::segment::Backing::Named(n) => (
            Backing::Named(n.strip_prefix('/').unwrap_or(n).to_owned()),
            BACKING_NAMED,
        ),
        ipc_core::segment::Backing::File(p) => (Backing::File(p.clone()), BACKING_FILE),
    }
}

/// Refuses, at create, a name whose heap segments could not be named later.
///
/// Growth adds segments called `NAME.1` .. `NAME.63` beside the manager (or
/// files `PATH.1` ..); the kernel's `NAME_MAX` (255 bytes) bounds each one.
/// A name that fits alone but not with its longest suffix would be accepted
/// here and fail only at the first growth, in the middle of a caller's write.
fn check_growth_names(backing: &Backing) -> Result<()> {
    use ipc_core::segment::NAME_MAX;
    let suffix = format!(".{}", MAX_SEGMENTS - 1).len();
    let (shown, len) = match backing {
        Backing::Anonymous => return Ok(()),
        Backing::Named(base) => (base.clone(), base.len()),
        Backing::File(path) => match path.file_name() {
            Some(file) => (path.display().to_string(), file.len()),
            None => return Ok(()),
        },
    };
    if len + suffix > NAME_MAX {
        return Err(ipc_core::Error::InvalidName {
            name: shown,
            reason: "too long for the manager's heap segments: NAME.63 must fit in 255 bytes, so at most 252",
        }
        .into());
    }
    Ok(())
}

/// Segment 0's layout for a configuration: (mapped length, committed length).
fn plan(config: &ManagerConfig, anonymous: bool) -> Result<(u64, u64)> {
    let limit = ipc_core::segment::MAX_SEGMENT_LEN / 2;
    if config.initial_size > limit || config.anonymous_capacity > limit {
        return Err(Error::CapacityExhausted {
            requested: config.initial_size.max(config.anonymous_capacity),
            reason: "larger than the largest segment",
        });
    }
    let heap = config.initial_size.max(64 * 1024).next_multiple_of(4096);
    let committed = ROOT_HEAP_START + heap;
    let mapped = if anonymous {
        config
            .anonymous_capacity
            .max(committed)
            .next_multiple_of(4096)
    } else {
        committed
    };
    if config.max_size != 0 && committed > config.max_size {
        return Err(Error::CapacityExhausted {
            requested: committed,
            reason: "max_size is smaller than the initial size",
        });
    }
    if mapped > ipc_core::segment::MAX_SEGMENT_LEN {
        return Err(Error::CapacityExhausted {
            requested: mapped,
            reason: "larger than the largest segment",
        });
    }
    Ok((mapped, committed))
}

impl Manager {
    /// An anonymous manager with the default sizes, shared with children
    /// forked after its creation (the shortcut for
    /// `Manager::builder().create()`).
    pub fn new() -> Result<Self> {
        Self::builder().create()
    }

    /// A [`ManagerBuilder`]: where the manager lives and how large it starts.
    pub fn builder() -> ManagerBuilder {
        ManagerBuilder::default()
    }

    /// Sets how long writes through this handle and its clones (and the
    /// object handles made from them) wait for the writer lock; `None`
    /// waits for ever (see [`ManagerBuilder::write_timeout`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ipc_manager::Manager;
    ///
    /// let m = Manager::new()?;
    /// m.set_write_timeout(Some(Duration::from_millis(100)));
    /// m.dict("d")?.insert("k", b"v")?; // no other writer: no wait
    /// assert_eq!(m.write_timeout(), Some(Duration::from_millis(100)));
    /// # Ok::<(), ipc_manager::Error>(())
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) {
        self.inner.set_write_timeout(timeout);
    }

    /// How long writes wait for the writer lock (`None`: for ever).
    pub fn write_timeout(&self) -> Option<Duration> {
        self.inner.write_timeout()
    }

    fn create_with(opts: &SegmentOptions, config: &ManagerConfig) -> Result<Self> {
        let (backing, kind) = backing_of(opts);
        check_growth_names(&backing)?;
        let (mapped, committed) = plan(config, kind == BACKING_ANONYMOUS)?;
        let seg_opts = if kind == BACKING_ANONYMOUS {
            // Only address space up front; memory is reserved as it grows.
            opts.clone().reserve(false)
        } else {
            opts.clone()
        };
        let object = ObjectSegment::create(
            &seg_opts,
            ROOT_KIND,
            &root_type(),
            mapped - ROOT_OFF,
            |p, len| init_payload(p, len, config, kind, mapped, committed),
        )?;
        Self::finish_create(object, backing, kind, committed)
    }

    fn finish_create(
        object: ObjectSegment,
        backing: Backing,
        kind: u64,
        committed: u64,
    ) -> Result<Self> {
        if kind == BACKING_ANONYMOUS {
            object.segment().reserve(0, committed)?;
        }
        let inner = Self::wrap(object, backing, true)?;
        Ok(Self { inner })
    }

    fn open_with(opts: &SegmentOptions) -> Result<Self> {
        let (backing, _) = backing_of(opts);
        if matches!(backing, Backing::Anonymous) {
            return Err(ipc_core::Error::InvalidArgument {
                reason: "an anonymous manager has no name: clone the handle into forked children",
            }
            .into());
        }
        let object = ObjectSegment::open(opts, ROOT_KIND, Some(&root_type()))?;
        let inner = Self::wrap(object, backing, false)?;
        Ok(Self { inner })
    }

    fn open_or_create_with(opts: &SegmentOptions, config: &ManagerConfig) -> Result<Self> {
        let (backing, kind) = backing_of(opts);
        if kind == BACKING_ANONYMOUS {
            return Self::create_with(opts, config);
        }
        check_growth_names(&backing)?;
        let (mapped, committed) = plan(config, false)?;
        let object = ObjectSegment::open_or_create(
            opts,
            ROOT_KIND,
            &root_type(),
            mapped - ROOT_OFF,
            |p, len| init_payload(p, len, config, kind, mapped, committed),
        )?;
        if object.was_created() {
            Self::finish_create(object, backing, kind, committed)
        } else {
            let inner = Self::wrap(object, backing, false)?;
            Ok(Self { inner })
        }
    }

    /// Removes a named manager's segments (`name`, `name.1`, ...) from
    /// `/dev/shm`, e.g. one created with `keep(true)` or left behind by a
    /// killed creator. Processes that have it open keep using it.
    pub fn unlink(name: &str) -> Result<()> {
        let base = name.strip_prefix('/').unwrap_or(name).to_owned();
        let backing = Backing::Named(base.clone());
        for n in 1..MAX_SEGMENTS {
            backing.remove_segment(n)?;
        }
        Ok(Segment::unlink(&base)?)
    }

    /// Removes a named manager left behind by a creator that is gone (killed,
    /// or exited without removing it), heap segments (`name.1`, ...)
    /// included; returns whether it did. A manager whose creator lives is
    /// left alone.
    ///
    /// Meant for managers whose lifetime is their creator's (the default:
    /// the creator's last handle removes them). One created with
    /// `keep(true)` to outlive its creator counts as stale too once the
    /// creator is gone: remove such a manager with [`unlink`](Self::unlink)
    /// when you mean to.
    pub fn remove_if_stale(name: &str) -> Result<bool> {
        let opts = SegmentOptions::named(name);
        match ObjectSegment::is_stale(&opts) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            // A manager whose root is gone but whose heap segments were left
            // (a remover killed halfway): those are stale by definition.
            Err(ipc_core::Error::NotFound { .. }) => {
                let base = name.strip_prefix('/').unwrap_or(name);
                let backing = Backing::Named(base.to_owned());
                let mut removed = false;
                for n in 1..MAX_SEGMENTS {
                    let seg = format!("{base}.{n}");
                    if Segment::exists(&seg).unwrap_or(false) {
                        backing.remove_segment(n)?;
                        removed = true;
                    }
                }
                return Ok(removed);
            }
            Err(e) => return Err(e.into()),
        }
        match Self::unlink(name) {
            // Another process removed it meanwhile: it is gone either way.
            Ok(()) | Err(Error::Core(ipc_core::Error::NotFound { .. })) => {
                ipc_core::trace_event!(
                    info,
                    manager = name,
                    "removed a stale manager (its creator is gone)"
                );
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes a file-backed manager's files (`path`, `path.1`, ...).
    pub fn remove_files(path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = path.as_ref();
        let backing = Backing::File(path.to_owned());
        for n in 1..MAX_SEGMENTS {
            backing.remove_segment(n)?;
        }
        std::fs::remove_file(path).map_err(|e| {
            ipc_core::Error::for_name(
                "unlink",
                e.raw_os_error().unwrap_or(0),
                &path.display().to_string(),
            )
            .into()
        })
    }

    fn wrap(object: ObjectSegment, backing: Backing, created: bool) -> Result<Arc<Inner>> {
        if object.segment().is_read_only() {
            return Err(ipc_core::Error::InvalidArgument {
                reason: "a manager cannot be opened read-only: its readers register in it",
            }
            .into());
        }
        let kind = match backing {
            Backing::Named(_) => BACKING_NAMED,
            Backing::File(_) => BACKING_FILE,
            Backing::Anonymous => BACKING_ANONYMOUS,
        };
        let arena = Arena::new(object, backing)?;
        let root = arena.root();
        if root.magic.load(Ordering::Relaxed) != MAGIC {
            return Err(corrupted("the manager root has a bad magic number"));
        }
        if root.backing.load(Ordering::Relaxed) != kind {
            return Err(corrupted(
                "the manager root records another kind of backing",
            ));
        }
        let count = root.state.seg_count.load(Ordering::Acquire);
        if count == 0 || count > MAX_SEGMENTS as u64 {
            return Err(corrupted(format!("segment count {count} out of range")));
        }
        if root.heap_start.load(Ordering::Relaxed) != ROOT_HEAP_START {
            return Err(corrupted("the manager root records another heap layout"));
        }
        arena.refresh(0)?;
        let inner = Inner::new(arena, created);
        if kind == BACKING_FILE && !created {
            recovery::after_restart(&inner)?;
        }
        Ok(inner)
    }

    /// The dictionary called `name`, created empty if it does not exist
    /// (Python's `manager.dict()`).
    pub fn dict(&self, name: &str) -> Result<Dict> {
        Dict::find_or_create(&self.inner, name)
    }

    /// The list called `name`, created empty if new. An existing list of
    /// another element type is an [`Error::WrongType`].
    pub fn list<T: Message>(&self, name: &str) -> Result<List<T>> {
        List::find_or_create(&self.inner, name)
    }

    /// The value called `name`, created holding `initial` if new. An
    /// existing value of another type is an [`Error::WrongType`].
    pub fn value<T: Message>(&self, name: &str, initial: T) -> Result<Value<T>> {
        Value::find_or_create(&self.inner, name, initial)
    }

    /// The lock called `name` (created unlocked if new).
    pub fn lock(&self, name: &str) -> Result<Lock> {
        Handle::find_or_create(&self.inner, name, obj::LOCK, Some(0), || {
            RobustMutex::new(())
        })
    }

    /// The event called `name` (created clear if new).
    pub fn event(&self, name: &str) -> Result<Handle<Event>> {
        Handle::find_or_create(&self.inner, name, obj::EVENT, Some(0), Event::new)
    }

    /// The semaphore called `name`, created with `initial` permits if new
    /// (an existing one keeps its count, whatever `initial` says).
    pub fn semaphore(&self, name: &str, initial: u32) -> Result<Handle<Semaphore>> {
        Handle::find_or_create(&self.inner, name, obj::SEMAPHORE, None, || {
            Semaphore::new(initial)
        })
    }

    /// The barrier called `name` for `parties` processes; an existing
    /// barrier with another party count is an [`Error::WrongKind`].
    pub fn barrier(&self, name: &str, parties: u32) -> Result<Handle<Barrier>> {
        Handle::find_or_create(
            &self.inner,
            name,
            obj::BARRIER,
            Some(u64::from(parties)),
            || Barrier::new(parties),
        )
    }

    /// The names and kinds (`"dict"`, `"list"`, `"value"`, `"lock"`,
    /// `"event"`, `"semaphore"`, `"barrier"`) of all objects, sorted by name.
    pub fn objects(&self) -> Result<Vec<(String, &'static str)>> {
        directory::list_objects(&self.inner)
    }

    /// Sizes and counters, for monitoring and tests.
    pub fn stats(&self) -> Result<Stats> {
        let root = self.inner.root();
        let count = (root.state.seg_count.load(Ordering::Acquire) as usize).min(MAX_SEGMENTS);
        let limbo = root.bags.iter().fold(0u64, |t, b| {
            t.saturating_add(b.bytes.load(Ordering::Relaxed))
        });
        Ok(Stats {
            segments: count,
            committed_bytes: root.seg_len[..count]
                .iter()
                .fold(0u64, |t, l| t.saturating_add(l.load(Ordering::Relaxed))),
            limbo_bytes: limbo,
            recoveries: root.state.recoveries.load(Ordering::Relaxed),
            interrupted_growths: root.interrupted_growths.load(Ordering::Relaxed),
            reclaims: root.state.reclaims.load(Ordering::Relaxed),
            epoch: root.epoch.epoch.load(Ordering::Relaxed),
        })
    }

    /// The processes holding reader slots (each process that read the
    /// manager keeps one per handle set while it lives; a dead one's slot is
    /// freed by the next writer that needs it). For inspection tools.
    pub fn readers(&self) -> Vec<ipc_core::liveness::Holder> {
        let root = self.inner.root();
        let hw = (root.state.slot_hw.load(Ordering::Acquire) as usize).min(READER_SLOTS);
        root.slots[..hw]
            .iter()
            .map(|s| s.claim.load(Ordering::Acquire))
            .filter(|&c| c != 0 && c != u64::MAX)
            .map(ipc_core::liveness::Holder::from_packed)
            .collect()
    }

    /// Walks the whole heap and checks every structure (taking the writer
    /// lock, and running recovery first if a writer died). Returns what it
    /// found; an inconsistency is an [`Error::Corrupted`].
    pub fn check(&self) -> Result<HeapReport> {
        txn::write(&self.inner, crate::storage::recovery::check)
    }

    /// Runs every pending reclamation now (normally done a little at a time
    /// by writers), first freeing the reader slots of dead processes.
    /// Garbage that a live pinned reader may still see stays.
    pub fn reclaim(&self) -> Result<()> {
        txn::write(&self.inner, |w| w.reclaim_with(true).map(drop))
    }

    /// Whether this handle set created the manager (and so removes a named
    /// one when the last handle is dropped, unless kept).
    pub fn was_created(&self) -> bool {
        self.inner.was_created()
    }
}

/// What [`Manager::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Segments the manager spans.
    pub segments: usize,
    /// Bytes committed over all segments.
    pub committed_bytes: u64,
    /// Bytes retired but not yet reusable (readers may still see them).
    pub limbo_bytes: u64,
    /// Times recovery ran after a writer died.
    pub recoveries: u64,
    /// Of those, how many found the writer in the middle of growing the
    /// arena (and finished or undid the step).
    pub interrupted_growths: u64,
    /// Reclamation passes so far.
    pub reclaims: u64,
    /// The global epoch.
    pub epoch: u64,
}

/// Initialises a fresh root payload (inside `ObjectSegment::create`, before
/// any other process can see the manager).
#[allow(unsafe_code)] // a protocol step on a raw slot or block, argued inline
fn init_payload(
    p: std::ptr::NonNull<u8>,
    len: usize,
    config: &ManagerConfig,
    kind: u64,
    mapped: u64,
    committed: u64,
) -> ipc_core::Result<()> {
    if (len as u64) + ROOT_OFF < committed
        || committed < ROOT_HEAP_START + MIN_BLOCK + SENTINEL
        || !committed.is_multiple_of(16)
    {
        return Err(ipc_core::Error::InvalidSize {
            size: len as u64,
            reason: "manager root segment too small",
        });
    }
    // SAFETY: ObjectSegment::create hands us the fresh, zeroed payload of
    // `len` bytes at segment offset ROOT_OFF (64-aligned: the TypeDesc
    // declares alignment 64), which no other process can open yet; we
    // checked above that it reaches the committed length.
    unsafe {
        crate::storage::format::init_root_payload(p, committed, |root| {
            root.manager_id.store(random_u64(), Ordering::Relaxed);
            root.seed[0].store(random_u64(), Ordering::Relaxed);
            root.seed[1].store(random_u64(), Ordering::Relaxed);
            root.capacity.store(mapped, Ordering::Relaxed);
            root.heap_start.store(ROOT_HEAP_START, Ordering::Relaxed);
            root.backing.store(kind, Ordering::Relaxed);
            root.max_len.store(config.max_size, Ordering::Relaxed);
            root.epoch.epoch.store(1, Ordering::Relaxed);
            root.state.seg_count.store(1, Ordering::Relaxed);
            root.state
                .boot
                .store(crate::storage::recovery::boot_id(), Ordering::Relaxed);
            root.seg_len[0].store(committed & SIZE_MASK, Ordering::Relaxed);
            // The heap's one free block (laid out below) heads its free list.
            let free = committed - ROOT_HEAP_START - SENTINEL;
            let class = crate::storage::heap::class_of(free);
            root.free_heads[class].store(
                crate::storage::layout::make_ref(0, ROOT_HEAP_START),
                Ordering::Relaxed,
            );
            root.free_bits[class / 64].store(1 << (class % 64), Ordering::Relaxed);
            root.magic.store(MAGIC, Ordering::Release);
        })
    };
    Ok(())
}
