"""ipc_toolkit.Queue, JoinableQueue and SimpleQueue against multiprocessing's
semantics: objects of every kind, FIFO order, blocking and timeouts, sizes,
raw frames, many producers and consumers across real processes (fork and
spawn), EOFError once the producers are gone, and the hand-off of a queue
pickled for a child that has yet to start.

    cd ipc-python/tests/py && PYTHONPATH=<dir with ipc_toolkit> python3 -m unittest -v test_queue
"""

import array
import multiprocessing
import hashlib
import queue
import threading
import time
import unittest

import ipc_toolkit

from _support import (
    SLACK,
    START_METHODS,
    ProcessTestCase,
    Timer,
    numpy,
    numpy_test,
    require_numpy,
    same_object,
    sample_objects,
    short,
)

MiB = 1 << 20


# ----- workers (module level: spawn children import them) ----------------


def _put_all(q, items):
    for item in items:
        q.put(item)


def _producer(q, producer_id, count):
    for i in range(count):
        q.put((producer_id, i))


def _consumer(q, results):
    """Gets until EOFError (every producer gone) and reports what it got."""
    got = []
    while True:
        try:
            item = q.get(timeout=20)
        except EOFError:
            break
        got.append(item)
    results.put(got)


def _get_n(q, n, results):
    results.put([q.get(timeout=20) for _ in range(n)])


def _sleep_then_put(q, delay, item):
    time.sleep(delay)
    q.put(item)


def _put_range(q, n, cancel_join=False, said=None):
    if cancel_join:
        q.cancel_join_thread()
    for i in range(n):
        q.put(i)
    if said is not None:
        said.put("put them all")


def _slept(seconds):
    time.sleep(seconds)
    return seconds


