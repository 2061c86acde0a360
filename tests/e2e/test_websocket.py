"""WebSocket through mod_proxy_wstunnel to a local echo backend (Debian's
python3-websockets).  In httpd 2.4 a tunnel holds a worker for its whole
life (the proxy polls both sides inside the handler); the tunnel must
survive a graceful restart until it is closed."""

import asyncio
import signal
import textwrap

import pytest

from backends import start_python_backend, stop_process
from conftest import free_ports, server_status_auto, wait_for

websockets = pytest.importorskip("websockets")

BACKEND = textwrap.dedent("""
    import asyncio, sys, websockets
    async def echo(ws, path=None):
        async for msg in ws:
            await ws.send(msg)
    async def main():
        async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1])):
            await asyncio.sleep(float(sys.argv[2]))
    asyncio.run(main())
""")


@pytest.fixture
def ws_backend():
    port = free_ports(1)[0]
    proc = start_python_backend(BACKEND, port, 120, "echo backend")
    try:
        yield port
    finally:
        stop_process(proc)


def test_websocket_echo_survives_graceful_restart(apache_factory, ws_backend):
    srv = apache_factory(modules=("proxy", "proxy_http", "proxy_wstunnel"),
                         extra='ProxyPass "/ws" "ws://127.0.0.1:%d/"\n' % ws_backend)

    async def session():
        uri = "ws://127.0.0.1:%d/ws" % srv.port
        async with websockets.connect(uri, open_timeout=10, close_timeout=5) as ws:
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), 10) == "hello"
            await ws.send(b"\x00\x01binary")
            assert await asyncio.wait_for(ws.recv(), 10) == b"\x00\x01binary"
            gen = server_status_auto(srv.port)["ParentServerMPMGeneration"]
            srv.signal(signal.SIGUSR1)
            assert wait_for(lambda: server_status_auto(srv.port)
                            ["ParentServerMPMGeneration"] == gen + 1, 10)
            # the old child keeps the tunnel (and its worker) until it closes
            await ws.send("after restart")
            assert await asyncio.wait_for(ws.recv(), 10) == "after restart"
        return True

    assert asyncio.run(session())
    # once the tunnel is closed, the old generation goes away
    assert wait_for(lambda: server_status_auto(srv.port)["Stopping"] == 0, 15)
