"""05 registry events: GET /v1/registry/events over WebSocket and Server-Sent Events --
server.up / server.updated / server.down with sequence numbers, the kind filter, replay after a
reconnect (?after=, Last-Event-ID), snapshots (requested, and behind after a restart), lease
expiry, FleetIQ servers on the same stream, authentication (docs/api.md "Events")."""
# needs: websocket

import statistics
import time

import harness
from harness import EventStream, announce, for_server, native_error, reg_call

SERVERS = "/v1/registry/servers"


def _strip(ev):
    return {k: v for k, v in ev.items() if not k.startswith("_")}


def test_lifecycle_on_websocket_and_sse(d):
    ws = EventStream(d, "kind=ev-life")
    sse = EventStream(d, "kind=ev-life", transport="sse")
    t_ack = {}
    try:
        t0 = time.monotonic()
        s = announce(d, "ev-life", "10.0.0.1", 7001, capacity=10)
        t_ack["up"] = time.monotonic()
        r = reg_call(d, "PATCH", SERVERS + "/" + s["id"], {"load": 4, "status": "busy"})
        assert r.status == 200, r
        t_ack["updated"] = time.monotonic()
        r = reg_call(d, "DELETE", SERVERS + "/" + s["id"])
        assert r.status == 200, r
        t_ack["down"] = time.monotonic()

        got = {}
        for name, st in (("ws", ws), ("sse", sse)):
            up = st.wait_for(for_server(s["id"], "server.up"), what="server.up")
            upd = st.wait_for(for_server(s["id"], "server.updated"), what="server.updated")
            down = st.wait_for(for_server(s["id"], "server.down"), what="server.down")
            got[name] = (up, upd, down)
            assert isinstance(up["seq"], int) and up["seq"] > 0, up
            assert up["seq"] < upd["seq"] < down["seq"], [up["seq"], upd["seq"], down["seq"]]
            for ev in (up, upd, down):
                assert abs(ev["time"] - time.time()) < 10, "time is not epoch seconds: %r" % ev
            srv = {k: v for k, v in s.items() if not k.startswith("_")}
            assert up["server"] == srv, "server.up carries %r, announce answered %r" % (
                up["server"], srv)
            assert "reason" not in up, up
            assert (upd["server"]["load"], upd["server"]["status"]) == (4, "busy"), upd
            assert down["reason"] == "left", down
            assert down["server"]["id"] == s["id"], down
        # The same events, with the same sequence numbers, on both transports.
        assert [_strip(e) for e in got["ws"]] == [_strip(e) for e in got["sse"]], got
        for ev in got["sse"]:
            assert ev["_sse_id"] == str(ev["seq"]) and ev["_sse_event"] == ev["type"], ev
        # Nothing else was said about this kind.
        assert [e["seq"] for e in ws.events] == [e["seq"] for e in got["ws"]], ws.events

        lat = {}
        for name in ("ws", "sse"):
            lat[name] = ["%s %.1f ms" % (kind, 1000 * (ev["_recv"] - t_ack[kind]))
                         for kind, ev in zip(("up", "updated", "down"), got[name])]
        print("  latency, request acknowledged -> event received (negative: event first): "
              "ws: %s; sse: %s (3 requests in %.1f ms)" % (
                  ", ".join(lat["ws"]), ", ".join(lat["sse"]), 1000 * (t_ack["down"] - t0)))
    finally:
        ws.close()
        sse.close()


def test_latency_announce_to_event(d):
    """Measured, not asserted tightly: announce acknowledged -> server.up received."""
    ws = EventStream(d, "kind=ev-lat")
    try:
        lat = []
        for i in range(20):
            t = time.monotonic()
            s = announce(d, "ev-lat", "10.0.1.%d" % i, 1)
            ack = time.monotonic()
            ev = ws.wait_for(for_server(s["id"], "server.up"), what="server.up")
            lat.append((ev["_recv"] - ack) * 1000)
            assert ev["_recv"] - t < 2.0, "server.up took %.2fs" % (ev["_recv"] - t)
        lat.sort()
        print("  announce acknowledged -> server.up on WebSocket: median %.2f ms, max %.2f ms "
              "(negative: the event arrived before the answer)" % (statistics.median(lat),
                                                                  lat[-1]))
    finally:
        ws.close()


