"""01 daemon: the README's examples, run as written against a fresh daemon whose administrator
key was created on first start (the newcomer's path). Only the endpoint, the data directory and
the path of the binary are substituted; the code blocks come from README.md itself, so an
example that stops working fails here."""

import json
import os
import re
import subprocess

import harness
from harness import fresh

README = os.path.join(harness.REPO, "README.md")


def _block(name):
    text = open(README, encoding="utf-8").read()
    m = re.search(r"<!-- readme-example: %s .*?-->\s*```(\w+)\n(.*?)```" % re.escape(name), text,
                  re.S)
    assert m, "README.md has no example named %s" % name
    return m.group(1), m.group(2)


def _localise(d, code):
    return (code.replace("http://127.0.0.1:7770", d.url)
                .replace("./hangar-data", d.data)
                .replace("./build/hangard", harness.HANGARD))


@fresh(admin=False)
def test_boto3_example(d):
    d.load_credentials()
    lang, code = _block("fleetiq-boto3")
    assert lang == "python"
    p = subprocess.run(["/usr/bin/python3", "-c",
                        "KEY_ID=%r\nSECRET=%r\n" % (d.key_id, d.secret) + _localise(d, code)],
                       env=harness.clean_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "README boto3 example failed:\n%s" % p.stderr
    assert p.stdout.strip() == "127.0.0.1:5000", p.stdout
    c = d.client()
    assert c.list_game_servers(GameServerGroupName="my-group")["GameServers"] == []


@fresh(admin=False)
def test_anywhere_and_placement_examples(d):
    """The setup example runs as written and prints the game server's environment; a process
    using exactly that environment (glsdk standing in for examples/echo-server, which
    06-sessions-c-sdk.py runs) goes ready; then the placement example places a session on it."""
    import glsdk
    d.load_credentials()
    _, setup = _block("anywhere-setup")
    _, place = _block("placement")
    prelude = "KEY_ID=%r\nSECRET=%r\n" % (d.key_id, d.secret)
    p = subprocess.run(["/usr/bin/python3", "-c", prelude + _localise(d, setup)],
                       env=harness.clean_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "README setup example failed:\n%s" % p.stderr
    env = dict(kv.split("=", 1) for kv in p.stdout.split())
    sdk = glsdk.ServerSdk(env["GAMELIFT_SDK_WEBSOCKET_URL"], env["GAMELIFT_SDK_FLEET_ID"],
                          env["GAMELIFT_SDK_HOST_ID"], process_id="p1",
                          auth_token=env["GAMELIFT_SDK_AUTH_TOKEN"])
    sdk.on("CreateGameSession", lambda gs: __import__("threading").Thread(
        target=sdk.activate_game_session, args=(gs["GameSessionId"],), daemon=True).start())
    sdk.connect()
    sdk.process_ready(7777, [])
    # the placement example continues the setup example's session (client, fleet)
    fleet = d.client().list_fleets()["FleetIds"][0]
    cont = ("fleet = client.describe_fleet_attributes(FleetIds=[%r])['FleetAttributes'][0]\n"
            % fleet)
    head = setup.split("client.create_location")[0]
    p = subprocess.run(["/usr/bin/python3", "-c",
                        prelude + _localise(d, head) + cont + _localise(d, place)],
                       env=harness.clean_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, "README placement example failed:\n%s" % p.stderr
    status, ip, port, psid = p.stdout.split()
    assert (status, ip, port) == ("FULFILLED", "127.0.0.1", "7777"), p.stdout
    assert psid.startswith("psess-"), p.stdout
    sdk.process_ending()
    sdk.close(1000)


def _sh(d, code, extra_env=None):
    env = harness.clean_env(extra_env)
    env["AWS_PAGER"] = ""
    p = subprocess.run(["/bin/bash", "-euo", "pipefail", "-c", _localise(d, code)],
                       env=env, capture_output=True, text=True, timeout=90, cwd=d.tmp)
    assert p.returncode == 0, "README shell example failed:\n%s\n%s" % (p.stdout, p.stderr)
    return p.stdout


@fresh(admin=False)
def test_cli_example(d):
    d.load_credentials()
    d.client().create_game_server_group(
        GameServerGroupName="readme-cli", RoleArn=harness.ROLE_ARN, MinSize=0, MaxSize=1,
        LaunchTemplate={"LaunchTemplateName": "readme-lt"},
        InstanceDefinitions=[{"InstanceType": "c5.large"}, {"InstanceType": "c5.xlarge"}])
    lang, code = _block("fleetiq-cli")
    assert lang == "sh"
    # the credentials file the daemon wrote is what the example uses
    out = _sh(d, code.replace("aws gamelift", harness.AWS_CLI + " gamelift"))
    assert "readme-cli" in out, out


@fresh(admin=False)
def test_keys_example(d):
    lang, code = _block("keys")
    assert lang == "sh"
    out = _sh(d, code.replace("keys create", "keys create --endpoint " + d.url + " --data " + d.data)
                     .replace("keys list", "keys list --endpoint " + d.url + " --data " + d.data))
    assert '"name": "lobby"' in out, out
    assert "gamelift:ClaimGameServer" in out, out


@fresh(admin=False, env={"HANGAR_AUTH_DEVICE": "1"})
def test_leaderboard_example(d):
    lang, code = _block("leaderboard")
    assert lang == "sh"
    out = _sh(d, code).splitlines()
    assert len(out) == 4, out
    submitted, top, around, friends = (json.loads(line) for line in out)
    assert submitted["rank"] == 1 and submitted["score"] == 4200, submitted
    assert [e["display_name"] for e in top["items"]] == ["Ann"], top
    assert around["entry"]["rank"] == 1, around
    assert friends["items"][0]["friend_rank"] == 1, friends


@fresh(admin=False, args=["--auth-device", "1"])
def test_wallet_example(d):
    """The wallet example runs after the leaderboard example's set-up lines (the ones that define
    H, KEY, SECRET and TOKEN), as the README says."""
    _, lb = _block("leaderboard")
    setup = "\n".join(line for line in lb.splitlines()
                      if line.startswith(("H=", "KEY=", "SECRET=", "TOKEN=", "        python3")))
    lang, code = _block("wallet")
    assert lang == "sh"
    out = _sh(d, setup + "\n" + code).splitlines()
    assert len(out) == 5, out
    first, again = json.loads(out[0]), json.loads(out[1])
    assert first == again and first["charged"] == {"gold": 120}, (first, again)
    assert first["balances"] == {"gold": 380}, first
    assert out[2:] == ["level.end,1", "payment.credit,1", "payment.purchase,1"], out


if __name__ == "__main__":
    harness.run()
