"""Queues: multiprocessing's ``Queue``, ``JoinableQueue`` and ``SimpleQueue``."""

import collections
import ctypes
import os
import pickle
import struct
import sys
import threading
import queue
import weakref
from multiprocessing import util

from . import _handoff, _native

__all__ = ["Queue", "JoinableQueue", "SimpleQueue"]

# Every queue of this process, told of forks (see _before_fork).
_live = weakref.WeakSet()
_fork_parent = 0


class Queue(_native.Queue):
    """A process-shared FIFO queue, as ``multiprocessing.Queue(maxsize)``.

    ``put`` and ``get`` take ``block`` and ``timeout`` and raise
    :class:`queue.Full` and :class:`queue.Empty` as the standard queues do.
    A ``get`` from an empty queue whose producers are all gone raises
    :class:`ipc_toolkit.ProducersGone` (an :class:`EOFError` and a
    :class:`queue.Empty`), a ``put`` to a queue whose consumers are all
    gone :class:`ipc_toolkit.ConsumersGone` (a :class:`BrokenPipeError`
    and a :class:`queue.Full`).

    With a ``maxsize``, a ``put`` that returns has committed its message to
    shared memory. ``maxsize=0`` is unbounded, as in ``multiprocessing``:
    the ring in shared memory holds up to 8192 messages, and a ``put`` that
    finds it full for a millisecond (or finds earlier puts of this queue
    still waiting) does not wait longer: it leaves the message in this
    process's buffer, and a feeder thread puts it when there is room, in
    order. Such a message is not yet committed (a process killed meanwhile loses it, as with
    ``multiprocessing``); the process waits for its buffer when it exits
    (``join_thread``, ``cancel_join_thread``).

    Objects are pickled (protocol 5), except ``bytes``, ``bytearray``,
    ``memoryview`` (delivered as ``bytes``), ``str``, ``int`` (64-bit),
    ``float``, ``bool`` and ``None``, which are copied as they are.
    ``put_bytes``/``get_bytes`` exchange raw frames, as Rust's
    ``Queue::put_bytes``/``get_bytes`` do; ``get_into`` receives one into a
    writable buffer.

    ``ring_bytes`` (default 8 MiB) bounds the bytes in the ring and so the
    largest message (a bigger one raises :class:`ValueError`). ``ctx`` is
    accepted and ignored, as code written for
    ``multiprocessing.queues.Queue(maxsize, ctx=...)`` passes one.
    """

    def __init__(self, maxsize=0, *, ctx=None, ring_bytes=None, name=None, open=False, unbounded=False):
        self._spill_state = None
        _live.add(self)
        _handoff.prune()

    def __reduce__(self):
        # The receiving process opens the queue by name; until it does,
        # this process holds its place, so no consumer hears the producers
        # are gone in between, and keeps the queue (and its name) alive.
        if self._hand_off():
            _handoff.queue_handed_off(self)
        return (_rebuild_queue, (type(self), self.name, os.getpid(), self.unbounded))

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} qsize={self.qsize()}>"

    def qsize(self):
        """The number of messages in the queue now, counting those this
        process's buffer holds (approximate while others put and get, as in
        ``multiprocessing``)."""
        spill = self._spill_state
        return super().qsize() + (len(spill.frames) if spill is not None else 0)

    def join_thread(self):
        """Waits until this process's buffered messages (see the class
        docs) are in the queue. ``multiprocessing`` allows it only after
        ``close``; here it may be called at any time."""
        spill = self._spill_state
        if spill is not None:
            spill.wait_empty()

    def cancel_join_thread(self):
        """Makes this process not wait for its buffered messages when it
        exits: any still buffered then are lost, as with
        ``multiprocessing``."""
        spill = self._spill_state
        if spill is None:
            spill = self._spill_state = _Spill()
        spill.cancel_join()

    def get_into(self, buffer, block=True, timeout=None):
        """Removes the next raw frame into ``buffer`` (any writable buffer)
        and returns its length; a frame longer than the buffer stays queued
        and :class:`ValueError` is raised. A ``bytearray`` receives it in one
        copy."""
        if type(buffer) is bytearray:
            return super().get_into(buffer, block, timeout)
        view = memoryview(buffer).cast("B")
        # Through a bytearray of the buffer's size, so that a frame too long
        # for it stays queued.
        staging = bytearray(len(view))
        n = super().get_into(staging, block, timeout)
        view[:n] = staging[:n]
        return n


    def get_shared(self, block=True, timeout=None):
        """Removes the next object without copying its data out of shared
        memory, where that can be done: ``bytes`` come back as a read-only
        ``memoryview`` over the message, and an object pickled with
        out-of-band buffers (a numpy array) is rebuilt over views of them
        (a numpy array comes back read-only, over the queue's memory). The
        message's slot stays held until every such view (and every object
        built over one) is gone; hold them briefly, as a queue has a
        bounded number of slots. Other objects are decoded with copies, as
        by ``get``."""
        held = self._get_held(block, timeout)
        tag = held.tag
        if tag == _TAG_BYTES:
            return _view(held)[1:]
        if tag == _TAG_OUT_OF_BAND:
            view = _view(held)
            main, buffers = _split_out_of_band(view)
            return pickle.loads(main, buffers=buffers)
        return held._decode_and_release()


