"""09 realtime rooms with real WebSocket clients (websocket-client): a key creates rooms, players
join with a bearer token (header or ?token=); 8 senders at once and every receiver sees the same
messages in the same order with no gaps; joins and leaves are room messages; binary frames are
relayed with their header; bad envelopes get an error, not a close; a reconnect with ?after=
gets what it missed and keeps its seat; a slow client is cut off (4009) while the others go on;
the rate limit (4008); a full room refuses the upgrade; DELETE closes the clients (4004); after a
restart the room is there again and an old epoch gets a reset."""

import json
import socket
import struct
import threading
import time

import websocket
from websocket import ABNF

import harness
from harness import fresh, reg_call

OPEN = ["--auth-device", "1"]


def login(d, n):
    return harness.device_login(d, "room-device-%04d" % n)


def room(d, **kw):
    r = reg_call(d, "POST", "/v1/rooms", kw)
    assert r.status == 201, r
    return r.json()


def ws_url(d, rid, query="", port=None):
    return "ws://127.0.0.1:%d/v1/rooms/%s%s" % (port or d.port, rid, query)


class Client:
    """One player's socket: frames read into a list by a thread; close code kept."""

    def __init__(self, d, rid, player, query="", header=True, read=True, sockopt=(), port=None):
        hdr = ["Authorization: Bearer " + player["token"]] if header else []
        self.port = port or d.port  # on a cluster, the node it talks to
        self.ws = websocket.create_connection(ws_url(d, rid, query, self.port), header=hdr,
                                              timeout=10, sockopt=sockopt)
        self.player = player
        self.msgs, self.close_code, self.lock = [], None, threading.RLock()
        self.cv = threading.Condition(self.lock)
        self.t = None
        if read:
            self.start()

    def start(self):
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        try:
            while True:
                fr = self.ws.recv_frame()
                if fr.opcode == ABNF.OPCODE_TEXT:
                    m = json.loads(fr.data.decode())
                elif fr.opcode == ABNF.OPCODE_BINARY:
                    m = ("binary", bytes(fr.data))
                elif fr.opcode == ABNF.OPCODE_PING:
                    self.ws.pong(fr.data)
                    continue
                elif fr.opcode == ABNF.OPCODE_CLOSE:
                    with self.cv:
                        self.close_code = struct.unpack("!H", fr.data[:2])[0] if len(fr.data) >= 2 else 1005
                        self.cv.notify_all()
                    try:
                        self.ws.send_close(self.close_code)
                    except Exception:
                        pass
                    return
                else:
                    continue
                with self.cv:
                    self.msgs.append(m)
                    self.cv.notify_all()
        except Exception:
            with self.cv:
                if self.close_code is None:
                    self.close_code = 1006
                self.cv.notify_all()

    def wait(self, pred, timeout=10, what="messages"):
        with self.cv:
            ok = self.cv.wait_for(lambda: pred(self.msgs), timeout)
        tail = [(m.get("seq"), m.get("type")) if isinstance(m, dict) else m[0] for m in self.msgs[-5:]]
        assert ok, "%s: %d messages, the last %r (close %r)" % (what, len(self.msgs), tail,
                                                                self.close_code)

    def wait_closed(self, timeout=10):
        with self.cv:
            self.cv.wait_for(lambda: self.close_code is not None, timeout)
        return self.close_code

    def send(self, type_, data=None):
        self.ws.send(json.dumps({"type": type_, "data": data}))

    def room_msgs(self, type_=None):
        with self.lock:
            return [m for m in self.msgs if isinstance(m, dict) and "from" in m and
                    (type_ is None or m["type"] == type_)]

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def upgrade_status(d, rid, headers):
    """The HTTP status of a refused upgrade (websocket-client raises with it)."""
    try:
        websocket.create_connection(ws_url(d, rid), header=headers, timeout=5).close()
    except websocket.WebSocketBadStatusException as e:
        return e.status_code
    return 101


