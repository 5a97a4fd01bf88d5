"""Make a loopback-only server reachable from the real node's pods: a TCP relay on the node's address.

SeaweedFS (tools/s3_server) listens on 127.0.0.1 only. The local cluster's pods reach this host at
the real node's address on the host-only interface (network.NODE_ADDRESS), never beyond it, so a
relay listening there forwards each connection to the loopback port. A presigned S3 URL made for
``http://<NODE_ADDRESS>:<relay port>`` works from the pods and the controller alike: the bytes,
Host header included, pass through unchanged.
"""

from __future__ import annotations

import socket
import threading

from tools.local_cluster import network


class Relay:
    """Forward every connection to ``address``:<port> (port chosen free) to 127.0.0.1:``target_port``."""

    def __init__(self, target_port: int, address: str = network.NODE_ADDRESS):
        self.target_port = target_port
        self.listener = socket.create_server((address, 0))
        self.address, self.port = self.listener.getsockname()[:2]
        self.closed = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                downstream, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=30)
            except OSError:
                downstream.close()
                continue
            upstream.settimeout(None)
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(1 << 20):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
