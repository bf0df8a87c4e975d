"""07 wallets, the item catalog, credits and purchases on the native API with a plain HTTP client:
a purchase debits, grants and is answered once durable; a retry with the same key charges once
(Idempotent-Replayed: true); the key with another body is a conflict; insufficient funds,
unknown items, quantities and per-player limits change nothing; 50 connections buying for one
player at once never overdraw and every success is in the ledger; a receipt credits once, also
when sent concurrently; every purchase and credit has its payment event; everything survives
kill -9; `hangard check` agrees (and finds a ledger tampered with)."""

import concurrent.futures
import json
import sqlite3
import subprocess

import harness
from harness import fresh, reg_call

OPEN = ["--auth-device", "1"]


call = harness.player_call


def login(d, n):
    return harness.device_login(d, "device-wallet-%04d" % n)


def item(d, sku, price, stackable=True, **kw):
    r = reg_call(d, "PUT", "/v1/catalog/items/" + sku, dict(price=price, stackable=stackable, **kw))
    assert r.status in (200, 201), r
    return r.json()


def credit(d, pid, currency, amount, receipt, **kw):
    return reg_call(d, "POST", "/v1/players/%s/wallet/credits" % pid,
                    dict(currency=currency, amount=amount, receipt_id=receipt, **kw))


def buy(d, who, sku, key, quantity=1):
    return call(d, "POST", "/v1/purchases",
                {"sku": sku, "quantity": quantity, "idempotency_key": key}, who["token"])


def wallet(d, who):
    r = call(d, "GET", "/v1/players/me/wallet", token=who["token"])
    assert r.status == 200, r
    return r.json()


def pages(d, path, token=None, limit=7):
    out, after = [], None
    while True:
        r = call(d, "GET", path + "?limit=%d" % limit + ("&after=" + after if after else ""),
                 token=token) if token else reg_call(
            d, "GET", path + "?limit=%d" % limit + ("&after=" + after if after else ""))
        assert r.status == 200, r
        out += r.json()["items"]
        after = r.json().get("next")
        if after is None:
            return out


