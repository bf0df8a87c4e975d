"""08 the wallet crash test, short: purchases and credits from 8 connections, the daemon killed
with SIGKILL at 20 random moments; every acknowledged purchase and credit is there once, lost
answers resent are applied once, every ledger balances and `hangard check` agrees. The full run
(100 kills, 16 connections) is `make crash` (tests/crash/wallet_crash.py)."""

import os
import sys

import harness
from harness import fresh

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crash"))
import wallet_crash  # noqa: E402


@fresh(args=["--auth-device", "1"])
def test_kill9_twenty_times_during_purchases_and_credits(d):
    wallet_crash.run(d, rounds=20, conns=8, nplayers=4, log=lambda s: print("   ", s))


if __name__ == "__main__":
    harness.run()
