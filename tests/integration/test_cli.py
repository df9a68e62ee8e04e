"""test_cli: the client commands as a user runs them: new, output, wait, kill, send, ls,
names in place of ids, and the one-line errors and exit statuses of misuse."""

import json
import os
import subprocess

from harness import Daemon, check, check_eq, wait_for, TIMEOUT


def _one_line_error(p, what):
    err = p.stderr.decode(errors="replace")
    check(err.endswith("\n") and err.count("\n") == 1 and err.startswith("ptyhub: "),
          "%s: stderr should be one line starting 'ptyhub: ', got %r" % (what, err))
    return err


def _output_when(d, sid, pred, what):
    """Polls `ptyhub output ID` until pred(bytes) holds; returns the bytes."""
    return wait_for(lambda: (lambda out: out if pred(out) else None)(d.ok("output", str(sid))),
                    what)


def test_output_and_exit_code():
    with Daemon() as d:
        sid = d.new("sh", "-c", "printf hello; exit 3")
        check_eq(d.cli("wait", str(sid)).returncode, 3, "`wait` exit status")
        check_eq(d.ok("output", str(sid)), b"hello", "`output` after exit")
        # Again, from an offset, and --follow on an exited session ends at once.
        check_eq(d.ok("output", str(sid), "--from", "2"), b"llo", "`output --from 2`")
        check_eq(d.ok("output", "--follow", str(sid)), b"hello", "`output --follow` after exit")
        # wait on an already exited session answers at once, with the same status.
        check_eq(d.cli("wait", str(sid)).returncode, 3, "second `wait`")


def test_kill_with_signal_and_default_kill():
    with Daemon() as d:
        sid = d.new("sleep", "100")
        waiter = subprocess.Popen([d.bin, "wait", "--socket", d.sock, str(sid)],
                                  stderr=subprocess.PIPE)
        d.ok("kill", str(sid), "--signal", "TERM")
        check_eq(waiter.wait(TIMEOUT), 143, "`wait` status after kill --signal TERM")
        entry = [e for e in d.ls_json() if e["id"] == sid][0]
        check_eq((entry["state"], entry["exit_signal"], entry["exit_code"]),
                 ("exited", 15, None), "ls --json after SIGTERM")
        # Plain `kill`: SIGHUP to the process group.
        sid2 = d.new("sleep", "100")
        d.ok("kill", str(sid2))
        check_eq(d.cli("wait", str(sid2)).returncode, 129, "`wait` status after plain kill")
        # A signal by number, and the SIG prefix.
        sid3 = d.new("sleep", "100")
        d.ok("kill", "--signal", "SIGKILL", str(sid3))
        check_eq(d.cli("wait", str(sid3)).returncode, 137, "`wait` after kill --signal SIGKILL")
        # kill of an exited session is an error from the daemon, on one line.
        p = d.cli("kill", str(sid3))
        check_eq(p.returncode, 1, "kill of an exited session")
        _one_line_error(p, "kill of an exited session")


def test_names_work_wherever_ids_do():
    with Daemon() as d:
        sid = d.new("sh", "-c", "printf 'web up'; sleep 100", name="web")
        _output_when(d, "web", lambda out: out == b"web up", "`output web` to print 'web up'")
        table = d.ok("ls").decode()
        lines = table.splitlines()
        check(lines[0].split() == ["ID", "NAME", "PID", "STATE", "EXIT", "CLIENTS", "BYTES",
                                   "LEVEL", "CLASS", "TITLE", "COMMAND"],
              "ls header: %r" % lines[0])
        row = [ln for ln in lines[1:] if ln.split()[:2] == [str(sid), "web"]]
        check(len(row) == 1, "ls shows session %d named web:\n%s" % (sid, table))
        check("running" in row[0].split() and "sh -c printf 'web up'; sleep 100" in row[0],
              "ls row: %r" % row[0])

        sessions = d.ls_json()
        check(isinstance(sessions, list) and len(sessions) == 1, "ls --json: %r" % sessions)
        e = sessions[0]
        for key in ("id", "name", "pid", "state", "exit_code", "exit_signal", "clients",
                    "bytes_out", "level", "cols", "rows", "created_ms", "command", "class",
                    "title", "cwd", "bells", "last_output_ms"):
            check(key in e, "ls --json entry lacks %r: %r" % (key, e))
        check_eq((e["id"], e["name"], e["state"], e["bytes_out"], e["command"]),
                 (sid, "web", "running", 6, "sh -c printf 'web up'; sleep 100"),
                 "ls --json entry")
        check(e["pid"] > 0 and e["level"] in ("none", "light", "moderate", "heavy", "blocked"),
              "pid and level: %r" % e)

        waiter = subprocess.Popen([d.bin, "wait", "--socket", d.sock, "web"])
        d.ok("kill", "web", "--signal", "TERM")
        check_eq(waiter.wait(TIMEOUT), 143, "`wait web` status")
        check_eq(d.ok("output", "web"), b"web up", "`output web` after exit")
        d.ok("rm", "web")
        check_eq(d.ls_json(), [], "ls --json after rm")


