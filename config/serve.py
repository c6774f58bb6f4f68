"""Run the web server and the django-q2 worker together (``make run``); Ctrl-C stops both.

Either process ending stops the other, so a crashed worker never leaves a server that silently queues
work nobody runs.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args(argv)
    python = sys.executable
    processes = {
        "web": subprocess.Popen([python, "manage.py", "runserver", "--noreload", f"{args.host}:{args.port}"]),  # noqa: S603
        "worker": subprocess.Popen([python, "manage.py", "qcluster"]),  # noqa: S603
    }
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in processes.values()):
            time.sleep(0.2)
    finally:
        for proc in processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 15
        for name, proc in processes.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop in time; killing it", file=sys.stderr)
                proc.kill()
    failed = [name for name, p in processes.items() if p.returncode not in (0, -signal.SIGINT, 1) and not stopping]
    print("Stopped web server and task worker.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
