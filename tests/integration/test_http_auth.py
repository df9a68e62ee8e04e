"""test_http_auth: who may talk to the daemon over HTTP. The API, /metrics and the
WebSocket need a token (bearer header, or the HttpOnly cookie POST /api/login sets) while
the page and /healthz do not. The token is --token (or $PTYHUB_TOKEN); without one the
daemon makes one up and writes it next to its socket (DIR/token, and DIR/url with the
page's address), even on loopback; --no-auth explicitly keeps HTTP open. A non-loopback
--listen needs a token or --no-auth. On loopback only loopback Host names are answered
(DNS rebinding); WebSocket upgrades from another site's page are refused unless its
origin is allowed, and so are requests from another site's page that would start or type
into a session.

Tests marked NEW-SERVER depend on the token-by-default server (generated token, token
and url files, Host and Origin checks on every request); they fail on a server that
leaves loopback HTTP open without --token."""

import os
import re
import stat
import subprocess
import tempfile

import wire
from harness import Daemon, check, check_eq, ptyhub_bin, TIMEOUT
from wsclient import HandshakeRefused, Http, WsConn, call, get

TOKEN = "s3cretTOKEN"
BEARER = [("Authorization", "Bearer " + TOKEN)]


def _code(resp):
    try:
        return resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def _ws_status(d, headers=()):
    """The status of a WebSocket upgrade (101 after a HELLO/WELCOME round trip)."""
    try:
        c = WsConn.connect(d, headers=headers)
    except HandshakeRefused as e:
        return e.response.status
    with c:
        c.handshake()
    return 101


def test_token_guards_the_api_but_not_the_page_or_healthz():
    with Daemon("--token", TOKEN) as d:
        check(not os.path.exists(d.token_path), "no token file with an explicit --token")
        for path in ("/api/sessions", "/metrics", "/api/sessions/1"):
            resp = get(d, path)
            check_eq((resp.status, _code(resp)), (401, "unauthorized"), "GET %s without token"
                     % path)
        for hdrs, what in (([("Authorization", "Bearer wrong-token")], "a wrong bearer"),
                           ([("Authorization", "Bearer " + TOKEN + "x")], "a longer token"),
                           ([("Authorization", "Bearer " + TOKEN[:-1])], "a prefix"),
                           ([("Authorization", "Basic " + TOKEN)], "another scheme"),
                           ([("Cookie", "ptyhub_token=nope")], "a wrong cookie")):
            resp = get(d, "/api/sessions", hdrs)
            check_eq(resp.status, 401, "GET /api/sessions with %s" % what)
        check_eq(call(d, "POST", "/api/sessions", {"argv": ["true"]}).status, 401,
                 "POST /api/sessions without token")
        check_eq(d.ls_json(), [], "nothing was started without the token")

        resp = get(d, "/api/sessions", BEARER)
        check_eq((resp.status, resp.json()), (200, {"sessions": []}), "GET with the bearer")
        check_eq(get(d, "/metrics", BEARER).status, 200, "/metrics with the bearer")
        resp = call(d, "POST", "/api/sessions", {"argv": ["true"]}, headers=BEARER)
        check_eq(resp.status, 201, "POST /api/sessions with the bearer")

        resp = get(d, "/healthz")
        check_eq((resp.status, resp.body), (200, b"ok\n"), "/healthz without token")
        page = get(d, "/")
        check_eq(page.status, 200, "the page without token")
        check(page.header("Content-Type").startswith("text/html"), "the page is HTML: %r" % page)

        check_eq(_ws_status(d), 401, "WebSocket upgrade without the token")
        check_eq(_ws_status(d, BEARER), 101, "WebSocket upgrade with the bearer")


