"""Verification of the webhooks AOS's ``webhook_send`` skill sends (docs/skills.md), as the
Standard Webhooks specification defines it: ``webhook-signature`` holds ``v1,<base64 HMAC-SHA256>``
of ``<webhook-id>.<webhook-timestamp>.<body>`` under the receiver's key (``whsec_<base64>``), and
the timestamp must be within the tolerance (5 minutes) of now, so a captured request cannot be
replayed later. Deduplicate on ``webhook-id``: it is the same for every retry of a step.

>>> payload = verify_webhook(secret, request_body, request_headers)   # doctest: +SKIP
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any, Mapping, Optional, Union

__all__ = ["WebhookVerificationError", "verify_webhook", "sign_webhook", "WEBHOOK_TOLERANCE_SECONDS"]

#: How far ``webhook-timestamp`` may be from now, in seconds (the specification's 5 minutes).
WEBHOOK_TOLERANCE_SECONDS = 300


class WebhookVerificationError(Exception):
    """A webhook that must not be trusted; ``reason`` says why: ``missing_headers``,
    ``bad_timestamp``, ``too_old``, ``too_new``, ``bad_secret`` or ``no_matching_signature``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _key(secret: str) -> bytes:
    encoded = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("bad_secret", "the secret is not `whsec_` followed by base64") from None
    if not key:
        raise WebhookVerificationError("bad_secret", "the secret is empty")
    return key


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: Union[str, bytes]) -> str:
    """The ``webhook-signature`` value ``webhook_send`` sends for one key: ``v1,<base64>``."""
    data = body.encode() if isinstance(body, str) else body
    mac = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + data, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_webhook(
    secret: str,
    body: Union[str, bytes],
    headers: Mapping[str, str],
    *,
    tolerance_seconds: int = WEBHOOK_TOLERANCE_SECONDS,
    now: Optional[float] = None,
) -> Any:
    """Verifies a webhook and returns its parsed JSON payload; raises ``WebhookVerificationError``.
    ``body`` must be the raw body as received, not a re-serialized object."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, timestamp, signatures = lower.get("webhook-id"), lower.get("webhook-timestamp"), lower.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        raise WebhookVerificationError("missing_headers", "webhook-id, webhook-timestamp and webhook-signature are required")
    if not (timestamp.isdigit() and len(timestamp) <= 15):
        raise WebhookVerificationError("bad_timestamp", "webhook-timestamp is not a number of seconds")
    ts = int(timestamp)
    current = time.time() if now is None else now
    if ts < current - tolerance_seconds:
        raise WebhookVerificationError("too_old", "the webhook is older than the tolerance: a replay?")
    if ts > current + tolerance_seconds:
        raise WebhookVerificationError("too_new", "the webhook's timestamp is in the future")
    expected = base64.b64decode(sign_webhook(secret, msg_id, ts, body)[3:])
    for candidate in signatures.split(" "):
        version, _, sig = candidate.partition(",")
        if version != "v1" or not sig:
            continue
        try:
            got = base64.b64decode(sig, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(got, expected):
            return json.loads(body)
    raise WebhookVerificationError("no_matching_signature", "no signature matches the key")