def check(d):
    p = subprocess.run([harness.HANGARD, "check"] + harness.store_args(d), capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


@fresh(args=OPEN)
def test_catalog(d):
    a = item(d, "sword", {"gold": 100}, stackable=False, metadata={"dmg": 7})
    assert a["sku"] == "sword" and a["price"] == {"gold": 100} and a["stackable"] is False, a
    assert a["metadata"] == {"dmg": 7} and a["max_per_player"] is None, a
    r = reg_call(d, "PUT", "/v1/catalog/items/sword", {"price": {"gold": 120}, "stackable": False})
    assert r.status == 200 and r.json()["price"] == {"gold": 120}, r  # replaced, not created
    item(d, "potion", {"gold": 5, "gems": 1}, max_per_player=10)
    item(d, "gift", {})  # free
    p = login(d, 1)
    r = call(d, "GET", "/v1/catalog/items?limit=2", token=p["token"])  # players read the catalog
    assert r.status == 200 and [i["sku"] for i in r.json()["items"]] == ["gift", "potion"], r
    r2 = call(d, "GET", "/v1/catalog/items?limit=2&after=" + r.json()["next"], token=p["token"])
    assert [i["sku"] for i in r2.json()["items"]] == ["sword"] and "next" not in r2.json(), r2
    for bad in ({"price": {"Gold": 1}, "stackable": True}, {"price": {"gold": 0}, "stackable": True},
                {"price": {"gold": 1}}, {"price": [1], "stackable": True},
                {"price": {"gold": 1}, "stackable": True, "max_per_player": 0}):
        r = reg_call(d, "PUT", "/v1/catalog/items/x", bad)
        assert r.status == 400 and r.json()["error"]["code"] == "invalid_request", (bad, r)
    r = reg_call(d, "PUT", "/v1/catalog/items/bad%20sku", {"price": {}, "stackable": True})
    assert r.status == 400, r
    r = call(d, "PUT", "/v1/catalog/items/x", {"price": {}, "stackable": True}, p["token"])
    assert r.status == 403, r  # players do not manage the catalog
    r = reg_call(d, "DELETE", "/v1/catalog/items/gift")
    assert r.status == 200, r
    assert reg_call(d, "GET", "/v1/catalog/items/gift").status == 404


@fresh(args=OPEN)
def test_credit_buy_retry_conflict_and_errors(d):
    p, q = login(d, 1), login(d, 2)
    item(d, "sword", {"gold": 100}, stackable=False)
    item(d, "potion", {"gold": 5, "gems": 1}, max_per_player=3)
    r = credit(d, p["player_id"], "gold", 300, "rcpt-1", reason="store purchase")
    assert r.status == 201 and r.json()["balance"] == 300, r
    assert "idempotent-replayed" not in r.headers, r.headers
    r2 = credit(d, p["player_id"], "gold", 300, "rcpt-1", reason="store purchase")
    assert r2.status == 201 and r2.headers.get("idempotent-replayed") == "true", r2.headers
    assert r2.json() == r.json(), (r.json(), r2.json())  # the first result, nothing credited
    for other in ((q["player_id"], "gold", 300), (p["player_id"], "gems", 300),
                  (p["player_id"], "gold", 301)):
        r = credit(d, other[0], other[1], other[2], "rcpt-1")
        assert r.status == 409 and r.json()["error"]["code"] == "conflict", (other, r)
    assert credit(d, p["player_id"], "gems", 2, "rcpt-2").status == 201
    r = call(d, "POST", "/v1/players/%s/wallet/credits" % p["player_id"],
             {"currency": "gold", "amount": 1, "receipt_id": "rcpt-x"}, p["token"])
    assert r.status == 403, r  # a player cannot credit itself
    assert credit(d, p["player_id"], "gold", 0, "rcpt-0").status == 400
    assert credit(d, p["player_id"], "Gold", 1, "rcpt-0").status == 400
    assert credit(d, "00000000-0000-8000-8000-000000000000", "gold", 1, "rcpt-0").status == 404

    r = buy(d, p, "sword", "k1")
    assert r.status == 201, r
    b = r.json()
    assert b["sku"] == "sword" and b["quantity"] == 1 and b["charged"] == {"gold": 100}, b
    assert b["balances"] == {"gold": 200, "gems": 2}, b
    assert [(i["sku"], i["quantity"]) for i in b["inventory"]] == [("sword", 1)], b
    again = buy(d, p, "sword", "k1")
    assert again.status == 201 and again.headers.get("idempotent-replayed") == "true", again
    assert again.json() == b, again.json()
    assert wallet(d, p)["balances"] == {"gold": 200, "gems": 2}  # charged once
    r = buy(d, p, "potion", "k1")  # the same key, another body
    assert r.status == 409 and r.json()["error"]["code"] == "conflict", r
    # errors change nothing
    before = wallet(d, p)
    r = buy(d, p, "sword", "k2")  # not stackable, owned
    assert r.status == 409 and r.json()["error"]["code"] == "limit_exceeded", r
    r = buy(d, p, "potion", "k3", quantity=3)  # gems: 3 needed, 2 held
    assert r.status == 409 and r.json()["error"]["code"] == "insufficient_funds", r
    assert "gems" in r.json()["error"]["message"], r
    r = buy(d, p, "nope", "k4")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found", r
    for qty in (0, -1, 10001):
        assert buy(d, p, "potion", "k5", quantity=qty).status == 400
    r = call(d, "POST", "/v1/purchases", {"sku": "potion"}, p["token"])
    assert r.status == 400 and "idempotency_key" in r.json()["error"]["message"], r
    r = call(d, "POST", "/v1/purchases", {"sku": "potion", "idempotency_key": "z",
                                          "player_id": q["player_id"]}, p["token"])
    assert r.status == 403, r  # a player buys only for itself
    assert wallet(d, p) == before, (wallet(d, p), before)
    # max_per_player
    assert credit(d, p["player_id"], "gems", 10, "rcpt-3").status == 201
    assert buy(d, p, "potion", "k6", quantity=2).status == 201
    r = buy(d, p, "potion", "k7", quantity=2)
    assert r.status == 409 and r.json()["error"]["code"] == "limit_exceeded", r
    assert buy(d, p, "potion", "k8").status == 201
    # a key buys for a player
    k = d.create_key("shop", allow=["wallet:Purchase", "wallet:Read"])
    r = reg_call(d, "POST", "/v1/purchases", {"sku": "sword", "idempotency_key": "srv-1",
                                              "player_id": q["player_id"]}, key=k)
    assert r.status == 409 and r.json()["error"]["code"] == "insufficient_funds", r
    # reads: a player only its own; a key with wallet:Read any
    r = call(d, "GET", "/v1/players/%s/wallet" % q["player_id"], token=p["token"])
    assert r.status == 403, r
    r = reg_call(d, "GET", "/v1/players/%s/wallet" % p["player_id"], key=k)
    assert r.status == 200 and r.json()["balances"]["gold"] == 185, r
    # the purchase, its player's purchases (newest first) and the ledger (oldest first)
    r = call(d, "GET", "/v1/purchases/" + b["purchase_id"], token=p["token"])
    assert r.status == 200 and r.json()["purchase_id"] == b["purchase_id"], r
    assert r.json()["charged"] == {"gold": 100}, r
    assert call(d, "GET", "/v1/purchases/" + b["purchase_id"], token=q["token"]).status == 404
    mine = pages(d, "/v1/players/me/purchases", token=p["token"], limit=2)
    assert [x["sku"] for x in mine] == ["potion", "potion", "sword"], mine
    led = pages(d, "/v1/players/%s/ledger" % p["player_id"], limit=3)
    assert [e["seq"] for e in led] == list(range(1, len(led) + 1)), led
    bal = {}
    for e in led:
        bal[e["currency"]] = bal.get(e["currency"], 0) + e["amount"]
        assert e["balance"] == bal[e["currency"]], e
    assert bal == wallet(d, p)["balances"], (bal, wallet(d, p))
    kinds = [(e["kind"], e["currency"], e["amount"]) for e in led]
    assert kinds[:3] == [("credit", "gold", 300), ("credit", "gems", 2), ("purchase", "gold", -100)]
    # payment events, written by the purchase and credit transactions themselves
    r = reg_call(d, "GET", "/v1/events?type=payment.purchase&player_id=" + p["player_id"])
    assert r.status == 200, r
    ids = sorted(e["attributes"]["purchase_id"] for e in r.json()["items"])
    assert ids == sorted(x["purchase_id"] for x in mine), (ids, mine)
    r = reg_call(d, "GET", "/v1/events?type=payment.credit")
    assert sorted(e["attributes"]["receipt_id"] for e in r.json()["items"]) == \
        ["rcpt-1", "rcpt-2", "rcpt-3"], r
    rc, out = check(d)
    assert rc == 0 and "consistent" in out, out


@fresh(args=OPEN + ["--http-max-conns", "500"])
def test_concurrent_buyers_never_overdraw(d):
    p = login(d, 1)
    item(d, "gem_pack", {"gold": 7})
    assert credit(d, p["player_id"], "gold", 7 * 30 + 3, "rcpt-c").status == 201

    def one(i):
        r = buy(d, p, "gem_pack", "c-%d" % i)
        return r.status, r.json()

    with concurrent.futures.ThreadPoolExecutor(50) as ex:
        res = list(ex.map(one, range(50)))
    ok = [b for s, b in res if s == 201]
    poor = [b for s, b in res if s == 409]
    assert len(ok) == 30 and len(poor) == 20, [s for s, _ in res]
    assert all(b["error"]["code"] == "insufficient_funds" for b in poor), poor
    w = wallet(d, p)
    assert w["balances"] == {"gold": 3} and w["inventory"][0]["quantity"] == 30, w
    led = pages(d, "/v1/players/%s/ledger" % p["player_id"], limit=100)
    refs = sorted(e["ref"] for e in led if e["kind"] == "purchase")
    assert refs == sorted(b["purchase_id"] for b in ok), (refs, ok)
    # the same receipt from 20 connections at once: one credit
    with concurrent.futures.ThreadPoolExecutor(20) as ex:
        res = list(ex.map(lambda i: credit(d, p["player_id"], "gold", 50, "rcpt-race"), range(20)))
    assert all(r.status == 201 for r in res), [r.status for r in res]
    assert sum(1 for r in res if r.headers.get("idempotent-replayed") != "true") == 1
    assert wallet(d, p)["balances"] == {"gold": 53}


@harness.embedded_only  # reads or breaks hangar.db itself
@fresh(args=OPEN)
def test_survives_kill9_and_check_finds_tampering(d):
    p = login(d, 1)
    item(d, "sword", {"gold": 100}, stackable=False)
    assert credit(d, p["player_id"], "gold", 250, "rcpt-k").status == 201
    first = buy(d, p, "sword", "once").json()
    d.restart(hard=True)
    assert wallet(d, p)["balances"] == {"gold": 150}
    again = buy(d, p, "sword", "once")  # the key is remembered across the crash
    assert again.status == 201 and again.json() == first, again
    assert again.headers.get("idempotent-replayed") == "true"
    r = credit(d, p["player_id"], "gold", 250, "rcpt-k")  # an old receipt: found in the store
    assert r.status == 201 and r.headers.get("idempotent-replayed") == "true", r
    assert r.json()["balance"] == 250, r.json()  # the first answer
    assert credit(d, p["player_id"], "gold", 251, "rcpt-k").status == 409
    assert wallet(d, p)["balances"] == {"gold": 150}
    rc, out = check(d)  # on a running store
    assert rc == 0, out
    d.stop()
    rc, out = check(d)
    assert rc == 0 and "1 purchases" in out, out
    db = sqlite3.connect(d.data + "/history.db")  # the wallets (and the ledger) live there
    row = db.execute("SELECT coll, key, value FROM records WHERE coll LIKE 'wallet.ledger/%' "
                     "ORDER BY key LIMIT 1").fetchone()
    v = json.loads(row[2])
    v["amount"] += 1
    v["balance"] += 1
    db.execute("UPDATE records SET value=? WHERE coll=? AND key=?", (json.dumps(v), row[0], row[1]))
    db.commit()
    db.close()
    rc, out = check(d)
    assert rc == 1 and "MISMATCH" in out and "ledger sums to 151" in out, out
    d.start()


if __name__ == "__main__":
    harness.run()
