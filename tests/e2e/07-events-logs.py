"""07 event logs for analysis (/v1/events) with a plain HTTP client: players and keys post
batches (a player's own id forced, payment.* reserved to the wallet, one bad event refusing the
whole batch with its index), ids that never collide (same millisecond, 1,000 at once, across a
kill -9), queries with every filter and paging, NDJSON and CSV exports read back with Python's
json and csv modules and compared to what was posted, the retention sweep deleting only the
expired events of the types that have a retention, and the start-up refusal of a bad
event-retention option."""

import csv
import io
import json
import time

import harness
from harness import fresh, native_error, reg_call, wait_until

OPEN = ["--auth-device", "1"]
DAY = 86400


call = harness.player_call


def login(d, n):
    return harness.device_login(d, "device-ev-%04d" % n)


def post(d, events, key=None, token=None, expect=201):
    body = {"events": events}
    r = call(d, "POST", "/v1/events", body, token) if token else \
        reg_call(d, "POST", "/v1/events", body, key)
    assert r.status == expect, r
    return r.json()


def query(d, key=None, token=None, **q):
    qs = "&".join("%s=%s" % kv for kv in sorted(q.items()))
    path = "/v1/events" + ("?" + qs if qs else "")
    return call(d, "GET", path, token=token) if token else reg_call(d, "GET", path, key=key)


def query_all(d, key=None, token=None, limit=7, **q):
    """Every event matching q, following `next`; asserts pages are ascending and disjoint."""
    items, after = [], None
    for _ in range(10000):
        qq = dict(q, limit=limit)
        if after:
            qq["after"] = after
        r = query(d, key, token, **qq)
        assert r.status == 200, r
        page = r.json()
        assert len(page["items"]) <= limit, page
        items += page["items"]
        after = page.get("next")
        if after is None:
            break
        assert after == str(page["items"][-1]["id"]), page
    ids = [e["id"] for e in items]
    assert ids == sorted(set(ids)), ids
    return items


def export(d, key=None, **q):
    qs = "&".join("%s=%s" % kv for kv in sorted(q.items()))
    return reg_call(d, "GET", "/v1/events/export" + ("?" + qs if qs else ""), key=key)


@fresh(args=OPEN)
def test_post_batches_as_player_and_key(d):
    p, q = login(d, 1), login(d, 2)
    now = time.time()
    out = post(d, [{"type": "match.start", "attributes": {"map": "dust"}},
                   {"type": "match.end", "player_id": p["player_id"], "time": now - 5,
                    "attributes": {"score": 17, "won": True}}], token=p["token"])
    assert len(out["ids"]) == 2 and out["ids"][0] < out["ids"][1], out
    # two events in the same millisecond are two events
    same = post(d, [{"type": "tick", "time": 1767225600.123}] * 2, token=p["token"])["ids"]
    assert len(set(same)) == 2, same
    # a player cannot post for another player, nor payment events: the batch is refused whole
    err = native_error(call(d, "POST", "/v1/events",
                            {"events": [{"type": "ok"},
                                        {"type": "ok", "player_id": q["player_id"]}]},
                            p["token"]), 403, "forbidden")
    assert "events[1]" in err["message"] and err["field"] == "events[1].player_id", err
    err = native_error(call(d, "POST", "/v1/events", {"events": [{"type": "payment.purchase"}]},
                            p["token"]), 403, "forbidden")
    assert err["field"] == "events[0].type" and "payment." in err["message"], err
    # a key with events:Write posts for any player; payment.* is reserved to keys too
    writer = d.create_key("analytics-writer", allow=["events:Write"])
    out = post(d, [{"type": "server.crash", "player_id": q["player_id"],
                    "attributes": {"signal": 11}}, {"type": "server.boot"}], key=writer)
    assert out["ids"][0] > same[1], out
    native_error(reg_call(d, "POST", "/v1/events", {"events": [{"type": "payment.credit"}]},
                          writer), 403, "forbidden")
    reader = d.create_key("analytics-reader", allow=["events:Read"])
    native_error(reg_call(d, "POST", "/v1/events", {"events": [{"type": "x"}]}, reader), 403)
    # every event the player posted, with its own id forced
    mine = query_all(d, token=p["token"])
    assert [e["type"] for e in mine] == ["match.start", "match.end", "tick", "tick"], mine
    assert all(e["player_id"] == p["player_id"] for e in mine), mine
    assert mine[1]["attributes"] == {"score": 17, "won": True}, mine[1]
    assert abs(mine[1]["time"] - (now - 5)) < 0.002, (mine[1], now)
    assert abs(mine[0]["time"] - now) < 5, mine[0]  # default: now
    assert mine[2]["time"] == 1767225600.123, mine[2]
    everything = query_all(d, key=reader)
    assert len(everything) == 6, everything
    assert everything[5]["player_id"] is None and everything[5]["attributes"] is None, everything


