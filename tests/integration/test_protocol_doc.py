"""test_protocol_doc: docs/protocol.md is the contract, so its worked examples are tested.

Every hex dump under "Worked examples" must be one well-formed frame that the Python codec
(tests/integration/wire.py, written from the spec, independent of the C codec) decodes
as the message its heading names, and that wire.py re-encodes to the same bytes where it
has an encoder. Then the client messages of the scenario are sent to a live daemon byte
for byte, as printed in the document, and the daemon must answer as the document shows:
WELCOME, CREATED for req 1, ATTACHED for req 2, OUTPUT "hello" at offset 0, EXIT code 3.
"""

import os
import re
import struct

import wire
from harness import Daemon, ROOT, check, check_eq

DOC = os.path.join(ROOT, "docs", "protocol.md")

NAMES = {
    "HELLO": wire.HELLO, "WELCOME": wire.WELCOME, "CREATE": wire.CREATE,
    "CREATED": wire.CREATED, "ATTACH": wire.ATTACH, "ATTACHED": wire.ATTACHED,
    "OUTPUT": wire.OUTPUT, "EXIT": wire.EXIT, "LIST_REPLY": wire.LIST_REPLY,
    "SIGNAL": wire.SIGNAL, "OK": wire.OK, "ERROR": wire.ERROR, "GAP": wire.GAP,
    "INPUT": wire.INPUT, "RESIZE": wire.RESIZE, "LIST": wire.LIST, "ACK": wire.ACK,
    "DETACH": wire.DETACH, "REMOVE": wire.REMOVE, "WRITE": wire.WRITE, "RESIZED": wire.RESIZED,
    "OPEN": wire.OPEN, "EVENTS": wire.EVENTS, "EVENT": wire.EVENT, "PASTE": wire.PASTE,
    "SCREEN": wire.SCREEN, "SCREEN_REPLY": wire.SCREEN_REPLY, "WAIT": wire.WAIT,
    "WAITED": wire.WAITED, "SNAPSHOT": wire.SNAPSHOT,
}


def first_dumps():
    """{message name: frame} of the first example of each name (the version 2 scenario's
    come before the version 3 ones)."""
    out = {}
    for h, d in examples():
        out.setdefault(h.split()[0], d)
    return out


def examples():
    """(heading, frame bytes) for each hex dump in the Worked examples section."""
    text = open(DOC, encoding="utf-8").read()
    start = text.index("## Worked examples")
    section = text[start:]
    nxt = re.search(r"\n## ", section[3:])
    if nxt:
        section = section[:nxt.start() + 3]
    out = []
    for m in re.finditer(r"### (.+?)\n(.*?)```\n(.*?)```", section, re.S):
        heading, dump = m.group(1), m.group(3)
        data = bytearray()
        for line in dump.splitlines():
            hexpart = line[6:55] if len(line) > 6 else ""
            data += bytes.fromhex(hexpart.replace(" ", ""))
        if data:
            out.append((heading, bytes(data)))
    return out


def test_doc_examples_decode_as_their_headings_say():
    found = examples()
    check(len(found) >= 8, "the worked examples (found %d dumps)" % len(found))
    for heading, data in found:
        (blen,) = struct.unpack_from("<I", data)
        check_eq(len(data), 4 + blen, "frame length of %r" % heading)
        name = heading.split()[0]
        check(name in NAMES, "a message name heads %r" % heading)
        check_eq(data[4], NAMES[name], "type byte of %r" % heading)
        if data[4] >= 0x80:  # wire.py decodes what a server sends
            check_eq(wire.decode(data[4:]).type, NAMES[name], "decoded type of %r" % heading)


def test_doc_client_messages_match_the_encoder():
    dumps = first_dumps()
    check_eq(dumps["HELLO"], wire.frame(wire.hello()), "HELLO")
    check_eq(dumps["CREATE"],
             wire.frame(wire.create(1, ["sh", "-c", "printf hello; exit 3"], name="demo",
                                    env=["TERM=xterm-256color"], cols=80, rows=24)),
             "CREATE")
    check_eq(dumps["ATTACH"], wire.frame(wire.attach(2, 1)), "ATTACH")
    # Version 3.
    check_eq(dumps["SCREEN"], wire.frame(wire.screen(4, 1)), "SCREEN")
    check_eq(dumps["WAIT"], wire.frame(wire.wait(5, 1, text=r"\$ $", after=5, timeout_ms=10000)),
             "WAIT")
    snap = [d for h, d in examples() if h.startswith("ATTACH") and "snapshot" in h]
    check_eq(snap, [wire.frame(wire.attach(6, 1, from_kind=wire.FROM_SNAPSHOT))],
             "ATTACH from a snapshot")
    reply = wire.decode(dumps["SCREEN_REPLY"][4:])
    check_eq((reply.offset, reply.cols, reply.rows, reply.cursor, reply.title, reply.data),
             (5, 20, 3, (5, 0), b"demo", b"hello\n\n"), "SCREEN_REPLY fields")
    lists = [wire.decode(d[4:]) for h, d in examples() if h.startswith("LIST_REPLY")]
    ext = [m for m in lists if m.flags & wire.LIST_F_EXT]
    check(len(ext) == 1 and ext[0].entries[0].title == b"notes"
          and ext[0].entries[0].cwd == b"file://h/tmp", "the version 3 LIST_REPLY: %r" % ext)


