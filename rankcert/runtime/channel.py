"""Messages between client and worker: length-prefixed JSON over a Unix stream socket, fds beside the first."""
from __future__ import annotations

import json
import os
import socket
import struct

HEADER = struct.Struct("!I")
MAX_MESSAGE = 16 << 20


class ConnectionClosed(Exception):
    """The other side closed the connection before a whole message arrived."""


class Channel:
    """One connection; keeps bytes that arrived beyond the message being read."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()

    def send(self, message: dict, fds: list[int] | None = None) -> None:
        payload = json.dumps(message).encode()
        data = HEADER.pack(len(payload)) + payload
        sent = socket.send_fds(self.sock, [data], fds) if fds else self.sock.send(data)
        if sent < len(data):
            self.sock.sendall(data[sent:])

    def receive(self, max_fds: int = 0) -> tuple[dict, list[int]]:
        """The next message and the fds that came with it; ConnectionClosed at end of stream."""
        fds: list[int] = []
        while True:
            if len(self.buffer) >= HEADER.size:
                (length,) = HEADER.unpack_from(self.buffer)
                if length > MAX_MESSAGE:
                    raise ConnectionClosed(f"message of {length} bytes refused")
                if len(self.buffer) >= HEADER.size + length:
                    body = bytes(self.buffer[HEADER.size:HEADER.size + length])
                    del self.buffer[:HEADER.size + length]
                    return json.loads(body), fds
            if max_fds and not fds:
                chunk, got, _, _ = socket.recv_fds(self.sock, 65536, max_fds)
                fds = list(got)
            else:
                chunk = self.sock.recv(65536)
            if not chunk:
                for fd in fds:
                    os.close(fd)
                raise ConnectionClosed("connection closed")
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()

