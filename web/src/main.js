// The ptyhub web UI: a session list, a form to start sessions, and one xterm.js terminal
// attached to the selected session over the session protocol on a WebSocket.
//
// Offsets: `offset` is the output offset just after the last byte handed to
// term.write(), so a reconnect ATTACHes from exactly there (nothing lost, nothing shown
// twice). `rendered` is the offset below which xterm.js has parsed everything (its write
// callback fired); it is what we ACK, at least every 64 KiB and whenever rendering
// catches up, so the server never has more than its window (2 MiB) in flight to us and
// a flood cannot freeze the page.
//
// With a server that keeps terminal state (WELCOME flag TERMINAL, protocol version 3):
// a fresh attach asks for a snapshot of the screen (ATTACH from_kind 3) instead of a raw
// replay, and xterm.js is stopped from answering terminal queries (the daemon answers
// them exactly once; a second answer would reach the program as typed input).

import '@xterm/xterm/css/xterm.css';
import './style.css';
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import * as wire from '../../clients/js/src/codec.js';
import * as api from './api.js';

const ACK_EVERY = 64 * 1024;
const BACKOFF_MIN = 250;
const BACKOFF_MAX = 5000;
const INPUT_QUEUE_MAX = 64 * 1024;
const LIST_EVERY = 2000;
const PREVIEW_EVERY = 3000; // ms between screen previews of one visible session
const PREVIEW_LINES = 4;

const $ = (id) => document.getElementById(id);
const el = {
  conn: $('conn-state'),
  viewOnly: $('view-only'),
  list: $('session-list'),
  empty: $('session-empty'),
  form: $('new-form'),
  command: $('new-command'),
  name: $('new-name'),
  login: $('login-form'),
  token: $('login-token'),
  loginError: $('login-error'),
  notice: $('notice'),
  banner: $('exit-banner'),
  title: $('term-title'),
  placeholder: $('term-placeholder'),
  host: $('terminal'),
};

// What the page is attached to. A new `gen` per attachment makes stale write
// callbacks from an earlier terminal harmless.
const st = {
  sid: 0,
  view: new URLSearchParams(location.search).get('view') === '1',
  gen: 0,
  offset: 0,
  rendered: 0,
  renderedBytes: 0,
  acked: 0,
  pending: 0,
  attachReq: 0,
  attachKind: wire.FROM_OFFSET,
  attachSent: false,
  attached: false,
  exit: null,
  inputQueue: [],
  inputQueued: 0,
  sessions: [],
  swallow: true,
  swallowed: 0, // queries xterm.js did not answer
  snapshots: 0, // SNAPSHOTs written to the terminal
  flags: 0, // the server's WELCOME flags (0 until WELCOME, and from older servers)
  version: 0,
};

let term = null;
let fit = null;
let ws = null;
let backoff = BACKOFF_MIN;
let reconnectTimer = 0;
let failures = 0;
let needLogin = false;
let nextReq = 1;
const enc = new TextEncoder();

// ---- connection state and notices ------------------------------------------------

// Shows the connection state ("connected" / "reconnecting").
function setConn(text) {
  el.conn.textContent = text;
  el.conn.dataset.state = text;
}

let noticeTimer = 0;
// Shows a short message for people (errors from the server or the API).
function notice(text) {
  el.notice.textContent = text;
  el.notice.hidden = !text;
  clearTimeout(noticeTimer);
  if (text) noticeTimer = setTimeout(() => notice(''), 8000);
}

// ---- WebSocket ---------------------------------------------------------------------

// Whether the socket can send now. A socket being closed (CLOSING) cannot: what is
// typed then is queued for the next connection, not lost.
function isOpen() {
  return ws !== null && ws.readyState === WebSocket.OPEN;
}

// Sends one body if the socket is open.
function send(bytes) {
  if (isOpen()) ws.send(bytes);
}

