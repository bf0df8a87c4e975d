"""09 room scripts: Lua handlers routed by message type, deployed without restarting running
games. A broken script is refused with its Lua error and line; handlers broadcast and keep
room.state; on_join refuses; unknown types are relayed (or refused, per script); an infinite loop
and a memory bomb are stopped and the room lives; a timer fires; a deploy during traffic leaves
old rooms on their version and gives new rooms the new one; a migrate deploy switches live rooms
(state carried by on_migrate) with no message lost and no one disconnected; rollback."""

import json
import threading
import time

import harness
from harness import fresh, reg_call

rooms = __import__("09-rooms")
Client, login = rooms.Client, rooms.login

OPEN = ["--auth-device", "1", "--room-rate-per-s", "100000"]

CHAT_V1 = r'''
return {
  on_create = function(room, options)
    room.state.said = 0
    room.state.greeting = options and options.greeting or "hi"
  end,
  on_join = function(room, player)
    if room.state.locked then return false, "the room is locked" end
    return true
  end,
  messages = {
    say = function(room, player, data)
      room.state.said = room.state.said + 1
      room.broadcast("said", {text = data.text, n = room.state.said, v = 1})
    end,
    lock = function(room, player, data) room.state.locked = true end,
    spin = function(room, player, data) while true do end end,
    bomb = function(room, player, data)
      local t = {}
      for i = 1, 1e9 do t[i] = string.rep("x", 1000) .. i end
    end,
    later = function(room, player, data)
      room.after(50, function() room.broadcast("rang", {after = data.ms}) end)
    end,
    whisper = function(room, player, data) room.send(player, "psst", {to = player}) end,
  },
}
'''

CHAT_V2 = CHAT_V1.replace("v = 1", "v = 2").replace(
    "  messages = {",
    "  on_migrate = function(room, old)\n    room.state = old\n    room.state.migrated = true\n  end,\n  messages = {")

REFUSER = r'''
return { unknown = "refuse", messages = { ok = function(room, p, d) room.broadcast("ok", d) end } }
'''


def deploy(d, name, source, migrate=None):
    body = {"source": source}
    if migrate is not None:
        body["migrate"] = migrate
    return reg_call(d, "PUT", "/v1/scripts/" + name, body)


def make_room(d, script, **kw):
    r = reg_call(d, "POST", "/v1/rooms", dict(script=script, **kw))
    assert r.status == 201, r
    return r.json()


def said(c):
    return [m for m in c.room_msgs("said")]


@fresh(args=OPEN)
def test_handlers_state_join_unknown_limits_timers(d):
    bad = deploy(d, "chat", "return {\n  messages = {\n    say = function(room p) end\n  }\n}\n")
    assert bad.status == 400 and ":3:" in bad.json()["error"]["message"], bad
    assert reg_call(d, "GET", "/v1/scripts/chat").status == 404  # nothing kept
    r = deploy(d, "chat", CHAT_V1)
    assert r.status == 201 and r.json()["version"] == 1, r
    room = make_room(d, "chat", options={"greeting": "yo"})
    assert room["script"] == "chat" and room["script_version"] == 1, room
    a, b = login(d, 1), login(d, 2)
    ca, cb = Client(d, room["room_id"], a), Client(d, room["room_id"], b)
    ca.wait(lambda ms: len([m for m in ms if m.get("type") == "join"]) == 2)
    ca.send("say", {"text": "hello"})
    # two clients' messages have no order between them until the room has one: the second is
    # sent once the first is seen (one of them may be relayed by a standby, the other not)
    cb.wait(lambda ms: len([m for m in ms if m.get("type") == "said"]) == 1)
    cb.send("say", {"text": "there"})
    cb.wait(lambda ms: len([m for m in ms if m.get("type") == "said"]) == 2)
    got = [(m["data"]["text"], m["data"]["n"], m["from"]) for m in said(cb)]
    assert got == [("hello", 1, a["player_id"]), ("there", 2, b["player_id"])], got
    ca.wait(lambda ms: len([m for m in ms if m.get("type") == "said"]) == 2)
    assert said(ca) == said(cb)
    ca.send("emote", {"x": 1})  # no handler: relayed as is
    cb.wait(lambda ms: any(m.get("type") == "emote" for m in ms))
    # an infinite loop and a memory bomb are stopped; the sender hears why; the room lives
    ca.send("spin")
    ca.wait(lambda ms: any(m.get("type") == "error" for m in ms))
    err = [m for m in ca.msgs if m.get("type") == "error"][0]["data"]
    assert err["code"] == "handler_limit" and err["ref"] == "spin", err
    ca.send("bomb")
    ca.wait(lambda ms: len([m for m in ms if m.get("type") == "error"]) == 2, timeout=30)
    err = [m for m in ca.msgs if m.get("type") == "error"][1]["data"]
    assert err["code"] == "handler_limit" and err["ref"] == "bomb", err
    ca.send("say", {"text": "still here"})
    cb.wait(lambda ms: len([m for m in ms if m.get("type") == "said"]) == 3)
    assert said(cb)[-1]["data"]["n"] == 3
    # a timer, and a message to one player
    ca.send("later", {"ms": 50})
    cb.wait(lambda ms: any(m.get("type") == "rang" for m in ms))
    cb.send("whisper")
    cb.wait(lambda ms: any(m.get("type") == "psst" for m in ms))
    assert not any(m.get("type") == "psst" for m in ca.msgs)
    # on_join refuses once the room is locked
    ca.send("lock")
    time.sleep(0.2)
    st = rooms.upgrade_status(d, room["room_id"], ["Authorization: Bearer " + login(d, 3)["token"]])
    assert st == 403, st
    # a script that refuses unknown types
    assert deploy(d, "strict", REFUSER).status == 201
    sr = make_room(d, "strict")
    cs = Client(d, sr["room_id"], login(d, 4))
    cs.send("nope", 1)
    cs.wait(lambda ms: any(m.get("type") == "error" for m in ms))
    assert [m for m in cs.msgs if m.get("type") == "error"][0]["data"]["code"] == "no_handler"
    cs.send("ok", 7)
    cs.wait(lambda ms: any(m.get("type") == "ok" for m in ms))
    for c in (ca, cb, cs):
        c.close()