@fresh(args=OPEN)
def test_invalid_batches_are_refused_whole(d):
    p = login(d, 1)
    writer = d.create_key("w", allow=["events:Write", "events:Read"])
    now = time.time()
    good = {"type": "ok", "player_id": "ext-user-1"}
    bad_events = [
        ({"type": "bad type"}, "type"),
        ({"type": ""}, "type"),
        ({"type": "x" * 65}, "type"),
        ({}, "type"),
        ({"type": 5}, "type"),
        ({"type": "ok", "time": now + 2 * DAY}, "time"),
        ({"type": "ok", "time": 946684799}, "time"),
        ({"type": "ok", "time": "yesterday"}, "time"),
        ({"type": "ok", "attributes": [1, 2]}, "attributes"),
        ({"type": "ok", "attributes": {"blob": "x" * 4096}}, "attributes"),
        ({"type": "ok", "player_id": "has space"}, "player_id"),
        ({"type": "ok", "player_id": 7}, "player_id"),
        ({"type": "ok", "extra": 1}, ""),
    ]
    for ev, field in bad_events:
        r = reg_call(d, "POST", "/v1/events", {"events": [good, good, ev, good]}, writer)
        err = native_error(r, 400, "invalid_request")
        assert "events[2]" in err["message"], (ev, err)
        assert err.get("field") == "events[2]" + ("." + field if field else ""), (ev, err)
    err = native_error(call(d, "POST", "/v1/events", {"events": [{"type": "a"}, {"time": 1}]},
                            p["token"]), 400)
    assert err["field"] == "events[1].type", err
    for body in ({}, {"events": []}, {"events": {}}, {"events": [good] * 1001}):
        native_error(reg_call(d, "POST", "/v1/events", body, writer), 400)
    native_error(reg_call(d, "POST", "/v1/events/nope", {"events": [good]}, writer), 404)
    # nothing of the refused batches was stored
    assert query_all(d, key=writer) == []
    # the limits themselves are accepted: 1,000 events, 4 KiB of attributes, times at the edges
    edge = {"blob": "x" * (4096 - len('{"blob":""}'))}
    ids = post(d, [{"type": "bulk", "attributes": edge if i == 0 else {"i": i},
                    "time": 946684800 if i == 1 else now + DAY - 60 if i == 2 else now}
                   for i in range(1000)], key=writer)["ids"]
    assert len(ids) == 1000 and ids == sorted(set(ids)), ids[:5]
    got = query_all(d, key=writer, limit=1000)
    assert [e["id"] for e in got] == ids and got[0]["attributes"] == edge
    assert got[1]["time"] == 946684800, got[1]


@fresh(args=OPEN)
def test_queries_filter_and_page(d):
    p1, p2 = login(d, 1), login(d, 2)
    writer = d.create_key("w", allow=["events:Write"])
    reader = d.create_key("r", allow=["events:Read"])
    t0 = 1767225600
    posted = []
    for i in range(40):
        posted.append({"type": ["match.start", "match.end", "shop.view"][i % 3],
                       "player_id": [p1["player_id"], p2["player_id"], "ext-9"][i % 4 % 3],
                       "time": t0 + i * 10, "attributes": {"i": i}})
    ids = post(d, posted, key=writer)["ids"]
    for e, i in zip(posted, ids):
        e["id"] = i
    every = query_all(d, key=reader)
    assert [e["id"] for e in every] == ids
    assert [e["attributes"]["i"] for e in every] == list(range(40))

    def want(pred):
        return [e["id"] for e in posted if pred(e)]
    got = query_all(d, key=reader, type="match.end")
    assert [e["id"] for e in got] == want(lambda e: e["type"] == "match.end"), got
    got = query_all(d, key=reader, player_id="ext-9", limit=3)
    assert [e["id"] for e in got] == want(lambda e: e["player_id"] == "ext-9"), got
    got = query_all(d, key=reader, **{"from": t0 + 100, "to": t0 + 200.5})
    assert [e["id"] for e in got] == want(lambda e: t0 + 100 <= e["time"] < t0 + 200.5), got
    got = query_all(d, key=reader, type="shop.view", player_id=p2["player_id"],
                    **{"from": t0 + 50})
    assert [e["id"] for e in got] == want(
        lambda e: e["type"] == "shop.view" and e["player_id"] == p2["player_id"]
        and e["time"] >= t0 + 50), got
    # a page and its cursor
    r = query(d, reader, limit=5, after=ids[9]).json()
    assert [e["id"] for e in r["items"]] == ids[10:15] and r["next"] == str(ids[14]), r
    r = query(d, reader, after=ids[-1]).json()
    assert r == {"items": []}, r
    # a player reads only its own events
    got = query_all(d, token=p1["token"])
    assert [e["id"] for e in got] == want(lambda e: e["player_id"] == p1["player_id"]), got
    native_error(query(d, token=p1["token"], player_id=p2["player_id"]), 403, "forbidden")
    # bad parameters, and keys without events:Read
    for bad in ({"limit": 0}, {"limit": 1001}, {"from": "soon"}, {"to": -1}, {"after": "x"},
                {"type": "a%20b"}, {"from": t0 + 10, "to": t0}):
        native_error(query(d, reader, **bad), 400)
    native_error(query(d, writer), 403, "forbidden")


