"""Terminal queries with no client attached: a program that asks the terminal where its
cursor is (ESC[6n), what it is (DA1) or its background colour (OSC 11) gets the answer
from the daemon's own screen instead of hanging (what CLI agents do when nobody
answers). With an interactive client attached, its terminal answers, as before."""

import wire
from harness import Daemon, check, check_eq, TIMEOUT

# Writes `ab`, asks one question, reads the reply up to its last byte (with a timeout),
# and prints it: the test reads that from the session's output.
ASK = r"""
import os, select, sys, tty
tty.setraw(0)
q, last = sys.argv[1].encode().decode("unicode_escape").encode("latin-1"), sys.argv[2].encode()
os.write(1, b"ab" + q)
got = b""
while not got.endswith(last):
    r, _, _ = select.select([0], [], [], 10)
    if not r:
        break
    got += os.read(0, 64)
os.write(1, b"\r\nREPLY=" + repr(got).encode() + b"\r\n")
"""


def _ask(d, query, last):
    sid = d.new("python3", "-c", ASK, query, last)
    check_eq(d.cli("wait", str(sid), timeout=TIMEOUT).returncode, 0, "the asking program")
    out = d.ok("output", str(sid))
    line = [l for l in out.split(b"\r\n") if l.startswith(b"REPLY=")]
    check(line, "the program printed its reply: %r" % out)
    return line[0][len("REPLY="):]


def test_queries_answered_with_no_client_attached():
    with Daemon("--terminal-state", "on") as d:
        check_eq(_ask(d, r"\x1b[6n", "R"), repr(b"\x1b[1;3R").encode(),
                 "CPR: row 1, column 3 after 'ab'")
        check_eq(_ask(d, r"\x1b[c", "c"), repr(b"\x1b[?62;22c").encode(), "DA1")
        check_eq(_ask(d, r"\x1b]11;?\x07", "\x07"),
                 repr(b"\x1b]11;rgb:0000/0000/0000\x07").encode(), "OSC 11 background")


def test_terminal_state_off_leaves_queries_unanswered():
    with Daemon("--terminal-state", "off") as d:
        check_eq(_ask(d, r"\x1b[6n", "R"), repr(b"").encode(),
                 "no answer without terminal state and without a client")