@fresh(args=OPEN)
def test_deploy_during_traffic_migrate_and_rollback(d):
    assert deploy(d, "chat", CHAT_V1).status == 201
    old = make_room(d, "chat")
    a, b = login(d, 1), login(d, 2)
    ca, cb = Client(d, old["room_id"], a), Client(d, old["room_id"], b)
    ca.wait(lambda ms: len([m for m in ms if m.get("type") == "join"]) == 2)
    stop = threading.Event()
    sent = [0]

    def talk():
        while not stop.is_set():
            ca.send("say", {"text": "t%d" % sent[0]})
            sent[0] += 1
            time.sleep(0.002)

    t = threading.Thread(target=talk)
    t.start()
    time.sleep(0.3)
    v2 = deploy(d, "chat", CHAT_V2)  # no migrate: the live room keeps v1
    assert v2.status == 201 and v2.json()["version"] == 2 and v2.json()["migrated"] == 0, v2
    new = make_room(d, "chat")
    assert new["script_version"] == 2, new
    time.sleep(0.2)
    assert reg_call(d, "GET", "/v1/rooms/" + old["room_id"]).json()["script_version"] == 1
    # the same version again, now migrating the live room
    v3 = deploy(d, "chat", CHAT_V2, migrate=True)
    # both rooms move: the old one (v1) and the one made on v2
    assert v3.status == 201 and v3.json()["migrated"] == 2 and v3.json()["migrate_failed"] == 0, v3
    time.sleep(0.3)
    stop.set()
    t.join()
    cb.wait(lambda ms: len([m for m in ms if m.get("type") == "said"]) == sent[0], timeout=20)
    ns = [m["data"]["n"] for m in said(cb)]
    assert ns == list(range(1, sent[0] + 1)), "state carried, nothing lost: %r" % ns[-5:]
    vs = [m["data"]["v"] for m in said(cb)]
    assert vs[0] == 1 and vs[-1] == 2 and vs == sorted(vs), "v1 then v2 at one boundary"
    assert ca.close_code is None and cb.close_code is None  # nobody disconnected
    g = reg_call(d, "GET", "/v1/rooms/" + old["room_id"]).json()
    assert g["script_version"] == 3 and g["connected"] == 2, g
    vers = reg_call(d, "GET", "/v1/scripts/chat/versions").json()
    assert [v["version"] for v in vers["items"]] == [1, 2, 3] and vers["current"] == 3, vers
    rb = reg_call(d, "POST", "/v1/scripts/chat/rollback", {"version": 1, "migrate": True})
    assert rb.status == 200 and rb.json()["current"] == 1 and rb.json()["migrated"] == 2, rb
    ca.send("say", {"text": "after rollback"})
    cb.wait(lambda ms: said(cb) and said(cb)[-1]["data"]["text"] == "after rollback")
    assert said(cb)[-1]["data"]["v"] == 1
    assert make_room(d, "chat")["script_version"] == 1
    ca.close()
    cb.close()


