"""The API client turns every error answer into an ``ApiError`` with a one-line message,
whatever shape the answer has (an rds error object, a proxy's text or other JSON)."""
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rds_web.client import ApiClient, ApiError


class Answers(BaseHTTPRequestHandler):
    #: path -> (status, body)
    answers = {
        "/api/v1/rds": (409, b'{"error": "release is building", "field": null}'),
        "/api/v1/text": (502, b"<html>Bad Gateway</html>"),
        "/api/v1/list": (502, b'["upstream", "down"]'),
        "/api/v1/string": (503, b'"maintenance"'),
        "/api/v1/object": (500, b'{"detail": "boom"}'),
    }

    def do_GET(self) -> None:
        status, body = self.answers[self.path]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def client():
    server = HTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ApiClient("http://127.0.0.1:%d" % server.server_port, "rds_test", timeout=10)
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.parametrize("path, status, message", [
    ("/rds", 409, "release is building"),
    ("/text", 502, "<html>Bad Gateway</html>"),
    ("/list", 502, "['upstream', 'down']"),
    ("/string", 503, "maintenance"),
    ("/object", 500, "{'detail': 'boom'}"),
])
def test_every_error_answer_is_an_api_error(client, path, status, message):
    with pytest.raises(ApiError) as raised:
        client.get(path)
    assert (raised.value.status, raised.value.message) == (status, message)
    assert str(raised.value) == "HTTP %d: %s" % (status, message)