def test_login_sets_a_cookie_that_works_for_api_and_websocket():
    with Daemon("--token", TOKEN) as d:
        resp = call(d, "POST", "/api/login", {"token": "wrong-token"})
        check_eq((resp.status, _code(resp)), (401, "unauthorized"), "login with a wrong token")
        check_eq(resp.headers_named("Set-Cookie"), [], "no cookie for a wrong token")
        check_eq(call(d, "POST", "/api/login", b"nonsense").status, 400, "login with no JSON")

        resp = call(d, "POST", "/api/login", {"token": TOKEN})
        check_eq(resp.status, 204, "login with the token: %r" % resp)
        cookies = resp.headers_named("Set-Cookie")
        check_eq(len(cookies), 1, "one Set-Cookie: %r" % cookies)
        parts = [p.strip() for p in cookies[0].split(";")]
        check_eq(parts[0], "ptyhub_token=" + TOKEN, "the cookie's value")
        attrs = {p.split("=")[0].lower(): p for p in parts[1:]}
        check("httponly" in attrs, "HttpOnly in %r" % cookies[0])
        check_eq(attrs.get("samesite"), "SameSite=Strict", "SameSite in %r" % cookies[0])

        cookie = [("Cookie", "theme=dark; " + parts[0] + "; other=1")]
        resp = get(d, "/api/sessions", cookie)
        check_eq((resp.status, resp.json()), (200, {"sessions": []}), "GET with the cookie")
        c = WsConn.connect(d, headers=cookie + [("Origin", "http://%s" % d.http_addr)])
        with c:
            welcome = c.handshake()
            check_eq(welcome.version, wire.VERSION, "WELCOME over the cookie-authenticated WebSocket")
            sid = c.create(["sh", "-c", "printf cookie-ok"])
            c.attach(sid, from_kind=wire.FROM_OFFSET, from_=0)
            out = b""
            while True:
                m = c.recv(TIMEOUT)
                if m.type == wire.OUTPUT:
                    out += m.data
                elif m.type == wire.EXIT:
                    break
            check_eq(out, b"cookie-ok", "a session's output over that WebSocket")


def _serve_argv(tmp, *extra):
    return [ptyhub_bin(), "serve", "--socket", os.path.join(tmp, "sock"), "--no-session"] + \
        list(extra) + os.environ.get("PTYHUB_SERVE_ARGS", "").split()


def test_non_loopback_listen_needs_a_token_or_no_auth():
    env = dict(os.environ)
    env.pop("PTYHUB_TOKEN", None)
    with tempfile.TemporaryDirectory(prefix="ptyhub-it-") as tmp:
        p = subprocess.run(_serve_argv(tmp, "--listen", "0.0.0.0:0"), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp,
                           timeout=TIMEOUT)
        err = p.stderr.decode(errors="replace")
        check_eq(p.returncode, 2, "exit status of a token-less --listen 0.0.0.0:0 (stderr %r)"
                 % err)
        check("--listen" in err and "--token" in err, "the error names --listen and --token: %r"
              % err)
        check(not os.path.exists(os.path.join(tmp, "sock")), "no socket was created")
    for extra in (["--no-auth"], ["--token", TOKEN]):
        with Daemon("--listen", "0.0.0.0:0", *extra, env={"PTYHUB_TOKEN": ""}) as d:
            check(d.http_addr.startswith("0.0.0.0:"), "READY names 0.0.0.0: %r" % d.http_addr)
            with Http("127.0.0.1", d.http_port) as h:
                resp = h.request("GET", "/healthz")
                check_eq((resp.status, resp.body), (200, b"ok\n"), "/healthz with %r" % extra)
                resp = h.request("GET", "/api/sessions")
                check_eq(resp.status, 401 if "--token" in extra else 200,
                         "/api/sessions without a token with %r" % extra)


def test_websocket_origin_must_match_host():
    # Both with the default token (sent by the helpers) and with --no-auth: Origin is
    # checked either way.
    for extra in ((), ("--no-auth",)):
        _websocket_origin_must_match_host(*extra)


