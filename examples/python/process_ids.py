# From seed 002 (BlogsDope, "Introduction to Multiprocessing and Process in Python"),
# parent and child pids. Uses no Queue/Pipe/Manager: copied unchanged.
# Slow by design: the child sleeps 1 s.
import time
from multiprocessing import Process
import os


def test():
    print("start test process")
    time.sleep(1)
    print(f"Id of the child process in the test function {os.getpid()}")
    print("end test process")


if __name__ == "__main__":
    print(f"Id of the parent process {os.getpid()}")
    process = Process(target=test)
    process.start()

    print(f"Id of the child process {process.pid}")
    process.join()