@fresh(args=OPEN)
def test_players_create_rooms_when_the_script_allows(d):
    lobby = r'''
return {
  on_create_request = function(room, player, options)
    if options and options.ranked then return false, "ranked rooms are made by the matchmaker" end
    return true
  end,
  messages = {},
}'''
    assert deploy(d, "lobby", lobby).status == 201
    assert deploy(d, "closed", "return { messages = {} }").status == 201
    p = login(d, 1)

    def create(body):
        return d.http(
            "POST", "/v1/rooms", json.dumps(body).encode(),
            {"Content-Type": "application/json", "Authorization": "Bearer " + p["token"]})

    r = create({"script": "lobby", "label": "casual"})
    assert r.status == 201 and r.json()["script"] == "lobby", r
    r = create({"script": "lobby", "options": {"ranked": True}})
    assert r.status == 403 and "matchmaker" in r.json()["error"]["message"], r
    assert create({"script": "closed"}).status == 403  # no on_create_request: keys only
    assert create({"label": "no script"}).status == 403
    assert create({"script": "nope"}).status == 404


ARENA = r"""
return {
  messages = {
    -- the game's end: the winner's score goes on the board, the winner gets coins; everyone
    -- hears of it only once both are durable
    win = function(room, player, data)
      room.leaderboard_submit({board = "arena", player = player, score = data.score},
        function(room, entry, err)
          if err then room.broadcast("failed", err) return end
          room.wallet_credit({player = player, currency = "coin", amount = 50,
                              receipt_id = room.id .. ":" .. player},
            function(room, w, err)
              if err then room.broadcast("failed", err) return end
              room.broadcast("won", {rank = entry.rank, score = entry.score,
                                     coins = w.balance})
            end)
        end)
    end,
    top = function(room, player, data)
      room.leaderboard_top({board = "arena", limit = 3}, function(room, page, err)
        room.send(player, "top", err or page)
      end)
    end,
    buy = function(room, player, data)
      room.purchase({player = player, sku = data.sku, quantity = 1,
                     idempotency_key = data.key}, function(room, res, err)
        room.send(player, "bought", err or {charged = res.charged, balances = res.balances})
      end)
    end,
    wallet = function(room, player, data)
      room.wallet_get({player = player}, function(room, w) room.send(player, "wallet", w) end)
    end,
  },
}
"""


