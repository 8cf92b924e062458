"""Bus signatures: what they cover, and what happens without a key."""
import pytest

from rds_bus.signing import BadSignature, Signer, canonical

BODY = {"task_id": "a" * 32, "text": "héllo", "n": 1.5, "nested": {"b": 1, "a": [1, 2]}}


def signed(signer, routing_key="build.default", name="build", body=BODY):
    return signer.headers(routing_key, name, body)


def test_a_signature_verifies_whatever_the_key_order():
    signer = Signer("k" * 32, "command")
    reordered = dict(reversed(list(BODY.items())))
    signer.verify("build.default", "build", reordered, signed(signer))


@pytest.mark.parametrize("change", [
    {"routing_key": "build.blue"}, {"name": "activate"}, {"body": dict(BODY, text="hello")},
    {"body": dict(BODY, extra=1)}])
def test_anything_changed_breaks_the_signature(change):
    signer = Signer("k" * 32, "command")
    headers = signed(signer)
    args = {"routing_key": "build.default", "name": "build", "body": BODY, **change}
    with pytest.raises(BadSignature, match="wrong signature"):
        signer.verify(args["routing_key"], args["name"], args["body"], headers)


def test_the_purpose_is_signed_so_an_event_key_cannot_sign_commands():
    key = "k" * 32
    headers = signed(Signer(key, "event"))
    with pytest.raises(BadSignature):
        Signer(key, "command").verify("build.default", "build", BODY, headers)


@pytest.mark.parametrize("headers", [None, {}, {"rds-signature": ""},
                                     {"rds-signature": 42}])
def test_unsigned_messages_are_refused_when_a_key_is_set(headers):
    with pytest.raises(BadSignature, match="unsigned"):
        Signer("k" * 32, "event").verify("task_log", "task_log", BODY, headers)


def test_without_a_key_nothing_is_signed_or_checked():
    signer = Signer(None, "command")
    assert signer.headers("build.default", "build", BODY) == {}
    signer.verify("build.default", "build", BODY, None)


def test_the_canonical_form_is_compact_sorted_ascii():
    assert canonical({"b": "é", "a": 1}) == b'{"a":1,"b":"\\u00e9"}'
