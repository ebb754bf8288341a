import time


def handler(event):
    sleep = event.get("sleep")
    begin = time.perf_counter()
    time.sleep(sleep)
    slept = time.perf_counter() - begin
    # `result` is the requested time, as in SeBS; the measured time lets the
    # caller check that the sleep really happened.
    return {"result": sleep, "measurement": {"compute_time": slept * 1e6}}
