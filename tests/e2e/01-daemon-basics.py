"""01 daemon: health and metrics endpoints, --help, generated credentials, options from the
environment and from a config file, clean SIGTERM shutdown."""

import os
import re
import stat
import time

import harness
from harness import expect_error, fresh, no_daemon

METRIC_LINE = re.compile(
    r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+]?([0-9.eE+-]+|NaN|Inf)( -?\d+)?$")


def test_healthz(d):
    r = d.http("GET", "/healthz")
    assert r.status == 200, r
    r = d.http("GET", "/no-such-path")
    assert r.status == 404, "unknown path -> %r" % r


def _op_lines(text, op):
    return [ln for ln in text.splitlines() if not ln.startswith("#") and op in ln]


def _line_value(line):
    # `name{labels} value [timestamp]`
    rest = line[line.index("}") + 1:] if "}" in line else line.split(" ", 1)[1]
    return float(rest.split()[0])


def test_metrics(d):
    c = d.client()
    c.list_game_server_groups()
    c.list_game_server_groups()
    expect_error("NotFoundException", harness.group_get, c, "metrics-nope")
    r = d.http("GET", "/metrics")
    assert r.status == 200, r
    ctype = r.headers.get("content-type", "")
    assert ctype.startswith("text/plain"), "metrics content-type %r" % ctype
    text = r.body.decode()
    bad = [ln for ln in text.splitlines()
           if ln and not ln.startswith("#") and not METRIC_LINE.match(ln)]
    assert not bad, "lines that are not Prometheus text format: %r" % bad[:5]
    lines = _op_lines(text, "ListGameServerGroups")
    assert lines, "no metric line mentions ListGameServerGroups:\n%s" % text[:2000]
    assert _op_lines(text, "DescribeGameServerGroup"), "no line mentions DescribeGameServerGroup"
    before = sum(_line_value(ln) for ln in lines)
    c.list_game_server_groups()
    text = d.http("GET", "/metrics").body.decode()
    after = sum(_line_value(ln) for ln in _op_lines(text, "ListGameServerGroups"))
    assert after > before, "ListGameServerGroups metrics did not grow after a call (%s -> %s)" % (
        before, after)


@no_daemon
def test_help(d):
    p = harness.hangard_cli("--help")
    text = p.stdout + p.stderr
    assert p.returncode == 0, "hangard --help exited %d: %s" % (p.returncode, text)
    for opt in ("--listen", "--data", "--config", "--log-level", "--fleetiq-health-window-s",
                "--fleetiq-deregister-after-s"):
        assert opt in text, "--help does not mention %s:\n%s" % (opt, text)


@no_daemon
def test_unknown_option_fails(d):
    p = harness.hangard_cli("--no-such-option", timeout=10)
    assert p.returncode != 0, "hangard --no-such-option exited 0"
    assert "no-such-option" in p.stdout + p.stderr, "error does not name the bad option: %r" % (
        p.stdout + p.stderr)


@fresh(admin=False)
def test_generated_credentials(d):
    key_id, secret = d.load_credentials()
    path = os.path.join(d.data, "credentials")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode & 0o077 == 0, "credentials file is readable by others: %o" % mode
    assert key_id in d.output(), "the generated key id was not printed on first start"
    out = d.client().list_game_server_groups()
    assert out["GameServerGroups"] == [], out
    expect_error("InvalidSignatureException",
                 d.client(key_id, secret + "x").list_game_server_groups)
    # A restart on the same data dir keeps the key rather than minting a new one.
    d.restart()
    assert d.load_credentials() == (key_id, secret), "credentials changed across a restart"
    assert d.client().list_game_server_groups()["GameServerGroups"] == []


@fresh(listen="env", data="env", admin=False)
def test_listen_and_data_from_env(d):
    # The harness reached /healthz on the port given only as HANGAR_LISTEN.
    assert d.http("GET", "/healthz").status == 200
    d.load_credentials()  # written to the dir given only as HANGAR_DATA
    c = d.client()
    harness.create_group(c, "env-grp")
    groups = c.list_game_server_groups()["GameServerGroups"]
    assert [g["GameServerGroupName"] for g in groups] == ["env-grp"], groups


@fresh(listen="config", data="config",
       config="fleetiq-health-window-s = 2\nfleetiq-deregister-after-s = 2")
@harness.embedded_only  # reads or breaks hangar.db itself
def test_config_file(d):
    assert d.http("GET", "/healthz").status == 200
    c = d.client()
    harness.create_group(c, "conf-grp")
    assert os.listdir(d.data), "nothing written to the data dir named in the config file"
    harness.register(c, "conf-grp", "conf-gs-1")
    # fleetiq-health-window-s = 2 and fleetiq-deregister-after-s = 2 from the file: the silent
    # server is deregistered within seconds (the default window is minutes).
    harness.wait_until(lambda: harness.gs_ids(c, "conf-grp") == [], timeout=10,
                       what="the silent server to be deregistered")


@fresh()
def test_sigterm_exits_zero_promptly(d):
    c = d.client()
    harness.create_group(c, "term-grp")  # leaves an idle keep-alive connection open
    t0 = time.monotonic()
    rc = d.stop(timeout=10)
    took = time.monotonic() - t0
    assert rc == 0, "exit status %s after SIGTERM" % rc
    assert took < 3.0, "SIGTERM took %.1fs" % took


if __name__ == "__main__":
    harness.run()
