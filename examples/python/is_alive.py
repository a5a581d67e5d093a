# From seed 002 (BlogsDope, "Introduction to Multiprocessing and Process in Python"),
# process.is_alive(). Uses no Queue/Pipe/Manager: copied unchanged.
# Slow by design: the child sleeps 1 s.
import time
from multiprocessing import Process
import os


def test():
    print("start test process")
    time.sleep(1)
    print("end test process")


if __name__ == "__main__":
    process = Process(target=test)
    print(f"The process is alive:{process.is_alive()}")
    process.start()
    print(f"The process is alive:{process.is_alive()}")
    process.join()
    print(f"The process is alive:{process.is_alive()}")