def test_daemon_answers_the_doc_scenario():
    dumps = first_dumps()
    with Daemon() as d:
        conn = wire.Conn.unix(d.sock, handshake=False)
        with conn:
            conn.send_raw(dumps["HELLO"])
            check_eq(conn.recv().type, wire.WELCOME, "reply to the doc's HELLO")
            conn.send_raw(dumps["CREATE"])
            created = conn.recv()
            check_eq((created.type, created.req), (wire.CREATED, 1), "reply to CREATE")
            sid = created.sid
            # The document's ATTACH names sid 1, the first session of a fresh daemon.
            check_eq(sid, 1, "the first session's id")
            # Wait for the program to finish so ATTACHED says "exited", as in the doc.
            probe = wire.Conn.unix(d.sock)
            with probe:
                probe.send(wire.attach(probe.req(), sid, mode=wire.MODE_READ_ONLY,
                                       from_kind=wire.FROM_LIVE))
                probe.recv_until(lambda m: m.type == wire.EXIT)
            conn.send_raw(dumps["ATTACH"])
            attached = conn.recv()
            check_eq((attached.type, attached.req, attached.start, attached.end,
                      attached.state), (wire.ATTACHED, 2, 0, 5, wire.STATE_EXITED),
                     "ATTACHED as in the doc")
            out = conn.recv()
            check_eq((out.type, out.offset, out.data), (wire.OUTPUT, 0, b"hello"),
                     "OUTPUT as in the doc")
            exit_msg = conn.recv()
            check_eq((exit_msg.type, exit_msg.end, exit_msg.code, exit_msg.signal),
                     (wire.EXIT, 5, 3, 0), "EXIT as in the doc")
            # The replies without run-time values (pids) match the doc field for field.
            doc_out, doc_exit = wire.decode(dumps["OUTPUT"][4:]), wire.decode(dumps["EXIT"][4:])
            check_eq((out.sid, out.offset, out.data), (doc_out.sid, doc_out.offset, doc_out.data),
                     "OUTPUT fields against the doc's dump")
            check_eq((exit_msg.end, exit_msg.code, exit_msg.signal),
                     (doc_exit.end, doc_exit.code, doc_exit.signal), "EXIT fields against the doc")


def test_doc_version3_examples():
    """The version 3 dumps match wire.py's encoders, and a daemon answers them as shown:
    HELLO 7 gets WELCOME 3 with the doc's flags, OPEN gets CREATED, ATTACHED from 0 and
    "hi", EVENTS gets OK and then the EXITED event as shown."""
    ex = examples()
    by = {}
    for h, d in ex:
        by.setdefault(h.split()[0], []).append((h, d))
    hello7 = next(d for h, d in by["HELLO"] if "version 7" in h)
    check_eq(hello7, wire.frame(wire.hello(version=7)), "HELLO version 7")
    open_ = by["OPEN"][0][1]
    check_eq(open_, wire.frame(wire.open_(1, ["sh", "-c", "printf hi"], cols=80, rows=24)),
             "OPEN")
    check_eq(by["EVENTS"][0][1], wire.frame(wire.events(2, 0x3e)), "EVENTS")
    paste = by["PASTE"][0][1]
    check_eq(paste, wire.frame(wire.paste(3, 1, b"ls\n", wire.PASTE_F_ENTER)), "PASTE")
    evs = [wire.decode(d[4:]) for h, d in by["EVENT"]]
    check_eq([(e.kind, e.sid) for e in evs], [(1, 1), (2, 1), (6, 0)], "EVENT dumps")
    check_eq((evs[0].pid, evs[0].command, evs[1].end, evs[2].count),
             (4243, b"sh -c printf hi", 2, 17), "EVENT fields")
    welcome3 = wire.decode(next(d for h, d in by["WELCOME"] if "version 3" in h)[4:])
    with Daemon("--terminal-state", "off") as d:  # as the doc's WELCOME says
        conn = wire.Conn.unix(d.sock, handshake=False)
        with conn:
            conn.send_raw(hello7)
            w = conn.recv()
            check_eq((w.version, w.flags), (welcome3.version, welcome3.flags),
                     "WELCOME to the doc's HELLO 7, as in the doc")
            conn.send_raw(by["EVENTS"][0][1])
            check_eq((conn.recv().type), wire.OK, "EVENTS answered OK")
            conn.send_raw(open_)
            got = []
            m = conn.recv_until(lambda m: m.type == wire.EXIT, keep=got)
            names = [x.name for x in got if x.name != "event"]
            check_eq(names[:3], ["created", "attached", "output"], "replies to the doc's OPEN")
            att = next(x for x in got if x.name == "attached")
            check_eq((att.req, att.start, att.end), (1, 0, 0), "ATTACHED of OPEN")
            out = b"".join(x.data for x in got if x.name == "output")
            check_eq((out, m.code), (b"hi", 0), "OPEN's output and exit")
            ev = next((x for x in got if x.name == "event" and x.kind == wire.EV_EXITED), None)
            if ev is None:
                ev = conn.recv_until(lambda m: m.type == wire.EVENT and m.kind == wire.EV_EXITED)
            check_eq((ev.sid, ev.code, ev.end), (1, 0, 2), "EXITED as in the doc")