// Opens the WebSocket, says HELLO (ACK-paced) and re-attaches the current session.
function connect() {
  reconnectTimer = 0;
  if (needLogin) return;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  let sock;
  try {
    sock = new WebSocket(url, ["ptyhub.v1"]);
  } catch (e) {
    scheduleReconnect();
    return;
  }
  sock.binaryType = 'arraybuffer';
  ws = sock;
  sock.onopen = () => {
    if (ws !== sock) return;
    sock.send(wire.encodeHello(wire.HELLO_F_ACK | wire.HELLO_F_HOLD));
    // The first ATTACH waits for WELCOME: its flags say whether a snapshot can be had.
  };
  sock.onmessage = (ev) => {
    if (ws !== sock || !(ev.data instanceof ArrayBuffer)) return;
    let m;
    try {
      m = wire.decode(ev.data);
    } catch (e) {
      notice(`Server sent a malformed message: ${e.message}`);
      sock.close();
      return;
    }
    if (m) handle(m);
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    ws = null;
    st.attachSent = false;
    st.attached = false;
    st.version = 0; // the next ATTACH waits for the next WELCOME
    setConn('reconnecting');
    scheduleReconnect();
  };
  sock.onerror = () => {}; // onclose follows and does the work
}

// Schedules the next connection attempt: 250 ms, doubling to 5 s. After repeated
// failures, asks the API whether a login is what is missing.
function scheduleReconnect() {
  if (reconnectTimer || needLogin) return;
  const delay = backoff;
  backoff = Math.min(backoff * 2, BACKOFF_MAX);
  failures++;
  if (failures >= 2) refreshList();
  reconnectTimer = setTimeout(connect, delay);
}

// Reconnects now (after a login), forgetting the backoff.
function reconnectNow() {
  backoff = BACKOFF_MIN;
  failures = 0;
  if (reconnectTimer) clearTimeout(reconnectTimer);
  reconnectTimer = 0;
  if (ws) {
    const old = ws;
    ws = null;
    old.close();
  }
  connect();
}

// Drops the connection as a network failure would (for tests of the reconnect path).
function dropConnection() {
  if (ws) ws.close();
}

// Whether the server keeps terminal state: it answers queries and makes snapshots.
function serverTerminal() {
  return (st.flags & wire.WELCOME_F_TERMINAL) !== 0;
}

// Sends ATTACH for the current session, if the socket is open and WELCOME has come:
// from a snapshot when nothing is on the terminal yet and the server has terminal
// state (unless `raw`), else from `offset` (resuming after a reconnect is exact).
function sendAttach(raw = false) {
  if (!isOpen() || !st.sid || !st.version) return;
  st.attachReq = nextReq++;
  const fresh = st.offset === 0 && st.pending === 0 && st.renderedBytes === 0;
  st.attachKind = !raw && fresh && serverTerminal() ? wire.FROM_SNAPSHOT : wire.FROM_OFFSET;
  let cols = 0;
  let rows = 0;
  if (!st.view && term) {
    fitNow();
    cols = term.cols;
    rows = term.rows;
  }
  send(wire.encodeAttach(st.attachReq, st.sid,
    st.view ? wire.MODE_READ_ONLY : wire.MODE_INTERACTIVE, st.attachKind, st.offset, cols, rows));
  st.attachSent = true;
  st.acked = st.offset;
  flushInput();
}

