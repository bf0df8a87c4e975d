"""03 FleetIQ error surface: authentication, authorization, validation, framing and unknown or
unimplemented operations; every case is a 4xx JSON error with __type, and the daemon keeps
serving after each."""

import json
import socket

import harness
from harness import expect_error, gs_get, gs_update, register

MIB = 1024 * 1024


def _err(r, status, code):
    assert r.status == status, "want HTTP %d %s, got %r" % (status, code, r)
    body = r.json()
    assert body.get("__type") == code, "want __type %s, got %r" % (code, body)
    assert isinstance(body.get("message"), str) and body["message"], "no message: %r" % body
    assert r.headers.get("x-amzn-requestid"), "error without x-amzn-RequestId: %r" % r.headers
    return body["message"]


def _group(d, name):
    c = d.client()
    try:
        harness.group_get(c, name)
    except harness.ClientError:
        harness.create_group(c, name)
    return c


def test_missing_authentication(d):
    r = d.raw("ListGameServerGroups", signed=False)
    _err(r, 403, "MissingAuthenticationTokenException")
    d.serving()


def test_unknown_access_key(d):
    c = d.client("AKIANOSUCHKEY0000000", "whatever-secret")
    msg, status = expect_error("UnrecognizedClientException", c.list_game_server_groups)
    assert status == 403, status
    d.serving()


def test_bad_signature(d):
    c = d.client(harness.ADMIN_KEY_ID, harness.ADMIN_SECRET[:-1] + "X")
    msg, status = expect_error("InvalidSignatureException", c.list_game_server_groups)
    assert status == 403, status
    # A body changed after signing is also a bad signature.
    body = b'{"GameServerGroupName": "a"}'
    port = d.port
    hdrs = harness.sign("POST", harness.url_at(port) + "/", body,
                        {"Content-Type": "application/x-amz-json-1.1",
                         "X-Amz-Target": "GameLift.DescribeGameServerGroup"},
                        d.key_id, d.secret)
    r = d.http("POST", "/", b'{"GameServerGroupName": "b"}', hdrs, port=port)
    _err(r, 403, "InvalidSignatureException")
    d.serving()


def test_expired_signature(d):
    r = d.raw("ListGameServerGroups", skew_s=-600)
    msg = _err(r, 403, "InvalidSignatureException")
    assert msg.startswith("Signature expired"), msg
    r = d.raw("ListGameServerGroups", skew_s=+600)  # from the future: refused too
    assert r.status == 403 and r.json()["__type"] == "InvalidSignatureException", r
    r = d.raw("ListGameServerGroups", skew_s=-120)  # within the 5-minute allowance
    assert r.status == 200, r
    d.serving()


def test_unauthorized_action(d):
    _group(d, "err-auth")
    key = d.create_key("err-narrow", allow=["gamelift:Describe*"])
    c = d.key_client(key)
    assert harness.group_get(c, "err-auth")["GameServerGroupName"] == "err-auth"
    msg, status = expect_error("UnauthorizedException", register, c, "err-auth", "err-auth-gs")
    assert status == 400, status
    d.serving()


def test_missing_required_member(d):
    c = d.client(validate=False)
    msg, status = expect_error("InvalidRequestException", c.describe_game_server_group)
    assert status == 400, status
    assert msg == ("1 validation error detected: Value null at 'gameServerGroupName' failed to "
                   "satisfy constraint: Member must not be null"), msg
    msg, _ = expect_error("InvalidRequestException", c.register_game_server,
                          GameServerGroupName="err-x")
    assert msg.startswith("2 validation errors detected: "), msg
    assert "'gameServerId'" in msg and "'instanceId'" in msg, msg
    d.serving()


def test_bad_enum(d):
    c = _group(d, "err-enum")
    register(c, "err-enum", "err-enum-gs")
    msg, status = expect_error("InvalidRequestException", gs_update, c, "err-enum", "err-enum-gs",
                               UtilizationStatus="BOGUS")
    assert status == 400, status
    assert "enum value set" in msg and "'utilizationStatus'" in msg and "BOGUS" in msg, msg
    assert gs_get(c, "err-enum", "err-enum-gs")["UtilizationStatus"] == "AVAILABLE"
    d.serving()


