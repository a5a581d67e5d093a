"""ipc_toolkit.Pipe / Connection and connection.wait against multiprocessing's
semantics: duplex and one-way pipes, objects and raw frames, offsets and
sizes, maxlength, recv_bytes_into and BufferTooShort, poll timing, EOFError
and BrokenPipeError once the peer is gone, the usual
``p.start(); child_conn.close(); parent_conn.recv()`` idiom under fork and
spawn, and wait() over connections and queues.

    cd ipc-python/tests/py && PYTHONPATH=<dir with ipc_toolkit> python3 -m unittest -v test_pipe
"""

import array
import os
import signal
import threading
import time
import unittest
from multiprocessing import BufferTooShort

import ipc_toolkit
from ipc_toolkit import connection

from _support import (
    SLACK,
    START_METHODS,
    ProcessTestCase,
    Timer,
    numpy_test,
    require_numpy,
    same_object,
    sample_objects,
    short,
)


# ----- workers (module level: spawn children import them) ----------------


def _send_some(conn, items, delay=0.0):
    """The child of the idiom: sends `items` (after `delay`) and exits."""
    time.sleep(delay)
    for item in items:
        conn.send(item)


def _echo_until_eof(conn):
    """Echoes until EOFError; exits 0 only if it ended by EOFError."""
    while True:
        try:
            obj = conn.recv()
        except EOFError:
            return
        conn.send(("echo", obj))


def _send_bytes_then_exit(conn, frames):
    for f in frames:
        conn.send_bytes(f)


def _send_after(conn, delay, obj):
    time.sleep(delay)
    conn.send(obj)


# ----- one process ---------------------------------------------------------


