"""``Manager()``: shared dict, list, Value and sync objects, without a server.

Every process maps the manager's shared memory and works on the objects in
place: a ``d[key]`` costs a hash, a probe and a copy in the calling process
(``multiprocessing``'s manager pickles a request to a server process and
waits for its answer). Objects are found by name, so proxies pickle by name
and work under the ``spawn`` start method as under ``fork``.
"""

import os
import sys
import threading
import time
from collections.abc import MutableMapping, MutableSequence

from . import _native
from .queues import JoinableQueue, Queue

__all__ = [
    "Manager",
    "DictProxy",
    "ListProxy",
    "ValueProxy",
    "ArrayProxy",
    "Namespace",
    "Lock",
    "RLock",
    "Condition",
    "Semaphore",
    "BoundedSemaphore",
    "Event",
    "Barrier",
]

# Managers opened in this process by unpickling a proxy, by name (kept open
# for the process's life: proxies hold their objects' memory anyway).
_opened = {}
_opened_lock = threading.Lock()


def _open_manager(name):
    with _opened_lock:
        m = _opened.get(name)
        if m is None:
            m = _opened[name] = _native.Manager(name, open=True)
        return m


class Manager:
    """A manager of shared objects, as ``multiprocessing.Manager()``.

    It is ready as soon as it is created (``start()`` does nothing) and
    usable as a context manager. Its objects live in shared memory named
    after the manager; the name is removed when this object and every proxy
    made from it are gone, while processes that opened it keep their
    mapping. ``shutdown()`` drops this object's hold on the memory.
    """

    def __init__(self, name=None, *, _native_manager=None):
        self._m = _native_manager or _native.Manager(name)

    @classmethod
    def open(cls, name):
        """Opens the existing manager ``name`` (one a Rust program, or
        another Python process, created)."""
        return cls(_native_manager=_open_manager(name))

    @property
    def name(self):
        """The manager's name in ``/dev/shm``."""
        return self._m.name

    def start(self, initializer=None, initargs=()):
        """Nothing to start: there is no server process."""
        if initializer is not None:
            initializer(*initargs)

    def shutdown(self):
        """Nothing to stop: there is no server process. The proxies made
        from this manager keep working; its memory goes when this object
        and every proxy are gone."""

    def join(self, timeout=None):
        """Nothing to join: there is no server process."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    def _name(self, kind):
        return _native.unique_name(kind)

    def dict(self, *args, name=None, **kwargs):
        """A new shared dict, filled as ``dict(*args, **kwargs)`` would be;
        with ``name``, the manager's dict of that name (created if new), as
        a Rust program names it (``manager.dict("name")``)."""
        d = DictProxy(self._m, name or self._name("d"))
        d._owner = self
        if args or kwargs:
            d.update(*args, **kwargs)
        return d

    def list(self, sequence=()):
        """A new shared list holding ``sequence``'s items."""
        lst = ListProxy(self._m, self._name("l"), list(sequence))
        lst._owner = self
        return lst

    def Value(self, typecode, value, lock=True):
        """A shared value with a ``.value`` attribute."""
        v = ValueProxy(self._m, self._name("v"), typecode, value)
        v._owner = self
        return v

    def Lock(self):
        """A shared lock (taken over if its holder dies)."""
        return self._sync(Lock, "Lock", 0)

    def RLock(self):
        """A shared re-entrant lock: the thread holding it may acquire it
        again, and releases it as often."""
        return self._sync(RLock, "Lock", 0)

    def Namespace(self, **attrs):
        """A shared namespace: attributes set in one process are seen by
        every other (each attribute is an entry of a hidden dict)."""
        ns = Namespace(self._m, self._name("n"), attrs)
        ns.__dict__["_owner"] = self
        return ns

    def Array(self, typecode, sequence, lock=True):
        """A shared array of fixed length, as ``Manager().Array``: items are
        read and set by index (the whole array is one value, as a list's)."""
        arr = ArrayProxy(self._m, self._name("a"), typecode, list(sequence))
        arr._owner = self
        return arr

    def Event(self):
        """A shared event."""
        return self._sync(Event, "Event", 0)

    def Semaphore(self, value=1):
        """A shared semaphore."""
        return self._sync(Semaphore, "Semaphore", value)

    def BoundedSemaphore(self, value=1):
        """A shared semaphore whose ``release`` refuses (``ValueError``) to
        raise its value above ``value``."""
        return self._sync(BoundedSemaphore, "Semaphore", value)

    def Condition(self, lock=None):
        """A shared condition variable over ``lock`` (a shared
        :class:`Lock` or :class:`RLock` of this manager; a new
        :class:`RLock` by default), as ``Manager().Condition()``."""
        if lock is None:
            lock = self.RLock()
        elif not isinstance(lock, Lock):
            raise TypeError("a shared Condition needs a shared Lock or RLock of a manager")
        cond = Condition(
            lock,
            self.Semaphore(0),
            self.Semaphore(0),
            self.Semaphore(0),
        )
        cond._owner = self
        return cond

    def Barrier(self, parties, action=None, timeout=None):
        """A shared barrier for ``parties`` processes. ``action``, if given,
        is called by the last party to arrive, before any is released (as
        ``threading.Barrier``'s); it goes to other processes with the
        barrier, so under ``spawn`` it must be picklable (a module-level
        function), as ``multiprocessing``'s manager requires too."""
        b = self._sync(Barrier, "Barrier", parties)
        b._timeout = timeout
        b._action = action
        return b

    def Queue(self, maxsize=0):
        """A shared queue (an :class:`ipc_toolkit.Queue`)."""
        return Queue(maxsize)

    def JoinableQueue(self, maxsize=0):
        """A shared joinable queue."""
        return JoinableQueue(maxsize)

    def _sync(self, cls, kind, arg):
        obj = cls(self._m, kind, self._name(kind[0].lower() + "k"), arg)
        obj._owner = self
        return obj