def check_export_against(posted, got):
    assert len(got) == len(posted), (len(got), len(posted))
    for want, e in zip(posted, got):
        assert e["id"] == want["id"] and e["type"] == want["type"], (want, e)
        assert e["player_id"] == want.get("player_id"), (want, e)
        assert abs(e["time"] - want["time"]) < 0.0005, (want, e)
        assert e["attributes"] == want.get("attributes"), (want, e)


@fresh(args=OPEN)
def test_export_ndjson_and_csv(d):
    p = login(d, 1)
    writer = d.create_key("w", allow=["events:Write"])
    reader = d.create_key("r", allow=["events:Read"])
    t0 = 1767225600
    posted = []
    tricky = {"text": 'comma, "quotes", new\nline and ünïcødé ✓', "n": [1, 2.5, None]}
    big = "y" * 3000  # a few MB in all: several pages and drains of the connection
    for batch in range(3):
        evs = []
        for i in range(1000):
            n = batch * 1000 + i
            e = {"type": "match.end" if n % 2 else "shop.view", "time": t0 + n + 0.25}
            if n % 3:
                e["player_id"] = "player,%d" % (n % 7)
            if n % 5 == 0:
                e["attributes"] = tricky
            elif n % 5 == 1:
                e["attributes"] = {"big": big, "n": n}
            evs.append(e)
        for e, i in zip(evs, post(d, evs, key=writer)["ids"]):
            e["id"] = i
        posted += evs

    r = export(d, reader)
    assert r.status == 200, r
    assert r.headers.get("transfer-encoding") == "chunked", r.headers
    assert r.headers.get("content-type", "").startswith("application/x-ndjson"), r.headers
    lines = r.body.decode("utf-8").splitlines()
    check_export_against(posted, [json.loads(ln) for ln in lines])

    r = export(d, reader, format="csv", type="match.end", **{"from": t0 + 500})
    assert r.status == 200 and r.headers.get("content-type", "").startswith("text/csv"), r
    rows = list(csv.DictReader(io.StringIO(r.body.decode("utf-8"), newline="")))
    assert list(rows[0].keys()) == ["id", "type", "player_id", "time", "attributes"], rows[0]
    got = [{"id": int(row["id"]), "type": row["type"], "player_id": row["player_id"] or None,
            "time": float(row["time"]),
            "attributes": json.loads(row["attributes"]) if row["attributes"] else None}
           for row in rows]
    check_export_against([e for e in posted if e["type"] == "match.end" and e["time"] >= t0 + 500],
                         got)
    # an empty range: NDJSON empty, CSV only its header
    r = export(d, reader, **{"from": t0 + 10 ** 6})
    assert r.status == 200 and r.body == b"", r
    r = export(d, reader, format="csv", type="none")
    assert r.status == 200 and r.body == b"id,type,player_id,time,attributes\r\n", r
    # who may export: keys with events:Read, not players nor writers
    native_error(call(d, "GET", "/v1/events/export", token=p["token"]), 403)
    native_error(export(d, writer), 403)
    native_error(export(d, reader, format="xml"), 400)
    d.serving()


def big_log(d, writer, batches=4):
    """Posts batches x 300 events of ~3 KB each (~3.6 MB exported); returns their ids."""
    ids = []
    for b in range(batches):
        evs = [{"type": "big", "attributes": {"b": b, "i": i, "pad": "z" * 3000}}
               for i in range(300)]
        ids += post(d, evs, key=writer)["ids"]
    return ids


def open_export(d, key, path="/v1/events/export"):
    """A raw export request whose answer is read by the caller, slowly or not at all."""
    import http.client
    port = d.port
    hdrs = harness.signed_get_headers(d, path, key, port=port)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.request("GET", path, headers=hdrs)
    return conn, conn.getresponse()