class PipeBasicsTest(unittest.TestCase):
    def test_duplex_both_ways(self):
        a, b = ipc_toolkit.Pipe()
        self.assertTrue(a.readable and a.writable)
        self.assertTrue(b.readable and b.writable)
        a.send("a->b")
        b.send("b->a")
        self.assertEqual(b.recv(), "a->b")
        self.assertEqual(a.recv(), "b->a")

    def test_one_way(self):
        r, w = ipc_toolkit.Pipe(duplex=False)
        self.assertTrue(r.readable)
        self.assertFalse(r.writable)
        self.assertTrue(w.writable)
        self.assertFalse(w.readable)
        w.send({"x": 1})
        w.send_bytes(b"raw")
        self.assertEqual(r.recv(), {"x": 1})
        self.assertEqual(r.recv_bytes(), b"raw")

    def test_one_way_wrong_direction_raises_oserror(self):
        r, w = ipc_toolkit.Pipe(False)
        with self.assertRaises(OSError):
            r.send(1)
        with self.assertRaises(OSError):
            r.send_bytes(b"1")
        with self.assertRaises(OSError):
            w.recv()
        with self.assertRaises(OSError):
            w.recv_bytes()
        with self.assertRaises(OSError):
            w.recv_bytes_into(bytearray(4))
        with self.assertRaises(OSError):
            w.poll()
        # The pipe still works the right way.
        w.send("ok")
        self.assertEqual(r.recv(), "ok")

    def test_objects_round_trip(self):
        a, b = ipc_toolkit.Pipe()
        objs = sample_objects()
        for obj in objs:
            a.send(obj)
            got = b.recv()
            self.assertTrue(
                same_object(obj, got),
                f"sent {short(obj)} ({type(obj).__name__}), got {short(got)} ({type(got).__name__})",
            )
        # Many in flight, in order.
        for i in range(500):
            b.send(i)
        self.assertEqual([a.recv() for _ in range(500)], list(range(500)))

    def test_memoryview_arrives_as_bytes(self):
        a, b = ipc_toolkit.Pipe()
        a.send(memoryview(b"abcdef")[1:4])
        self.assertEqual(b.recv(), b"bcd")

    def test_str_with_lone_surrogate(self):
        a, b = ipc_toolkit.Pipe()
        s = "name-\udce9"
        a.send(s)
        self.assertEqual(b.recv(), s)

    def test_send_bytes_offset_size(self):
        a, b = ipc_toolkit.Pipe()
        data = b"0123456789"
        a.send_bytes(data)
        a.send_bytes(data, 2)
        a.send_bytes(data, 2, 5)
        a.send_bytes(data, 10)
        a.send_bytes(data, 0, 0)
        a.send_bytes(bytearray(data), 8, 2)
        a.send_bytes(memoryview(data), 1, 1)
        a.send_bytes(array.array("i", [1, 2, 3]), 4, 4)
        self.assertEqual(b.recv_bytes(), b"0123456789")
        self.assertEqual(b.recv_bytes(), b"23456789")
        self.assertEqual(b.recv_bytes(), b"23456")
        self.assertEqual(b.recv_bytes(), b"")
        self.assertEqual(b.recv_bytes(), b"")
        self.assertEqual(b.recv_bytes(), b"89")
        self.assertEqual(b.recv_bytes(), b"1")
        self.assertEqual(b.recv_bytes(), array.array("i", [2]).tobytes())

    def test_send_bytes_bad_offset_size(self):
        a, b = ipc_toolkit.Pipe()
        with self.assertRaises(ValueError):
            a.send_bytes(b"abc", 4)
        with self.assertRaises(ValueError):
            a.send_bytes(b"abc", 1, 3)
        # multiprocessing: ValueError("offset is negative"/"size is negative").
        with self.assertRaises(ValueError):
            a.send_bytes(b"abc", -1)
        with self.assertRaises(ValueError):
            a.send_bytes(b"abc", 0, -1)
        self.assertFalse(b.poll(0.05), "a refused send_bytes sent something")

    def test_recv_bytes_maxlength(self):
        a, b = ipc_toolkit.Pipe()
        a.send_bytes(b"x" * 100)
        with self.assertRaises(OSError):
            b.recv_bytes(10)
        a.send_bytes(b"y" * 10)
        self.assertEqual(b.recv_bytes(10), b"y" * 10)

    def test_recv_bytes_into_bytearray(self):
        a, b = ipc_toolkit.Pipe()
        a.send_bytes(b"hello")
        buf = bytearray(b"." * 12)
        self.assertEqual(b.recv_bytes_into(buf), 5)
        self.assertEqual(bytes(buf), b"hello.......")
        a.send_bytes(b"world")
        self.assertEqual(b.recv_bytes_into(buf, 6), 5)
        self.assertEqual(bytes(buf), b"hello.world.")

    def test_recv_bytes_into_other_buffers(self):
        a, b = ipc_toolkit.Pipe()
        a.send_bytes(b"abcd")
        backing = bytearray(8)
        self.assertEqual(b.recv_bytes_into(memoryview(backing)), 4)
        self.assertEqual(bytes(backing), b"abcd\0\0\0\0")
        arr = array.array("i", [0, 0, 0])
        a.send_bytes(array.array("i", [5, 6]))
        # As in multiprocessing, offset is in bytes (of the buffer cast to bytes).
        self.assertEqual(b.recv_bytes_into(arr, 4), 8)
        self.assertEqual(list(arr), [0, 5, 6])

    def test_recv_bytes_into_too_short(self):
        makers = {
            "bytearray": bytearray,
            "memoryview": lambda n: memoryview(bytearray(n)),
            "array": lambda n: array.array("B", bytes(n)),
        }
        for kind, make in makers.items():
            with self.subTest(buffer=kind):
                a, b = ipc_toolkit.Pipe()
                a.send_bytes(b"0123456789")
                a.send_bytes(b"next")
                with self.assertRaises(BufferTooShort) as cm:
                    b.recv_bytes_into(make(4))
                self.assertEqual(cm.exception.args[0], b"0123456789")
                # With an offset that leaves too little room.
                with self.assertRaises(BufferTooShort) as cm:
                    b.recv_bytes_into(make(6), 3)
                self.assertEqual(cm.exception.args[0], b"next")
                self.assertFalse(b.poll())

    def test_recv_bytes_into_bad_offset(self):
        a, b = ipc_toolkit.Pipe()
        a.send_bytes(b"x")
        with self.assertRaises(ValueError):
            b.recv_bytes_into(bytearray(4), 5)
        self.assertEqual(b.recv_bytes(), b"x")

    def test_poll(self):
        a, b = ipc_toolkit.Pipe()
        self.assertFalse(b.poll())
        self.assertFalse(b.poll(0))
        for timeout in (0.1, 0.5):
            with Timer() as t:
                self.assertFalse(b.poll(timeout))
            self.assertGreaterEqual(t.elapsed, timeout - 0.001)
            self.assertLess(t.elapsed, timeout + SLACK)
        a.send(1)
        with Timer() as t:
            self.assertTrue(b.poll(5))
        self.assertLess(t.elapsed, 1.0)
        self.assertTrue(b.poll())  # poll does not consume
        self.assertEqual(b.recv(), 1)
        self.assertFalse(b.poll())

    def test_poll_wakes_for_send(self):
        a, b = ipc_toolkit.Pipe()
        timer = threading.Timer(0.3, a.send, args=("late",))
        timer.start()
        try:
            with Timer() as t:
                self.assertTrue(b.poll(10))
            self.assertGreaterEqual(t.elapsed, 0.25)
            self.assertLess(t.elapsed, 0.3 + SLACK)
            self.assertEqual(b.recv(), "late")
            timer2 = threading.Timer(0.2, a.send, args=("later",))
            timer2.start()
            self.assertTrue(b.poll(None))
            timer2.join()
            self.assertEqual(b.recv(), "later")
        finally:
            timer.join()

    def test_recv_blocks_until_send(self):
        a, b = ipc_toolkit.Pipe()
        timer = threading.Timer(0.3, a.send_bytes, args=(b"raw",))
        timer.start()
        try:
            with Timer() as t:
                self.assertEqual(b.recv_bytes(), b"raw")
            self.assertGreaterEqual(t.elapsed, 0.25)
        finally:
            timer.join()

    def test_eof_after_peer_closes_after_draining(self):
        a, b = ipc_toolkit.Pipe()
        b.send(1)
        b.send_bytes(b"two")
        b.close()
        self.assertTrue(a.poll(1))
        self.assertEqual(a.recv(), 1)
        self.assertEqual(a.recv_bytes(), b"two")
        self.assertTrue(a.poll(1), "poll() must report a closed peer as ready")
        with self.assertRaises(EOFError):
            a.recv()
        with self.assertRaises(EOFError):
            a.recv_bytes()
        with self.assertRaises(EOFError):
            a.recv_bytes_into(bytearray(10))

    def test_eof_one_way(self):
        r, w = ipc_toolkit.Pipe(False)
        w.send("last")
        w.close()
        self.assertEqual(r.recv(), "last")
        with self.assertRaises(EOFError):
            r.recv()

    def test_eof_wakes_blocked_recv(self):
        a, b = ipc_toolkit.Pipe()
        outcome = []

        def receive():
            try:
                outcome.append(a.recv())
            except EOFError:
                outcome.append("EOF")

        t = threading.Thread(target=receive, daemon=True)
        t.start()
        time.sleep(0.2)
        b.close()
        t.join(5)
        self.assertFalse(t.is_alive(), "recv() did not wake when the peer closed")
        self.assertEqual(outcome, ["EOF"])

    def test_broken_pipe_after_peer_closes(self):
        a, b = ipc_toolkit.Pipe()
        b.close()
        with self.assertRaises(BrokenPipeError):
            a.send("x")
        with self.assertRaises(BrokenPipeError):
            a.send_bytes(b"x")
        r, w = ipc_toolkit.Pipe(False)
        r.close()
        with self.assertRaises(BrokenPipeError):
            w.send("x")

    def test_closed_handle(self):
        a, b = ipc_toolkit.Pipe()
        self.assertFalse(a.closed)
        a.close()
        self.assertTrue(a.closed)
        a.close()  # twice is fine
        with self.assertRaises(OSError):
            a.send(1)
        with self.assertRaises(OSError):
            a.recv()
        with self.assertRaises(OSError):
            a.poll()

    def test_context_manager_closes(self):
        a, b = ipc_toolkit.Pipe()
        with a as entered:
            self.assertIs(entered, a)
            a.send("inside")
        self.assertTrue(a.closed)
        with self.assertRaises(OSError):
            a.send("after")
        self.assertEqual(b.recv(), "inside")
        with self.assertRaises(EOFError):
            b.recv()
        with self.assertRaises(BrokenPipeError):
            b.send("to a closed end")

    def test_full_pipe_send_blocks_until_recv(self):
        a, b = ipc_toolkit.Pipe(ring_bytes=64 * 1024)
        blob = b"z" * 20_000
        sent = []

        def sender():
            for i in range(10):
                a.send_bytes(blob)
                sent.append(i)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        time.sleep(0.3)
        self.assertLess(len(sent), 10, "10 x 20 kB went into a 64 kB ring without a reader")
        for _ in range(10):
            self.assertTrue(b.poll(10))
            self.assertEqual(b.recv_bytes(), blob)
        t.join(10)
        self.assertEqual(sent, list(range(10)))

    def test_too_large_message(self):
        a, b = ipc_toolkit.Pipe(ring_bytes=64 * 1024)
        with self.assertRaises(ValueError):
            a.send_bytes(b"x" * (64 * 1024 + 1))
        a.send("small")
        self.assertEqual(b.recv(), "small")
        self.assertFalse(b.poll())

    def test_fileno_of_a_write_only_or_closed_connection(self):
        r, w = ipc_toolkit.Pipe(duplex=False)
        with self.assertRaises(OSError):
            w.fileno()
        r.close()
        with self.assertRaises(OSError):
            r.fileno()


