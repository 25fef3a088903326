"""An independent SAML 2.0 identity provider for Gatehouse's interop tests, built on pysaml2
(which signs and encrypts with the xmlsec1 binary). Started by the test setup on 127.0.0.1;
prints one JSON line {"port": N} when it is listening.

Endpoints:
  GET  /metadata            the IdP's metadata (signing certificate, redirect SSO endpoint)
  GET  /cert?key=idp|rogue  a signing certificate, base64 DER
  POST /sp                  body: SP metadata XML; the IdP trusts that SP from now on
  GET  /sso/redirect        SP-initiated: HTTP-Redirect AuthnRequest in, an HTML page with the
                            HTTP-POST form out. The test adds `as=<base64url JSON>` naming the
                            user and options (see `Options`), as a login form would.
  POST /idp-initiated       JSON {sp, user…}: an unsolicited response, as an HTML POST form
  POST /assertion           JSON {sp, acs, user…, in_response_to?}: the signed assertion alone
                            (what a native app that signed in at the IdP presents)
  POST /signature-template  JSON {id}: an XML-DSig template (RSA-SHA256) for element `id`
  POST /sign                JSON {xml, node, id, key}: signs an element of a forged document
                            that holds such a template (for the negative tests: expired,
                            wrong audience, wrapping…)

Options in `as`: name_id, attributes {name: [values]}, sign_response (default false),
sign_assertion (default true), encrypt_assertion (default false), encrypt_alg (the content
encryption algorithm URI; default pysaml2's, 3DES-CBC), key ("idp" or "rogue"), name_format
("basic" default, or "uri").
"""

import argparse
import base64
import datetime
import functools
import html
import json
import re
import os
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
import saml2.entity
import saml2.sigver
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_BASIC, NAME_FORMAT_URI, NAMEID_FORMAT_UNSPECIFIED, NameID
from saml2.server import Server
from saml2.sigver import pre_signature_part

LOCK = threading.Lock()


# pysaml2 always encrypts with its default content algorithm (3DES-CBC) and a matching
# session key; the test chooses the algorithm per response (the server is threaded, so the
# choice is per thread), and the session key follows it.
ENCRYPTION = threading.local()
SESSION_KEYS = {"aes128": "aes-128", "aes192": "aes-192", "aes256": "aes-256", "tripledes": "des-192"}
_pre_encryption_part = saml2.entity.pre_encryption_part
_encrypt_assertion = saml2.sigver.SecurityContext.encrypt_assertion


@functools.wraps(_pre_encryption_part)
def _pre_encryption_part_with_alg(**kwargs):
    alg = getattr(ENCRYPTION, "msg_enc", None)
    if alg:
        kwargs["msg_enc"] = alg
    return _pre_encryption_part(**kwargs)


@functools.wraps(_encrypt_assertion)
def _encrypt_assertion_with_key(self, statement, enc_key, template, key_type="des-192", node_xpath=None):
    alg = getattr(ENCRYPTION, "msg_enc", None) or ""
    name = alg.rsplit("#", 1)[-1].split("-", 1)[0]
    key_type = SESSION_KEYS.get(name, key_type)
    return _encrypt_assertion(self, statement, enc_key, template, key_type=key_type, node_xpath=node_xpath)


saml2.entity.pre_encryption_part = _pre_encryption_part_with_alg
saml2.sigver.SecurityContext.encrypt_assertion = _encrypt_assertion_with_key

def make_key(dir_, name):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"gatehouse test {name}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_path = os.path.join(dir_, f"{name}.key")
    cert_path = os.path.join(dir_, f"{name}.crt")
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    return key_path, cert_path, der


def make_server(base, dir_, key_path, cert_path, name_format):
    conf = IdPConfig()
    conf.load(
        {
            "entityid": f"{base}/metadata",
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(f"{base}/sso/redirect", BINDING_HTTP_REDIRECT)]
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": 5},
                            "attribute_restrictions": None,
                            "name_form": name_format,
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
                    "want_authn_requests_signed": False,
                }
            },
            "key_file": key_path,
            "cert_file": cert_path,
            "encryption_keypairs": [{"key_file": key_path, "cert_file": cert_path}],
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {},
            "attribute_map_dir": None,
            "allow_unknown_attributes": True,
            "delete_tmpfiles": True,
            "tmp_path": dir_,
        }
    )
    return Server(config=conf)


