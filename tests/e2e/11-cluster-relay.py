# needs: postgres
"""11 a standby's relay (docs/cluster.md, "Nodes"), on a daemon of two nodes sharing the suite's
PostgreSQL database (run.py --store postgres or --cluster; the embedded pass skips it): clients
that leave while the standby still writes the owner's answers to them do not stop the standby
(it once died of SIGPIPE: a standby did not ignore it yet, only a serving daemon did). The owner
sees a relayed client's own address (the relay's signed PROXY header): per-address limits count
the client, not the standby; a PROXY header that does not verify is refused; TLS goes through. A
standby that stops (SIGTERM) closes the WebSockets it relays with the close frame the serving node
sends when it stops (1012 "server restarting"), after whole frames, so their clients reconnect."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import time

import harness

PAGES = harness.tmpdir()
with open(os.path.join(PAGES, "big.js"), "wb") as f:
    f.write(b"/" * 1000000)
GET_BIG = b"GET /examples/big.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@harness.postgres_only
@harness.fresh(nodes=2, args=["--examples-dir", PAGES])
def test_clients_that_leave_mid_answer_do_not_stop_a_standby(d):
    standby = d.ports[1]
    for k in range(60):
        # 8 MB of answers asked for, read as they come, then a reset (SO_LINGER 0) part-way,
        # while the owner's answers still stream through the standby
        s = socket.create_connection(("127.0.0.1", standby), timeout=10)
        s.sendall(GET_BIG * 8)
        got, want = 0, 200000 + 50000 * (k % 20)
        while got < want:
            try:
                b = s.recv(65536)
            except OSError as e:
                b = e
                time.sleep(0.5)  # what became of the standby (SIGPIPE: exit -13)
            assert b and not isinstance(b, OSError), "round %d: %r after %d bytes (%s)" % (
                k, b, got, d.exits() or "every node runs")
            got += len(b)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        assert d.nodes[1].alive(), "the standby died (%s)\n%s" % (d.exits(), d.log_tail())
    time.sleep(0.2)
    assert d.alive(), "a node died (%s)\n%s" % (d.exits(), d.log_tail())
    r = d.http("GET", "/healthz", port=standby)
    assert r.status == 200, r
    d.serving()


# ---- the client's address through a standby (docs/cluster.md, "The client's address") ----------

OPEN = ["--auth-device", "1"]
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_header(src, dst, secret, at=None, tlv=True):
    """A PROXY protocol v2 header (TCP over IPv4) from src to dst ((ip, port) each), with the
    authentication TLV hangar's relays send (0xE0: time, HMAC-SHA256 over all before it)."""
    addr = (socket.inet_aton(src[0]) + socket.inet_aton(dst[0]) + struct.pack("!HH", src[1],
                                                                              dst[1]))
    if not tlv:  # what HAProxy or another proxy would send
        return SIG + b"\x21\x11" + struct.pack("!H", len(addr)) + addr
    head = (SIG + b"\x21\x11" + struct.pack("!H", len(addr) + 43) + addr + b"\xe0" +
            struct.pack("!H", 40) + struct.pack("!q", int(time.time() if at is None else at)))
    return head + hmac.new(secret, head, hashlib.sha256).digest()


def cluster_secret(d):
    """The secret the nodes share, as the owner created it in the database."""
    url = d.args[d.args.index("--store") + 1]
    return subprocess.check_output(["psql", "-At", url, "-c",
                                    "SELECT secret FROM hangar_cluster_secret"]).strip()


def login_from(port, source, device):
    """POST /v1/auth/device to 127.0.0.1:port from the loopback address source."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("POST", "/v1/auth/device", json.dumps({"device_id": device}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def send_raw(port, data):
    """Send data on a new connection; everything answered until the server closes (b"" when it
    closed without a word, even by a reset)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    got = b""
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except ConnectionResetError:
        pass
    finally:
        s.close()
    return got


def proxy_metric(d, result):
    text = d.http("GET", "/metrics", port=d.ports[0]).body.decode()
    m = re.search(r'^hangar_http_proxy_headers_total\{result="%s"\} (\d+)$' % result, text, re.M)
    assert m, "no hangar_http_proxy_headers_total{result=%s} in /metrics" % result
    return int(m.group(1))


@harness.postgres_only
@harness.fresh(nodes=2, args=OPEN + ["--auth-open-per-minute", "3"])
def test_per_address_limits_count_the_client_not_the_standby(d):
    standby = d.ports[1]
    # the standby connects to the owner from 127.0.0.1; these clients come from .2 and .3
    for i in range(3):
        st, body = login_from(standby, "127.0.0.2", "device-a-%d" % i)
        assert st in (200, 201), (st, body)
    st, body = login_from(standby, "127.0.0.2", "device-a-9")
    assert st == 429 and b"too many logins from 127.0.0.2;" in body, (st, body)
    # another client through the same standby has its own count
    st, body = login_from(standby, "127.0.0.3", "device-b-0")
    assert st in (200, 201), (st, body)
    assert proxy_metric(d, "ok") >= 5
    assert proxy_metric(d, "refused") == 0


