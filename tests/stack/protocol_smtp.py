#!/usr/bin/env python3
"""A real SMTP server for the email tests (aiosmtpd), recording each message it accepts as one JSON
line in --out: the envelope, the headers, and every MIME part decoded (parsed with Python's
`email` package, not by AOS).

Recipients steer the replies, so every SMTP outcome can be provoked:
  reject550@...  550 5.1.1 user unknown        reject553@...  553 5.1.3 mailbox name not allowed
  defer451@...   451 4.3.0 try again later      full552@...    552 5.2.2 mailbox full
--auth USER:PASSWORD requires AUTH (535 otherwise); --tls CERT KEY offers STARTTLS with that
certificate.

usage: protocol_smtp.py --out FILE [--auth USER:PASSWORD] [--tls CERT KEY]
Prints `listening on 127.0.0.1:PORT` once it accepts connections. Needs the `protocols` test env
(tests/stack/python-env.sh protocols)."""

import argparse
import json
import socket
import ssl
import sys
import threading
import time
import warnings
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

REPLIES = {
    "reject550": "550 5.1.1 user unknown",
    "reject553": "553 5.1.3 mailbox name not allowed",
    "defer451": "451 4.3.0 try again later",
    "full552": "552 5.2.2 mailbox full",
}


class Recorder:
    def __init__(self, out: str):
        self.out = out
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local in REPLIES:
            return REPLIES[local]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = BytesParser(policy=policy.default).parsebytes(envelope.original_content or envelope.content)
        parts = []
        for part in msg.walk():
            if part.is_multipart():
                continue
            parts.append({"content_type": part.get_content_type(), "charset": part.get_content_charset(),
                          "transfer_encoding": part.get("content-transfer-encoding"), "content": part.get_content()})
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k.lower(): str(v) for k, v in msg.items()},
            "content_type": msg.get_content_type(),
            "parts": parts,
            "authenticated": bool(getattr(session, "authenticated", False)),
            "tls": session.ssl is not None,
            "at": time.time(),
        }
        with self.lock, open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK queued as aos-test"


def main():
    # AUTH without TLS is what the plaintext tests exercise on loopback, on purpose.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--auth")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kwargs = {}
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user and auth_data.password.decode() == password
            # handled=False: aiosmtpd then answers 535 itself (its default, True, answers nothing).
            return AuthResult(success=ok, handled=False)

        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*args.tls)
        kwargs.update(tls_context=context, require_starttls=True)
    controller = Controller(Recorder(args.out), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        controller.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