def test_kind_filter(d):
    k1 = EventStream(d, "kind=ev-k1")
    every = EventStream(d)
    try:
        other = announce(d, "ev-k2", "10.0.2.1", 1)
        mine = announce(d, "ev-k1", "10.0.2.1", 1)
        ev = k1.next()
        assert ev["server"]["id"] == mine["id"] and ev["type"] == "server.up", \
            "kind=ev-k1 subscriber got %s first" % harness.brief_events([ev])
        a = every.wait_for(for_server(other["id"], "server.up"), what="ev-k2 up")
        b = every.wait_for(for_server(mine["id"], "server.up"), what="ev-k1 up")
        assert a["seq"] < b["seq"] and b["seq"] == ev["seq"], (a, b, ev)
        reg_call(d, "DELETE", SERVERS + "/" + other["id"])
        reg_call(d, "DELETE", SERVERS + "/" + mine["id"])
        down = k1.next()
        assert down["type"] == "server.down" and down["server"]["id"] == mine["id"], down
        assert all(e["server"]["kind"] == "ev-k1" for e in k1.events), k1.events
    finally:
        k1.close()
        every.close()


def test_reconnect_after_seq_gets_what_was_missed(d):
    gw = EventStream(d, "kind=ev-gw")
    first = announce(d, "ev-gw", "10.0.3.1", 1)
    last = gw.wait_for(for_server(first["id"], "server.up"), what="first server.up")["seq"]
    gw.close()  # the gateway goes away ...
    missed = [announce(d, "ev-gw", "10.0.3.%d" % i, 1)["id"] for i in (2, 3, 4)]
    for transport in ("ws", "sse"):
        back = EventStream(d, "kind=ev-gw&after=%d" % last, transport=transport)
        try:
            evs = [back.next() for _ in missed]
            assert [(e["type"], e["server"]["id"]) for e in evs] == \
                [("server.up", i) for i in missed], \
                "%s replay after %d: %s" % (transport, last, harness.brief_events(evs))
            seqs = [e["seq"] for e in evs]
            assert seqs == sorted(set(seqs)) and seqs[0] > last, seqs
            # ... then the live stream, and nothing twice.
            live = announce(d, "ev-gw", "10.0.3.%d" % (5 if transport == "ws" else 6), 1)
            ev = back.wait_for(lambda e: e["type"] == "server.up", what="the live server.up")
            assert ev["server"]["id"] == live["id"], "after the replay came %s" % (
                harness.brief_events(back.events))
            missed.append(live["id"])  # the next reconnection after `last` replays it too
            rest = back.drain(0.3)
            assert not rest, "unexpected extra events: %s" % harness.brief_events(rest)
            assert len({e["seq"] for e in back.events}) == len(back.events), back.events
        finally:
            back.close()

    # Last-Event-ID (the SSE reconnection header) works like ?after=.
    sse = EventStream(d, "kind=ev-gw", transport="sse", headers={"Last-Event-ID": str(last)})
    try:
        ids = [sse.next()["server"]["id"] for _ in missed]
        assert ids == missed, "Last-Event-ID %d replayed %s" % (last, ids)
    finally:
        sse.close()


def test_sse_replay_larger_than_the_subscriber_queue(d):
    """A replay bigger than one subscriber's send queue (4 MiB): SSE events are batched per loop
    turn up to the cap, the rest follows as the connection drains; all of them, once, in order."""
    s = announce(d, "ev-big", "10.0.7.1", 1)
    first = EventStream(d, "kind=ev-big&after=0")
    start = first.wait_for(for_server(s["id"], "server.up"), what="server.up")["seq"]
    first.close()
    pad = "x" * 3900  # metadata is at most 4,096 bytes of JSON: ~4 KB per event
    n = 1300          # ~5 MB of events
    for i in range(n):
        r = reg_call(d, "PATCH", SERVERS + "/" + s["id"], {"load": i, "metadata": {"p": pad}})
        assert r.status == 200, r
    sse = EventStream(d, "kind=ev-big&after=%d" % start, transport="sse", timeout=30)
    try:
        got = [sse.next(timeout=30) for _ in range(n)]
        loads = [e["server"]["load"] for e in got]
        assert loads == list(range(n)), "replayed loads out of order or missing: %s..." % (
            loads[:10],)
        seqs = [e["seq"] for e in got]
        assert seqs == sorted(set(seqs)) and seqs[0] > start, seqs[:10]
        assert all(e["_sse_id"] == str(e["seq"]) for e in got)
        assert not sse.drain(0.3), "events after the replay"
    finally:
        sse.close()


