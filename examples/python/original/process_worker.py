import multiprocessing

def worker():
    """worker function"""
    print("Starting process")
    # Do some work
    print("Exiting process")

if __name__ == "__main__":
    p = multiprocessing.Process(target=worker)
    p.start()
    p.join()
