"""02 TLS on the API port (--tls-cert/--tls-key): each connection is sniffed, so one port serves
TLS 1.2 (pinned, as the GameLift C++ and C# server SDKs do) and TLS 1.3 clients, boto3 over
https (same answers as over http), plain http clients, and WebSocket streams over wss://; a
handshake that goes wrong is counted in /metrics; a missing or bad certificate stops start-up
with a message naming the file."""
# needs: websocket

import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import time
import warnings

import boto3
import botocore.config

import harness
from harness import announce, expect_error, for_server, fresh, no_daemon, signed_get_headers

warnings.filterwarnings("ignore", message="Unverified HTTPS request")  # verify=False, on purpose


CERT_DIR, CERT, KEY = harness.make_cert()
TLS = dict(args=["--tls-cert", CERT, "--tls-key", KEY])


def _ctx(max_version=None):
    """A client context that, like the GameLift C++ SDK, checks neither chain nor host name."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if max_version is not None:
        ctx.maximum_version = max_version
    return ctx


def _https(d, method, path, ctx, body=None, headers=None):
    """One request over TLS; returns (Resp, negotiated protocol)."""
    conn = http.client.HTTPSConnection("127.0.0.1", d.port, timeout=10, context=ctx)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        version = conn.sock.version()
        r = conn.getresponse()
        return harness.Resp(r.status, r.getheaders(), r.read()), version
    finally:
        conn.close()


def _https_client(d):
    cfg = botocore.config.Config(retries={"total_max_attempts": 1}, connect_timeout=5,
                                 read_timeout=20)
    return boto3.Session(botocore_session=harness._BOTOCORE).client(
        "gamelift", endpoint_url="https://127.0.0.1:%d" % d.port, region_name=harness.REGION,
        aws_access_key_id=d.key_id, aws_secret_access_key=d.secret, verify=False, config=cfg)


def _handshakes(d):
    text = d.http("GET", "/metrics").body.decode()
    out = {}
    for res in ("ok", "failed"):
        m = re.search(r'^hangar_http_tls_handshakes_total\{result="%s"\} (\d+)$' % res, text, re.M)
        assert m, "no hangar_http_tls_handshakes_total{result=%s} in /metrics" % res
        out[res] = int(m.group(1))
    return out


@fresh(**TLS)
def test_tls12_and_tls13_on_the_api_port(d):
    before = _handshakes(d)
    r, version = _https(d, "GET", "/healthz", _ctx(ssl.TLSVersion.TLSv1_2))
    assert r.status == 200, "/healthz over TLS 1.2 -> %r" % r
    assert version == "TLSv1.2", "pinned TLS 1.2, negotiated %s" % version
    r, version = _https(d, "GET", "/healthz", _ctx())
    assert r.status == 200, "/healthz over TLS -> %r" % r
    assert version == "TLSv1.3", "an unpinned client should get TLS 1.3, got %s" % version
    # SNI with a name the certificate does not carry (the C++ SDK sends SNI even for an IP).
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
        with _ctx(ssl.TLSVersion.TLSv1_2).wrap_socket(raw, server_hostname="gamelift.local") as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
    assert got.startswith(b"HTTP/1.1 200 "), got[:200]
    after = _handshakes(d)
    assert after["ok"] - before["ok"] == 3, (before, after)
    assert after["failed"] == before["failed"], (before, after)


@fresh(**TLS)
def test_boto3_over_https_gets_the_same_answers(d):
    plain, tls = d.client(), _https_client(d)
    harness.create_group(plain, "tls-grp")
    for c in (plain, tls):
        groups = c.list_game_server_groups()["GameServerGroups"]
        assert [g["GameServerGroupName"] for g in groups] == ["tls-grp"], groups
    a = plain.list_locations()["Locations"]
    b = tls.list_locations()["Locations"]
    assert a == b and a, (a, b)
    msg_http, st_http = expect_error("NotFoundException", harness.group_get, plain, "tls-nope")
    msg_tls, st_tls = expect_error("NotFoundException", harness.group_get, tls, "tls-nope")
    assert (msg_http, st_http) == (msg_tls, st_tls), ((msg_http, st_http), (msg_tls, st_tls))
    # A write over TLS is visible over http.
    harness.create_group(tls, "tls-grp-2")
    names = sorted(g["GameServerGroupName"] for g in plain.list_game_server_groups()[
        "GameServerGroups"])
    assert names == ["tls-grp", "tls-grp-2"], names
    # A bad signature is refused the same way over TLS.
    bad = boto3.Session(botocore_session=harness._BOTOCORE).client(
        "gamelift", endpoint_url="https://127.0.0.1:%d" % d.port, region_name=harness.REGION,
        aws_access_key_id=d.key_id, aws_secret_access_key=d.secret + "x", verify=False,
        config=botocore.config.Config(retries={"total_max_attempts": 1}))
    expect_error("InvalidSignatureException", bad.list_game_server_groups)


@fresh(**TLS)
def test_plain_http_on_the_same_port(d):
    r = d.http("GET", "/healthz")
    assert r.status == 200, r
    r = d.raw("ListGameServerGroups", {})
    assert r.status == 200, r
    assert r.json().get("GameServerGroups") == [], r
    # keep-alive: several requests on one plain connection
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    try:
        for _ in range(3):
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
    finally:
        conn.close()


@fresh(**TLS)
def test_websocket_events_over_wss_tls12(d):
    import websocket
    path = "/v1/registry/events?kind=tls-ev"
    port = d.port
    hdrs = signed_get_headers(d, path, port=port)
    ws = websocket.create_connection(
        "wss://127.0.0.1:%d%s" % (port, path), timeout=10,
        sslopt={"context": _ctx(ssl.TLSVersion.TLSv1_2)},
        header=["%s: %s" % (k, v) for k, v in hdrs.items() if k in ("Authorization", "X-Amz-Date")])
    try:
        assert ws.sock.version() == "TLSv1.2", ws.sock.version()
        s = announce(d, "tls-ev", "10.0.9.1", 7100)
        deadline = time.monotonic() + 10
        while True:
            assert time.monotonic() < deadline, "no server.up for %s over wss://" % s["id"]
            ev = json.loads(ws.recv())
            if for_server(s["id"], "server.up")(ev):
                break
        assert ev["server"]["address"] == "10.0.9.1", ev
    finally:
        ws.close()


@fresh(**TLS)
def test_server_sdk_over_wss_tls12(d):
    """A game server process the way the C++ server SDK connects: TLS 1.2 pinned, no
    certificate check, to the wss:// endpoint RegisterCompute hands out."""
    import glsdk
    c = d.client()
    c.create_location(LocationName="custom-tls")
    fid = c.create_fleet(Name="tls", ComputeType="ANYWHERE",
                         Locations=[{"Location": "custom-tls"}])["FleetAttributes"]["FleetId"]
    ep = c.register_compute(FleetId=fid, ComputeName="h", IpAddress="127.0.0.1",
                            Location="custom-tls")["Compute"]["GameLiftServiceSdkEndpoint"]
    assert ep.startswith("wss://127.0.0.1:%d/" % harness.client_port(c)), ep
    tok = c.get_compute_auth_token(FleetId=fid, ComputeName="h")["AuthToken"]
    sdk = glsdk.ServerSdk(ep, fid, "h", auth_token=tok, flavor="cpp", insecure=True,
                          tls12_only=True, call_timeout=10)
    sdk.connect()
    sdk.process_ready(7777, [])
    gs = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=2)["GameSession"]
    push = sdk.wait_push("CreateGameSession", timeout=5)
    assert push["GameSessionId"] == gs["GameSessionId"], push
    sdk.activate_game_session()
    sdk.process_ending()
    sdk.close(1001)


