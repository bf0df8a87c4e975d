"""06 players and their tokens on the native API, with a plain HTTP client: device and custom
logins, refresh rotation (a reused refresh token ends its session), logout, the player's profile
and friends, what a player may not do, and tokens that are expired, tampered with or unsigned.
Tokens are JWTs (HS256); the tests forge some with python3-jwt and the signing key read from
the store, to show what the verifier refuses."""

import base64
import http.client
import json
import os
import sqlite3
import subprocess
import time

import jwt

import harness
from harness import fresh, native_error

OPEN = ["--auth-device", "1"]


call = harness.player_call


def device_login(d, device_id, name=None, expect=(200, 201)):
    body = {"device_id": device_id}
    if name:
        body["display_name"] = name
    r = call(d, "POST", "/v1/auth/device", body)
    assert r.status in expect, r
    return r.json()


def signing_key(d):
    """The newest player-token signing key, read from the store (the test forges tokens)."""
    db = sqlite3.connect(os.path.join(d.data, "hangar.db"))
    try:
        rows = db.execute("SELECT key, value FROM records WHERE coll='auth.signing_keys'").fetchall()
    finally:
        db.close()
    kid, rec = max(rows, key=lambda kv: json.loads(kv[1])["created_ms"])
    return kid, bytes.fromhex(json.loads(rec)["secret"])


@fresh(args=OPEN)
def test_device_login_creates_then_finds(d):
    a = device_login(d, "device-alice-1", "Alice")
    assert a["created"] is True and a["expires_in"] == 3600, a
    assert len(a["player_id"]) == 36 and a["player_id"][14] == "8", a  # a version-8 UUID
    again = device_login(d, "device-alice-1")
    assert again["player_id"] == a["player_id"] and again["created"] is False, again
    assert again["token"] != a["token"] and again["refresh_token"] != a["refresh_token"]
    b = device_login(d, "device-bob-22")
    assert b["player_id"] != a["player_id"]
    me = call(d, "GET", "/v1/players/me", token=a["token"]).json()
    assert me["player_id"] == a["player_id"] and me["display_name"] == "Alice", me
    # the JWT's claims, as any client library reads them
    claims = jwt.decode(a["token"], options={"verify_signature": False})
    assert claims["sub"] == a["player_id"] and claims["iss"] == "hangar", claims
    assert claims["exp"] - claims["iat"] == 3600, claims
    for bad in ({"device_id": "short"}, {"device_id": "has space 123"}, {},
                {"device_id": 12345678}, {"device_id": "device-ok-1", "display_name": ""},
                {"device_id": "device-ok-1", "display_name": "x" * 65}):
        native_error(call(d, "POST", "/v1/auth/device", bad), 400, "invalid_request")
    # kill -9: players, sessions and the signing key are durable
    d.restart(hard=True)
    assert call(d, "GET", "/v1/players/me", token=a["token"]).status == 200
    assert device_login(d, "device-alice-1")["player_id"] == a["player_id"]


@fresh()
def test_device_login_needs_the_option_or_a_key(d):
    err = native_error(call(d, "POST", "/v1/auth/device", {"device_id": "device-xyz-1"}), 403)
    assert "auth-device" in err["message"], err
    vouch = d.create_key("lobby", allow=["players:Vouch"])
    r = harness.reg_call(d, "POST", "/v1/auth/device", {"device_id": "device-xyz-1"}, vouch)
    assert r.status == 201, r
    other = d.create_key("nope", allow=["registry:Read"])
    native_error(harness.reg_call(d, "POST", "/v1/auth/device", {"device_id": "device-xyz-1"},
                                  other), 403, "forbidden")


