"""TCP relay from 127.0.0.1:PORT in the main network namespace to a port on
the loopback of a lab namespace (its sshd), so SSH clients reach the
namespaced hosts without the main namespace ever sending to a namespace
address: each connection's outgoing socket is made inside the namespace
(setns in that connection's own thread).

    python -m dr_console.lab.nsforward LISTEN_PORT=NETNS:PORT ...

Logs only what it listens on and failed connections, never the bytes."""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import socket
import sys
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
LOOPBACK = "127.0.0.1"
_libc = ctypes.CDLL(None, use_errno=True)


def _enter_netns(name: str) -> None:
    """Move the calling thread (only) into the named network namespace."""
    fd = os.open(Path("/run/netns") / name, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _relay(client: socket.socket, netns: str, port: int) -> None:
    with client:
        try:
            _enter_netns(netns)  # this thread ends in the namespace; that is fine
            upstream = socket.create_connection((LOOPBACK, port), timeout=10)
        except OSError as exc:
            print(f"nsforward: {netns}:{port} unreachable: {exc}", file=sys.stderr, flush=True)
            return
        with upstream:
            upstream.settimeout(None)
            peers = {client: upstream, upstream: client}
            with selectors.DefaultSelector() as sel:
                for sock in peers:
                    sel.register(sock, selectors.EVENT_READ)
                open_ends = 2
                while open_ends:
                    for key, _ in sel.select():
                        src: socket.socket = key.fileobj  # type: ignore[assignment]
                        try:
                            data = src.recv(65536)
                        except OSError:
                            data = b""
                        if data:
                            try:
                                peers[src].sendall(data)
                            except OSError:
                                return  # the other end is gone: drop both
                            continue
                        # EOF one way: pass it on, keep the other way open.
                        sel.unregister(src)
                        open_ends -= 1
                        with contextlib.suppress(OSError):
                            peers[src].shutdown(socket.SHUT_WR)


def _serve(listener: socket.socket, netns: str, port: int) -> None:
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_relay, args=(client, netns, port), daemon=True).start()


def parse(spec: str) -> tuple[int, str, int]:
    listen, _, target = spec.partition("=")
    netns, _, port = target.rpartition(":")
    if not (listen.isdigit() and netns and port.isdigit()):
        raise ValueError(f"bad forward {spec!r}: expected LISTEN_PORT=NETNS:PORT")
    return int(listen), netns, int(port)


def main(argv: list[str] | None = None) -> int:
    specs = [parse(spec) for spec in (argv if argv is not None else sys.argv[1:])]
    if not specs:
        print(__doc__, file=sys.stderr)
        return 2
    threads = []
    for listen, netns, port in specs:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, listen))
        listener.listen(16)
        print(f"nsforward: {LOOPBACK}:{listen} -> {netns} {LOOPBACK}:{port}", flush=True)
        thread = threading.Thread(target=_serve, args=(listener, netns, port), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
