// client: a ptyhub connection over any transport. Requests are matched to replies by
// req (never by position); each attachment is a Session whose events (output, gaps,
// exit, snapshot, resize) are read with an async iterator or a callback. Output is
// ACK-paced: the client says so in HELLO and acknowledges only what its consumer has
// taken, so the server sends at most its window (2 MiB) per session ahead of the
// consumer, and a consumer that stops reading one session holds back that session's
// program only: the client never buffers without bound. Runs in browsers and Node.

import * as codec from './codec.js';
import {
  ConnectionClosed, LostOutput, ProtocolViolation, PtyhubError, Unsupported, codes,
} from './errors.js';
import { WritePlan } from './writeplan.js';

export const ACK_EVERY = 32 * 1024; // consumed bytes between ACKs
export const EVENT_QUEUE = 1024; // EVENTs kept for a consumer that does not read
// More than this unconsumed in one session means the server ignores our ACKs.
export const SESSION_BUFFER_MAX = 16 * 1024 * 1024;

const MODES = { interactive: codec.MODE_INTERACTIVE, 'read-only': codec.MODE_READ_ONLY,
  readonly: codec.MODE_READ_ONLY, [codec.MODE_INTERACTIVE]: 0, [codec.MODE_READ_ONLY]: 1 };

function modeOf(mode) {
  const m = MODES[mode ?? 'interactive'];
  if (m === undefined) throw new RangeError(`mode ${mode}: use "interactive" or "read-only"`);
  return m;
}

// A promise with its resolve/reject outside.
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

// Line endings as a paste sends them: \r\n and \n become \r (as xterm.js does).
export function normalizePaste(data) {
  const b = codec.toBytes(data);
  const out = new Uint8Array(b.length);
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0d && b[i + 1] === 0x0a) continue; // the \n that follows becomes \r
    out[n++] = b[i] === 0x0a ? 0x0d : b[i];
  }
  return out.subarray(0, n);
}

// One attachment to a session: its events in order, bounded by the server's window.
export class Session {
  constructor(client, sid, mode, attached, position) {
    this.client = client;
    this.sid = sid;
    this.mode = mode;
    this.start = attached.start; // the oldest offset retained when ATTACHED was sent
    this.end = attached.end; // the live edge then (the snapshot's offset for a snapshot)
    this.cols = attached.cols;
    this.rows = attached.rows;
    this.pid = 0; // known after open()
    this.exitedAtAttach = attached.exited;
    this.position = position; // where the next OUTPUT or GAP starts
    this.consumed = position; // everything below was taken by the consumer
    this.acked = position;
    this.exit = null; // the EXIT event once it arrived
    this.buffered = 0; // output bytes queued, not yet taken
    this._q = [];
    this._qHead = 0;
    this._ended = false; // nothing more will be queued
    this._error = null; // thrown once the queue is empty
    this._wake = null;
  }

  // Events queued and not yet taken.
  get queued() {
    return this._q.length - this._qHead;
  }

  // Called by the client for each message of this attachment.
  _push(m) {
    if (this._ended) return;
    if (m.type === 'output' || m.type === 'gap') {
      const start = m.type === 'output' ? m.offset : m.from;
      if (start !== this.position) {
        this.client._fail(new ProtocolViolation(`session ${this.sid}: ${m.type.toUpperCase()} `
          + `starts at ${start}, want ${this.position}`));
        return;
      }
      this.position = m.type === 'output' ? m.offset + m.data.length : m.to;
      if (m.type === 'output') {
        this.buffered += m.data.length;
        if (this.buffered > SESSION_BUFFER_MAX) {
          this.client._fail(new ProtocolViolation(`session ${this.sid}: ${this.buffered} bytes `
            + 'unacknowledged: the server does not respect the ACK window'));
          return;
        }
      }
    } else if (m.type === 'snapshot') {
      if (m.offset !== this.position) {
        this.client._fail(new ProtocolViolation(`session ${this.sid}: SNAPSHOT at ${m.offset}, `
          + `want ${this.position}`));
        return;
      }
    } else if (m.type === 'resized') {
      this.cols = m.cols;
      this.rows = m.rows;
    } else if (m.type === 'exit') {
      this.exit = m;
      this._ended = true;
    }
    this._q.push(m);
    this._signal();
  }

