"""A small real HTTP server speaking enough of the OpenAI chat-completions
protocol for the official `openai` client, with scripted replies and injected
faults. Used instead of mocking the client, so the tests exercise the real
HTTP path (status codes, headers, timeouts, bodies).

    with FakeOpenAIServer() as srv:
        srv.script("a photo of {}.", Fault.status(429, retry_after=0), Fault.hang(2.0))
        ... LLMSettings(base_url=srv.base_url) ...
        srv.requests  # what it received (JSON bodies, paths, auth header)

Replies: a queue (script) first, then `responder(body) -> item` when the queue
is empty. An item is a str (reply text), a dict (raw JSON body to send), a
Fault, or a callable(body) -> item.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Fault:
    kind: str  # "status" | "hang" | "garbage" | "raw" | "reset" | "trickle"
    code: int = 500
    message: str = ""
    retry_after: float | None = None
    seconds: float = 0.0
    headers: dict | None = None
    data: bytes = b""

    @staticmethod
    def status(code: int, message: str = "", retry_after: float | None = None,
               headers: dict | None = None) -> "Fault":
        return Fault("status", code=code, message=message or f"injected HTTP {code}", retry_after=retry_after,
                     headers=headers)

    @staticmethod
    def raw(data: bytes) -> "Fault":
        """Send these bytes as the whole response (status line included), then close."""
        return Fault("raw", data=data)

    @staticmethod
    def reset(after: bytes = b"") -> "Fault":
        """Send `after` (e.g. half the headers), then reset the connection (RST)."""
        return Fault("reset", data=after)

    @staticmethod
    def trickle(text: str, seconds: float) -> "Fault":
        """A valid reply whose body arrives a few bytes at a time over `seconds`."""
        return Fault("trickle", message=text, seconds=seconds)

    @staticmethod
    def hang(seconds: float) -> "Fault":
        return Fault("hang", seconds=seconds)

    @staticmethod
    def garbage() -> "Fault":
        return Fault("garbage")


_ERROR_TYPES = {
    400: "invalid_request_error", 401: "invalid_api_key", 403: "permission_denied",
    404: "model_not_found", 422: "invalid_request_error", 429: "rate_limit_exceeded",
}


_WORDS = ("clear", "short", "precise", "typical", "simple", "direct", "spoken", "plain")


def instruction_style_responder(body: dict) -> str:
    """Answers an optimizer instruction (maao/instructions.py) the way chat
    models of its style tend to, as a pure function of the request (so a
    recording replays exactly):

    - "gpt" style (paper Fig. 3: one user message): a numbered list of three
      new templates, as asked;
    - "llama2" style (Fig. 5: a system message first): a preamble, quoted
      templates with explanations after a dash, one of them a label
      ("Template: ..."), one an echo of the best template shown, a closing line
      -- what the paper's Llama-2 post-processing exists for.
    """
    messages = body.get("messages") or []
    text = "\n".join(str(m.get("content", "")) for m in messages)
    shown = re.findall(r"^Templates: (.*)$", text, re.M)
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    a, b, c = (_WORDS[digest[i] % len(_WORDS)] for i in range(3))
    if messages and messages[0].get("role") == "system":
        echo = shown[-1] if shown else "a photo of {}"
        return (f"Sure! Here are three new prompts that could work better:\n\n"
                f"1. \"a {a} request about {{}}\" - This keeps the class at the end.\n"
                f"2. \"{echo}\"\n"
                f"3. Template: a {b} message on {{}}\n\n"
                f"I hope these prompts help you get a lower loss!")
    return f"1. a {a} request about {{}}.\n2. a {b} message asking for {{}}.\n3. a {c} example of {{}}."


def completion_body(text: str, model: str, n: int, fingerprint: str = "fp_fake") -> dict:
    return {
        "id": f"chatcmpl-fake-{n}",
        "object": "chat.completion",
        "created": 1700000000 + n,
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class FakeOpenAIServer:
    def __init__(self, responder: Callable[[dict], Any] | None = None, model_snapshot: str = "fake-model-2024-01-01"):
        self.requests: list[dict] = []
        self.model_snapshot = model_snapshot
        self.responder = responder or self.default_responder
        self._queue: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # -------------------------------------------------------------- API
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *items: Any) -> None:
        with self._lock:
            self._queue.extend(items)

    @property
    def chat_requests(self) -> list[dict]:
        return [r for r in self.requests if r["path"].endswith("/chat/completions")]

    def default_responder(self, body: dict) -> str:
        n = len(self.chat_requests)
        return f"1. a photo of {{}} number {n}.\n2. a picture of {{}}.\n3. an image of {{}}."

    def start(self) -> "FakeOpenAIServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._stop.is_set():
            return  # idempotent: a test may stop it before the fixture does
        self._stop.set()  # releases hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --------------------------------------------------------- internals
    def _next_item(self, body: dict) -> Any:
        with self._lock:
            item = self._queue.pop(0) if self._queue else None
        if item is None:
            item = self.responder(body)
        while callable(item) and not isinstance(item, Fault):
            item = item(body)
        return item

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: simple and robust

            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status: int, payload, content_type="application/json", headers=None):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.requests.append({"method": "GET", "path": self.path, "body": None,
                                        "authorization": self.headers.get("Authorization")})
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": server.model_snapshot, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_unparsed": raw.decode("utf-8", "replace")}
                server.requests.append({"method": "POST", "path": self.path, "body": body,
                                        "authorization": self.headers.get("Authorization")})
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                item = server._next_item(body)
                if isinstance(item, Fault):
                    if item.kind == "hang":
                        server._stop.wait(item.seconds)
                        return  # close without answering
                    if item.kind == "garbage":
                        self._send(200, b"<html><body>502 Bad Gateway (proxy)</body></html>", "text/html")
                        return
                    if item.kind == "raw":
                        self.wfile.write(item.data)
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    if item.kind == "reset":
                        import socket
                        import struct

                        self.wfile.write(item.data)
                        self.wfile.flush()
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        self.connection.close()
                        return
                    if item.kind == "trickle":
                        data = json.dumps(completion_body(item.message, server.model_snapshot,
                                                          len(server.chat_requests))).encode()
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        pieces = [data[i:i + 16] for i in range(0, len(data), 16)]
                        for piece in pieces:
                            if server._stop.wait(item.seconds / len(pieces)):
                                return
                            try:
                                self.wfile.write(piece)
                                self.wfile.flush()
                            except OSError:
                                return  # the client gave up
                        return
                    headers = dict(item.headers or {})
                    if item.retry_after is not None:
                        headers["Retry-After"] = f"{item.retry_after:g}"
                    err = {"error": {"message": item.message, "type": _ERROR_TYPES.get(item.code, "server_error"),
                                     "code": item.code}}
                    self._send(item.code, err, headers=headers)
                    return
                if isinstance(item, dict):
                    self._send(200, item)
                    return
                n = len(server.chat_requests)
                self._send(200, completion_body(str(item), server.model_snapshot, n))

        return Handler


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