class DictProxy(_native.DictProxy, MutableMapping):
    """A shared dict: a :class:`collections.abc.MutableMapping` of picklable
    keys and values, read and written in place.

    ``str`` keys are stored as their UTF-8, so a Rust program's
    ``dict.insert("k", ..)`` and ``d["k"]`` meet; ``bytes`` and ``int``
    values are stored as a Rust program stores them (plain bytes, an
    ``i64``). Keys are compared by their encoding; numbers equal to an
    integer (``1``, ``1.0``, ``True``, numpy's ``int64(1)``) share it, as
    in a dict. Atomic across processes: ``increment(key, delta)``,
    ``update_with(key, fn, default)``, ``setdefault``, ``pop``,
    ``popitem``.
    """

    def __iter__(self):
        """Iterates over the keys at one moment (changes made meanwhile are
        not seen)."""
        return iter(self.keys())

    def copy(self):
        """A plain ``dict`` with the entries at one moment."""
        return dict(self.items())

    def __repr__(self):
        return repr(self.copy())

    def __eq__(self, other):
        if isinstance(other, (dict, DictProxy)):
            return self.copy() == dict(other.items())
        return NotImplemented

    __hash__ = None

    def __reduce__(self):
        return (_rebuild_dict, (self.manager, self.name))

    # MutableMapping's keys/values/items would be views over __iter__; these
    # are the lists multiprocessing's DictProxy returns.
    keys = _native.DictProxy.keys
    values = _native.DictProxy.values
    items = _native.DictProxy.items
    get = _native.DictProxy.get
    clear = _native.DictProxy.clear
    setdefault = _native.DictProxy.setdefault
    pop = _native.DictProxy.pop

    def popitem(self):
        """Removes and returns some ``(key, value)`` pair; ``KeyError`` if
        the dict is empty. Each try is an atomic ``pop``, so two processes
        never get the same pair."""
        for key in self.keys():
            try:
                return key, self.pop(key)
            except KeyError:
                continue  # taken by another process meanwhile
        raise KeyError("popitem(): dictionary is empty")


def _rebuild_dict(manager, name):
    return DictProxy(_open_manager(manager), name)


