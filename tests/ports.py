"""Free TCP ports for the tests' servers, never the same one twice in a process.

Asking the kernel for a port and closing the socket frees it again at once: two calls in a
row may return the same number (a profile then names one port for Prometheus and the node
exporter). Ports handed out are remembered and skipped.
"""

from __future__ import annotations

import socket

_GIVEN: set[int] = set()


def free_port(address: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``address`` now, not returned before by this process."""
    while True:
        with socket.socket() as probe:
            probe.bind((address, 0))
            port = int(probe.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
