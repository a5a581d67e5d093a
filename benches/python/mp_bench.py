#!/usr/bin/env python3
"""Python multiprocessing rows of ipc-bench (see benches/METHOD.md).

usage: mp_bench.py ROW COUNT [--toolkit]

Runs one sample of ROW with COUNT timed operations after an untimed
warm-up, and prints one number on stdout in the row's RESULT unit. With
--toolkit, the same code runs with ipc_toolkit's Queue, Pipe and Manager in
place of multiprocessing's (the lines that create them are the only change,
as for a user switching; Process stays multiprocessing's):

  queue_tput_int    msgs_per_s  a child put()s ints into a multiprocessing.Queue
                                (maxsize 256); the parent get()s and checks them
  pipe_pingpong     one_way_ns  Pipe() (duplex): the parent send()s an int, the
                                child recv()s it and send()s it + 1 back
  manager_dict_get  ops_per_s   Manager().dict() of 1000 int keys; the parent
                                reads d[key] through the proxy
  pool_map          secs        Pool(2).map(square, range(COUNT)), pool started
                                and warmed up before timing
  queue_tput_1MiB   msgs_per_s  a child put()s the same 1 MiB bytes object
                                (maxsize 16); the parent get()s and checks length
  pickle_int        msgs_per_s  pickle.loads(pickle.dumps(i)) in one process:
                                the bound of any queue that pickles each int

Only the timed part is measured: interpreter start, imports and starting
processes (children, manager, pool) are outside it. The default start method
of the platform is used. Exit status is non-zero on any error.
"""

import multiprocessing
import pickle
import sys
import time

# The module whose Queue, Pipe and Manager the rows use (see --toolkit).
mp = multiprocessing


def warmup_for(count):
    # The suite's rule: a tenth of the timed operations, at least 100.
    return max(count // 10, 100)


def _produce(q, total):
    for i in range(total):
        q.put(i)


def queue_tput_int(count):
    warm = warmup_for(count)
    total = warm + count
    q = mp.Queue(maxsize=256)
    p = multiprocessing.Process(target=_produce, args=(q, total), daemon=True)
    p.start()
    for i in range(warm):
        if q.get() != i:
            raise SystemExit("queue: out of order")
    t0 = time.perf_counter()
    for i in range(warm, total):
        if q.get() != i:
            raise SystemExit("queue: out of order")
    elapsed = time.perf_counter() - t0
    p.join()
    return count / elapsed


def _echo(conn, total):
    for _ in range(total):
        conn.send(conn.recv() + 1)


def pipe_pingpong(count):
    warm = min(warmup_for(count), 200)
    mine, theirs = mp.Pipe()
    p = multiprocessing.Process(target=_echo, args=(theirs, warm + count), daemon=True)
    p.start()
    theirs.close()
    turn = 0

    def step():
        nonlocal turn
        mine.send(turn)
        if mine.recv() != turn + 1:
            raise SystemExit("pipe: wrong reply")
        turn += 2

    for _ in range(warm):
        step()
    t0 = time.perf_counter()
    for _ in range(count):
        step()
    elapsed = time.perf_counter() - t0
    p.join()
    return elapsed * 1e9 / (2 * count)


KEYS = 1000


def manager_dict_get(count):
    with mp.Manager() as manager:
        d = manager.dict({k: k * 2 for k in range(KEYS)})
        for i in range(warmup_for(count)):
            d[i % KEYS]
        t0 = time.perf_counter()
        for i in range(count):
            if d[i % KEYS] != (i % KEYS) * 2:
                raise SystemExit("dict: wrong value")
        elapsed = time.perf_counter() - t0
    return count / elapsed


def square(x):
    return x * x


def pool_map(count):
    with multiprocessing.Pool(2) as pool:
        pool.map(square, range(1000))
        t0 = time.perf_counter()
        out = pool.map(square, range(count))
        elapsed = time.perf_counter() - t0
    if len(out) != count or out[-1] != (count - 1) ** 2:
        raise SystemExit("pool: wrong result")
    return elapsed


MIB = 1 << 20


def _produce_mib(q, total):
    data = bytes(range(256)) * (MIB // 256)
    for _ in range(total):
        q.put(data)


def queue_tput_1MiB(count):
    warm = min(warmup_for(count), 20)
    total = warm + count
    q = mp.Queue(maxsize=16)
    p = multiprocessing.Process(target=_produce_mib, args=(q, total), daemon=True)
    p.start()
    for _ in range(warm):
        if len(q.get()) != MIB:
            raise SystemExit("queue: wrong length")
    t0 = time.perf_counter()
    for _ in range(count):
        if len(q.get()) != MIB:
            raise SystemExit("queue: wrong length")
    elapsed = time.perf_counter() - t0
    p.join()
    return count / elapsed


def pickle_int(count):
    dumps, loads = pickle.dumps, pickle.loads
    for i in range(warmup_for(count)):
        loads(dumps(i, 5))
    t0 = time.perf_counter()
    for i in range(count):
        if loads(dumps(i, 5)) != i:
            raise SystemExit("pickle: wrong value")
    elapsed = time.perf_counter() - t0
    return count / elapsed


ROWS = {
    "queue_tput_int": queue_tput_int,
    "pipe_pingpong": pipe_pingpong,
    "manager_dict_get": manager_dict_get,
    "pool_map": pool_map,
    "queue_tput_1MiB": queue_tput_1MiB,
    "pickle_int": pickle_int,
}


def main():
    global mp
    args = sys.argv[1:]
    if args[2:] == ["--toolkit"]:
        import ipc_toolkit

        mp = ipc_toolkit
        args = args[:2]
    if len(args) != 2 or args[0] not in ROWS:
        raise SystemExit(__doc__)
    value = ROWS[args[0]](int(args[1]))
    print(repr(float(value)))


if __name__ == "__main__":
    main()
