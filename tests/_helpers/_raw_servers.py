"""Raw TCP servers on 127.0.0.1 for the hostile-server tests: a socket, an accept loop,
and a thread per connection, so a test writes only what its server sends."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def raw_server(serve: Callable[[socket.socket, threading.Event], None]) -> Iterator[int]:
    """Serve each connection with ``serve(connection, stop)`` on a thread; yield the port.

    On exit ``stop`` is set, the accept loop ends and the listener is closed.

    Example:
        >>> with raw_server(lambda connection, stop: connection.close()) as port:
        ...     port > 0
        True
    """
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                connection, _ = listener.accept()
                threading.Thread(target=serve, args=(connection, stop), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        acceptor.join()
        listener.close()


def drip_headers(connection: socket.socket, stop: threading.Event) -> None:
    """Read the request, send a status line, then header bytes, one every 50 ms, forever."""
    with connection, contextlib.suppress(OSError):
        connection.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\n":
            if stop.wait(0.05):
                return
            connection.sendall(bytes([byte]))
        while not stop.wait(0.05):
            connection.sendall(b"X")
