"""The HTTP side: a threaded stdlib server on 127.0.0.1, plus `run_emulator` and `serve`.

HTTP/1.1 with keep-alive (pooled clients such as httpx) and `Connection: close` (the official
`sendgrid` client, one request per connection) both work.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from newsletter.emulator.config import EmulatorConfig
from newsletter.emulator.control import control, parse_query, v3
from newsletter.emulator.core import Emulator, Reply, error_reply
from newsletter.emulator.log import MessageLog

MAIL_SEND = "/v3/mail/send"
_DRAIN_LIMIT = 256 * 1024 * 1024  # beyond this an oversized body is not read, the socket closes


class _Server(ThreadingHTTPServer):
    # Daemon handler threads (a forgotten server never blocks interpreter exit); `close`
    # still waits for every connection's handler to finish.
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, port: int, emulator: Emulator) -> None:
        self.emulator = emulator
        self.stopping = threading.Event()
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet on resets
        pass

    def close_connections(self, timeout: float = 10.0) -> None:
        """Wake every handler blocked on its socket, then wait until all have finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.conn_lock:
                conns = list(self.connections)
            if not conns:
                return
            for conn in conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            time.sleep(0.01)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SendGrid-Emulator/1"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after a minute
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.conn_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.conn_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    # -- body ---------------------------------------------------------------------------------
    def _read_body(self, limit: int | None) -> tuple[bytes, bool]:
        """(body, too_large). Oversized bodies are drained (so the client reads our 413)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise ValueError("chunked request bodies are not supported; send Content-Length")
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("bad Content-Length")
        if limit is not None and length > limit:
            if length > _DRAIN_LIMIT:
                self.close_connection = True
                return b"", True
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                remaining -= len(chunk)
            return b"", True
        return (self.rfile.read(length) if length else b""), False

    # -- routing ------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        emu = self.server.emulator
        path, _, qs = self.path.partition("?")
        try:
            if path.rstrip("/") == MAIL_SEND:
                try:
                    raw, too_large = self._read_body(emu.config.body_max_bytes)
                except ValueError as exc:
                    self._respond(error_reply(400, f"Bad Request: {exc}"))
                    return
                if self.command != "POST":
                    reply = error_reply(405, "method not allowed")
                else:
                    reply = emu.mail_send(
                        self.headers.get("Authorization"),
                        raw,
                        too_large=too_large,
                        content_encoding=self.headers.get("Content-Encoding"),
                    )
            else:
                try:
                    raw, _ = self._read_body(None)
                    if path.startswith("/_emulator/"):
                        reply = control(emu, self.command, path, parse_query(qs), raw)
                    else:
                        reply = v3(emu, self.command, path, parse_query(qs), raw,
                                   self.headers.get("Authorization"))  # fmt: skip
                except (ValueError, KeyError, TypeError) as exc:  # bad JSON or parameters
                    reply = error_reply(400, f"Bad Request: {exc}")
        except Exception:
            traceback.print_exc()  # an emulator bug: say so loudly, answer 500
            reply = error_reply(500, "internal server error")
        self._respond(reply)

    def _respond(self, reply: Reply) -> None:
        if reply.action == "timeout_before_accept":
            self.server.stopping.wait(reply.sleep_s)
            self.close_connection = True  # not recorded, no answer: the client timed out
            return
        if reply.action == "reset_after_accept":
            # recorded already; now drop the TCP connection without a response (RST)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.close()
            return
        if reply.action == "timeout_after_accept":
            self.server.stopping.wait(reply.sleep_s)
        if reply.action == "trickle_after_accept":
            self._trickle(reply)
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.body and self.command != "HEAD":
                self.wfile.write(reply.body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _trickle(self, reply: Reply) -> None:
        """Accepted; the answer then dribbles out one byte at a time over `sleep_s`, each
        byte well within any per-socket timeout: only a whole-request deadline ends it."""
        head = (
            f"HTTP/1.1 {reply.status} Accepted\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
            + "Content-Length: 0\r\n\r\n"
        ).encode()
        pause = reply.sleep_s / len(head)
        self.close_connection = True
        try:
            for index in range(len(head)):
                self.connection.sendall(head[index : index + 1])
                if self.server.stopping.wait(pause):
                    return
        except OSError:
            return


class EmulatorHandle:
    """A running emulator (see `run_emulator`): URLs, state, and the knobs tests need."""

    def __init__(self, server: _Server, thread: threading.Thread, tmpdir: str | None) -> None:
        self._server = server
        self._thread = thread
        self._tmpdir = tmpdir
        self.emulator: Emulator = server.emulator
        self.port: int = server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> MessageLog:
        return self.emulator.log

    @property
    def log_path(self) -> Path:
        return self.emulator.log.path

    @property
    def public_key(self) -> str:
        return self.emulator.signer.public_key_b64

    def set_faults(self, spec: dict[str, Any] | None = None, **knobs: Any) -> None:
        self.emulator.faults.set({**(spec or {}), **knobs})

    def messages_to(self, address: str) -> list[dict[str, Any]]:
        return self.emulator.log.messages_to(address)

    def stats(self) -> dict[str, Any]:
        return self.emulator.snapshot_stats()

    def reset(self) -> None:
        self.emulator.reset()

    def advance_clock(self, seconds: float) -> None:
        self.emulator.clock.offset_s += seconds

    def suppress(self, email: str, list_name: str = "unsubscribes") -> None:
        self.emulator.suppressions.add(list_name, email, int(self.emulator.clock.now()))

    def inject_event(self, event_type: str, email: str, **fields: Any) -> dict[str, Any]:
        return self.emulator.inject_event(event_type, {"email": email, **fields})

    def set_webhook_url(self, url: str | None) -> None:
        self.emulator.webhook.url = url

    def flush_webhook(self) -> dict[str, int]:
        return self.emulator.webhook.flush()

    def deliveries(self) -> list[dict[str, Any]]:
        return list(self.emulator.webhook.deliveries)

    def stop(self) -> None:
        if self._server.stopping.is_set():
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()  # no new connections
        self._server.close_connections()  # and the open ones are finished
        self._thread.join(timeout=10)
        self.emulator.close()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def start_emulator(config: EmulatorConfig | None = None, port: int = 0) -> EmulatorHandle:
    """Start the emulator in a background thread; call `.stop()` when done."""
    config = config or EmulatorConfig()
    tmpdir = None
    log_path = config.log_path
    if log_path is None:
        tmpdir = tempfile.mkdtemp(prefix="sg-emulator-")
        log_path = Path(tmpdir) / "accepted.jsonl"
    emulator = Emulator(config, log_path)
    try:
        server = _Server(port, emulator)
    except BaseException:
        emulator.close()
        raise
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="sendgrid-emulator", daemon=True)  # fmt: skip
    thread.start()
    return EmulatorHandle(server, thread, tmpdir)


@contextlib.contextmanager
def run_emulator(config: EmulatorConfig | None = None, port: int = 0) -> Iterator[EmulatorHandle]:
    """`with run_emulator(config) as emu:` → emu.base_url, emu.log, emu.set_faults(...), …"""
    handle = start_emulator(config, port)
    try:
        yield handle
    finally:
        handle.stop()


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(port: int, config: EmulatorConfig | None = None) -> None:
    """Run in the foreground until interrupted (the `newsletter emulator` command)."""
    handle = start_emulator(config, port)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
    print(json.dumps({"base_url": handle.base_url, "log": str(handle.log_path),
                      "public_key": handle.public_key}), flush=True)  # fmt: skip
    try:
        handle._thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
