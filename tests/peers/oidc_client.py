"""A standard OIDC relying party (Authlib) for Gatehouse's provider tests, driven in two
steps so the test can play the browser in between:

  oidc_client.py start  DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI [SCOPE [NAME=VALUE ...]]
      prints {"url", "state", "code_verifier", "nonce"}: the authorization request (PKCE S256),
      with any further parameters (such as login_hint=ada@example.com) added to it
  oidc_client.py finish DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI CALLBACK_URL STATE VERIFIER NONCE
      redeems the code, validates the ID token against the JWKS (issuer, audience, expiry,
      nonce, signature) and calls userinfo; prints {"id_token": claims, "raw_id_token", "userinfo": claims, "access_token"}

  oidc_client.py refresh    DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI REFRESH_TOKEN
      prints the token response of a refresh_token grant
  oidc_client.py revoke     DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI TOKEN HINT
      revokes the token at the revocation endpoint (RFC 7009); prints {"status"}
  oidc_client.py introspect DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI TOKEN
      prints the introspection endpoint's answer (RFC 7662)
  oidc_client.py logout-token DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI LOGOUT_TOKEN
      validates a back-channel logout token as an app must (OpenID Connect Back-Channel
      Logout 1.0, section 2.6) and prints its claims

Errors are printed as {"error": "..."} with exit status 1.
"""

import base64
import json
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt


def session(client_id, secret, redirect_uri, scope="openid email profile"):
    return OAuth2Session(
        client_id,
        secret or None,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if secret else "none",
    )


def main():
    step, discovery_url, client_id, secret, redirect_uri, *rest = sys.argv[1:]
    meta = requests.get(discovery_url, timeout=10).json()
    scope, extra = "openid email profile", {}
    if step == "start" and rest:
        scope = rest[0]
        extra = dict(pair.split("=", 1) for pair in rest[1:])
    if step == "refresh":
        scope = None  # the grant's own scope (RFC 6749 §6: omitted, it stays as granted)
    client = session(client_id, secret, redirect_uri, scope)
    if step == "start":
        verifier = generate_token(48)
        nonce = generate_token(20)
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra
        )
        print(json.dumps({"url": url, "state": state, "code_verifier": verifier, "nonce": nonce}))
        return 0
    if step == "refresh":
        token = client.refresh_token(meta["token_endpoint"], refresh_token=rest[0])
        print(json.dumps(dict(token)))
        return 0
    if step == "revoke":
        r = client.revoke_token(meta["revocation_endpoint"], rest[0], token_type_hint=rest[1])
        print(json.dumps({"status": r.status_code}))
        return 0
    if step == "introspect":
        r = client.introspect_token(meta["introspection_endpoint"], token=rest[0])
        print(json.dumps(r.json()))
        return 0
    if step == "logout-token":
        print(json.dumps(logout_token(meta, client_id, rest[0])))
        return 0
    callback, state, verifier, nonce = rest
    client.state = state
    token = client.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
    )
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        token["id_token"],
        keys,
        claims_options={
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": client_id},
            "nonce": {"essential": True, "value": nonce},
            "exp": {"essential": True},
        },
    )
    claims.validate()
    info = client.get(meta["userinfo_endpoint"]).json()
    print(
        json.dumps(
            {
                "id_token": dict(claims),
                "raw_id_token": token["id_token"],
                "userinfo": info,
                "access_token": token["access_token"],
                "refresh_token": token.get("refresh_token"),
            }
        )
    )
    return 0


BACKCHANNEL_LOGOUT = "http://schemas.openid.net/event/backchannel-logout"


def logout_token(meta, client_id, raw):
    """The claims of a valid logout token; raises on anything section 2.6 refuses."""
    assert meta.get("backchannel_logout_supported") is True, "the provider does not say it sends them"
    head = raw.split(".")[0]
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    assert header.get("typ") == "logout+jwt", f"typ is {header.get('typ')}"
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    claims = jwt.decode(
        raw,
        keys,
        claims_options={
            "iss": {"essential": True, "value": meta["issuer"]},
            "aud": {"essential": True, "value": client_id},
            "iat": {"essential": True},
            "exp": {"essential": True},
            "jti": {"essential": True},
        },
    )
    claims.validate()
    events = claims.get("events")
    assert isinstance(events, dict) and events.get(BACKCHANNEL_LOGOUT) == {}, f"events: {events}"
    assert "nonce" not in claims, "a logout token must not carry a nonce"
    assert claims.get("sub") or claims.get("sid"), "neither sub nor sid"
    return dict(claims)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # report to the test, which asserts on it
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
