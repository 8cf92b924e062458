"""A small client of rds's JSON API (used by the CLI, the demo and the tests)."""
import time

import requests

TERMINAL_FAILURES = {"failed", "cancelled"}


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__("HTTP %s: %s" % (status, message))
        self.status = status
        self.message = message


class ApiClient:
    def __init__(self, base_url, token, timeout=90):
        self.base = base_url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + token
        self.timeout = timeout

    def request(self, method, path, body=None):
        response = self.session.request(method, self.base + path, json=body,
                                        timeout=self.timeout)
        try:
            data = response.json()
        except ValueError:
            data = {"error": response.text[:500]}
        if response.status_code >= 400:
            raise ApiError(response.status_code, data.get("error", data))
        return data

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, body=None):
        return self.request("POST", path, body if body is not None else {})

    def patch(self, path, body):
        return self.request("PATCH", path, body)

    def delete(self, path):
        return self.request("DELETE", path)

    def wait_release(self, release_id, statuses, timeout=900.0):
        """Wait (server-side long-poll) until a release reaches one of ``statuses``.

        Raises ApiError when it ends failed or cancelled instead (unless asked
        for), or after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        query = "&".join("status=%s" % s for s in sorted(statuses))
        while True:
            chunk = max(0.0, min(25.0, deadline - time.monotonic()))
            release = self.get("/releases/%d/wait?%s&timeout=%.1f" % (release_id, query, chunk))
            if release["status"] in statuses:
                return release
            if release["status"] in TERMINAL_FAILURES:
                raise ApiError(409, "release %s ended %s: %s" % (
                    release["version"], release["status"], release.get("last_error")))
            if time.monotonic() >= deadline:
                raise ApiError(504, "release %s still %s after %ss" % (
                    release["version"], release["status"], timeout))
