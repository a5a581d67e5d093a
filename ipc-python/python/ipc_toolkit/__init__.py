"""multiprocessing's Queue, Pipe and Manager over shared memory.

``ipc_toolkit`` is a drop-in for the objects of :mod:`multiprocessing` that
move data between processes. Where ``multiprocessing`` pickles every message
into a pipe through a feeder thread, and runs a server process for a
``Manager``, these objects live in shared memory that every process maps:

- :class:`Queue`, :class:`JoinableQueue`, :class:`SimpleQueue`: a ``put``
  writes the message into a slot of a ring in shared memory and a ``get``
  reads it there. ``bytes`` and small scalars are not pickled at all.
- :func:`Pipe` returns two :class:`Connection` objects over a pair of rings.
- :class:`Manager` gives a ``dict``, ``list``, ``Value``, ``Lock``,
  ``Event``, ``Semaphore``, ``Barrier`` and ``Queue`` that every process
  reads and writes in place: no server, no round trip.

Use them with :mod:`multiprocessing`'s ``Process`` and ``Pool`` as usual,
under the ``fork``, ``spawn`` and ``forkserver`` start methods: pickling one
of these objects carries its name, and the receiving process opens the same
object.

Everything else :mod:`multiprocessing` offers is reachable through this
module too (``ipc_toolkit.Process``, ``ipc_toolkit.Pool``,
``ipc_toolkit.cpu_count``, ...: they are ``multiprocessing``'s own), so a
program can switch with ``import ipc_toolkit as mp`` in place of
``import multiprocessing as mp``. :func:`get_context` returns a context
whose ``Queue``, ``Pipe`` and ``Manager`` are these.

A process killed at any instant (``SIGKILL``) loses no message it had
committed and tears none; the survivors are told: a ``get`` or ``recv``
whose senders are all gone raises :class:`EOFError` once everything they
sent has been received, a ``send`` to a gone receiver
:class:`BrokenPipeError`.

Unpickling runs code chosen by whoever pickled: as with
:mod:`multiprocessing`, share these objects only with processes you trust.
"""

from ._native import ConsumersGone, CorruptionError, Error, ProducersGone
from .connection import Connection, Pipe
from .managers import Manager
from .queues import JoinableQueue, Queue, SimpleQueue
from . import connection

import multiprocessing as _mp


class _Context:
    """A ``multiprocessing`` context whose queues, pipes and managers are
    ``ipc_toolkit``'s; everything else (``Process``, ``Pool``, ...) is the
    wrapped context's."""

    def __init__(self, context):
        self._context = context

    def __getattr__(self, name):
        return getattr(self._context, name)

    def __repr__(self):
        return f"<ipc_toolkit context over {self._context!r}>"

    @staticmethod
    def Queue(maxsize=0, *, ring_bytes=None):
        """An :class:`ipc_toolkit.Queue`."""
        return Queue(maxsize, ring_bytes=ring_bytes)

    @staticmethod
    def JoinableQueue(maxsize=0, *, ring_bytes=None):
        """An :class:`ipc_toolkit.JoinableQueue`."""
        return JoinableQueue(maxsize, ring_bytes=ring_bytes)

    @staticmethod
    def SimpleQueue():
        """An :class:`ipc_toolkit.SimpleQueue`."""
        return SimpleQueue()

    @staticmethod
    def Pipe(duplex=True, *, ring_bytes=None):
        """:func:`ipc_toolkit.Pipe`."""
        return Pipe(duplex, ring_bytes=ring_bytes)

    @staticmethod
    def Manager():
        """An :class:`ipc_toolkit.Manager`."""
        return Manager()


def get_context(method=None):
    """``multiprocessing.get_context(method)`` with ``ipc_toolkit``'s
    ``Queue``, ``JoinableQueue``, ``SimpleQueue``, ``Pipe`` and ``Manager``:
    ``ctx.Process`` starts processes by ``method`` and ``ctx.Queue()`` makes
    an :class:`ipc_toolkit.Queue`."""
    return _Context(_mp.get_context(method))


def __getattr__(name):
    # What this module does not define is multiprocessing's (Process, Pool,
    # cpu_count, Value, Lock, ...), so `import ipc_toolkit as mp` switches a
    # program's queues, pipes and managers and keeps everything else.
    try:
        return getattr(_mp, name)
    except AttributeError:
        raise AttributeError(f"module 'ipc_toolkit' has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(dir(_mp)))


__all__ = [
    "Connection",
    "ConsumersGone",
    "CorruptionError",
    "Error",
    "JoinableQueue",
    "Manager",
    "Pipe",
    "ProducersGone",
    "Queue",
    "SimpleQueue",
    "connection",
    "get_context",
]

__version__ = "0.1.0"
