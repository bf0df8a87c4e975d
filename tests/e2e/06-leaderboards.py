"""06 real-time leaderboards on the native API with a plain HTTP client: players log in (device
ids), submit after each round and read the top with pages, their rank with the players around
them, their rank among friends and the ranks of a list; each operator, asc and desc boards, the
errors (unknown board, bad scores, a player submitting for another), idempotent submits, and
kill -9 during a stream of submits losing no acknowledged score. Reset schedules are driven by
the unit tests' injected clock (tests/unit/test_board.c)."""

import json
import threading

import harness
from harness import fresh, native_error, reg_call

OPEN = ["--auth-device", "1"]


call = harness.player_call


def login(d, n, name=None):
    return harness.device_login(d, "device-lb-%04d" % n, name or "P%d" % n)


def board(d, bid, order="desc", operator="best", **kw):
    r = reg_call(d, "POST", "/v1/leaderboards", dict(id=bid, order=order, operator=operator, **kw))
    assert r.status == 201, r
    return r.json()


def submit(d, bid, who, score, **kw):
    r = call(d, "POST", "/v1/leaderboards/%s/scores" % bid, dict(score=score, **kw), who["token"])
    assert r.status == 200, r
    return r.json()


@fresh(args=OPEN)
def test_submit_top_around_friends_and_ranks(d):
    b = board(d, "global")
    assert b["entries"] == 0 and b["operator"] == "best" and b["reset"] is None, b
    players = [login(d, i) for i in range(30)]
    for i, p in enumerate(players):
        e = submit(d, "global", p, (i * 37) % 100, metadata={"round": i})
        assert e["player_id"] == p["player_id"] and e["display_name"] == "P%d" % i, e
        assert e["changed"] is True and e["rank"] >= 1, e
    # the whole order, through pages of 7
    seen, after = [], None
    while True:
        r = call(d, "GET", "/v1/leaderboards/global/entries?limit=7" +
                 ("&after=" + after if after else ""), token=players[0]["token"])
        assert r.status == 200, r
        page = r.json()
        assert page["count"] == 30, page
        seen += page["items"]
        after = page.get("next")
        if after is None:
            break
    assert [e["rank"] for e in seen] == list(range(1, 31))
    want = sorted(range(30), key=lambda i: (-((i * 37) % 100), i))  # ties: who came first
    assert [e["player_id"] for e in seen] == [players[i]["player_id"] for i in want]
    assert seen[0]["metadata"] == {"round": want[0]}, seen[0]
    # around me: 3 above and below
    me = players[want[10]]
    r = call(d, "GET", "/v1/leaderboards/global/entries/%s?around=3" % me["player_id"],
             token=me["token"])
    got = r.json()
    assert got["entry"]["rank"] == 11 and got["entry"]["player_id"] == me["player_id"], got
    assert [e["rank"] for e in got["items"]] == list(range(8, 15)), got
    top = players[want[0]]
    got = call(d, "GET", "/v1/leaderboards/global/entries/%s?around=2" % top["player_id"],
               token=me["token"]).json()
    assert [e["rank"] for e in got["items"]] == [1, 2, 3], got  # clipped at the top
    # among friends: the player and its friends, ranked among themselves, global ranks kept
    friends = [players[want[20]], players[want[2]]]
    r = call(d, "PUT", "/v1/players/me/friends",
             {"friends": [f["player_id"] for f in friends]}, me["token"])
    assert r.status == 200, r
    got = call(d, "GET", "/v1/leaderboards/global/friends", token=me["token"]).json()
    assert [(e["rank"], e["friend_rank"]) for e in got["items"]] == [(3, 1), (11, 2), (21, 3)]
    # ranks of a list (unknown and absent ids reported missing)
    ids = [players[want[5]]["player_id"], "00000000-0000-8000-8000-000000000000", "x"]
    got = call(d, "POST", "/v1/leaderboards/global/ranks", {"player_ids": ids},
               players[0]["token"]).json()
    assert [e["rank"] for e in got["items"]] == [6], got
    assert got["missing"] == ids[1:], got
    # a key reads too (leaderboards:Read), and submits for any player (leaderboards:Submit)
    reader = d.create_key("lobby", allow=["leaderboards:Read"])
    r = reg_call(d, "GET", "/v1/leaderboards/global/entries?limit=1", key=reader)
    assert r.status == 200 and r.json()["items"][0]["rank"] == 1, r
    server = d.create_key("game-server", allow=["leaderboards:Submit"])
    r = reg_call(d, "POST", "/v1/leaderboards/global/scores",
                 {"player_id": players[0]["player_id"], "score": 1000}, server)
    assert r.status == 200 and r.json()["rank"] == 1, r
    native_error(reg_call(d, "POST", "/v1/leaderboards/global/scores",
                          {"player_id": players[0]["player_id"], "score": 1}, reader), 403)
    d.restart(hard=True)
    got = call(d, "GET", "/v1/leaderboards/global/entries?limit=2", token=me["token"]).json()
    assert got["items"][0]["player_id"] == players[0]["player_id"], got
    assert got["items"][0]["score"] == 1000 and got["count"] == 30, got