  // Ends the event stream: after what is queued, read() returns null (err: throws err).
  _end(err = null) {
    if (this._ended) return;
    this._ended = true;
    this._error = err;
    this._signal();
  }

  _signal() {
    if (this._wake) {
      const w = this._wake;
      this._wake = null;
      w();
    }
  }

  // The next event, waiting for one; null once the session's stream has ended (after
  // EXIT, a detach, or closing the client). Throws ConnectionClosed if the connection
  // was lost. Events: {type: 'output', offset, data}, {type: 'gap', from, to},
  // {type: 'snapshot', offset, data}, {type: 'resized', cols, rows},
  // {type: 'exit', end, code, signal}, {type: 'error', error} (a failed INPUT/RESIZE).
  async read() {
    for (;;) {
      if (this._qHead < this._q.length) {
        const ev = this._q[this._qHead];
        this._q[this._qHead++] = undefined;
        if (this._qHead > 1024 && this._qHead * 2 > this._q.length) {
          this._q = this._q.slice(this._qHead);
          this._qHead = 0;
        }
        this._took(ev);
        return ev;
      }
      if (this._ended) {
        if (this._error) throw this._error;
        return null;
      }
      await new Promise((resolve) => {
        this._wake = resolve;
      });
    }
  }

  // The consumer took ev: acknowledge every ackEvery bytes, and when it has caught up.
  _took(ev) {
    let off;
    if (ev.type === 'output') {
      this.buffered -= ev.data.length;
      off = ev.offset + ev.data.length;
    } else if (ev.type === 'gap') {
      off = ev.to;
    } else {
      return;
    }
    this.consumed = off;
    const c = this.client;
    if (!c.ackPaced || this.exit || c._closed) return;
    if (off - this.acked >= c.ackEvery || (off > this.acked && this.queued === 0)) {
      this.acked = off;
      c._sendQuiet(codec.encodeAck(this.sid, off));
    }
  }

  async* [Symbol.asyncIterator]() {
    for (;;) {
      const ev = await this.read();
      if (ev === null) return;
      yield ev;
    }
  }

  // Calls fn(event) for each event, awaiting what it returns before taking the next (a
  // slow callback slows this session's program, nothing else). Resolves at the end.
  async consume(fn) {
    for await (const ev of this) await fn(ev);
  }

  // Takes events until EXIT; returns {data, exit}: every output byte (after a snapshot,
  // if the attachment began with one) and the EXIT. Throws LostOutput on a GAP.
  async outputUntilExit() {
    const parts = [];
    let n = 0;
    for (;;) {
      const ev = await this.read();
      if (ev === null) throw new ConnectionClosed(`session ${this.sid}: detached before EXIT`);
      if (ev.type === 'gap') throw new LostOutput(this.sid, ev.from, ev.to);
      if (ev.type === 'output') {
        parts.push(ev.data);
        n += ev.data.length;
      } else if (ev.type === 'exit') {
        const data = new Uint8Array(n);
        let p = 0;
        for (const x of parts) {
          data.set(x, p);
          p += x.length;
        }
        return { data, exit: ev };
      }
    }
  }

  write(data, opts) { return this.client.write(this.sid, data, opts); }
  paste(text, opts) { return this.client.paste(this.sid, text, opts); }
  input(data) { this.client.input(this.sid, data); }
  resize(cols, rows) { this.client.resize(this.sid, cols, rows); }
  signal(signo) { return this.client.signal(this.sid, signo); }
  kill() { return this.client.signal(this.sid, 0); }
  screen(opts) { return this.client.screen(this.sid, opts); }
  wait(opts) { return this.client.wait(this.sid, opts); }
  detach() { return this.client.detach(this.sid); }
}

// The lifecycle events of every session (EVENTS), queued up to `limit`; past that the
// oldest are kept and the rest counted, then reported as one {event: 'dropped'} event
// (as the server does): re-sync with list().
export class EventStream {
  constructor(client, limit) {
    this.client = client;
    this.limit = limit;
    this._q = [];
    this._dropped = 0;
    this._ended = false;
    this._error = null;
    this._wake = null;
  }

  _push(ev) {
    if (this._ended) return;
    if (this._q.length >= this.limit) {
      this._dropped++;
      return;
    }
    this._q.push(ev);
    this._signal();
  }

