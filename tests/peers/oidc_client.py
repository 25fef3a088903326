"""A standard OIDC relying party (Authlib) for Gatehouse's provider tests, driven in two
steps so the test can play the browser in between:

  oidc_client.py start  DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI [SCOPE]
      prints {"url", "state", "code_verifier", "nonce"}: the authorization request (PKCE S256)
  oidc_client.py finish DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI CALLBACK_URL STATE VERIFIER NONCE
      redeems the code, validates the ID token against the JWKS (issuer, audience, expiry,
      nonce, signature) and calls userinfo; prints {"id_token": claims, "raw_id_token", "userinfo": claims, "access_token"}

Errors are printed as {"error": "..."} with exit status 1.
"""

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
    scope = rest.pop() if step == "start" and rest else "openid email profile"
    client = session(client_id, secret, redirect_uri, scope)
    if step == "start":
        verifier = generate_token(48)
        nonce = generate_token(20)
        url, state = client.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        print(json.dumps({"url": url, "state": state, "code_verifier": verifier, "nonce": nonce}))
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
            }
        )
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # report to the test, which asserts on it
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        sys.exit(1)
