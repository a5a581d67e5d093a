//! Finding the toolkit's objects and describing each in one record: what
//! `ipc list` prints and `ipc clean` decides on.
//!
//! Everything here is read from outside: a segment's header with a plain
//! read ([`ipc_core::segment::peek`]), its users from `/proc`
//! ([`ipc_core::segment::users`]), and a kind's fill state through the
//! kind's own read-only inspection (`ipc_queue::queue::inspect`,
//! `ipc_queue::pipe::inspect`). Only managers are opened as a user would
//! (they are read through reader slots), and only when they are not stale.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ipc_core::segment::{HeaderState, SegmentOptions, peek, users};
use serde::Serialize;

/// Where an object lives.
#[derive(Debug, Clone)]
pub enum Place {
    /// `/dev/shm/NAME`.
    Named(String),
    /// A file.
    File(PathBuf),
}

impl Place {
    /// The options that reach it.
    pub fn options(&self) -> SegmentOptions {
        match self {
            Place::Named(n) => SegmentOptions::named(n),
            Place::File(p) => SegmentOptions::file(p),
        }
    }

    /// How it is shown: the name, or the file's path.
    pub fn shown(&self) -> String {
        match self {
            Place::Named(n) => n.clone(),
            Place::File(p) => p.display().to_string(),
        }
    }

    /// The place of a manager's heap segment `n` (`NAME.n`).
    fn heap_segment(&self, n: usize) -> Place {
        match self {
            Place::Named(name) => Place::Named(format!("{name}.{n}")),
            Place::File(p) => {
                let mut s = p.clone().into_os_string();
                s.push(format!(".{n}"));
                Place::File(PathBuf::from(s))
            }
        }
    }
}

/// What an object is, by the kind code in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Queue,
    Pipe,
    Channel,
    Manager,
    /// A manager's additional heap segment whose manager is gone.
    ManagerSegment,
    /// A toolkit object of another kind (a `Shared` value, ...).
    Other,
    /// Created but never initialised: its creator died in `create`.
    HalfBuilt,
}

/// Where an object stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Its creator or some other process uses it.
    Live,
    /// Its creator is gone and no process maps it or holds it open:
    /// `ipc clean` removes it.
    Stale,
    /// Being created right now (its creator lives).
    Creating,
    /// This user may not read it.
    NoAccess,
}

/// One object, as `ipc list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Object {
    /// The name in `/dev/shm`, or the file's path.
    pub name: String,
    pub kind: Kind,
    /// The object kind's name as recorded (for `Other`).
    pub kind_name: Option<String>,
    /// The message or value type, as its creator recorded it.
    pub message_type: Option<String>,
    /// Its size in bytes.
    pub message_size: Option<u64>,
    /// Bytes of shared memory (a manager's heap segments included).
    pub bytes: u64,
    /// The process that created it.
    pub creator: Option<u32>,
    pub creator_alive: Option<bool>,
    /// Processes that map it or hold it open (its heap segments included).
    pub users: Vec<u32>,
    pub status: Status,
    /// A one-word fill state: `len/capacity` for a queue, frames in flight
    /// per direction for a pipe, objects for a manager.
    pub fill: Option<String>,
    /// Why something could not be read.
    pub error: Option<String>,
    /// A manager's heap segments (`NAME.1`, ...), removed with it.
    #[serde(skip)]
    pub parts: Vec<Place>,
    #[serde(skip)]
    pub place: Option<Place>,
}

/// Every toolkit object in `/dev/shm`, or in `dir` if given, whose name
/// (file name) starts with `prefix`, by name. Foreign files are left out; a
/// manager's heap segments are folded into their manager (and listed alone
/// only if it is gone).
pub fn survey(dir: Option<&Path>, prefix: &str) -> ipc_core::Result<Vec<Object>> {
    let places: Vec<Place> = match dir {
        None => ipc_core::segment::Segment::list_named()?
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .map(Place::Named)
            .collect(),
        Some(dir) => {
            let entries = std::fs::read_dir(dir).map_err(|e| {
                ipc_core::Error::for_name(
                    "list",
                    e.raw_os_error().unwrap_or(0),
                    &dir.display().to_string(),
                )
            })?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .map(|e| e.path())
                .collect();
            files.sort();
            files.into_iter().map(Place::File).collect()
        }
    };
    let shown: std::collections::HashSet<String> = places.iter().map(Place::shown).collect();
    let mut out = Vec::new();
    for place in places {
        let Some(object) = describe(&place) else {
            continue;
        };
        // A heap segment whose manager is listed belongs to that entry.
        if object.kind == Kind::ManagerSegment
            && manager_of(&object.name).is_some_and(|root| shown.contains(&root))
        {
            continue;
        }
        out.push(object);
    }
    Ok(out)
}

/// `NAME` for a heap segment called `NAME.n`.
fn manager_of(segment: &str) -> Option<String> {
    let (root, n) = segment.rsplit_once('.')?;
    n.parse::<usize>().ok().map(|_| root.to_owned())
}