@harness.postgres_only
@harness.fresh(nodes=2, args=OPEN + ["--auth-open-per-minute", "3"])
def test_a_proxy_header_that_does_not_verify_is_refused(d):
    owner, standby = d.ports
    req = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    me, there = ("127.0.0.1", 40000), ("127.0.0.1", owner)
    secret = cluster_secret(d)
    assert len(secret) == 64, secret
    forged = [
        proxy_header(me, there, b"not the cluster secret, but 32 bytes or more"),
        proxy_header(me, there, b"", tlv=False),  # unsigned, as other proxies send it
        proxy_header(me, there, secret, at=time.time() - 120),  # signed, stale (or replayed)
    ]
    for i, h in enumerate(forged):
        got = send_raw(owner, h + req)
        assert got == b"", "forged header %d answered: %r" % (i, got[:200])
    assert proxy_metric(d, "refused") == len(forged)
    text = open(d.stderr_path, errors="replace").read() + open(d.stdout_path,
                                                                errors="replace").read()
    assert text.count("a PROXY header that does not verify") >= len(forged), d.log_tail()
    # through a standby a client's own header is just bytes after the relay's: not a request
    got = send_raw(standby, forged[0] + req)
    assert got.startswith(b"HTTP/1.1 400 "), got[:200]
    # signed with the cluster secret and fresh: the owner takes the address it names
    claim = proxy_header(("198.51.100.7", 5555), there, secret)
    for i in range(4):
        body = json.dumps({"device_id": "device-c-%d" % i}).encode()
        got = send_raw(owner, claim + b"POST /v1/auth/device HTTP/1.1\r\nHost: x\r\n"
                       b"Content-Type: application/json\r\nConnection: close\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert got.startswith(b"HTTP/1.1 20" if i < 3 else b"HTTP/1.1 429 "), got[:300]
    assert b"too many logins from 198.51.100.7;" in got, got


# ---- a standby that stops closes the WebSockets it relays (docs/cluster.md, "Nodes") -------------

EVENTS = "/v1/registry/events"


def ws_open(d, port, path):
    """A raw WebSocket client of path on port (signed): (socket, bytes read past the 101)."""
    signed = harness.signed_get_headers(d, path, port=port)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1:%d" % port, "Upgrade: websocket",
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


def ws_frames(s, buf, until_close=False, count=None):
    """The server's frames as (opcode, payload), read until `count` of them, or the close frame
    (until_close), or the end of the connection; then the bytes left over (a frame cut short)."""
    frames = []
    while True:
        while len(buf) >= 2:
            b1 = buf[1]
            assert b1 & 0x80 == 0, "the server masked a frame: %r" % buf[:16]
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
            frames.append((buf[0] & 0x0F, buf[h:h + n]))
            buf = buf[h + n:]
            if (until_close and frames[-1][0] == 8) or (count and len(frames) == count):
                return frames, buf
        chunk = s.recv(65536)
        if not chunk:
            return frames, buf
        buf += chunk


@harness.postgres_only
@harness.fresh(nodes=2)
def test_a_standby_that_stops_closes_the_websockets_it_relays(d):
    owner, standby = d.ports
    s, rest = ws_open(d, standby, EVENTS)
    try:
        # frames pass through the relay: an event per server announced
        for k in range(20):
            harness.announce(d, port=7100 + k)
        frames, rest = ws_frames(s, rest, count=20)
        assert [op for op, _ in frames] == [1] * 20, frames
        assert all(json.loads(p)["type"] == "server.up" for _, p in frames), frames
        d.nodes[1].proc.send_signal(signal.SIGTERM)
        # what was on its way, whole, then the close frame the owner itself sends when it stops,
        # then the end: no frame cut short, nothing after the close
        frames, rest = ws_frames(s, rest)
        assert frames and frames[-1][0] == 8, "no close frame, only %r then %r (%s)" % (
            frames, rest[:64], d.exits() or "every node runs")
        assert [op for op, _ in frames[:-1]] == [1] * (len(frames) - 1), frames
        code, reason = struct.unpack("!H", frames[-1][1][:2])[0], frames[-1][1][2:]
        assert (code, reason) == (1012, b"server restarting"), (code, reason)
        assert rest == b"", rest
    finally:
        s.close()
    assert d.nodes[1].proc.wait(10) == 0, d.log_tail()
    # the owner serves on, and the client comes back through it
    s, rest = ws_open(d, owner, EVENTS)
    harness.announce(d, port=7199)
    frames, _ = ws_frames(s, rest, count=1)
    assert json.loads(frames[0][1])["server"]["port"] == 7199, frames
    s.close()


_, CERT, KEY = harness.make_cert("hangar-e2e-relay-tls-")


@harness.postgres_only
@harness.fresh(nodes=2, args=OPEN + ["--tls-cert", CERT, "--tls-key", KEY,
                                     "--auth-open-per-minute", "3"])
def test_tls_through_a_standby_sees_the_client_too(d):
    standby = d.ports[1]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    statuses = []
    for i in range(4):  # the header goes before the ClientHello: the owner reads it first
        conn = http.client.HTTPSConnection("127.0.0.1", standby, timeout=10, context=ctx,
                                           source_address=("127.0.0.4", 0))
        conn.request("POST", "/v1/auth/device", json.dumps({"device_id": "device-t-%d" % i}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        statuses.append((r.status, r.read()))
        conn.close()
    assert [s for s, _ in statuses[:3]] in ([201] * 3, [200] * 3), statuses
    assert statuses[3][0] == 429 and b"from 127.0.0.4;" in statuses[3][1], statuses
    assert proxy_metric(d, "ok") >= 4


harness.run()