// Dispatches one decoded server message.
function handle(m) {
  switch (m.type) {
    case 'welcome':
      st.flags = m.version >= 3 ? m.flags : m.flags & (wire.WELCOME_F_WRITE | wire.WELCOME_F_RESIZED);
      st.version = m.version;
      setConn('connected');
      sendAttach();
      if (!st.sid) {
        backoff = BACKOFF_MIN;
        failures = 0;
      }
      break;
    case 'attached':
      if (m.sid !== st.sid || m.req !== st.attachReq) break;
      st.attached = true;
      if (st.attachKind === wire.FROM_SNAPSHOT) {
        // Output continues from the snapshot's offset; the SNAPSHOT comes first.
        st.offset = m.end;
        st.rendered = m.end;
        st.acked = m.end;
      }
      backoff = BACKOFF_MIN;
      failures = 0;
      if (st.view && term && m.cols > 0 && m.rows > 0) term.resize(m.cols, m.rows);
      break;
    case 'output':
      if (m.sid === st.sid) onOutput(m.offset, m.data);
      break;
    case 'snapshot':
      if (m.sid === st.sid && st.attachKind === wire.FROM_SNAPSHOT && m.offset === st.offset) {
        writeTracked(m.data, m.offset);
        st.snapshots++;
      }
      break;
    case 'gap':
      if (m.sid === st.sid) onGap(m.from, m.to);
      break;
    case 'exit':
      if (m.sid === st.sid) onExit(m);
      break;
    case 'error':
      onError(m);
      break;
    default:
      break;
  }
}

// Hands output to xterm.js, dropping any part already written (a replaced attachment
// may resend it), and ACKs once it is rendered.
function onOutput(off, data) {
  if (off + data.length <= st.offset) return;
  if (off < st.offset) data = data.subarray(st.offset - off);
  st.offset = Math.max(st.offset, off) + data.length;
  writeTracked(data, st.offset);
}

// Tells the user that a range of output is gone (no longer retained) and moves on.
function onGap(from, to) {
  if (to <= st.offset) return;
  const n = to - Math.max(from, st.offset);
  st.offset = to;
  writeTracked(`\r\n\x1b[2m[ptyhub: ${n} bytes of earlier output are no longer kept]\x1b[0m\r\n`,
    to);
}

// Writes to the terminal; when xterm.js has parsed it, `end` counts as rendered.
function writeTracked(data, end) {
  const gen = st.gen;
  const t = term;
  const n = typeof data === 'string' ? 0 : data.length;
  st.pending++;
  t.write(data, () => {
    if (gen !== st.gen) return;
    st.pending--;
    st.rendered = end;
    st.renderedBytes += n;
    maybeAck();
  });
}

// ACKs the rendered offset every 64 KiB, and when rendering has caught up.
function maybeAck() {
  if (!st.attachSent || !isOpen()) return;
  const ahead = st.rendered - st.acked;
  if (ahead <= 0) return;
  if (ahead >= ACK_EVERY || st.pending === 0) {
    send(wire.encodeAck(st.sid, st.rendered));
    st.acked = st.rendered;
  }
}

// Shows the exit banner once everything before EXIT has been rendered.
function onExit(m) {
  st.exit = { code: m.code, signal: m.signal };
  const gen = st.gen;
  term.write('', () => {
    if (gen !== st.gen) return;
    showBanner();
  });
  refreshList();
}

const SIGNALS = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL',
  11: 'SIGSEGV', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM' };

// Describes an exit status for people.
function exitText(code, signal) {
  if (signal > 0) return `killed by signal ${signal}${SIGNALS[signal] ? ` (${SIGNALS[signal]})` : ''}`;
  return `exited with code ${code}`;
}

// Shows the exit banner for the current session.
function showBanner() {
  if (!st.exit) return;
  el.banner.textContent = `Session ${st.sid} ${exitText(st.exit.code, st.exit.signal)}`;
  el.banner.dataset.code = String(st.exit.code);
  el.banner.dataset.signal = String(st.exit.signal);
  el.banner.hidden = false;
}

// Handles ERROR: attach failures are shown; input to an exited session is not news.
function onError(m) {
  if (m.name === 'auth') {
    showLogin();
    return;
  }
  if (m.req && m.req === st.attachReq && st.attachKind === wire.FROM_SNAPSHOT) {
    sendAttach(true); // no snapshot after all (terminal state off): replay raw bytes
    return;
  }
  if (m.req && m.req === st.attachReq) {
    st.attachSent = false;
    notice(`Cannot attach session ${m.sid || st.sid}: ${m.message || m.name}`);
    return;
  }
  if (m.name === 'exited' || m.name === 'read_only') return;
  notice(`Server: ${m.message || m.name}`);
}

