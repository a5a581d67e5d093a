//! [`ObjectSegment`]: a segment holding one toolkit object behind a checked
//! header. The header protocol is described in [`super::header`].
// Unsafe code is allowed here: the header and payload of a mapped segment.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zerocopy::IntoBytes;

use super::header::{
    CheckedLayout, HEADER_LEN, Header, ObjectKind, STATE_EMPTY, STATE_INITIALISING, STATE_READY,
    TypeDesc,
};
use super::options::SegmentOptions;
use super::raw::Segment;
use crate::liveness::ProcessIdentity;
use crate::os::futex;
use crate::wait::{Deadline, Waitable, Waiter};
use crate::{Error, Result};

/// A segment whose header has been written (by us) or checked (when opened).
///
/// Higher layers ([`Shared`](super::Shared), queues, the manager) build on it:
/// they choose an [`ObjectKind`], describe their payload with a [`TypeDesc`],
/// initialise the payload in place at creation, and get a pointer to it.
#[derive(Debug)]
pub struct ObjectSegment {
    segment: Segment,
    layout: CheckedLayout,
    header: Header,
}

/// How often an opener waiting on an initialising creator re-checks that the
/// creator is still alive.
const LIVENESS_POLL: Duration = Duration::from_millis(5);

impl ObjectSegment {
    /// Creates a segment for an object of `kind` whose payload spans
    /// `payload_len` bytes laid out as `ty`, and runs `init` on the zeroed
    /// payload before any other process can see the object.
    ///
    /// If `init` fails (or panics), the segment is removed again.
    pub fn create(
        opts: &SegmentOptions,
        kind: ObjectKind,
        ty: &TypeDesc,
        payload_len: u64,
        init: impl FnOnce(NonNull<u8>, usize) -> Result<()>,
    ) -> Result<Self> {
        let (payload_offset, total) = Header::plan(payload_len, ty.align.max(1))?;
        // Built without a name and named when ready, so that no opener ever
        // meets it half-built (see `Segment::create_hidden`); the header
        // states below still serve filesystems without O_TMPFILE.
        let mut segment = Segment::create_hidden(opts, total)?;
        let base = segment.as_mut_ptr()?;
        let mut header = Header::new(kind, ty, total, payload_offset, payload_len);

        // Publish "initialising" together with our identity first, so that an
        // opener that finds us dead can say so instead of waiting forever.
        header.state = STATE_INITIALISING;
        // SAFETY: `base` maps `total >= HEADER_LEN` writable bytes, page-aligned.
        unsafe { write_header(base, &header) };
        // SAFETY: as above; the state word stays mapped while `segment` lives.
        let state = unsafe { Header::state_word(base) };
        state.store(STATE_INITIALISING, Ordering::Release);

        let payload_len_usize = payload_len as usize;
        // SAFETY: payload_offset + payload_len <= total, checked by `plan`.
        let payload = unsafe { NonNull::new_unchecked(base.add(payload_offset as usize)) };
        init(payload, payload_len_usize)?;

        state.store(STATE_READY, Ordering::SeqCst);
        // Unconditionally: the header has no sleepers count (openers that
        // wait here are rare, and bounded by their liveness slices anyway).
        futex::wake(state, u32::MAX);
        header.state = STATE_READY;
        segment.publish(opts)?;
        let layout = CheckedLayout {
            payload_offset: payload_offset as usize,
            payload_len: payload_len_usize,
        };
        Ok(Self {
            segment,
            layout,
            header,
        })
    }

    /// Opens an existing object of `kind`, checking its header and, when `ty`
    /// is given, its payload type. Waits (up to the options' init timeout) for
    /// a creator that is still initialising it.
    pub fn open(opts: &SegmentOptions, kind: ObjectKind, ty: Option<&TypeDesc>) -> Result<Self> {
        Self::open_unnamed(opts, kind, ty).map_err(|e| e.about(&opts.display_name()))
    }