@fresh(args=OPEN + ["--room-rate-per-s", "100000"])
def test_order_is_identical_for_eight_senders(d):
    r = room(d, label="arena", max_clients=8, metadata={"mode": "ffa"})
    assert r["label"] == "arena" and r["clients"] == 0 and r["metadata"] == {"mode": "ffa"}, r
    players = [login(d, i) for i in range(8)]
    clients = [Client(d, r["room_id"], p) for p in players]
    for c in clients:
        c.wait(lambda ms: any(m.get("type") == "welcome" for m in ms if isinstance(m, dict)))
    last = clients[-1]
    last.wait(lambda ms: True)
    N = 200

    def blast(c, i):
        for k in range(N):
            c.send("move", {"who": i, "k": k})

    ts = [threading.Thread(target=blast, args=(c, i)) for i, c in enumerate(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for c in clients:
        c.wait(lambda ms: sum(1 for m in ms if isinstance(m, dict) and m.get("type") == "move") == 8 * N)
    seqs = [[(m["seq"], m["from"], m["type"], json.dumps(m.get("data"), sort_keys=True))
             for m in c.room_msgs() if m["type"] == "move"] for c in clients]
    assert all(s == seqs[0] for s in seqs), "receivers disagree on the order"
    allseq = [m["seq"] for m in clients[0].room_msgs()]
    assert allseq == list(range(allseq[0], allseq[0] + len(allseq))), "gaps in seq"
    # each sender's own messages keep their order
    for i in range(8):
        ks = [json.loads(x[3])["k"] for x in seqs[0] if json.loads(x[3])["who"] == i]
        assert ks == list(range(N)), i
    # the first client saw the 7 others join, in order, as room messages
    joins = [m["from"] for m in clients[0].room_msgs("join")]
    assert joins == [p["player_id"] for p in players], joins
    g = reg_call(d, "GET", "/v1/rooms/" + r["room_id"]).json()
    assert g["clients"] == 8 and g["connected"] == 8 and g["seq"] >= 8 * N + 8, g
    full = upgrade_status(d, r["room_id"], ["Authorization: Bearer " + login(d, 99)["token"]])
    assert full == 409, full
    lst = reg_call(d, "GET", "/v1/rooms?label=arena&has_room=1").json()
    assert lst["items"] == [], lst  # full
    assert len(reg_call(d, "GET", "/v1/rooms?label=arena").json()["items"]) == 1
    clients[3].close()  # a normal close: leaves at once
    clients[0].wait(lambda ms: any(isinstance(m, dict) and m.get("type") == "leave" for m in ms))
    leave = clients[0].room_msgs("leave")[0]
    assert leave["from"] == players[3]["player_id"] and leave["data"]["reason"] == "left", leave
    for c in clients:
        c.close()


@fresh(args=OPEN)
def test_token_query_binary_errors_and_auth(d):
    r = room(d)
    a, b = login(d, 1), login(d, 2)
    ca = Client(d, r["room_id"], a, query="?token=" + a["token"], header=False)
    cb = Client(d, r["room_id"], b)
    cb.wait(lambda ms: len(ms) >= 2)
    ca.ws.send_binary(bytes([4]) + b"pose" + b"\x00\x01\x02")
    cb.wait(lambda ms: any(isinstance(m, tuple) for m in ms))
    frame = [m for m in cb.msgs if isinstance(m, tuple)][0][1]
    seq = struct.unpack("!Q", frame[:8])[0]
    flen = frame[8]
    assert frame[9:9 + flen].decode() == a["player_id"], frame
    tlen = frame[9 + flen]
    assert frame[10 + flen:10 + flen + tlen] == b"pose" and frame[10 + flen + tlen:] == b"\x00\x01\x02"
    assert seq == max(m["seq"] for m in cb.room_msgs()) + 1 or seq > 0
    ca.ws.send("not json")
    ca.send("join")  # a room type
    ca.wait(lambda ms: sum(1 for m in ms if isinstance(m, dict) and m.get("type") == "error") == 2)
    assert ca.close_code is None  # errors, not a close
    assert upgrade_status(d, r["room_id"], []) in (401, 403)
    assert upgrade_status(d, r["room_id"], ["Authorization: Bearer nope"]) == 401
    assert upgrade_status(d, "00000000-0000-4000-8000-000000000000",
                          ["Authorization: Bearer " + a["token"]]) == 404
    ca.close()
    cb.close()


@fresh(args=OPEN + ["--room-reconnect-grace-s", "30"])
def test_reconnect_with_after_misses_nothing(d):
    r = room(d)
    a, b = login(d, 1), login(d, 2)
    ca, cb = Client(d, r["room_id"], a), Client(d, r["room_id"], b)
    ca.wait(lambda ms: len([m for m in ms if isinstance(m, dict) and m.get("type") == "join"]) == 2)
    welcome = [m for m in ca.msgs if m.get("type") == "welcome"][0]
    cb.send("chat", "before")
    ca.wait(lambda ms: any(m.get("type") == "chat" for m in ms if isinstance(m, dict)))
    seen = max(m["seq"] for m in ca.room_msgs())
    ca.ws.sock.shutdown(socket.SHUT_RDWR)  # the network drops: no close frame
    ca.wait_closed()
    for k in range(5):
        cb.send("chat", "missed-%d" % k)
    time.sleep(0.2)
    back = Client(d, r["room_id"], a, query="?after=%d&epoch=%d" % (seen, welcome["epoch"]))
    back.wait(lambda ms: len([m for m in ms if isinstance(m, dict) and m.get("type") == "chat"]) == 5)
    got = [m["data"] for m in back.room_msgs("chat")]
    assert got == ["missed-%d" % k for k in range(5)], got
    cb.send("chat", "after")
    back.wait(lambda ms: any(isinstance(m, dict) and m.get("data") == "after" for m in ms))
    # nobody saw it leave or join again (b saw only its own join: a was seated before it came)
    assert cb.room_msgs("leave") == [], cb.room_msgs("leave")
    assert [m["from"] for m in cb.room_msgs("join")] == [b["player_id"]], cb.room_msgs("join")
    back.close()
    cb.close()


@fresh(args=OPEN + ["--room-send-queue-bytes", "1048576", "--room-rate-per-s", "100000"])
def test_slow_client_is_cut_off_and_others_go_on(d):
    r = room(d)
    slow_p, fast_p, sender_p = login(d, 1), login(d, 2), login(d, 3)
    # a small window, set before connecting; on the owner itself: on a cluster, a standby's relay
    # would add megabytes of buffers (its queue, two sockets') before the owner saw it slow
    slow = Client(d, r["room_id"], slow_p, read=False, port=d.ports[0],
                  sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    fast = Client(d, r["room_id"], fast_p)
    sender = Client(d, r["room_id"], sender_p)
    payload = "x" * 4000
    def blobs():
        return sum(1 for m in list(fast.msgs) if isinstance(m, dict) and m.get("type") == "blob")
    for k in range(2500):  # 10 MB: more than the slow client's kernel buffers and its queue
        sender.send("blob", {"k": k, "p": payload})
        if k % 25 == 24:
            # the pace of the fast reader, never more than 100 messages (400 KB) ahead of it,
            # whatever the load on the machine (this process's threads share a GIL)
            deadline = time.monotonic() + 30
            while blobs() < k - 100 and time.monotonic() < deadline:
                time.sleep(0.002)
    fast.wait(lambda ms: sum(1 for m in ms if isinstance(m, dict) and m.get("type") == "blob") == 2500,
              timeout=60)
    assert fast.close_code is None
    slow.start()
    assert slow.wait_closed() == 4009, slow.close_code
    lv = [m for m in fast.room_msgs("leave")]
    assert lv == [] or lv[0]["from"] == slow_p["player_id"], lv
    fast.close()
    sender.close()


@fresh(args=OPEN + ["--room-rate-per-s", "5"])
def test_rate_limit_closes_4008(d):
    r = room(d)
    c = Client(d, r["room_id"], login(d, 1))
    for k in range(50):
        try:
            c.send("spam", k)
        except Exception:
            break
    assert c.wait_closed() == 4008, c.close_code


@fresh(args=OPEN)
def test_delete_closes_and_restart_brings_the_room_back(d):
    r = room(d, label="keep")
    a = login(d, 1)
    c = Client(d, r["room_id"], a)
    c.wait(lambda ms: any(isinstance(m, dict) and m.get("type") == "join" for m in ms))
    welcome = [m for m in c.msgs if m.get("type") == "welcome"][0]
    c.send("x", 1)
    c.wait(lambda ms: any(isinstance(m, dict) and m.get("type") == "x" for m in ms))
    d.restart()
    # the owner says 1012, and so does a standby relaying the client (it stops before the owner)
    assert c.wait_closed() == 1012, (c.port, c.close_code)
    g = reg_call(d, "GET", "/v1/rooms/" + r["room_id"])
    assert g.status == 200 and g.json()["label"] == "keep" and g.json()["clients"] == 0, g
    c2 = Client(d, r["room_id"], a, query="?after=%d&epoch=%d" % (2, welcome["epoch"]))
    c2.wait(lambda ms: any(isinstance(m, dict) and m.get("type") == "reset" for m in ms))
    gone = room(d)
    c3 = Client(d, gone["room_id"], login(d, 2))
    c3.wait(lambda ms: len(ms) >= 2)
    assert reg_call(d, "DELETE", "/v1/rooms/" + gone["room_id"]).status == 200
    assert c3.wait_closed() == 4004, c3.close_code
    assert reg_call(d, "GET", "/v1/rooms/" + gone["room_id"]).status == 404
    c2.close()


@fresh(args=OPEN)
def test_a_game_sessions_room_is_joined_with_player_session_ids(d):
    import glsdk
    c = d.client()
    c.create_location(LocationName="custom-rooms-1")
    fid = c.create_fleet(Name="rooms", ComputeType="ANYWHERE",
                         Locations=[{"Location": "custom-rooms-1"}])["FleetAttributes"]["FleetId"]
    ep = c.register_compute(FleetId=fid, ComputeName="host-1", IpAddress="127.0.0.1",
                            Location="custom-rooms-1")["Compute"]["GameLiftServiceSdkEndpoint"]

    def hosted(port, pid):
        """A process ready on host-1 and the game session it hosts (pushed, activated)."""
        tok = c.get_compute_auth_token(FleetId=fid, ComputeName="host-1")["AuthToken"]
        p = glsdk.ServerSdk(ep, fid, "host-1", process_id=pid, auth_token=tok, call_timeout=10)
        p.connect()
        p.process_ready(port, ["/local/game/logs"])
        g = c.create_game_session(FleetId=fid, MaximumPlayerSessionCount=4)["GameSession"][
            "GameSessionId"]
        assert p.wait_push("CreateGameSession", timeout=5)["GameSessionId"] == g
        p.activate_game_session(g)
        return p, g

    sdk, gsid = hosted(7777, "room-proc")
    pss = c.create_player_sessions(GameSessionId=gsid, PlayerIds=["alice", "bob"])["PlayerSessions"]
    sdk2, other = hosted(7778, "other-proc")
    stranger = c.create_player_session(GameSessionId=other, PlayerId="eve")["PlayerSession"]
    assert reg_call(d, "POST", "/v1/rooms", {"game_session_id": "nope"}).status == 404
    r = room(d, game_session_id=gsid, max_clients=4)
    assert r["game_session_id"] == gsid, r

    def joined(ps):
        ws = websocket.create_connection(ws_url(d, r["room_id"], "?player_session_id=" +
                                                ps["PlayerSessionId"]), timeout=10)
        return ws, json.loads(ws.recv())

    wa, welcome = joined(pss[0])
    assert welcome["type"] == "welcome" and welcome["you"] == "alice", welcome
    wb, _ = joined(pss[1])
    wb.send(json.dumps({"type": "hello", "data": 1}))
    seen = [json.loads(wa.recv()) for _ in range(3)]  # alice's join, bob's join, hello
    assert [(m["type"], m["from"]) for m in seen] == [("join", "alice"), ("join", "bob"),
                                                      ("hello", "bob")], seen
    for bad in ("?player_session_id=" + stranger["PlayerSessionId"], "?player_session_id=psess-x",
                ""):
        try:
            websocket.create_connection(ws_url(d, r["room_id"], bad), timeout=5).close()
            raise AssertionError("joined with %r" % bad)
        except websocket.WebSocketBadStatusException as e:
            assert e.status_code in (401, 403), (bad, e.status_code)
    wa.close()
    wb.close()
    sdk.close(1000)
    sdk2.close(1000)


if __name__ == "__main__":
    harness.run()
