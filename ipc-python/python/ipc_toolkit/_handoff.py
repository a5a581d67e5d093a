"""Objects pickled for another process, kept until it opens them.

Pickling a queue or a connection carries its name; the process that
unpickles it (a ``spawn`` child, say) opens the object by name. Two things
must hold meanwhile, and this module keeps them:

- the object stays alive here, so its name is not removed when its creator
  drops it (``multiprocessing`` lets a parent start its children and drop
  the queue at once);
- if the receiving process dies before it opens the object (a ``spawn``
  child that fails at import, or is killed), the place held for it in the
  queue is given back, and a pipe end handed to it is closed, so the other
  side hears "gone" (``EOFError``) instead of waiting for it forever.

The receiver is known when ``multiprocessing`` pickles the object to start
a process (its spawning ``Popen``). A queue's places are alike (the queue
counts them, not whose they are), so a queue is reconciled by count: once
more places are held than there are receivers still running, the extra
ones were for receivers that exited without opening it and are given
back; a record goes when its receiver exits or no place is held. A place held for a child being forked is taken by the child's
after-fork hook at once: its record lapses after ``FORK_GRACE`` seconds.
An object pickled otherwise (sent through a queue, say) has an unknown
receiver and is kept until the places held say it was taken.

The records are reconciled when an object is pickled or created and, while
there are any, by every blocking call between its wait slices.
"""

import os
import threading
import time

# How long a child being forked may take to run its after-fork hook.
FORK_GRACE = 2.0

from . import _native

# Queue name -> [the queue, [receiver Popen, or None if unknown]].
_queues = {}
# [connection, receiver Popen or None] for each pickled connection.
_connections = []
_lock = threading.Lock()


def _spawning_popen():
    try:
        from multiprocessing import context
    except ImportError:  # pragma: no cover
        return None
    return context.get_spawning_popen()


class _Forked:
    """The receiver of a place held for a child being forked."""

    def __init__(self):
        self.until = time.monotonic() + FORK_GRACE


def queue_handed_off(q, forking=False):
    """Records a place held in queue ``q`` (after ``q._hand_off()``) for a
    receiver: a child being forked, the process ``multiprocessing`` is
    starting, or (None) one unknown."""
    receiver = _Forked() if forking else _spawning_popen()
    with _lock:
        _queues.setdefault(q.name, [q, []])[1].append(receiver)
        _native._set_handoffs_pending(True)


def connection_handed_off(conn):
    """Records a connection end handed off (after ``conn._hand_off()``)."""
    receiver = _spawning_popen()
    with _lock:
        _prune_locked()
        _connections.append([conn, receiver])
        _native._set_handoffs_pending(True)


def prune():
    """Reconciles the records (see the module docs)."""
    with _lock:
        _prune_locked()


def _exited(popen):
    if isinstance(popen, _Forked):
        # Its hook has run (the place taken) or the child died.
        return time.monotonic() > popen.until
    if popen is None or getattr(popen, "pid", None) is None:
        return False  # unknown receiver, or not started yet
    try:
        return popen.poll() is not None
    except Exception:
        return False


def _prune_locked():
    for name, (q, receivers) in list(_queues.items()):
        live = [r for r in receivers if not _exited(r)]
        held = q._hand_offs_held()
        if held == 0:
            # Every receiver took its place.
            live = []
        elif held > len(live):
            # At most len(live) of the places are for receivers still
            # running: the rest are for receivers that exited without
            # taking theirs. Give those back.
            for _ in range(held - len(live)):
                q._take_hand_off(os.getpid())
        # Otherwise some of the running receivers took their places, but
        # which ones cannot be told (the places are alike): every record is
        # kept until its receiver exits, or until no place is held. Taking
        # the later records for the ones that took would give a slower
        # receiver's place away when a faster one exits.
        if live:
            _queues[name][1] = live
        else:
            del _queues[name]
    keep = []
    for conn, receiver in _connections:
        if conn._claimed_elsewhere():
            continue
        if _exited(receiver):
            if not conn._claimed_elsewhere():
                conn._give_back()
            continue
        keep.append([conn, receiver])
    _connections[:] = keep
    _native._set_handoffs_pending(bool(_queues or _connections))


def after_fork_in_child():
    """In a forked child: the parent's records are not the child's, and the
    lock may have been held by another of the parent's threads."""
    global _lock
    _lock = threading.Lock()
    _queues.clear()
    _connections.clear()
    _native._set_handoffs_pending(False)
