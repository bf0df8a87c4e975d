"""Crash test for purchases and credits (issue #13): many connections buy and credit while the
daemon is killed with SIGKILL at random moments, ROUNDS times; after every round and at the end,
what the store holds is checked against what the clients were told:

- every acknowledged credit (201) is in its player's ledger once, with its amount;
- every acknowledged purchase can be read back (GET /v1/purchases/{id}) and its debits are in the
  ledger once;
- a request whose answer was lost (the connection died with the daemon) is sent again, unchanged,
  once the daemon is back: it is either answered with the first result (Idempotent-Replayed, it
  had been made durable) or applied now; never twice;
- every ledger sums to its wallet's balances, no balance is negative, and `hangard check` agrees
  (its exit status 0), also over the running store;
- there is one payment event per purchase and per credit.

Usage: wallet_crash.py [--rounds N] [--conns N] [--players N] [--seed N]
(HANGARD=path/to/hangard; `make crash` runs the full version, tests/e2e/08-wallet-crash.py a short
one inside `make test`). Exit status 0 when every check held."""

import argparse
import concurrent.futures
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import harness  # noqa: E402

PRICE = {"gold": 3}


class Ledger:
    """What the clients were told, and what is still unknown."""

    def __init__(self):
        self.mu = threading.Lock()
        self.credits = {}    # receipt -> (player, amount), acknowledged
        self.purchases = {}  # purchase_id -> (player, idempotency key, quantity), acknowledged
        self.unknown = []    # requests whose answer was lost: (kind, args)
        self.refused = 0     # insufficient funds and the like (answered, nothing changed)
        self.read_back = set()  # purchases already read back with GET /v1/purchases/{id}


def post(d, path, body, headers, timeout=5, port=None):
    conn = http.client.HTTPConnection("127.0.0.1", port or d.port, timeout=timeout)
    try:
        data = json.dumps(body).encode()
        h = {"Content-Type": "application/json"}
        h.update(headers)
        conn.request("POST", path, data, h)
        r = conn.getresponse()
        return r.status, r.getheader("Idempotent-Replayed"), json.loads(r.read() or b"{}")
    finally:
        conn.close()


def signed(d, method, path, body, port):
    data = json.dumps(body).encode() if body is not None else b""
    url = harness.url_at(port) + path
    hdrs = harness.sign(method, url, data, {"Content-Type": "application/json"}, harness.ADMIN_KEY_ID,
                        harness.ADMIN_SECRET, service="hangar")
    return hdrs


def do_credit(d, led, player, receipt, amount, retry=False):
    body = {"currency": "gold", "amount": amount, "receipt_id": receipt}
    path = "/v1/players/%s/wallet/credits" % player
    try:
        port = d.port  # one node for the signature's Host and the connection
        st, replayed, out = post(d, path, body, signed(d, "POST", path, body, port), port=port)
    except (OSError, http.client.HTTPException):
        if not retry:
            with led.mu:
                led.unknown.append(("credit", (player, receipt, amount)))
        return False
    if st != 201:
        if st == 503 and not retry:  # shutting down under us: not applied, safe to resend
            with led.mu:
                led.unknown.append(("credit", (player, receipt, amount)))
            return False
        raise AssertionError("credit %s -> %d %r" % (receipt, st, out))
    with led.mu:
        if receipt in led.credits and replayed != "true":
            raise AssertionError("receipt %s acknowledged twice as new" % receipt)
        led.credits[receipt] = (player, amount)
    return True


def do_buy(d, led, player, token, key, qty, retry=False):
    body = {"sku": "pack", "quantity": qty, "idempotency_key": key}
    try:
        st, replayed, out = post(d, "/v1/purchases", body, {"Authorization": "Bearer " + token})
    except (OSError, http.client.HTTPException):
        if not retry:
            with led.mu:
                led.unknown.append(("buy", (player, token, key, qty)))
        return False
    if st == 201:
        with led.mu:
            pid = out["purchase_id"]
            if pid in led.purchases and replayed != "true":
                raise AssertionError("purchase %s acknowledged twice" % pid)
            for other, (p, k, _) in led.purchases.items():
                if k == key and p == player and other != pid:
                    raise AssertionError("key %s bought twice: %s and %s" % (key, other, pid))
            led.purchases[pid] = (player, key, qty)
        return True
    if st == 409 and out["error"]["code"] == "insufficient_funds":
        with led.mu:
            led.refused += 1
        return True
    if st == 503 and not retry:
        with led.mu:
            led.unknown.append(("buy", (player, token, key, qty)))
        return False
    raise AssertionError("purchase %s -> %d %r" % (key, st, out))


def worker(d, led, players, rnd, tag, stop):
    i = 0
    while not stop.is_set():
        i += 1
        p = rnd.choice(players)
        if rnd.random() < 0.35:
            ok = do_credit(d, led, p["player_id"], "r-%s-%d" % (tag, i), rnd.randint(1, 20))
        else:
            ok = do_buy(d, led, p["player_id"], p["token"], "k-%s-%d" % (tag, i), rnd.randint(1, 3))
        if not ok:
            return  # the daemon is gone


