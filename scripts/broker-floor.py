#!/usr/bin/env python3
"""The dev broker's own latency floor, for `make bench` scenario 3k.

kcat produces COUNT messages at RATE per second to a fresh topic and another kcat consumes it;
prints the produce → consume latency (one hop; a Cashier order makes two: orders.created to the
worker, payments.results to the publisher). Usage: broker-floor.py BROKERS COUNT RATE
"""
import subprocess
import sys
import threading
import time

brokers, count, rate = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
topic = f"bench.floor.{int(time.time())}"
settings = ["-X", "fetch.wait.max.ms=5"]

# Create the topic with one message, so the consumer can start at its beginning.
subprocess.run(["kcat", "-P", "-b", brokers, "-t", topic], input=b"warmup\n", check=True, stderr=subprocess.DEVNULL)
consumer = subprocess.Popen(
    ["kcat", "-C", "-b", brokers, "-t", topic, "-o", "beginning", "-c", str(count + 1), "-f", "%T %s\\n", "-u", *settings],
    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
latencies = []


def consume():
    for line in consumer.stdout:
        received = time.time() * 1000
        stamp, _, value = line.decode().strip().partition(" ")
        if value.startswith("m"):
            latencies.append(received - int(stamp))


reader = threading.Thread(target=consume)
reader.start()
time.sleep(2)
producer = subprocess.Popen(["kcat", "-P", "-b", brokers, "-t", topic, "-X", "linger.ms=1"], stdin=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, bufsize=0)
start = time.time()
for i in range(count):
    delay = start + i / rate - time.time()
    if delay > 0:
        time.sleep(delay)
    producer.stdin.write(b"m%d\n" % i)
producer.stdin.close()
producer.wait()
reader.join(timeout=60)
consumer.kill()
latencies.sort()
if not latencies:
    print("no messages came back")
    sys.exit(1)
pick = lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))])
print(f"broker floor: {len(latencies)} of {count} messages, one hop produce → consume: p50 {pick(0.5)} ms · p99 {pick(0.99)} ms")