class JoinableQueue(Queue):
    """A :class:`Queue` with ``task_done()`` and ``join()``, as
    ``multiprocessing.JoinableQueue``: ``join`` waits until every message
    put has been marked done. A message counts from when it reaches the
    shared ring, so ``join`` first waits for this process's buffered
    messages (another process's buffered ones are not seen)."""

    def join(self, timeout=None):
        """Waits until every message put has been marked done by
        ``task_done`` (with a ``timeout``, :class:`TimeoutError` after
        it)."""
        spill = self._spill_state
        if spill is not None:
            spill.wait_empty()
        super().join(timeout)


class SimpleQueue(Queue):
    """An unbounded :class:`Queue` with the small API of
    ``multiprocessing.SimpleQueue``."""

    def __init__(self, *, ctx=None, name=None, open=False, unbounded=True):
        super().__init__()

    def __new__(cls, *, ctx=None, name=None, open=False, unbounded=True):
        return super().__new__(cls, 0, name=name, open=open, unbounded=unbounded)


_TAG_BYTES = ord("B")
_TAG_OUT_OF_BAND = ord("O")
# The out-of-band frame's fixed header: tag and padding, buffer count,
# pickle length (see codec.rs); then one length per buffer.
_HEADER = struct.Struct("<c3xIQ")

# Array types over shared memory, by length (a few hundred at most).
_view_types = {}


def _view(owner, writable=False):
    """A ``memoryview`` of the bytes ``owner`` (a held message or a loan)
    keeps valid, over shared memory, without copying: its base is a ctypes
    array whose ``_owner`` attribute keeps ``owner`` alive for as long as
    the view, or anything built over it, exists."""
    length = len(owner)
    array_type = _view_types.get(length)
    if array_type is None:
        if len(_view_types) > 256:
            _view_types.clear()
        array_type = _view_types[length] = type("SharedBytes", (ctypes.c_ubyte * length,), {})
    array = array_type.from_address(owner.address)
    array._owner = owner
    view = memoryview(array).cast("B")
    return view if writable else view.toreadonly()


def _align8(n):
    return (n + 7) & ~7


def _split_out_of_band(view):
    """The pickle and the buffers of an out-of-band frame, as views."""
    _tag, count, main_len = _HEADER.unpack_from(view, 0)
    lengths = struct.unpack_from(f"<{count}Q", view, _HEADER.size)
    at = _align8(_HEADER.size + 8 * count)
    main = view[at : at + main_len]
    if len(main) != main_len:
        raise ValueError("a malformed out-of-band frame")
    at = _align8(at + main_len)
    buffers = []
    for n in lengths:
        b = view[at : at + n]
        if len(b) != n:
            raise ValueError("a malformed out-of-band frame")
        buffers.append(b)
        at = _align8(at + n)
    return main, buffers


def _put_out_of_band(q, main, buffers, block, timeout):
    """Puts a pickle and its out-of-band buffers (called by ``Queue.put``
    for objects such as numpy arrays): the frame is built in a loaned slot,
    each buffer copied in once, with no pickle copy."""
    raws = []
    for b in buffers:
        try:
            raws.append(b.raw())
        except BufferError:
            # Not contiguous: pickled in band after all (a raw frame with
            # the in-band pickle tag, see codec.rs).
            obj = pickle.loads(main, buffers=buffers)
            q.put_bytes(b"P" + pickle.dumps(obj, protocol=5), block, timeout)
            return
    at = _align8(_HEADER.size + 8 * len(raws))
    places = [at]
    at = _align8(at + len(main))
    for r in raws:
        places.append(at)
        at = _align8(at + r.nbytes)
    total = at
    if q.unbounded:
        loan = None
        if not q._spilling():
            try:
                # As a put of a frame built natively: a ring full for
                # SPILL_GRACE (1 ms) spills.
                loan = q._loan(total, True, 0.001)
            except queue.Full:
                pass
        if loan is None:
            # The ring is full: the frame goes to the spill buffer, built
            # in a bytearray the same way.
            frame = bytearray(total)
            _write_out_of_band(memoryview(frame), main, raws, places)
            _spill(q, bytes(frame))
            return
    else:
        loan = q._loan(total, block, timeout)
    view = _view(loan, writable=True)
    try:
        _write_out_of_band(view, main, raws, places)
    finally:
        view.release()
    loan.commit(total)


