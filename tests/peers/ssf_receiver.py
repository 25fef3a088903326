"""A Shared Signals receiver's checks, with PyJWT: Security Event Tokens (RFC 8417) verified
against the transmitter's published keys, as an app receiving them must.

  ssf_receiver.py verify CONFIG_URL AUDIENCE SET [SET ...]
      reads the transmitter configuration (SSF 1.0), verifies each SET's signature against
      its jwks_uri (RS256), `typ` (secevent+jwt), issuer, audience, `iat`, `jti` and
      `events`; prints [{"header", "claims"}, ...] or {"error"} for the first that fails
  ssf_receiver.py poll CONFIG_URL AUDIENCE CLIENT_ID CLIENT_SECRET POLL_URL [ACK,ACK,...]
      polls (RFC 8936) with HTTP Basic client credentials, acknowledging the jtis given,
      verifies every SET returned as above and prints {"sets": {jti: claims}, "more"}
"""

import json
import sys

import jwt
import requests


def config(url):
    r = requests.get(url, timeout=10)
    r.raise_for_status()
    return r.json()


def verify(conf, audience, token):
    header = jwt.get_unverified_header(token)
    if header.get("typ") != "secevent+jwt":
        raise ValueError(f"typ is {header.get('typ')!r}")
    keys = jwt.PyJWKClient(conf["jwks_uri"])
    key = keys.get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=conf["issuer"],
        options={"require": ["iss", "aud", "iat", "jti"]},
        # The clock skew a receiver allows (a test may run Gatehouse's clock ahead).
        leeway=60,
    )
    if not isinstance(claims.get("events"), dict) or not claims["events"]:
        raise ValueError("no events")
    if "sub_id" not in claims:
        raise ValueError("no sub_id")
    return {"header": header, "claims": claims}


def main():
    mode, config_url, audience = sys.argv[1], sys.argv[2], sys.argv[3]
    conf = config(config_url)
    if mode == "verify":
        out = []
        for token in sys.argv[4:]:
            try:
                out.append(verify(conf, audience, token))
            except Exception as e:  # the test reads the reason
                print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
                return
        print(json.dumps(out))
    elif mode == "poll":
        client_id, secret, poll_url = sys.argv[4], sys.argv[5], sys.argv[6]
        acks = [a for a in (sys.argv[7] if len(sys.argv) > 7 else "").split(",") if a]
        r = requests.post(
            poll_url,
            json={"ack": acks, "maxEvents": 10, "returnImmediately": True},
            auth=(client_id, secret),
            timeout=10,
        )
        if r.status_code != 200:
            print(json.dumps({"error": f"status {r.status_code}: {r.text}"}))
            return
        body = r.json()
        sets = {}
        for jti, token in body["sets"].items():
            try:
                checked = verify(conf, audience, token)
            except Exception as e:
                print(json.dumps({"error": f"{jti}: {type(e).__name__}: {e}"}))
                return
            if checked["claims"]["jti"] != jti:
                print(json.dumps({"error": f"{jti} carries jti {checked['claims']['jti']}"}))
                return
            sets[jti] = checked["claims"]
        print(json.dumps({"sets": sets, "more": body.get("moreAvailable")}))
    else:
        print(json.dumps({"error": f"unknown mode {mode}"}))


if __name__ == "__main__":
    main()
