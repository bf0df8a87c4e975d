"""02 wire strictness: the GameLift API takes only JSON media types (415
UnsupportedMediaTypeException otherwise), a `\\u0000` in a string member is answered with the
member's InvalidRequestException (not SerializationException, and never reaches the domain), and
WebSocket protocol errors close with 1002 in the close frame, server stops with 1012."""

import base64
import os
import socket
import struct
import threading

import harness
from harness import expect_error


def _err(r, status, type_):
    assert r.status == status, "want HTTP %d %s, got %r" % (status, type_, r)
    body = r.json()
    assert body.get("__type") == type_, "want __type %s, got %r" % (type_, body)
    assert r.headers.get("x-amzn-errortype") == type_, r.headers
    assert r.headers.get("x-amzn-requestid"), r.headers
    return body.get("message", "")


def _with_ctype(d, target, body, ctype):
    """A signed GameLift request with exactly this Content-Type (None: no Content-Type at all)."""
    hdrs = {"X-Amz-Target": "GameLift." + target}
    if ctype is not None:
        hdrs["Content-Type"] = ctype
    port = d.port
    hdrs = harness.sign("POST", harness.url_at(port) + "/", body, hdrs, d.key_id, d.secret)
    if ctype is None:
        assert not any(k.lower() == "content-type" for k in hdrs), hdrs
    return d.http("POST", "/", body, hdrs, port=port)


# ---- Content-Type -------------------------------------------------------------------------------

def test_other_media_types_refused_415(d):
    for ctype in ("text/plain", "text/plain; charset=utf-8", "application/xml",
                  "application/x-amz-json-1.0", "application/x-amz-json-1.10",
                  "application/jsonx", "application/json-patch+json",
                  "application/x-www-form-urlencoded", "", "application/json x"):
        r = d.raw("ListFleets", headers={"Content-Type": ctype})
        msg = _err(r, 415, "UnsupportedMediaTypeException")
        assert "Content-Type" in msg, msg
    # A body without any Content-Type is refused too; an empty one is taken as {}.
    _err(_with_ctype(d, "ListFleets", b"{}", None), 415, "UnsupportedMediaTypeException")
    r = _with_ctype(d, "ListFleets", b"", None)
    assert r.status == 200, r
    # Refused before anything runs: CreateLocation under text/plain creates nothing.
    r = d.raw("CreateLocation", {"LocationName": "custom-plain"},
              headers={"Content-Type": "text/plain"})
    _err(r, 415, "UnsupportedMediaTypeException")
    names = [loc["LocationName"] for loc in d.client().list_locations()["Locations"]]
    assert "custom-plain" not in names, names


def test_json_media_types_accepted(d):
    for ctype in ("application/x-amz-json-1.1", "application/json",
                  "application/x-amz-json-1.1; charset=utf-8", "application/json;charset=UTF-8",
                  "APPLICATION/X-AMZ-JSON-1.1", "Application/Json ; charset=utf-8"):
        r = d.raw("ListFleets", headers={"Content-Type": ctype})
        assert r.status == 200, "%s: %r" % (ctype, r)
        assert "FleetIds" in r.json(), r
    # The clients that matter send application/x-amz-json-1.1 and still work.
    assert "FleetIds" in d.client().list_fleets()
    if os.access(harness.AWS_CLI, os.X_OK):
        rc, out, err = harness.aws_cli(d, "list-fleets")
        assert rc == 0 and "FleetIds" in out, (rc, out, err)


# ---- \u0000 in string members -------------------------------------------------------------------

def test_nul_in_a_member_is_invalid_request(d):
    c = d.client()
    # A member with a pattern: the pattern is what fails, as for any other bad character.
    r = d.raw("CreateLocation", b'{"LocationName": "custom-a\\u0000b"}')
    msg = _err(r, 400, "InvalidRequestException")
    assert "'locationName'" in msg and "regular expression pattern" in msg, msg
    assert "custom-a\\u0000b" in msg, msg  # the NUL is shown, not cut
    # A member without one (a fleet Name): hangard's own constraint.
    r = d.raw("CreateFleet", b'{"Name": "echo\\u0000x", "ComputeType": "ANYWHERE"}')
    msg = _err(r, 400, "InvalidRequestException")
    assert "'name'" in msg and "U+0000" in msg, msg
    # A NUL at the very end would vanish if the string were read as a C string.
    r = d.raw("CreateFleet", b'{"Name": "echo\\u0000", "ComputeType": "ANYWHERE"}')
    _err(r, 400, "InvalidRequestException")
    # An http(s) NotificationTarget is set aside for the handler, unless it holds a NUL.
    r = d.raw("CreateGameSessionQueue",
              b'{"Name": "q-nul", "NotificationTarget": "http://127.0.0.1/\\u0000x"}')
    msg = _err(r, 400, "InvalidRequestException")
    assert "'notificationTarget'" in msg, msg
    # A member the model does not know, read by the handler (FilterOption): refused as well.
    r = d.raw("ClaimGameServer", b'{"GameServerGroupName": "g", "FilterOption": '
                                 b'{"InstanceStatuses": ["ACTIVE\\u0000"]}}')
    msg = _err(r, 400, "InvalidRequestException")
    assert "'filterOption.instanceStatuses.1.member'" in msg, msg
    # Nothing got in.
    assert c.list_fleets()["FleetIds"] == [], c.list_fleets()
    names = [loc["LocationName"] for loc in c.list_locations()["Locations"]]
    assert not any(n.startswith("custom-a") for n in names), names
    queues = [q["Name"] for q in c.describe_game_session_queues()["GameSessionQueues"]]
    assert "q-nul" not in queues, queues
    # A NUL in an object key stays a SerializationException (the parser cannot hold one).
    r = d.raw("ListFleets", b'{"\\u0000": 1}')
    _err(r, 400, "SerializationException")
    # boto3 sends the same bytes for a Python "\0".
    expect_error("InvalidRequestException", c.create_location, LocationName="custom-b\0")