def _write_out_of_band(view, main, raws, places):
    """Writes an out-of-band frame (header, pickle, buffers at ``places``)
    into ``view``."""
    _HEADER.pack_into(view, 0, b"O", len(raws), len(main))
    struct.pack_into(f"<{len(raws)}Q", view, _HEADER.size, *(r.nbytes for r in raws))
    view[places[0] : places[0] + len(main)] = main
    for r, place in zip(raws, places[1:]):
        view[place : place + r.nbytes] = r.cast("B")


class _Spill:
    """One unbounded queue's buffer in this process (see ``Queue``): the
    frames ``put`` found no room for, oldest first, and the feeder thread
    that puts them into the ring."""

    def __init__(self):
        self.lock = threading.Lock()
        self.emptied = threading.Condition(self.lock)
        self.frames = collections.deque()
        self.feeder = None
        self.join_at_exit = True
        self.exit_join = None

    def wait_empty(self):
        with self.lock:
            while self.frames:
                self.emptied.wait(0.05)

    def cancel_join(self):
        with self.lock:
            self.join_at_exit = False
            if self.exit_join is not None:
                self.exit_join.cancel()
                self.exit_join = None


def _spill(q, frame):
    """Called by ``put`` (native) with the encoded ``frame`` when the ring
    of unbounded queue ``q`` is full or earlier frames still wait: buffers
    it and makes sure a feeder thread runs."""
    spill = q._spill_state
    if spill is None:
        spill = q._spill_state = _Spill()
    with spill.lock:
        spill.frames.append(frame)
        if spill.feeder is None:
            q._set_spilling(True)
            feeder = threading.Thread(
                target=_feed, args=(q, spill), name="ipc_toolkit.Queue feeder", daemon=True
            )
            spill.feeder = feeder
            feeder.start()
            if spill.join_at_exit:
                # Run by multiprocessing's exit handling (in the main
                # process at exit, in a child after its target returns),
                # as its own queues join their feeder threads.
                spill.exit_join = util.Finalize(
                    feeder, _join_feeder, [weakref.ref(feeder)], exitpriority=-5
                )


def _feed(q, spill):
    """The feeder thread: puts the buffered frames into the ring, oldest
    first, until the buffer is empty."""
    while True:
        with spill.lock:
            if not spill.frames:
                q._set_spilling(False)
                spill.feeder = None
                spill.emptied.notify_all()
                return
            frame = spill.frames[0]
        try:
            q._feed(frame)
        except BaseException as e:
            # The consumers are gone (or the queue is broken): nobody will
            # take the rest. Dropped, with a note, as multiprocessing's
            # feeder reports the errors it meets.
            with spill.lock:
                lost = len(spill.frames)
                spill.frames.clear()
            if not util.is_exiting():
                print(
                    f"ipc_toolkit: {lost} buffered message(s) of {q.name} dropped: {e!r}",
                    file=sys.stderr,
                )
            continue
        with spill.lock:
            spill.frames.popleft()


def _join_feeder(feeder_ref):
    feeder = feeder_ref()
    if feeder is not None and feeder.is_alive():
        feeder.join()


def _rebuild_queue(cls, name, pid, unbounded=False):
    q = cls(name=name, open=True, unbounded=unbounded)
    q._take_hand_off(pid)
    _live.add(q)
    return q


def _before_fork():
    # A forked child may use any queue of this process: hold a place for it
    # in each until it takes it (_after_fork_in_child).
    global _fork_parent
    _fork_parent = os.getpid()
    for q in list(_live):
        if q._hand_off():
            _handoff.queue_handed_off(q, forking=True)


def _after_fork_in_child():
    _handoff.after_fork_in_child()
    for q in list(_live):
        q._take_hand_off(_fork_parent)
        # The parent's buffered messages are the parent's to put (its
        # feeder thread is not copied); the child starts with none.
        q._spill_state = None
        q._set_spilling(False)


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