# ----- across processes ----------------------------------------------------


class PipeProcessesTest(ProcessTestCase):
    def _idiom(self, method, delay):
        parent_conn, child_conn = ipc_toolkit.Pipe()
        items = ["one", {"two": 2}, b"three"]
        p = self.start(method, _send_some, child_conn, items, delay)
        child_conn.close()
        for item in items:
            self.assertTrue(parent_conn.poll(20), f"nothing from the {method} child")
            try:
                got = parent_conn.recv()
            except EOFError:
                self.fail(f"spurious EOFError before {item!r} ({method}, delay {delay})")
            self.assertEqual(got, item)
        self.assertTrue(parent_conn.poll(10), "no EOF after the child exited")
        with self.assertRaises(EOFError):
            parent_conn.recv()
        self.join_ok(p)

    def test_idiom_fork(self):
        self._idiom("fork", 0.0)

    def test_idiom_spawn(self):
        self._idiom("spawn", 0.0)

    def test_idiom_fork_slow_child(self):
        self._idiom("fork", 0.5)

    def test_idiom_spawn_slow_child(self):
        self._idiom("spawn", 0.5)

    def test_idiom_one_way(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                r, w = ipc_toolkit.Pipe(duplex=False)
                p = self.start(method, _send_some, w, [1, 2, 3], 0.2)
                w.close()
                for i in (1, 2, 3):
                    self.assertTrue(r.poll(20))
                    self.assertEqual(r.recv(), i)
                self.assertTrue(r.poll(10))
                with self.assertRaises(EOFError):
                    r.recv()
                self.join_ok(p)

    def test_child_hears_eof_when_parent_closes(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                parent_conn, child_conn = ipc_toolkit.Pipe()
                p = self.start(method, _echo_until_eof, child_conn)
                child_conn.close()
                for i in range(20):
                    parent_conn.send(i)
                    self.assertTrue(parent_conn.poll(20))
                    self.assertEqual(parent_conn.recv(), ("echo", i))
                parent_conn.close()
                self.join_ok(p)  # exits 0 only through EOFError

    def test_raw_frames_from_child(self):
        frames = [b"", b"a", bytes(range(256)) * 4096, b"end"]
        for method in START_METHODS:
            with self.subTest(method=method):
                parent_conn, child_conn = ipc_toolkit.Pipe()
                p = self.start(method, _send_bytes_then_exit, child_conn, frames)
                child_conn.close()
                for f in frames:
                    self.assertTrue(parent_conn.poll(20))
                    self.assertEqual(parent_conn.recv_bytes(), f)
                self.join_ok(p)

    def test_broken_pipe_after_child_exits(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                parent_conn, child_conn = ipc_toolkit.Pipe()
                p = self.start(method, _send_some, child_conn, ["bye"])
                child_conn.close()
                self.assertTrue(parent_conn.poll(20))
                self.assertEqual(parent_conn.recv(), "bye")
                self.join_ok(p)
                self.assertTrue(parent_conn.poll(10))
                with self.assertRaises(EOFError):
                    parent_conn.recv()
                # The receiving side is gone: as in multiprocessing, a send
                # fails (it must not queue messages nobody will read).
                with self.assertRaises(BrokenPipeError):
                    parent_conn.send("anyone?")


class WaitTest(ProcessTestCase):
    def test_timeout_returns_empty_list(self):
        pipes = [ipc_toolkit.Pipe() for _ in range(3)]
        q = ipc_toolkit.Queue()
        objs = [a for a, _ in pipes] + [q]
        for timeout in (0, 0.3):
            with Timer() as t:
                self.assertEqual(connection.wait(objs, timeout=timeout), [])
            self.assertGreaterEqual(t.elapsed, timeout - 0.001)
            self.assertLess(t.elapsed, timeout + SLACK)

    def test_returns_the_ready_ones(self):
        pipes = [ipc_toolkit.Pipe() for _ in range(3)]
        q = ipc_toolkit.Queue()
        q_other = ipc_toolkit.Queue()
        readers = [a for a, _ in pipes]
        objs = readers + [q, q_other]
        pipes[1][1].send("for 1")
        q.put("for q")
        ready = connection.wait(objs, timeout=5)
        self.assertEqual(set(map(id, ready)), {id(readers[1]), id(q)})
        self.assertEqual(readers[1].recv(), "for 1")
        self.assertEqual(q.get(timeout=5), "for q")
        self.assertEqual(connection.wait(objs, timeout=0.05), [])
        pipes[2][1].send_bytes(b"x")
        self.assertEqual(connection.wait(objs, timeout=5), [readers[2]])

    def test_mixed_with_a_process_sentinel(self):
        # wait([conn, p.sentinel]): the idiom that notices a worker dying.
        for method in START_METHODS:
            with self.subTest(method=method):
                a, b = ipc_toolkit.Pipe()
                p = self.start(method, time.sleep, 0.3)
                with Timer() as t:
                    ready = connection.wait([a, p.sentinel], timeout=20)
                self.assertEqual(ready, [p.sentinel])
                self.assertLess(t.elapsed, 10)
                self.join_ok(p)
                b.send("now")
                self.assertEqual(connection.wait([a, p.sentinel], timeout=5), [a, p.sentinel])

    def test_mixed_with_multiprocessing_connections_and_timeout(self):
        import multiprocessing

        a, b = ipc_toolkit.Pipe()
        r, w = multiprocessing.Pipe(duplex=False)
        with Timer() as t:
            self.assertEqual(connection.wait([a, r], timeout=0.3), [])
        self.assertGreaterEqual(t.elapsed, 0.299)
        self.assertLess(t.elapsed, 0.3 + SLACK)
        threading.Timer(0.2, w.send, ("mp",)).start()
        self.assertEqual(connection.wait([a, r], timeout=10), [r])
        self.assertEqual(r.recv(), "mp")
        threading.Timer(0.2, b.send, ("ours",)).start()
        self.assertEqual(connection.wait([r, a], timeout=10), [a])
        self.assertEqual(a.recv(), "ours")

    def test_closed_peer_counts_as_ready(self):
        a, b = ipc_toolkit.Pipe()
        c, d = ipc_toolkit.Pipe()
        b.close()
        self.assertEqual(connection.wait([a, c], timeout=5), [a])

    def test_wakes_for_another_process(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                (a1, b1), (a2, b2) = ipc_toolkit.Pipe(), ipc_toolkit.Pipe()
                q = ipc_toolkit.Queue()
                p = self.start(method, _send_after, b2, 0.3, "from child")
                b2.close()
                with Timer() as t:
                    ready = connection.wait([a1, a2, q], timeout=20)
                self.assertEqual(ready, [a2])
                self.assertGreaterEqual(t.elapsed, 0.2)
                self.assertEqual(a2.recv(), "from child")
                self.join_ok(p)

    def test_wakes_for_queue_put_by_another_process(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                a, b = ipc_toolkit.Pipe()
                q = ipc_toolkit.Queue()
                p = self.start(method, _put_after, q, 0.3, "queued")
                with Timer() as t:
                    ready = connection.wait([a, q], timeout=20)
                self.assertEqual(ready, [q])
                self.assertEqual(q.get(timeout=5), "queued")
                self.join_ok(p)

    def test_rejects_foreign_objects(self):
        with self.assertRaises(TypeError):
            connection.wait([object()], timeout=0)


def _readable(fd, timeout=0.0):
    """Whether `fd` is readable within `timeout` seconds."""
    import select

    return bool(select.select([fd], [], [], timeout)[0])


def _send_n_slowly(conn, n, delay):
    for i in range(n):
        time.sleep(delay)
        conn.send(i)


def _send_then_park(conn, obj):
    conn.send(obj)
    time.sleep(60)


class FilenoTest(ProcessTestCase):
    """Connection.fileno(): a descriptor readable exactly while a recv would
    not block, for selectors, asyncio and the standard library's wait."""

    def test_readable_while_something_is_there(self):
        a, b = ipc_toolkit.Pipe()
        fd = a.fileno()
        self.assertEqual(a.fileno(), fd, "one descriptor per connection")
        self.assertFalse(_readable(fd, 0.1))
        b.send("one")
        b.send("two")
        self.assertTrue(_readable(fd, 10))
        self.assertEqual(a.recv(), "one")
        self.assertTrue(_readable(fd), "one more message is there")
        self.assertEqual(a.recv(), "two")
        self.assertFalse(_readable(fd, 0.1), "nothing left: not readable")
        b.send_bytes(b"raw")
        self.assertTrue(_readable(fd, 10))
        self.assertTrue(a.poll())
        self.assertEqual(a.recv_bytes(), b"raw")
        self.assertFalse(_readable(fd, 0.1))
        a.close()
        with self.assertRaises(OSError):
            import os

            os.fstat(fd)

    def test_stdlib_wait_and_selectors_wake_for_another_process(self):
        import multiprocessing.connection as mp_connection
        import selectors

        for method in START_METHODS:
            with self.subTest(method=method):
                a, b = ipc_toolkit.Pipe()
                p = self.start(method, _send_n_slowly, b, 3, 0.2)
                b.close()
                with Timer() as t:
                    self.assertEqual(mp_connection.wait([a], timeout=20), [a])
                self.assertGreaterEqual(t.elapsed, 0.1)
                self.assertEqual(a.recv(), 0)
                got = [0]
                with selectors.DefaultSelector() as sel:
                    sel.register(a, selectors.EVENT_READ)
                    while len(got) < 3:
                        self.assertTrue(sel.select(timeout=20), f"{method}: woke for nothing")
                        got.append(a.recv())
                    # The child exits: EOF is something to receive too.
                    self.assertTrue(sel.select(timeout=20))
                with self.assertRaises(EOFError):
                    a.recv()
                self.assertEqual(got, [0, 1, 2])
                self.join_ok(p)

    def test_asyncio_add_reader(self):
        import asyncio

        a, b = ipc_toolkit.Pipe()
        p = self.start("spawn", _send_n_slowly, b, 5, 0.05)
        b.close()

        async def receive():
            loop = asyncio.get_running_loop()
            got, done = [], loop.create_future()

            def on_readable():
                try:
                    got.append(a.recv())
                except EOFError:
                    loop.remove_reader(a.fileno())
                    done.set_result(None)

            loop.add_reader(a.fileno(), on_readable)
            await asyncio.wait_for(done, 20)
            return got

        self.assertEqual(asyncio.run(receive()), list(range(5)))
        self.join_ok(p)

    def test_a_killed_peer_makes_it_readable(self):
        a, b = ipc_toolkit.Pipe()
        p = self.start("fork", _send_then_park, b, "last words")
        b.close()
        fd = a.fileno()
        self.assertTrue(_readable(fd, 20))
        self.assertEqual(a.recv(), "last words")
        self.assertFalse(_readable(fd, 0.1), "the peer still lives")
        p.kill()
        p.join(10)
        self.assertTrue(_readable(fd, 10), "a SIGKILLed peer is something to receive")
        with self.assertRaises(EOFError):
            a.recv()

    def test_mixed_wait_uses_descriptors(self):
        # Ours and a multiprocessing connection: a wait on descriptors, so
        # ours is seen as soon as it is ready, not a polling slice later.
        import multiprocessing

        a, b = ipc_toolkit.Pipe()
        r, w = multiprocessing.Pipe(duplex=False)
        threading.Timer(0.2, b.send, ("ours",)).start()
        self.assertEqual(connection.wait([r, a], timeout=10), [a])
        self.assertEqual(a.recv(), "ours")
        self.assertEqual(connection.wait([r, a], timeout=0.1), [])

    def test_mixed_wait_with_a_write_only_connection(self):
        # A write-only end has no descriptor: the mixed wait polls instead.
        import multiprocessing

        r, w = multiprocessing.Pipe(duplex=False)
        ours_r, ours_w = ipc_toolkit.Pipe(duplex=False)
        self.assertEqual(connection.wait([r, ours_w], timeout=0.1), [])
        self.assertEqual(connection.wait([ours_w], timeout=0.1), [])
        w.send("mp")
        self.assertEqual(connection.wait([r, ours_w], timeout=10), [r])
        # Its reader gone, a write-only end is reported (a multiprocessing
        # write end's descriptor turns readable then).
        ours_r.close()
        self.assertEqual(connection.wait([ours_w], timeout=10), [ours_w])

    def test_a_forked_child_gets_its_own(self):
        a, b = ipc_toolkit.Pipe()
        a.fileno()  # made in the parent, before the fork
        p = self.start("fork", _child_waits_on_its_fileno, a)
        b.send("to the child")
        self.join_ok(p)


def _child_waits_on_its_fileno(conn):
    fd = conn.fileno()
    if not _readable(fd, 20):
        raise SystemExit(3)
    if conn.recv() != "to the child":
        raise SystemExit(4)
    if _readable(fd, 0.1):
        raise SystemExit(5)


def _send_all(conn, objs):
    for obj in objs:
        conn.send(obj)


def _send_big_then_after_ctrl_c(conn, big):
    """Sends `big` into a pipe nobody reads until Ctrl-C interrupts the
    send, then sends "after"; exits 0 only if the send was interrupted."""
    # Python leaves SIGINT ignored if it started so (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        conn.send(big)
    except KeyboardInterrupt:
        conn.send("after")
        return
    raise SystemExit(3)


def _big(n):
    """An object that pickles to more than `n` bytes, easy to check."""
    return {"tag": "big", "data": bytes(range(256)) * (n // 256 + 1), "n": n}


class LargeMessageTest(ProcessTestCase):
    """Objects bigger than the pipe's ring go in parts, which a receiver
    puts back together: whole, in order, never torn."""

    RING = 64 * 1024

    def test_big_objects_between_small_ones_in_order(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                a, b = ipc_toolkit.Pipe(ring_bytes=self.RING)
                objs = ["first", _big(1 << 20), 7, _big(3 * self.RING + 5), b"x" * (self.RING * 2), "last"]
                p = self.start(method, _send_all, b, objs)
                b.close()
                for want in objs:
                    self.assertEqual(a.recv(), want)
                with self.assertRaises(EOFError):
                    a.recv()
                self.join_ok(p)

    def test_raw_frames_stay_limited(self):
        a, b = ipc_toolkit.Pipe(ring_bytes=self.RING)
        with self.assertRaises(ValueError):
            a.send_bytes(b"x" * (self.RING + 1))

    def test_an_interrupted_sender_abandons_the_object(self):
        a, b = ipc_toolkit.Pipe(ring_bytes=self.RING)
        p = self.start("fork", _send_big_then_after_ctrl_c, b, _big(1 << 20))
        b.close()
        # The child fills the ring and waits for room; interrupt it there.
        time.sleep(0.5)
        os.kill(p.pid, signal.SIGINT)
        # Reading now would let the send go on (a signal is handled when a
        # wait slice ends without progress). The abandon mark and "after"
        # fit in what the parts left free: the child finishes on its own.
        self.join_ok(p)
        self.assertEqual(a.recv(), "after", "the cut-off object was skipped")

    def test_a_killed_sender_leaves_eof_not_a_torn_object(self):
        a, b = ipc_toolkit.Pipe(ring_bytes=self.RING)
        p = self.start("fork", _send_all, b, ["whole", _big(1 << 20)])
        b.close()
        self.assertEqual(a.recv(), "whole")
        time.sleep(0.3)
        p.kill()
        p.join(10)
        with self.assertRaises(EOFError):
            a.recv()

    def test_an_interrupted_receiver_goes_on_where_it_stopped(self):
        a, b = ipc_toolkit.Pipe(ring_bytes=self.RING)
        big = _big(1 << 20)
        p = self.start("fork", _send_all, b, [big, "next"])
        b.close()
        time.sleep(0.3)
        os.kill(p.pid, signal.SIGSTOP)  # stopped mid-object

        class Alarm(Exception):
            pass

        def on_alarm(signum, frame):
            raise Alarm()

        old = signal.signal(signal.SIGALRM, on_alarm)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            with self.assertRaises(Alarm):
                a.recv()  # takes the parts there are, then waits
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        os.kill(p.pid, signal.SIGCONT)
        self.assertEqual(a.recv(), big)
        self.assertEqual(a.recv(), "next")
        self.join_ok(p)

    @numpy_test
    def test_a_numpy_array_over_the_default_ring(self):
        require_numpy(self)
        import numpy

        arr = numpy.arange(3 << 20, dtype=numpy.float64)  # 24 MiB, ring 4 MiB
        for method in START_METHODS:
            with self.subTest(method=method):
                a, b = ipc_toolkit.Pipe()
                p = self.start(method, _send_all, b, [arr])
                b.close()
                got = a.recv()
                self.assertTrue(numpy.array_equal(got, arr))
                self.join_ok(p)


def _put_after(q, delay, obj):
    time.sleep(delay)
    q.put(obj)


if __name__ == "__main__":
    unittest.main()
