import multiprocessing

def worker(d):
    d["x"] = "hi"

if __name__ == "__main__":
    manager = multiprocessing.Manager()
    d = manager.dict()
    p = multiprocessing.Process(target=worker, args=(d,))
    p.start()
    p.join()
    print(d)