@fresh(**TLS)
def test_broken_handshake_is_closed_and_counted(d):
    before = _handshakes(d)
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x00\x10not a client hello at all")
        got = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    assert not got.startswith(b"HTTP/"), "a TLS record was answered as HTTP: %r" % got[:100]
    assert got == b"" or got[0] == 0x15, "expected a TLS alert or nothing, got %r" % got[:100]
    harness.wait_until(lambda: _handshakes(d)["failed"] == before["failed"] + 1, 5,
                       what="the failed handshake to be counted")
    assert d.http("GET", "/healthz").status == 200  # and the daemon carries on


def _start_fails(*args):
    data = harness.tmpdir()
    p = harness.hangard_cli("--listen", "127.0.0.1:%d" % harness.free_port(), "--data", data,
                            *args)
    out = p.stdout + p.stderr
    assert p.returncode != 0, "hangard started with %r:\n%s" % (args, out)
    return out


@no_daemon
def test_bad_certificate_stops_startup(d):
    missing = os.path.join(CERT_DIR, "missing.pem")
    out = _start_fails("--tls-cert", missing, "--tls-key", KEY)
    assert "tls-cert" in out and missing in out and "No such file" in out, out
    garbage = os.path.join(CERT_DIR, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("not a certificate\n")
    out = _start_fails("--tls-cert", garbage, "--tls-key", KEY)
    assert "tls-cert" in out and garbage in out, out
    other_key = os.path.join(CERT_DIR, "other-key.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", other_key], check=True, capture_output=True)
    out = _start_fails("--tls-cert", CERT, "--tls-key", other_key)
    assert "does not match" in out, out
    out = _start_fails("--tls-cert", CERT)
    assert "both or neither" in out, out


harness.run()
