#!/usr/bin/python3
"""bench/lbprep.py - set-up for bench/run.sh's leaderboards part (part 6).

  lbprep.py fill DB BOARD N
      Writes N entries into the current period of leaderboard BOARD, straight into a stopped
      hangard's store DB (the board itself was created through the API, so its record is the
      daemon's own). Entry ids are 00000000-0000-8000-8000-%012d (0..N-1), scores uniform in
      0..999999 from a fixed seed, as ../shared/peers/redis.sh fills its 1,000,000-member zset.
      The entry record is board.c's: {"s": score, "ss": subscore, "r": reached}.

  lbprep.py login URL BOARD N DIR ENTRIES
      Logs N players in with POST /v1/auth/device (the daemon runs with --auth-device 1) and
      writes two wrk scripts into DIR; each wrk thread formats PREBUILT requests once (one of
      the N tokens at random each, a random score or entry) and cycles through them:
        submit.lua  POST /v1/leaderboards/BOARD/scores {"score": random}
        rank.lua    GET  /v1/leaderboards/BOARD/entries/<one of the ENTRIES filled ids at random>
"""
import json
import random
import sqlite3
import sys
import urllib.request

ID_FMT = "00000000-0000-8000-8000-%012d"
PREBUILT = 20000  # requests each wrk thread formats once and cycles through


def fill(db_path, board, n):
    db = sqlite3.connect(db_path)
    coll = "lb.e/%s/0" % board
    random.seed(42)
    rows = ((coll, ID_FMT % i, '{"s":%d,"ss":0,"r":%d}' % (random.randrange(1000000), i << 10))
            for i in range(n))
    db.executemany("INSERT OR REPLACE INTO records(coll, key, value) VALUES(?,?,?)", rows)
    db.commit()
    db.close()


def login(url, board, n, out, entries):
    tokens = []
    for i in range(n):
        body = json.dumps({"device_id": "bench-device-%06d" % i}).encode()
        req = urllib.request.Request(url + "/v1/auth/device", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            tokens.append(json.loads(r.read())["token"])
    toks = ",\n".join('"%s"' % t for t in tokens)
    head = "tokens = {\n%s\n}\nlocal n = #tokens\n" % toks
    # each wrk thread formats PREBUILT requests once (init) and cycles through them, as
    # redis-benchmark builds its command buffer once and only substitutes the random numbers:
    # the load generator's CPU goes to sending, not to Lua string building
    with open(out + "/submit.lua", "w") as f:
        f.write(head + """local reqs = {}
init = function(args)
  -- one seed per thread (each has its own Lua state, hence its own table address)
  math.randomseed(11 + tonumber(tostring(reqs):match("0x(%%x+)"), 16) %% 1000003)
  for i = 1, %d do
    reqs[i] = wrk.format("POST", "/v1/leaderboards/%s/scores",
      {["Authorization"] = "Bearer " .. tokens[math.random(n)], ["Content-Type"] = "application/json"},
      string.format('{"score": %%d}', math.random(0, 999999)))
  end
end
local i = 0
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
""" % (PREBUILT, board))
    with open(out + "/rank.lua", "w") as f:
        f.write(head + """local reqs = {}
init = function(args)
  math.randomseed(7 + tonumber(tostring(reqs):match("0x(%%x+)"), 16) %% 1000003)
  for i = 1, %d do
    local p = string.format("/v1/leaderboards/%s/entries/%s", math.random(0, %d))
    reqs[i] = wrk.format("GET", p, {["Authorization"] = "Bearer " .. tokens[math.random(n)]})
  end
end
local i = 0
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
""" % (PREBUILT, board, ID_FMT, entries - 1))


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "fill":
        fill(a[1], a[2], int(a[3]))
    elif len(a) == 6 and a[0] == "login":
        login(a[1], a[2], int(a[3]), a[4], int(a[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
