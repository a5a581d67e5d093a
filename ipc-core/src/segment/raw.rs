//! [`Segment`]: one mapping type over three kinds of backing file descriptor.
//!
//! Named segments come from `shm_open`, anonymous ones from `memfd_create`,
//! file-backed ones from `open`; after that all three are the same thing, a
//! file descriptor mapped `MAP_SHARED` by memmap2. The mapping is held as a
//! [`memmap2::MmapRaw`], which hands out raw pointers only: other processes
//! write this memory behind our back, so no `&[u8]` or `&mut [u8]` over it may
//! ever exist.
//!
//! Space is reserved with `posix_fallocate` when the segment is created, so a
//! full `/dev/shm` or disk is reported as [`Error::NoSpace`] up front instead
//! of killing a process with `SIGBUS` on first touch of a page.

use std::fs::{File, OpenOptions, Permissions};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use memmap2::{MmapOptions, MmapRaw};

use super::name::ShmName;
use super::options::{Backing, SegmentOptions};
use crate::os::errno;
use crate::os::fs::{self, ShmAccess};
use crate::{Error, Result};

/// Largest segment this crate will create or map (1 TiB): far beyond any real
/// use, and small enough that offset arithmetic cannot overflow.
pub const MAX_SEGMENT_LEN: u64 = 1 << 40;

/// Where a segment's memory comes from, once resolved.
#[derive(Debug)]
enum Location {
    Anonymous,
    Named(ShmName),
    File(PathBuf),
}

/// A shared-memory mapping: named, anonymous or file-backed.
///
/// The bytes are reached through raw pointers ([`as_ptr`](Self::as_ptr),
/// [`as_mut_ptr`](Self::as_mut_ptr)) because other processes may write them at
/// any time. Most users want [`Shared`](super::Shared) or an object of a higher
/// crate instead, which add a checked header and a typed view.
///
/// ```
/// use ipc_core::segment::{Segment, SegmentOptions};
///
/// let seg = Segment::create(&SegmentOptions::anonymous(), 4096)?;
/// assert_eq!(seg.len(), 4096);
/// # Ok::<(), ipc_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Segment {
    map: MmapRaw,
    file: File,
    location: Location,
    read_only: bool,
    created: bool,
    unlink_on_drop: bool,
    /// Created without a name yet (`O_TMPFILE`); [`publish`](Self::publish)
    /// gives it its name.
    hidden: bool,
}

fn check_len(len: u64) -> Result<usize> {
    if len == 0 {
        return Err(Error::InvalidSize {
            size: 0,
            reason: "a segment cannot be empty",
        });
    }
    if len > MAX_SEGMENT_LEN {
        return Err(Error::InvalidSize {
            size: len,
            reason: "larger than the 1 TiB limit",
        });
    }
    Ok(len as usize)
}

/// What a failed reservation of `len` bytes means.
fn reserve_error(len: u64, errno: i32) -> Error {
    match errno {
        errno::ENOSPC | errno::ENOMEM => Error::NoSpace { requested: len },
        errno::EFBIG => Error::InvalidSize {
            size: len,
            reason: "too large for the filesystem",
        },
        errno => Error::from_errno("posix_fallocate", errno),
    }
}

/// Gives `file` its length, reserving the blocks when asked so that a full
/// filesystem fails here and not later with SIGBUS.
fn set_len(file: &File, len: u64, reserve: bool) -> Result<()> {
    if reserve {
        match fs::reserve(file.as_fd(), 0, len) {
            Ok(()) => return Ok(()),
            // Filesystems without fallocate: fall through to a sparse length.
            Err(errno::EOPNOTSUPP | errno::EINVAL) => {}
            Err(e) => return Err(reserve_error(len, e)),
        }
    }
    file.set_len(len).map_err(|e| match e.raw_os_error() {
        Some(errno::ENOSPC) => Error::NoSpace { requested: len },
        Some(errno) => Error::from_errno("ftruncate", errno),
        None => Error::Os {
            op: "ftruncate",
            errno: 0,
        },
    })
}

/// Gives a new file its mode, length and reserved blocks, and maps it.
fn size_and_map(file: &File, opts: &SegmentOptions, len: usize) -> Result<MmapRaw> {
    // The umask narrowed the mode given to open; the creator asked for this exact one.
    file.set_permissions(Permissions::from_mode(opts.mode))
        .map_err(|e| Error::from_errno("fchmod", e.raw_os_error().unwrap_or(0)))?;
    set_len(file, len as u64, opts.reserve)?;
    map(file, len, false)
}

fn shm_open(name: &ShmName, access: ShmAccess, mode: u32) -> Result<File> {
    let c = name.to_cstring();
    fs::shm_open(&c, access, mode)
        .map(File::from)
        .map_err(|errno| Error::for_name("shm_open", errno, name.as_str()))
}

