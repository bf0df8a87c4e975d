"""01 access keys: /v1/keys and `hangard keys`, narrow policies, Deny over Allow, revocation,
admin-only key management, keys surviving a restart."""

import json
import os

import harness
from harness import expect_error, fresh, gs_get, group_get

LOBBY = ["gamelift:ClaimGameServer", "gamelift:Describe*"]
ALLOW_ALL = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def _setup_group(d, name, servers=1):
    c = d.client()
    harness.create_group(c, name)
    for i in range(servers):
        harness.register(c, name, "%s-gs-%d" % (name, i), inst=i + 1,
                         ConnectionInfo="10.0.0.%d:7777" % (i + 1))
    return c


def _native_error(r, status=None):
    """The code of a /v1 JSON error (hangar's {"error": {"code"}} or an AWS-style __type)."""
    if status is None:
        assert 400 <= r.status < 500, "want a 4xx, got %r" % r
    else:
        assert r.status == status, "want HTTP %d, got %r" % (status, r)
    j = r.json()
    code = j.get("__type") or (j.get("error") or {}).get("code")
    assert code, "error without a code: %r" % j
    return code


def _listed(d):
    r = d.admin("GET", "/v1/keys")
    assert r.status == 200, r
    return r.body.decode()


def _check_lobby_key(d, key, group):
    """A ClaimGameServer + Describe* key: claims and describes, nothing else."""
    c = d.key_client(key)
    gs = harness.gs_claim(c, group)
    assert gs["ClaimStatus"] == "CLAIMED", gs
    assert gs["GameServerId"].startswith(group + "-gs-"), gs
    assert gs_get(c, group, gs["GameServerId"])["ClaimStatus"] == "CLAIMED"
    assert group_get(c, group)["GameServerGroupName"] == group
    insts = c.describe_game_server_instances(GameServerGroupName=group)["GameServerInstances"]
    assert insts, "Describe* did not cover DescribeGameServerInstances"
    msg, status = expect_error("UnauthorizedException", harness.register, c, group,
                               group + "-intruder", inst=99)
    assert status == 400, "UnauthorizedException with HTTP %d" % status
    expect_error("UnauthorizedException", harness.create_group, c, group + "-x", wait=False)
    expect_error("UnauthorizedException", harness.gs_update, c, group, gs["GameServerId"],
                 UtilizationStatus="UTILIZED")
    # ListGameServers is not Describe*: the wildcard must not be a bare prefix match.
    expect_error("UnauthorizedException", c.list_game_servers, GameServerGroupName=group)
    # Nothing changed behind the refusals.
    admin = d.client()
    assert group + "-intruder" not in harness.gs_ids(admin, group)
    assert gs_get(admin, group, gs["GameServerId"])["UtilizationStatus"] == "AVAILABLE"


def test_narrow_key_via_api(d):
    _setup_group(d, "keys-api", servers=2)
    key = d.create_key("lobby", allow=LOBBY)
    assert key["name"] == "lobby", key
    assert key["key_id"] != d.key_id and len(key["secret"]) >= 20, key
    assert key.get("policy", {}).get("Statement"), "policy not echoed: %r" % key
    _check_lobby_key(d, key, "keys-api")


def test_list_keys_has_no_secrets(d):
    key = d.create_key("listed", allow=["gamelift:DescribeGameServer"])
    r = d.admin("GET", "/v1/keys")
    assert r.status == 200, r
    body = r.body.decode()
    assert key["key_id"] in body, "GET /v1/keys does not list the new key: %s" % body[:1000]
    assert key["secret"] not in body, "GET /v1/keys leaks a secret"
    assert harness.ADMIN_SECRET not in body, "GET /v1/keys leaks the admin secret"
    listed = r.json()
    items = listed if isinstance(listed, list) else listed.get("keys")
    assert isinstance(items, list), "GET /v1/keys: want a list or {\"keys\": [...]}: %r" % listed
    mine = [k for k in items if k.get("key_id") == key["key_id"]]
    assert len(mine) == 1 and mine[0].get("name") == "listed", mine
    assert "secret" not in mine[0], mine[0]


