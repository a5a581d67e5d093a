//! [`Manager`]: a named store of shared objects, found by name.
//!
//! A manager is a root segment plus the heap segments it grew (see
//! [`crate::arena`]). Its directory, an internal dictionary in the root, maps
//! each object's name to a descriptor: the object's kind, where it lives in
//! the heap, and its element type. Looking an object up is a lock-free
//! dictionary read; creating one takes the writer lock, allocates and
//! initialises the object, and publishes it by inserting its descriptor
//! (one atomic store), so a creator killed midway leaves no half-made object.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ipc_core::segment::{ObjectSegment, Segment, SegmentOptions, TypeDesc};

use crate::arena::{Arena, Backing, corrupted};
use crate::dict::Dict;
use crate::dict::table;
use crate::epoch::pin;
use crate::error::{Error, Result};
use crate::hash::hash;
use crate::layout::{
    BACKING_ANONYMOUS, BACKING_FILE, BACKING_NAMED, BLOCK_HDR, DIRECTORY_REF, MAGIC, MAX_SEGMENTS,
    MIN_BLOCK, ObjectDesc, REGISTRY_REF, ROOT_HEAP_START, ROOT_KIND, ROOT_OFF, Root, SENTINEL,
    SIZE_MASK, obj,
};
use crate::types::{DESC_TAG, TYPE_TAG, TypeTag};
use crate::{MAX_NAME_LEN, writer::Writer};

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
/// let m = Manager::create_with(&SegmentOptions::anonymous(), &config)?;
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
    /// none but the segment count, [`MAX_SEGMENTS`](crate::MAX_SEGMENTS)).
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

/// Numbers handle sets within this process (thread-local slot records are
/// keyed by it).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Removes the additional segments of a named manager once its root is gone
/// (declared after the arena in [`Inner`], so it runs after the root
/// segment's own drop decided whether to remove the root).
#[derive(Debug, Default)]
struct Cleanup {
    armed: Option<(Backing, usize, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Some((backing, count, root)) = self.armed.take() else {
            return;
        };
        let root_gone = match &backing {
            Backing::Named(_) => !Segment::exists(&root).unwrap_or(true),
            Backing::File(p) => !p.exists(),
            Backing::Anonymous => false,
        };
        if root_gone {
            for n in 1..count {
                let _ = backing.remove_segment(n);
            }
        }
    }
}

/// Everything a handle needs, shared by all handles of one open manager in
/// one process.
pub(crate) struct Inner {
    pub(crate) arena: Arena,
    /// Process-local id of this handle set.
    pub(crate) id: u64,
    /// The hash seed (copied from the root, where it never changes).
    pub(crate) seed: [u64; 2],
    /// The pid of the process that created (and may remove) the manager,
    /// if it was this handle set that created it.
    creator_pid: Option<u32>,
    last_liveness_check: Mutex<Option<Instant>>,
    cleanup: Cleanup,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("arena", &self.arena)
            .field("id", &self.id)
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.release_all_slots();
        let me = std::process::id();
        if self.creator_pid == Some(me) {
            let count = self
                .arena
                .root()
                .state
                .seg_count
                .load(Ordering::Acquire)
                .min(MAX_SEGMENTS as u64) as usize;
            let root_name = match self.arena.backing() {
                Backing::Named(n) => n.clone(),
                _ => String::new(),
            };
            self.cleanup.armed = Some((self.arena.backing().clone(), count, root_name));
        } else {
            // A forked child (or an opener) never removes the manager.
            self.arena
                .root_segment_mut()
                .segment_mut()
                .set_unlink_on_drop(false);
        }
    }
}

impl Inner {
    /// Whether a (rate-limited) liveness check of reader slots may run now.
    pub(crate) fn liveness_check_due(&self, every: Duration) -> bool {
        let mut last = self
            .last_liveness_check
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        crate::epoch::due(&mut last, every)
    }

