"""Connections: multiprocessing's ``Pipe()`` and ``connection.wait``."""

import os
import time

from . import _handoff, _native

__all__ = ["Connection", "Pipe", "wait"]


class Connection(_native.Connection):
    """One end of a :func:`Pipe`, as ``multiprocessing.connection.Connection``.

    ``send``/``recv`` move objects (pickled unless they are bytes or plain
    scalars), ``send_bytes``/``recv_bytes``/``recv_bytes_into`` raw frames
    (what Rust's ``send_bytes``/``recv_bytes`` exchange). ``recv`` raises
    :class:`EOFError` once the peer end is closed, or its process exited or
    was killed, and everything it sent has been received; ``send`` raises
    :class:`BrokenPipeError` when the peer is gone.

    An end is used by one process at a time. Closing (or dropping) it
    closes the end for the peer, unless this process forked since it last
    used it (the child may be using it) or it was pickled for another
    process.

    :meth:`fileno` gives a descriptor for ``selectors``, ``asyncio`` and the
    standard library's ``multiprocessing.connection.wait``.
    """

    def __reduce__(self):
        # The receiving process opens this end by name; closing this handle
        # must then not close the end under it, and the pipe (and its name)
        # stays alive until that process has taken the end up.
        self._hand_off()
        _handoff.connection_handed_off(self)
        return (_rebuild_connection, (self.name, self.kind, self.side))

    def __repr__(self):
        state = "closed" if self.closed else self.kind
        return f"<Connection {self.name} end {self.side} {state}>"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def fileno(self):
        """A file descriptor that is readable while :meth:`recv` would not
        block (a message, or a gone peer), for ``selectors``,
        ``asyncio``'s ``add_reader`` and the standard library's
        ``multiprocessing.connection.wait``.

        The pipe itself signals through shared memory, so the first call
        starts a thread that watches it and keeps the descriptor readable
        while there is something to receive; each receive or ``poll`` makes
        it unreadable again once there is not. The descriptor is this
        connection's: do not read from it or close it yourself
        (:meth:`close` does). A peer that was killed (rather than closed)
        is seen within about 20 ms. ``OSError`` on a write-only or closed
        connection."""
        return self._fileno()

    def recv_bytes_into(self, buf, offset=0):
        """Receives a raw frame into the writable buffer ``buf`` at byte
        ``offset`` and returns its length. If it does not fit, raises
        ``multiprocessing.BufferTooShort`` with the whole message as
        ``args[0]``, as ``multiprocessing`` does."""
        from multiprocessing import BufferTooShort

        if type(buf) is bytearray:
            n = self._recv_bytes_into(buf, offset)
            if n >= 0:
                return n
            raise BufferTooShort(self.recv_bytes())
        view = memoryview(buf).cast("B")
        if offset < 0 or offset > len(view):
            raise ValueError("offset out of range")
        data = self.recv_bytes()
        if offset + len(data) > len(view):
            raise BufferTooShort(data)
        view[offset : offset + len(data)] = data
        return len(data)


def Pipe(duplex=True, *, ring_bytes=None):
    """Returns two connected :class:`Connection` objects, as
    ``multiprocessing.Pipe(duplex)``: with ``duplex=False`` the first can
    only receive and the second only send. ``ring_bytes`` (default 4 MiB)
    is each direction's buffer, and so the largest raw frame
    (``send_bytes``); ``send`` sends a bigger object in parts, which
    ``recv`` puts back together."""
    _handoff.prune()
    ends = _native.PipeEnds(duplex, ring_bytes=ring_bytes)
    return Connection(ends, 0), Connection(ends, 1)


def _rebuild_connection(name, kind, side):
    return Connection(_native.PipeEnds.open(name, kind, side), 0)


# The longest a mixed wait (see `wait`) leaves either side unlooked at.
_MIXED_SLICE = 0.01


def wait(object_list, timeout=None):
    """Waits until one of ``object_list`` is ready, or ``timeout`` seconds
    pass; returns those ready, as ``multiprocessing.connection.wait`` does.

    The objects are this module's connections and queues (a connection is
    ready when a ``recv`` would not block: a message, or a gone peer; a
    queue when a ``get`` would not), and anything
    ``multiprocessing.connection.wait`` takes: a process's ``sentinel``, a
    file descriptor, a socket, a ``multiprocessing`` connection.

    Ours alone wait on shared memory. A list that also holds file
    descriptors waits on descriptors, our connections through their
    :meth:`Connection.fileno`; if it holds one of our queues too (a queue
    has no descriptor), or a write-only or closed connection, it waits on
    each side in turn, in slices of at most 10 ms, so a descriptor's
    readiness may be seen up to that late."""
    objects = list(object_list)
    ours = [o for o in objects if isinstance(o, (_native.Connection, _native.Queue))]
    if len(ours) == len(objects):
        ready = _native.wait_ready(objects, timeout)
        return [objects[i] for i in ready]
    from multiprocessing import connection as mp_connection

    others = [o for o in objects if not isinstance(o, (_native.Connection, _native.Queue))]
    for o in others:
        if not isinstance(o, int) and not hasattr(o, "fileno"):
            raise TypeError(
                "wait() takes ipc_toolkit connections and queues, and what "
                f"multiprocessing.connection.wait takes (file descriptors, objects with fileno()), not {o!r}"
            )
    if all(isinstance(o, _native.Connection) and o.readable and not o.closed for o in ours):
        # Every object has a descriptor (ours through fileno()). Ours are
        # asked directly first and last: their descriptors follow the pipe
        # through a watcher thread, a moment behind it.
        found = {id(ours[i]) for i in _native.wait_ready(ours, 0)}
        if found:
            found.update(map(id, mp_connection.wait(others, 0)))
        else:
            found.update(map(id, mp_connection.wait(objects, timeout)))
            found.update(id(ours[i]) for i in _native.wait_ready(ours, 0))
        return [o for o in objects if id(o) in found]
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
    step = 0.0005
    while True:
        ready_ours = [ours[i] for i in _native.wait_ready(ours, 0)]
        ready_others = mp_connection.wait(others, 0)
        if ready_ours or ready_others:
            found = set(map(id, ready_ours)) | set(map(id, ready_others))
            return [o for o in objects if id(o) in found]
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return []
        half = step if left is None else min(step, left / 2)
        ready_ours = [ours[i] for i in _native.wait_ready(ours, half)]
        if not ready_ours:
            mp_connection.wait(others, half)
        step = min(step * 2, _MIXED_SLICE / 2)