@fresh(args=OPEN)
def test_scripts_reach_leaderboards_and_wallets_as_granted(d):
    assert reg_call(d, "POST", "/v1/leaderboards",
                    {"id": "arena", "order": "desc", "operator": "best"}).status in (200, 201)
    assert reg_call(d, "PUT", "/v1/catalog/items/sword",
                    {"price": {"coin": 30}, "stackable": True}).status in (200, 201)
    # a deployer cannot grant what its own key does not hold
    deployer = d.create_key("deployer", allow=["rooms:Deploy", "leaderboards:Submit"])
    r = reg_call(d, "PUT", "/v1/scripts/arena",
                 {"source": ARENA, "grants": ["leaderboards:Submit", "wallet:Credit"]}, deployer)
    harness.native_error(r, 403)
    assert "wallet:Credit" in r.json()["error"]["message"], r
    r = reg_call(d, "PUT", "/v1/scripts/arena", {"source": ARENA, "grants": ["rooms:Delete"]})
    harness.native_error(r, 400)
    # deployed without grants: the calls raise and the sender hears the error
    r = deploy(d, "arena", ARENA)
    assert r.status == 201 and r.json()["grants"] == [], r
    room = make_room(d, "arena")
    a = login(d, 1)
    ca = Client(d, room["room_id"], a)
    ca.send("win", {"score": 10})
    ca.wait(lambda ms: any(m.get("type") == "error" for m in ms))
    err = [m for m in ca.msgs if m.get("type") == "error"][0]["data"]
    assert "needs the grant leaderboards:Submit" in err["message"], err
    ca.close()
    # the admin deploys with the grants; a migrate moves the live room onto them
    grants = ["leaderboards:Read", "leaderboards:Submit", "wallet:Read", "wallet:Credit",
              "wallet:Purchase"]
    r = reg_call(d, "PUT", "/v1/scripts/arena",
                 {"source": ARENA, "grants": grants, "migrate": True})
    assert r.status == 201 and r.json()["grants"] == grants and r.json()["migrated"] == 1, r
    vers = reg_call(d, "GET", "/v1/scripts/arena/versions").json()["items"]
    assert vers[0]["grants"] == [] and vers[1]["grants"] == grants, vers
    b = login(d, 2)
    ca, cb = Client(d, room["room_id"], a), Client(d, room["room_id"], b)
    ca.send("win", {"score": 70})
    cb.wait(lambda ms: any(m.get("type") in ("won", "failed") for m in ms))
    won = [m for m in cb.msgs if m.get("type") in ("won", "failed")][0]
    assert won["type"] == "won" and won["data"] == {"rank": 1, "score": 70, "coins": 50}, won
    # what the script did is what the API reads
    e = harness.player_call(d, "GET", "/v1/leaderboards/arena/entries", token=b["token"]).json()
    assert [(x["player_id"], x["score"]) for x in e["items"]] == [(a["player_id"], 70)], e
    w = reg_call(d, "GET", "/v1/players/%s/wallet" % a["player_id"]).json()
    assert w["balances"] == {"coin": 50}, w
    # the same receipt again (a second win by a): the credit replays, no more coins
    ca.send("win", {"score": 20})
    cb.wait(lambda ms: len([m for m in ms if m.get("type") in ("won", "failed")]) == 2)
    again = [m for m in cb.msgs if m.get("type") in ("won", "failed")][1]
    assert again["data"] == {"rank": 1, "score": 70, "coins": 50}, again
    # reads, a purchase, and an error with its /v1 code
    ca.send("top")
    ca.wait(lambda ms: any(m.get("type") == "top" for m in ms))
    top = [m for m in ca.msgs if m.get("type") == "top"][0]["data"]
    assert top["count"] == 1 and top["items"][0]["player_id"] == a["player_id"], top
    ca.send("buy", {"sku": "sword", "key": "k1"})
    ca.wait(lambda ms: any(m.get("type") == "bought" for m in ms))
    got = [m for m in ca.msgs if m.get("type") == "bought"][0]["data"]
    assert got["charged"] == {"coin": 30} and got["balances"] == {"coin": 20}, got
    ca.send("buy", {"sku": "sword", "key": "k2"})
    ca.wait(lambda ms: len([m for m in ms if m.get("type") == "bought"]) == 2)
    got = [m for m in ca.msgs if m.get("type") == "bought"][1]["data"]
    assert got["code"] == "insufficient_funds", got
    ca.send("wallet")
    ca.wait(lambda ms: any(m.get("type") == "wallet" for m in ms))
    w = [m for m in ca.msgs if m.get("type") == "wallet"][0]["data"]
    assert w["balances"] == {"coin": 20} and w["inventory"][0]["sku"] == "sword", w
    assert not any(m.get("type") == "bought" for m in cb.msgs)  # room.send: to one
    # the grants survive a restart
    ca.close()
    cb.close()
    d.restart()
    vers = reg_call(d, "GET", "/v1/scripts/arena/versions").json()["items"]
    assert vers[1]["grants"] == grants, vers


COUNTER = r"""
return {
  on_create = function(room) room.state.joins = 0; room.state.leaves = 0 end,
  on_join = function(room, player) room.state.joins = room.state.joins + 1 end,
  on_leave = function(room, player) room.state.leaves = room.state.leaves + 1 end,
  messages = { stats = function(room, player)
    room.send(player, "stats", {joins = room.state.joins, leaves = room.state.leaves})
  end },
}
"""


@fresh(args=OPEN)
def test_on_join_runs_only_for_a_handshake_that_can_complete(d):
    assert deploy(d, "counter", COUNTER).status == 201
    room = make_room(d, "counter")
    a = login(d, 1)
    # three upgrades that fail their handshake (no version, no key): on_join never runs
    for hdrs in (["Sec-WebSocket-Version: 8"], ["Sec-WebSocket-Key: short"]):
        r = d.http("GET", "/v1/rooms/%s?token=%s" % (room["room_id"], a["token"]), None,
                   dict([("Upgrade", "websocket"), ("Connection", "Upgrade")] +
                        [tuple(h.split(": ", 1)) for h in hdrs]))
        assert r.status == 400, r
    r = d.http("GET", "/v1/rooms/%s?token=%s" % (room["room_id"], a["token"]), None,
               {"Upgrade": "websocket", "Connection": "Upgrade"})
    assert r.status == 400, r
    c = Client(d, room["room_id"], a)
    c.send("stats")
    c.wait(lambda ms: any(m.get("type") == "stats" for m in ms))
    st = [m for m in c.msgs if m.get("type") == "stats"][0]["data"]
    assert st == {"joins": 1, "leaves": 0}, st
    c.close()


if __name__ == "__main__":
    harness.run()