  _end(err = null) {
    if (this._ended) return;
    this._ended = true;
    this._error = err;
    this._signal();
  }

  _signal() {
    if (this._wake) {
      const w = this._wake;
      this._wake = null;
      w();
    }
  }

  // The next event ({kind, event, sid, timeMs, ...fields}); null after close().
  async read() {
    for (;;) {
      if (this._q.length) {
        const ev = this._q.shift();
        if (this._dropped && this._q.length === 0) {
          this._q.push({ type: 'event', kind: codec.EV.DROPPED, event: 'dropped', sid: 0,
            timeMs: Date.now(), count: this._dropped, local: true });
          this._dropped = 0;
        }
        return ev;
      }
      if (this._ended) {
        if (this._error) throw this._error;
        return null;
      }
      await new Promise((resolve) => {
        this._wake = resolve;
      });
    }
  }

  async* [Symbol.asyncIterator]() {
    for (;;) {
      const ev = await this.read();
      if (ev === null) return;
      yield ev;
    }
  }

  // Unsubscribes (EVENTS mask 0) and ends the stream.
  async close() {
    if (this.client._events === this) this.client._events = null;
    this._end();
    if (!this.client._closed) await this.client._request((r) => codec.encodeEvents(r, 0));
  }
}

// A connection. Make one with Client.connect(transport) or, in Node, the helpers of
// `ptyhub/node` (connectUnix, spawnStdio, connectWebSocket); in browsers connectBrowser.
export class Client {
  // opts: ackPaced (default true): acknowledge consumed output (HELLO flag ACK);
  // ackEvery: bytes between ACKs; helloFlags: extra HELLO flags; version: the
  // highest protocol version to offer (default 3); onError(err): errors not tied to a
  // request or an attachment.
  constructor(transport, opts = {}) {
    this.transport = transport;
    this.ackPaced = opts.ackPaced ?? true;
    this.ackEvery = opts.ackEvery ?? ACK_EVERY;
    this.helloFlags = (this.ackPaced ? codec.HELLO_F_ACK : 0) | (opts.helloFlags ?? 0);
    this.offerVersion = opts.version ?? codec.VERSION;
    this.onError = opts.onError ?? null;
    this.welcome = null;
    this.writeRefusals = 0; // WRITE/PASTE refusals with `limit` (resent)
    this._req = 0;
    this._pending = new Map(); // req -> handler(message)
    this._sessions = new Map(); // sid -> Session
    this._attaching = new Map(); // sid -> Session being replaced
    this._wchain = new Map(); // sid -> the last write's promise (writes are serialized)
    this._abandoned = new Set(); // sids whose last write did not finish
    this._events = null;
    this._closed = null; // the ConnectionClosed once the connection is gone
    this._closing = false;
    this._welcome = deferred();
    this._welcome.promise.catch(() => {});
    this._done = deferred();
  }

  // Connects: HELLO, then waits for WELCOME (at most opts.timeout ms, default 30 s).
  static async connect(transport, opts = {}) {
    const c = new Client(transport, opts);
    await c._start(opts.timeout ?? 30000);
    return c;
  }