// ---- input -------------------------------------------------------------------------

// Sends input to the session, or queues it (bounded) until the next ATTACH.
function sendInput(bytes) {
  if (st.view || !st.sid || st.exit || bytes.length === 0) return;
  if (isOpen() && st.attachSent) {
    send(wire.encodeInput(st.sid, bytes));
    return;
  }
  if (st.inputQueued + bytes.length > INPUT_QUEUE_MAX) return;
  st.inputQueue.push(bytes);
  st.inputQueued += bytes.length;
}

// Sends input typed while the connection was down, in order.
function flushInput() {
  const q = st.inputQueue;
  st.inputQueue = [];
  st.inputQueued = 0;
  for (const b of q) send(wire.encodeInput(st.sid, b));
}

// ---- terminal ----------------------------------------------------------------------

// Fits the terminal to its box (interactive only: a viewer keeps the session's size).
function fitNow() {
  if (!term || st.view) return;
  try {
    fit.fit();
  } catch {
    // hidden or zero-sized: keep the current size
  }
}

// Replaces the terminal with a fresh one for a newly selected session.
function newTerminal() {
  if (term) term.dispose();
  el.host.replaceChildren();
  term = new Terminal({
    scrollback: 10000,
    convertEol: false,
    cursorBlink: !st.view,
    disableStdin: st.view,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace',
    fontSize: 14,
  });
  fit = new FitAddon();
  term.loadAddon(fit);
  swallowQueries(term);
  term.open(el.host);
  fitNow();
  term.onData((s) => sendInput(enc.encode(s)));
  term.onBinary((s) => {
    const b = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
    sendInput(b);
  });
  term.onResize(({ cols, rows }) => {
    if (!st.view && st.sid && isOpen() && st.attachSent && !st.exit) {
      send(wire.encodeResize(st.sid, cols, rows));
    }
  });
  if (!st.view) term.focus();
}

// Stops xterm.js from answering terminal queries while the server answers them (WELCOME
// flag TERMINAL): DSR/CPR (CSI n, CSI ? n), DA1 (CSI c), DA2 (CSI > c), XTVERSION
// (CSI > q), DECRQM (CSI $ p, CSI ? $ p) and the OSC 10/11 colour queries. A handler that
// returns true consumes the sequence; false lets xterm.js handle it as usual, so an older
// server's programs still get xterm.js's answers.
function swallowQueries(t) {
  const swallow = () => st.swallow && serverTerminal();
  for (const id of [{ final: 'n' }, { prefix: '?', final: 'n' }, { final: 'c' },
    { prefix: '>', final: 'c' }, { prefix: '>', final: 'q' },
    { intermediates: '$', final: 'p' }, { prefix: '?', intermediates: '$', final: 'p' }]) {
    t.parser.registerCsiHandler(id, () => {
      if (swallow()) st.swallowed++;
      return swallow();
    });
  }
  for (const osc of [10, 11]) {
    t.parser.registerOscHandler(osc, (data) => {
      const query = data.split(';').includes('?');
      if (query && swallow()) st.swallowed++;
      return query && swallow();
    });
  }
}

let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(fitNow, 60);
});

// ---- selecting a session -----------------------------------------------------------

// Reads the session id from the URL (/s/<id>), or 0.
function sidFromUrl() {
  const m = /^\/s\/(\d+)\/?$/.exec(location.pathname);
  return m ? Number(m[1]) : 0;
}