def test_deny_beats_allow(d):
    _setup_group(d, "keys-deny")
    key = d.create_key("deny", allow=["gamelift:*"], deny=["gamelift:ClaimGameServer"])
    c = d.key_client(key)
    expect_error("UnauthorizedException", harness.gs_claim, c, "keys-deny")
    # Everything else under gamelift:* still works for this key.
    gs = harness.register(c, "keys-deny", "keys-deny-own", inst=7)
    assert gs["UtilizationStatus"] == "AVAILABLE", gs
    assert gs_get(d.client(), "keys-deny", "keys-deny-gs-0").get("ClaimStatus") is None, \
        "a denied claim changed the server"


def test_star_allows_everything(d):
    key = d.create_key("star", allow=["*"])
    c = d.key_client(key)
    g = harness.create_group(c, "keys-star", wait=False)
    assert g["GameServerGroupName"] == "keys-star", g
    assert group_get(c, "keys-star")["GameServerGroupName"] == "keys-star"


def test_revoked_key_refused(d):
    _setup_group(d, "keys-rev")
    key = d.create_key("revoke-me", allow=["gamelift:Describe*"])
    c = d.key_client(key)
    assert group_get(c, "keys-rev")["GameServerGroupName"] == "keys-rev"
    r = d.admin("DELETE", "/v1/keys/" + key["key_id"])
    assert 200 <= r.status < 300, "DELETE /v1/keys/ID -> %r" % r
    msg, status = expect_error("UnrecognizedClientException", group_get, c, "keys-rev")
    assert status == 403, status
    # Revoking again, or revoking a key that never existed, is a 404 JSON error.
    _native_error(d.admin("DELETE", "/v1/keys/AKIANOSUCHKEY0000000"), 404)
    _native_error(d.admin("DELETE", "/v1/keys/" + key["key_id"]), 404)


def _refused_key_management(d, key):
    for method, path, body in (("POST", "/v1/keys", {"name": "escalated", "policy": ALLOW_ALL}),
                               ("GET", "/v1/keys", None),
                               ("DELETE", "/v1/keys/" + key["key_id"], None)):
        r = d.admin(method, path, body, key_id=key["key_id"], secret=key["secret"])
        assert r.status == 403, "%s %s with a non-admin key -> %r" % (method, path, r)
        _native_error(r, 403)
    assert "escalated" not in _listed(d), "a non-admin key created a key"
    # Authorization comes before body validation: a bad body is still just "forbidden".
    r = d.admin("POST", "/v1/keys", {"name": "x", "policy": {}}, key_id=key["key_id"],
                secret=key["secret"])
    _native_error(r, 403)
    # The key that was refused its DELETE still works.
    assert isinstance(d.key_client(key).list_game_server_groups()["GameServerGroups"], list)


def test_non_admin_cannot_manage_keys(d):
    key = d.create_key("not-admin", allow=["gamelift:*"])
    _refused_key_management(d, key)
    _native_error(d.admin("POST", "/v1/keys", {"name": "x", "policy": ALLOW_ALL}, signed=False),
                  403)
    _native_error(d.admin("GET", "/v1/keys", key_id=d.key_id, secret=d.secret + "x"), 403)


def test_star_key_is_not_admin(d):
    # Contract: only the administrator key manages keys; Action "*" is not an admin grant.
    key = d.create_key("star-not-admin", allow=["*"])
    _refused_key_management(d, key)


