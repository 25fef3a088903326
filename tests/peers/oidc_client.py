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
  oidc_client.py exchange   DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI ID_TOKEN ORGANIZATION [NAME=VALUE ...]
      trades an ID token from the tenant's IdP for the provider's tokens (RFC 8693 token
      exchange), validates the ID token it gets against the JWKS (issuer, audience, expiry,
      signature) and calls userinfo; prints {"id_token": claims, "token": response, "userinfo"}
  oidc_client.py keygen     DISCOVERY_URL CLIENT_ID - -
      prints {"private": JWK, "public": JWK}: an RSA key pair for private_key_jwt
  oidc_client.py assertion  DISCOVERY_URL CLIENT_ID PRIVATE_JWK -
      prints {"assertion"}: an RFC 7523 client assertion for the token endpoint
  oidc_client.py finish-dpop DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI CALLBACK_URL STATE VERIFIER NONCE
      redeems the code with a DPoP proof (RFC 9449) by a fresh P-256 key, calls userinfo with
      the bound token as DPoP, as Bearer, and twice with one proof; prints {"token", "key",
      "userinfo_status", "userinfo", "bearer_status", "replay_statuses", "bearer_challenge",
      "replay_challenge", "replay_error"}
  oidc_client.py refresh-dpop DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI KEY REFRESH_TOKEN
      refreshes with a DPoP proof by the private JWK KEY; prints {"status", "body"}
  oidc_client.py client-credentials DISCOVERY_URL CLIENT_ID CLIENT_SECRET - SCOPE
      a client credentials grant (RFC 6749 §4.4; a tenant's SCIM client), by secret or,
      with a private JWK as secret, private_key_jwt; prints the token response
  oidc_client.py logout-token DISCOVERY_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI LOGOUT_TOKEN
      validates a back-channel logout token as an app must (OpenID Connect Back-Channel
      Logout 1.0, section 2.6) and prints its claims

A CLIENT_SECRET that is a JSON object is the app's private JWK: the client then
authenticates with signed assertions (private_key_jwt, RFC 7523) instead of a secret.

Errors are printed as {"error": "..."} with exit status 1.
"""

import base64
import hashlib
import json
import sys
import time

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign


def session(meta, client_id, secret, redirect_uri, scope="openid email profile"):
    if secret.startswith("{"):
        client = OAuth2Session(
            client_id,
            json.loads(secret),
            scope=scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="private_key_jwt",
        )
        client.register_client_auth_method(PrivateKeyJWT(meta["token_endpoint"]))
        return client
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
    if step == "client-credentials":
        scope = rest[0]
    if step == "refresh":
        scope = None  # the grant's own scope (RFC 6749 §6: omitted, it stays as granted)
    if step == "keygen":
        key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": generate_token(8)})
        print(json.dumps({"private": key.as_dict(is_private=True), "public": key.as_dict(is_private=False)}))
        return 0
    if step == "assertion":
        signed = private_key_jwt_sign(json.loads(secret), client_id, meta["token_endpoint"], alg="RS256")
        print(json.dumps({"assertion": signed.decode() if isinstance(signed, bytes) else signed}))
        return 0
    client = session(meta, client_id, secret, redirect_uri, scope)
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
    if step == "exchange":
        print(json.dumps(exchange(meta, client, client_id, rest)))
        return 0
    if step == "logout-token":
        print(json.dumps(logout_token(meta, client_id, rest[0])))
        return 0
    if step == "client-credentials":
        token = client.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
        print(json.dumps(dict(token)))
        return 0
    if step == "refresh-dpop":
        key = JsonWebKey.import_key(json.loads(rest[0]))
        r = requests.post(
            meta["token_endpoint"],
            data={"grant_type": "refresh_token", "refresh_token": rest[1]},
            auth=(client_id, secret),
            headers={"DPoP": dpop_proof(key, "POST", meta["token_endpoint"])},
            timeout=10,
        )
        print(json.dumps({"status": r.status_code, "body": r.json()}))
        return 0
    if step == "finish-dpop":
        print(json.dumps(finish_dpop(meta, client, client_id, rest)))
        return 0
    callback, state, verifier, nonce = rest
    client.state = state
    token = client.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state
    )
    claims = validated_id_token(meta, client_id, token["id_token"], nonce)
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


def dpop_proof(key, method, url, access_token=None):
    """A DPoP proof (RFC 9449 section 4) by `key` for a `method` request to `url`."""
    alg = "ES256" if key.kty == "EC" else "RS256"
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(is_private=False)}
    claims = {"jti": generate_token(20), "htm": method, "htu": url, "iat": int(time.time())}
    if access_token:
        digest = hashlib.sha256(access_token.encode()).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    signed = jwt.encode(header, claims, key)
    return signed.decode() if isinstance(signed, bytes) else signed


def finish_dpop(meta, client, client_id, rest):
    """Redeems the code with a DPoP proof by a fresh P-256 key, then calls userinfo with the
    bound token as DPoP (and once as Bearer, which must be refused)."""
    callback, state, verifier, nonce = rest
    key = JsonWebKey.generate_key("EC", "P-256", is_private=True)
    client.state = state
    token = client.fetch_token(
        meta["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        state=state,
        headers={"DPoP": dpop_proof(key, "POST", meta["token_endpoint"])},
    )
    validated_id_token(meta, client_id, token["id_token"], nonce)
    at = token["access_token"]
    url = meta["userinfo_endpoint"]
    bound = requests.get(
        url,
        headers={"Authorization": f"DPoP {at}", "DPoP": dpop_proof(key, "GET", url, at)},
        timeout=10,
    )
    bearer = requests.get(url, headers={"Authorization": f"Bearer {at}"}, timeout=10)
    replayed_proof = dpop_proof(key, "GET", url, at)
    first = requests.get(
        url, headers={"Authorization": f"DPoP {at}", "DPoP": replayed_proof}, timeout=10
    )
    again = requests.get(
        url, headers={"Authorization": f"DPoP {at}", "DPoP": replayed_proof}, timeout=10
    )
    return {
        "token": dict(token),
        "key": key.as_dict(is_private=True),
        "userinfo_status": bound.status_code,
        "userinfo": bound.json(),
        "bearer_status": bearer.status_code,
        "replay_statuses": [first.status_code, again.status_code],
        "bearer_challenge": bearer.headers.get("WWW-Authenticate"),
        "replay_challenge": again.headers.get("WWW-Authenticate"),
        "replay_error": again.json().get("error"),
    }


def validated_id_token(meta, client_id, raw, nonce=None):
    """The claims of an ID token checked against the JWKS: issuer, audience, expiry, and the
    nonce when one was sent."""
    keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
    options = {
        "iss": {"essential": True, "value": meta["issuer"]},
        "aud": {"essential": True, "value": client_id},
        "exp": {"essential": True},
    }
    if nonce is not None:
        options["nonce"] = {"essential": True, "value": nonce}
    claims = jwt.decode(raw, keys, claims_options=options)
    claims.validate()
    return claims


TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def exchange(meta, client, client_id, rest):
    """RFC 8693: the ID token for the provider's tokens, checked as an app must."""
    subject, organization, *pairs = rest
    assert TOKEN_EXCHANGE in meta["grant_types_supported"], "the provider does not offer it"
    extra = dict(pair.split("=", 1) for pair in pairs)
    token = client.fetch_token(
        meta["token_endpoint"],
        grant_type=TOKEN_EXCHANGE,
        subject_token=subject,
        # An ID token unless the caller says (`subject_token_type=…:saml2` for an assertion).
        subject_token_type=extra.pop("subject_token_type", ID_TOKEN_TYPE),
        requested_token_type=ACCESS_TOKEN_TYPE,
        organization=organization,
        **extra,
    )
    assert token.get("issued_token_type") == ACCESS_TOKEN_TYPE, f"issued {token.get('issued_token_type')}"
    assert token.get("token_type", "").lower() == "bearer", f"token_type {token.get('token_type')}"
    claims = validated_id_token(meta, client_id, token["id_token"])
    info = client.get(meta["userinfo_endpoint"]).json()
    return {"id_token": dict(claims), "token": dict(token), "userinfo": info}


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
