"""ipc_toolkit.Manager against multiprocessing.Manager's semantics: the dict
proxy as a MutableMapping, keys and values of many kinds, writes across
processes (fork and spawn), atomic increment and update_with under
contention, the list proxy, Value, Lock (mutual exclusion, acquire timeout),
Event, Semaphore, Barrier and Queue.

    cd ipc-python/tests/py && PYTHONPATH=<dir with ipc_toolkit> python3 -m unittest -v test_manager
"""

import glob
import os
import pickle
import signal
import queue
import subprocess
import sys
import textwrap
import threading
import time
import unittest
from collections.abc import MutableMapping, MutableSequence

import ipc_toolkit

from _support import (
    numpy,
    SLACK,
    START_METHODS,
    Point,
    ProcessTestCase,
    Timer,
    same_object,
    short,
)

WORKERS = 4


# ----- workers (module level: spawn children import them) ----------------


def _write_entries(d, tag):
    d["from_child"] = tag
    d[b"bytes-key"] = b"\x00\x01"
    d[7] = [1, 2, {"x": Point(1, 2)}]
    d[("tuple", 1)] = None
    d["seen_parent_value"] = d.get("parent", "missing")
    d.setdefault("child_default", 99)
    del d["to_delete"]


def _increment_many(d, key, n):
    for _ in range(n):
        d.increment(key)


def _append_with_update_with(d, key, worker, n):
    for i in range(n):
        d.update_with(key, lambda lst, item=(worker, i): lst + [item], [])


def _list_append(lst, worker, n):
    for i in range(n):
        lst.append((worker, i))


def _list_ops(lst):
    lst.append("child")
    lst[0] = "changed by child"
    lst.extend([10, 11])


def _value_ops(v, n):
    for _ in range(n):
        v.increment()


def _value_set(v, value):
    v.value = value


def _locked_increments(lock, d, n):
    """Read-modify-write under the lock, with a check that no other holder is
    inside at the same time."""
    for _ in range(n):
        with lock:
            inside = d.increment("inside")
            if inside != 1:
                d.increment("overlaps")
            x = d["counter"]
            time.sleep(0)  # let another process run inside the window
            d["counter"] = x + 1
            d.increment("inside", -1)


def _hold_lock(lock, held, release):
    lock.acquire()
    held.set()
    release.wait(30)
    lock.release()


def _acquire_and_record(lock, d):
    got = lock.acquire(timeout=20)
    d["got"] = got
    if got:
        lock.release()


def _wait_event_then_report(ev, d, timeout):
    d["child_got_event"] = ev.wait(timeout)
    d["child_saw_is_set"] = ev.is_set()


def _set_event_after(ev, delay):
    time.sleep(delay)
    ev.set()


def _semaphore_worker(sem, d, rounds):
    for _ in range(rounds):
        with sem:
            now = d.increment("inside")
            d.update_with("max_inside", lambda m, now=now: max(m, now), 0)
            time.sleep(0.02)
            d.increment("inside", -1)


def _insert_absent(d, n, results):
    """Inserts i into key k<i % 8> when that key is absent; reports the
    values it inserted."""
    inserted = []
    for i in range(n):
        if d.setdefault(f"k{i % 8}", i) == i:
            inserted.append(i)
    results.put(("inserted", inserted))


def _pop_keys(d, n, results):
    """Pops (and popitems, in turn) n times; reports the values it got."""
    got = []
    for j in range(n):
        try:
            if j % 2:
                got.append(d.popitem()[1])
            else:
                got.append(d.pop(f"k{j % 8}"))
        except KeyError:
            pass
    results.put(("popped", got))


def _condition_consumer(cond, d, n, results):
    """Takes n items, waiting on the condition for each."""
    got = []
    for _ in range(n):
        with cond:
            cond.wait_for(lambda: d.get("items", 0) > 0, timeout=20)
            d.increment("items", -1)
            got.append(1)
    results.put(len(got))


def _condition_waiter(cond, d, results):
    with cond:
        d.increment("waiting")
        woke = cond.wait(timeout=20)
    results.put(woke)


def _release_bounded(sem, results):
    try:
        sem.release()
        results.put("released")
    except ValueError:
        results.put("refused")


def _barrier_worker(barrier, d, worker):
    d.increment("arrived")
    before = d["arrived"]
    index = barrier.wait(20)
    after = d["arrived"]
    d[("result", worker)] = (before, index, after)


def _bump_actions(d):
    """A barrier action: counts its calls (and who made them)."""
    d.increment("actions")
    d[("action_by", d["actions"])] = os.getpid()


def _barrier_rounds_with_action(barrier, d, worker, rounds):
    """Each round: what the action count is right after the wait (the
    action must have run, exactly once per round, before anyone left)."""
    seen = []
    for _ in range(rounds):
        barrier.wait(20)
        seen.append(d["actions"])
    d[("seen", worker)] = seen


def _failing_action():
    raise RuntimeError("action failed on purpose")


def _barrier_wait_outcome(barrier, results):
    try:
        barrier.wait()
        results.put("passed")
    except threading.BrokenBarrierError:
        results.put("broken")
    except RuntimeError as e:
        results.put(("raised", str(e)))


def _barrier_wait_report(barrier, results):
    results.put("waiting")
    try:
        results.put(("passed", barrier.wait()))
    except KeyboardInterrupt:
        results.put("interrupted")
    except threading.BrokenBarrierError:
        results.put("broken")


def _queue_child(q, results):
    item = q.get(timeout=20)
    results.put(("got", item))


def _touch_everything(d, lst, v, lock, ev):
    d["k"] = "child"
    lst.append("child")
    v.value = 42
    with lock:
        d["locked"] = True
    ev.set()