def test_string_too_long(d):
    c = _group(d, "err-long")
    msg, status = expect_error("InvalidRequestException", register, c, "err-long", "g" * 129)
    assert status == 400, status
    assert "length less than or equal to 128" in msg and "'gameServerId'" in msg, msg
    # 128 is fine.
    assert register(c, "err-long", "g" * 128)["GameServerId"] == "g" * 128
    # A bad pattern is refused as well (InstanceId must be i- and 17 alphanumerics).
    msg, _ = expect_error("InvalidRequestException", c.register_game_server,
                          GameServerGroupName="err-long", GameServerId="err-long-pat",
                          InstanceId="x-0123456789abcdef0")
    assert "'instanceId'" in msg, msg
    d.serving()


def test_malformed_json(d):
    for body in (b'{"GameServerGroupName": ', b"not json", b"[1, 2]"):
        r = d.raw("DescribeGameServerGroup", body)
        _err(r, 400, "SerializationException")
    d.serving()


def test_unknown_operation(d):
    _err(d.raw("NoSuchOp"), 400, "UnknownOperationException")
    _err(d.raw(None), 400, "UnknownOperationException")  # no X-Amz-Target at all
    r = d.raw(None, headers={"X-Amz-Target": "Kinesis_20131202.ListStreams"})
    _err(r, 400, "UnknownOperationException")
    d.serving()


def test_unimplemented_operation(d):
    for op, body in (("CreateBuild", {"Name": "b"}),
                     ("CreateScript", {"Name": "s"})):
        r = d.raw(op, body)
        assert 400 <= r.status < 500, "%s -> %r (must be a 4xx, never a 500)" % (op, r)
        j = r.json()
        assert j.get("__type") == "UnsupportedOperationException", "%s -> %r" % (op, j)
        assert op in j.get("message", ""), "message does not name %s: %r" % (op, j)
    d.serving()


def _content_length(data):
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    for line in head.split("\r\n"):
        if line.startswith("content-length:"):
            return int(line.split(":", 1)[1])
    return 0


def _send_oversized(port, size):
    """Sends a POST whose body is `size` bytes on one connection; returns the raw response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                "Content-Type: application/x-amz-json-1.1\r\n"
                "X-Amz-Target: GameLift.ListGameServerGroups\r\n"
                "Content-Length: %d\r\n\r\n" % (port, size))
        s.sendall(head.encode())
        chunk = b" " * 65536
        sent = 0
        try:
            while sent < size:
                n = min(len(chunk), size - sent)
                s.sendall(chunk[:n])
                sent += n
        except OSError:
            pass  # the daemon may answer and close before reading everything
        data = b""
        try:
            while (b"\r\n\r\n" not in data
                   or len(data) < data.index(b"\r\n\r\n") + 4 + _content_length(data)):
                more = s.recv(65536)
                if not more:
                    break
                data += more
        except OSError:
            pass
        return data
    finally:
        s.close()


def test_body_too_large(d):
    data = _send_oversized(d.port, MIB + 4096)
    assert data, "no response to an oversized body"
    status_line, rest = data.split(b"\r\n", 1)
    assert status_line.split()[1] == b"413", "oversized body -> %r" % data[:300]
    body = rest.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body).get("__type") == "RequestEntityTooLargeException", body
    d.serving()  # fresh connections still work
    # Exactly the limit is not "too large" (it is malformed JSON here, which is a 400).
    r = d.raw("ListGameServerGroups", b" " * MIB)
    assert r.status != 413, "a body of exactly 1 MiB was refused as too large"


def test_still_serving_after_everything(d):
    c = d.client()
    harness.create_group(c, "err-final")
    gs = register(c, "err-final", "err-final-gs", ConnectionInfo="10.1.1.1:7777")
    assert gs["UtilizationStatus"] == "AVAILABLE", gs
    cl = harness.gs_claim(c, "err-final")
    assert cl["GameServerId"] == "err-final-gs" and cl["ClaimStatus"] == "CLAIMED", cl
    assert d.alive()


if __name__ == "__main__":
    harness.run()
