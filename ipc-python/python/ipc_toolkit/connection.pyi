from collections.abc import Iterable
from typing import Any, Optional, Protocol, TypeVar, Union, overload

from typing_extensions import Buffer, Self, TypeAlias

from . import _native

__all__ = ["Connection", "Pipe", "wait"]

class _HasFileno(Protocol):
    def fileno(self) -> int: ...

# What `wait` takes: this module's connections and queues, and what
# multiprocessing.connection.wait takes (file descriptors, objects with a
# fileno(): a process's sentinel, a socket, a multiprocessing connection).
_Waitable: TypeAlias = Union[_native.Connection, _native.Queue, int, _HasFileno]
_W = TypeVar("_W", bound=_Waitable)

class Connection(_native.Connection):
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc: object) -> None: ...
    def fileno(self) -> int: ...
    # `buf`: any writable object of the buffer protocol (bytearray,
    # memoryview, array.array, a numpy array, ...).
    def recv_bytes_into(self, buf: Buffer, offset: int = ...) -> int: ...

def Pipe(duplex: bool = ..., *, ring_bytes: Optional[int] = ...) -> tuple[Connection, Connection]: ...
@overload
def wait(object_list: Iterable[_W], timeout: Optional[float] = ...) -> list[_W]: ...
@overload
def wait(object_list: Iterable[_Waitable], timeout: Optional[float] = ...) -> list[_Waitable]: ...  # type: ignore[overload-cannot-match]