# ----- the dict ------------------------------------------------------------


def _rlock_increments(rlock, d, n, go):
    go.wait(20)  # all start together, so the increments race
    for _ in range(n):
        with rlock:
            with rlock:  # re-entered by the holding thread
                d["n"] = d["n"] + 1


def _namespace_and_array(ns, arr):
    ns.count += 1
    ns.name = "child"
    arr[1] = 42


class MoreObjectsTest(ProcessTestCase):
    def test_rlock_is_reentrant_and_exclusive_across_processes(self):
        m = ipc_toolkit.Manager()
        rl = m.RLock()
        self.assertTrue(rl.acquire())
        self.assertTrue(rl.acquire(timeout=0.1))
        rl.release()
        rl.release()
        with self.assertRaises(RuntimeError):
            rl.release()
        d = m.dict(n=0)
        for method in START_METHODS:
            with self.subTest(method=method):
                d["n"] = 0
                go = m.Event()
                ps = [self.start(method, _rlock_increments, rl, d, 1000, go) for _ in range(3)]
                time.sleep(0.5 if method == "fork" else 2.0)
                go.set()
                for p in ps:
                    self.join_ok(p)
                self.assertEqual(d["n"], 3000, "a lost update: the RLock did not exclude")

    def test_namespace_and_array_across_processes(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                ns = m.Namespace(count=1, name="parent")
                arr = m.Array("i", [1, 2, 3])
                self.join_ok(self.start(method, _namespace_and_array, ns, arr))
                self.assertEqual((ns.count, ns.name), (2, "child"))
                self.assertEqual(list(arr), [1, 42, 3])
                self.assertEqual(repr(ns), "Namespace(count=2, name='child')")
                with self.assertRaises(AttributeError):
                    ns.missing
                with self.assertRaises(TypeError):
                    arr.append(4)
                self.assertEqual(len(arr), 3)


class DictTest(unittest.TestCase):
    def setUp(self):
        self.m = ipc_toolkit.Manager()
        self.d = self.m.dict()

    def test_is_a_mutable_mapping(self):
        self.assertIsInstance(self.d, MutableMapping)

    def test_basic_ops(self):
        d = self.d
        self.assertEqual(len(d), 0)
        d["a"] = 1
        d["b"] = "two"
        self.assertEqual(d["a"], 1)
        self.assertEqual(d["b"], "two")
        self.assertIn("a", d)
        self.assertNotIn("z", d)
        self.assertEqual(len(d), 2)
        d["a"] = 10  # overwrite
        self.assertEqual(d["a"], 10)
        self.assertEqual(len(d), 2)
        del d["a"]
        self.assertNotIn("a", d)
        self.assertEqual(len(d), 1)
        with self.assertRaises(KeyError):
            d["a"]
        with self.assertRaises(KeyError):
            del d["a"]

    def test_iteration_and_views(self):
        d = self.d
        expected = {"a": 1, "b": 2.5, "c": [3], 4: "four"}
        for k, v in expected.items():
            d[k] = v
        self.assertEqual(sorted(map(repr, d)), sorted(map(repr, expected)))
        self.assertEqual(sorted(map(repr, d.keys())), sorted(map(repr, expected.keys())))
        self.assertEqual(sorted(map(repr, d.values())), sorted(map(repr, expected.values())))
        self.assertEqual(sorted(map(repr, d.items())), sorted(map(repr, expected.items())))
        self.assertEqual(dict(d), expected)
        self.assertEqual(dict(d.items()), expected)
        self.assertEqual(len(list(iter(d))), 4)

    def test_get_pop_popitem_setdefault(self):
        d = self.d
        self.assertIsNone(d.get("missing"))
        self.assertEqual(d.get("missing", 5), 5)
        d["x"] = "val"
        self.assertEqual(d.get("x", 5), "val")
        self.assertEqual(d.pop("x"), "val")
        self.assertNotIn("x", d)
        self.assertEqual(d.pop("x", "dflt"), "dflt")
        with self.assertRaises(KeyError):
            d.pop("x")
        d["only"] = 1
        self.assertEqual(d.popitem(), ("only", 1))
        self.assertEqual(len(d), 0)
        with self.assertRaises(KeyError):
            d.popitem()
        self.assertEqual(d.setdefault("s", [1]), [1])
        self.assertEqual(d.setdefault("s", [2]), [1])
        self.assertIsNone(d.setdefault("n"))
        self.assertIn("n", d)
        self.assertIsNone(d["n"])

    def test_update_clear_copy(self):
        d = self.d
        d.update({"a": 1}, b=2)
        d.update([("c", 3)])
        d.update(d=4)
        self.assertEqual(d.copy(), {"a": 1, "b": 2, "c": 3, "d": 4})
        self.assertIs(type(d.copy()), dict)
        c = d.copy()
        c["e"] = 5
        self.assertNotIn("e", d)  # a copy, not a view
        d.clear()
        self.assertEqual(len(d), 0)
        self.assertEqual(d.copy(), {})

    def test_created_filled(self):
        d = self.m.dict({"a": 1}, b=[2])
        self.assertEqual(d.copy(), {"a": 1, "b": [2]})
        d2 = self.m.dict([("x", 1), ("y", 2)])
        self.assertEqual(d2.copy(), {"x": 1, "y": 2})
        self.assertEqual(len(self.d), 0, "dicts of one manager share entries")

    def test_equality(self):
        d = self.d
        d["a"] = 1
        d["b"] = [2]
        self.assertTrue(d == {"a": 1, "b": [2]})
        self.assertTrue({"a": 1, "b": [2]} == d)
        self.assertFalse(d == {"a": 1})
        self.assertTrue(d != {"a": 2, "b": [2]})
        self.assertFalse(d == [("a", 1)])

    def test_repr_like_a_dict(self):
        d = self.d
        self.assertEqual(repr(d), "{}")
        d["key"] = [1, "two"]
        self.assertEqual(repr(d), repr({"key": [1, "two"]}))
        self.assertEqual(str(d), str({"key": [1, "two"]}))
        d[3] = b"x"
        self.assertEqual(eval(repr(d)), {"key": [1, "two"], 3: b"x"})

    def test_key_kinds(self):
        d = self.d
        keys = ["s", "", "\u00fcn\u00efc\u00f8d\u00e9", b"b", b"", b"\xff\xfe", 0, 1, -1,
                2**63 - 1, -(2**63), 2**64, ("t", 1), (1, (2, b"3")), frozenset({1}),
                Point(1, 2), 2.5, None]
        for i, k in enumerate(keys):
            d[k] = i
        self.assertEqual(len(d), len(keys))
        for i, k in enumerate(keys):
            self.assertIn(k, d)
            self.assertEqual(d[k], i, f"key {k!r}")
        back = d.keys()
        for k in keys:
            self.assertTrue(
                any(same_object(k, b) for b in back), f"key {short(k)} did not come back as itself"
            )
        # str and bytes of the same text are two keys, as in a dict.
        d["same"] = "str"
        d[b"same"] = "bytes"
        self.assertEqual((d["same"], d[b"same"]), ("str", "bytes"))

    def test_equal_numbers_are_one_key(self):
        # As in a dict: 1, 1.0 and True are one key; so are numpy's ints
        # and the int they equal.
        d = self.d
        d[1] = "one"
        self.assertEqual(d[1.0], "one")
        self.assertEqual(d[True], "one")
        d[2.0] = "two"
        self.assertEqual(d[2], "two")
        d[False] = "zero"
        self.assertEqual(d[0], "zero")
        self.assertEqual(d[-0.0], "zero")
        self.assertEqual(len(d), 3)
        self.assertEqual(sorted(d.keys()), [0, 1, 2])
        d[2.5] = "not integral"
        self.assertNotIn(2, [k for k in d.keys() if d[k] == "not integral"])
        self.assertEqual(d.pop(1.0), "one")
        self.assertNotIn(1, d)
        if numpy is not None:
            d[numpy.int64(7)] = "seven"
            self.assertEqual(d[7], "seven")
            self.assertEqual(d[numpy.float64(7.0)], "seven")
            self.assertIn(numpy.int32(7), d)

    def test_unhashable_key(self):
        with self.assertRaises(TypeError):
            self.d[[1, 2]] = 1
        with self.assertRaises(TypeError):
            self.d[{"a": 1}]

    def test_value_kinds(self):
        d = self.d
        values = [b"", b"\x00raw", bytearray(b"ba"), "", "s", "\U0001f389", 0, -1, 2**63 - 1,
                  -(2**63), 2**63, 2**100, 0.0, -0.0, 1.5, float("inf"), True, False, None,
                  [1, [2]], (1, "a"), {"n": {"m": [None]}}, {1, 2}, Point(3, 4), b"x" * 100_000,
                  "y" * 50_000]
        for i, v in enumerate(values):
            d[i] = v
        for i, v in enumerate(values):
            got = d[i]
            self.assertTrue(same_object(v, got), f"stored {short(v)}, got {short(got)}")

    def test_str_with_lone_surrogate(self):
        s = "file-\udcff"
        self.d["k"] = s
        self.assertEqual(self.d["k"], s)
        self.d[s] = 1
        self.assertEqual(self.d[s], 1)

    def test_increment(self):
        d = self.d
        self.assertEqual(d.increment("c"), 1)
        self.assertEqual(d.increment("c"), 2)
        self.assertEqual(d.increment("c", 10), 12)
        self.assertEqual(d.increment("c", -20), -8)
        self.assertEqual(d["c"], -8)
        d["n"] = 5
        self.assertEqual(d.increment("n", 2), 7)
        d["s"] = "text"
        with self.assertRaises(TypeError):
            d.increment("s")
        self.assertEqual(d["s"], "text")

    def test_update_with(self):
        d = self.d
        self.assertEqual(d.update_with("l", lambda v: v + [1], []), [1])
        self.assertEqual(d.update_with("l", lambda v: v + [2], []), [1, 2])
        self.assertEqual(d["l"], [1, 2])
        self.assertEqual(d.update_with("n", lambda v: (v or 0) + 1), 1)
        with self.assertRaises(ZeroDivisionError):
            d.update_with("l", lambda v: 1 / 0)
        self.assertEqual(d["l"], [1, 2])

    def test_pickled_proxy_shares_entries(self):
        d2 = pickle.loads(pickle.dumps(self.d))
        self.d["a"] = 1
        self.assertEqual(d2["a"], 1)
        d2["b"] = 2
        self.assertEqual(self.d["b"], 2)


class DictProcessesTest(ProcessTestCase):
    def test_pop_and_popitem_are_atomic_across_processes(self):
        # A writer inserts values into absent keys (setdefault) while two
        # poppers pop them (pop and popitem in turn): every inserted value
        # is popped (or left) exactly once. A pop made of a read and a
        # delete hands one value to two poppers and loses the next.
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                d = m.dict()
                results = ipc_toolkit.Queue()
                n = 15000
                ps = [self.start(method, _insert_absent, d, n, results)]
                ps += [self.start(method, _pop_keys, d, n, results) for _ in range(2)]
                inserted, popped = [], []
                for _ in ps:
                    kind, values = results.get(timeout=60)
                    (inserted if kind == "inserted" else popped).extend(values)
                for p in ps:
                    self.join_ok(p, 60)
                popped.extend(d.values())
                self.assertEqual(sorted(popped), sorted(inserted))

    def test_child_writes_visible_to_parent(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                with ipc_toolkit.Manager() as m:
                    d = m.dict()
                    d["parent"] = "hello"
                    d["to_delete"] = 1
                    p = self.start(method, _write_entries, d, method)
                    self.join_ok(p)
                    self.assertEqual(d["from_child"], method)
                    self.assertEqual(d[b"bytes-key"], b"\x00\x01")
                    self.assertEqual(d[7], [1, 2, {"x": Point(1, 2)}])
                    self.assertIn(("tuple", 1), d)
                    self.assertIsNone(d[("tuple", 1)])
                    self.assertEqual(d["seen_parent_value"], "hello")
                    self.assertEqual(d["child_default"], 99)
                    self.assertNotIn("to_delete", d)

    def test_increment_is_atomic_under_contention(self):
        m = ipc_toolkit.Manager()
        d = m.dict()
        ps = [self.start("fork", _increment_many, d, "count", 1000) for _ in range(WORKERS)]
        for p in ps:
            self.join_ok(p, 60)
        self.assertEqual(d["count"], WORKERS * 1000)

    def test_increment_spawn(self):
        m = ipc_toolkit.Manager()
        d = m.dict()
        ps = [self.start("spawn", _increment_many, d, "count", 250) for _ in range(2)]
        for p in ps:
            self.join_ok(p, 60)
        self.assertEqual(d["count"], 500)

    def test_update_with_is_atomic_under_contention(self):
        m = ipc_toolkit.Manager()
        d = m.dict()
        n = 60
        ps = [self.start("fork", _append_with_update_with, d, "items", w, n) for w in range(WORKERS)]
        for p in ps:
            self.join_ok(p, 60)
        items = d["items"]
        self.assertEqual(len(items), WORKERS * n, "lost or duplicated updates")
        self.assertEqual(sorted(items), [(w, i) for w in range(WORKERS) for i in range(n)])
        for w in range(WORKERS):
            self.assertEqual([i for (x, i) in items if x == w], list(range(n)))


# ----- list and Value ------------------------------------------------------


class ListTest(ProcessTestCase):
    def test_ops(self):
        m = ipc_toolkit.Manager()
        lst = m.list([1, 2, 3])
        self.assertIsInstance(lst, MutableSequence)
        self.assertEqual(len(lst), 3)
        self.assertEqual(lst[0], 1)
        self.assertEqual(lst[-1], 3)
        self.assertEqual(lst[0:2], [1, 2])
        lst.append(4)
        lst.extend([5, 6])
        self.assertEqual(list(lst), [1, 2, 3, 4, 5, 6])
        lst[0] = "one"
        self.assertEqual(lst[0], "one")
        self.assertEqual(lst.pop(), 6)
        self.assertEqual(lst.pop(0), "one")
        lst.insert(1, "ins")
        self.assertEqual(lst.copy(), [2, "ins", 3, 4, 5])
        self.assertIs(type(lst.copy()), list)
        del lst[1]
        self.assertEqual(list(lst), [2, 3, 4, 5])
        self.assertIn(4, lst)
        self.assertEqual(lst.index(4), 2)
        self.assertEqual(lst.count(2), 1)
        lst.remove(2)
        self.assertEqual(lst, [3, 4, 5])
        self.assertEqual(repr(lst), repr([3, 4, 5]))
        self.assertEqual([x for x in lst], [3, 4, 5])
        with self.assertRaises(IndexError):
            lst[10]
        with self.assertRaises(IndexError):
            lst[10] = 1
        self.assertEqual(m.list(), [])
        self.assertEqual(len(m.list()), 0)

    def test_sort_reverse_and_arithmetic(self):
        # What a multiprocessing ListProxy offers beyond MutableSequence.
        m = ipc_toolkit.Manager()
        lst = m.list([3, 1, 2])
        lst.sort()
        self.assertEqual(lst.copy(), [1, 2, 3])
        lst.sort(key=lambda x: -x)
        self.assertEqual(lst.copy(), [3, 2, 1])
        lst.sort(reverse=True)
        self.assertEqual(lst.copy(), [3, 2, 1])
        lst.reverse()
        self.assertEqual(lst.copy(), [1, 2, 3])
        self.assertEqual(lst + [4], [1, 2, 3, 4])
        self.assertEqual([0] + lst, [0, 1, 2, 3])
        self.assertEqual(lst * 2, [1, 2, 3, 1, 2, 3])
        self.assertEqual(2 * lst, [1, 2, 3, 1, 2, 3])
        same = lst
        lst += [4]
        self.assertIs(lst, same)
        lst *= 2
        self.assertEqual(lst.copy(), [1, 2, 3, 4, 1, 2, 3, 4])
        with self.assertRaises(ValueError):
            lst.remove("absent")

    def test_array_keeps_its_length(self):
        m = ipc_toolkit.Manager()
        arr = m.Array("i", [1, 2, 3])
        arr[0:2] = [7, 8]
        self.assertEqual(list(arr), [7, 8, 3])
        with self.assertRaises(ValueError):
            arr[0:2] = [1]
        with self.assertRaises(TypeError):
            arr.append(4)
        with self.assertRaises(TypeError):
            arr += [4]
        self.assertEqual(list(arr), [7, 8, 3])

    def test_values_of_many_kinds(self):
        m = ipc_toolkit.Manager()
        items = [b"b", "s", 1, 2**100, 1.5, None, True, (1, 2), {"a": [1]}, Point(1, 2)]
        lst = m.list(items)
        self.assertEqual(list(lst), items)

    def test_cross_process(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                lst = m.list(["orig"])
                p = self.start(method, _list_ops, lst)
                self.join_ok(p)
                self.assertEqual(list(lst), ["changed by child", "child", 10, 11])

    def test_concurrent_append(self):
        m = ipc_toolkit.Manager()
        lst = m.list()
        n = 40
        ps = [self.start("fork", _list_append, lst, w, n) for w in range(WORKERS)]
        for p in ps:
            self.join_ok(p, 60)
        items = list(lst)
        self.assertEqual(len(items), WORKERS * n)
        self.assertEqual(sorted(items), [(w, i) for w in range(WORKERS) for i in range(n)])


class ValueTest(ProcessTestCase):
    def test_get_set(self):
        m = ipc_toolkit.Manager()
        v = m.Value("i", 5)
        self.assertEqual(v.value, 5)
        v.value = 7
        self.assertEqual(v.value, 7)
        v.value += 1
        self.assertEqual(v.get(), 8)
        v.set(9)
        self.assertEqual(v.value, 9)
        f = m.Value("d", 1.5)
        self.assertEqual(f.value, 1.5)
        f.value = 2.25
        self.assertEqual(f.value, 2.25)
        s = m.Value("u", "text")
        self.assertEqual(s.value, "text")
        w = m.Value("i", 0)
        self.assertEqual(w.value, 0)
        self.assertEqual(v.value, 9, "two Values of one manager share storage")

    def test_increment(self):
        m = ipc_toolkit.Manager()
        v = m.Value("i", 10)
        self.assertEqual(v.increment(), 11)
        self.assertEqual(v.increment(5), 16)
        self.assertEqual(v.value, 16)

    def test_set_across_processes(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                v = m.Value("i", 0)
                p = self.start(method, _value_set, v, 1234)
                self.join_ok(p)
                self.assertEqual(v.value, 1234)

    def test_increment_across_processes(self):
        m = ipc_toolkit.Manager()
        v = m.Value("i", 0)
        ps = [self.start("fork", _value_ops, v, 500) for _ in range(WORKERS)]
        for p in ps:
            self.join_ok(p, 60)
        self.assertEqual(v.value, WORKERS * 500)


# ----- synchronisation -------------------------------------------------------


class LockTest(ProcessTestCase):
    def test_local(self):
        m = ipc_toolkit.Manager()
        lock = m.Lock()
        self.assertTrue(lock.acquire())
        try:
            # threading.Lock (and multiprocessing's manager Lock): a held
            # lock's non-blocking or timed acquire returns False, also in
            # the thread holding it.
            self.assertFalse(lock.acquire(False))
            with Timer() as t:
                self.assertFalse(lock.acquire(timeout=0.2))
            self.assertGreaterEqual(t.elapsed, 0.199)
        finally:
            lock.release()
        with lock:
            pass
        self.assertTrue(lock.acquire(False))
        lock.release()
        with self.assertRaises((RuntimeError, ValueError)):
            lock.release()

    def test_threading_keywords(self):
        # A multiprocessing manager's Lock is a threading.Lock proxy:
        # acquire(blocking=..., timeout=-1) must work as there.
        m = ipc_toolkit.Manager()
        for lock in (m.Lock(), m.RLock()):
            self.assertTrue(lock.acquire(blocking=True, timeout=-1))
            lock.release()
            self.assertTrue(lock.acquire(blocking=False))
            lock.release()

    def test_local_other_thread(self):
        m = ipc_toolkit.Manager()
        lock = m.Lock()
        results = []
        with lock:
            t = threading.Thread(
                target=lambda: results.extend([lock.acquire(False), lock.acquire(timeout=0.2)])
            )
            t.start()
            t.join(10)
        self.assertEqual(results, [False, False])
        self.assertTrue(lock.acquire(timeout=5))
        lock.release()

    def test_fork_while_holding(self):
        # A child forked while the parent holds the lock waits for it, as
        # with multiprocessing's Lock, then gets it once the parent releases.
        m = ipc_toolkit.Manager()
        lock, d = m.Lock(), m.dict()
        self.assertTrue(lock.acquire())
        try:
            p = self.start("fork", _acquire_and_record, lock, d)
            time.sleep(0.3)
            self.assertNotIn("got", d, "the child took a lock the parent holds")
            self.assertTrue(p.is_alive(), f"the child exited ({p.exitcode}) instead of waiting")
        finally:
            lock.release()
        self.join_ok(p)
        self.assertIs(d["got"], True)

    def test_dropping_a_held_lock_does_not_crash(self):
        # A Lock proxy (and its Manager) dropped while the lock is held must
        # not leave the process with a dangling robust-mutex entry: the next
        # shared lock taken by this thread (any manager's) must not crash.
        # Run in a fresh interpreter, since failing means a segfault.
        code = textwrap.dedent(
            """
            import mmap, ipc_toolkit
            m = ipc_toolkit.Manager()
            lock = m.Lock()
            lock.acquire()
            del lock, m
            junk = []
            for i in range(20):
                junk.append(mmap.mmap(-1, 1 << 20))
                m2 = ipc_toolkit.Manager()
                d = m2.dict()
                d["k"] = i
                assert d.copy() == {"k": i}
                l2 = m2.Lock()
                with l2:
                    pass
            print("ok")
            """
        )
        child = subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out, err = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate()
        finally:
            # A crashed interpreter leaves its managers' names behind.
            for path in glob.glob(f"/dev/shm/ipct-*-{child.pid}-*"):
                try:
                    os.unlink(path)
                except OSError:
                    pass
        self.assertEqual((child.returncode, out.strip()), (0, "ok"), f"stderr: {err[-2000:]}")

    def test_mutual_exclusion_across_processes(self):
        m = ipc_toolkit.Manager()
        lock = m.Lock()
        d = m.dict()
        d["counter"] = 0
        n = 300
        ps = [self.start("fork", _locked_increments, lock, d, n) for _ in range(WORKERS)]
        for p in ps:
            self.join_ok(p, 60)
        self.assertEqual(d.get("overlaps", 0), 0, "two processes inside the lock at once")
        self.assertEqual(d["counter"], WORKERS * n)

    def test_mutual_exclusion_spawn(self):
        m = ipc_toolkit.Manager()
        lock = m.Lock()
        d = m.dict()
        d["counter"] = 0
        ps = [self.start("spawn", _locked_increments, lock, d, 100) for _ in range(2)]
        for p in ps:
            self.join_ok(p, 60)
        self.assertEqual(d.get("overlaps", 0), 0)
        self.assertEqual(d["counter"], 200)

    def test_acquire_timeout_while_another_process_holds(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                lock, held, release = m.Lock(), m.Event(), m.Event()
                p = self.start(method, _hold_lock, lock, held, release)
                self.assertTrue(held.wait(20), "child never took the lock")
                with Timer() as t:
                    self.assertFalse(lock.acquire(timeout=0.5))
                self.assertGreaterEqual(t.elapsed, 0.499)
                self.assertLess(t.elapsed, 0.5 + SLACK)
                self.assertFalse(lock.acquire(block=False))
                release.set()
                self.assertTrue(lock.acquire(timeout=10))
                lock.release()
                self.join_ok(p)


class EventTest(ProcessTestCase):
    def test_local(self):
        m = ipc_toolkit.Manager()
        ev = m.Event()
        self.assertFalse(ev.is_set())
        with Timer() as t:
            self.assertFalse(ev.wait(0.3))
        self.assertGreaterEqual(t.elapsed, 0.299)
        self.assertLess(t.elapsed, 0.3 + SLACK)
        ev.set()
        self.assertTrue(ev.is_set())
        self.assertTrue(ev.wait(0))
        self.assertTrue(ev.wait())
        ev.clear()
        self.assertFalse(ev.is_set())
        self.assertFalse(ev.wait(0.01))

    def test_across_processes(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                ev, d = m.Event(), m.dict()
                p = self.start(method, _wait_event_then_report, ev, d, 20)
                time.sleep(0.3)
                self.assertNotIn("child_got_event", d, "the child's wait did not wait")
                ev.set()
                self.join_ok(p)
                self.assertIs(d["child_got_event"], True)
                self.assertIs(d["child_saw_is_set"], True)

    def test_child_sets_parent_waits(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                ev = m.Event()
                p = self.start(method, _set_event_after, ev, 0.3)
                with Timer() as t:
                    self.assertTrue(ev.wait(20))
                self.assertGreaterEqual(t.elapsed, 0.2)
                self.join_ok(p)

    def test_wait_timeout_in_child(self):
        m = ipc_toolkit.Manager()
        ev, d = m.Event(), m.dict()
        p = self.start("fork", _wait_event_then_report, ev, d, 0.3)
        self.join_ok(p)
        self.assertIs(d["child_got_event"], False)


class SemaphoreTest(ProcessTestCase):
    def test_local(self):
        m = ipc_toolkit.Manager()
        sem = m.Semaphore(2)
        self.assertTrue(sem.acquire())
        self.assertTrue(sem.acquire())
        self.assertFalse(sem.acquire(False))
        with Timer() as t:
            self.assertFalse(sem.acquire(timeout=0.2))
        self.assertGreaterEqual(t.elapsed, 0.199)
        sem.release()
        self.assertTrue(sem.acquire(timeout=1))
        sem.release()
        sem.release()
        self.assertEqual(sem.get_value(), 2)
        with sem:
            self.assertEqual(sem.get_value(), 1)
        self.assertEqual(sem.get_value(), 2)

    def test_default_value_is_one(self):
        m = ipc_toolkit.Manager()
        sem = m.Semaphore()
        self.assertTrue(sem.acquire(False))
        self.assertFalse(sem.acquire(False))
        sem.release()

    def test_bounds_concurrency_across_processes(self):
        m = ipc_toolkit.Manager()
        sem, d = m.Semaphore(2), m.dict()
        ps = [self.start("fork", _semaphore_worker, sem, d, 5) for _ in range(WORKERS)]
        for p in ps:
            self.join_ok(p, 60)
        self.assertEqual(d["inside"], 0)
        self.assertLessEqual(d["max_inside"], 2)
        self.assertGreaterEqual(d["max_inside"], 1)
        self.assertEqual(sem.get_value(), 2)


    def test_release_n_and_blocking_keyword(self):
        m = ipc_toolkit.Manager()
        sem = m.Semaphore(0)
        sem.release(3)
        self.assertEqual(sem.get_value(), 3)
        self.assertTrue(sem.acquire(blocking=False))
        self.assertTrue(sem.acquire(blocking=True, timeout=-1))
        self.assertTrue(sem.acquire(blocking=True, timeout=1))
        self.assertFalse(sem.acquire(blocking=False))
        with self.assertRaises(ValueError):
            sem.release(0)

    def test_bounded_semaphore_refuses_extra_releases(self):
        m = ipc_toolkit.Manager()
        sem = m.BoundedSemaphore(2)
        with self.assertRaises(ValueError):
            sem.release()
        self.assertEqual(sem.get_value(), 2)
        sem.acquire()
        sem.acquire()
        with self.assertRaises(ValueError):
            sem.release(3)
        self.assertEqual(sem.get_value(), 0)
        sem.release(2)
        self.assertEqual(sem.get_value(), 2)
        # Across processes (the bound travels with it): one acquire, two
        # releases racing in two children: exactly one is refused.
        for method in START_METHODS:
            with self.subTest(method=method):
                sem.acquire()
                results = ipc_toolkit.Queue()
                ps = [self.start(method, _release_bounded, sem, results) for _ in range(2)]
                outcomes = sorted(results.get(timeout=20) for _ in ps)
                for p in ps:
                    self.join_ok(p)
                self.assertEqual(outcomes, ["refused", "released"])
                self.assertEqual(sem.get_value(), 2)


class ConditionTest(ProcessTestCase):
    def test_local(self):
        m = ipc_toolkit.Manager()
        cond = m.Condition()
        with self.assertRaises(RuntimeError):
            cond.wait(0.1)
        with self.assertRaises(RuntimeError):
            cond.notify()
        with cond:
            with Timer() as t:
                self.assertFalse(cond.wait(0.2))
            self.assertGreaterEqual(t.elapsed, 0.19)
            cond.notify()  # nobody waits: nothing happens
            # The default lock is re-entrant: wait releases every level.
            with cond:
                self.assertFalse(cond.wait(0.05))
        self.assertTrue(cond.acquire(False))
        cond.release()

    def test_wait_for_timeout(self):
        m = ipc_toolkit.Manager()
        cond = m.Condition(m.Lock())
        with cond:
            with Timer() as t:
                self.assertFalse(cond.wait_for(lambda: False, timeout=0.3))
            self.assertGreaterEqual(t.elapsed, 0.29)
            self.assertEqual(cond.wait_for(lambda: 7), 7)

    def test_producer_consumer_across_processes(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                cond, d = m.Condition(), m.dict()
                results = ipc_toolkit.Queue()
                n = 20
                ps = [
                    self.start(method, _condition_consumer, cond, d, n, results)
                    for _ in range(2)
                ]
                for _ in range(2 * n):
                    with cond:
                        d.increment("items")
                        cond.notify()
                    time.sleep(0.002)
                self.assertEqual(sorted(results.get(timeout=30) for _ in ps), [n, n])
                for p in ps:
                    self.join_ok(p)
                self.assertEqual(d["items"], 0)

    def test_notify_all_wakes_every_waiter(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                cond, d = m.Condition(), m.dict()
                results = ipc_toolkit.Queue()
                ps = [self.start(method, _condition_waiter, cond, d, results) for _ in range(3)]
                deadline = time.monotonic() + 20
                while d.get("waiting", 0) < 3 and time.monotonic() < deadline:
                    time.sleep(0.01)
                with cond:  # every waiter is inside wait() once we hold it
                    cond.notify_all()
                self.assertEqual([results.get(timeout=20) for _ in ps], [True] * 3)
                for p in ps:
                    self.join_ok(p)

    def test_notify_one_wakes_one(self):
        m = ipc_toolkit.Manager()
        cond, d = m.Condition(), m.dict()
        results = ipc_toolkit.Queue()
        ps = [self.start("fork", _condition_waiter, cond, d, results) for _ in range(2)]
        deadline = time.monotonic() + 20
        while d.get("waiting", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        with cond:
            cond.notify()
        self.assertTrue(results.get(timeout=20))
        with self.assertRaises(queue.Empty):
            results.get(timeout=0.5)
        with cond:
            cond.notify()
        self.assertTrue(results.get(timeout=20))
        for p in ps:
            self.join_ok(p)


class BarrierTest(ProcessTestCase):
    def _run_barrier(self, method):
        m = ipc_toolkit.Manager()
        barrier, d = m.Barrier(3), m.dict()
        self.assertEqual(barrier.parties, 3)
        ps = [self.start(method, _barrier_worker, barrier, d, w) for w in range(3)]
        for p in ps:
            self.join_ok(p, 60)
        results = [d[("result", w)] for w in range(3)]
        for before, index, after in results:
            self.assertEqual(after, 3, "a party passed the barrier before all arrived")
        return [index for _, index, _ in results]

    def test_three_processes(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                indices = self._run_barrier(method)
                self.assertEqual(indices.count(0), 1, f"indices {indices}")
                for i in indices:
                    self.assertIn(i, range(3))

    def test_indices_are_distinct(self):
        # threading.Barrier.wait (and so multiprocessing's manager Barrier):
        # "an integer in the range 0 to parties - 1, different for each thread".
        indices = self._run_barrier("fork")
        self.assertEqual(sorted(indices), [0, 1, 2])

    def test_timeout_breaks(self):
        m = ipc_toolkit.Manager()
        barrier = m.Barrier(3)
        with Timer() as t, self.assertRaises(threading.BrokenBarrierError):
            barrier.wait(0.3)
        self.assertGreaterEqual(t.elapsed, 0.299)
        self.assertLess(t.elapsed, 0.3 + SLACK)
        self.assertTrue(barrier.broken)
        barrier.reset()
        self.assertFalse(barrier.broken)

    def test_n_waiting(self):
        m = ipc_toolkit.Manager()
        barrier = m.Barrier(2)
        self.assertEqual(barrier.n_waiting, 0)
        results = ipc_toolkit.Queue()
        p = self.start("fork", _barrier_wait_report, barrier, results)
        self.assertEqual(results.get(timeout=20), "waiting")
        deadline = time.monotonic() + 20
        while barrier.n_waiting < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(barrier.n_waiting, 1)
        barrier.wait(20)
        self.assertEqual(results.get(timeout=20), ("passed", 0))
        self.assertEqual(barrier.n_waiting, 0)
        self.join_ok(p)

    def test_ctrl_c_interrupts_a_wait_and_breaks_the_round(self):
        # A wait with no timeout ends on SIGINT (KeyboardInterrupt), as a
        # queue's get does; the round breaks, so nobody waits for the
        # interrupted party.
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                barrier = m.Barrier(3)
                results = ipc_toolkit.Queue()
                p = self.start(method, _barrier_wait_report, barrier, results)
                self.assertEqual(results.get(timeout=20), "waiting")
                deadline = time.monotonic() + 20
                while barrier.n_waiting < 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(0.1)
                os.kill(p.pid, signal.SIGINT)
                self.assertEqual(results.get(timeout=10), "interrupted")
                self.join_ok(p)
                self.assertTrue(barrier.broken)
                with self.assertRaises(threading.BrokenBarrierError):
                    barrier.wait(5)

    def test_action_runs_once_per_round_before_anyone_leaves(self):
        import functools

        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                d = m.dict()
                d["actions"] = 0
                barrier = m.Barrier(3, action=functools.partial(_bump_actions, d))
                ps = [
                    self.start(method, _barrier_rounds_with_action, barrier, d, w, 4)
                    for w in range(3)
                ]
                for p in ps:
                    self.join_ok(p, 60)
                for w in range(3):
                    self.assertEqual(d[("seen", w)], [1, 2, 3, 4], f"worker {w}")
                self.assertEqual(d["actions"], 4)
                callers = {d[("action_by", n)] for n in range(1, 5)}
                self.assertTrue(callers <= {p.pid for p in ps}, "run by a party")

    def test_a_failing_action_breaks_the_barrier(self):
        for method in ("fork", "spawn"):
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                barrier = m.Barrier(2, action=_failing_action)
                results = ipc_toolkit.Queue()
                p = self.start(method, _barrier_wait_outcome, barrier, results)
                _barrier_wait_outcome(barrier, results)
                got = sorted(map(repr, [results.get(timeout=20), results.get(timeout=20)]))
                self.assertEqual(
                    got, sorted(map(repr, ["broken", ("raised", "action failed on purpose")]))
                )
                self.assertTrue(barrier.broken)
                self.join_ok(p)

    def test_the_default_timeout_goes_with_the_barrier(self):
        # Barrier(timeout=) is the default of every wait, in every process.
        m = ipc_toolkit.Manager()
        barrier = m.Barrier(2, timeout=0.3)
        results = ipc_toolkit.Queue()
        p = self.start("spawn", _barrier_wait_outcome, barrier, results)
        self.assertEqual(results.get(timeout=20), "broken")
        self.join_ok(p)

    def test_abort(self):
        m = ipc_toolkit.Manager()
        barrier = m.Barrier(2)
        barrier.abort()
        self.assertTrue(barrier.broken)
        with self.assertRaises(threading.BrokenBarrierError):
            barrier.wait(1)


class ManagerQueueTest(ProcessTestCase):
    def test_local(self):
        with ipc_toolkit.Manager() as m:
            q = m.Queue()
            q.put({"a": 1})
            self.assertEqual(q.get(timeout=5), {"a": 1})
            with self.assertRaises(queue.Empty):
                q.get(timeout=0.05)
            bounded = m.Queue(2)
            bounded.put(1)
            bounded.put(2)
            self.assertTrue(bounded.full())
            with self.assertRaises(queue.Full):
                bounded.put(3, timeout=0.05)
            jq = m.JoinableQueue()
            jq.put(1)
            jq.get(timeout=5)
            jq.task_done()

    def test_across_processes(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                q, results = m.Queue(), m.Queue()
                p = self.start(method, _queue_child, q, results)
                q.put(("payload", 1))
                self.assertEqual(results.get(timeout=20), ("got", ("payload", 1)))
                self.join_ok(p)


class ManagerLifecycleTest(ProcessTestCase):
    def test_context_manager_and_start(self):
        with ipc_toolkit.Manager() as m:
            d = m.dict()
            d["x"] = 1
        # Proxies made in the block keep working after it (there is no
        # server to shut down).
        self.assertEqual(d["x"], 1)
        m2 = ipc_toolkit.Manager()
        m2.start()
        d2 = m2.dict()
        d2["y"] = 2
        m2.shutdown()
        self.assertEqual(d2["y"], 2)

    def test_managers_are_independent(self):
        m1, m2 = ipc_toolkit.Manager(), ipc_toolkit.Manager()
        v1, v2 = m1.Value("i", 1), m2.Value("i", 2)
        l1, l2 = m1.list([1]), m2.list([2])
        self.assertEqual((v1.value, v2.value), (1, 2))
        self.assertEqual((list(l1), list(l2)), ([1], [2]))

    def test_every_proxy_in_one_child(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                d, lst, v, lock, ev = m.dict(), m.list(), m.Value("i", 0), m.Lock(), m.Event()
                p = self.start(method, _touch_everything, d, lst, v, lock, ev)
                self.assertTrue(ev.wait(20))
                self.join_ok(p)
                self.assertEqual(d.copy(), {"k": "child", "locked": True})
                self.assertEqual(list(lst), ["child"])
                self.assertEqual(v.value, 42)
                self.assertTrue(lock.acquire(timeout=5))
                lock.release()


if __name__ == "__main__":
    unittest.main()