def _websocket_origin_must_match_host(*extra):
    with Daemon(*extra) as d:
        same = "http://%s" % d.http_addr
        check_eq(_ws_status(d, [("Origin", "http://evil.example")]), 403,
                 "upgrade from http://evil.example")
        for origin in ("http://evil.example:%d" % d.http_port, "null",
                       "http://%s.evil.example" % d.http_addr, "http://127.0.0.1"):
            check_eq(_ws_status(d, [("Origin", origin)]), 403, "upgrade from %s" % origin)
        check_eq(_ws_status(d, [("Origin", same)]), 101, "upgrade from %s (= Host)" % same)
        check_eq(_ws_status(d), 101, "upgrade without Origin (not a browser page)")
        try:
            WsConn.connect(d, headers=[("Origin", "http://evil.example")])
            raise AssertionError("upgrade from evil.example accepted")
        except HandshakeRefused as e:
            check_eq(_code(e.response), "forbidden_origin", "the 403's code")
            check("--allow-origin" in e.response.json()["error"]["message"],
                  "the 403 says how to allow an origin: %r" % e.response.body)
        check_eq(d.ls_json(), [], "no session")


def test_allow_origin_admits_that_origin_only():
    with Daemon("--allow-origin", "http://other.example") as d:
        check_eq(_ws_status(d, [("Origin", "http://other.example")]), 101,
                 "upgrade from the allowed origin")
        check_eq(_ws_status(d, [("Origin", "http://%s" % d.http_addr)]), 101,
                 "upgrade from the daemon's own page")
        check_eq(_ws_status(d, [("Origin", "http://evil.example")]), 403,
                 "upgrade from another origin")
        check_eq(_ws_status(d, [("Origin", "https://other.example")]), 403,
                 "the allowed host under another scheme")


def test_another_sites_page_cannot_start_or_type_into_sessions():
    # A page on evil.example can POST to http://127.0.0.1:PORT without a CORS preflight
    # (a "simple" request: text/plain body); the browser adds its Origin. With no token
    # on loopback (--no-auth), Origin is the only thing that tells such a request from
    # the user's.
    with Daemon("--no-auth") as d:
        evil = [("Origin", "http://evil.example"), ("Content-Type", "text/plain")]
        resp = call(d, "POST", "/api/sessions", b'{"argv":["touch","pwned"]}', headers=evil)
        check_eq(resp.status, 403, "POST /api/sessions from another site's page: %r" % resp)
        check_eq(d.ls_json(), [], "nothing was started by another site's page")
        sid = d.new("cat")
        resp = call(d, "POST", "/api/sessions/%d/input" % sid, b"echo typed-by-evil\n",
                    headers=evil)
        check_eq(resp.status, 403, "POST input from another site's page: %r" % resp)
        # The daemon's own page may.
        own = [("Origin", "http://%s" % d.http_addr)]
        check_eq(call(d, "POST", "/api/sessions/%d/input" % sid, b"x", headers=own).status, 204,
                 "POST input from the daemon's own page")
        d.ok("kill", str(sid))


# ---- the default: a token even on loopback ----

def test_no_auth_keeps_http_open_on_loopback():
    with Daemon("--no-auth") as d:
        check_eq(d.token, None, "no token file with --no-auth")
        check(not os.path.exists(d.url_path), "no url file with --no-auth")
        resp = get(d, "/api/sessions")
        check_eq((resp.status, resp.json()), (200, {"sessions": []}), "GET without a token")
        check_eq(_ws_status(d), 101, "WebSocket upgrade without a token")


def _need_token_file(d):
    check(d.token is not None, "the daemon wrote its token to %s (files in its dir: %r; "
          "log:\n%s)" % (d.token_path, sorted(os.listdir(d.dir)), d.log_text()))


def test_default_token_file_and_url_file():
    # NEW-SERVER: the generated token and its files.
    with Daemon() as d:
        _need_token_file(d)
        check(re.fullmatch(r"[0-9a-f]{64}", d.token), "64 hex digits: %r" % d.token)
        for path in (d.token_path, d.url_path):
            st = os.stat(path)
            check_eq(stat.S_IMODE(st.st_mode), 0o600, "mode of %s" % path)
            check_eq(st.st_uid, os.getuid(), "owner of %s" % path)
        with open(d.token_path) as f:
            check_eq(f.read(), d.token + "\n", "the token file's content")
        url = "http://%s/?token=%s" % (d.http_addr, d.token)
        with open(d.url_path) as f:
            check_eq(f.read(), url + "\n", "the url file's content")
        check("open " + url in d.log_text(), "the log says `open %s`" % url)
        # A new daemon, a new token.
        with Daemon() as d2:
            check(d2.token and d2.token != d.token, "two daemons, two tokens")
        check_eq(d.stop(), 0, "exit status after SIGTERM")
        check(not os.path.exists(d.token_path), "the token file is removed at shutdown")
        check(not os.path.exists(d.url_path), "the url file is removed at shutdown")