fn shm_unlink(name: &ShmName) -> Result<()> {
    fs::shm_unlink(&name.to_cstring())
        .map_err(|errno| Error::for_name("shm_unlink", errno, name.as_str()))
}

fn memfd() -> Result<File> {
    fs::memfd_create(c"ipc-core")
        .map(File::from)
        .map_err(|errno| Error::from_errno("memfd_create", errno))
}

fn io_err(op: &'static str, e: std::io::Error, path: &Path) -> Error {
    Error::for_name(
        op,
        e.raw_os_error().unwrap_or(0),
        &path.display().to_string(),
    )
}

fn map(file: &File, len: usize, read_only: bool) -> Result<MmapRaw> {
    let mut opts = MmapOptions::new();
    opts.len(len);
    let r = if read_only {
        opts.map_raw_read_only(file)
    } else {
        opts.map_raw(file)
    };
    r.map_err(|e| Error::from_errno("mmap", e.raw_os_error().unwrap_or(0)))
}

impl Segment {
    /// Creates a new segment of `len` bytes, zero-filled. Fails with
    /// [`Error::AlreadyExists`] if the name or path is taken.
    pub fn create(opts: &SegmentOptions, len: u64) -> Result<Self> {
        let len_usize = check_len(len)?;
        if opts.read_only {
            return Err(Error::InvalidArgument {
                reason: "cannot create a read-only segment",
            });
        }
        let (file, location) = match &opts.backing {
            Backing::Anonymous => (memfd()?, Location::Anonymous),
            Backing::Named(n) => {
                let name = ShmName::new(n)?;
                let f = shm_open(&name, ShmAccess::CreateNew, opts.mode)?;
                (f, Location::Named(name))
            }
            Backing::File(p) => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .mode(opts.mode)
                    .custom_flags(fs::O_CLOEXEC)
                    .open(p)
                    .map_err(|e| io_err("open", e, p))?;
                (f, Location::File(p.clone()))
            }
        };
        // A failure from here on must not leave the new name behind.
        let map =
            size_and_map(&file, opts, len_usize).inspect_err(|_| remove_location(&location))?;
        let unlink_on_drop = opts
            .unlink_on_drop
            .unwrap_or(matches!(location, Location::Named(_)));
        Ok(Self {
            map,
            file,
            location,
            read_only: false,
            created: true,
            unlink_on_drop,
            hidden: false,
        })
    }

    /// Like [`create`](Self::create), but a named or file-backed segment is
    /// created without a name (an `O_TMPFILE` file in `/dev/shm` or in the
    /// file's directory) and gets it only at [`publish`](Self::publish),
    /// once it is fully built. A creator killed before then leaves nothing
    /// under the name: no empty file, no zeroed or half-written header for
    /// openers to wait on or for anyone to clean up.
    ///
    /// A taken name fails at once with `AlreadyExists` (checked before any
    /// work; `publish` checks again, atomically). Where the filesystem has no
    /// `O_TMPFILE`, this falls back to [`create`](Self::create), whose
    /// intermediate states the header protocol recognises.
    pub(crate) fn create_hidden(opts: &SegmentOptions, len: u64) -> Result<Self> {
        let len_usize = check_len(len)?;
        let (dir, location) = match &opts.backing {
            Backing::Named(n) if !opts.read_only => {
                let name = ShmName::new(n)?;
                (PathBuf::from(SHM_DIR), Location::Named(name))
            }
            Backing::File(p) if !opts.read_only => {
                let dir = match p.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                (dir, Location::File(p.clone()))
            }
            _ => return Self::create(opts, len),
        };
        let target = location_path(&location);
        match std::fs::symlink_metadata(&target) {
            Ok(_) => return Err(Error::for_name("open", errno::EEXIST, &display(&location))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("stat", e, &target)),
        }
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .mode(opts.mode)
            .custom_flags(fs::O_CLOEXEC | fs::O_TMPFILE)
            .open(&dir)
        {
            Ok(file) => file,
            // No O_TMPFILE here (EOPNOTSUPP; EISDIR or EINVAL on old
            // kernels), or no /dev/shm directory: the visible way.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(errno::EOPNOTSUPP | errno::EISDIR | errno::EINVAL | errno::ENOENT)
                ) =>
            {
                return Self::create(opts, len);
            }
            Err(e) => return Err(io_err("open", e, &target)),
        };
        let map = size_and_map(&file, opts, len_usize)?;
        Ok(Self {
            map,
            file,
            location,
            read_only: false,
            created: true,
            unlink_on_drop: false,
            hidden: true,
        })
    }

    /// Gives a segment made by [`create_hidden`](Self::create_hidden) its
    /// name; `AlreadyExists` if another process took the name meanwhile (this
    /// segment is then dropped unseen). No-op for a segment that has one.
    pub(crate) fn publish(&mut self, opts: &SegmentOptions) -> Result<()> {
        if !self.hidden {
            return Ok(());
        }
        let target = location_path(&self.location);
        let c = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).map_err(|_| {
            Error::InvalidName {
                name: display(&self.location),
                reason: "contains a NUL byte",
            }
        })?;
        fs::link_unnamed(self.file.as_fd(), &c)
            .map_err(|errno| Error::for_name("link", errno, &display(&self.location)))?;
        self.hidden = false;
        self.unlink_on_drop = opts
            .unlink_on_drop
            .unwrap_or(matches!(self.location, Location::Named(_)));
        Ok(())
    }

    /// Opens an existing named or file-backed segment at its current size.
    pub fn open(opts: &SegmentOptions) -> Result<Self> {
        let access = if opts.read_only {
            ShmAccess::ReadOnly
        } else {
            ShmAccess::ReadWrite
        };
        let (file, location) = match &opts.backing {
            Backing::Anonymous => {
                return Err(Error::InvalidArgument {
                    reason: "an anonymous segment has no name to open; share it by fork or Segment::from_fd",
                });
            }
            Backing::Named(n) => {
                let name = ShmName::new(n)?;
                (shm_open(&name, access, 0)?, Location::Named(name))
            }
            Backing::File(p) => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(!opts.read_only)
                    .custom_flags(fs::O_CLOEXEC)
                    .open(p)
                    .map_err(|e| io_err("open", e, p))?;
                (f, Location::File(p.clone()))
            }
        };
        Self::from_file(
            file,
            location,
            opts.read_only,
            opts.unlink_on_drop.unwrap_or(false),
        )
    }

    /// Opens the segment if it exists, creates it with `len` bytes otherwise.
    /// Race-free: when several processes try at once, exactly one creates it
    /// ([`was_created`](Self::was_created) tells which) and the others open it.
    pub fn open_or_create(opts: &SegmentOptions, len: u64) -> Result<Self> {
        // Each round either creates, or opens what another process created; a
        // round fails only if that segment was unlinked in between, which a
        // handful of retries outlasts.
        for _ in 0..64 {
            match Self::create(opts, len) {
                Err(Error::AlreadyExists { .. }) => {}
                other => return other,
            }
            match Self::open(opts) {
                Err(Error::NotFound { .. }) => std::thread::yield_now(),
                other => return other,
            }
        }
        Err(Error::Timeout)
    }

    /// Maps an inherited descriptor, e.g. an anonymous segment's fd passed to a
    /// child program. The segment is never unlinked by this handle.
    pub fn from_fd(fd: OwnedFd, read_only: bool) -> Result<Self> {
        Self::from_file(File::from(fd), Location::Anonymous, read_only, false)
    }

    fn from_file(file: File, location: Location, read_only: bool, unlink: bool) -> Result<Self> {
        let len = file
            .metadata()
            .map_err(|e| Error::from_errno("fstat", e.raw_os_error().unwrap_or(0)))?
            .len();
        let len_usize = check_len(len)?;
        let map = map(&file, len_usize, read_only)?;
        Ok(Self {
            map,
            file,
            location,
            read_only,
            created: false,
            unlink_on_drop: unlink,
            hidden: false,
        })
    }

    /// A second handle on the same memory: the descriptor is duplicated and
    /// mapped again. The clone never removes the name on drop. Handy for
    /// moving a segment into a forked child's closure.
    pub fn try_clone(&self) -> Result<Self> {
        let file = self
            .file
            .try_clone()
            .map_err(|e| Error::from_errno("dup", e.raw_os_error().unwrap_or(0)))?;
        let map = map(&file, self.len(), self.read_only)?;
        let location = match &self.location {
            Location::Anonymous => Location::Anonymous,
            Location::Named(n) => Location::Named(n.clone()),
            Location::File(p) => Location::File(p.clone()),
        };
        Ok(Self {
            map,
            file,
            location,
            read_only: self.read_only,
            created: false,
            unlink_on_drop: false,
            hidden: false,
        })
    }

    /// Removes a named segment from the namespace. Processes that have it
    /// mapped keep using it; the memory is freed when the last one unmaps.
    pub fn unlink(name: &str) -> Result<()> {
        shm_unlink(&ShmName::new(name)?)
    }

    /// The filesystem path behind a named (`/dev/shm/NAME`) or file-backed
    /// segment; `InvalidArgument` for an anonymous one.
    pub fn path_of(opts: &SegmentOptions) -> Result<PathBuf> {
        match &opts.backing {
            Backing::Named(n) => Ok(location_path(&Location::Named(ShmName::new(n)?))),
            Backing::File(p) => Ok(p.clone()),
            Backing::Anonymous => Err(Error::InvalidArgument {
                reason: "an anonymous segment has no path",
            }),
        }
    }

    /// The names in the POSIX shared-memory namespace (`/dev/shm`), toolkit
    /// segments or not, sorted.
    pub fn list_named() -> Result<Vec<String>> {
        let entries = std::fs::read_dir(SHM_DIR)
            .map_err(|e| Error::for_name("list", e.raw_os_error().unwrap_or(0), SHM_DIR))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Whether a named segment exists.
    pub fn exists(name: &str) -> Result<bool> {
        let name = ShmName::new(name)?;
        match shm_open(&name, ShmAccess::ReadOnly, 0) {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            // It exists, we just may not open it.
            Err(Error::PermissionDenied { .. }) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always `false`: a segment has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// First byte of the mapping. Reading through it races with other
    /// processes' writes unless a protocol (atomics, a lock) orders them.
    pub fn as_ptr(&self) -> *const u8 {
        self.map.as_ptr()
    }

    /// First byte of the mapping, for writing; [`Error::PermissionDenied`] on a
    /// read-only mapping.
    pub fn as_mut_ptr(&self) -> Result<*mut u8> {
        if self.read_only {
            return Err(Error::PermissionDenied {
                name: self.display_name(),
            });
        }
        Ok(self.map.as_mut_ptr())
    }

    /// Whether the mapping is read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether this handle created the segment (as opposed to opening it).
    pub fn was_created(&self) -> bool {
        self.created
    }

    /// The shared-memory name (`/name` form) of a named segment.
    pub fn name(&self) -> Option<&str> {
        match &self.location {
            Location::Named(n) => Some(n.as_str()),
            _ => None,
        }
    }

    /// The path of a file-backed segment.
    pub fn path(&self) -> Option<&Path> {
        match &self.location {
            Location::File(p) => Some(p),
            _ => None,
        }
    }

    /// The backing file descriptor, e.g. to pass an anonymous segment to a
    /// child program (clear `FD_CLOEXEC` on a duplicate first).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Reserves the blocks of `[offset, offset + len)` of the backing file,
    /// growing the file if that range passes its end: a full filesystem is
    /// reported here as [`Error::NoSpace`] instead of killing a process with
    /// `SIGBUS` when it first touches a page. The mapping itself does not
    /// grow (map a larger segment for that).
    pub fn reserve(&self, offset: u64, len: u64) -> Result<()> {
        if self.read_only {
            return Err(Error::InvalidArgument {
                reason: "cannot reserve space through a read-only segment",
            });
        }
        if len == 0 {
            return Ok(());
        }
        fs::reserve(self.file.as_fd(), offset, len).map_err(|e| reserve_error(len, e))
    }

    /// Chooses whether dropping this handle removes the name or file.
    pub fn set_unlink_on_drop(&mut self, unlink: bool) {
        self.unlink_on_drop = unlink;
    }

    /// A human-readable name for errors: the shm name, the path, or `<anonymous>`.
    pub fn display_name(&self) -> String {
        match &self.location {
            Location::Anonymous => "<anonymous>".to_owned(),
            Location::Named(n) => n.as_str().to_owned(),
            Location::File(p) => p.display().to_string(),
        }
    }

    /// Whether the name still refers to this very segment (and not to one
    /// somebody created after unlinking ours).
    fn name_is_ours(&self, path: &Path) -> bool {
        let (Ok(ours), Ok(theirs)) = (self.file.metadata(), std::fs::metadata(path)) else {
            return false;
        };
        ours.dev() == theirs.dev() && ours.ino() == theirs.ino()
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.unlink_on_drop
            && !matches!(self.location, Location::Anonymous)
            && self.name_is_ours(&location_path(&self.location))
        {
            remove_location(&self.location);
        }
    }
}

/// Where glibc's `shm_open` keeps names.
const SHM_DIR: &str = "/dev/shm";

/// The filesystem path behind a named or file-backed location.
fn location_path(location: &Location) -> PathBuf {
    match location {
        Location::Named(n) => Path::new(SHM_DIR).join(&n.as_str()[1..]),
        Location::File(p) => p.clone(),
        Location::Anonymous => PathBuf::new(),
    }
}

/// How errors name a location: `/name` or the file's path.
fn display(location: &Location) -> String {
    match location {
        Location::Named(n) => n.as_str().to_owned(),
        Location::File(p) => p.display().to_string(),
        Location::Anonymous => String::new(),
    }
}

/// Removes a freshly created name or file (creation failed halfway).
fn remove_location(location: &Location) {
    match location {
        Location::Named(n) => {
            let _ = shm_unlink(n);
        }
        Location::File(p) => {
            let _ = std::fs::remove_file(p);
        }
        Location::Anonymous => {}
    }
}
