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