def test_ls_json_escapes_any_bytes():
    with Daemon() as d:
        # Names are restricted by the daemon; commands may hold any byte.
        args = ['q"uo\\te\tx', "caf\u00e9", os.fsdecode(b"\xff\x01")]
        sid = d.new("sh", "-c", "exit 0", *args, name="esc.a_pe-1")
        d.cli("wait", str(sid))
        raw = d.ok("ls", "--json")
        sessions = json.loads(raw)
        check_eq(sessions[0]["name"], "esc.a_pe-1", "name")
        check_eq(sessions[0]["command"], 'sh -c exit 0 q"uo\\te\tx caf\u00e9 \ufffd\x01',
                 "command with quotes, backslash, tab, UTF-8 and a stray byte")
        check_eq(sessions[0]["exit_code"], 0, "exit_code")
        table = d.ok("ls")
        check(b"\x01" not in table and b"\t" not in table.split(b"\n")[1],
              "control bytes reach the terminal: %r" % table)


def test_send_text_and_stdin():
    with Daemon() as d:
        sid = d.new("sh", "-c", 'stty -echo; printf ready; IFS= read -r a; printf "<%s>" "$a"; '
                    'IFS= read -r b; printf "[%s]" "$b"')
        _output_when(d, sid, lambda out: out.endswith(b"ready"), "the session to be ready")
        d.ok("send", str(sid), "hello", " two  spaces", "\n")
        _output_when(d, sid, lambda out: out.endswith(b"<hello  two  spaces >"),
                     "the first line to come back")
        d.ok("send", str(sid), "-", input=b"from stdin\n")
        check_eq(d.cli("wait", str(sid)).returncode, 0, "session status")
        check_eq(d.ok("output", str(sid)), b"ready<hello  two  spaces >[from stdin]",
                 "everything the session printed")
        # Input for an exited session is refused, with a one-line reason.
        p = d.cli("send", str(sid), "late")
        check_eq(p.returncode, 1, "send to an exited session")
        _one_line_error(p, "send to an exited session")


def test_send_stdin_is_binary_safe():
    with Daemon() as d:
        data = os.urandom(200 * 1024)
        import hashlib
        want = hashlib.sha256(data).hexdigest().encode()
        sid = d.new("sh", "-c", "stty raw -echo -iexten; printf ready; "
                    "head -c %d | sha256sum" % len(data))
        _output_when(d, sid, lambda out: out.endswith(b"ready"), "the session to be ready")
        d.ok("send", str(sid), "-", input=data)
        check_eq(d.cli("wait", str(sid)).returncode, 0, "session status")
        out = d.ok("output", str(sid))
        check(want in out, "sha256 of what the session read: %r, want %s" % (out, want))


