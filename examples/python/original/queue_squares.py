import time
from multiprocessing import Process, Queue


def square(li, q):
    for x in li:
        square = x * x
        q.put(square)


if __name__ == "__main__":
    li = range(0, 5)
    q = Queue()
    process = Process(target=square, args=(li, q))
    process.start()
    process.join()
    while not q.empty():
        print(q.get())