@fresh(args=OPEN)
def test_operators_and_orders(d):
    p, q = login(d, 1), login(d, 2)
    for op, scores, want in (("best", [50, 30, 70], 70), ("set", [50, 30, 20], 20),
                             ("incr", [5, 7, -2], 10), ("decr", [5, 7], -12)):
        board(d, "op-" + op, operator=op)
        for s in scores:
            e = submit(d, "op-" + op, p, s)
        assert e["score"] == want, (op, e)
    board(d, "speedrun", order="asc")
    submit(d, "speedrun", p, 93500)
    submit(d, "speedrun", q, 91200)
    e = submit(d, "speedrun", p, 95000)  # slower: not kept on a best board
    assert e["changed"] is False and e["score"] == 93500 and e["rank"] == 2, e
    e = submit(d, "speedrun", p, 90000, subscore=3)
    assert e["changed"] is True and e["rank"] == 1, e


@fresh(args=OPEN)
def test_errors_and_permissions(d):
    p, q = login(d, 1), login(d, 2)
    board(d, "errs", metadata_max=16)
    native_error(call(d, "POST", "/v1/leaderboards/nope/scores", {"score": 1}, p["token"]), 404)
    for bad in ({"score": 1.5}, {"score": "10"}, {}, {"score": 1, "subscore": True},
                {"score": 2 ** 63}, {"score": 1, "metadata": {"x": "y" * 20}},
                {"score": 1, "idempotency_key": "has space"}):
        r = call(d, "POST", "/v1/leaderboards/errs/scores", bad, p["token"])
        assert r.status == 400, (bad, r)
    native_error(call(d, "POST", "/v1/leaderboards/errs/scores",
                      {"score": 1, "player_id": q["player_id"]}, p["token"]), 403)
    native_error(call(d, "POST", "/v1/leaderboards", {"id": "mine", "order": "desc",
                                                      "operator": "best"}, p["token"]), 403)
    for bad in ({"id": "bad id", "order": "desc", "operator": "best"},
                {"id": "b1", "order": "up", "operator": "best"},
                {"id": "b1", "order": "desc", "operator": "max"},
                {"id": "b1", "order": "desc", "operator": "best", "reset": "hourly"},
                {"id": "b1", "order": "desc", "operator": "best", "reset": "daily",
                 "time_zone": "Nowhere/City"},
                {"id": "b1", "order": "desc", "operator": "best", "max_entries": 0}):
        native_error(reg_call(d, "POST", "/v1/leaderboards", bad), 400)
    native_error(reg_call(d, "POST", "/v1/leaderboards",
                          {"id": "errs", "order": "desc", "operator": "best"}), 409)
    native_error(call(d, "GET", "/v1/leaderboards/errs/entries?period=previous",
                      token=p["token"]), 400)
    native_error(call(d, "GET", "/v1/leaderboards/errs/entries/%s" % q["player_id"],
                      token=p["token"]), 404)
    # nothing of the refused submits was kept
    assert call(d, "GET", "/v1/leaderboards/errs", token=p["token"]).json()["entries"] == 0
    b = board(d, "daily", reset="daily", time_zone="Asia/Seoul")
    assert b["time_zone"] == "Asia/Seoul" and b["next_reset"] > b["period_start"], b
    r = call(d, "GET", "/v1/leaderboards/daily/entries?period=previous", token=p["token"])
    assert r.status == 200 and r.json()["items"] == [], r
    r = reg_call(d, "DELETE", "/v1/leaderboards/daily")
    assert r.status == 200, r
    native_error(call(d, "GET", "/v1/leaderboards/daily", token=p["token"]), 404)


@fresh(args=OPEN)
def test_idempotent_submits(d):
    p = login(d, 1)
    board(d, "coins", operator="incr")
    first = submit(d, "coins", p, 10, idempotency_key="round-7")
    submit(d, "coins", p, 5, idempotency_key="round-8")
    again = submit(d, "coins", p, 10, idempotency_key="round-7")
    assert again == first, (again, first)  # the first answer, not applied twice
    cur = call(d, "GET", "/v1/leaderboards/coins/entries/%s" % p["player_id"],
               token=p["token"]).json()["entry"]
    assert cur["score"] == 15, cur
    d.restart(hard=True)
    assert submit(d, "coins", p, 10, idempotency_key="round-7") == first


@fresh(args=OPEN)
def test_kill_9_during_submits_loses_no_acknowledged_score(d):
    board(d, "durable", operator="set")
    players = [login(d, i) for i in range(8)]
    acked = {}
    stop = threading.Event()
    lock = threading.Lock()

    def worker(p):
        n = 0
        while not stop.is_set():
            n += 1
            try:
                r = call(d, "POST", "/v1/leaderboards/durable/scores", {"score": n}, p["token"])
            except OSError:
                return
            if r.status == 200:
                with lock:
                    acked[p["player_id"]] = r.json()["score"]
    threads = [threading.Thread(target=worker, args=(p,)) for p in players]
    for t in threads:
        t.start()
    harness.wait_until(lambda: len(acked) == 8 and min(acked.values()) > 20, timeout=20,
                       what="submits acknowledged")
    d.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    d.start(port=d.port)
    got = call(d, "POST", "/v1/leaderboards/durable/ranks",
               {"player_ids": [p["player_id"] for p in players]}, players[0]["token"]).json()
    kept = {e["player_id"]: e["score"] for e in got["items"]}
    for pid, score in acked.items():
        # a set board keeps the last submit: at least the last acknowledged one (a later one
        # may have committed with its answer lost in the kill)
        assert kept.get(pid, -1) >= score, (pid, kept.get(pid), score)


harness.run()