def test_bad_policy_rejected(d):
    maybe = {"Version": "2012-10-17",
             "Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}
    for policy in (maybe, "not an object"):
        _native_error(d.admin("POST", "/v1/keys", {"name": "bad-policy", "policy": policy}))
    assert "bad-policy" not in _listed(d), "a key with a bad policy was created"


def _cli_json(p, what):
    assert p.returncode == 0, "%s exited %d\nstdout: %s\nstderr: %s" % (
        what, p.returncode, p.stdout, p.stderr)
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise AssertionError("%s printed non-JSON: %r" % (what, p.stdout[:500]))


def test_keys_cli_with_env_admin(d):
    _setup_group(d, "keys-cli", servers=2)
    admin_env = {"HANGAR_ADMIN_KEY_ID": d.key_id, "HANGAR_ADMIN_SECRET": d.secret}
    argv = ["keys", "create", "--name", "cli-lobby"]
    for a in LOBBY:
        argv += ["--allow", a]
    p = harness.hangard_cli(*argv, "--endpoint", d.url, env=admin_env)
    key = _cli_json(p, "hangard keys create")
    assert key.get("key_id") and key.get("secret") and key.get("name") == "cli-lobby", key
    _check_lobby_key(d, key, "keys-cli")

    listed = harness.hangard_cli("keys", "list", "--endpoint", d.url, env=admin_env)
    _cli_json(listed, "hangard keys list")
    assert key["key_id"] in listed.stdout and key["secret"] not in listed.stdout, listed.stdout

    # --policy FILE: the file's Deny wins over its Allow.
    pol = os.path.join(harness.tmpdir(), "policy.json")
    with open(pol, "w") as f:
        json.dump({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["gamelift:Describe*"], "Resource": "*"},
            {"Effect": "Deny", "Action": ["gamelift:DescribeGameServerGroup"], "Resource": "*"}]},
            f)
    p = harness.hangard_cli("keys", "create", "--name", "cli-pol", "--policy", pol,
                            "--endpoint", d.url, env=admin_env)
    pc = d.key_client(_cli_json(p, "hangard keys create --policy"))
    assert gs_get(pc, "keys-cli", "keys-cli-gs-1")["GameServerId"] == "keys-cli-gs-1"
    expect_error("UnauthorizedException", group_get, pc, "keys-cli")

    p = harness.hangard_cli("keys", "revoke", key["key_id"], "--endpoint", d.url, env=admin_env)
    assert p.returncode == 0, "keys revoke exited %d: %s %s" % (p.returncode, p.stdout, p.stderr)
    expect_error("UnrecognizedClientException", group_get, d.key_client(key), "keys-cli")

    # Without admin credentials the CLI refuses (non-zero exit), and creates nothing.
    p = harness.hangard_cli("keys", "create", "--name", "nocreds", "--allow", "*",
                            "--endpoint", d.url)
    assert p.returncode != 0, "keys create without admin credentials succeeded: %s" % p.stdout
    assert "nocreds" not in _listed(d)


@fresh(admin=False)
def test_keys_cli_with_data_dir(d):
    d.load_credentials()
    _setup_group(d, "keys-dd")
    p = harness.hangard_cli("keys", "create", "--name", "dd", "--allow",
                            "gamelift:DescribeGameServerGroup", "--data", d.data,
                            "--endpoint", d.url)
    kc = d.key_client(_cli_json(p, "hangard keys create --data"))
    assert group_get(kc, "keys-dd")["GameServerGroupName"] == "keys-dd"
    expect_error("UnauthorizedException", gs_get, kc, "keys-dd", "keys-dd-gs-0")


@fresh()
def test_keys_survive_restart(d):
    _setup_group(d, "keys-rs")
    keep = d.create_key("keep", allow=["gamelift:Describe*"])
    gone = d.create_key("gone", allow=["gamelift:Describe*"])
    assert 200 <= d.admin("DELETE", "/v1/keys/" + gone["key_id"]).status < 300
    d.restart()
    kc = d.key_client(keep)
    assert group_get(kc, "keys-rs")["GameServerGroupName"] == "keys-rs"
    expect_error("UnauthorizedException", harness.gs_claim, kc, "keys-rs")
    expect_error("UnrecognizedClientException", group_get, d.key_client(gone), "keys-rs")


if __name__ == "__main__":
    harness.run()
