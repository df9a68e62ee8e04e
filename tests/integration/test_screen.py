"""Terminal state as clients see it (issue 9, protocol version 3): the screen as text
(SCREEN, GET /api/sessions/ID/screen, `ptyhub screen`), waits for text or quiet (WAIT,
POST .../wait, `ptyhub wait --text/--idle`), attaching from a snapshot (ATTACH from_kind 3)
instead of a raw replay, and the v3 LIST fields. Real programs on real PTYs."""

import json
import os
import struct
import time

import wire
from harness import Daemon, check, check_eq, TIMEOUT

# ---- version 3 messages (docs/protocol.md); wire.py speaks version 2 ----

SCREEN, WAIT = 0x0C, 0x0D
SCREEN_REPLY, WAITED, SNAPSHOT = 0x86, 0x87, 0x94
ERR_UNAVAILABLE = 15
FROM_SNAPSHOT = 3
WELCOME_F_TERMINAL = 4
LIST_F_EXT = 2
WAIT_F_TEXT, WAIT_F_IDLE = 1, 2
REASONS = {1: "text", 2: "idle", 3: "timeout", 4: "exited"}


def screen(req, sid, ansi=False):
    return struct.pack("<BIIB", SCREEN, req, sid, 1 if ansi else 0)


def wait(req, sid, text=None, idle_ms=0, timeout_ms=0, after=0):
    flags = (WAIT_F_TEXT if text is not None else 0) | (WAIT_F_IDLE if idle_ms else 0)
    rx = text.encode() if isinstance(text, str) else (text or b"")
    return struct.pack("<BIIBQII", WAIT, req, sid, flags, after, idle_ms, timeout_ms) + rx


_decode2 = wire.decode


def decode3(body):
    """wire.decode plus the version 3 messages this file uses."""
    t = body[0]
    r = wire._Reader(body)
    if t == SCREEN_REPLY:
        req, sid, off, cols, rows, ccol, crow, flags, modes = r.take("<IIQHHHHBI")
        title = r.str16()
        m = wire.Msg(t, req=req, sid=sid, offset=off, cols=cols, rows=rows, cursor=(ccol, crow),
                     flags=flags, modes=modes, title=title, data=r.rest())
    elif t == WAITED:
        req, sid, reason, off = r.take("<IIBQ")
        m = wire.Msg(t, req=req, sid=sid, reason=REASONS.get(reason, reason), offset=off)
    elif t == SNAPSHOT:
        sid, off = r.take("<IQ")
        m = wire.Msg(t, sid=sid, offset=off, data=r.rest())
    elif t == wire.LIST_REPLY:
        req, flags, count = r.take("<IBH")
        entries = []
        for _ in range(count):
            e = wire._entry(r)
            if flags & LIST_F_EXT:
                e.cls, e.bells, e.last_output_ms = r.take("<BIQ")
                e.title, e.cwd = r.str16(), r.str16()
            entries.append(e)
        m = wire.Msg(t, req=req, flags=flags, entries=entries)
    else:
        return _decode2(body)
    if r.pos != len(body):
        raise wire.ProtocolError("%d trailing bytes in %s" % (len(body) - r.pos, m.name))
    return m


wire.decode = decode3
for _t, _n in ((SCREEN_REPLY, "screen_reply"), (WAITED, "waited"), (SNAPSHOT, "snapshot")):
    wire.TYPE_NAMES[_t] = _n


def conn3(d):
    return wire.Conn.unix(d.sock, timeout=TIMEOUT, version=3)


def get_screen(c, sid, ansi=False):
    m = c.call(lambda req: screen(req, sid, ansi), SCREEN_REPLY)
    check_eq(m.type, SCREEN_REPLY, "SCREEN reply (%r)" % m)
    return m


def screen_has(c, sid, text):
    return text.encode() in get_screen(c, sid).data


def wait_screen(d, c, sid, text):
    m = c.call(lambda req: wait(req, sid, text=text, timeout_ms=int(TIMEOUT * 1000)), WAITED,
               timeout=TIMEOUT + 5)
    check_eq((m.type, getattr(m, "reason", None)), (WAITED, "text"), "WAIT for %r: %r" % (text, m))
    return m


# A program that draws at fixed positions and then sleeps.
DRAW = r"printf '\033[2J\033[3;5HHELLO\033[5;1Hline five\033]2;my title\007\033[1;1H'; sleep 600"


def test_screen_text_of_a_real_program():
    with Daemon("--terminal-state", "on") as d:
        with conn3(d) as c:
            check(c.welcome.version == 3 and c.welcome.flags & WELCOME_F_TERMINAL,
                  "WELCOME v3 with the TERMINAL flag: %r" % c.welcome)
            sid = c.create(["sh", "-c", DRAW], cols=40, rows=10)
            wait_screen(d, c, sid, "line five")
            m = get_screen(c, sid)
            want = "\n\n    HELLO\n\nline five" + "\n" * 5
            check_eq(m.data.decode(), want, "screen text")
            check_eq((m.cols, m.rows, m.cursor), (40, 10, (0, 0)), "size and cursor")
            check_eq(m.title, b"my title", "title")
            a = get_screen(c, sid, ansi=True)
            check(a.data.startswith(b"\x1bc") and b"HELLO" in a.data, "ANSI snapshot: %r" % a.data)