// Attaches the page to session sid from offset 0 (its whole retained history).
function select(sid, push) {
  if (sid === st.sid) return;
  if (st.sid && isOpen() && st.attachSent) send(wire.encodeDetach(nextReq++, st.sid));
  st.gen++;
  Object.assign(st, { sid, offset: 0, rendered: 0, renderedBytes: 0, acked: 0, pending: 0,
    attachReq: 0, attachKind: wire.FROM_OFFSET, attachSent: false, attached: false, exit: null, inputQueue: [],
    inputQueued: 0 });
  el.banner.hidden = true;
  el.banner.textContent = '';
  if (push) {
    const q = st.view ? '?view=1' : '';
    history.pushState({ sid }, '', sid ? `/s/${sid}${q}` : `/${q}`);
  }
  el.placeholder.hidden = !!sid;
  el.host.hidden = !sid;
  if (sid) {
    newTerminal();
  } else if (term) {
    term.dispose();
    term = null;
    el.host.replaceChildren();
  }
  updateTitle();
  renderList();
  sendAttach();
}

window.addEventListener('popstate', () => select(sidFromUrl(), false));

// Shows which session is attached above the terminal.
function updateTitle() {
  if (!st.sid) {
    el.title.textContent = 'No session attached';
    return;
  }
  const s = st.sessions.find((x) => x.id === st.sid);
  const label = s && s.name ? `${s.name} (#${st.sid})` : `Session #${st.sid}`;
  el.title.textContent = s && s.command ? `${label} — ${s.command}` : label;
}

// ---- session list ------------------------------------------------------------------

let listing = false;
// Fetches the sessions and redraws the list; a 401 shows the login form.
async function refreshList() {
  if (listing) return;
  listing = true;
  try {
    st.sessions = await api.listSessions();
    hideLogin();
    renderList();
    updateTitle();
    if (st.view && term) {
      const s = st.sessions.find((x) => x.id === st.sid);
      if (s && s.cols > 0 && s.rows > 0 && (s.cols !== term.cols || s.rows !== term.rows)) {
        term.resize(s.cols, s.rows);
      }
    }
  } catch (e) {
    if (e instanceof api.AuthError) showLogin();
  } finally {
    listing = false;
  }
}

// Describes a session's state for the list.
function stateText(s) {
  if (s.state === 'exited') return exitText(s.exit_code, s.exit_signal);
  return s.level && s.level !== 'none' ? `running · ${s.level}` : 'running';
}

let listKey = '';
// Redraws the session list from st.sessions, only when something shown has changed (so
// the 2 s refresh does not take keyboard focus away from a row).
function renderList() {
  const key = JSON.stringify([st.sid, serverTerminal(), st.sessions.map((s) => [s.id, s.name, s.state,
    s.exit_code, s.exit_signal, s.level, s.command, s.title])]);
  if (key === listKey) return;
  listKey = key;
  const focused = document.activeElement && el.list.contains(document.activeElement)
    ? `${document.activeElement.closest('li').dataset.testid}/${document.activeElement.className}` : '';
  const rows = st.sessions.map((s) => {
    const li = document.createElement('li');
    li.dataset.testid = `session-${s.id}`;
    li.className = `session ${s.state}${s.id === st.sid ? ' current' : ''}`;
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'open';
    if (s.id === st.sid) open.setAttribute('aria-current', 'true');
    const label = s.name ? `${s.name}` : `#${s.id}`;
    open.setAttribute('aria-label', `Attach session ${s.id}${s.name ? ` (${s.name})` : ''}, ${stateText(s)}`);
    open.title = s.command || '';
    const top = document.createElement('span');
    top.className = 'row-top';
    const id = document.createElement('span');
    id.className = 'sid';
    id.textContent = `#${s.id}`;
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = s.name ? label : s.command || '';
    top.append(id, name);
    const parts = [top];
    if (s.title) {
      const title = document.createElement('span');
      title.className = 'title';
      title.dataset.testid = `title-${s.id}`;
      title.textContent = s.title;
      parts.push(title);
    }
    const bottom = document.createElement('span');
    bottom.className = 'row-state';
    bottom.textContent = stateText(s);
    parts.push(bottom);
    const pre = document.createElement('pre');
    pre.className = 'preview';
    pre.dataset.testid = `preview-${s.id}`;
    pre.setAttribute('aria-hidden', 'true');
    pre.textContent = previews[s.id] || '';
    // The box is there (4 lines high) before its text arrives, so rows never move under
    // the pointer when a preview loads.
    pre.hidden = !serverTerminal();
    parts.push(pre);
    open.append(...parts);
    open.addEventListener('click', () => select(s.id, true));
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'del';
    const running = s.state === 'running';
    del.textContent = running ? 'Kill' : 'Remove';
    del.setAttribute('aria-label', `${running ? 'Kill' : 'Remove'} session ${s.id}`);
    del.addEventListener('click', async () => {
      try {
        await api.deleteSession(s.id);
        deleted.add(s.id); // no more previews: it is gone, or going once it has exited
      } catch (e) {
        if (e instanceof api.AuthError) showLogin();
        // 404: it went away on its own meanwhile (a killed session is removed once it
        // has exited), which is what was asked.
        else if (!(e instanceof api.ApiError && e.status === 404)) notice(e.message);
      }
      refreshList();
    });
    li.append(open, del);
    return li;
  });
  el.list.replaceChildren(...rows);
  watchVisible(rows);
  el.empty.hidden = st.sessions.length > 0;
  if (focused) {
    const [row, cls] = focused.split('/');
    const again = el.list.querySelector(`[data-testid="${row}"] .${cls}`);
    if (again) again.focus();
  }
}

