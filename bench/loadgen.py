"""A small HTTP/1.1 load generator on asyncio streams (uvloop when installed): keep-alive
connections, pre-built request bytes, no HTTP library in the measured path, so the
client costs the shared CPUs as little as a Python client can.

closed_loop(): N connections send back to back for a fixed time (throughput).
open_loop(): requests start on a fixed schedule whatever the server does (latency at a
given rate); latency counts from the scheduled start, so a slow server is not hidden by
a client that waits for it (no coordinated omission).
"""

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

# uvloop's loop.time() has millisecond resolution; latencies need better.
clock = time.perf_counter


# uvicorn closes keep-alive connections idle for 5 s; retire ours before that.
IDLE_LIMIT = 4.0


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.used = clock()

    @classmethod
    async def open(cls, host: str, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        self.used = clock()
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None:
            return status, await self.reader.readexactly(length)
        if chunked:
            body = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    return status, body
                body += chunk[:-2]
        raise RuntimeError("response without Content-Length or chunked encoding")

    def close(self) -> None:
        self.writer.close()


def post(host: str, port: int, path: str, token: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Result:
    seconds: float
    latencies: list[float] = field(default_factory=list)  # ms
    statuses: Counter = field(default_factory=Counter)
    bodies: list[bytes] = field(default_factory=list)
    client_cpu: float = 0.0
    server_cpu: float = 0.0  # filled in by the caller: CPU seconds the server side used

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def closed_loop(host, port, make: Callable[[], bytes], *, connections: int, seconds: float, keep_bodies=0) -> Result:
    result = Result(seconds)
    cpu0 = time.process_time()
    conns = [await Connection.open(host, port) for _ in range(connections)]
    start = clock()
    stop = start + seconds

    async def worker(conn: Connection):
        while clock() < stop:
            raw = make()
            t0 = clock()
            status, body = await conn.send(raw)
            result.latencies.append((clock() - t0) * 1000)
            result.statuses[status] += 1
            if len(result.bodies) < keep_bodies:
                result.bodies.append(body)

    await asyncio.gather(*(worker(c) for c in conns))
    result.seconds = clock() - start
    result.client_cpu = time.process_time() - cpu0
    for c in conns:
        c.close()
    return result


async def open_loop(host, port, make: Callable[[], bytes], *, rate: float, seconds: float, max_connections=256) -> Result:
    result = Result(seconds)
    cpu0 = time.process_time()
    idle: list[Connection] = [await Connection.open(host, port) for _ in range(8)]
    opened = len(idle)
    slots = asyncio.Semaphore(max_connections)

    async def one(target: float):
        nonlocal opened
        async with slots:
            conn = idle.pop() if idle else None
            if conn is None or clock() - conn.used > IDLE_LIMIT:
                if conn is not None:
                    conn.close()
                conn = await Connection.open(host, port)
                opened += 1
            status, _body = await conn.send(make())
            result.latencies.append((clock() - target) * 1000)
            result.statuses[status] += 1
            idle.append(conn)

    start = clock() + 0.05
    tasks = []
    for i in range(int(rate * seconds)):
        target = start + i / rate
        delay = target - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(target)))
    await asyncio.gather(*tasks)
    result.seconds = clock() - start
    result.client_cpu = time.process_time() - cpu0
    for c in idle:
        c.close()
    return result


def run(coro):
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)