def test_snapshot_requested(d):
    a = announce(d, "ev-snap", "10.0.4.1", 1, load=1, capacity=5)
    b = announce(d, "ev-snap", "10.0.4.2", 1)
    announce(d, "ev-snap-other", "10.0.4.3", 1)
    probe = EventStream(d, "kind=ev-snap&after=0")  # replays everything: the current last seq
    probe.drain(0.3)
    top = max(e["seq"] for e in probe.events)
    probe.close()
    want = [a["id"], b["id"]]
    for transport in ("ws", "sse"):
        st = EventStream(d, "kind=ev-snap&snapshot=1", transport=transport)
        try:
            snap = st.next()
            assert snap["type"] == "snapshot" and snap["reason"] == "requested", snap
            assert snap["seq"] >= top, "snapshot seq %s < last event %s" % (snap["seq"], top)
            ids = sorted(s["id"] for s in snap["servers"])
            assert ids == sorted(want), "snapshot servers %r, want %r" % (ids, want)
            sa = [s for s in snap["servers"] if s["id"] == a["id"]][0]
            assert (sa["load"], sa["capacity"], sa["kind"]) == (1, 5, "ev-snap"), sa
            if transport == "sse":
                assert snap["_sse_event"] == "snapshot" and snap["_sse_id"] == str(snap["seq"]), \
                    snap
            c = announce(d, "ev-snap", "10.0.4.%d" % (4 if transport == "ws" else 5), 1)
            ev = st.next()
            assert ev["type"] == "server.up" and ev["server"]["id"] == c["id"], ev
            assert ev["seq"] > snap["seq"], (snap["seq"], ev["seq"])
            want.append(c["id"])
        finally:
            st.close()


def test_lease_expiry_event(d):
    ws = EventStream(d, "kind=ev-lease")
    try:
        t0 = time.monotonic()
        s = announce(d, "ev-lease", "10.0.5.1", 1, lease_s=1)
        ev = ws.wait_for(for_server(s["id"], "server.down"), timeout=5, what="server.down")
        took = ev["_recv"] - t0
        assert ev["reason"] == "lease_expired", ev
        assert 0.9 <= took <= 3.0, "a 1 s lease expired after %.2fs" % took
        print("  1 s lease: server.down lease_expired after %.2fs" % took)
        assert harness.reg_get(d, s["id"]) is None
    finally:
        ws.close()


def test_fleetiq_register_on_the_same_stream(d):
    ws = EventStream(d, "kind=game")
    try:
        c = d.client()
        harness.create_group(c, "ev-fq")
        harness.register(c, "ev-fq", "ev-fq-gs1", inst=3, ConnectionInfo="10.0.6.1:7777")
        mine = lambda e: (e.get("server") or {}).get("metadata", {}).get("game_server_id") \
            == "ev-fq-gs1"  # noqa: E731
        up = ws.wait_for(mine, what="the FleetIQ server.up")
        assert up["type"] == "server.up", up
        s = up["server"]
        assert (s["kind"], s["source"], s["status"], s["address"], s["port"]) == (
            "game", "fleetiq", "available", "10.0.6.1", 7777), s
        harness.gs_update(c, "ev-fq", "ev-fq-gs1", UtilizationStatus="UTILIZED")
        upd = ws.wait_for(mine, what="the FleetIQ server.updated")
        assert upd["type"] == "server.updated" and upd["server"]["status"] == "utilized", upd
        c.deregister_game_server(GameServerGroupName="ev-fq", GameServerId="ev-fq-gs1")
        down = ws.wait_for(mine, what="the FleetIQ server.down")
        assert down["type"] == "server.down" and down["reason"] == "deregistered", down
        assert up["seq"] < upd["seq"] < down["seq"]
    finally:
        ws.close()


def test_subscribers_need_registry_read(d):
    import websocket
    announcer = d.create_key("ev-announcer", allow=["registry:Announce"])
    reader = d.create_key("ev-reader", allow=["registry:Read"])
    url = "ws://127.0.0.1:%d/v1/registry/events" % d.port
    try:
        websocket.create_connection(url, timeout=5).close()
        raise AssertionError("an unsigned WebSocket subscription was accepted")
    except websocket.WebSocketBadStatusException as e:
        assert e.status_code == 403, e
    try:
        EventStream(d, key=announcer).close()
        raise AssertionError("a key without registry:Read subscribed over WebSocket")
    except websocket.WebSocketBadStatusException as e:
        assert e.status_code == 403, e
    native_error(d.http("GET", "/v1/registry/events"), 403)
    native_error(reg_call(d, "GET", "/v1/registry/events", key=announcer), 403, "forbidden")
    native_error(reg_call(d, "GET", "/v1/registry/events?after=abc"), 400, "invalid_request")
    native_error(reg_call(d, "POST", "/v1/registry/events", {}), 405)
    st = EventStream(d, "kind=ev-auth", key=reader)
    try:
        s = announce(d, "ev-auth", "10.0.7.1", 1)
        assert st.next()["server"]["id"] == s["id"]
    finally:
        st.close()