// ---- screen previews ---------------------------------------------------------------
// With terminal state on the server (WELCOME flag TERMINAL), each list entry shows the
// last lines of its session's screen (GET /api/sessions/ID/screen), fetched only for
// entries on screen and running, at most every PREVIEW_EVERY ms each, one at a time.

const previews = {}; // sid -> text shown
const deleted = new Set(); // sids the page killed or removed: never previewed again
const previewAt = {}; // sid -> when it was last fetched (ms)
const visible = new Set();
let observer = null;
let previewBusy = false;

// Tracks which rows are on screen (IntersectionObserver), after each redraw.
function watchVisible(rows) {
  if (typeof IntersectionObserver === 'undefined') return;
  if (observer) observer.disconnect();
  visible.clear();
  observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const sid = Number(e.target.dataset.testid.slice('session-'.length));
      if (e.isIntersecting) visible.add(sid);
      else visible.delete(sid);
    }
    refreshPreviews();
  });
  for (const r of rows) observer.observe(r);
}

// The last PREVIEW_LINES non-empty lines of a screen's text.
function previewOf(text) {
  const lines = text.split('\n').map((l) => l.trimEnd());
  while (lines.length && !lines[lines.length - 1]) lines.pop();
  return lines.slice(-PREVIEW_LINES).join('\n');
}

// Fetches the preview of the visible session seen longest ago, if one is due.
async function refreshPreviews() {
  if (previewBusy || !serverTerminal() || needLogin) return;
  const now = Date.now();
  const due = st.sessions.filter((s) => visible.has(s.id) && !deleted.has(s.id)
    && (s.state === 'running' || previewAt[s.id] === undefined)
    && now - (previewAt[s.id] || 0) >= PREVIEW_EVERY)
    .sort((a, b) => (previewAt[a.id] || 0) - (previewAt[b.id] || 0));
  if (!due.length) return;
  const sid = due[0].id;
  previewBusy = true;
  previewAt[sid] = now;
  try {
    const text = previewOf(await api.screenText(sid));
    if (text !== previews[sid]) {
      previews[sid] = text;
      const pre = el.list.querySelector(`[data-testid="preview-${sid}"]`);
      if (pre) pre.textContent = text;
    }
  } catch (e) {
    if (e instanceof api.AuthError) showLogin();
  } finally {
    previewBusy = false;
  }
  if (due.length > 1) setTimeout(refreshPreviews, 50);
}

// ---- create ------------------------------------------------------------------------