@fresh(args=OPEN + ["--auth-open-per-minute", "5"])
def test_open_logins_are_rate_limited_per_address(d):
    for i in range(5):
        device_login(d, "device-rate-%02d" % i)
    native_error(call(d, "POST", "/v1/auth/device", {"device_id": "device-rate-99"}), 429,
                 "throttled")
    # signed calls are not counted
    vouch = d.create_key("lobby", allow=["players:Vouch"])
    r = harness.reg_call(d, "POST", "/v1/auth/device", {"device_id": "device-rate-99"}, vouch)
    assert r.status == 201, r


def test_custom_login_by_a_trusted_server(d):
    vouch = d.create_key("game-server", allow=["players:Vouch"])
    r = harness.reg_call(d, "POST", "/v1/auth/custom", {"custom_id": "steam:7656119"}, vouch)
    assert r.status == 201, r
    first = r.json()
    r = harness.reg_call(d, "POST", "/v1/auth/custom", {"player_id": first["player_id"]}, vouch)
    assert r.status == 200 and r.json()["player_id"] == first["player_id"], r
    native_error(harness.reg_call(d, "POST", "/v1/auth/custom",
                                  {"player_id": "00000000-0000-8000-8000-000000000000"}, vouch),
                 404, "not_found")
    native_error(harness.reg_call(d, "POST", "/v1/auth/custom",
                                  {"custom_id": "x-123456", "player_id": first["player_id"]},
                                  vouch), 400)
    # a player's token cannot vouch, and an unsigned call is not a custom login
    native_error(call(d, "POST", "/v1/auth/custom", {"custom_id": "steam:1"},
                      token=first["token"]), 403)
    native_error(call(d, "POST", "/v1/auth/custom", {"custom_id": "steam:1"}), 403)


@fresh(args=OPEN)
def test_refresh_rotates_and_reuse_ends_the_session(d):
    a = device_login(d, "device-refresh-1")
    r = call(d, "POST", "/v1/auth/refresh", {"refresh_token": a["refresh_token"]})
    assert r.status == 200, r
    b = r.json()
    assert b["player_id"] == a["player_id"] and b["created"] is False, b
    assert b["refresh_token"] != a["refresh_token"]
    assert call(d, "GET", "/v1/players/me", token=b["token"]).status == 200
    # the old refresh token again: someone else holds it; the session ends for both
    native_error(call(d, "POST", "/v1/auth/refresh", {"refresh_token": a["refresh_token"]}),
                 401, "invalid_token")
    native_error(call(d, "POST", "/v1/auth/refresh", {"refresh_token": b["refresh_token"]}),
                 401, "invalid_token")
    native_error(call(d, "GET", "/v1/players/me", token=b["token"]), 401, "invalid_token")
    for junk in ("", "rt1.", "rt1." + "x" * 80, b["refresh_token"][:-1] + "A"):
        native_error(call(d, "POST", "/v1/auth/refresh", {"refresh_token": junk}), 401)


@fresh(args=OPEN)
def test_logout_revokes_at_once(d):
    a = device_login(d, "device-logout-1")
    other = device_login(d, "device-logout-1")  # a second login (another phone)
    r = call(d, "POST", "/v1/auth/logout", token=a["token"])
    assert r.status == 200, r
    native_error(call(d, "GET", "/v1/players/me", token=a["token"]), 401, "invalid_token")
    native_error(call(d, "POST", "/v1/auth/refresh", {"refresh_token": a["refresh_token"]}), 401)
    assert call(d, "GET", "/v1/players/me", token=other["token"]).status == 200
    native_error(call(d, "POST", "/v1/auth/logout"), 403)


