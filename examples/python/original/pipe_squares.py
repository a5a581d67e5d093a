import time
from multiprocessing import Process, Pipe


def square(li, con2):
    for x in li:
        square = x * x
        con2.send(square)


if __name__ == "__main__":
    li = range(0, 5)
    con1, con2 = Pipe()
    process = Process(target=square, args=(li, con2))
    process.start()

    for i in range(0, 5):
        print(con1.recv())
    process.join()