def _metric(d, name):
    for line in d.http("GET", "/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_slow_subscriber_is_not_lost_and_does_not_slow_others(d):
    import http.client
    import json
    n, blob = 2500, "x" * 3900  # ~10 MB of events: > 4 MiB queued + the socket buffers
    # the slow one on the owner itself: on a cluster, a standby's relay would add megabytes of
    # buffers (its queue, two sockets') before the owner saw it lag
    slow = EventStream(d, "kind=ev-slow", paused=True, rcvbuf=4096, port=d.ports[0])
    fast = EventStream(d, "kind=ev-slow")
    lagged0 = _metric(d, "hangar_registry_subscriber_lag_total") or 0
    try:
        s = announce(d, "ev-slow", "10.0.9.1", 1, capacity=10 ** 6, lease_s=600)
        port = d.port
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        path = SERVERS + "/" + s["id"]
        t0 = time.monotonic()
        for i in range(1, n + 1):
            data = json.dumps({"load": i, "metadata": {"b": blob}}).encode()
            hdrs = harness.sign("PATCH", harness.url_at(port) + path, data,
                                {"Content-Type": "application/json"}, d.key_id, d.secret,
                                "hangar")
            conn.request("PATCH", path, body=data, headers=hdrs)
            r = conn.getresponse()
            r.read()
            assert r.status == 200, r.status
        conn.close()
        last = fast.wait_for(lambda e: e["server"]["load"] == n, timeout=20, what="load %d" % n)
        print("  %d PATCHes of 4 KB metadata: the fast subscriber had them all %.2fs after "
              "the first" % (n, last["_recv"] - t0))
        loads = [e["server"]["load"] for e in fast.events if e["type"] == "server.updated"]
        assert loads == list(range(1, n + 1)), "fast subscriber: %d updates" % len(loads)
        lagged = (_metric(d, "hangar_registry_subscriber_lag_total") or 0) - lagged0
        if _metric(d, "hangar_registry_subscriber_lag_total") is not None:
            assert lagged > 0, "the slow subscriber never fell behind: the test tests nothing"
        slow.resume()
        slow.wait_for(lambda e: e.get("server", {}).get("load") == n, timeout=30,
                      what="the slow subscriber's last update")
        evs = slow.events
        assert evs[0]["type"] == "server.up", harness.brief_events(evs[:3])
        ups = [e for e in evs[1:] if e["type"] == "server.updated"]
        assert [e["server"]["load"] for e in ups] == list(range(1, n + 1)), \
            "slow subscriber: %d updates, types %s" % (
                len(ups), sorted({e["type"] for e in evs}))
        seqs = [e["seq"] for e in evs]
        assert seqs == sorted(set(seqs)), "slow subscriber got a seq twice or out of order"
        print("  the slow subscriber fell behind (lag counter +%d) and caught up: %d events" % (
            lagged, len(evs)))
    finally:
        slow.close()
        fast.close()


@harness.fresh()
def test_restart_gives_snapshot_behind_and_seq_continues(d):
    ws = EventStream(d, "kind=ev-rs")
    a = announce(d, "ev-rs", "10.0.8.1", 1, lease_s=60)
    seq_a = ws.next()["seq"]
    b = announce(d, "ev-rs", "10.0.8.2", 1, lease_s=60)
    seq_b = ws.next()["seq"]
    d.restart()
    ended = ws.next(timeout=5)
    ws.close()
    assert ended is None, "the stream did not end with the daemon: %r" % ended
    behind = EventStream(d, "kind=ev-rs&after=%d" % seq_a)
    sse = EventStream(d, "kind=ev-rs&after=%d" % seq_a, transport="sse")
    current = EventStream(d, "kind=ev-rs&after=%d" % seq_b)
    try:
        for st in (behind, sse):
            snap = st.next()
            assert snap["type"] == "snapshot" and snap["reason"] == "behind", \
                "%s after=%d from before the restart: %r" % (st.transport, seq_a, snap)
            assert seq_b <= snap["seq"] <= seq_b + 4096, (snap["seq"], seq_b)
            top = snap["seq"]
            assert sorted(s["id"] for s in snap["servers"]) == sorted([a["id"], b["id"]]), snap
        c = announce(d, "ev-rs", "10.0.8.3", 1)
        for st in (behind, sse, current):
            ev = st.wait_for(lambda e: e["type"] != "snapshot", what="the first event")
            assert ev["type"] == "server.up" and ev["server"]["id"] == c["id"], ev
            # docs/api.md: after a restart seqs may jump ahead by up to 4,096, never back.
            assert max(seq_b, top) < ev["seq"] <= seq_b + 1 + 4096, \
                "seq after the restart: %d, before: %d, snapshot %d" % (ev["seq"], seq_b, top)
    finally:
        for st in (behind, sse, current):
            st.close()


if __name__ == "__main__":
    harness.run()
