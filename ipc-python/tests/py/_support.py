"""Helpers shared by the ipc_toolkit unittest modules (stdlib only).

Not a test module itself (the name does not match ``test*.py``). The test
modules import it by name, so under the ``spawn`` start method the children,
which import the test module to find its worker functions, import it too:
everything a child needs lives at module level.
"""

import math
import multiprocessing
import os
import time
import unittest

try:  # numpy is optional, except in CI (see numpy_test)
    import numpy
except ImportError:  # pragma: no cover - depends on the environment
    numpy = None

# In CI a missing numpy is a failure, not a skip.
REQUIRE_NUMPY = os.environ.get("CI") == "true"

# The start methods every cross-process test runs under (forkserver is
# Linux's default from Python 3.14).
START_METHODS = ("fork", "spawn", "forkserver")

# How late a timed-out call may return: `timeout` <= elapsed < timeout + SLACK.
SLACK = 2.0


def numpy_test(func):
    """Decorates a test (or a test class) that needs numpy: skipped without
    numpy, except when $CI is "true", where the test runs and fails (numpy
    is optional for the package's users; .ci/run installs it, so CI never
    skips)."""
    if numpy is not None or REQUIRE_NUMPY:
        return func
    return unittest.skip("numpy is not installed")(func)


def require_numpy(test):
    """In a numpy test: fails it when numpy is missing (CI only gets here)."""
    if numpy is None:
        test.fail("numpy is required when CI=true but is not installed")


# ----- objects that go through queues and pipes --------------------------


class Point:
    """A picklable user class (module level, so spawn children find it)."""

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return type(other) is Point and (self.x, self.y) == (other.x, other.y)

    def __hash__(self):
        return hash((self.x, self.y))

    def __repr__(self):
        return f"Point({self.x!r}, {self.y!r})"


class MyInt(int):
    """An int subclass: must come back as itself, not as a plain int."""


class MyStr(str):
    """A str subclass."""


class MyBytes(bytes):
    """A bytes subclass."""


def sample_objects():
    """Objects of many kinds, each expected to come back equal and of the
    same type (a memoryview comes back as bytes: not listed here)."""
    return [
        b"",
        b"bytes\x00\xff",
        bytes(range(256)) * 40,
        bytearray(b""),
        bytearray(b"a bytearray"),
        "",
        "str",
        "\u00fcn\u00efc\u00f8d\u00e9 \U0001f389 \u4e2d\u6587",
        "x" * 100_000,
        0,
        1,
        -1,
        2**31,
        2**62,
        2**63 - 1,
        -(2**63),
        2**63,
        -(2**63) - 1,
        2**64,
        2**100,
        -(2**200) + 7,
        0.0,
        -0.0,
        1.5,
        -2.25e-300,
        1e308,
        float("inf"),
        float("-inf"),
        True,
        False,
        None,
        [],
        (),
        {},
        [1, [2, [3, [4]]]],
        (1, "a", b"b", None, (2.5,)),
        {"k": [1, 2], 3: (4,), b"b": {"nested": {"deep": [None]}}},
        {1, 2, 3},
        frozenset({"x", "y"}),
        [Point(1, 2), {"p": Point("a", b"b")}],
        Point(3, [4, 5]),
        MyInt(5),
        MyStr("sub"),
        MyBytes(b"subbytes"),
        complex(1, -2),
        range(3, 30, 3),
        Ellipsis,
    ]


def same_object(a, b):
    """Whether `b` (what came back) is `a` (what went in): equal, of the
    same type, and for floats the same bits (-0.0, nan)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return a == b


def short(obj, limit=80):
    r = repr(obj)
    return r if len(r) <= limit else r[:limit] + "..."


# ----- processes -----------------------------------------------------------


class ProcessTestCase(unittest.TestCase):
    """A TestCase that starts child processes through `self.start` and
    never leaves one behind: whatever still runs at the end is killed."""

    def setUp(self):
        super().setUp()
        self._procs = []
        self.addCleanup(self._reap)

    def start(self, method, target, *args, name=None):
        """Starts `target(*args)` in a process of start method `method`."""
        ctx = multiprocessing.get_context(method)
        p = ctx.Process(target=target, args=args, name=name, daemon=True)
        self._procs.append(p)
        p.start()
        return p

    def join_ok(self, p, timeout=20.0):
        """Joins `p`, failing if it runs past `timeout` or exits non-zero."""
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join(5)
            self.fail(f"{p.name} did not finish within {timeout} s")
        self.assertEqual(p.exitcode, 0, f"{p.name} exited with {p.exitcode}")

    def _reap(self):
        for p in self._procs:
            if p.pid is None:
                continue
            if p.exitcode is None:
                p.join(0.05)
            if p.exitcode is None:
                try:
                    p.kill()
                except OSError:
                    pass
                p.join(10)


class Timer:
    """`with Timer() as t: ...` then `t.elapsed` (monotonic seconds)."""

    def __enter__(self):
        self.start = time.monotonic()
        self.elapsed = None
        return self

    def __exit__(self, *exc):
        self.elapsed = time.monotonic() - self.start
        return False


def wait_until(predicate, timeout=10.0, interval=0.01):
    """Polls `predicate` until true or `timeout`; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)