el.form.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const line = el.command.value.trim();
  const req = {};
  if (line) req.argv = ['sh', '-c', line];
  const name = el.name.value.trim();
  if (name) req.name = name;
  const dims = fit && term ? fit.proposeDimensions() : null;
  if (dims && dims.cols > 0 && dims.rows > 0) {
    req.cols = dims.cols;
    req.rows = dims.rows;
  }
  let s;
  try {
    try {
      s = await api.createSession(req);
    } catch (e) {
      // An empty command means "my shell": if this server insists on argv, ask sh to
      // run the shell from the daemon's environment.
      if (line || !(e instanceof api.ApiError) || e.status !== 400) throw e;
      s = await api.createSession({ ...req, argv: ['sh', '-c', 'exec "${SHELL:-/bin/sh}"'] });
    }
  } catch (e) {
    if (e instanceof api.AuthError) showLogin();
    else notice(`Could not start the session: ${e.message}`);
    return;
  }
  el.command.value = '';
  el.name.value = '';
  await refreshList();
  if (s && s.id) select(s.id, true);
});

// ---- login -------------------------------------------------------------------------

// Shows the token form (the server answered 401).
function showLogin() {
  if (!needLogin) {
    needLogin = true;
    el.login.hidden = false;
    el.token.focus();
  }
}

// Hides the token form (the API answers again).
function hideLogin() {
  if (!needLogin) return;
  needLogin = false;
  el.login.hidden = true;
  el.loginError.textContent = '';
  reconnectNow();
}

el.login.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = el.token.value;
  el.token.value = '';
  try {
    await api.login(token);
  } catch (e) {
    el.loginError.textContent = e instanceof api.AuthError ? 'That token was not accepted.'
      : `Login failed: ${e.message}`;
    return;
  }
  await refreshList();
});

// ---- start -------------------------------------------------------------------------

el.viewOnly.hidden = !st.view;
if (st.view) document.body.classList.add('view');
// For tests and curious people: the attached session and how far output has got.
window.ptyhub = {
  get sid() { return st.sid; },
  get offset() { return st.offset; },
  get rendered() { return st.rendered; },
  get renderedBytes() { return st.renderedBytes; },
  get attached() { return st.attached; },
  get view() { return st.view; },
  get exit() { return st.exit; },
  get term() { return term; },
  get flags() { return st.flags; },
  get attachKind() { return st.attachKind; },
  get snapshots() { return st.snapshots; },
  get swallowed() { return st.swallowed; },
  // For tests: whether the page swallows queries the server answers (default true).
  set swallow(v) { st.swallow = !!v; },
  get previews() { return { ...previews }; },
  dropConnection,
};

// Takes a token out of the address (`?token=...`, as in the url the daemon writes and
// logs): the address bar, history and bookmarks keep the path and the other parameters
// (view=1) but not the token. Returns the token, or null when there was none.
function takeUrlToken() {
  const params = new URLSearchParams(location.search);
  if (!params.has('token')) return null;
  const token = params.get('token');
  params.delete('token');
  const q = params.toString();
  history.replaceState(history.state, '', `${location.pathname}${q ? `?${q}` : ''}${location.hash}`);
  return token;
}

// Trades a token from the address for the session cookie, before any other request; if
// it is refused, shows the token form (the list refresh that follows hides it again if
// the API answers anyway).
async function loginFromUrl(token) {
  try {
    await api.login(token);
  } catch (e) {
    showLogin();
    el.loginError.textContent = e instanceof api.AuthError
      ? 'The token in the address was not accepted.' : `Login failed: ${e.message}`;
  }
}

async function start() {
  const token = takeUrlToken();
  setConn('connecting');
  select(sidFromUrl(), false);
  if (token !== null) await loginFromUrl(token);
  connect();
  refreshList();
  setInterval(refreshList, LIST_EVERY);
  setInterval(refreshPreviews, 1000);
}

start();