@fresh(args=OPEN)
def test_profile_and_friends(d):
    a = device_login(d, "device-prof-a", "Ann")
    b = device_login(d, "device-prof-b", "Ben")
    c = device_login(d, "device-prof-c")
    r = call(d, "PATCH", "/v1/players/me", {"display_name": "Anne 🎮",
                                             "metadata": {"level": 3, "tags": ["x"]}},
             token=a["token"])
    assert r.status == 200 and r.json()["display_name"] == "Anne 🎮", r
    assert r.json()["metadata"] == {"level": 3, "tags": ["x"]}
    native_error(call(d, "PATCH", "/v1/players/me", {"metadata": {"b": "x" * 4100}},
                      token=a["token"]), 400)
    native_error(call(d, "PATCH", "/v1/players/me", {"metadata": [1]}, token=a["token"]), 400)
    native_error(call(d, "PATCH", "/v1/players/me", {"display_name": "a\tb"},
                      token=a["token"]), 400)
    # friends: known ids only, never itself
    native_error(call(d, "PUT", "/v1/players/me/friends",
                      {"friends": ["00000000-0000-8000-8000-000000000000"]}, token=a["token"]),
                 404)
    native_error(call(d, "PUT", "/v1/players/me/friends", {"friends": [a["player_id"]]},
                      token=a["token"]), 400)
    r = call(d, "PUT", "/v1/players/me/friends", {"friends": [b["player_id"], b["player_id"]]},
             token=a["token"])
    assert r.status == 200, r
    assert r.json()["friends"] == [{"player_id": b["player_id"], "display_name": "Ben"}], r
    r = call(d, "POST", "/v1/players/me/friends/" + c["player_id"], token=a["token"])
    assert [f["player_id"] for f in r.json()["friends"]] == [b["player_id"], c["player_id"]], r
    r = call(d, "DELETE", "/v1/players/me/friends/" + b["player_id"], token=a["token"])
    assert [f["player_id"] for f in r.json()["friends"]] == [c["player_id"]], r
    native_error(call(d, "PUT", "/v1/players/me/friends",
                      {"friends": [c["player_id"]] * 1001}, token=a["token"]), 409,
                 "limit_exceeded")
    # a player acts only as itself
    native_error(call(d, "GET", "/v1/players/" + b["player_id"], token=a["token"]), 403)
    native_error(call(d, "PUT", "/v1/players/%s/friends" % b["player_id"],
                      {"friends": []}, token=a["token"]), 403)
    native_error(call(d, "GET", "/v1/registry/servers", token=a["token"]), 403)
    assert call(d, "GET", "/v1/players/%s" % a["player_id"], token=a["token"]).status == 200
    # a key reads and sets any player's
    reader = d.create_key("support", allow=["players:Read"])
    r = harness.reg_call(d, "GET", "/v1/players/" + a["player_id"], key=reader)
    assert r.status == 200 and r.json()["display_name"] == "Anne 🎮", r
    native_error(harness.reg_call(d, "PUT", "/v1/players/%s/friends" % a["player_id"],
                                  {"friends": []}, reader), 403)
    writer = d.create_key("ops", allow=["players:Read", "players:Write"])
    r = harness.reg_call(d, "PUT", "/v1/players/%s/friends" % b["player_id"],
                         {"friends": [a["player_id"]]}, writer)
    assert r.status == 200, r
    d.restart(hard=True)
    r = call(d, "GET", "/v1/players/me/friends", token=b["token"])
    assert [f["player_id"] for f in r.json()["friends"]] == [a["player_id"]], r
    r = call(d, "GET", "/v1/players/me", token=a["token"])
    assert r.json()["metadata"] == {"level": 3, "tags": ["x"]}, r


