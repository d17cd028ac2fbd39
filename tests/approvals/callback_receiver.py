"""A local HTTP server standing in for an agent's callback endpoint."""

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from approvals.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, callback_verify


@dataclass
class Delivery:
    at: float  # time.time() when the request arrived
    body: bytes
    headers: dict
    signature_ok: bool


class CallbackReceiver:
    """Answers each POST with the next scripted status (then 200); 'sleep:N' stalls N seconds."""

    def __init__(self, secret: str = "", script: list | None = None):
        self.secret = secret
        self.script = list(script or [])
        self.deliveries: list[Delivery] = []
        self.arrivals: list[float] = []  # time.time() of each POST, noted before its scripted step
        self.got = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.got:
                    receiver.arrivals.append(arrived)
                    receiver.got.notify_all()
                step = receiver.script.pop(0) if receiver.script else 200
                if isinstance(step, str) and step.startswith("sleep:"):
                    time.sleep(float(step.split(":")[1]))
                    step = 200
                with receiver.got:
                    receiver.deliveries.append(Delivery(
                        arrived, body, headers,
                        callback_verify(receiver.secret, body, headers.get(SIGNATURE_HEADER.lower(), ""),
                                        now=time.time()),
                    ))
                    receiver.got.notify_all()
                self.send_response(step)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/airlock"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_for_arrivals(self, count: int, timeout: float) -> list[float]:
        """Wait until `count` POSTs arrived (a held one counts while it is still held)."""
        with self.got:
            self.got.wait_for(lambda: len(self.arrivals) >= count, timeout)
            return list(self.arrivals)

    def wait_for(self, count: int, timeout: float) -> list[Delivery]:
        with self.got:
            self.got.wait_for(lambda: len(self.deliveries) >= count, timeout)
            return list(self.deliveries)


__all__ = ["CallbackReceiver", "Delivery", "SIGNATURE_HEADER", "TIMESTAMP_HEADER"]
