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
under the ``fork`` and the ``spawn`` start methods: pickling one of these
objects carries its name, and the receiving process opens the same object.

A process killed at any instant (``SIGKILL``) loses no message it had
committed and tears none; the survivors are told: a ``get`` or ``recv``
whose senders are all gone raises :class:`EOFError` once everything they
sent has been received, a ``send`` to a gone receiver
:class:`BrokenPipeError`.

Unpickling runs code chosen by whoever pickled: as with
:mod:`multiprocessing`, share these objects only with processes you trust.
"""

from ._native import CorruptionError, Error
from .connection import Connection, Pipe
from .managers import Manager
from .queues import JoinableQueue, Queue, SimpleQueue
from . import connection

__all__ = [
    "Connection",
    "CorruptionError",
    "Error",
    "JoinableQueue",
    "Manager",
    "Pipe",
    "Queue",
    "SimpleQueue",
    "connection",
]

__version__ = "0.1.0"
