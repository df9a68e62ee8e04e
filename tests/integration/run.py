#!/usr/bin/env python3
"""run: the integration-test runner.

Finds the functions named test_* in tests/integration/test_*.py and runs each in its own
process (its own session, so a hung test and the daemon it started are killed together)
with a timeout. A test passes by returning, fails by raising, and skips by raising
harness.Skip. Prints one line per test, the output of those that failed, and finally
`N passed, N failed, N skipped`; exits non-zero when anything failed.

Usage: run.py [-k SUBSTRING]... [-j JOBS] [-v]
  -k  run only the tests whose name (file::function) contains a SUBSTRING
  -j  tests run at once (default 1; each starts its own daemon)
  -v  print the output of passing tests too
Environment: PTYHUB_BIN (binary under test), PTYHUB_TIMEOUT_SCALE (multiplies timeouts),
PTYHUB_SERVE_ARGS (flags added to every daemon, e.g. "--io epoll").
"""

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import harness  # noqa: E402

SKIP_STATUS = 77
DEFAULT_TIMEOUT = 180


def discover():
    """[(name, timeout)] of every test, in file order then definition order."""
    tests = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        mod = importlib.import_module(fname[:-3])
        funcs = [(getattr(f, "__code__").co_firstlineno, n, f) for n, f in vars(mod).items()
                 if n.startswith("test_") and callable(f) and f.__module__ == mod.__name__]
        for _, n, f in sorted(funcs):
            tests.append(("%s::%s" % (fname[:-3], n), getattr(f, "timeout", DEFAULT_TIMEOUT)))
    return tests


def run_one(name):
    """Runs one test in this process; returns the exit status for the parent."""
    modname, func = name.split("::")
    try:
        getattr(importlib.import_module(modname), func)()
    except harness.Skip as e:
        sys.stdout.write("SKIP: %s\n" % e)
        return SKIP_STATUS
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


class Job:
    def __init__(self, name, timeout):
        self.name = name
        self.timeout = timeout * float(os.environ.get("PTYHUB_TIMEOUT_SCALE", "1"))
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--one", name],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=harness.ROOT)
        self.chunks = []
        os.set_blocking(self.proc.stdout.fileno(), False)

    def pump(self):
        try:
            data = self.proc.stdout.read()
        except BlockingIOError:
            return
        if data:
            self.chunks.append(data)

    def kill(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def output(self):
        self.pump()
        return b"".join(self.chunks).decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", default=[])
    ap.add_argument("-j", type=int, default=1)
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--one")
    args = ap.parse_args()
    if args.one:
        sys.exit(run_one(args.one))

    tests = [t for t in discover() if not args.k or any(k in t[0] for k in args.k)]
    print("integration: %d tests against %s" % (len(tests), harness.ptyhub_bin()), flush=True)
    passed = failed = skipped = 0
    pending = list(tests)
    running = []
    while pending or running:
        while pending and len(running) < max(args.j, 1):
            running.append(Job(*pending.pop(0)))
        time.sleep(0.05)
        for job in list(running):
            job.pump()
            elapsed = time.monotonic() - job.start
            status = job.proc.poll()
            if status is None and elapsed > job.timeout:
                job.kill()
                job.proc.wait()
                status = "timeout"
            if status is None:
                continue
            # Whatever the test left in its process group (a daemon it started) goes too.
            job.kill()
            running.remove(job)
            out = job.output()
            if status == 0:
                passed += 1
                print("ok   %s (%.1fs)" % (job.name, elapsed), flush=True)
                if args.v and out.strip():
                    print(_indent(out))
            elif status == SKIP_STATUS:
                skipped += 1
                reason = out.strip().splitlines()[-1] if out.strip() else "SKIP"
                print("skip %s: %s" % (job.name, reason.replace("SKIP: ", "", 1)), flush=True)
            else:
                failed += 1
                why = ("timed out after %.0fs" % job.timeout if status == "timeout"
                       else "exit status %s" % status)
                print("FAIL %s (%s, %.1fs)" % (job.name, why, elapsed), flush=True)
                print(_indent(out), flush=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    sys.exit(1 if failed else 0)


def _indent(text):
    return "\n".join("    " + line for line in text.rstrip().splitlines())


if __name__ == "__main__":
    main()
