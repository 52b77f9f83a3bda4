"""A TCP hop in front of the real PostgreSQL that a test can cut and restore:
"the database is unreachable" without stopping the server everyone else uses."""

import asyncio

from sqlalchemy.engine import make_url


class TcpProxy:
    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self.port: int | None = None
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    @classmethod
    def to_database(cls, url: str) -> "TcpProxy":
        parsed = make_url(url)
        return cls(parsed.host or "127.0.0.1", parsed.port or 5432)

    def database_url(self, url: str) -> str:
        """`url`, through the proxy."""
        return make_url(url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    async def open(self) -> None:
        """Listen (again, on the same port once it has one) and forward to the target."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Refuse new connections and cut the existing ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._pipes):
            writer.transport.abort()
        self._pipes.clear()
        if server is not None:
            await server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*self._target)
        except OSError:
            client_writer.transport.abort()
            return
        if self._server is None:  # closed while this connection was being made
            client_writer.transport.abort()
            target_writer.transport.abort()
            return
        self._pipes.update({client_writer, target_writer})
        await asyncio.gather(
            self._pipe(client_reader, target_writer),
            self._pipe(target_reader, client_writer),
            return_exceptions=True,
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()
            self._pipes.discard(writer)
