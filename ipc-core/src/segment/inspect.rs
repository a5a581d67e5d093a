//! Looking at a segment from outside, as the `ipc` tool does: what its
//! header says ([`peek`]) and which processes use it ([`users`]), without
//! mapping it for use, waiting for its creator, or writing anything.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use zerocopy::FromBytes;

use super::header::{HEADER_LEN, Header, STATE_EMPTY, STATE_INITIALISING, STATE_READY};
use super::options::SegmentOptions;
use super::raw::Segment;
use crate::{Error, Result};

/// Where a segment's header says its creation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderState {
    /// Shorter than a header and all zeros, or a header of zeros: created
    /// and never initialised (its creator died at once, or it was
    /// truncated).
    Empty,
    /// Its creator is still writing it (or died doing so).
    Initialising,
    /// Complete and usable.
    Ready,
    /// Not a toolkit segment (no magic, or a short file that is not all
    /// zeros), or a header whose checksum fails.
    Foreign,
}

/// What [`peek`] found: the segment's size and its header, if any.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// Bytes the segment occupies.
    pub len: u64,
    /// Its header, when the segment is long enough for one.
    pub header: Option<Header>,
    /// What the header says of its state.
    pub state: HeaderState,
}

/// Reads the header of the named or file-backed segment at `opts` with a
/// plain read (no mapping, no wait for a creator): what the `ipc` tool
/// lists. `NotFound` if it does not exist, `PermissionDenied` if this user
/// may not read it.
pub fn peek(opts: &SegmentOptions) -> Result<SegmentInfo> {
    let path = Segment::path_of(opts)?;
    let shown = path.display().to_string();
    let io = |e: std::io::Error| Error::for_name("read", e.raw_os_error().unwrap_or(0), &shown);
    let mut file = std::fs::File::open(&path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut bytes = [0u8; HEADER_LEN];
    let got = read_up_to(&mut file, &mut bytes).map_err(io)?;
    if got < HEADER_LEN {
        // Too short for a header: a creator's leftover only if it holds
        // nothing but zeros (what `ftruncate` makes); anything else is
        // another program's file.
        let zeros = bytes[..got].iter().all(|&b| b == 0);
        return Ok(SegmentInfo {
            len,
            header: None,
            state: if zeros {
                HeaderState::Empty
            } else {
                HeaderState::Foreign
            },
        });
    }
    let header = Header::read_from_bytes(&bytes)
        .unwrap_or_else(|_| unreachable!("HEADER_LEN bytes are a Header"));
    let state = if bytes.iter().all(|&b| b == 0) {
        HeaderState::Empty
    } else if !header.is_intact() {
        HeaderState::Foreign
    } else {
        match header.state {
            STATE_READY => HeaderState::Ready,
            STATE_INITIALISING | STATE_EMPTY => HeaderState::Initialising,
            _ => HeaderState::Foreign,
        }
    };
    Ok(SegmentInfo {
        len,
        header: Some(header),
        state,
    })
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// The processes that map the segment at `opts` or hold a descriptor of it
/// (found through `/proc/*/maps` and `/proc/*/fd`, by device and inode, so a
/// process that mapped it before it got its name counts too), sorted. Only
/// the processes this user may inspect are seen: run as root, or as the
/// owner of every process involved.
pub fn users(opts: &SegmentOptions) -> Result<Vec<u32>> {
    let path = Segment::path_of(opts)?;
    let meta = std::fs::metadata(&path).map_err(|e| {
        Error::for_name(
            "stat",
            e.raw_os_error().unwrap_or(0),
            &path.display().to_string(),
        )
    })?;
    let (dev, ino) = (meta.dev(), meta.ino());
    let me = std::process::id();
    let mut pids = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Ok(pids);
    };
    for entry in procs.filter_map(|e| e.ok()) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != me && (maps_file(pid, dev, ino) || holds_fd(pid, dev, ino)) {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    Ok(pids)
}

/// Whether `/proc/<pid>/maps` has a mapping of device `dev`, inode `ino`.
fn maps_file(pid: u32, dev: u64, ino: u64) -> bool {
    let Ok(maps) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
        return false;
    };
    let want = format!("{:02x}:{:02x}", major(dev), minor(dev));
    maps.lines().any(|line| {
        let mut fields = line.split_ascii_whitespace().skip(3);
        fields.next() == Some(want.as_str())
            && fields.next().and_then(|i| i.parse::<u64>().ok()) == Some(ino)
    })
}

/// Whether a descriptor in `/proc/<pid>/fd` refers to device `dev`, inode `ino`.
fn holds_fd(pid: u32, dev: u64, ino: u64) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|e| e.ok()).any(|fd| {
        std::fs::metadata(Path::new(&fd.path())).is_ok_and(|m| m.dev() == dev && m.ino() == ino)
    })
}

/// The major number of a Linux device number (glibc's `gnu_dev_major`).
fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

/// The minor number of a Linux device number (glibc's `gnu_dev_minor`).
fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}
