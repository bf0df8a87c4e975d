#!/usr/bin/python3
"""bench/walletprep.py - set-up for bench/run.sh's purchases part (part 7).

  walletprep.py URL N DIR
      Against a hangard started with --auth-device 1 and the administrator key in
      HANGAR_ADMIN_KEY_ID / HANGAR_ADMIN_SECRET: puts the item "gem" (price 1 gold, stackable)
      in the catalog, logs N players in (POST /v1/auth/device) and credits each 10^12 gold
      (a signed credit with its own receipt), then writes two wrk scripts into DIR:
        buy.lua     POST /v1/purchases {"sku": "gem", "quantity": 1, "idempotency_key": <unique>}
                    as one of the N players in turn (bearer token); every request a new key
        events.lua  POST /v1/events with a batch of 100 events (type, attributes) as one of the
                    N players in turn; the bodies are built once per thread (init)
        score.lua   POST /v1/leaderboards/bench/scores {"score": <varies>} as one of the N
                    players in turn (the board "bench", operator "set", is created here)
"""
import json
import os
import sys
import urllib.request

import botocore.auth
import botocore.awsrequest
import botocore.credentials


def signed(url, method, path, body):
    data = json.dumps(body).encode()
    req = botocore.awsrequest.AWSRequest(method=method, url=url + path, data=data,
                                         headers={"Content-Type": "application/json"})
    creds = botocore.credentials.Credentials(os.environ["HANGAR_ADMIN_KEY_ID"],
                                             os.environ["HANGAR_ADMIN_SECRET"])
    botocore.auth.SigV4Auth(creds, "hangar", "us-east-1").add_auth(req)
    r = urllib.request.Request(url + path, data=data, method=method, headers=dict(req.headers))
    with urllib.request.urlopen(r, timeout=10) as resp:
        return json.loads(resp.read())


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    url, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    signed(url, "PUT", "/v1/catalog/items/gem", {"price": {"gold": 1}, "stackable": True})
    signed(url, "POST", "/v1/leaderboards", {"id": "bench", "order": "desc", "operator": "set"})
    tokens = []
    for i in range(n):
        r = urllib.request.Request(url + "/v1/auth/device",
                                   data=json.dumps({"device_id": "bench-buyer-%06d" % i}).encode(),
                                   headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=10) as resp:
            a = json.loads(resp.read())
        tokens.append(a["token"])
        signed(url, "POST", "/v1/players/%s/wallet/credits" % a["player_id"],
               {"currency": "gold", "amount": 10 ** 12, "receipt_id": "bench-seed-%06d" % i})
    head = "tokens = {\n%s\n}\nlocal n = #tokens\n" % ",\n".join('"%s"' % t for t in tokens)
    with open(os.path.join(out, "buy.lua"), "w") as f:
        f.write(head + """-- a distinct prefix per thread (each has its own Lua state, hence its own table address)
local tid = tostring({}):match("0x(%x+)")
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/purchases",
    {["Authorization"] = "Bearer " .. tokens[i % n + 1], ["Content-Type"] = "application/json"},
    '{"sku":"gem","quantity":1,"idempotency_key":"' .. tid .. "-" .. i .. '"}')
end
""")
    with open(os.path.join(out, "events.lua"), "w") as f:
        f.write(head + """local reqs = {}
init = function(args)
  local ev = {}
  for k = 1, 100 do
    ev[k] = string.format('{"type":"level.end","attributes":{"level":%d,"score":%d,"ms":%d}}',
                          k, k * 37, k * 1000)
  end
  local body = '{"events":[' .. table.concat(ev, ",") .. ']}'
  for t = 1, n do
    reqs[t] = wrk.format("POST", "/v1/events",
      {["Authorization"] = "Bearer " .. tokens[t], ["Content-Type"] = "application/json"}, body)
  end
end
local i = 0
request = function()
  i = i % n + 1
  return reqs[i]
end
""")

    with open(os.path.join(out, "score.lua"), "w") as f:
        f.write(head + """local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/leaderboards/bench/scores",
    {["Authorization"] = "Bearer " .. tokens[i % n + 1], ["Content-Type"] = "application/json"},
    '{"score":' .. ((i * 7919) % 1000003) .. '}')
end
""")


if __name__ == "__main__":
    main()
