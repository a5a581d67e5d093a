# From seed 002 (BlogsDope, "Introduction to Multiprocessing and Process in Python"),
# the serial version ("Single processing in Python"). Uses no Queue/Pipe/Manager: copied unchanged.
# Slow by design: five 1 s sleeps, one after the other (about 5 s).
import time


def square(x):
    print(f"start process:{x}")
    square = x * x
    print(f"square {x}:{square}")
    time.sleep(1)
    print(f"end process{x}")


starttime = time.time()
for i in range(0, 5):
    square(i)


endtime = time.time()
print(f"Time taken {endtime-starttime} seconds")
