# From seed 000 ("Using the multiprocessing Module", Python Advance ch. 7, 3.1), basic example.
# Uses no Queue/Pipe/Manager; only change: the seed had no `if __name__ == "__main__":`
# guard, added here (the process-creating lines indented under it) so spawn/forkserver work.
from multiprocessing import Process
import os
def compute():
    print(f"Running on process ID: {os.getpid()}")


if __name__ == "__main__":
    p1 = Process(target=compute)
    p2 = Process(target=compute)
    p1.start()
    p2.start()
    p1.join()
    p2.join()