def resolve_unknown(d, led):
    """Send every request whose answer was lost again, unchanged: applied once in all."""
    with led.mu:
        todo, led.unknown = led.unknown, []
    for kind, args in todo:
        if kind == "credit":
            player, receipt, amount = args
            assert do_credit(d, led, player, receipt, amount, retry=True), receipt
        else:
            player, token, key, qty = args
            assert do_buy(d, led, player, token, key, qty, retry=True), key


def all_items(d, path):
    """Every item of a paged /v1 list (pages of 1,000, each page's `next` as the next `after`)."""
    items, after = [], None
    while True:
        q = path + ("&" if "?" in path else "?") + "limit=1000" + ("&after=" + after if after else "")
        r = harness.reg_call(d, "GET", q)
        assert r.status == 200, r
        items += r.json()["items"]
        after = r.json().get("next")
        if after is None:
            return items


def verify(d, led, players):
    by_player = {p["player_id"]: p for p in players}
    ledgers = {}
    for pid in by_player:
        items = all_items(d, "/v1/players/%s/ledger" % pid)
        ledgers[pid] = items
        w = harness.reg_call(d, "GET", "/v1/players/%s/wallet" % pid).json()
        total = {}
        for e in items:
            total[e["currency"]] = total.get(e["currency"], 0) + e["amount"]
            assert e["balance"] == total[e["currency"]], e
        assert total == w["balances"] or (not items and w["balances"] == {}), (pid, total, w)
        assert all(v >= 0 for v in w["balances"].values()), w
        assert [e["seq"] for e in items] == list(range(1, len(items) + 1)), pid
    refs = {}
    for pid, items in ledgers.items():
        for e in items:
            refs.setdefault((pid, e["kind"], e["ref"]), []).append(e)
    for receipt, (pid, amount) in led.credits.items():
        got = refs.get((pid, "credit", receipt), [])
        assert len(got) == 1 and got[0]["amount"] == amount, (receipt, got)
    for purchase, (pid, key, qty) in led.purchases.items():
        got = refs.get((pid, "purchase", purchase), [])
        assert len(got) == 1 and got[0]["amount"] == -PRICE["gold"] * qty, (purchase, got)
        if purchase not in led.read_back:  # each once: it cannot change
            r = harness.reg_call(d, "GET", "/v1/purchases/" + purchase)
            assert r.status == 200 and r.json()["quantity"] == qty, r
            led.read_back.add(purchase)
    # nothing the clients were not told about (every request was resolved)
    credits = sum(1 for k in refs if k[1] == "credit")
    purchases = sum(1 for k in refs if k[1] == "purchase")
    assert credits == len(led.credits), (credits, len(led.credits))
    assert purchases == len(led.purchases), (purchases, len(led.purchases))
    for typ, want in (("payment.credit", len(led.credits)), ("payment.purchase", len(led.purchases))):
        n = len(all_items(d, "/v1/events?type=%s" % typ))
        assert n == want, (typ, n, want)
    # and by player, through the events' player index (folded from the journal on the embedded
    # store): each player's payment events name exactly its ledger's credits and purchases
    for pid in ledgers:
        got = set()
        for e in all_items(d, "/v1/events?player_id=%s" % pid):
            a = e["attributes"] or {}
            ref = a.get("purchase_id") or a.get("receipt_id")
            assert ref not in got, (pid, e)
            got.add(ref)
        want = {k[2] for k in refs if k[0] == pid}
        assert got == want, (pid, len(got), len(want), sorted(got ^ want)[:5])


def check_cli(d):
    p = subprocess.run([harness.HANGARD, "check"] + harness.store_args(d), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.strip()


def run(d, rounds=20, conns=12, nplayers=6, seed=None, log=print):
    """d: a started Daemon with --auth-device 1. Returns a summary line."""
    rnd = random.Random(seed)
    r = harness.reg_call(d, "PUT", "/v1/catalog/items/pack", {"price": PRICE, "stackable": True})
    assert r.status in (200, 201), r
    players = []
    for i in range(nplayers):
        st, _, out = post(d, "/v1/auth/device", {"device_id": "crash-device-%03d" % i}, {})
        assert st in (200, 201), out
        players.append(out)
    led = Ledger()
    kills = 0
    t0 = time.monotonic()
    for rnd_i in range(rounds):
        stop = threading.Event()
        with concurrent.futures.ThreadPoolExecutor(conns) as ex:
            futs = [ex.submit(worker, d, led, players, random.Random(rnd.random()),
                              "%d-%d" % (rnd_i, c), stop) for c in range(conns)]
            time.sleep(rnd.uniform(0.05, 0.6))
            d.kill9()
            kills += 1
            stop.set()
            for f in futs:
                f.result()
        d.start(port=d.port)
        resolve_unknown(d, led)
        if rnd_i % 5 == 4 or rnd_i == rounds - 1:
            verify(d, led, players)
    line = check_cli(d)
    summary = ("%d kills in %.0fs: %d credits and %d purchases acknowledged, %d refused for "
               "funds; every one found once; ledgers balance; %s"
               % (kills, time.monotonic() - t0, len(led.credits), len(led.purchases), led.refused,
                  line))
    log(summary)
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--players", type=int, default=8)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    d = harness.Daemon(args=["--auth-device", "1"])
    d.start()
    try:
        run(d, a.rounds, a.conns, a.players, a.seed)
    finally:
        d.stop()


if __name__ == "__main__":
    main()