/// Describes the object at `place`; `None` for a file that is not a toolkit
/// object (no magic, not an empty leftover).
pub fn describe(place: &Place) -> Option<Object> {
    let opts = place.options();
    let mut object = Object {
        name: place.shown(),
        kind: Kind::Other,
        kind_name: None,
        message_type: None,
        message_size: None,
        bytes: 0,
        creator: None,
        creator_alive: None,
        users: users(&opts).unwrap_or_default(),
        status: Status::Live,
        fill: None,
        error: None,
        parts: Vec::new(),
        place: Some(place.clone()),
    };
    let info = match peek(&opts) {
        Ok(info) => info,
        Err(ipc_core::Error::PermissionDenied { .. }) => {
            object.status = Status::NoAccess;
            object.error = Some(no_access(place));
            return Some(object);
        }
        Err(e) => {
            object.error = Some(e.to_string());
            return Some(object);
        }
    };
    object.bytes = info.len;
    let header = match (info.state, info.header) {
        (HeaderState::Foreign, _) => return None,
        (HeaderState::Empty, _) | (_, None) => {
            // Nothing says who made it: it is stale once nobody has it.
            object.kind = Kind::HalfBuilt;
            object.status = if object.users.is_empty() {
                Status::Stale
            } else {
                Status::Creating
            };
            return Some(object);
        }
        (state, Some(header)) => {
            object.creator = Some(header.creator.pid);
            let alive = header.creator.is_alive();
            object.creator_alive = Some(alive);
            if state == HeaderState::Initialising {
                object.kind = Kind::HalfBuilt;
                object.status = match (alive, object.users.is_empty()) {
                    (false, true) => Status::Stale,
                    (true, _) => Status::Creating,
                    (false, false) => Status::Live,
                };
                return Some(object);
            }
            header
        }
    };
    let ty = header.type_desc();
    object.message_type = Some(ty.name);
    object.message_size = Some(ty.size);
    object.kind = match header.kind_code {
        ipc_queue::queue::KIND_CODE => Kind::Queue,
        ipc_queue::pipe::PIPE_KIND_CODE => Kind::Pipe,
        ipc_queue::pipe::CHANNEL_KIND_CODE => Kind::Channel,
        ipc_manager::ROOT_KIND_CODE => Kind::Manager,
        ipc_manager::SEGMENT_KIND_CODE => Kind::ManagerSegment,
        _ => {
            object.kind_name = Some(header.kind_name());
            Kind::Other
        }
    };
    if object.kind == Kind::Manager {
        // Its heap segments: their bytes and their users count as its own.
        for n in 1.. {
            let part = place.heap_segment(n);
            let Ok(meta) = std::fs::metadata(path_of(&part)) else {
                break;
            };
            object.bytes += meta.len();
            for pid in users(&part.options()).unwrap_or_default() {
                if !object.users.contains(&pid) {
                    object.users.push(pid);
                }
            }
            object.parts.push(part);
        }
        object.users.sort_unstable();
    }
    let creator_alive = object.creator_alive == Some(true);
    object.status = if !creator_alive && object.users.is_empty() {
        Status::Stale
    } else {
        Status::Live
    };
    object.fill = fill(object.kind, place, object.status);
    Some(object)
}

/// The one-word fill state of a kind that has one.
fn fill(kind: Kind, place: &Place, status: Status) -> Option<String> {
    let opts = place.options();
    match kind {
        Kind::Queue => ipc_queue::queue::inspect(&opts)
            .ok()
            .map(|q| format!("{}/{}", q.len, q.capacity)),
        Kind::Pipe | Kind::Channel => ipc_queue::pipe::inspect(&opts).ok().map(|p| {
            let dirs: Vec<String> = p
                .directions
                .iter()
                .map(|d| d.in_flight.to_string())
                .collect();
            format!("in flight {}", dirs.join("|"))
        }),
        // A stale manager is not opened: that would make this tool a user.
        Kind::Manager if status == Status::Live => open_manager(place)
            .and_then(|m| m.objects())
            .ok()
            .map(|o| format!("{} objects", o.len())),
        _ => None,
    }
}

/// Opens the manager at `place` as a reader, with a bounded write wait (a
/// consistency check takes the writer lock).
pub fn open_manager(place: &Place) -> ipc_manager::Result<ipc_manager::Manager> {
    ipc_manager::Manager::builder()
        .options(place.options())
        .write_timeout(std::time::Duration::from_secs(2))
        .open()
}

/// The file behind `place`.
pub fn path_of(place: &Place) -> PathBuf {
    ipc_core::segment::Segment::path_of(&place.options()).unwrap_or_default()
}

/// The message for an object this user may not read: whose it is.
fn no_access(place: &Place) -> String {
    match std::fs::metadata(path_of(place)) {
        Ok(meta) => format!(
            "permission denied: owned by uid {} (mode {:o}); run as that user or root",
            meta.uid(),
            meta.mode() & 0o777
        ),
        Err(_) => "permission denied".to_owned(),
    }
}
