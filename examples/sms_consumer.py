"""A small consumer of the notice queue, for an operator's SMS platform to start from.

It speaks to ``realname`` through its JSON-lines commands only, so the same loop can be
written in any language. Replace ``send_to_gateway`` with the call to your SMPP gateway;
report its delivery receipts with ``realname notices receipt`` as they arrive.

    python examples/sms_consumer.py --consumer smsc-1 --database postgresql://...
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid


def realname(args: list[str], lines: list[dict[str, object]] | None = None) -> list[dict[str, object]]:
    stdin = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines or [])
    done = subprocess.run(["realname", *args], input=stdin, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1):
        raise SystemExit(f"realname {' '.join(args)} failed: {done.stderr.strip()}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def send_to_gateway(msisdn: str, text: str) -> str:
    """Hand one message to the gateway and return its message id (here: pretend to)."""
    return f"demo-{uuid.uuid4().hex[:16]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consumer", default="sms-consumer")
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--once", action="store_true", help="Claim one batch and stop.")
    parser.add_argument("--database", default=None)
    opts = parser.parse_args()
    common = ["--database", opts.database] if opts.database else []
    while True:
        claimed = realname(["notices", "claim", "--n", str(opts.batch), "--consumer", opts.consumer, *common])
        acks, nacks = [], []
        for notice in claimed:
            try:
                gateway_id = send_to_gateway(str(notice["msisdn"]), str(notice["text"]))
            except Exception as exc:  # the gateway refused it: give it back, it is retried later
                nacks.append({"id": notice["id"], "token": notice["token"], "error": str(exc), "permanent": False})
            else:
                acks.append({"id": notice["id"], "token": notice["token"], "gateway_message_id": gateway_id})
        for answer in realname(["notices", "ack", *common], acks) + realname(["notices", "nack", *common], nacks):
            if "error" in answer:
                print(json.dumps(answer, ensure_ascii=False), file=sys.stderr)  # names the notice, never the number
        print(f"{len(acks)} sent, {len(nacks)} given back", file=sys.stderr)
        if opts.once:
            return 0
        if not claimed:
            time.sleep(30)  # nothing due (or outside the send window)


if __name__ == "__main__":
    raise SystemExit(main())
