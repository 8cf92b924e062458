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
        "/api/v1/releases/1/wait": (200, b'{"status": "installed", "version": "1.0"}'),
        "/api/v1/releases/2/wait": (200, b'{"status": "failed", "version": "2.0", '
                                         b'"last_error": "boom"}'),
        "/api/v1/migrations/3/wait": (200, b'{"state": "applying", "name": "0001_a"}'),
    }
    #: The paths asked for, with their query.
    asked: list[str] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        status, body = self.answers[self.path.partition("?")[0]]
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


def test_waiting_for_a_release_long_polls_for_the_statuses_asked(client):
    assert client.wait_release(1, {"installed"})["status"] == "installed"
    assert Answers.asked[-1].startswith("/api/v1/releases/1/wait?status=installed&timeout=")
    with pytest.raises(ApiError, match="release 2.0 ended failed: boom") as raised:
        client.wait_release(2, {"installed"})
    assert raised.value.status == 409
    assert client.wait_release(2, {"failed"})["status"] == "failed"  # asked for: no error


def test_a_wait_that_times_out_names_the_object_and_its_state(client):
    with pytest.raises(ApiError, match="migration 0001_a still applying after 0s") as raised:
        client.wait_until("/migrations/3/wait", "state", {"applied"}, {"failed"},
                          lambda m: "migration %s" % m["name"], timeout=0)
    assert raised.value.status == 504
    assert Answers.asked[-1] == "/api/v1/migrations/3/wait?state=applied&timeout=0.0"