@fresh(args=OPEN)
def test_export_to_a_slow_reader_and_one_that_leaves(d):
    writer = d.create_key("w", allow=["events:Write"])
    reader = d.create_key("r", allow=["events:Read"])
    ids = big_log(d, writer)
    # a slow reader: the daemon waits for the socket to drain page after page
    conn, r = open_export(d, reader)
    assert r.status == 200, r.status
    chunks = []
    while True:
        b = r.read(64 * 1024)
        if not b:
            break
        chunks.append(b)
        time.sleep(0.01)
    conn.close()
    got = [json.loads(ln) for ln in b"".join(chunks).decode().splitlines()]
    assert [e["id"] for e in got] == ids and got[-1]["attributes"]["pad"] == "z" * 3000
    # readers that go away part-way (the export is cancelled, nothing leaks)
    for _ in range(3):
        conn, r = open_export(d, reader)
        assert r.status == 200 and len(r.read(100000)) == 100000
        conn.close()
    d.serving()


@harness.single_node("the standbys stop first: meanwhile the sockets take the whole export")
@fresh(args=OPEN)
def test_an_export_in_progress_when_the_daemon_stops_ends_truncated(d):
    writer = d.create_key("w", allow=["events:Write"])
    reader = d.create_key("r", allow=["events:Read"])
    big_log(d, writer)
    # it ends, truncated, and hangard exits 0
    conn, r = open_export(d, reader)
    r.read(1000)
    assert d.stop() == 0
    try:
        rest = r.read()
        raise AssertionError("a truncated export read as complete (%d bytes)" % len(rest))
    except Exception as e:
        assert not isinstance(e, AssertionError), e
    conn.close()


@fresh(args=OPEN + ["--event-retention", "debug=1, tmp.*=2, payment.*=3650"])
def test_retention_sweep_deletes_only_expired_types(d):
    writer = d.create_key("w", allow=["events:Write", "events:Read"])
    now = time.time()
    posted = [
        {"type": "debug", "time": now - 3 * DAY},        # expired (1 day)
        {"type": "debug", "time": now - 0.5 * DAY},      # kept
        {"type": "tmp.a", "time": now - 3 * DAY},        # expired (2 days, by prefix)
        {"type": "tmp.b", "time": now - DAY},            # kept
        {"type": "keep", "time": now - 4000 * DAY},      # no rule: kept for ever
        {"type": "debugger", "time": now - 3 * DAY},     # an exact rule is exact: kept
    ]
    ids = post(d, posted, key=writer)["ids"]
    want = [ids[1], ids[3], ids[4], ids[5]]
    wait_until(lambda: [e["id"] for e in query_all(d, key=writer)] == want, timeout=15,
               what="the sweep to delete the expired events")
    time.sleep(1.5)  # and nothing more
    assert [e["id"] for e in query_all(d, key=writer)] == want
    # the newest event deleted by retention: its id is never handed out again after a restart
    last = post(d, [{"type": "debug", "time": now - 5 * DAY}], key=writer)["ids"][0]
    wait_until(lambda: [e["id"] for e in query_all(d, key=writer)] == want, timeout=15,
               what="the sweep to delete the newest event")
    d.restart(hard=True)
    nxt = post(d, [{"type": "after"}], key=writer)["ids"][0]
    assert nxt > last, (nxt, last)


@fresh(args=OPEN)
def test_events_survive_kill9(d):
    writer = d.create_key("w", allow=["events:Write", "events:Read"])
    acked = []
    for i in range(20):
        acked += post(d, [{"type": "round", "attributes": {"i": i}}] * 5, key=writer)["ids"]
    d.restart(hard=True)
    got = query_all(d, key=writer, limit=1000)
    assert [e["id"] for e in got] == acked, (len(got), len(acked))
    more = post(d, [{"type": "after.restart"}], key=writer)["ids"]
    assert more[0] > acked[-1], (more, acked[-1])


@harness.no_daemon
def test_bad_retention_option_fails_startup(d):
    for text, needle in (("debug=0", "days must be"), ("a=1,,b=2", "empty rule"),
                         ("bad type=3", "the type must be")):
        dmn = harness.Daemon(args=["--event-retention", text])
        try:
            dmn.start()
        except AssertionError:
            pass
        else:
            raise AssertionError("hangard started with event-retention %r" % text)
        assert dmn.proc.returncode == 1, dmn.proc.returncode
        out = dmn.output()
        assert "event-retention" in out and needle in out, out[-800:]


harness.run()
