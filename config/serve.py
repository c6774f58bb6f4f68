"""Run the web server and the django-q2 worker together (``make run``); Ctrl-C stops both.

Either process ending stops the other, so a crashed worker never leaves a server that silently queues
work nobody runs; that case ends with exit status 1 and names the process that stopped.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

STOP_TIMEOUT = 15  # seconds the children get to finish after Ctrl-C before they are killed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args(argv)
    python = sys.executable
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    # Installed before the children start, on purpose: a child inherits an *ignored* signal through exec
    # (a shell ignores SIGINT for `make run &`, so does nohup) and would then never stop on the SIGINT sent
    # below, whereas a handler is reset to the default on exec, so the children always get a working Ctrl-C.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    ended_by_itself: str | None = None
    try:
        processes["web"] = subprocess.Popen(  # noqa: S603
            [python, "manage.py", "runserver", "--noreload", f"{args.host}:{args.port}"]
        )
        processes["worker"] = subprocess.Popen([python, "manage.py", "qcluster"])  # noqa: S603
        while not stopping:
            ended_by_itself = next((name for name, p in processes.items() if p.poll() is not None), None)
            if ended_by_itself:
                break
            time.sleep(0.2)
    finally:
        _stop_all(processes)
    if ended_by_itself and not stopping:
        code = processes[ended_by_itself].returncode
        print(
            f"The {ended_by_itself} process ended by itself (exit status {code}); stopped the other.", file=sys.stderr
        )
        return 1
    print("Stopped web server and task worker.")
    return 0


def _stop_all(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, proc in processes.items():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in time; killing it", file=sys.stderr)
            proc.kill()
            proc.wait()  # reap it, or it lingers as a zombie


if __name__ == "__main__":
    sys.exit(main())
