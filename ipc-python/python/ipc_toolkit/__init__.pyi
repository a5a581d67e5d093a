from multiprocessing.context import BaseContext
from typing import Any, Optional

from typing_extensions import TypeAlias

from . import connection as connection
from ._native import (
    ConsumersGone as ConsumersGone,
    CorruptionError as CorruptionError,
    Error as Error,
    ProducersGone as ProducersGone,
)
from .connection import Connection as Connection, Pipe as Pipe
from .managers import Manager as Manager
from .queues import JoinableQueue as JoinableQueue, Queue as Queue, SimpleQueue as SimpleQueue

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

__version__: str

# For _Context's methods, whose names hide these in its body.
_Queue: TypeAlias = Queue
_JoinableQueue: TypeAlias = JoinableQueue
_SimpleQueue: TypeAlias = SimpleQueue
_Manager: TypeAlias = Manager

class _Context:
    _context: BaseContext
    def __init__(self, context: BaseContext) -> None: ...
    # Everything else (Process, Pool, Lock, ...) is the wrapped context's.
    def __getattr__(self, name: str) -> Any: ...
    @staticmethod
    def Queue(maxsize: int = ..., *, ring_bytes: Optional[int] = ...) -> _Queue: ...
    @staticmethod
    def JoinableQueue(maxsize: int = ..., *, ring_bytes: Optional[int] = ...) -> _JoinableQueue: ...
    @staticmethod
    def SimpleQueue() -> _SimpleQueue: ...
    @staticmethod
    def Pipe(duplex: bool = ..., *, ring_bytes: Optional[int] = ...) -> tuple[Connection, Connection]: ...
    @staticmethod
    def Manager() -> _Manager: ...

def get_context(method: Optional[str] = ...) -> _Context: ...

# What the module does not define is multiprocessing's (Process, Pool,
# cpu_count, Value, Lock, ...).
def __getattr__(name: str) -> Any: ...
def __dir__() -> list[str]: ...
