# From seed 002 (BlogsDope, "Introduction to Multiprocessing and Process in Python"),
# "Multiprocessing in Python" (five processes). Uses no Queue/Pipe/Manager: copied unchanged.
# Slow by design: sleeps 1 s in each process (about 1 s in all).
import time
from multiprocessing import Process


def square(x):
    print(f"start process:{x}")
    square = x * x
    print(f"square {x}:{square}")
    time.sleep(1)
    print(f"end process:{x}")


if __name__ == "__main__":
    starttime = time.time()
    processlist = []
    for i in range(0, 5):
        process = Process(target=square, args=(i,))
        processlist.append(process)
        process.start()

    for process in processlist:
        process.join()
    endtime = time.time()
    print(f"Time taken {endtime-starttime} seconds")
