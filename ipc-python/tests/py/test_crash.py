"""ipc_toolkit under processes killed with SIGKILL, and the lifetime of its
shared memory across children that exit.

- Producers killed at random moments while putting self-checking messages:
  no committed message lost, none torn, none duplicated, order kept.
- A consumer killed while blocked in get: the others go on, nothing lost.
- A process killed while holding a Manager Lock: the next acquire takes it
  over within a few seconds.
- A Pipe peer killed: recv drains, then raises EOFError within a few
  seconds; a send raises BrokenPipeError.
- Segments survive the exit (or the kill) of children that opened them:
  unlike multiprocessing.shared_memory under the resource tracker, a child
  that used a queue or a manager dict does not unlink it on exit.

    cd ipc-python/tests/py && PYTHONPATH=<dir with ipc_toolkit> python3 -m unittest -v test_crash
"""

import hashlib
import os
import queue
import random
import signal
import struct
import threading
import time
import unittest

import ipc_toolkit

from _support import START_METHODS, ProcessTestCase, Timer, wait_until

SHM = "/dev/shm"


# ----- self-checking messages ----------------------------------------------


def _body(producer, seq, length):
    """`length` bytes derived from (producer, seq)."""
    block = hashlib.sha256(struct.pack("<QQ", producer, seq)).digest()
    reps = length // len(block) + 1
    return (block * reps)[:length]


def _length(seq, limit):
    return (seq * 2654435761 + 12345) % limit


