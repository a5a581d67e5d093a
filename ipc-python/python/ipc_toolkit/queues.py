"""Queues: multiprocessing's ``Queue``, ``JoinableQueue`` and ``SimpleQueue``."""

import ctypes
import os
import pickle
import struct
import weakref

from . import _handoff, _native

__all__ = ["Queue", "JoinableQueue", "SimpleQueue"]

# Every queue of this process, told of forks (see _before_fork).
_live = weakref.WeakSet()
_fork_parent = 0


class Queue(_native.Queue):
    """A process-shared FIFO queue, as ``multiprocessing.Queue(maxsize)``.

    ``put`` and ``get`` take ``block`` and ``timeout`` and raise
    :class:`queue.Full` and :class:`queue.Empty` as the standard queues do.
    A ``put`` that returns has committed its message: there is no feeder
    thread to flush, so ``close``, ``join_thread`` and
    ``cancel_join_thread`` have nothing to wait for.

    Objects are pickled (protocol 5), except ``bytes``, ``bytearray``,
    ``memoryview`` (delivered as ``bytes``), ``str``, ``int`` (64-bit),
    ``float``, ``bool`` and ``None``, which are copied as they are.
    ``put_bytes``/``get_bytes`` exchange raw frames, as Rust's
    ``Queue::put_bytes``/``get_bytes`` do; ``get_into`` receives one into a
    writable buffer.

    ``maxsize=0`` means up to 8192 messages in flight (``multiprocessing``
    has no bound); ``ring_bytes`` (default 8 MiB) bounds the bytes in flight
    and so the largest message (a bigger one raises :class:`ValueError`).
    """

    def __init__(self, maxsize=0, *, ring_bytes=None, name=None, open=False):
        _live.add(self)
        _handoff.prune()

    def __reduce__(self):
        # The receiving process opens the queue by name; until it does,
        # this process holds its place, so no consumer hears the producers
        # are gone in between, and keeps the queue (and its name) alive.
        if self._hand_off():
            _handoff.queue_handed_off(self)
        return (_rebuild_queue, (type(self), self.name, os.getpid()))

    def __repr__(self):
        return f"<{type(self).__name__} {self.name} qsize={self.qsize()}>"

    def join_thread(self):
        """Nothing to wait for: there is no feeder thread."""

    def cancel_join_thread(self):
        """Nothing to cancel: there is no feeder thread."""

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
    put has been marked done."""


class SimpleQueue(Queue):
    """An unbounded (up to 8192 messages) :class:`Queue` with the small API
    of ``multiprocessing.SimpleQueue``."""

    def __init__(self, *, ctx=None, name=None, open=False):
        super().__init__()

    def __new__(cls, *, ctx=None, name=None, open=False):
        return super().__new__(cls, 0, name=name, open=open)


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
    loan = q._loan(total, block, timeout)
    view = _view(loan, writable=True)
    try:
        _HEADER.pack_into(view, 0, b"O", len(raws), len(main))
        struct.pack_into(f"<{len(raws)}Q", view, _HEADER.size, *(r.nbytes for r in raws))
        view[places[0] : places[0] + len(main)] = main
        for r, place in zip(raws, places[1:]):
            view[place : place + r.nbytes] = r.cast("B")
    finally:
        view.release()
    loan.commit(total)


def _rebuild_queue(cls, name, pid):
    q = cls(name=name, open=True)
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


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
