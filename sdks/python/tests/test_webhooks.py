"""aos.verify_webhook against tests/vectors/webhooks.json: the signatures aos-skills' webhook_send
computes, which the Standard Webhooks reference library also accepts
(shared/aos-skills/tests/webhook_send.rs)."""

from __future__ import annotations

import base64
import json

import pytest

import aos
from aos.webhooks import sign_webhook
from conftest import VECTORS

VECTORS_ = json.loads((VECTORS / "webhooks.json").read_text(encoding="utf-8"))["vectors"]


def headers_of(v, signature=None):
    return {"Webhook-Id": v["id"], "Webhook-Timestamp": str(v["timestamp"]), "Webhook-Signature": signature or v["signature"]}


def reason(fn) -> str:
    with pytest.raises(aos.WebhookVerificationError) as e:
        fn()
    return e.value.reason


@pytest.mark.parametrize("v", VECTORS_, ids=[v["id"] for v in VECTORS_])
def test_every_vector_verifies_signs_the_same_and_fails_with_any_change(v) -> None:
    assert aos.verify_webhook(v["secret"], v["body"], headers_of(v), now=v["timestamp"]) == json.loads(v["body"])
    assert aos.verify_webhook(v["secret"], v["body"].encode(), headers_of(v), now=v["timestamp"] + 10) == json.loads(v["body"])
    assert sign_webhook(v["secret"], v["id"], v["timestamp"], v["body"]) == v["signature"]
    at = v["timestamp"]
    assert reason(lambda: aos.verify_webhook(v["secret"], v["body"] + " ", headers_of(v), now=at)) == "no_matching_signature"
    assert reason(lambda: aos.verify_webhook(v["secret"], v["body"], {**headers_of(v), "Webhook-Id": v["id"] + "x"}, now=at)) == "no_matching_signature"
    other = "whsec_" + base64.b64encode(b"another key").decode()
    assert reason(lambda: aos.verify_webhook(other, v["body"], headers_of(v), now=at)) == "no_matching_signature"
    # A replay outside the 5-minute window, either way.
    assert reason(lambda: aos.verify_webhook(v["secret"], v["body"], headers_of(v), now=at + 301)) == "too_old"
    assert reason(lambda: aos.verify_webhook(v["secret"], v["body"], headers_of(v), now=at - 301)) == "too_new"


def test_rotation_headers_and_secrets() -> None:
    v = VECTORS_[0]
    at = v["timestamp"]
    assert aos.verify_webhook(v["secret"], v["body"], headers_of(v, "v1,AAAA " + v["signature"]), now=at) == json.loads(v["body"])
    assert reason(lambda: aos.verify_webhook(v["secret"], v["body"], headers_of(v, "v2," + v["signature"][3:]), now=at)) == "no_matching_signature"
    assert reason(lambda: aos.verify_webhook(v["secret"], v["body"], {"webhook-id": v["id"]})) == "missing_headers"
    assert reason(lambda: aos.verify_webhook(v["secret"], v["body"], {**headers_of(v), "Webhook-Timestamp": "soon"})) == "bad_timestamp"
    assert reason(lambda: aos.verify_webhook("whsec_!!", v["body"], headers_of(v), now=at)) == "bad_secret"
