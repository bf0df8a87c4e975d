#!/usr/bin/python3
"""A tiny game server that announces itself to hangard's registry.

The flow:
  1. listen on a TCP port; each line gets an answer:
       start <game-id>   -> "started <game-id>"   (one more game running here)
       end <game-id>     -> "ended <game-id>"     (one game less)
       games             -> "games <N>"           (how many games run here)
       anything else     -> echoed back
  2. announce:  POST /v1/registry/servers {kind: game, address, port, capacity, lease_s,
                health_check: {type: tcp}}     (hangard connects to the port to check it)
  3. every lease_s/3 seconds renew the lease with PATCH /v1/registry/servers/{id}
     {load: <games running>}; if hangard forgot us (404: lease ran out), announce again
  4. on SIGTERM (or Ctrl-C) leave: DELETE /v1/registry/servers/{id}

    ./gameserver.py --endpoint http://127.0.0.1:7770 --port 7001 --capacity 10
    (key from --key-id/--secret or HANGAR_KEY_ID/HANGAR_SECRET; it needs registry:Announce)
"""

import argparse
import http.client
import os
import signal
import socketserver
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "gateway"))
from hangar_client import Hangar  # noqa: E402

games = set()
games_lock = threading.Lock()


class Player(socketserver.StreamRequestHandler):
    def handle(self):
        for raw in self.rfile:
            words = raw.decode("utf-8", "replace").split()
            with games_lock:
                if len(words) == 2 and words[0] == "start":
                    games.add(words[1])
                    reply = "started " + words[1]
                elif len(words) == 2 and words[0] == "end":
                    games.discard(words[1])
                    reply = "ended " + words[1]
                elif words == ["games"]:
                    reply = "games %d" % len(games)
                else:
                    reply = " ".join(words)
            self.wfile.write((reply + "\n").encode())


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="a tiny game server announcing itself to hangard")
    ap.add_argument("--endpoint", default=None, help="hangard (default http://127.0.0.1:7770)")
    ap.add_argument("--key-id")
    ap.add_argument("--secret")
    ap.add_argument("--address", default="127.0.0.1", help="the address players connect to")
    ap.add_argument("--port", type=int, default=0, help="TCP port (0: any free one)")
    ap.add_argument("--capacity", type=int, default=10, help="games this server can run")
    ap.add_argument("--name", default=None)
    ap.add_argument("--lease", type=float, default=15, help="lease_s (renewed every lease/3)")
    ap.add_argument("--check-interval", type=float, default=5, help="health check interval_s")
    ap.add_argument("--check-failures", type=int, default=3, help="health check failures")
    args = ap.parse_args()

    hangar = Hangar(args.endpoint, args.key_id, args.secret)
    server = Server((args.address, args.port), Player)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

    announcement = {
        "kind": "game", "address": args.address, "port": port,
        "name": args.name or "gameserver-%d" % port, "capacity": args.capacity, "load": 0,
        "lease_s": args.lease,
        "health_check": {"type": "tcp", "interval_s": args.check_interval,
                         "failures": args.check_failures},
    }

    def announce():
        with games_lock:
            announcement["load"] = len(games)
        status, srv = hangar.call("POST", "/v1/registry/servers", announcement)
        if status not in (200, 201):
            sys.exit("announce failed: HTTP %d %s" % (status, srv))
        return srv["id"]

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    server_id = announce()
    print("announced %s on %s:%d capacity %d" % (server_id, args.address, port, args.capacity),
          flush=True)
    while not stop.wait(args.lease / 3):
        with games_lock:
            load = len(games)
        try:
            status, srv = hangar.call("PATCH", "/v1/registry/servers/" + server_id, {"load": load})
            if status == 404:  # our lease ran out (hangard was down?): announce again
                server_id = announce()
                print("announced again as %s" % server_id, flush=True)
            elif status != 200:
                print("renew failed: HTTP %d %s" % (status, srv), flush=True)
        except (OSError, http.client.HTTPException) as e:
            print("renew failed: %s (hangard down? retrying)" % e, flush=True)

    try:
        status, _ = hangar.call("DELETE", "/v1/registry/servers/" + server_id)
        print("left (HTTP %d)" % status, flush=True)
    except OSError as e:
        print("could not leave: %s" % e, flush=True)
    server.shutdown()


if __name__ == "__main__":
    main()
