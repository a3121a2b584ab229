"""The loopback interface: its address, free TCP ports on it, and an HTTP opener for it."""

from __future__ import annotations

import socket
import urllib.request

__all__ = ["LOOPBACK", "free_ports", "loopback_opener"]

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports that were free on 127.0.0.1 a moment ago.

    The sockets are held open together until all ports are chosen, so the ports are
    distinct; another process may still take one before the server binds it, which
    callers handle by retrying.

    Args:
        count: How many ports to pick.

    Returns:
        The port numbers.
    """
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def loopback_opener() -> urllib.request.OpenerDirector:
    """An ``urllib`` opener for servers on this host that ignores proxy variables.

    An ``http_proxy`` from the environment must never carry a loopback health check or
    statistics read to another host.

    Returns:
        A new opener.
    """
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))
