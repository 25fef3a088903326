"""An SMTP receiver for the tests (PyPI aiosmtpd): accepts every message on a loopback port
and serves what it received as JSON over HTTP (GET /messages), so a test can read the email
an invitation sent. Prints {"port": smtp, "http": http} once both listen."""

import email
import email.policy
import json
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES = []
LOCK = threading.Lock()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain",))
        with LOCK:
            MESSAGES.append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "from": str(parsed["From"]),
                    "to": str(parsed["To"]),
                    "subject": str(parsed["Subject"]),
                    "message_id": str(parsed["Message-ID"]),
                    "body": body.get_content() if body is not None else "",
                }
            )
        return "250 OK"


class Http(BaseHTTPRequestHandler):
    def do_GET(self):
        with LOCK:
            data = json.dumps(MESSAGES).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Http)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    print(json.dumps({"port": controller.port, "http": http.server_address[1]}), flush=True)
    # Exit with the test binary: it holds our stdin.
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