@harness.embedded_only  # reads or breaks hangar.db itself
@fresh(args=OPEN)
def test_expired_tampered_and_unsigned_tokens_refused(d):
    a = device_login(d, "device-forge-1")
    claims = jwt.decode(a["token"], options={"verify_signature": False})
    kid, secret = signing_key(d)
    assert call(d, "GET", "/v1/players/me",
                token=jwt.encode(claims, secret, "HS256", headers={"kid": kid})).status == 200
    now = int(time.time())
    forged = {
        "expired": jwt.encode(dict(claims, iat=now - 7200, exp=now - 10), secret, "HS256",
                              headers={"kid": kid}),
        "future": jwt.encode(dict(claims, iat=now + 3600, exp=now + 7200), secret, "HS256",
                             headers={"kid": kid}),
        "other key": jwt.encode(claims, b"x" * 32, "HS256", headers={"kid": kid}),
        "unknown kid": jwt.encode(claims, secret, "HS256", headers={"kid": "0" * 16}),
        "HS512": jwt.encode(claims, secret, "HS512", headers={"kid": kid}),
        "other issuer": jwt.encode(dict(claims, iss="evil"), secret, "HS256",
                                   headers={"kid": kid}),
    }
    h, p, s = a["token"].split(".")
    other = json.loads(base64.urlsafe_b64decode(p + "=="))
    other["sub"] = device_login(d, "device-forge-2")["player_id"]
    tampered = base64.urlsafe_b64encode(json.dumps(other).encode()).rstrip(b"=").decode()
    forged["tampered"] = "%s.%s.%s" % (h, tampered, s)
    none_hdr = base64.urlsafe_b64encode(
        json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode()).rstrip(b"=").decode()
    forged["alg none"] = "%s.%s." % (none_hdr, p)
    forged["garbage"] = "not.a.jwt"
    forged["huge"] = "a" * 3000
    for what, tok in forged.items():
        r = call(d, "GET", "/v1/players/me", token=tok)
        assert r.status == 401, (what, r)
        assert r.json()["error"]["code"] == "invalid_token", (what, r)


@fresh(args=OPEN)
def test_signing_key_rotation(d):
    a = device_login(d, "device-rot-1")
    r = harness.reg_call(d, "POST", "/v1/auth/signing-keys", {})
    assert r.status == 201, r
    keys = r.json()["signing_keys"]
    assert len(keys) == 2 and keys[0]["signing"] and keys[0]["kid"] == r.json()["kid"], keys
    assert "secret" not in json.dumps(keys)
    # tokens signed with the previous key still work; new ones use the new key
    assert call(d, "GET", "/v1/players/me", token=a["token"]).status == 200
    b = device_login(d, "device-rot-1")
    assert jwt.get_unverified_header(b["token"])["kid"] == r.json()["kid"]
    for _ in range(3):  # four keys are kept: the first is gone after three more rotations
        assert harness.reg_call(d, "POST", "/v1/auth/signing-keys", {}).status == 201
    native_error(call(d, "GET", "/v1/players/me", token=a["token"]), 401, "invalid_token")
    lobby = d.create_key("lobby", allow=["players:Vouch"])
    native_error(harness.reg_call(d, "POST", "/v1/auth/signing-keys", {}, lobby), 403)


def _host_address():
    """An IPv4 address of this machine that is not loopback (`hostname -I`), or None."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    ips = [a for a in out.split() if "." in a and not a.startswith("127.")]
    return ips[0] if ips else None


@harness.no_daemon
def test_bearer_over_plain_http_only_from_loopback(_):
    ip = _host_address()
    if ip is None:
        print("skip: no non-loopback address on this machine", flush=True)
        return
    for allow in (0, 1):
        d = harness.Daemon(args=OPEN + ["--allow-plain-bearer", str(allow)], host="0.0.0.0")
        try:
            d.start()
            a = device_login(d, "device-plain-%d" % allow)
            # every node: on a cluster a standby relays from loopback, and the owner must still
            # see the remote client (the relay's PROXY header), never the standby's address
            for port in d.ports:
                assert call(d, "GET", "/v1/players/me", token=a["token"]).status == 200  # local
                conn = http.client.HTTPConnection(ip, port, timeout=5)
                conn.request("GET", "/v1/players/me",
                             headers={"Authorization": "Bearer " + a["token"]})
                r = conn.getresponse()
                body = r.read()
                conn.close()
                if allow:
                    assert r.status == 200, (port, r.status, body)
                else:
                    assert r.status == 403 and b"TLS" in body, (port, r.status, body)
        finally:
            d.stop()


harness.run()
