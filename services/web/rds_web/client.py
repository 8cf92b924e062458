"""A small client of rds's JSON API (used by the CLI, the demo and the tests)."""
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import requests

TERMINAL_FAILURES = {"failed", "cancelled"}
#: What the API answers: a JSON object (the caller reads the fields it knows).
Answer = dict[str, Any]
#: What the API is sent: a JSON object (anything ``json.dumps`` takes as values).
Body = Mapping[str, object]


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__("HTTP %s: %s" % (status, message))
        self.status = status
        self.message = message


class ApiClient:
    def __init__(self, base_url: str, token: str, timeout: float = 90) -> None:
        self.base = base_url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Body | None = None) -> Answer:
        response = self.session.request(method, self.base + path, json=body,
                                        timeout=self.timeout)
        try:
            data = response.json()
        except ValueError:
            data = {"error": response.text[:500]}
        if not isinstance(data, dict):  # not an answer of rds (a proxy's, say)
            data = {"error": str(data)[:500]}
        if response.status_code >= 400:
            raise ApiError(response.status_code, str(data.get("error", data)))
        return data

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, body: Body | None = None) -> Answer:
        return self.request("POST", path, body if body is not None else {})

    def patch(self, path: str, body: Body) -> Answer:
        return self.request("PATCH", path, body)

    def delete(self, path: str) -> Answer:
        return self.request("DELETE", path)

    def wait_until(self, path: str, key: str, wanted: Collection[str], ends: Collection[str],
                   name: Callable[[Answer], str], timeout: float) -> Answer:
        """Long-poll ``path`` (an API ``…/wait``, asked for each ``?key=`` in ``wanted``)
        until the object's ``key`` is one of ``wanted`` or ``ends``; return it.

        Raises ApiError (504) after ``timeout`` seconds, naming it ``name(answer)``.
        """
        deadline = time.monotonic() + timeout
        query = "&".join("%s=%s" % (key, value) for value in sorted(wanted))
        while True:
            chunk = max(0.0, min(25.0, deadline - time.monotonic()))
            data = self.get("%s?%s&timeout=%.1f" % (path, query, chunk))
            if data[key] in wanted or data[key] in ends:
                return data
            if time.monotonic() >= deadline:
                raise ApiError(504, "%s still %s after %ss" % (name(data), data[key], timeout))

    def wait_release(self, release_id: int, statuses: Collection[str],
                     timeout: float = 900.0) -> Answer:
        """Wait (server-side long-poll) until a release reaches one of ``statuses``.

        Raises ApiError when it ends failed or cancelled instead (unless asked
        for), or after ``timeout`` seconds.
        """
        release = self.wait_until("/releases/%d/wait" % release_id, "status", statuses,
                                  TERMINAL_FAILURES, lambda r: "release %s" % r["version"],
                                  timeout)
        if release["status"] not in statuses:
            raise ApiError(409, "release %s ended %s: %s" % (
                release["version"], release["status"], release.get("last_error")))
        return release
