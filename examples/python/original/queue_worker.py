import multiprocessing

def worker(q):
    item = q.get()
    print(f"Worker got {item}")

if __name__ == "__main__":
    q = multiprocessing.Queue()
    p1 = multiprocessing.Process(target=worker, args=(q,))
    p1.start()
    q.put("Hello")
    p1.join()