class Idp:
    def __init__(self, base, dir_):
        self.base = base
        self.dir = dir_
        self.keys = {name: make_key(dir_, name) for name in ("idp", "rogue")}
        self.sp_metadata = []
        self.servers = {}

    def server(self, key, name_format):
        """One pysaml2 Server per (signing key, attribute name format)."""
        with LOCK:
            found = self.servers.get((key, name_format))
            if found is None:
                key_path, cert_path, _ = self.keys[key]
                fmt = NAME_FORMAT_URI if name_format == "uri" else NAME_FORMAT_BASIC
                found = make_server(self.base, self.dir, key_path, cert_path, fmt)
                for xml in self.sp_metadata:
                    found.metadata.load("inline", xml)
                self.servers[(key, name_format)] = found
            return found

    def add_sp(self, xml):
        with LOCK:
            self.sp_metadata.append(xml)
            servers = list(self.servers.values())
        for server in servers:
            server.metadata.load("inline", xml)

    def respond(self, options, in_response_to, destination, sp_entity_id):
        server = self.server(options.get("key", "idp"), options.get("name_format", "basic"))
        name_id = NameID(format=NAMEID_FORMAT_UNSPECIFIED, text=options["name_id"])
        ENCRYPTION.msg_enc = options.get("encrypt_alg")
        response = server.create_authn_response(
            identity=options.get("attributes", {}),
            in_response_to=in_response_to,
            destination=destination,
            sp_entity_id=sp_entity_id,
            name_id=name_id,
            authn={
                "class_ref": options.get(
                    "authn_class", "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
                )
            },
            sign_response=options.get("sign_response", False),
            sign_assertion=options.get("sign_assertion", True),
            encrypt_assertion=options.get("encrypt_assertion", False),
            encrypt_cert_assertion=options.get("encrypt_cert"),
            sign_alg=options.get("sign_alg", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
            digest_alg=options.get("digest_alg", "http://www.w3.org/2001/04/xmlenc#sha256"),
        )
        return str(response)


def standalone_assertion(response_xml):
    """The signed Assertion of a Response as a document of its own, as a native app holds
    it: the text cut out as signed, with the namespaces in scope at the Response declared
    on it (exclusive canonicalization, which signed it, ignores the unused ones)."""
    start = re.search(r"<([A-Za-z0-9_.-]+:)?Assertion[\s>]", response_xml)
    prefix = start.group(1) or ""
    end_tag = f"</{prefix}Assertion>"
    end = response_xml.index(end_tag, start.start()) + len(end_tag)
    assertion = response_xml[start.start():end]
    root = re.search(r"<[A-Za-z][^>]*>", re.sub(r"<\?xml[^>]*\?>", "", response_xml, count=1))
    in_scope = dict(re.findall(r'\s(xmlns(?::[A-Za-z0-9_.-]+)?)="([^"]*)"', root.group(0)))
    head_end = assertion.index(">")
    own = set(re.findall(r'\s(xmlns(?::[A-Za-z0-9_.-]+)?)=', assertion[:head_end]))
    added = "".join(f' {k}="{v}"' for k, v in in_scope.items() if k not in own)
    name_end = len(f"<{prefix}Assertion")
    return assertion[:name_end] + added + assertion[name_end:]


def post_form(action, saml_response, relay_state):
    encoded = base64.b64encode(saml_response.encode()).decode()
    relay = (
        f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}"/>'
        if relay_state
        else ""
    )
    return (
        "<!doctype html><html><body onload=\"document.forms[0].submit()\">"
        f'<form method="post" action="{html.escape(action)}">'
        f'<input type="hidden" name="SAMLResponse" value="{encoded}"/>{relay}'
        "<noscript><button>Continue</button></noscript></form></body></html>"
    )


def handler_for(idp):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body, content_type="text/html"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            length = int(self.headers.get("Content-Length", "0"))
            return self.rfile.read(length).decode()

        def do_GET(self):
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            try:
                if url.path == "/metadata":
                    server = idp.server("idp", "basic")
                    self.reply(200, create_metadata_string(None, server.config, 4, None, None, None, None, None).decode(), "application/samlmetadata+xml")
                elif url.path == "/cert":
                    self.reply(200, idp.keys[query.get("key", "idp")][2], "text/plain")
                elif url.path == "/sso/redirect":
                    options = json.loads(base64.urlsafe_b64decode(query["as"] + "=="))
                    server = idp.server(options.get("key", "idp"), options.get("name_format", "basic"))
                    req = server.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
                    message = req.message
                    acs = message.assertion_consumer_service_url
                    response = idp.respond(options, message.id, acs, message.issuer.text)
                    self.reply(200, post_form(acs, response, query.get("RelayState")))
                else:
                    self.reply(404, "not found", "text/plain")
            except Exception as e:  # a test peer: report, don't die
                self.reply(400, f"{type(e).__name__}: {e}", "text/plain")

        def do_POST(self):
            url = urlparse(self.path)
            try:
                if url.path == "/sp":
                    idp.add_sp(self.body())
                    self.reply(204, "")
                elif url.path == "/idp-initiated":
                    options = json.loads(self.body())
                    response = idp.respond(options, None, options["acs"], options["sp"])
                    self.reply(200, post_form(options["acs"], response, options.get("relay_state")))
                elif url.path == "/assertion":
                    options = json.loads(self.body())
                    response = idp.respond(options, options.get("in_response_to"), options["acs"], options["sp"])
                    self.reply(200, standalone_assertion(response), "application/xml")
                elif url.path == "/sign":
                    req = json.loads(self.body())
                    server = idp.server(req.get("key", "idp"), "basic")
                    signed = server.sec.sign_statement(req["xml"], req["node"], node_id=req["id"])
                    self.reply(200, signed, "application/xml")
                elif url.path == "/signature-template":
                    req = json.loads(self.body())
                    template = pre_signature_part(
                        req["id"],
                        digest_alg="http://www.w3.org/2001/04/xmlenc#sha256",
                        sign_alg="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                    )
                    self.reply(200, str(template), "application/xml")
                else:
                    self.reply(404, "not found", "text/plain")
            except Exception as e:
                self.reply(400, f"{type(e).__name__}: {e}", "text/plain")

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="gatehouse-idp-")
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), None)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.RequestHandlerClass = handler_for(Idp(base, workdir))
    print(json.dumps({"port": httpd.server_address[1]}), flush=True)

    def exit_with_parent():
        # The test binary holds our stdin; when it exits, so do we.
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    httpd.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