def make_message(producer, seq):
    """Message `seq` of `producer`: bytes, a pickled tuple or a str, by seq,
    each with a length and content derived from (producer, seq)."""
    kind = seq % 3
    if kind == 0:  # raw bytes, not pickled: header + body
        body = _body(producer, seq, _length(seq, 96 * 1024))
        return struct.pack("<QQQ", producer, seq, len(body)) + body
    if kind == 1:  # a pickled tuple
        body = _body(producer, seq, _length(seq, 8 * 1024))
        return ("t", producer, seq, hashlib.sha256(body).hexdigest(), body)
    # a str
    text = _body(producer, seq, _length(seq, 2048) // 2).hex()
    return f"s|{producer}|{seq}|{len(text)}|{text}"


def check_message(msg):
    """Returns (producer, seq) of an intact message; AssertionError if torn."""
    if type(msg) is bytes:
        producer, seq, n = struct.unpack_from("<QQQ", msg)
        assert seq % 3 == 0, f"bytes message with seq {seq}"
        assert len(msg) == 24 + n, f"bytes message {producer}/{seq}: length {len(msg)} != {24 + n}"
        assert n == _length(seq, 96 * 1024), f"bytes message {producer}/{seq}: wrong length"
        assert msg[24:] == _body(producer, seq, n), f"bytes message {producer}/{seq}: torn body"
        return producer, seq
    if type(msg) is tuple:
        tag, producer, seq, digest, body = msg
        assert tag == "t" and seq % 3 == 1, f"tuple message {msg[:3]}"
        assert len(body) == _length(seq, 8 * 1024), f"tuple message {producer}/{seq}: length"
        assert hashlib.sha256(body).hexdigest() == digest, f"tuple {producer}/{seq}: digest"
        assert body == _body(producer, seq, len(body)), f"tuple message {producer}/{seq}: body"
        return producer, seq
    if type(msg) is str:
        tag, producer, seq, n, text = msg.split("|")
        producer, seq, n = int(producer), int(seq), int(n)
        assert tag == "s" and seq % 3 == 2, f"str message {msg[:40]!r}"
        assert len(text) == n, f"str message {producer}/{seq}: length"
        assert text == _body(producer, seq, _length(seq, 2048) // 2).hex(), f"str {producer}/{seq}"
        return producer, seq
    raise AssertionError(f"a message of type {type(msg).__name__}: {msg!r:.80}")


# ----- workers (module level: spawn children import them) ----------------


def _crash_producer(q, progress, producer):
    """Puts messages 0, 1, 2, ... forever; after each put returns, records
    its number as committed."""
    seq = 0
    while True:
        q.put(make_message(producer, seq))
        progress[producer] = seq
        seq += 1


def _blocked_consumer(q, flags, name, results, count):
    flags[name] = True
    got = [q.get(timeout=30) for _ in range(count)]
    results.put((name, got))


def _hold_lock_forever(lock, held):
    lock.acquire()
    held.set()
    time.sleep(60)


def _announce_then_hold(lock, started, held):
    started.set()
    lock.acquire()
    held.set()
    time.sleep(60)


def _send_then_hang(conn, count, sent):
    for i in range(count):
        conn.send(("msg", i))
    if sent is not None:
        sent.set()
    time.sleep(60)


def _hang(*_args):
    time.sleep(60)


def _claim_then_hang(conn, claimed):
    conn.poll()  # claims the end
    claimed.set()
    time.sleep(60)


def _use_and_exit(q, d, lst, tag):
    q.put(("from", tag))
    d[tag] = os.getpid()
    d.increment("children")
    lst.append(tag)


def _open_and_hang(q, d, ready):
    q.put(("hanging", os.getpid()))
    d["hanging"] = os.getpid()
    ready.set()
    time.sleep(60)


def _relay(q_in, q_out, count):
    for _ in range(count):
        q_out.put(q_in.get(timeout=20))


# ----- producers killed --------------------------------------------------------


class KilledProducersTest(ProcessTestCase):
    def _run_rounds(self, method, rounds, kill_after, producers_per_round=2):
        """Each round starts producers, kills each `uniform(*kill_after)` s
        after its first put returned, consumes meanwhile, then drains to
        EOFError and checks what each producer reported committed."""
        rng = random.Random(0xC0FFEE ^ os.getpid())
        q = ipc_toolkit.Queue(maxsize=256, ring_bytes=1 << 20)
        m = ipc_toolkit.Manager()
        progress = m.dict()
        next_id = 0
        total_received = 0
        for rnd in range(rounds):
            ids = list(range(next_id, next_id + producers_per_round))
            next_id += producers_per_round
            received = {pid: [] for pid in ids}
            procs = {pid: self.start(method, _crash_producer, q, progress, pid) for pid in ids}
            delay = {pid: rng.uniform(*kill_after) for pid in ids}
            kill_at = {}

            def take(msg):
                producer, seq = check_message(msg)
                self.assertIn(producer, received, f"round {rnd}: a message of producer {producer}")
                seqs = received[producer]
                self.assertEqual(
                    seq, len(seqs), f"round {rnd}: producer {producer} message {seq} after {seqs[-3:]}"
                )
                seqs.append(seq)

            # Consume while the producers run; kill each at its moment.
            deadline = time.monotonic() + 30
            while any(p.exitcode is None for p in procs.values()):
                self.assertLess(time.monotonic(), deadline, "producers did not start, or not killed")
                now = time.monotonic()
                for pid, p in procs.items():
                    if pid not in kill_at and (received[pid] or pid in progress):
                        kill_at[pid] = now + delay[pid]
                    if p.exitcode is None and pid in kill_at and now >= kill_at[pid]:
                        os.kill(p.pid, signal.SIGKILL)
                        p.join(10)
                try:
                    take(q.get(timeout=0.02))
                except queue.Empty:
                    pass
                except EOFError:
                    # Only once every producer is dead and drained.
                    self.assertTrue(
                        all(p.exitcode is not None for p in procs.values()),
                        f"round {rnd}: EOFError while a producer runs",
                    )
                    break
            for p in procs.values():
                self.assertEqual(p.exitcode, -signal.SIGKILL)
            # Drain: every producer is dead, so the queue ends in EOFError.
            while True:
                try:
                    take(q.get(timeout=5))
                except EOFError:
                    break
                except queue.Empty:
                    self.fail(
                        f"round {rnd}: neither a message nor EOFError 5 s after every producer "
                        f"was killed (qsize {q.qsize()}, committed {[progress.get(i) for i in ids]}, "
                        f"received {[len(received[i]) for i in ids]})"
                    )
            for pid in ids:
                reported = progress.get(pid, -1)
                last = len(received[pid]) - 1
                self.assertGreaterEqual(
                    last, reported,
                    f"round {rnd}: producer {pid} committed up to {reported}, received up to {last}",
                )
                # A put that returned before the kill, not yet recorded.
                self.assertLessEqual(last, reported + 1, f"round {rnd}: producer {pid}")
                total_received += len(received[pid])
        self.assertTrue(q.empty())
        return total_received

    def test_producers_killed_at_random_fork(self):
        total = self._run_rounds("fork", rounds=20, kill_after=(0.0, 0.2))
        self.assertGreater(total, 0, "no producer got a message through")

    def test_producers_killed_at_random_spawn(self):
        total = self._run_rounds("spawn", rounds=3, kill_after=(0.0, 0.3))
        self.assertGreater(total, 0)

    def test_producer_killed_mid_put_does_not_wedge_the_queue(self):
        # 7 MiB messages through the default 8 MiB ring: the producer spends
        # much of its time copying, so a kill often lands mid-put. The slot
        # it died writing must be stepped over: the consumer then gets what
        # follows, or EOFError - never a queue stuck forever.
        q = ipc_toolkit.Queue()
        big = _body(7, 7, 7 << 20)
        rng = random.Random(os.getpid())
        for rnd in range(12):
            p = self.start("fork", _put_forever, q, big)
            kill_at = time.monotonic() + rng.uniform(0.05, 0.15)
            while p.exitcode is None:
                if time.monotonic() >= kill_at:
                    os.kill(p.pid, signal.SIGKILL)
                    p.join(10)
                try:
                    self.assertTrue(q.get(timeout=0.01) == big, "torn message")
                except queue.Empty:
                    pass
                except EOFError:
                    # Only once the producer is dead and its messages are
                    # drained.
                    self.assertIsNotNone(p.exitcode, "EOFError while the producer runs")
                    break
            while True:
                try:
                    self.assertTrue(q.get(timeout=5) == big, "torn message")
                except EOFError:
                    break
                except queue.Empty:
                    self.fail(
                        f"round {rnd}: the queue is wedged after its producer was killed "
                        f"(qsize {q.qsize()}, nothing to get, no EOFError)"
                    )
            # A new producer's messages get through too.
            p2 = self.start("fork", _put_items, q, ["after"])
            try:
                self.assertEqual(q.get(timeout=5), "after")
            except queue.Empty:
                self.fail(f"round {rnd}: a new producer's message is stuck (qsize {q.qsize()})")
            except EOFError:
                self.fail(
                    f"round {rnd}: EOFError while a new producer was making its first put "
                    f"(qsize now {q.qsize()})"
                )
            self.join_ok(p2)
            with self.assertRaises(EOFError):
                q.get(timeout=5)

    def test_eof_when_spawn_child_killed_before_it_opened_the_queue(self):
        # The queue is pickled for the child at start(); the child is killed
        # before it unpickles it. Once the real producer exited and its
        # messages are consumed, the consumer must hear EOFError: the dead
        # child will never put.
        q = ipc_toolkit.Queue()
        producer = self.start("fork", _put_items, q, [1, 2, 3])
        never = self.start("spawn", _put_items, q, ["never"])
        os.kill(never.pid, signal.SIGKILL)
        never.join(10)
        self.assertEqual([q.get(timeout=20) for _ in range(3)], [1, 2, 3])
        self.join_ok(producer)
        try:
            q.get(timeout=5)
        except EOFError:
            pass
        except queue.Empty:
            self.fail("no EOFError: the killed child still counts as a producer to be")
        else:
            self.fail("got a message from nowhere")


def _put_items(q, items):
    for item in items:
        q.put(item)


def _put_forever(q, msg):
    while True:
        q.put(msg)


# ----- consumers killed ------------------------------------------------------


class KilledConsumerTest(ProcessTestCase):
    def test_consumer_killed_while_blocked_in_get(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue(maxsize=16)
                results = ipc_toolkit.Queue()
                m = ipc_toolkit.Manager()
                flags = m.dict()
                count = 40
                victim = self.start(method, _blocked_consumer, q, flags, "victim", results, count)
                survivor = self.start(method, _blocked_consumer, q, flags, "survivor", results, count)
                self.assertTrue(
                    wait_until(lambda: "victim" in flags and "survivor" in flags, 20),
                    "consumers did not start",
                )
                time.sleep(0.3)  # both are now blocked in get
                os.kill(victim.pid, signal.SIGKILL)
                victim.join(10)
                self.assertEqual(victim.exitcode, -signal.SIGKILL)
                # More than maxsize: puts must wait for the survivor, not for
                # the dead consumer.
                for i in range(count):
                    q.put(("item", i), timeout=10)
                name, got = results.get(timeout=20)
                self.assertEqual(name, "survivor")
                self.assertEqual(got, [("item", i) for i in range(count)])
                self.join_ok(survivor)
                # And the queue still works here.
                q.put("last")
                self.assertEqual(q.get(timeout=5), "last")
                self.assertTrue(q.empty())

    def test_repeated_consumer_kills(self):
        q = ipc_toolkit.Queue()
        m = ipc_toolkit.Manager()
        flags = m.dict()
        results = ipc_toolkit.Queue()
        for rnd in range(5):
            name = f"victim{rnd}"
            victim = self.start("fork", _blocked_consumer, q, flags, name, results, 1)
            self.assertTrue(wait_until(lambda: name in flags, 20))
            time.sleep(0.1)
            os.kill(victim.pid, signal.SIGKILL)
            victim.join(10)
        for i in range(10):
            q.put(i)
        self.assertEqual([q.get(timeout=5) for _ in range(10)], list(range(10)))
        with self.assertRaises(queue.Empty):
            results.get(timeout=0.1)


# ----- a Lock holder killed --------------------------------------------------


class KilledLockHolderTest(ProcessTestCase):
    def test_lock_taken_over(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                lock, held = m.Lock(), m.Event()
                p = self.start(method, _hold_lock_forever, lock, held)
                self.assertTrue(held.wait(20), "the child never took the lock")
                self.assertFalse(lock.acquire(timeout=0.2), "acquired a lock held by a live process")
                os.kill(p.pid, signal.SIGKILL)
                p.join(10)
                with Timer() as t:
                    got = lock.acquire(timeout=10)
                self.assertTrue(got, "a lock whose holder was killed was not taken over")
                self.assertLess(t.elapsed, 5.0)
                lock.release()
                # Usable as usual afterwards.
                self.assertTrue(lock.acquire(timeout=5))
                lock.release()

    def test_killed_while_blocked_waiting_for_lock(self):
        # (spawn: a fork child of a process holding the lock is another
        # matter, see test_manager.LockTest.test_fork_while_holding.)
        m = ipc_toolkit.Manager()
        lock, started, held = m.Lock(), m.Event(), m.Event()
        self.assertTrue(lock.acquire())
        try:
            waiter = self.start("spawn", _announce_then_hold, lock, started, held)
            self.assertTrue(started.wait(20))
            time.sleep(0.3)  # blocked in acquire
            self.assertFalse(held.is_set())
            self.assertTrue(waiter.is_alive(), f"the waiter exited ({waiter.exitcode}) instead of waiting")
            os.kill(waiter.pid, signal.SIGKILL)
            waiter.join(10)
        finally:
            lock.release()
        self.assertTrue(lock.acquire(timeout=5))
        lock.release()


# ----- a Pipe peer killed ----------------------------------------------------


class KilledPipePeerTest(ProcessTestCase):
    def test_recv_drains_then_eof_then_broken_pipe(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                sent = m.Event()
                parent_conn, child_conn = ipc_toolkit.Pipe()
                p = self.start(method, _send_then_hang, child_conn, 5, sent)
                child_conn.close()
                self.assertTrue(sent.wait(20))
                os.kill(p.pid, signal.SIGKILL)
                p.join(10)
                for i in range(5):
                    self.assertTrue(parent_conn.poll(5))
                    self.assertEqual(parent_conn.recv(), ("msg", i))
                with Timer() as t:
                    self.assertTrue(parent_conn.poll(10), "poll() did not report the dead peer")
                    with self.assertRaises(EOFError):
                        parent_conn.recv()
                self.assertLess(t.elapsed, 5.0)
                with self.assertRaises(BrokenPipeError):
                    parent_conn.send("to the dead")

    def test_eof_when_spawn_child_killed_before_it_opened_its_end(self):
        # multiprocessing: the child's copy of the end closes when it dies,
        # the parent closed its own, so recv raises EOFError.
        parent_conn, child_conn = ipc_toolkit.Pipe()
        p = self.start("spawn", _send_then_hang, child_conn, 1, None)
        child_conn.close()
        os.kill(p.pid, signal.SIGKILL)
        p.join(10)
        self.assertTrue(parent_conn.poll(5), "recv would wait forever for a dead child")
        with self.assertRaises(EOFError):
            parent_conn.recv()

    def test_blocked_recv_wakes_with_eof(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                m = ipc_toolkit.Manager()
                claimed = m.Event()
                parent_conn, child_conn = ipc_toolkit.Pipe()
                p = self.start(method, _claim_then_hang, child_conn, claimed)
                child_conn.close()
                self.assertTrue(claimed.wait(20))
                outcome = []

                def receive():
                    try:
                        outcome.append(parent_conn.recv())
                    except EOFError:
                        outcome.append("EOF")
                    except Exception as e:  # reported below
                        outcome.append(e)

                t = threading.Thread(target=receive, daemon=True)
                t.start()
                time.sleep(0.2)
                os.kill(p.pid, signal.SIGKILL)
                p.join(10)
                t.join(5)
                self.assertFalse(t.is_alive(), "recv() still blocked 5 s after the peer was killed")
                self.assertEqual(outcome, ["EOF"])

    def test_blocked_send_wakes_with_broken_pipe(self):
        m = ipc_toolkit.Manager()
        claimed = m.Event()
        parent_conn, child_conn = ipc_toolkit.Pipe(ring_bytes=64 * 1024)
        p = self.start("fork", _claim_then_hang, child_conn, claimed)
        child_conn.close()
        self.assertTrue(claimed.wait(20))
        outcome = []

        def fill():
            try:
                for _ in range(1000):
                    parent_conn.send_bytes(b"f" * 16_000)
                outcome.append("all sent")
            except BrokenPipeError:
                outcome.append("broken")
            except Exception as e:  # reported below
                outcome.append(e)

        t = threading.Thread(target=fill, daemon=True)
        t.start()
        time.sleep(0.3)  # the ring is full, the send blocked
        self.assertEqual(outcome, [])
        os.kill(p.pid, signal.SIGKILL)
        p.join(10)
        t.join(5)
        self.assertFalse(t.is_alive(), "send() still blocked 5 s after the peer was killed")
        self.assertEqual(outcome, ["broken"])


# ----- segments outlive the children that used them ------------------------


def _shm_exists(name):
    return os.path.exists(os.path.join(SHM, name))


class SegmentLifetimeTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        if not os.path.isdir(SHM):
            self.skipTest("no /dev/shm")

    def _check_alive(self, q, m, d, lst, tags):
        self.assertTrue(_shm_exists(q.name), f"queue segment {q.name} was removed")
        self.assertTrue(_shm_exists(m.name), f"manager segment {m.name} was removed")
        q.put("parent still works")
        self.assertEqual(q.get(timeout=5), "parent still works")
        d["parent"] = "ok"
        self.assertEqual(d["parent"], "ok")
        self.assertEqual(d["children"], len(tags))
        self.assertEqual(sorted(lst), sorted(tags))

    def test_children_exit_without_unlinking(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue()
                m = ipc_toolkit.Manager()
                d, lst = m.dict(), m.list()
                tags = []
                for k in range(2):
                    tag = f"{method}-{k}"
                    p = self.start(method, _use_and_exit, q, d, lst, tag)
                    self.assertEqual(q.get(timeout=20), ("from", tag))
                    self.join_ok(p)
                    self.assertEqual(d[tag], p.pid)
                    tags.append(tag)
                    self._check_alive(q, m, d, lst, tags)

    def test_killed_child_does_not_unlink(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                q = ipc_toolkit.Queue()
                m = ipc_toolkit.Manager()
                d, lst, ready = m.dict(), m.list(), m.Event()
                p = self.start(method, _open_and_hang, q, d, ready)
                self.assertTrue(ready.wait(20))
                os.kill(p.pid, signal.SIGKILL)
                p.join(10)
                self.assertEqual(q.get(timeout=5), ("hanging", p.pid))
                d["children"] = 0
                self._check_alive(q, m, d, lst, [])
                # A new child still opens them by name.
                p2 = self.start(method, _use_and_exit, q, d, lst, "after")
                self.assertEqual(q.get(timeout=20), ("from", "after"))
                self.join_ok(p2)
                self._check_alive(q, m, d, lst, ["after"])

    def test_pipe_survives_child_exit(self):
        for method in START_METHODS:
            with self.subTest(method=method):
                a, b = ipc_toolkit.Pipe()
                m = ipc_toolkit.Manager()
                sent = m.Event()
                p = self.start(method, _send_then_hang, b, 2, sent)
                self.assertTrue(sent.wait(20))
                os.kill(p.pid, signal.SIGKILL)
                p.join(10)
                self.assertTrue(_shm_exists(a.name), "pipe segment removed")
                self.assertEqual([a.recv(), a.recv()], [("msg", 0), ("msg", 1)])

    def test_children_keep_queue_after_parent_drops_it(self):
        # multiprocessing: a queue handed to children at start() stays usable
        # by them after the parent drops its own reference (the children hold
        # it). The parent here keeps only the result queue.
        q = ipc_toolkit.Queue()
        out = ipc_toolkit.Queue()
        relay = self.start("spawn", _relay, q, out, 3)
        feeder = self.start("spawn", _use_and_exit_queue_only, q, 3)
        del q
        got = []
        deadline = time.monotonic() + 20
        while len(got) < 3 and time.monotonic() < deadline:
            for p in (relay, feeder):
                if p.exitcode not in (None, 0):
                    self.fail(f"{p.name} failed ({p.exitcode}): could it not open the queue?")
            try:
                got.append(out.get(timeout=0.1))
            except queue.Empty:
                pass
        self.assertEqual(got, [("fed", i) for i in range(3)])
        self.join_ok(feeder)
        self.join_ok(relay)


def _use_and_exit_queue_only(q, count):
    for i in range(count):
        q.put(("fed", i))


if __name__ == "__main__":
    unittest.main()