    fn open_unnamed(
        opts: &SegmentOptions,
        kind: ObjectKind,
        ty: Option<&TypeDesc>,
    ) -> Result<Self> {
        let deadline = Instant::now() + opts.init_timeout;
        loop {
            let segment = match Segment::open(opts) {
                // A creator between `open(O_CREAT)` and sizing the file.
                Err(Error::InvalidSize { size: 0, .. }) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                }
                Err(Error::InvalidSize { size: 0, .. }) => {
                    return Err(Error::CorruptHeader {
                        object: String::new(),
                        reason: "the segment is empty".into(),
                    });
                }
                other => other?,
            };
            if segment.len() < HEADER_LEN {
                return Err(Error::CorruptHeader {
                    object: String::new(),
                    reason: format!(
                        "segment of {} bytes is shorter than a header",
                        segment.len()
                    ),
                });
            }
            let base = segment.as_ptr();
            // SAFETY: at least HEADER_LEN bytes are mapped at the page-aligned
            // `base`, and they stay mapped while `segment` lives (this loop body).
            let state = unsafe { Header::state_word(base) };
            match state.load(Ordering::Acquire) {
                STATE_READY => {
                    // SAFETY: as above.
                    let header = unsafe { Header::read_from(base) };
                    let layout = header.check(kind, ty, segment.len())?;
                    return Ok(Self {
                        segment,
                        layout,
                        header,
                    });
                }
                STATE_INITIALISING => {
                    // SAFETY: as above.
                    let creator = unsafe { Header::read_from(base) }.creator;
                    if !creator.is_alive() {
                        return Err(Error::CreatorDied {
                            object: String::new(),
                            pid: creator.pid,
                        });
                    }
                    if Instant::now() >= deadline {
                        return Err(Error::Timeout);
                    }
                    let slice = (Instant::now() + LIVENESS_POLL).min(deadline);
                    let initialising = Initialising {
                        state,
                        sleepers: AtomicU32::new(0),
                    };
                    let _ = Waiter::new().spin(Duration::ZERO).block(
                        &initialising,
                        Deadline::At(slice),
                        |_| Ok::<_, ()>(initialising.is_ready().then_some(())),
                    );
                }
                STATE_EMPTY => {
                    // SAFETY: as above.
                    let header = unsafe { Header::read_from(base) };
                    let blank = header.as_bytes().iter().all(|&b| b == 0);
                    if !blank {
                        return Err(Error::CorruptHeader {
                            object: String::new(),
                            reason: "not a toolkit segment (bad magic)".into(),
                        });
                    }
                    // A creator that has sized the file but not yet written
                    // its identity: microseconds, unless it died right there.
                    if Instant::now() >= deadline {
                        return Err(Error::CorruptHeader {
                            object: String::new(),
                            reason: "the header was never initialised".into(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                other => {
                    return Err(Error::CorruptHeader {
                        object: String::new(),
                        reason: format!("unknown initialisation state {other:#x}"),
                    });
                }
            }
        }
    }

    /// Opens the object if it exists, creates it otherwise; race-free between
    /// processes. [`was_created`](Self::was_created) tells which happened.
    pub fn open_or_create(
        opts: &SegmentOptions,
        kind: ObjectKind,
        ty: &TypeDesc,
        payload_len: u64,
        init: impl FnOnce(NonNull<u8>, usize) -> Result<()>,
    ) -> Result<Self> {
        let mut init = Some(init);
        for _ in 0..64 {
            match Self::create(opts, kind, ty, payload_len, |p, n| {
                init.take().map_or(
                    Err(Error::InvalidArgument {
                        reason: "init ran twice",
                    }),
                    |f| f(p, n),
                )
            }) {
                Err(Error::AlreadyExists { .. }) => {}
                other => return other,
            }
            match Self::open(opts, kind, Some(ty)) {
                Err(Error::NotFound { .. }) => std::thread::yield_now(),
                other => return other,
            }
        }
        Err(Error::Timeout)
    }

    /// The process that created the segment, read from its header without
    /// waiting for or checking the rest.
    pub fn creator(opts: &SegmentOptions) -> Result<ProcessIdentity> {
        let segment = Segment::open(&opts.clone().read_only(true))?;
        if segment.len() < HEADER_LEN {
            return Err(Error::CorruptHeader {
                object: String::new(),
                reason: "shorter than a header".into(),
            });
        }
        // SAFETY: HEADER_LEN bytes are mapped at the page-aligned pointer.
        let header = unsafe { Header::read_from(segment.as_ptr()) };
        if !header.has_magic() {
            return Err(Error::CorruptHeader {
                object: String::new(),
                reason: "not a toolkit segment (bad magic)".into(),
            });
        }
        Ok(header.creator)
    }

    /// Whether a named or file-backed object was left behind by a creator that
    /// is gone (killed, or exited without removing it).
    ///
    /// Meaningful for objects whose lifetime is their creator's (the default
    /// for named segments, which the creator unlinks on drop).
    pub fn is_stale(opts: &SegmentOptions) -> Result<bool> {
        Ok(!Self::creator(opts)?.is_alive())
    }

    /// Removes the object if [`is_stale`](Self::is_stale); returns whether it did.
    pub fn remove_if_stale(opts: &SegmentOptions) -> Result<bool> {
        if !Self::is_stale(opts)? {
            return Ok(false);
        }
        match &opts.backing {
            super::options::Backing::Named(n) => Segment::unlink(n)?,
            super::options::Backing::File(p) => std::fs::remove_file(p).map_err(|e| {
                Error::for_name(
                    "unlink",
                    e.raw_os_error().unwrap_or(0),
                    &p.display().to_string(),
                )
            })?,
            super::options::Backing::Anonymous => return Ok(false),
        }
        crate::trace::trace_event!(
            info,
            object = %opts.display_name(),
            "removed a stale object (its creator is gone)"
        );
        Ok(true)
    }

    /// A second handle on the same object (see [`Segment::try_clone`]).
    pub fn try_clone(&self) -> Result<Self> {
        Ok(Self {
            segment: self.segment.try_clone()?,
            layout: self.layout,
            header: self.header,
        })
    }

    /// First byte of the payload, valid for [`payload_len`](Self::payload_len)
    /// bytes while `self` lives. Writing through it is only allowed when the
    /// segment is not read-only.
    pub fn payload(&self) -> NonNull<u8> {
        // SAFETY: `check` (or `create`) proved payload_offset + payload_len <=
        // the mapped length, so the offset stays inside the mapping, which is
        // never null.
        unsafe {
            NonNull::new_unchecked(
                self.segment
                    .as_ptr()
                    .add(self.layout.payload_offset)
                    .cast_mut(),
            )
        }
    }

    /// Length of the payload in bytes.
    pub fn payload_len(&self) -> usize {
        self.layout.payload_len
    }

    /// The checked header, as copied at creation or open.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Whether this handle created the object.
    pub fn was_created(&self) -> bool {
        self.segment.was_created()
    }

    /// The underlying segment.
    pub fn segment(&self) -> &Segment {
        &self.segment
    }

    /// The underlying segment, e.g. to change whether it is unlinked on drop.
    pub fn segment_mut(&mut self) -> &mut Segment {
        &mut self.segment
    }
}

/// Writes `header` into the first HEADER_LEN bytes with relaxed atomic word
/// stores, matching the atomic word loads of [`Header::read_from`].
///
/// # Safety
/// `base` must point to HEADER_LEN writable, mapped bytes aligned to 8.
unsafe fn write_header(base: *mut u8, header: &Header) {
    for (i, chunk) in header.as_bytes().chunks_exact(8).enumerate() {
        let word = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
        // SAFETY: word `i` is in bounds and 8-aligned by the caller's contract.
        unsafe { (*base.add(i * 8).cast::<AtomicU64>()).store(word, Ordering::Relaxed) };
    }
}

/// A header still being initialised, as something an opener waits on: ready
/// once the state word leaves `STATE_INITIALISING`. The header keeps no
/// sleepers count (the creator wakes unconditionally), so the count is ours.
struct Initialising<'a> {
    state: &'a AtomicU32,
    sleepers: AtomicU32,
}

impl Waitable for Initialising<'_> {
    fn ready_word(&self) -> &AtomicU32 {
        self.state
    }
    fn sleepers(&self) -> &AtomicU32 {
        &self.sleepers
    }
    fn is_ready(&self) -> bool {
        self.state.load(Ordering::SeqCst) != STATE_INITIALISING
    }
}
