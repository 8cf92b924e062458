"""The running pruner delivers notifications by itself: a signed webhook reaches a
local HTTP receiver when a ban is set through the API (waited on, never slept for)."""
import hashlib
import hmac
import json
import uuid

import pytest

from tests.control.test_notifications import Receiver

pytestmark = pytest.mark.e2e

SECRET = "e2e-signing-secret-42"


def test_the_pruner_sends_a_signed_webhook_when_a_ban_is_set(rds_system):
    import threading

    api, name = rds_system.api, "notify-%s" % uuid.uuid4().hex[:6]
    api.post("/projects", {"name": name, "repository": "/srv/git/none.git",
                           "deploy_path": "apps/" + name, "servers": rds_system.server_specs(),
                           "scripts": {"build": "true"}})
    receiver = Receiver()
    arrived = threading.Event()
    original = receiver.server.RequestHandlerClass.do_POST

    def do_post(handler):
        original(handler)
        arrived.set()
    receiver.server.RequestHandlerClass.do_POST = do_post
    try:
        api.post("/projects/%s/notifications" % name, {
            "kind": "webhook", "target": receiver.url, "secret": SECRET, "events": ["ban_set"]})
        api.post("/projects/%s/bans" % name, {"comment": "release party"})
        assert arrived.wait(60), "the pruner delivered nothing within 60 s"
        [(headers, body)] = receiver.accepted
        assert headers["X-Rds-Signature"] == "sha256=" + hmac.new(
            SECRET.encode(), body, hashlib.sha256).hexdigest()
        data = json.loads(body)
        assert (data["event"], data["project"]) == ("ban_set", name)
        assert "release party" in data["message"]
        [channel] = api.get("/projects/%s/notifications" % name)["channels"]
        assert channel["failing"] is False
    finally:
        receiver.close()