  async _start(timeout) {
    this.transport.start((body) => this._handle(body), (err) => this._onClose(err));
    this._send(codec.encodeHello(this.helloFlags, this.offerVersion));
    let timer = 0;
    const t = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new ConnectionClosed(`no WELCOME within ${timeout} ms`)),
        timeout);
    });
    try {
      await Promise.race([this._welcome.promise, t]);
    } catch (e) {
      await this.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  // The protocol version of this connection (min of ours and the server's).
  get version() {
    return this.welcome ? this.welcome.version : 0;
  }

  // True when WELCOME announced flag (codec.WELCOME_F_*).
  has(flag) {
    return !!(this.welcome && (this.welcome.flags & flag));
  }

  get closed() {
    return this._closed !== null;
  }

  // ---- sending ------------------------------------------------------------------------

  _send(body) {
    if (this._closed) throw this._closed;
    this.transport.send(body);
  }

  // For ACKs from a consumer: a lost connection shows up in read(), not here.
  _sendQuiet(body) {
    if (!this._closed) this.transport.send(body);
  }

  _newReq() {
    do {
      this._req = (this._req % 0xffffffff) + 1;
    } while (this._pending.has(this._req));
    return this._req;
  }

  // Sends make(req) and resolves with the handler's result. handler(m, done) gets each
  // reply (never an ERROR: that rejects) and calls done(value) when complete; the
  // default handler completes with the first reply.
  _request(make, handler = (m, done) => done(m)) {
    if (this._closed) return Promise.reject(this._closed);
    const req = this._newReq();
    const d = deferred();
    const finish = (value) => {
      this._pending.delete(req);
      d.resolve(value);
    };
    this._pending.set(req, (m) => {
      if (m.type === 'closed') {
        this._pending.delete(req);
        d.reject(this._closed);
        return;
      }
      if (m.type === 'error') {
        this._pending.delete(req);
        d.reject(new PtyhubError(m.code, m.message, m.req, m.sid));
        return;
      }
      try {
        handler(m, finish);
      } catch (e) {
        this._pending.delete(req);
        d.reject(e);
      }
    });
    try {
      this._send(make(req));
    } catch (e) {
      this._pending.delete(req);
      return Promise.reject(e);
    }
    return d.promise;
  }

  // ---- receiving ----------------------------------------------------------------------

  _handle(body) {
    let m;
    try {
      m = codec.decode(body);
    } catch (e) {
      this._fail(new ProtocolViolation(e.message));
      return;
    }
    if (m === null) return; // a type this client does not know: ignored
    switch (m.type) {
      case 'welcome':
        this.welcome = m;
        this._welcome.resolve(m);
        return;
      case 'output':
      case 'gap':
      case 'snapshot':
      case 'resized':
      case 'exit': {
        const s = this._attaching.get(m.sid) || this._sessions.get(m.sid);
        if (!s) return;
        s._push(m);
        if (m.type === 'exit' && this._sessions.get(m.sid) === s) this._sessions.delete(m.sid);
        return;
      }
      case 'event':
        if (this._events) this._events._push(m);
        return;
      case 'error':
        this._onError(m);
        return;
      default: {
        const h = this._pending.get(m.req);
        if (h) h(m);
      }
    }
  }

  _onError(m) {
    const err = new PtyhubError(m.code, m.message, m.req, m.sid);
    if (err.closes) {
      const closed = new ConnectionClosed(`the server closes the connection: ${err.message}`, err);
      this._welcome.reject(closed);
      this._fatal = closed;
    }
    if (m.req) {
      const h = this._pending.get(m.req);
      if (h) h(m);
      return;
    }
    const s = m.sid ? this._sessions.get(m.sid) : null;
    if (s) {
      s._push({ type: 'error', sid: m.sid, error: err });
    } else if (this.onError) {
      this.onError(err);
    }
  }

  // A protocol violation: nothing after it can be trusted; close.
  _fail(err) {
    if (this._closed) return;
    this._fatal = new ConnectionClosed(`protocol violation: ${err.message}`, err);
    this._onClose(this._fatal);
    this._transportClosed = true;
    this.transport.close();
  }

  _onClose(err) {
    if (this._closed) return;
    const closed = this._fatal || err
      || new ConnectionClosed(this._closing ? 'the client closed the connection'
        : 'the server closed the connection');
    this._closed = closed instanceof ConnectionClosed ? closed
      : new ConnectionClosed(closed.message, closed);
    this._welcome.reject(this._closed);
    const pending = [...this._pending.values()];
    this._pending.clear();
    for (const h of pending) h({ type: 'closed' });
    const sessionErr = this._closing ? null : this._closed;
    for (const s of this._sessions.values()) s._end(sessionErr);
    for (const s of this._attaching.values()) s._end(sessionErr);
    this._sessions.clear();
    this._attaching.clear();
    if (this._events) this._events._end(sessionErr);
    this._done.resolve();
  }

  // ---- requests -----------------------------------------------------------------------

  _needVersion(v, what) {
    if (this.version < v) {
      throw new Unsupported(`${what} needs protocol version ${v}; this server speaks ${this.version}`);
    }
  }

  // Starts a session: {argv, name, cwd, env, cols, rows}. Resolves {sid, pid}.
  async create(opts) {
    const body = (r) => codec.encodeCreate(r, opts);
    const m = await this._request(body);
    return { sid: m.sid, pid: m.pid };
  }

  // Attaches to a session; resolves the Session once ATTACHED arrived. opts.from: an
  // offset (default 0), {tail: bytes}, 'live', or 'snapshot' (v3 with the TERMINAL flag:
  // the first event is the screen, then output from its offset); opts.mode
  // 'interactive' (default) or 'read-only'; opts.cols/rows resize (interactive).
  // Attaching again to the same session replaces the attachment: the old Session ends.
  attach(sid, opts = {}) {
    const mode = modeOf(opts.mode);
    let kind = codec.FROM_OFFSET;
    let from = 0;
    const f = opts.from ?? 0;
    if (f === 'live') kind = codec.FROM_LIVE;
    else if (f === 'snapshot') kind = codec.FROM_SNAPSHOT;
    else if (typeof f === 'object' && f !== null && 'tail' in f) {
      kind = codec.FROM_TAIL;
      from = f.tail;
    } else if (typeof f === 'number' && f >= 0) from = f;
    else return Promise.reject(new RangeError(`attach from ${f}`));
    if (kind === codec.FROM_SNAPSHOT && this.version < 3) {
      return Promise.reject(new Unsupported('attach from a snapshot needs protocol version 3'));
    }
    const old = this._sessions.get(sid);
    if (old) this._attaching.set(sid, old);
    const p = this._request(
      (r) => codec.encodeAttach(r, sid, mode, kind, from, opts.cols || 0, opts.rows || 0),
      (m, done) => done(this._attached(m, mode, kind, from)),
    );
    return p.finally(() => {
      if (this._attaching.get(sid) === old) this._attaching.delete(sid);
    });
  }

  // ATTACHED: a new Session replaces any earlier attachment to the session.
  _attached(m, mode, kind, from) {
    if (m.type !== 'attached') throw new ProtocolViolation(`${m.type} in reply to ATTACH`);
    let pos;
    if (kind === codec.FROM_OFFSET) pos = from;
    else if (kind === codec.FROM_TAIL) pos = Math.max(m.start, m.end - from);
    else pos = m.end;
    const old = this._attaching.get(m.sid) || this._sessions.get(m.sid);
    this._attaching.delete(m.sid);
    if (old) old._end();
    const s = new Session(this, m.sid, mode, m, pos);
    this._sessions.set(m.sid, s);
    return s;
  }

  // Creates a session and attaches to it atomically (OPEN, v3 flag OPEN): no output is
  // lost whatever its rate. opts: as create(), plus attach (default true), mode, hold
  // (without attach: the output waits for the first attach of anyone). Resolves the
  // Session (with .pid), or {sid, pid} when not attaching. With opts.fallback and a
  // server without OPEN: CREATE then ATTACH from 0 (a fast program may then have
  // scrolled past a small scrollback: the Session's first event is a GAP).
  async open(opts) {
    const attach = opts.attach ?? true;
    const mode = modeOf(opts.mode);
    if (!this.has(codec.WELCOME_F_OPEN)) {
      if (!opts.fallback) throw new Unsupported('this server does not accept OPEN (WELCOME flags)');
      const c = await this.create(opts);
      if (!attach) return c;
      const s = await this.attach(c.sid, { mode, from: 0 });
      s.pid = c.pid;
      return s;
    }
    const flags = (attach ? codec.OPEN_F_ATTACH : 0) | (opts.hold ? codec.OPEN_F_HOLD : 0);
    let created = null;
    return this._request((r) => codec.encodeOpen(r, flags, mode, opts), (m, done) => {
      if (m.type === 'created') {
        created = m;
        if (!attach) done({ sid: m.sid, pid: m.pid });
        return;
      }
      if (!created) throw new ProtocolViolation(`${m.type} before CREATED in reply to OPEN`);
      const s = this._attached(m, mode, codec.FROM_OFFSET, 0);
      s.pid = created.pid;
      done(s);
    });
  }

  // Ends the attachment; its Session's stream ends (read() returns null).
  async detach(sid) {
    await this._request((r) => codec.encodeDetach(r, sid));
    const s = this._sessions.get(sid);
    if (s) {
      this._sessions.delete(sid);
      s._end();
    }
  }

  // Sends signal signo (0: SIGHUP to the process group, then SIGKILL).
  async signal(sid, signo = 0) {
    await this._request((r) => codec.encodeSignal(r, sid, signo));
  }

  kill(sid) {
    return this.signal(sid, 0);
  }

  // Forgets an exited session.
  async remove(sid) {
    await this._request((r) => codec.encodeRemove(r, sid));
  }

  // Every session: [{sid, pid, state, stateName, level, levelName, clients, exitCode,
  // exitSignal, cols, rows, bytesOut, createdMs, name, command}], plus on version 3
  // {class, className, bells, lastOutputMs, title, cwd}.
  list() {
    const acc = [];
    return this._request(codec.encodeList, (m, done) => {
      if (m.type !== 'list') throw new ProtocolViolation(`${m.type} in reply to LIST`);
      acc.push(...m.sessions);
      if (!m.more) done(acc);
    });
  }

  // Fire-and-forget input (INPUT); a failure arrives as an {type: 'error'} event of the
  // session's attachment (or onError).
  input(sid, data) {
    this._send(codec.encodeInput(sid, data));
  }

  // Resizes (needs an interactive attachment); failures as for input().
  resize(sid, cols, rows) {
    this._send(codec.encodeResize(sid, cols, rows));
  }

  // Acknowledges output by hand (for ackPaced clients that read with read() but want to
  // ACK later, e.g. after rendering).
  ack(sid, offset) {
    this._send(codec.encodeAck(sid, offset));
  }

  // Acknowledged input: resolves once every byte was written to the session's terminal.
  // Data goes in WRITEs of at most 64 KiB, at most 256 KiB unacknowledged; a WRITE
  // refused with `limit` (the program does not read) is resent with RESUME until it
  // fits, so this waits as long as the program does not read. Writes to one session
  // run one after the other, in call order. opts.onAck(n): n bytes acknowledged so far.
  // Rejects with PtyhubError (exited, no_such_session, read_only, ...).
  write(sid, data, opts = {}) {
    if (!this.has(codec.WELCOME_F_WRITE)) {
      return Promise.reject(new Unsupported('this server does not accept WRITE (WELCOME flags)'));
    }
    const bytes = codec.toBytes(data);
    return this._serialize(sid, () => this._runPlan(sid, new WritePlan(bytes, {
      resumeFirst: this._abandoned.has(sid),
    }), (req, resume, chunk) => codec.encodeWrite(req, sid, chunk,
      resume ? codec.WRITE_F_RESUME : 0), opts.onAck));
  }

  // Pastes text as one unit, acknowledged like write(): line endings become \r; the
  // server brackets it (ESC[200~ ... ESC[201~) when the program enabled bracketed paste;
  // opts.enter adds "\r" in the same unit. A server without PASTE (v2) gets the
  // normalized text (and "\r") as one WRITE, unbracketed.
  paste(sid, text, opts = {}) {
    const raw = codec.toBytes(text);
    if (!this.has(codec.WELCOME_F_PASTE)) {
      const norm = normalizePaste(raw);
      const data = new Uint8Array(norm.length + (opts.enter ? 1 : 0));
      data.set(norm);
      if (opts.enter) data[norm.length] = 0x0d;
      return this.write(sid, data, opts);
    }
    if (raw.length > codec.MAX_BODY - 10) {
      return Promise.reject(new RangeError(`a paste of ${raw.length} bytes does not fit in one message`));
    }
    const base = opts.enter ? codec.PASTE_F_ENTER : 0;
    return this._serialize(sid, () => this._runPlan(sid, new WritePlan(raw, {
      chunk: Infinity, resumeFirst: this._abandoned.has(sid),
    }), (req, resume, chunk) => codec.encodePaste(req, sid, chunk,
      base | (resume ? codec.PASTE_F_RESUME : 0)), opts.onAck));
  }

  // Runs fn after the previous write to sid has settled.
  _serialize(sid, fn) {
    const prev = this._wchain.get(sid) || Promise.resolve();
    const p = prev.then(fn, fn);
    const tail = p.catch(() => {});
    this._wchain.set(sid, tail);
    tail.then(() => {
      if (this._wchain.get(sid) === tail) this._wchain.delete(sid);
    });
    return p;
  }

  // Drives one WritePlan to its end: sends what the window allows, resends refusals.
  _runPlan(sid, plan, encode, onAck) {
    const d = deferred();
    let over = false;
    let timer = 0;
    const finish = (err) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      for (const req of plan.inflight.keys()) this._pending.delete(req);
      if (err) {
        this._abandoned.add(sid);
        d.reject(err);
      } else {
        d.resolve();
      }
    };
    const onReply = (req, m) => {
      if (over) return;
      this._pending.delete(req);
      try {
        if (m.type === 'ok') {
          const n = plan.onOk(req);
          if (onAck) onAck(n);
        } else if (m.type === 'error' && m.code === codes.LIMIT && !this._closed) {
          this.writeRefusals++;
          const delay = plan.onLimit(req);
          clearTimeout(timer);
          timer = setTimeout(() => {
            plan.retryReady = true;
            pump();
          }, delay);
        } else if (m.type === 'error') {
          finish(new PtyhubError(m.code, m.message, m.req, m.sid));
          return;
        } else if (m.type === 'closed') {
          finish(this._closed);
          return;
        } else {
          finish(new ProtocolViolation(`${m.type} in reply to WRITE`));
          return;
        }
      } catch (e) {
        finish(e);
        return;
      }
      if (plan.finished) finish(null);
      else pump();
    };
    const pump = () => {
      if (over) return;
      try {
        for (const { req, resume, chunk } of plan.toSend(() => this._newReq())) {
          this._pending.set(req, (m) => onReply(req, m));
          this._send(encode(req, resume, chunk));
        }
      } catch (e) {
        finish(e);
      }
    };
    this._abandoned.delete(sid);
    pump();
    return d.promise;
  }

  // The screen now (v3, TERMINAL flag): {sid, offset, cols, rows, cursor: {col, row,
  // visible}, altScreen, modes, title, data, text}. opts.ansi: data is the snapshot
  // byte sequence (text is then undefined).
  async screen(sid, opts = {}) {
    this._needVersion(3, 'SCREEN');
    const ansi = !!opts.ansi;
    const m = await this._request((r) => codec.encodeScreen(r, sid, ansi ? codec.SCREEN_F_ANSI : 0));
    if (m.type !== 'screen') throw new ProtocolViolation(`${m.type} in reply to SCREEN`);
    if (!ansi) m.text = new TextDecoder().decode(m.data);
    return m;
  }

  // Waits for the screen (v3, TERMINAL flag): opts.text (a POSIX extended regex) and/or
  // opts.idleMs; opts.after (only output past this offset counts); opts.timeoutMs.
  // Resolves {reason: 'text'|'idle'|'timeout'|'exited', offset}.
  async wait(sid, opts = {}) {
    this._needVersion(3, 'WAIT');
    let flags = 0;
    if (opts.text) flags |= codec.WAIT_F_TEXT;
    if (opts.idleMs) flags |= codec.WAIT_F_IDLE;
    if (!flags) throw new RangeError('wait needs text or idleMs');
    const m = await this._request((r) => codec.encodeWait(r, sid, flags, opts.after ?? 0,
      opts.idleMs ?? 0, opts.timeoutMs ?? 0, opts.text ?? ''));
    if (m.type !== 'waited') throw new ProtocolViolation(`${m.type} in reply to WAIT`);
    return m;
  }

  // Subscribes to lifecycle events of every session (v3, EVENTS flag); resolves an
  // EventStream (async iterable). opts.mask: bit k = kind k (default all); opts.limit:
  // events kept for a consumer that does not read (default 1024).
  async subscribe(opts = {}) {
    if (!this.has(codec.WELCOME_F_EVENTS)) {
      throw new Unsupported('this server does not send EVENTs (WELCOME flags)');
    }
    const stream = new EventStream(this, opts.limit ?? EVENT_QUEUE);
    const prev = this._events;
    this._events = stream;
    if (prev) prev._end();
    try {
      await this._request((r) => codec.encodeEvents(r, opts.mask ?? codec.EVENTS_ALL));
    } catch (e) {
      if (this._events === stream) this._events = null;
      throw e;
    }
    return stream;
  }

  // The Session of an attachment of this connection, if any.
  session(sid) {
    return this._sessions.get(sid) || null;
  }

  // Closes the connection (a stdio child then ends every session and exits). Sessions'
  // streams end (read() returns null once their queue is empty).
  async close() {
    if (!this._closed) this._closing = true;
    if (!this._transportClosed) {
      this._transportClosed = true; // also after the server closed: a stdio child is reaped
      this.transport.close();
    }
    await this._done.promise;
    if (this.transport.closed) await this.transport.closed;
  }
}
