"""The gateway's real client to the services, against a real socket: answers, refusals,
silence and hang-ups each come out as what the proxy needs to tell apart."""

import asyncio
import socket

import pytest

from gateway.upstream import AiohttpUpstreamClient, UpstreamConnectError, UpstreamError, UpstreamTimeoutError


async def serve(behaviour):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        await behaviour(request, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def answer(request: bytes, writer: asyncio.StreamWriter) -> None:
    body = b'{"detail": "Post not found"}'
    writer.write(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nX-Seen: "
        + request.split(b" ")[0]
        + b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        + body
    )
    await writer.drain()
    writer.close()


async def test_an_answer_comes_back_whole():
    server, url = await serve(answer)
    client = AiohttpUpstreamClient(timeout=5)
    try:
        response = await client.request(
            "PUT", url + "/posts/1", body=b"{}", headers={"Content-Type": "application/json"}
        )
    finally:
        await client.close()
        server.close()
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-seen"] == "PUT"
    assert response.json() == {"detail": "Post not found"}


async def test_a_refused_connection_is_a_connect_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nobody listens there once the probe is closed
    client = AiohttpUpstreamClient(timeout=5)
    try:
        with pytest.raises(UpstreamConnectError):
            await client.request("GET", f"http://127.0.0.1:{port}/readyz")
    finally:
        await client.close()


async def test_silence_is_a_timeout():
    async def never_answer(request: bytes, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    server, url = await serve(never_answer)
    client = AiohttpUpstreamClient(timeout=5)
    try:
        with pytest.raises(UpstreamTimeoutError):
            await client.request("GET", url + "/posts", timeout=0.2)
    finally:
        await client.close()
        server.close()


async def test_a_hang_up_without_an_answer_is_an_upstream_error():
    async def hang_up(request: bytes, writer: asyncio.StreamWriter) -> None:
        writer.transport.abort()

    server, url = await serve(hang_up)
    client = AiohttpUpstreamClient(timeout=5)
    try:
        with pytest.raises(UpstreamError):
            await client.request("POST", url + "/vote", body=b"{}")
    finally:
        await client.close()
        server.close()
