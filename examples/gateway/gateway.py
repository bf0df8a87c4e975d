#!/usr/bin/python3
"""A tiny gateway that follows hangard's registry and sends new games to game servers.

The flow:
  1. subscribe to the registry's event stream over WebSocket:
       GET /v1/registry/events?kind=game&snapshot=1   (first time: the current servers first)
  2. keep a table of game servers, with an open TCP connection to each:
       snapshot       -> the table becomes exactly these servers
       server.up      -> connect to address:port
       server.updated -> remember its new status/load
       server.down    -> close the connection, forget it (reason: left, lease_expired, ...)
  3. remember the last event's seq; when the stream drops (hangard restarted, network), connect
     again with ?after=<seq>: every event missed meanwhile arrives, none twice (or a snapshot
     when hangard can no longer replay that far back)
  4. a new game: POST /v1/registry/pick {kind: game, reserve: 1} (the least-loaded server with
     room, its load already raised by one) then send "start <game-id>" over its connection

    ./gateway.py --endpoint http://127.0.0.1:7770              # follow the registry, forever
    ./gateway.py --demo 20                                     # start 20 games, then exit
    ./gateway.py --once                                        # print the servers, then exit
    (key from --key-id/--secret or HANGAR_KEY_ID/HANGAR_SECRET: registry:Read, registry:Pick)
"""

import argparse
import collections
import json
import os
import socket
import sys
import threading

import websocket  # Debian: python3-websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hangar_client import Hangar  # noqa: E402

_out = threading.Lock()


def say(line):
    with _out:  # two threads print: keep lines whole
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Gateway:
    def __init__(self, hangar, kind="game"):
        self.hangar, self.kind = hangar, kind
        self.servers = {}  # id -> {"server": {...}, "conn": file or None}
        self.seq = None  # last event seen
        self.cond = threading.Condition()

    # ---- the table --------------------------------------------------------------------------

    def up(self, srv):
        entry = self.servers.setdefault(srv["id"], {"server": srv, "conn": None})
        entry["server"] = srv
        if entry["conn"] is None:
            try:
                sock = socket.create_connection((srv["address"], srv["port"]), timeout=5)
                entry["conn"] = sock.makefile("rwb")
                say("connected to %s %s:%d" % (srv["id"], srv["address"], srv["port"]))
            except OSError as e:
                say("cannot connect to %s: %s" % (srv["id"], e))

    def drop(self, sid, why):
        entry = self.servers.pop(sid, None)
        if entry:
            if entry["conn"]:
                entry["conn"].close()
            say("dropped %s (%s)" % (sid, why))

    def handle(self, ev):
        if ev["type"] == "snapshot":
            say("event %s snapshot (%s): %d servers" % (ev["seq"], ev["reason"],
                                                       len(ev["servers"])))
        else:
            say("event %s %s %s%s" % (ev["seq"], ev["type"], ev["server"]["id"],
                                      " (%s)" % ev["reason"] if ev.get("reason") else ""))
        with self.cond:
            if ev["type"] == "snapshot":
                ids = {s["id"] for s in ev["servers"]}
                for sid in list(self.servers):
                    if sid not in ids:
                        self.drop(sid, "not in the snapshot")
                for srv in ev["servers"]:
                    self.up(srv)
            elif ev["type"] in ("server.up", "server.updated"):
                self.up(ev["server"])
            elif ev["type"] == "server.down":
                self.drop(ev["server"]["id"], ev.get("reason"))
            self.seq = ev["seq"]
            self.cond.notify_all()

    # ---- the event stream -------------------------------------------------------------------

    def follow(self, stop, idle_exit=None):
        """Reads events until stop is set (or, with idle_exit, until idle that long)."""
        while not stop.is_set():
            query = "kind=%s&" % self.kind + ("after=%d" % self.seq if self.seq is not None
                                              else "snapshot=1")
            url, headers = self.hangar.ws_url_and_headers("/v1/registry/events?" + query)
            try:
                ws = websocket.create_connection(url, header=headers, timeout=idle_exit or 60)
            except (OSError, websocket.WebSocketException) as e:
                say("cannot subscribe (%s); retrying" % e)
                stop.wait(1)
                continue
            say("subscribed: %s" % query)
            try:
                while not stop.is_set():
                    msg = ws.recv()  # hangard pings every 20 s; 60 s of silence = dead
                    if not msg:
                        raise websocket.WebSocketConnectionClosedException("closed by hangard")
                    self.handle(json.loads(msg))
            except websocket.WebSocketTimeoutException:
                if idle_exit:
                    return
            except (OSError, websocket.WebSocketException, ValueError) as e:
                say("event stream dropped (%s); reconnecting after seq %s" % (e, self.seq))
                stop.wait(1)
            finally:
                ws.close()

    # ---- games ------------------------------------------------------------------------------

    def new_game(self, game_id):
        """Picks the least-loaded server and starts the game there -> (server id, reply)."""
        status, srv = self.hangar.call("POST", "/v1/registry/pick",
                                       {"kind": self.kind, "reserve": 1})
        if status != 200:
            return None, "no server: HTTP %d %s" % (status, srv.get("error", {}).get("code"))
        with self.cond:
            if srv["id"] not in self.servers:  # picked before its server.up reached us
                self.up(srv)
            conn = self.servers[srv["id"]]["conn"]
            if conn is None:
                return srv["id"], "not connected"
            try:
                conn.write(("start %s\n" % game_id).encode())
                conn.flush()
                return srv["id"], conn.readline().decode().strip()
            except OSError as e:
                return srv["id"], "lost: %s" % e


def main():
    ap = argparse.ArgumentParser(description="a tiny gateway following hangard's registry")
    ap.add_argument("--endpoint", default=None, help="hangard (default http://127.0.0.1:7770)")
    ap.add_argument("--key-id")
    ap.add_argument("--secret")
    ap.add_argument("--kind", default="game")
    ap.add_argument("--demo", type=int, default=0, metavar="N", help="start N games, then exit")
    ap.add_argument("--servers", type=int, default=1, help="--demo waits for this many servers")
    ap.add_argument("--once", action="store_true", help="read what is there, then exit")
    args = ap.parse_args()

    gw = Gateway(Hangar(args.endpoint, args.key_id, args.secret), args.kind)
    stop = threading.Event()
    if args.once and not args.demo:
        gw.follow(stop, idle_exit=1.0)
        for sid, e in sorted(gw.servers.items()):
            s = e["server"]
            say("server %s %s:%d load %d/%d %s" % (sid, s["address"], s["port"], s["load"],
                                                   s["capacity"], s["status"]))
        return
    reader = threading.Thread(target=gw.follow, args=(stop,), daemon=True)
    reader.start()
    if not args.demo:
        try:
            reader.join()
        except KeyboardInterrupt:
            pass
        return

    with gw.cond:
        if not gw.cond.wait_for(lambda: len(gw.servers) >= args.servers, timeout=30):
            sys.exit("only %d of %d game servers showed up" % (len(gw.servers), args.servers))
    where = collections.Counter()
    for i in range(1, args.demo + 1):
        sid, reply = gw.new_game("game-%d" % i)
        where[sid] += 1
        say("game game-%d -> %s: %s" % (i, sid, reply))
    say("demo: %d games: %s" % (args.demo, json.dumps(dict(where), sort_keys=True)))
    stop.set()


if __name__ == "__main__":
    main()