class ListProxy(MutableSequence):
    """A shared list. The whole list is one value of a hidden dict, read and
    replaced atomically (by compare-and-swap) on each change: each
    operation costs time in the list's length, which suits the small lists
    managers usually share."""

    def __init__(self, manager, name, initial=None, _open=False):
        self._store = DictProxy(manager, "__lists__")
        self._key = name
        self._mname = manager.name
        if not _open:
            self._store[name] = list(initial or [])

    def _get(self):
        return self._store.get(self._key, [])

    def _update(self, fn):
        return self._store.update_with(self._key, fn, [])

    def __getitem__(self, index):
        """The item at ``index`` (a list of the items, for a slice), read
        from the list as it is now; ``IndexError`` if out of range."""
        return self._get()[index]

    def __setitem__(self, index, value):
        """Replaces the item at ``index`` (or the items of a slice) in one
        atomic change; ``IndexError`` if out of range."""

        def change(lst):
            lst[index] = value
            return lst

        self._update(change)

    def __delitem__(self, index):
        """Removes the item at ``index`` (or the items of a slice) in one
        atomic change; ``IndexError`` if out of range."""

        def change(lst):
            del lst[index]
            return lst

        self._update(change)

    def __len__(self):
        """The number of items now."""
        return len(self._get())

    def insert(self, index, value):
        """Inserts ``value`` before ``index`` in one atomic change, as
        ``list.insert`` does."""

        def change(lst):
            lst.insert(index, value)
            return lst

        self._update(change)

    def append(self, value):
        """Adds ``value`` at the end in one atomic change."""
        self._update(lambda lst: lst + [value])

    def extend(self, values):
        """Adds the items of the iterable ``values`` at the end in one
        atomic change (they are read before the change starts)."""
        values = list(values)
        self._update(lambda lst: lst + values)

    def pop(self, index=-1):
        """Removes and returns the item at ``index`` (the last by default)
        in one atomic change, so two processes never get the same item;
        ``IndexError`` if the list is empty or ``index`` out of range."""
        popped = []

        def change(lst):
            popped[:] = [lst.pop(index)]
            return lst

        self._update(change)
        return popped[0]

    def sort(self, *, key=None, reverse=False):
        """Sorts the list in place, in one atomic change (``key`` runs in
        this process, as for a ``list``)."""

        def change(lst):
            lst.sort(key=key, reverse=reverse)
            return lst

        self._update(change)

    def reverse(self):
        """Reverses the list in place, in one atomic change."""
        self._update(lambda lst: lst[::-1])

    def remove(self, value):
        """Removes the first item equal to ``value``, in one atomic change;
        ``ValueError`` if there is none."""

        def change(lst):
            lst.remove(value)
            return lst

        self._update(change)

    def __iadd__(self, values):
        self.extend(values)
        return self

    def __imul__(self, n):
        self._update(lambda lst: lst * n)
        return self

    def __add__(self, other):
        return self.copy() + list(other)

    def __radd__(self, other):
        return list(other) + self.copy()

    def __mul__(self, n):
        return self.copy() * n

    __rmul__ = __mul__

    def copy(self):
        """A plain ``list`` with the items at one moment."""
        return list(self._get())

    def __iter__(self):
        """Iterates over the items at one moment (changes made meanwhile
        are not seen)."""
        return iter(self._get())

    def __repr__(self):
        return repr(self._get())

    def __eq__(self, other):
        if isinstance(other, (list, ListProxy)):
            return self._get() == list(other)
        return NotImplemented

    __hash__ = None

    def __reduce__(self):
        return (_rebuild_list, (self._mname, self._key))


def _rebuild_list(manager, name):
    return ListProxy(_open_manager(manager), name, _open=True)


class ValueProxy(_native.ValueProxy):
    """A shared value, as ``Manager().Value(typecode, value)``: read and set
    ``.value``; ``increment(delta)`` adds to an integer atomically."""

    def __init__(self, manager, name, typecode, initial):
        self._mname = manager.name
        self._name = name

    def get(self):
        """The current value (as ``.value``)."""
        return self.value

    def set(self, value):
        """Sets the value (as assigning ``.value``)."""
        self.value = value

    def __repr__(self):
        return f"{type(self).__name__}({self.typecode!r}, {self.value!r})"

    def __reduce__(self):
        return (_rebuild_value, (self._mname, self._name, self.typecode))


def _rebuild_value(manager, name, typecode):
    return ValueProxy(_open_manager(manager), name, typecode, None)


class _SyncBase(_native.SyncProxy):
    def __reduce__(self):
        return (_rebuild_sync, (type(self), self.manager, self.kind, self.name, self.arg))


def _rebuild_sync(cls, manager, kind, name, arg):
    return cls(_open_manager(manager), kind, name, arg)


class Lock(_SyncBase):
    """A shared lock: ``acquire(block=True, timeout=None)``, ``release()``,
    ``with lock:``. Released by the thread that acquired it; a lock whose
    holder died is taken over by the next ``acquire``."""

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()

    def _owned(self):
        """How many times this thread holds the lock (0 or 1)."""
        return 1 if self._held_by_me() else 0