def test_default_token_guards_the_api_and_websocket():
    # NEW-SERVER: without --token, loopback HTTP is not open.
    with Daemon() as d:
        _need_token_file(d)
        for path in ("/api/sessions", "/metrics", "/api/sessions/1"):
            resp = get(d, path, auth=False)
            check_eq((resp.status, _code(resp)), (401, "unauthorized"),
                     "GET %s without the token" % path)
        resp = call(d, "POST", "/api/sessions", {"argv": ["true"]}, auth=False)
        check_eq(resp.status, 401, "POST /api/sessions without the token")
        resp = get(d, "/api/sessions?token=" + d.token, auth=False)
        check_eq(resp.status, 401, "the token in the query string of an API call")
        try:
            WsConn.connect(d, auth=False).close()
            raise AssertionError("WebSocket upgrade without the token accepted")
        except HandshakeRefused as e:
            check_eq(e.response.status, 401, "WebSocket upgrade without the token")
        check_eq(d.ls_json(), [], "nothing was started without the token")
        # What needs no token.
        check_eq(get(d, "/healthz", auth=False).status, 200, "/healthz without the token")
        page = get(d, "/", auth=False)
        check_eq(page.status, 200, "the page without the token")
        check_eq(get(d, "/s/1", auth=False).status, 200, "/s/1 without the token")
        # With it (the helpers send the bearer).
        resp = get(d, "/api/sessions")
        check_eq((resp.status, resp.json()), (200, {"sessions": []}), "GET with the bearer")
        check_eq(call(d, "POST", "/api/sessions", {"argv": ["true"]}).status, 201,
                 "POST /api/sessions with the bearer")
        check_eq(_ws_status(d), 101, "WebSocket upgrade with the bearer")


def test_login_with_the_token_files_token_sets_the_cookie():
    # NEW-SERVER: POST /api/login with the generated token.
    with Daemon() as d:
        _need_token_file(d)
        resp = call(d, "POST", "/api/login", {"token": "0" * 64}, auth=False)
        check_eq(resp.status, 401, "login with a wrong token")
        check_eq(resp.headers_named("Set-Cookie"), [], "no cookie for a wrong token")
        resp = call(d, "POST", "/api/login", {"token": d.token}, auth=False)
        check_eq(resp.status, 204, "login with the token file's token: %r" % resp)
        cookies = resp.headers_named("Set-Cookie")
        check_eq(len(cookies), 1, "one Set-Cookie: %r" % cookies)
        parts = [p.strip() for p in cookies[0].split(";")]
        check_eq(parts[0], "ptyhub_token=" + d.token, "the cookie's value")
        attrs = {p.split("=")[0].lower(): p for p in parts[1:]}
        check("httponly" in attrs, "HttpOnly in %r" % cookies[0])
        check_eq(attrs.get("samesite"), "SameSite=Strict", "SameSite in %r" % cookies[0])
        check_eq(attrs.get("path"), "Path=/", "Path in %r" % cookies[0])
        cookie = [("Cookie", parts[0])]
        check_eq(get(d, "/api/sessions", cookie).status, 200, "GET with the cookie")
        check_eq(_ws_status(d, cookie + [("Origin", "http://%s" % d.http_addr)]), 101,
                 "WebSocket upgrade with the cookie from the daemon's own page")


def _status(d, headers, path="/api/sessions", method="GET", body=b""):
    """The status of one request sent with exactly these headers (plus Host if absent)."""
    with Http.to(d, auth=False) as h:
        return h.request(method, path, headers, body).status


