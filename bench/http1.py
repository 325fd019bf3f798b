"""A small HTTP/1.1 keep-alive client for driving load, lighter than a general-purpose client.

The gateway's figures should measure the gateway; a client that spends milliseconds of CPU
per request on a 2-core machine mostly measures itself.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["Http1"]


class Http1:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Http1:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_: Any) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def request(self, method: str, path: str, headers: dict[str, str], payload: Any = None) -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        body = b"" if payload is None else json.dumps(payload).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        if payload is not None:
            head.append("Content-Type: application/json")
        head.extend(f"{k}: {v}" for k, v in headers.items())
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = await self._reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = None
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value.strip())
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                raise RuntimeError("chunked responses are not expected from the gateway")
        if length is None:
            raise RuntimeError("the response has no Content-Length")
        return status, await self._reader.readexactly(length)