class RLock(Lock):
    """A shared re-entrant lock, over a shared :class:`Lock`: the count of
    nested acquisitions is kept by the holding thread's handle (only that
    thread, in that process, can hold it, so only it needs to know)."""

    def __init__(self, manager, kind, name, arg=0):
        self._holder = None
        self._depth = 0

    def acquire(self, block=True, timeout=None, *, blocking=None):
        """Acquires the lock, or adds one to this thread's count if it holds
        it already; waits if ``block`` (at most ``timeout`` seconds) and
        returns whether it holds it. ``blocking`` is ``threading``'s name
        for ``block``."""
        me = (os.getpid(), threading.get_ident())
        if self._holder == me:
            self._depth += 1
            return True
        if not super().acquire(block, timeout, blocking=blocking):
            return False
        self._holder, self._depth = me, 1
        return True

    def release(self):
        """Takes one from this thread's count, releasing the lock at 0;
        ``RuntimeError`` if this thread does not hold it."""
        if self._holder != (os.getpid(), threading.get_ident()):
            raise RuntimeError("cannot release un-acquired lock")
        self._depth -= 1
        if self._depth == 0:
            self._holder = None
            super().release()

    def _owned(self):
        if self._holder == (os.getpid(), threading.get_ident()):
            return self._depth
        return 0

    __enter__ = Lock.__enter__
    __exit__ = Lock.__exit__


class Namespace:
    """A shared namespace (``Manager().Namespace()``): attribute access
    goes to a hidden dict of the manager, one entry per attribute."""

    def __init__(self, manager, name, attrs=None, _open=False):
        self.__dict__["_store"] = DictProxy(manager, "__namespaces__")
        self.__dict__["_prefix"] = name + "."
        self.__dict__["_mname"] = manager.name
        self.__dict__["_name"] = name
        for k, v in (attrs or {}).items():
            setattr(self, k, v)

    def __getattr__(self, attr):
        if attr.startswith("_"):
            raise AttributeError(attr)
        try:
            return self._store[self._prefix + attr]
        except KeyError:
            raise AttributeError(attr) from None

    def __setattr__(self, attr, value):
        if attr.startswith("_"):
            self.__dict__[attr] = value
            return
        self._store[self._prefix + attr] = value

    def __delattr__(self, attr):
        if attr.startswith("_"):
            try:
                del self.__dict__[attr]
            except KeyError:
                raise AttributeError(attr) from None
            return
        try:
            del self._store[self._prefix + attr]
        except KeyError:
            raise AttributeError(attr) from None

    def __repr__(self):
        items = sorted(
            (k[len(self._prefix) :], v)
            for k, v in self._store.items()
            if isinstance(k, str) and k.startswith(self._prefix)
        )
        return "Namespace(" + ", ".join(f"{k}={v!r}" for k, v in items) + ")"

    def __reduce__(self):
        return (_rebuild_namespace, (self._mname, self._name))


def _rebuild_namespace(manager, name):
    return Namespace(_open_manager(manager), name, _open=True)


class ArrayProxy(ListProxy):
    """A shared array of fixed length (``Manager().Array(typecode, seq)``):
    indexing, slicing, ``len``, iteration; no growing or shrinking."""

    def __init__(self, manager, name, typecode, initial=None, _open=False):
        super().__init__(manager, name, initial, _open=_open)
        self.typecode = typecode

    def _fixed(self, *args, **kwargs):
        """Refuses to change the array's length: always raises
        ``TypeError`` (an array has the length it was created with)."""
        raise TypeError("an Array has a fixed length")

    insert = append = extend = pop = remove = __delitem__ = _fixed
    __iadd__ = __imul__ = _fixed

    def __setitem__(self, index, value):
        """Replaces the item at ``index``, or a slice's items with as many
        (``ValueError`` otherwise: the length is fixed), in one atomic
        change."""
        if isinstance(index, slice):
            value = list(value)

            def change(lst):
                if len(range(*index.indices(len(lst)))) != len(value):
                    raise ValueError("an Array has a fixed length: a slice takes as many items")
                lst[index] = value
                return lst

            self._update(change)
        else:
            super().__setitem__(index, value)

    def __reduce__(self):
        return (_rebuild_array, (self._mname, self._key, self.typecode))


def _rebuild_array(manager, name, typecode):
    return ArrayProxy(_open_manager(manager), name, typecode, _open=True)


class Semaphore(_SyncBase):
    """A shared semaphore: ``acquire(block=True, timeout=None)``,
    ``release(n=1)``, ``get_value()``, ``with sem:``."""

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


class BoundedSemaphore(Semaphore):
    """A shared semaphore that refuses to be released above its initial
    value: ``release`` raises ``ValueError`` then, checked in the same
    atomic step as the release (across processes)."""

    def release(self, n=1):
        """Adds ``n``; ``ValueError`` (adding nothing) if the value would
        pass the initial value."""
        super().release(n, bound=self.arg)