def test_loopback_answers_only_loopback_host_names():
    # NEW-SERVER: Host checks (DNS rebinding), with or without the token.
    with Daemon() as d:
        _need_token_file(d)
        port = d.http_port
        tok = d.auth_header()
        for host in ("127.0.0.1.evil.com", "127.0.0.1.evil.com:%d" % port, "evil.com:%d" % port,
                     "localhost.evil.com:%d" % port, "localhost:%d.evil.com" % port):
            for hdrs, what in ((tok, "with the token"), ([], "without the token")):
                got = _status(d, [("Host", host)] + hdrs)
                check_eq(got, 403, "GET /api/sessions with Host: %s %s" % (host, what))
            check_eq(_status(d, [("Host", host)], "/"), 403, "the page with Host: %s" % host)
            check_eq(_ws_status(d, [("Host", host)] + tok), 403,
                     "WebSocket upgrade with Host: %s" % host)
        for host in ("LOCALHOST:%d" % port, "localhost:%d" % port, "LocalHost", "127.0.0.1",
                     "127.0.0.1:%d" % port, "127.1.2.3:%d" % port, "[::1]:%d" % port):
            check_eq(_status(d, [("Host", host)] + tok), 200, "Host: %s with the token" % host)
        check_eq(_status(d, [("Host", "LOCALHOST:%d" % port)]), 401,
                 "Host: LOCALHOST without the token (accepted, then asked for the token)")
        check_eq(d.ls_json(), [], "no session")


def test_two_host_headers_are_400():
    # NEW-SERVER
    with Daemon() as d:
        _need_token_file(d)
        tok = d.auth_header()
        for hosts in ((d.http_addr, d.http_addr), (d.http_addr, "evil.com"),
                      ("evil.com", d.http_addr)):
            got = _status(d, [("Host", h) for h in hosts] + tok)
            check_eq(got, 400, "two Host headers %r" % (hosts,))


def test_post_from_an_ftp_origin_is_403():
    # NEW-SERVER: Origin must be http(s):// with the same host:port, even with the token.
    with Daemon() as d:
        _need_token_file(d)
        tok = d.auth_header()
        body = b'{"argv":["true"]}'
        ctype = [("Content-Type", "application/json")]
        for origin in ("ftp://%s" % d.http_addr, "file://", "null"):
            got = _status(d, [("Origin", origin)] + ctype + tok, "/api/sessions", "POST", body)
            check_eq(got, 403, "POST /api/sessions from Origin %s" % origin)
        check_eq(d.ls_json(), [], "nothing was started")
        got = _status(d, [("Origin", "http://%s" % d.http_addr)] + ctype + tok, "/api/sessions",
                      "POST", body)
        check_eq(got, 201, "POST /api/sessions from the daemon's own page")


# Run as another uid: no token (it cannot read the daemon's directory), so no session.
_OTHER_UID_CLIENT = r"""
import json, socket, sys
host, port, token_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    open(token_path).read()
    readable = "yes"
except OSError as e:
    readable = type(e).__name__
body = b'{"argv":["true"],"name":"from-nobody"}'
s = socket.create_connection((host, port), timeout=30)
s.sendall(b"POST /api/sessions HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (host.encode(), port, len(body))
          + body)
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(json.dumps({"readable": readable, "status_line": data.split(b"\r\n", 1)[0].decode()}))
"""


def test_another_uid_cannot_start_a_session_over_http():
    # NEW-SERVER: on loopback, any local user can connect to the port; the token (in a
    # 0700 directory) is what keeps them out.
    if os.getuid() != 0:
        from harness import Skip
        raise Skip("needs root to run a client as nobody (setpriv)")
    import json
    import shutil
    if not shutil.which("setpriv"):
        from harness import Skip
        raise Skip("no setpriv")
    with Daemon() as d:
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "python3", "-c", _OTHER_UID_CLIENT, d.http_host, str(d.http_port),
                            d.token_path],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, cwd="/", timeout=TIMEOUT)
        check_eq(p.returncode, 0, "the client as nobody ran (stderr %r)" % p.stderr)
        got = json.loads(p.stdout)
        check(got["readable"] != "yes", "nobody could read the token file")
        check(got["status_line"].startswith("HTTP/1.1 401"),
              "POST /api/sessions as nobody, without the token: %r" % got["status_line"])
        check_eq(d.ls_json(), [], "nobody started no session")