# ---- WebSocket ----------------------------------------------------------------------------------

EVENTS = "/v1/registry/events"


def _ws_open(d, port=None):
    """A raw WebSocket client on the registry event stream: (socket, bytes read past the 101)."""
    port = port or d.port
    signed = harness.signed_get_headers(d, EVENTS, port=port)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    lines = ["GET %s HTTP/1.1" % EVENTS, "Host: 127.0.0.1:%d" % port, "Upgrade: websocket",
             "Connection: Upgrade",
             "Sec-WebSocket-Key: %s" % base64.b64encode(os.urandom(16)).decode(),
             "Sec-WebSocket-Version: 13"]
    lines += ["%s: %s" % (k, v) for k, v in signed.items() if k.lower() != "content-length"]
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, "connection closed during the handshake: %r" % buf
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101 "), buf
    return s, rest


def _frame(fin, op, payload=b"", length=None, mask=b"\x11\x22\x33\x44"):
    """A client frame (masked); `length` overrides the announced payload length."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | op
    if n < 126:
        head = struct.pack("!BB", b0, 0x80 | n)
    elif n < 65536 and length is None:
        head = struct.pack("!BBH", b0, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, 0x80 | 127, n)
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def _read_close(s, buf):
    """Reads server frames (skipping events) until the close frame: (code or None, reason)."""
    while True:
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            assert b1 & 0x80 == 0, "the server masked a frame"
            n, h = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, h = struct.unpack("!H", buf[2:4])[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, h = struct.unpack("!Q", buf[2:10])[0], 10
            if len(buf) < h + n:
                break
            payload, buf = buf[h:h + n], buf[h + n:]
            if b0 & 0x0F == 8:
                if len(payload) < 2:
                    return None, b""
                return struct.unpack("!H", payload[:2])[0], payload[2:]
        chunk = s.recv(65536)
        assert chunk, "the connection ended without a close frame"
        buf += chunk


def test_websocket_protocol_errors_close_with_1002(d):
    cases = [
        ("fragmented ping", _frame(0, 9, b"hi")),
        ("close with a 1-byte payload", _frame(1, 8, b"\x03")),
        ("ping over 125 bytes", _frame(1, 9, b"p" * 126)),
        ("length 2^63", _frame(1, 2, length=1 << 63)),
    ]
    for what, data in cases:
        s, rest = _ws_open(d)
        try:
            s.sendall(data)
            code, reason = _read_close(s, rest)
            assert code == 1002, "%s: close code %r (reason %r), want 1002" % (what, code, reason)
            s.settimeout(10)
            while s.recv(4096):  # then the server ends the connection
                pass
        finally:
            s.close()
    d.serving()


@harness.fresh()
def test_server_stop_closes_websockets_with_1012(d):
    # on the owner itself (a standby relaying a socket sends the same close: 11-cluster-relay)
    s, rest = _ws_open(d, port=d.ports[0])
    result = {}

    def stop():
        result["rc"] = d.stop(timeout=20)

    t = threading.Thread(target=stop)
    t.start()
    try:
        code, reason = _read_close(s, rest)
        assert code == 1012, "close code %r (reason %r), want 1012 so clients reconnect" % (
            code, reason)
        assert reason == b"server restarting", reason
        s.sendall(_frame(1, 8, struct.pack("!H", 1012)))
    finally:
        t.join(30)
        s.close()
    assert result.get("rc") == 0, "hangard exited %r\n%s" % (result.get("rc"), d.log_tail())


# ---- members newer than the validation tables' model -----------------------------------------

def test_members_the_model_lacks_are_type_checked(d):
    # FilterOption (ClaimGameServer) and PriorityConfigurationOverride
    # (StartGameSessionPlacement) are not in Debian's botocore model, so their shapes are checked
    # by the handlers: a wrong type is a clear 400, never a crash.
    c = d.client()
    harness.create_group(c, "strict-claim")
    for bad in ({"InstanceStatuses": [1]}, {"InstanceStatuses": "ACTIVE"}, [],
                {"InstanceStatuses": ["ACTIVE", None]}, {"InstanceStatuses": ["SPINNING"]}):
        r = d.raw("ClaimGameServer", {"GameServerGroupName": "strict-claim",
                                      "FilterOption": bad})
        msg = _err(r, 400, "InvalidRequestException")
        assert "FilterOption" in msg, msg
    c.create_game_session_queue(Name="strict-queue")
    for bad in ({"LocationOrder": [1]}, {"LocationOrder": "us-east-1"}, "x",
                {"LocationOrder": ["us-east-1"], "PlacementFallbackStrategy": 3}):
        r = d.raw("StartGameSessionPlacement", {
            "PlacementId": "strict-1", "GameSessionQueueName": "strict-queue",
            "MaximumPlayerSessionCount": 2, "PriorityConfigurationOverride": bad})
        msg = _err(r, 400, "InvalidRequestException")
        assert "PriorityConfigurationOverride" in msg, msg
    assert d.alive()


harness.run()