    pub(crate) fn root(&self) -> &Root {
        self.arena.root()
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
///   found again by [`Manager::open`].
/// - **anonymous** ([`SegmentOptions::anonymous`]): no name; shared with
///   children forked after creation. It is one segment of fixed capacity
///   ([`ManagerConfig::anonymous_capacity`]), committed as it grows.
///
/// ```
/// use ipc_core::process::Process;
/// use ipc_core::segment::SegmentOptions;
/// use ipc_manager::Manager;
///
/// let m = Manager::create(&SegmentOptions::anonymous())?;
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
    /// Creates a manager with the default [`ManagerConfig`]. Fails with
    /// `Core(AlreadyExists)` if the name or path is taken.
    pub fn create(opts: &SegmentOptions) -> Result<Self> {
        Self::create_with(opts, &ManagerConfig::default())
    }

    /// Creates a manager with the given sizes.
    pub fn create_with(opts: &SegmentOptions, config: &ManagerConfig) -> Result<Self> {
        let (backing, kind) = backing_of(opts);
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

    /// Opens an existing named or file-backed manager. Growth made by other
    /// processes since it was created is mapped as it is met.
    pub fn open(opts: &SegmentOptions) -> Result<Self> {
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

    /// Opens the manager if it exists, creates it otherwise (race-free
    /// between processes).
    pub fn open_or_create(opts: &SegmentOptions) -> Result<Self> {
        Self::open_or_create_with(opts, &ManagerConfig::default())
    }

    /// [`open_or_create`](Self::open_or_create) with the given sizes (used
    /// only if it creates).
    pub fn open_or_create_with(opts: &SegmentOptions, config: &ManagerConfig) -> Result<Self> {
        let (backing, kind) = backing_of(opts);
        if kind == BACKING_ANONYMOUS {
            return Self::create_with(opts, config);
        }
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
        let seed = [
            root.seed[0].load(Ordering::Relaxed),
            root.seed[1].load(Ordering::Relaxed),
        ];
        let inner = Arc::new(Inner {
            arena,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            seed,
            creator_pid: created.then(std::process::id),
            last_liveness_check: Mutex::new(None),
            cleanup: Cleanup::default(),
        });
        if kind == BACKING_FILE && !created {
            crate::recovery::after_restart(&inner)?;
        }
        Ok(inner)
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// The dictionary called `name`, created empty if it does not exist
    /// (Python's `manager.dict()`).
    pub fn dict(&self, name: &str) -> Result<Dict> {
        let desc = find_or_create(&self.inner, name, obj::DICT, None, Some(0), |w| {
            let b = w.alloc_zeroed(crate::layout::dict_hdr::SIZE)?;
            Ok((b, b + BLOCK_HDR))
        })?;
        Ok(Dict::from_parts(self.inner.clone(), desc.object, name))
    }

    /// The names and kinds (`"dict"`, `"list"`, `"value"`, `"lock"`,
    /// `"event"`, `"semaphore"`, `"barrier"`) of all objects, sorted by name.
    pub fn objects(&self) -> Result<Vec<(String, &'static str)>> {
        let inner = &self.inner;
        let _pin = pin(inner)?;
        let entries = table::consistent_snapshot(inner, DIRECTORY_REF)?;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let meta = table::entry_meta(&inner.arena, e)?;
            let name = table::read_key(&inner.arena, e, &meta)?;
            let desc = ObjectDesc::decode(&table::read_value(&inner.arena, e, &meta)?)
                .ok_or_else(|| corrupted("bad object descriptor"))?;
            out.push((
                String::from_utf8_lossy(&name).into_owned(),
                obj::name(desc.kind),
            ));
        }
        out.sort();
        Ok(out)
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

    /// Walks the whole heap and checks every structure (taking the writer
    /// lock, and running recovery first if a writer died). Returns what it
    /// found; an inconsistency is an [`Error::Corrupted`].
    pub fn check(&self) -> Result<HeapReport> {
        self.inner.write(crate::recovery::check)
    }

    /// Runs every pending reclamation now (normally done a little at a time
    /// by writers), first freeing the reader slots of dead processes.
    /// Garbage that a live pinned reader may still see stays.
    pub fn reclaim(&self) -> Result<()> {
        self.inner.write(|w| w.reclaim_with(true).map(drop))
    }

    /// Whether this handle set created the manager (and so removes a named
    /// one when the last handle is dropped, unless kept).
    pub fn was_created(&self) -> bool {
        self.inner.creator_pid == Some(std::process::id())
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

/// What [`Manager::check`] found in the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct HeapReport {
    /// Used blocks reachable from the directory.
    pub live_blocks: u64,
    /// Their bytes.
    pub live_bytes: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Their bytes.
    pub free_bytes: u64,
    /// Blocks waiting in limbo.
    pub limbo_blocks: u64,
    /// Used blocks reachable from nothing (0 unless a writer died; recovery
    /// moves them to limbo).
    pub leaked_blocks: u64,
    /// Objects in the directory.
    pub objects: u64,
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
        crate::shm::init_root_payload(p, committed, |root| {
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
                .store(crate::recovery::boot_id(), Ordering::Relaxed);
            root.seg_len[0].store(committed & SIZE_MASK, Ordering::Relaxed);
            // The heap's one free block (laid out below) heads its free list.
            let free = committed - ROOT_HEAP_START - SENTINEL;
            let class = crate::alloc::class_of(free);
            root.free_heads[class].store(
                crate::layout::make_ref(0, ROOT_HEAP_START),
                Ordering::Relaxed,
            );
            root.free_bits[class / 64].store(1 << (class % 64), Ordering::Relaxed);
            root.magic.store(MAGIC, Ordering::Release);
        })
    };
    Ok(())
}

/// Checks an object name.
fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("longer than MAX_NAME_LEN bytes")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Looks `name` up in the directory (pinned, lock-free).
pub(crate) fn find_object(inner: &Arc<Inner>, name: &str) -> Result<Option<ObjectDesc>> {
    let _pin = pin(inner)?;
    let h = hash(inner.seed, name.as_bytes());
    let Some(e) = table::lookup(&inner.arena, DIRECTORY_REF, name.as_bytes(), h)? else {
        return Ok(None);
    };
    decode_desc(inner, e).map(Some)
}

fn decode_desc(inner: &Inner, e: u64) -> Result<ObjectDesc> {
    let meta = table::entry_meta(&inner.arena, e)?;
    if meta.tag != DESC_TAG {
        return Err(corrupted("directory entry without a descriptor"));
    }
    ObjectDesc::decode(&table::read_value(&inner.arena, e, &meta)?)
        .ok_or_else(|| corrupted("bad object descriptor"))
}

/// Finds the object `name`, or creates it with `create` (which allocates
/// and initialises it, returning its block and object refs). Checks that an
/// existing object has the asked-for kind, type tag and parameter.
pub(crate) fn find_or_create(
    inner: &Arc<Inner>,
    name: &str,
    kind: u64,
    ty: Option<&TypeTag>,
    param: Option<u64>,
    create: impl FnOnce(&mut Writer<'_>) -> Result<(u64, u64)>,
) -> Result<ObjectDesc> {
    check_name(name)?;
    let tag = ty.map_or(0, |t| t.tag);
    let check = |desc: ObjectDesc| -> Result<ObjectDesc> {
        if desc.kind != kind {
            return Err(Error::WrongKind {
                name: name.to_owned(),
                expected: obj::name(kind).to_owned(),
                found: obj::name(desc.kind).to_owned(),
            });
        }
        if desc.tag != tag {
            return Err(Error::WrongType {
                expected: ty.map_or_else(|| describe_tag(inner, tag), TypeTag::describe),
                found: describe_tag(inner, desc.tag),
            });
        }
        if let Some(param) = param
            && desc.param != param
        {
            return Err(Error::WrongKind {
                name: name.to_owned(),
                expected: format!("{} with parameter {param}", obj::name(kind)),
                found: format!("{} with parameter {}", obj::name(kind), desc.param),
            });
        }
        Ok(desc)
    };
    if let Some(desc) = find_object(inner, name)? {
        return check(desc);
    }
    let desc = inner.write(|w| {
        let h = hash(w.inner.seed, name.as_bytes());
        if let Some(e) = w.dict_find(DIRECTORY_REF, name.as_bytes(), h)? {
            return decode_desc(w.inner, e);
        }
        let (block, object) = create(w)?;
        let desc = ObjectDesc {
            kind,
            block,
            object,
            tag,
            param: param.unwrap_or(0),
        };
        if let Err(e) = w.dict_insert(DIRECTORY_REF, name.as_bytes(), h, &desc.encode(), DESC_TAG) {
            w.free_now(block)?;
            return Err(e);
        }
        Ok(desc)
    })?;
    check(desc)
}

/// Records `t` in the type registry (writer side), if it is not there yet.
pub(crate) fn register_type(w: &mut Writer<'_>, t: &TypeTag) -> Result<()> {
    let key = t.tag.to_le_bytes();
    let h = hash(w.inner.seed, &key);
    if w.dict_find(REGISTRY_REF, &key, h)?.is_none() {
        w.dict_insert(REGISTRY_REF, &key, h, &t.record(), TYPE_TAG)?;
    }
    Ok(())
}

/// Whether `t` is in the type registry already (a lock-free read).
pub(crate) fn type_registered(inner: &Arc<Inner>, t: &TypeTag) -> Result<bool> {
    let _pin = pin(inner)?;
    let key = t.tag.to_le_bytes();
    let h = hash(inner.seed, &key);
    Ok(table::lookup(&inner.arena, REGISTRY_REF, &key, h)?.is_some())
}

/// A description of the type behind `tag`, from the registry.
pub(crate) fn describe_tag(inner: &Arc<Inner>, tag: u64) -> String {
    if tag == crate::types::BYTES_TAG {
        return "bytes".to_owned();
    }
    let lookup = || -> Result<Option<String>> {
        let _pin = pin(inner)?;
        let key = tag.to_le_bytes();
        let h = hash(inner.seed, &key);
        let Some(e) = table::lookup(&inner.arena, REGISTRY_REF, &key, h)? else {
            return Ok(None);
        };
        let meta = table::entry_meta(&inner.arena, e)?;
        Ok(TypeTag::describe_record(&table::read_value(
            &inner.arena,
            e,
            &meta,
        )?))
    };
    lookup()
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("unknown type (tag {tag:#018x})"))
}

/// Creates an object of kind `kind` holding a `T` (a synchronisation
/// primitive) — allocation helper shared by the object constructors.
pub(crate) fn alloc_aligned(w: &mut Writer<'_>, size: u64, align: u64) -> Result<(u64, u64)> {
    let b = w.alloc_zeroed(size + align)?;
    let data = b + BLOCK_HDR;
    let object = data.next_multiple_of(align);
    Ok((b, object))
}
