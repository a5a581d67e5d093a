from multiprocessing import Process
import os
def compute():
    print(f"Running on process ID: {os.getpid()}")
p1 = Process(target=compute)
p2 = Process(target=compute)
p1.start()
p2.start()
p1.join()
p2.join()
