"""Zero copy from Python: bytes and numpy arrays read where they lie in the
queue's shared memory (``Queue.get_shared``), numpy arrays sent with
pickle-5 out-of-band buffers (their data copied into the slot once, never
into the pickle), and receives into a caller's buffer."""

import gc
import multiprocessing
import os
import unittest

import ipc_toolkit

from _support import numpy, numpy_test, require_numpy


def _send_array(q, n):
    q.put(numpy.arange(n, dtype=numpy.float64))


def _send_bytes(q, data):
    q.put(data)


# Skipped only where numpy is missing and CI is not "true" (numpy is an
# optional dependency of the package, not of its users); under CI=true the
# tests run and fail without it, and .ci/run installs it.
@numpy_test
class NumpyTest(unittest.TestCase):
    def setUp(self):
        require_numpy(self)

    def test_an_array_goes_out_of_band_not_into_the_pickle(self):
        q = ipc_toolkit.Queue(4, ring_bytes=32 << 20)
        a = numpy.arange(1_000_000, dtype=numpy.float64)
        q.put(a)
        frame = q.get_bytes(timeout=5)
        self.assertEqual(frame[:1], b"O", "an array must travel as an out-of-band frame")
        # The data is in the frame once: the frame is the array's bytes plus
        # a pickle of a few hundred bytes, not two copies.
        self.assertLess(len(frame), a.nbytes + 4096)
        self.assertIn(a.tobytes()[:4096], frame)

    def test_get_rebuilds_a_writable_copy(self):
        q = ipc_toolkit.Queue(4, ring_bytes=32 << 20)
        a = numpy.arange(100_000, dtype=numpy.int32).reshape(100, 1000)
        q.put(a)
        b = q.get(timeout=5)
        numpy.testing.assert_array_equal(a, b)
        self.assertTrue(b.flags.writeable)
        b[0, 0] = 7  # its own memory

    def test_get_shared_reads_the_array_in_place_and_holds_its_slot(self):
        q = ipc_toolkit.Queue(2, ring_bytes=32 << 20)
        a = numpy.arange(1_000_000, dtype=numpy.float64)
        q.put(a)
        s = q.get_shared(timeout=5)
        numpy.testing.assert_array_equal(a, s)
        self.assertFalse(s.flags.writeable, "a view of shared memory is read-only")
        # The slot stays held while the array lives: with 2 slots, one more
        # message fits and the next finds the held slot in its way.
        q.put(1, timeout=1)
        self.assertEqual(q.get(timeout=1), 1)
        with self.assertRaises(Exception):
            q.put(2, timeout=0.2)
        part = s[10:20]
        del s
        gc.collect()
        with self.assertRaises(Exception):
            q.put(2, timeout=0.2)  # a slice of it still holds the slot
        numpy.testing.assert_array_equal(part, a[10:20])
        del part
        gc.collect()
        q.put(2, timeout=1)
        self.assertEqual(q.get(timeout=1), 2)

    def test_non_contiguous_arrays_and_arrays_in_containers(self):
        q = ipc_toolkit.Queue(8, ring_bytes=32 << 20)
        a = numpy.arange(10_000, dtype=numpy.float32)
        q.put(a[::3])
        q.put({"x": a, "y": [a[:5], 1]})
        numpy.testing.assert_array_equal(q.get(timeout=5), a[::3])
        d = q.get(timeout=5)
        numpy.testing.assert_array_equal(d["x"], a)
        numpy.testing.assert_array_equal(d["y"][0], a[:5])
        self.assertEqual(d["y"][1], 1)

    def test_an_array_from_another_process(self):
        for method in ("fork", "spawn"):
            with self.subTest(method=method):
                ctx = multiprocessing.get_context(method)
                q = ipc_toolkit.Queue(4, ring_bytes=32 << 20)
                p = ctx.Process(target=_send_array, args=(q, 500_000))
                p.start()
                try:
                    s = q.get_shared(timeout=20)
                    numpy.testing.assert_array_equal(s, numpy.arange(500_000, dtype=numpy.float64))
                finally:
                    p.join(20)
                self.assertEqual(p.exitcode, 0)


class BytesTest(unittest.TestCase):
    def test_get_shared_gives_a_read_only_view_over_the_message(self):
        q = ipc_toolkit.Queue(2)
        q.put(b"hello shared memory")
        v = q.get_shared(timeout=5)
        self.assertIsInstance(v, memoryview)
        self.assertTrue(v.readonly)
        self.assertEqual(bytes(v), b"hello shared memory")
        with self.assertRaises(TypeError):
            v[0] = 1
        q.put(b"x", timeout=1)
        self.assertEqual(q.get(timeout=1), b"x")
        with self.assertRaises(Exception):
            q.put(b"y", timeout=0.2)  # v holds its slot
        v.release()
        gc.collect()
        q.put(b"y", timeout=1)

    def test_get_shared_of_other_objects_decodes_them(self):
        q = ipc_toolkit.Queue(4)
        for obj in (1, "two", (3, [4])):
            q.put(obj)
            self.assertEqual(q.get_shared(timeout=5), obj)
        q.put(b"z")  # every slot was freed
        self.assertEqual(bytes(q.get_shared(timeout=5)), b"z")

    def test_a_view_dropped_on_another_thread_frees_its_slot(self):
        import threading

        q = ipc_toolkit.Queue(2)
        q.put(b"a")
        box = [q.get_shared(timeout=5)]
        t = threading.Thread(target=box.clear)
        t.start()
        t.join()
        gc.collect()
        for i in range(4):
            q.put(i, timeout=1)
            self.assertEqual(q.get(timeout=1), i)

    def test_bytes_from_another_process(self):
        ctx = multiprocessing.get_context("spawn")
        q = ipc_toolkit.Queue(2)
        data = os.urandom(1 << 20)
        p = ctx.Process(target=_send_bytes, args=(q, data))
        p.start()
        try:
            v = q.get_shared(timeout=20)
            self.assertEqual(bytes(v), data)
        finally:
            p.join(20)

    def test_receive_into_a_buffer(self):
        q = ipc_toolkit.Queue(4)
        q.put_bytes(b"abcdef")
        buf = bytearray(10)
        self.assertEqual(q.get_into(buf, timeout=1), 6)
        self.assertEqual(bytes(buf[:6]), b"abcdef")
        a, b = ipc_toolkit.Pipe()
        a.send_bytes(b"123")
        buf = bytearray(8)
        self.assertEqual(b.recv_bytes_into(buf, 2), 3)
        self.assertEqual(bytes(buf), b"\0\x00123\0\0\0")


if __name__ == "__main__":
    unittest.main()
