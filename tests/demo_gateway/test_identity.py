"""A Parlor process tells a demo gateway it may share from anything else on the port."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from demo_gateway.server import is_demo_gateway


def test_a_demo_gateway_says_what_it_is(demo_gateway):
    assert is_demo_gateway(demo_gateway.base_url)


def test_another_web_server_is_not_taken_for_one():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert not is_demo_gateway(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()


def test_nothing_listening_is_not_a_demo_gateway():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert not is_demo_gateway(f"http://127.0.0.1:{port}")