class Condition:
    """A shared condition variable (``Manager().Condition(lock)``):
    ``wait(timeout)``, ``wait_for(predicate, timeout)``, ``notify(n)``,
    ``notify_all()``, and the lock's ``acquire``/``release``/``with``.

    Built as ``multiprocessing.synchronize.Condition`` is, from the lock and
    three shared semaphores (sleepers, woken, wake-ups), so it works between
    processes under any start method. A notifier waits for the sleepers it
    woke to say so; one killed in that instant is waited for at most
    ``WOKEN_WAIT`` seconds, not forever.
    """

    WOKEN_WAIT = 5.0

    def __init__(self, lock, sleeping, woken, wake):
        self._lock = lock
        self._sleeping = sleeping
        self._woken = woken
        self._wake = wake

    def acquire(self, *args, **kwargs):
        """The lock's ``acquire``."""
        return self._lock.acquire(*args, **kwargs)

    def release(self):
        """The lock's ``release``."""
        self._lock.release()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *exc):
        return self._lock.__exit__(*exc)

    def __reduce__(self):
        return (Condition, (self._lock, self._sleeping, self._woken, self._wake))

    def __repr__(self):
        return f"<Condition over {self._lock.name}>"

    def wait(self, timeout=None):
        """Releases the lock, waits until notified (at most ``timeout``
        seconds), takes the lock again; whether it was notified.
        ``RuntimeError`` unless this thread holds the lock."""
        count = self._lock._owned()
        if not count:
            raise RuntimeError("cannot wait on un-acquired lock")
        self._sleeping.release()
        for _ in range(count):
            self._lock.release()
        try:
            return self._wake.acquire(True, timeout)
        finally:
            self._woken.release()
            for _ in range(count):
                self._lock.acquire()

    def wait_for(self, predicate, timeout=None):
        """Waits until ``predicate()`` is true (at most ``timeout``
        seconds); returns its last value."""
        result = predicate()
        if result:
            return result
        deadline = None if timeout is None else time.monotonic() + timeout
        while not result:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.wait(left)
            else:
                self.wait()
            result = predicate()
        return result

    def notify(self, n=1):
        """Wakes up to ``n`` processes (or threads) waiting. ``RuntimeError``
        unless this thread holds the lock."""
        if not self._lock._owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        # Wake-ups left from waiters that timed out are taken back first.
        while self._wake.acquire(False):
            pass
        # Sleepers that have woken since the last notify (timed out) are
        # no longer sleeping.
        while self._woken.acquire(False):
            self._sleeping.acquire(False)
        woken = 0
        while woken < n and self._sleeping.acquire(False):
            self._wake.release()
            woken += 1
        for _ in range(woken):
            # Each woken sleeper says so; one killed right then is not
            # waited for forever.
            if not self._woken.acquire(True, self.WOKEN_WAIT):
                break
        # A wake-up no sleeper took (it timed out meanwhile) is taken back.
        while self._wake.acquire(False):
            pass

    def notify_all(self):
        """Wakes every process (or thread) waiting."""
        self.notify(sys.maxsize)


class Event(_SyncBase):
    """A shared event: ``set``, ``clear``, ``is_set``, ``wait(timeout)``."""


class Barrier(_SyncBase):
    """A shared barrier: ``wait(timeout)`` returns this party's place in
    the order of arrival (as ``threading``'s); ``abort``, ``reset``,
    ``parties``, ``n_waiting``, ``broken``. Ctrl-C (``KeyboardInterrupt``)
    ends a ``wait`` and breaks the round, so the other parties hear
    ``BrokenBarrierError`` instead of waiting for this one."""

    _timeout = None
    _action = None

    def __reduce__(self):
        return (
            _rebuild_barrier,
            (self.manager, self.name, self.arg, self._timeout, self._action),
        )

    def wait(self, timeout=None):
        """Waits until ``parties`` processes (or threads) have called
        ``wait`` and returns this party's place in the order of arrival (0
        for the first, ``parties - 1`` for the last), as ``threading``'s
        does. ``timeout`` defaults to the one the barrier was made with;
        ``threading.BrokenBarrierError`` if the barrier is broken, or
        aborted, or the wait times out (which breaks it).

        With an ``action``, the last party calls it before anyone leaves:
        the parties then meet a second time, once it has returned. If it
        raises, the barrier is broken (the others hear
        ``BrokenBarrierError``) and the exception goes to its caller."""
        timeout = self._timeout if timeout is None else timeout
        if self._action is None:
            return super().wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        index = super().wait(timeout)
        if index == self.parties - 1:
            try:
                self._action()
            except BaseException:
                self.abort()
                raise
        left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
        super().wait(left)
        return index


def _rebuild_barrier(manager, name, parties, timeout, action):
    b = Barrier(_open_manager(manager), "Barrier", name, parties)
    b._timeout = timeout
    b._action = action
    return b