class _SlowToUnpickle:
    """An argument whose unpickling takes `seconds`: a spawn child given it
    before a queue opens the queue that much later."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __reduce__(self):
        return (_slept, (self.seconds,))


def _put_after_args(_slow, q, item):
    q.put(item)


def _big_payload(i):
    """A 1 MiB bytes message whose content depends on `i`."""
    block = hashlib.sha256(i.to_bytes(4, "little")).digest()
    return block * (MiB // len(block))


def _put_big(q, count):
    for i in range(count):
        q.put(_big_payload(i))


def _get_task_done(q, count, delay):
    for _ in range(count):
        q.get(timeout=20)
        time.sleep(delay)
        q.task_done()


def _simple_child(sq):
    item = sq.get()
    sq.put(("echo", item))


# ----- single-process semantics ------------------------------------------


class ObjectsTest(unittest.TestCase):
    def test_every_kind_round_trips(self):
        q = ipc_toolkit.Queue()
        objs = sample_objects()
        for obj in objs:
            q.put(obj)
        for obj in objs:
            got = q.get(timeout=5)
            self.assertTrue(
                same_object(obj, got),
                f"sent {short(obj)} ({type(obj).__name__}), got {short(got)} ({type(got).__name__})",
            )
        self.assertTrue(q.empty())

    def test_nan(self):
        q = ipc_toolkit.Queue()
        q.put(float("nan"))
        got = q.get(timeout=5)
        self.assertIsInstance(got, float)
        self.assertNotEqual(got, got)

    def test_memoryview_arrives_as_bytes(self):
        q = ipc_toolkit.Queue()
        q.put(memoryview(b"memory view"))
        q.put(memoryview(bytearray(b"0123456789"))[2:6])
        self.assertEqual(q.get(timeout=5), b"memory view")
        got = q.get(timeout=5)
        self.assertIs(type(got), bytes)
        self.assertEqual(got, b"2345")

    def test_str_with_lone_surrogate(self):
        # pickle (and so multiprocessing) carries any str, including lone
        # surrogates (e.g. os.fsdecode of undecodable file names).
        q = ipc_toolkit.Queue()
        s = "file-\udcff-\ud800"
        q.put(s)
        self.assertEqual(q.get(timeout=5), s)

    def test_unpicklable_raises_and_queue_still_works(self):
        q = ipc_toolkit.Queue()
        with self.assertRaises(Exception):
            q.put(lambda: 0)
        with self.assertRaises(Exception):
            q.put(threading.Lock())
        q.put("after")
        self.assertEqual(q.get(timeout=5), "after")
        with self.assertRaises(queue.Empty):
            q.get_nowait()

    @numpy_test
    def test_numpy(self):
        require_numpy(self)
        q = ipc_toolkit.Queue()
        a = numpy.arange(1000, dtype=numpy.float64).reshape(10, 100)
        q.put(a)
        got = q.get(timeout=5)
        self.assertEqual(got.dtype, a.dtype)
        self.assertEqual(got.shape, a.shape)
        self.assertTrue((got == a).all())
        b = numpy.arange(64, dtype=numpy.uint8)
        q.put_bytes(b)
        self.assertEqual(q.get_bytes(timeout=5), b.tobytes())
        q.put_bytes(b[::-1].copy())
        out = numpy.zeros(100, dtype=numpy.uint8)
        n = q.get_into(out, timeout=5)
        self.assertEqual(n, 64)
        self.assertTrue((out[:64] == b[::-1]).all())


class FifoAndSizeTest(unittest.TestCase):
    def test_fifo(self):
        q = ipc_toolkit.Queue()
        for i in range(2000):
            q.put(i)
        self.assertEqual([q.get(timeout=5) for _ in range(2000)], list(range(2000)))

    def test_fifo_interleaved(self):
        q = ipc_toolkit.Queue(maxsize=400)
        out = []
        for i in range(500):
            q.put(("m", i), timeout=5)
            if i % 3 == 2:
                out.append(q.get(timeout=5))
        while not q.empty():
            out.append(q.get(timeout=5))
        self.assertEqual(out, [("m", i) for i in range(500)])

    def test_qsize_empty_full(self):
        q = ipc_toolkit.Queue(maxsize=3)
        self.assertEqual(q.qsize(), 0)
        self.assertTrue(q.empty())
        self.assertFalse(q.full())
        q.put(1)
        self.assertEqual(q.qsize(), 1)
        self.assertFalse(q.empty())
        self.assertFalse(q.full())
        q.put(2)
        q.put(3)
        self.assertEqual(q.qsize(), 3)
        self.assertTrue(q.full())
        q.get(timeout=5)
        self.assertEqual(q.qsize(), 2)
        self.assertFalse(q.full())

    def test_maxsize_bounds(self):
        q = ipc_toolkit.Queue(maxsize=5)
        for i in range(5):
            q.put_nowait(i)
        with self.assertRaises(queue.Full):
            q.put_nowait(5)
        with self.assertRaises(queue.Full):
            q.put(5, block=False)
        self.assertEqual(q.qsize(), 5)
        self.assertEqual(q.get_nowait(), 0)
        q.put_nowait(5)
        self.assertEqual([q.get_nowait() for _ in range(5)], [1, 2, 3, 4, 5])

    def test_unbounded_holds_many(self):
        # maxsize=0 is unbounded, as in multiprocessing: past the ring's
        # 8192 slots a put still returns at once (the rest waits in this
        # process's buffer), and the order holds.
        q = ipc_toolkit.Queue()
        n = 3 * 8192 + 5
        with Timer() as t:
            for i in range(n):
                q.put_nowait(i)
        self.assertLess(t.elapsed, 10.0)
        self.assertEqual(q.qsize(), n)
        self.assertFalse(q.full())
        self.assertEqual([q.get(timeout=5) for _ in range(n)], list(range(n)))
        with self.assertRaises(queue.Empty):
            q.get(timeout=0.1)
        self.assertEqual(q.qsize(), 0)

    def test_unbounded_bytes_and_raw_frames_keep_order(self):
        # Messages by bytes (few slots of a small ring), raw frames and
        # pickled objects share the buffer in order.
        q = ipc_toolkit.Queue(ring_bytes=64 << 10)
        items = []
        for i in range(300):
            items.append(bytes([i % 256]) * 1000)
            items.append(("obj", i))
        for item in items:
            q.put(item)
        q.put_bytes(b"raw frame")
        self.assertEqual([q.get(timeout=5) for _ in items], items)
        self.assertEqual(q.get_bytes(timeout=5), b"raw frame")

    def test_bounded_put_waits_and_raises_full(self):
        q = ipc_toolkit.Queue(maxsize=8192)
        for i in range(8192):
            q.put_nowait(i)
        with self.assertRaises(queue.Full):
            q.put_nowait(0)
        with Timer() as t, self.assertRaises(queue.Full):
            q.put(0, timeout=0.2)
        self.assertGreaterEqual(t.elapsed, 0.2)

    def test_nowait(self):
        q = ipc_toolkit.Queue()
        with self.assertRaises(queue.Empty):
            q.get_nowait()
        q.put_nowait("a")
        self.assertEqual(q.get_nowait(), "a")
        with self.assertRaises(queue.Empty):
            q.get(block=False)

    def test_close_then_put_raises_value_error(self):
        q = ipc_toolkit.Queue()
        q.put(1)
        q.close()
        with self.assertRaises(ValueError):
            q.put(2)
        with self.assertRaises(ValueError):
            q.put_nowait(2)
        q.join_thread()  # no-ops, as after multiprocessing's close
        q.cancel_join_thread()

    def test_close_one_handle_leaves_others(self):
        q = ipc_toolkit.Queue()
        other = ipc_toolkit.Queue(name=q.name, open=True)
        other.close()
        q.put("still")
        self.assertEqual(q.get(timeout=5), "still")


class TimeoutTest(unittest.TestCase):
    def assertTimely(self, elapsed, timeout):
        self.assertGreaterEqual(elapsed, timeout - 0.001)
        self.assertLess(elapsed, timeout + SLACK)

    def test_get_timeout_raises_empty(self):
        q = ipc_toolkit.Queue()
        for timeout in (0.05, 0.3, 0.7):
            with Timer() as t, self.assertRaises(queue.Empty):
                q.get(timeout=timeout)
            self.assertTimely(t.elapsed, timeout)

    def test_get_zero_and_negative_timeout(self):
        q = ipc_toolkit.Queue()
        for timeout in (0, 0.0, -1):
            with Timer() as t, self.assertRaises(queue.Empty):
                q.get(timeout=timeout)
            self.assertLess(t.elapsed, SLACK)

    def test_get_nonblocking_ignores_timeout(self):
        q = ipc_toolkit.Queue()
        with Timer() as t, self.assertRaises(queue.Empty):
            q.get(False, 5)
        self.assertLess(t.elapsed, 1.0)

    def test_put_timeout_raises_full(self):
        q = ipc_toolkit.Queue(maxsize=2)
        q.put(1)
        q.put(2)
        for timeout in (0.05, 0.4):
            with Timer() as t, self.assertRaises(queue.Full):
                q.put(3, timeout=timeout)
            self.assertTimely(t.elapsed, timeout)
        with Timer() as t, self.assertRaises(queue.Full):
            q.put(3, False, 5)
        self.assertLess(t.elapsed, 1.0)
        self.assertEqual([q.get_nowait(), q.get_nowait()], [1, 2])

    def test_put_bytes_timeout_raises_full(self):
        q = ipc_toolkit.Queue(maxsize=1)
        q.put_bytes(b"a")
        with Timer() as t, self.assertRaises(queue.Full):
            q.put_bytes(b"b", timeout=0.3)
        self.assertTimely(t.elapsed, 0.3)
        with Timer() as t, self.assertRaises(queue.Empty):
            ipc_toolkit.Queue().get_bytes(timeout=0.3)
        self.assertTimely(t.elapsed, 0.3)

    def test_full_by_bytes_times_out(self):
        # The byte ring, not only the slot count, bounds what is in flight.
        q = ipc_toolkit.Queue(maxsize=100, ring_bytes=64 * 1024)
        q.put(b"x" * 40_000)
        with Timer() as t, self.assertRaises(queue.Full):
            q.put(b"y" * 40_000, timeout=0.3)
        self.assertTimely(t.elapsed, 0.3)
        self.assertEqual(q.get(timeout=5), b"x" * 40_000)
        q.put(b"y" * 40_000, timeout=5)
        self.assertEqual(q.get(timeout=5), b"y" * 40_000)

    def test_blocking_get_wakes_for_put(self):
        q = ipc_toolkit.Queue()
        timer = threading.Timer(0.3, q.put, args=("late",))
        timer.start()
        try:
            with Timer() as t:
                got = q.get(timeout=10)
            self.assertEqual(got, "late")
            self.assertGreaterEqual(t.elapsed, 0.25)
            self.assertLess(t.elapsed, 0.3 + SLACK)
        finally:
            timer.cancel()
            timer.join()

    def test_blocking_get_no_timeout_wakes_for_put(self):
        q = ipc_toolkit.Queue()
        timer = threading.Timer(0.2, q.put, args=(42,))
        timer.start()
        try:
            self.assertEqual(q.get(), 42)
        finally:
            timer.cancel()
            timer.join()

    def test_blocking_put_wakes_for_get(self):
        q = ipc_toolkit.Queue(maxsize=1)
        q.put("first")
        timer = threading.Timer(0.3, q.get)
        timer.start()
        try:
            with Timer() as t:
                q.put("second", timeout=10)
            self.assertGreaterEqual(t.elapsed, 0.25)
            self.assertLess(t.elapsed, 0.3 + SLACK)
        finally:
            timer.join()
        self.assertEqual(q.get(timeout=5), "second")


class JoinableQueueTest(ProcessTestCase):
    def _join_in_thread(self, q):
        done = threading.Event()

        def run():
            q.join()
            done.set()

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t, done

    def test_join_without_puts_returns(self):
        q = ipc_toolkit.JoinableQueue()
        t, done = self._join_in_thread(q)
        self.assertTrue(done.wait(5))
        t.join(5)

    def test_join_waits_for_every_task_done(self):
        q = ipc_toolkit.JoinableQueue()
        for i in range(3):
            q.put(i)
        t, done = self._join_in_thread(q)
        for i in range(3):
            self.assertEqual(q.get(timeout=5), i)
        q.task_done()
        q.task_done()
        self.assertFalse(done.wait(0.3), "join() returned with a task not done")
        q.task_done()
        self.assertTrue(done.wait(5), "join() did not return after the last task_done()")
        t.join(5)

    def test_task_done_too_many_times(self):
        q = ipc_toolkit.JoinableQueue()
        with self.assertRaises(ValueError):
            q.task_done()
        q.put("x")
        q.get(timeout=5)
        q.task_done()
        with self.assertRaises(ValueError):
            q.task_done()
        # Still consistent afterwards.
        q.put("y")
        t, done = self._join_in_thread(q)
        self.assertFalse(done.wait(0.2))
        q.get(timeout=5)
        q.task_done()
        self.assertTrue(done.wait(5))
        t.join(5)

    def test_join_across_processes(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.JoinableQueue()
                for i in range(5):
                    q.put(i)
                p = self.start(method, _get_task_done, q, 5, 0.05)
                t, done = self._join_in_thread(q)
                self.assertTrue(done.wait(20), "join() did not return")
                self.join_ok(p)
                t.join(5)

    def test_join_waits_for_the_buffered_puts(self):
        # A ring with room for one such message: the second waits in this
        # process's buffer. Once the first is done, join must still wait
        # for the second (it has not reached the queue's count yet).
        big = b"x" * 40_000
        q = ipc_toolkit.JoinableQueue(ring_bytes=64 << 10)
        q.put(big)
        q.put(big)
        self.assertEqual(q.get(timeout=5), big)
        q.task_done()
        with self.assertRaises(TimeoutError):
            q.join(timeout=0.5)
        self.assertEqual(q.get(timeout=5), big)
        q.task_done()
        q.join(timeout=5)

    def test_join_across_processes_past_the_ring(self):
        n = 2 * 8192 + 100
        q = ipc_toolkit.JoinableQueue()
        for i in range(n):
            q.put(i)
        p = self.start("fork", _get_task_done, q, n, 0)
        t, done = self._join_in_thread(q)
        self.assertTrue(done.wait(30), "join() did not return")
        self.assertEqual(q.qsize(), 0)
        self.join_ok(p)
        t.join(5)

    def test_joinable_is_a_queue(self):
        q = ipc_toolkit.JoinableQueue(maxsize=2)
        self.assertIsInstance(q, ipc_toolkit.Queue)
        q.put(1)
        q.put(2)
        with self.assertRaises(queue.Full):
            q.put_nowait(3)
        self.assertEqual(q.get(timeout=5), 1)


class SimpleQueueTest(ProcessTestCase):
    def test_api(self):
        sq = ipc_toolkit.SimpleQueue()
        self.assertTrue(sq.empty())
        sq.put({"a": 1})
        sq.put(b"raw")
        self.assertFalse(sq.empty())
        self.assertEqual(sq.get(), {"a": 1})
        self.assertEqual(sq.get(), b"raw")
        self.assertTrue(sq.empty())
        sq.close()

    def test_across_processes(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                sq = ipc_toolkit.SimpleQueue()
                p = self.start(method, _simple_child, sq)
                sq.put("ping")
                # The child takes "ping" and puts the echo; wait for it
                # without SimpleQueue.get (it has no timeout).
                deadline = time.monotonic() + 20
                while sq.empty() or p.is_alive():
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.01)
                self.join_ok(p)
                self.assertEqual(sq.get(), ("echo", "ping"))


class RawFramesTest(unittest.TestCase):
    def test_put_bytes_get_bytes(self):
        q = ipc_toolkit.Queue()
        q.put_bytes(b"abc")
        q.put_bytes(bytearray(b"def"))
        q.put_bytes(memoryview(b"0123456789")[3:7])
        q.put_bytes(array.array("H", [1, 2]))
        q.put_bytes(b"")
        self.assertEqual(q.get_bytes(timeout=5), b"abc")
        self.assertEqual(q.get_bytes(timeout=5), b"def")
        self.assertEqual(q.get_bytes(timeout=5), b"3456")
        self.assertEqual(q.get_bytes(timeout=5), array.array("H", [1, 2]).tobytes())
        self.assertEqual(q.get_bytes(timeout=5), b"")
        with self.assertRaises(queue.Empty):
            q.get_bytes(block=False)

    def test_get_into_bytearray(self):
        q = ipc_toolkit.Queue()
        q.put_bytes(b"hello")
        buf = bytearray(b"." * 16)
        n = q.get_into(buf, timeout=5)
        self.assertEqual(n, 5)
        self.assertEqual(bytes(buf[:n]), b"hello")

    def test_get_into_memoryview_over_bytearray(self):
        q = ipc_toolkit.Queue()
        q.put_bytes(b"world")
        backing = bytearray(b"." * 16)
        n = q.get_into(memoryview(backing)[4:], timeout=5)
        self.assertEqual(n, 5)
        self.assertEqual(bytes(backing), b"....world.......")

    def test_get_into_array(self):
        q = ipc_toolkit.Queue()
        payload = array.array("i", [7, -8, 9, 2**30])
        q.put_bytes(payload)
        out = array.array("i", [0] * 8)
        n = q.get_into(out, timeout=5)
        self.assertEqual(n, payload.itemsize * 4)
        self.assertEqual(list(out[:4]), [7, -8, 9, 2**30])
        self.assertEqual(list(out[4:]), [0] * 4)
        q.put_bytes(b"\x01\x02\x03")
        ub = array.array("B", bytes(5))
        self.assertEqual(q.get_into(ub, timeout=5), 3)
        self.assertEqual(ub.tobytes(), b"\x01\x02\x03\x00\x00")

    def test_get_into_too_small_keeps_the_frame(self):
        makers = {
            "bytearray": bytearray,
            "memoryview": lambda n: memoryview(bytearray(n)),
            "array": lambda n: array.array("B", bytes(n)),
        }
        for kind, make in makers.items():
            with self.subTest(buffer=kind):
                q = ipc_toolkit.Queue()
                q.put_bytes(b"0123456789")
                q.put_bytes(b"next")
                with self.assertRaises(ValueError):
                    q.get_into(make(4), timeout=5)
                self.assertEqual(q.get_bytes(timeout=5), b"0123456789")
                self.assertEqual(q.get_bytes(timeout=5), b"next")

    def test_get_into_timeout(self):
        q = ipc_toolkit.Queue()
        with Timer() as t, self.assertRaises(queue.Empty):
            q.get_into(bytearray(8), timeout=0.3)
        self.assertGreaterEqual(t.elapsed, 0.299)
        self.assertLess(t.elapsed, 0.3 + SLACK)
        with self.assertRaises(queue.Empty):
            q.get_into(bytearray(8), block=False)


class LargeMessagesTest(ProcessTestCase):
    def test_too_large_raises_and_loses_nothing(self):
        q = ipc_toolkit.Queue(ring_bytes=64 * 1024)
        q.put("before")
        q.put_bytes(b"raw before")
        with self.assertRaises(ValueError):
            q.put(b"x" * (64 * 1024 + 1))
        with self.assertRaises(ValueError):
            q.put_bytes(b"x" * (64 * 1024 + 1))
        with self.assertRaises(ValueError):
            q.put(list(range(100_000)))  # pickled, far larger than the ring
        with self.assertRaises(ValueError):
            q.put(b"x" * (64 * 1024 + 1), block=False)
        q.put("after")
        self.assertEqual(q.qsize(), 3)
        self.assertEqual(q.get(timeout=5), "before")
        self.assertEqual(q.get_bytes(timeout=5), b"raw before")
        self.assertEqual(q.get(timeout=5), "after")
        with self.assertRaises(queue.Empty):
            q.get_nowait()

    def test_too_large_for_default_ring(self):
        q = ipc_toolkit.Queue()
        q.put(1)
        with self.assertRaises(ValueError):
            q.put(b"\0" * (q.max_message + 1))
        self.assertEqual(q.get(timeout=5), 1)
        self.assertTrue(q.empty())

    def test_largest_frame_fits(self):
        q = ipc_toolkit.Queue(ring_bytes=64 * 1024)
        big = bytes(range(256)) * (q.max_message // 256)
        q.put_bytes(big)
        self.assertEqual(q.get_bytes(timeout=5), big)
        q.put_bytes(b"again")
        self.assertEqual(q.get_bytes(timeout=5), b"again")

    def test_one_mib_round_trip(self):
        q = ipc_toolkit.Queue()
        payloads = [_big_payload(i) for i in range(4)]
        for p in payloads:
            q.put(p)
        for p in payloads:
            self.assertEqual(q.get(timeout=5), p)
        obj = {"blob": _big_payload(9), "more": [_big_payload(10)]}
        q.put(obj)
        self.assertEqual(q.get(timeout=5), obj)

    def test_one_mib_across_processes(self):
        # 24 MiB through an 8 MiB ring: the producer waits for room, the
        # ring wraps around several times.
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue()
                p = self.start(method, _put_big, q, 24)
                for i in range(24):
                    got = q.get(timeout=20)
                    self.assertEqual(len(got), MiB)
                    self.assertTrue(got == _big_payload(i), f"message {i} differs")
                self.join_ok(p)


# ----- across processes ----------------------------------------------------


class ProcessesTest(ProcessTestCase):
    def test_child_puts_parent_gets_every_kind(self):
        objs = sample_objects()
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue()
                p = self.start(method, _put_all, q, objs)
                for obj in objs:
                    got = q.get(timeout=20)
                    self.assertTrue(same_object(obj, got), f"sent {short(obj)}, got {short(got)}")
                self.join_ok(p)

    def test_parent_puts_child_gets(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue()
                results = ipc_toolkit.Queue()
                for i in range(50):
                    q.put(("item", i))
                c = self.start(method, _get_n, q, 50, results)
                self.assertEqual(results.get(timeout=30), [("item", i) for i in range(50)])
                self.join_ok(c)
                self.assertTrue(q.empty())

    def _many_to_many(self, method, producers=3, consumers=2, count=400):
        q = ipc_toolkit.Queue(maxsize=64)
        results = ipc_toolkit.Queue()
        # Producers first: a consumer may hear EOFError once every producer
        # started so far has come and gone.
        prods = [self.start(method, _producer, q, pid, count) for pid in range(producers)]
        cons = [self.start(method, _consumer, q, results) for _ in range(consumers)]
        got = [results.get(timeout=40) for _ in range(consumers)]
        for p in prods + cons:
            self.join_ok(p)
        everything = []
        for consumer_items in got:
            everything.extend(consumer_items)
            # Each consumer sees each producer's messages in order.
            for pid in range(producers):
                seq = [i for (p, i) in consumer_items if p == pid]
                self.assertEqual(seq, sorted(seq), f"producer {pid} out of order")
        self.assertEqual(len(everything), producers * count, "lost or duplicated messages")
        self.assertEqual(
            sorted(everything), [(p, i) for p in range(producers) for i in range(count)]
        )
        self.assertTrue(q.empty())

    def test_many_producers_many_consumers_fork(self):
        self._many_to_many("fork")

    def test_many_producers_many_consumers_spawn(self):
        self._many_to_many("spawn", count=200)

    def test_eof_after_producers_exit(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue()
                ps = [self.start(method, _producer, q, k, 5) for k in range(2)]
                got = sorted(q.get(timeout=20) for _ in range(10))
                self.assertEqual(got, sorted((k, i) for k in range(2) for i in range(5)))
                for p in ps:
                    self.join_ok(p)
                with Timer() as t, self.assertRaises(EOFError) as raised:
                    q.get(timeout=10)
                self.assertLess(t.elapsed, 5.0, "EOFError took too long")
                # Also a queue.Empty, so multiprocessing's loops end.
                self.assertIsInstance(raised.exception, ipc_toolkit.ProducersGone)
                self.assertIsInstance(raised.exception, queue.Empty)
                # And again: EOF is a state, not an event.
                with self.assertRaises(EOFError):
                    q.get(timeout=10)
                with self.assertRaises(queue.Empty):
                    q.get_nowait()

    def test_eof_wakes_blocked_get(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue()
                p = self.start(method, _sleep_then_put, q, 0.3, "only")
                self.assertEqual(q.get(timeout=20), "only")
                # Blocked in get while the producer exits.
                with Timer() as t, self.assertRaises(EOFError):
                    q.get(timeout=15)
                self.assertLess(t.elapsed, 10.0)
                self.join_ok(p)

    def test_put_into_full_queue_without_consumers_raises_broken_pipe(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue(maxsize=2)
                results = ipc_toolkit.Queue()
                q.put("first")
                c = self.start(method, _get_n, q, 1, results)
                self.assertEqual(results.get(timeout=20), ["first"])
                self.join_ok(c)
                # The only consumer is gone: a put still fills free room ...
                q.put(1)
                q.put(2)
                # ... but a put into the full queue cannot wait for anyone.
                with Timer() as t, self.assertRaises(BrokenPipeError) as raised:
                    q.put(3, timeout=10)
                self.assertLess(t.elapsed, 5.0)
                self.assertIsInstance(raised.exception, ipc_toolkit.ConsumersGone)
                self.assertIsInstance(raised.exception, queue.Full)
                self.assertEqual(q.qsize(), 2)

    def test_mp_style_empty_loop_ends_when_producers_are_gone(self):
        # The loop multiprocessing's users write: it would spin forever
        # once the producers are gone if the end were only an EOFError.
        q = ipc_toolkit.Queue()
        p = self.start("fork", _producer, q, "p", 3)
        got = []
        with Timer() as t:
            while True:
                try:
                    got.append(q.get(timeout=20))
                except queue.Empty:
                    break
        self.assertLess(t.elapsed, 15.0)
        self.assertEqual(got, [("p", i) for i in range(3)])
        self.join_ok(p)

    def test_unbounded_child_puts_past_the_ring_and_exits(self):
        # The child puts everything (most of it into its buffer), says so,
        # and exits; the parent starts taking only then. The buffered
        # messages reach the queue before the child is gone (as
        # multiprocessing joins its feeder thread at exit): none lost, in
        # order, then the producers are gone.
        n = 3 * 8192
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue()
                said = ipc_toolkit.Queue()
                p = self.start(method, _put_range, q, n, False, said)
                self.assertEqual(said.get(timeout=20), "put them all")
                got = [q.get(timeout=20) for _ in range(n)]
                self.assertEqual(got, list(range(n)))
                self.join_ok(p)
                with self.assertRaises(EOFError):
                    q.get(timeout=10)

    def test_unbounded_cancel_join_thread_lets_a_child_exit(self):
        # cancel_join_thread: the child exits without waiting for its
        # buffer, whose messages are lost (as with multiprocessing).
        n = 3 * 8192
        q = ipc_toolkit.Queue()
        p = self.start("fork", _put_range, q, n, True)
        self.join_ok(p)
        got = []
        with self.assertRaises(EOFError):
            while True:
                got.append(q.get(timeout=10))
        self.assertLess(len(got), n)
        self.assertEqual(got, list(range(len(got))))

    def test_forked_child_does_not_put_its_parents_buffer(self):
        # The parent's buffered messages are the parent's: a child forked
        # while they wait starts with an empty buffer (it would otherwise
        # put copies of them).
        n = 3 * 8192
        q = ipc_toolkit.Queue()
        for i in range(n):
            q.put(i)
        p = self.start("fork", _put_range, q, 3)
        got = []
        while True:
            try:
                got.append(q.get(timeout=1))
            except queue.Empty:
                break
        self.join_ok(p)
        self.assertEqual(sorted(got), sorted(list(range(n)) + [0, 1, 2]))

    def test_no_eof_before_any_producer(self):
        q = ipc_toolkit.Queue()
        with self.assertRaises(queue.Empty):
            q.get(timeout=0.2)

    def _late_hand_off(self, method, early_exits_first):
        q = ipc_toolkit.Queue()
        early = self.start(method, _producer, q, "early", 5)
        if early_exits_first:
            self.join_ok(early)
        # Pickled (spawn) or inherited (fork) now, first put 0.5 s after the
        # child starts running.
        late = self.start(method, _sleep_then_put, q, 0.5, "late")
        got = [q.get(timeout=20) for _ in range(5)]
        self.assertEqual(got, [("early", i) for i in range(5)])
        if not early_exits_first:
            self.join_ok(early)
        # Every message of the earlier producer is consumed and it exited;
        # the late child has not put yet: this must wait, not raise EOFError.
        try:
            msg = q.get(timeout=20)
        except EOFError:
            self.fail("EOFError while a child holding the queue had yet to put")
        self.assertEqual(msg, "late")
        self.join_ok(late)
        with self.assertRaises(EOFError):
            q.get(timeout=10)

    def test_late_producers_many_at_once_fork(self):
        # The hand-off of test_hand_off_* on 8 queues at once, 3 times over,
        # each queue's consumer a thread blocked in get when its late
        # producer makes its first put: no EOFError may come before it.
        for batch in range(3):
            queues = [ipc_toolkit.Queue() for _ in range(8)]
            early = [self.start("fork", _producer, q, "early", 3) for q in queues]
            for p in early:
                self.join_ok(p)
            late = [self.start("fork", _sleep_then_put, q, 0.5, "late") for q in queues]
            outcomes = [None] * len(queues)

            def consume(i, q):
                try:
                    got = [q.get(timeout=20) for _ in range(3)]
                    got.append(q.get(timeout=20))
                    outcomes[i] = got
                except BaseException as e:  # reported below
                    outcomes[i] = e

            threads = [
                threading.Thread(target=consume, args=(i, q), daemon=True)
                for i, q in enumerate(queues)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            for p in late:
                self.join_ok(p)
            expected = [("early", 0), ("early", 1), ("early", 2), "late"]
            bad = [(i, o) for i, o in enumerate(outcomes) if o != expected]
            self.assertEqual(bad, [], f"batch {batch}: queues whose consumer did not get all")

    def test_hand_off_spawn_children_open_in_the_other_order(self):
        # The first child started opens the queue last: the second takes a
        # place and exits while the first has yet to take its own. The
        # places are alike, so which child took one cannot be told from
        # their count; the first child's place must stay held until it
        # takes it (or dies), not be given back when the second exits.
        q = ipc_toolkit.Queue()
        first = self.start("spawn", _put_after_args, _SlowToUnpickle(1.5), q, "first")
        second = self.start("spawn", _put_after_args, None, q, "second")
        self.assertEqual(q.get(timeout=20), "second")
        self.join_ok(second)
        try:
            msg = q.get(timeout=20)
        except EOFError:
            self.fail("EOFError while the first child had yet to open the queue")
        self.assertEqual(msg, "first")
        self.join_ok(first)
        with self.assertRaises(EOFError):
            q.get(timeout=10)

    def test_hand_off_spawn_slow_child_after_producer_exited(self):
        self._late_hand_off("spawn", early_exits_first=True)

    def test_hand_off_spawn_slow_child_started_with_producer(self):
        self._late_hand_off("spawn", early_exits_first=False)

    def test_hand_off_fork_slow_child_after_producer_exited(self):
        self._late_hand_off("fork", early_exits_first=True)

    def test_hand_off_fork_slow_child_started_with_producer(self):
        self._late_hand_off("fork", early_exits_first=False)


# ProcessPoolExecutor workers get the queue and dict once, through the
# initializer (pickled under spawn, inherited under fork).
_pool_queue = None
_pool_dict = None


def _pool_init(q, d):
    global _pool_queue, _pool_dict
    _pool_queue, _pool_dict = q, d


def _pool_task(i):
    _pool_queue.put(("done", i))
    _pool_dict.increment("tasks")
    return i * i


class ModuleTest(ProcessTestCase):
    def test_import_as_mp(self):
        # `import ipc_toolkit as mp` in place of multiprocessing: what the
        # package does not define is multiprocessing's own.
        import ipc_toolkit as mp

        self.assertIs(mp.Process, multiprocessing.Process)
        self.assertIs(mp.Pool, multiprocessing.Pool)
        self.assertEqual(mp.cpu_count(), multiprocessing.cpu_count())
        self.assertIn("Process", dir(mp))
        self.assertIsInstance(mp.Queue(), ipc_toolkit.Queue)
        with self.assertRaises(AttributeError):
            mp.no_such_thing

    def test_get_context(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                ctx = ipc_toolkit.get_context(method)
                self.assertEqual(ctx.get_start_method(), method)
                q = ctx.Queue()
                self.assertIsInstance(q, ipc_toolkit.Queue)
                self.assertIsInstance(ctx.JoinableQueue(), ipc_toolkit.JoinableQueue)
                self.assertIsInstance(ctx.SimpleQueue(), ipc_toolkit.SimpleQueue)
                a, b = ctx.Pipe()
                self.assertIsInstance(a, ipc_toolkit.Connection)
                self.assertIsInstance(ctx.Manager(), ipc_toolkit.Manager)
                # ring_bytes goes through (64 KiB: a bigger message is refused).
                small = ctx.Queue(4, ring_bytes=64 * 1024)
                with self.assertRaises(ValueError):
                    small.put(b"x" * (64 * 1024 + 1))
                small_a, _ = ctx.Pipe(ring_bytes=64 * 1024)
                with self.assertRaises(ValueError):
                    small_a.send_bytes(b"x" * (64 * 1024 + 1))
                # multiprocessing.queues.Queue's signature: ctx is taken.
                self.assertIsInstance(
                    ipc_toolkit.Queue(4, ctx=multiprocessing.get_context(method)), ipc_toolkit.Queue
                )
                self.assertIsInstance(
                    ipc_toolkit.JoinableQueue(ctx=multiprocessing.get_context(method)),
                    ipc_toolkit.JoinableQueue,
                )
                p = ctx.Process(target=_put_all, args=(q, ["from", method]))
                self._procs.append(p)
                p.start()
                self.assertEqual([q.get(timeout=20), q.get(timeout=20)], ["from", method])
                self.join_ok(p)


class ExecutorTest(unittest.TestCase):
    def test_process_pool_executor_initializers_share_objects(self):
        import concurrent.futures

        for method in ("fork", "spawn"):
            with self.subTest(method=method):
                q = ipc_toolkit.Queue()
                with ipc_toolkit.Manager() as m:
                    d = m.dict()
                    ctx = multiprocessing.get_context(method)
                    with concurrent.futures.ProcessPoolExecutor(
                        max_workers=2, mp_context=ctx, initializer=_pool_init, initargs=(q, d)
                    ) as ex:
                        squares = list(ex.map(_pool_task, range(20), timeout=60))
                    self.assertEqual(squares, [i * i for i in range(20)])
                    got = sorted(q.get(timeout=10)[1] for _ in range(20))
                    self.assertEqual(got, list(range(20)))
                    self.assertEqual(d["tasks"], 20)


if __name__ == "__main__":
    unittest.main()