def test_output_reports_what_is_no_longer_retained():
    with Daemon("--scrollback", "4K") as d:
        sid = d.new("seq", "1", "10000")
        check_eq(d.cli("wait", str(sid)).returncode, 0, "seq status")
        full = b"".join(b"%d\r\n" % i for i in range(1, 10001))
        p = d.cli("output", str(sid))
        check_eq(p.returncode, 0, "output status")
        err = _one_line_error(p, "output from a dropped offset")
        words = err.split()
        check(words[:2] == ["ptyhub:", "bytes"] and err.rstrip().endswith("are no longer retained"),
              "gap message: %r" % err)
        lo, hi = (int(x) for x in words[2].split(".."))
        check_eq(lo, 0, "gap start")
        check(0 < len(full) - hi <= 4096, "retained %d bytes" % (len(full) - hi))
        check_eq(p.stdout, full[hi:], "what was retained")


def test_usage_errors():
    with Daemon() as d:
        p = subprocess.run([d.bin, "serve", "--io=bogus", "--socket", d.sock + "2"],
                           capture_output=True, timeout=TIMEOUT)
        check_eq(p.returncode, 2, "`serve --io=bogus` status")
        check(b"--io" in p.stderr, "`serve --io=bogus` stderr mentions --io: %r" % p.stderr)
        _one_line_error(p, "serve --io=bogus")

        p = d.cli("new")
        check_eq(p.returncode, 2, "`new` without a command")
        _one_line_error(p, "new without a command")
        p = d.cli("new", "--")
        check_eq(p.returncode, 2, "`new --` without a command")

        p = d.cli("wait", "nosuch")
        check_eq(p.returncode, 1, "`wait nosuch` status")
        err = _one_line_error(p, "wait nosuch")
        check("nosuch" in err and "ptyhub ls" in err, "says what to do: %r" % err)

        for args in (["wait", "9999"], ["output", "9999"], ["kill", "9999"], ["rm", "9999"],
                     ["send", "9999", "x"], ["output", "nosuch"]):
            p = d.cli(*args)
            check_eq(p.returncode, 1, "`%s` status" % " ".join(args))
            _one_line_error(p, " ".join(args))

        for args in (["bogus"], ["kill", "1", "--signal", "NOPE"], ["output", "1", "--from", "x"],
                     ["new", "--size", "80", "--", "true"], ["new", "--env", "NOEQUALS", "--", "true"],
                     ["ls", "extra"], ["wait"], ["send", "1"], ["attach", "1"]):
            p = d.cli(*args)
            check_eq(p.returncode, 2, "`%s` status" % " ".join(args))
            _one_line_error(p, " ".join(args))

        # Spawn failures carry the daemon's reason.
        p = d.cli("new", "--", "/nonexistent/program")
        check_eq(p.returncode, 1, "`new` of a missing program")
        err = _one_line_error(p, "new of a missing program")
        check("/nonexistent/program" in err, "names the program: %r" % err)
        p = d.cli("new", "--cwd", "/nonexistent-dir", "--", "true")
        check_eq(p.returncode, 1, "`new --cwd` of a missing directory")
        _one_line_error(p, "new --cwd missing")

    # No daemon at all: say how to start one.
    p = subprocess.run([d.bin, "ls", "--socket", d.sock], capture_output=True, timeout=TIMEOUT)
    check_eq(p.returncode, 1, "`ls` with no daemon")
    err = _one_line_error(p, "ls with no daemon")
    check("ptyhub serve" in err and d.sock in err, "says how to start the daemon: %r" % err)


def test_new_options():
    with Daemon() as d:
        os.mkdir(os.path.join(d.dir, "sub"))
        # --cwd relative to the client's directory (here d.dir), --env, --size.
        out = d.ok("new", "--cwd", "sub", "--env", "FOO=bar baz", "--env", "EMPTY=",
                   "--size", "100x30", "--", "sh", "-c",
                   'printf "%s|%s|%s|" "$(pwd -P)" "$FOO" "${EMPTY-unset}"; stty size')
        sid = int(out)
        check_eq(d.cli("wait", str(sid)).returncode, 0, "status")
        want = ("%s|bar baz||30 100\r\n" % os.path.join(os.path.realpath(d.dir), "sub")).encode()
        check_eq(d.ok("output", str(sid)), want, "cwd, env and size seen by the program")
        e = d.ls_json()[0]
        check_eq((e["cols"], e["rows"]), (100, 30), "size in ls --json")
