"""Server CPU time per single-customer request of two `cardseg serve` binaries, side by side
(NOT run in CI): what per-request work such as the access log costs, measured as the server
process's own CPU time (utime + stime from /proc/PID/stat), which a slow Python client does not
distort the way it distorts requests per second.

    python3 bench/serve_cpu.py BASELINE_BIN NEW_BIN MODEL_JSON [REQUESTS] [ROUNDS]

Both servers log to a pipe that is read (as a log collector would), on 127.0.0.1 only.
Prints per round and the median ratio NEW / BASELINE.
"""
import http.client
import os
import statistics
import subprocess
import sys
import threading

BODY = b'{"CUST_ID":"c1","BALANCE":100,"PURCHASES":20,"CREDIT_LIMIT":3000}'


def measure(binary, model, n):
    p = subprocess.Popen([binary, "serve", "--model", model, "--addr", "127.0.0.1:0", "--drain-seconds", "0"]
                         if "--drain-seconds" in subprocess.run([binary, "serve", "--help"], capture_output=True, text=True).stdout
                         else [binary, "serve", "--model", model, "--addr", "127.0.0.1:0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
    port = int(p.stdout.readline().strip().rsplit(":", 1)[1])

    def ticks():
        f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])

    def worker(k):
        c = http.client.HTTPConnection("127.0.0.1", port)
        for _ in range(k):
            c.request("POST", "/v1/score", BODY, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            assert r.status == 200, r.status

    worker(500)  # warm-up
    t0 = ticks()
    threads = [threading.Thread(target=worker, args=(n // 4,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    used = (ticks() - t0) / os.sysconf("SC_CLK_TCK")
    p.terminate()
    p.wait(timeout=60)
    return used / n * 1e6


def main():
    base, new, model = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    ratios = []
    for i in range(rounds):
        a = measure(base, model, n)
        b = measure(new, model, n)
        ratios.append(b / a)
        print(f"round {i + 1}: baseline {a:.1f} us/request, new {b:.1f} us/request, new/baseline {b / a:.3f}")
    print(f"median new/baseline: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
