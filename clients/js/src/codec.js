// codec: the ptyhub session protocol, version 3 (docs/protocol.md), as pure functions.
// A body is a type byte and a payload, integers little-endian. Encoders return a
// Uint8Array body (no length prefix: frame() adds it for byte streams). decode() takes a
// server body and returns a plain object with a `type` name, null for a type this client
// does not know (the protocol asks clients to ignore those), and throws DecodeError for a
// malformed one. No I/O, no Node APIs: the same module runs in browsers.

export const VERSION = 3;
export const MAGIC = 0x48595450; // "PTYH" little-endian
export const MAX_BODY = 1 << 20;
export const OUTPUT_MAX = MAX_BODY - 13;
export const MAX_STR16 = 0xffff;
export const MAX_DIM = 10000;

export const T = Object.freeze({
  HELLO: 0x01, CREATE: 0x02, ATTACH: 0x03, DETACH: 0x04, INPUT: 0x05, RESIZE: 0x06,
  SIGNAL: 0x07, LIST: 0x08, ACK: 0x09, REMOVE: 0x0a, WRITE: 0x0b, SCREEN: 0x0c, WAIT: 0x0d,
  OPEN: 0x0e, EVENTS: 0x0f, PASTE: 0x10,
  WELCOME: 0x81, CREATED: 0x82, ATTACHED: 0x83, OK: 0x84, LIST_REPLY: 0x85,
  SCREEN_REPLY: 0x86, WAITED: 0x87,
  OUTPUT: 0x90, EXIT: 0x91, GAP: 0x92, RESIZED: 0x93, SNAPSHOT: 0x94, EVENT: 0x95,
  ERROR: 0xe0,
});

export const HELLO_F_ACK = 0x0001; // the client paces output with ACK
export const HELLO_F_HOLD = 0x0002; // version 2+: hold the program by what was rendered

export const WELCOME_F_WRITE = 1 << 0;
export const WELCOME_F_RESIZED = 1 << 1;
export const WELCOME_F_TERMINAL = 1 << 2; // v3: SCREEN, WAIT, snapshot attach, PASTE bracketing
export const WELCOME_F_OPEN = 1 << 3;
export const WELCOME_F_EVENTS = 1 << 4;
export const WELCOME_F_PASTE = 1 << 5;

export const MODE_INTERACTIVE = 0;
export const MODE_READ_ONLY = 1;

export const FROM_OFFSET = 0;
export const FROM_TAIL = 1;
export const FROM_LIVE = 2;
export const FROM_SNAPSHOT = 3; // v3

export const WRITE_F_RESUME = 0x01;
export const PASTE_F_ENTER = 0x01;
export const PASTE_F_RESUME = 0x02;
export const SCREEN_F_ANSI = 0x01;
export const WAIT_F_TEXT = 0x01;
export const WAIT_F_IDLE = 0x02;
export const OPEN_F_ATTACH = 0x01;
export const OPEN_F_HOLD = 0x02;
export const LIST_F_MORE = 0x01;
export const LIST_F_EXT = 0x02;
export const SCREEN_REPLY_F_CURSOR_VISIBLE = 0x01;
export const SCREEN_REPLY_F_ALT_SCREEN = 0x02;

export const WAITED_REASONS = Object.freeze({ 1: 'text', 2: 'idle', 3: 'timeout', 4: 'exited' });

export const EV = Object.freeze({
  CREATED: 1, EXITED: 2, REMOVED: 3, RESIZED: 4, TITLE: 5, DROPPED: 6,
});
export const EVENT_NAMES = Object.freeze({
  1: 'created', 2: 'exited', 3: 'removed', 4: 'resized', 5: 'title', 6: 'dropped',
});
// A mask with every event kind this codec knows (bit k = kind k).
export const EVENTS_ALL = (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6);

// The VT_MODE_* bits of SCREEN_REPLY.modes (src/term/vt.h).
export const VT_MODE = Object.freeze({
  ALTSCREEN: 1 << 0, CURSOR_KEYS: 1 << 1, BRACKETED_PASTE: 1 << 2, MOUSE_X10: 1 << 3,
  MOUSE_NORMAL: 1 << 4, MOUSE_BUTTON: 1 << 5, MOUSE_ANY: 1 << 6, MOUSE_SGR: 1 << 7,
  FOCUS: 1 << 8, AUTOWRAP: 1 << 9, ORIGIN: 1 << 10, CURSOR_VISIBLE: 1 << 11,
  KEYPAD_APP: 1 << 12, INSERT: 1 << 13,
});

export const STATES = Object.freeze(['running', 'exited']);
export const LEVELS = Object.freeze(['none', 'light', 'moderate', 'heavy', 'blocked']);
export const CLASSES = Object.freeze(['interactive', 'bulk']);

export const ERROR_NAMES = Object.freeze({
  1: 'bad_frame', 2: 'too_large', 3: 'unknown_type', 4: 'version', 5: 'not_hello',
  6: 'no_such_session', 7: 'spawn_failed', 8: 'bad_argument', 9: 'limit',
  10: 'not_attached', 11: 'read_only', 12: 'exited', 13: 'internal', 14: 'auth',
  15: 'unavailable',
});
export const ERROR_CODES = Object.freeze(Object.fromEntries(
  Object.entries(ERROR_NAMES).map(([k, v]) => [v, Number(k)])));
// Errors after which the server closes the connection.
export const ERRORS_CLOSING = Object.freeze([1, 2, 4, 5, 14]);

// A server body that breaks the protocol: truncated, trailing bytes, bad lengths.
export class DecodeError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DecodeError';
  }
}

const utf8 = new TextEncoder();
const text = new TextDecoder('utf-8');

// Bytes of a string (UTF-8) or a byte array as it is.
export function toBytes(data) {
  if (typeof data === 'string') return utf8.encode(data);
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('expected a string or bytes');
}

// ---- encoding ------------------------------------------------------------------------

// A growable little-endian writer for bodies of unknown size.
class Writer {
  constructor(n = 64) {
    this.b = new Uint8Array(n);
    this.v = new DataView(this.b.buffer);
    this.n = 0;
  }

  room(k) {
    if (this.n + k <= this.b.length) return;
    const nb = new Uint8Array(Math.max(this.b.length * 2, this.n + k));
    nb.set(this.b.subarray(0, this.n));
    this.b = nb;
    this.v = new DataView(nb.buffer);
  }

  u8(x) { this.room(1); this.b[this.n++] = x; return this; }
  u16(x) { this.room(2); this.v.setUint16(this.n, x, true); this.n += 2; return this; }
  u32(x) { this.room(4); this.v.setUint32(this.n, x >>> 0, true); this.n += 4; return this; }
  u64(x) { this.room(8); this.v.setBigUint64(this.n, BigInt(x), true); this.n += 8; return this; }
  bytes(x) { this.room(x.length); this.b.set(x, this.n); this.n += x.length; return this; }

  str16(s) {
    const x = toBytes(s || '');
    if (x.length > MAX_STR16) throw new RangeError(`string of ${x.length} bytes (max ${MAX_STR16})`);
    return this.u16(x.length).bytes(x);
  }

  // A block: each string then a NUL; argument checks as the server makes them.
  block(list, what) {
    const parts = list.map((s) => toBytes(s));
    for (const p of parts) {
      if (p.includes(0)) throw new RangeError(`${what}: a string holds a NUL byte`);
    }
    const len = parts.reduce((a, p) => a + p.length + 1, 0);
    this.u16(parts.length).u32(len);
    for (const p of parts) this.bytes(p).u8(0);
    return this;
  }

  done() { return this.b.slice(0, this.n); }
}

// HELLO: the highest version this client speaks, and flags (HELLO_F_*).
export function encodeHello(flags = 0, version = VERSION) {
  return new Writer(9).u8(T.HELLO).u32(MAGIC).u16(version).u16(flags).done();
}

// env as an object {KEY: VALUE} or a list of "KEY=VALUE" strings.
function envList(env) {
  if (!env) return [];
  if (Array.isArray(env)) return env;
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

// CREATE's payload after req: size, name, cwd, argv, env (shared with OPEN).
function createPayload(w, o) {
  const argv = o.argv;
  if (!Array.isArray(argv) || argv.length === 0) throw new RangeError('argv needs at least one string');
  const cols = o.cols || 0;
  const rows = o.rows || 0;
  w.u16(cols).u16(rows).str16(o.name || '').str16(o.cwd || '');
  w.block(argv, 'argv').block(envList(o.env), 'env');
  return w;
}

// CREATE: {argv, name, cwd, env, cols, rows}; cols/rows 0 = the server's default size.
export function encodeCreate(req, o) {
  return createPayload(new Writer(128).u8(T.CREATE).u32(req), o).done();
}

// OPEN (v3): CREATE, and with OPEN_F_ATTACH attach this connection from offset 0 in
// `mode`; with OPEN_F_HOLD the output waits for the first ATTACH of anyone.
export function encodeOpen(req, flags, mode, o) {
  return createPayload(new Writer(128).u8(T.OPEN).u32(req).u8(flags).u8(mode), o).done();
}

// ATTACH: fromKind FROM_*; `from` an offset or a byte count; cols/rows 0 keep the size.
export function encodeAttach(req, sid, mode = MODE_INTERACTIVE, fromKind = FROM_OFFSET, from = 0,
  cols = 0, rows = 0) {
  return new Writer(25).u8(T.ATTACH).u32(req).u32(sid).u8(mode).u8(fromKind).u16(0).u64(from)
    .u16(cols).u16(rows).done();
}

export function encodeDetach(req, sid) {
  return new Writer(9).u8(T.DETACH).u32(req).u32(sid).done();
}

export function encodeInput(sid, data) {
  const d = toBytes(data);
  return new Writer(5 + d.length).u8(T.INPUT).u32(sid).bytes(d).done();
}

export function encodeResize(sid, cols, rows) {
  return new Writer(9).u8(T.RESIZE).u32(sid).u16(cols).u16(rows).done();
}

// SIGNAL: signo 1..64, or 0 for "kill" (SIGHUP to the group, then SIGKILL).
export function encodeSignal(req, sid, signo = 0) {
  return new Writer(10).u8(T.SIGNAL).u32(req).u32(sid).u8(signo).done();
}

export function encodeList(req) {
  return new Writer(5).u8(T.LIST).u32(req).done();
}

// ACK: every output byte of sid below offset has been consumed.
export function encodeAck(sid, offset) {
  return new Writer(13).u8(T.ACK).u32(sid).u64(offset).done();
}

export function encodeRemove(req, sid) {
  return new Writer(9).u8(T.REMOVE).u32(req).u32(sid).done();
}

// WRITE: acknowledged input (OK once written to the PTY); flags WRITE_F_RESUME.
export function encodeWrite(req, sid, data, flags = 0) {
  const d = toBytes(data);
  return new Writer(10 + d.length).u8(T.WRITE).u32(req).u32(sid).u8(flags).bytes(d).done();
}

// SCREEN (v3): flags SCREEN_F_ANSI for the snapshot bytes instead of text.
export function encodeScreen(req, sid, flags = 0) {
  return new Writer(10).u8(T.SCREEN).u32(req).u32(sid).u8(flags).done();
}

// WAIT (v3): flags WAIT_F_TEXT (regex) and/or WAIT_F_IDLE (idleMs); timeoutMs 0 = none.
export function encodeWait(req, sid, flags, after = 0, idleMs = 0, timeoutMs = 0, regex = '') {
  const r = toBytes(regex);
  return new Writer(26 + r.length).u8(T.WAIT).u32(req).u32(sid).u8(flags).u64(after).u32(idleMs)
    .u32(timeoutMs).bytes(r).done();
}

// EVENTS (v3): subscribe to the event kinds in mask (bit k = kind k); 0 unsubscribes.
export function encodeEvents(req, mask = EVENTS_ALL) {
  return new Writer(9).u8(T.EVENTS).u32(req).u32(mask).done();
}

// PASTE (v3): text as one unit, bracketed when the program asked; flags PASTE_F_*.
export function encodePaste(req, sid, data, flags = 0) {
  const d = toBytes(data);
  return new Writer(10 + d.length).u8(T.PASTE).u32(req).u32(sid).u8(flags).bytes(d).done();
}

// ---- framing (byte streams: Unix socket, stdio) ----------------------------------------

// A body with its u32 length in front.
export function frame(body) {
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, 4);
  return out;
}

// Cuts a byte stream into bodies. feed() chunks of any size (they are kept, not copied,
// until a body spans several); next() returns the next whole body or null. A length of
// 0 or over MAX_BODY throws DecodeError as soon as its 4 bytes are in.
export class FrameSplitter {
  constructor(maxBody = MAX_BODY) {
    this.max = maxBody;
    this.chunks = [];
    this.ci = 0; // index of the first chunk still holding bytes
    this.head = 0; // bytes of chunks[ci] already taken
    this.buffered = 0;
  }

  feed(chunk) {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  // Drops chunks[ci] once it is used up (compacting the array now and then).
  advance() {
    this.chunks[this.ci++] = undefined;
    this.head = 0;
    if (this.ci === this.chunks.length) {
      this.chunks = [];
      this.ci = 0;
    } else if (this.ci > 1024 && this.ci * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.ci);
      this.ci = 0;
    }
  }

  // n bytes from the front, as one array (a view when they sit in one chunk).
  take(n) {
    const c0 = this.chunks[this.ci];
    let out;
    if (c0.length - this.head >= n) {
      out = c0.subarray(this.head, this.head + n);
      this.head += n;
      if (this.head === c0.length) this.advance();
    } else {
      out = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        const c = this.chunks[this.ci];
        const k = Math.min(n - got, c.length - this.head);
        out.set(c.subarray(this.head, this.head + k), got);
        got += k;
        this.head += k;
        if (this.head === c.length) this.advance();
      }
    }
    this.buffered -= n;
    return out;
  }

  // The u32 at the front, without taking it.
  peekLen() {
    const c0 = this.chunks[this.ci];
    if (c0.length - this.head >= 4) {
      return (c0[this.head] | (c0[this.head + 1] << 8) | (c0[this.head + 2] << 16)
        | (c0[this.head + 3] << 24)) >>> 0;
    }
    let x = 0;
    let got = 0;
    let i = this.ci;
    let pos = this.head;
    while (got < 4) {
      const c = this.chunks[i];
      for (; pos < c.length && got < 4; pos++) x += c[pos] * 2 ** (8 * got++);
      i++;
      pos = 0;
    }
    return x;
  }

  // How many more bytes the body at the front needs (4 when nothing is buffered).
  wanted() {
    if (this.buffered < 4) return 4 - this.buffered;
    return Math.max(0, 4 + this.peekLen() - this.buffered);
  }

  next() {
    if (this.buffered < 4) return null;
    const n = this.peekLen();
    if (n === 0) throw new DecodeError('frame length 0');
    if (n > this.max) throw new DecodeError(`frame length ${n} over ${this.max}`);
    if (this.buffered < 4 + n) return null;
    this.take(4);
    return this.take(n);
  }
}

// ---- decoding ------------------------------------------------------------------------

// Offsets are u64 on the wire; a JS number is exact up to 2^53 bytes (8 PiB).
class Reader {
  constructor(b, what) {
    this.b = b;
    this.v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.p = 1;
    this.what = what;
  }

  need(k) {
    if (this.p + k > this.b.length) {
      throw new DecodeError(`${this.what}: truncated (${this.b.length} bytes)`);
    }
  }

  u8() { this.need(1); return this.b[this.p++]; }
  u16() { this.need(2); const x = this.v.getUint16(this.p, true); this.p += 2; return x; }
  u32() { this.need(4); const x = this.v.getUint32(this.p, true); this.p += 4; return x; }
  i32() { this.need(4); const x = this.v.getInt32(this.p, true); this.p += 4; return x; }
  u64() { this.need(8); const x = Number(this.v.getBigUint64(this.p, true)); this.p += 8; return x; }
  bytes(n) { this.need(n); const x = this.b.subarray(this.p, this.p + n); this.p += n; return x; }
  str16() { return text.decode(this.bytes(this.u16())); }
  rest() { const x = this.b.subarray(this.p); this.p = this.b.length; return x; }

  end() {
    if (this.p !== this.b.length) {
      throw new DecodeError(`${this.what}: ${this.b.length - this.p} trailing bytes`);
    }
  }
}

// One LIST_REPLY entry; the v3 extension when ext.
function listEntry(r, ext) {
  const e = {
    sid: r.u32(), pid: r.i32(), state: r.u8(), level: r.u8(), clients: r.u16(),
    exitCode: r.i32(), exitSignal: r.i32(), cols: r.u16(), rows: r.u16(),
    bytesOut: r.u64(), createdMs: r.u64(), name: r.str16(), command: r.str16(),
  };
  e.stateName = STATES[e.state] || `state_${e.state}`;
  e.levelName = LEVELS[e.level] || `level_${e.level}`;
  if (ext) {
    e.class = r.u8();
    e.className = CLASSES[e.class] || `class_${e.class}`;
    e.bells = r.u32();
    e.lastOutputMs = r.u64();
    e.title = r.str16();
    e.cwd = r.str16();
  }
  return e;
}

// One EVENT's fields after type, kind, sid, time.
function eventFields(r, ev) {
  switch (ev.kind) {
    case EV.CREATED:
      ev.pid = r.i32(); ev.cols = r.u16(); ev.rows = r.u16();
      ev.name = r.str16(); ev.command = r.str16();
      break;
    case EV.EXITED:
      ev.code = r.i32(); ev.signal = r.i32(); ev.end = r.u64();
      break;
    case EV.REMOVED:
      break;
    case EV.RESIZED:
      ev.cols = r.u16(); ev.rows = r.u16();
      break;
    case EV.TITLE:
      ev.title = r.str16();
      break;
    case EV.DROPPED:
      ev.count = r.u32();
      break;
    default:
      ev.data = r.rest(); // a kind this client does not know: kept raw
      break;
  }
}

// Decodes one server body (a Uint8Array, or an ArrayBuffer). See the module comment.
export function decode(body) {
  const b = body instanceof Uint8Array ? body : new Uint8Array(body);
  if (b.length === 0) throw new DecodeError('empty body');
  const type = b[0];
  let m;
  const r = new Reader(b, `type 0x${type.toString(16)}`);
  switch (type) {
    case T.WELCOME:
      m = { type: 'welcome', version: r.u16(), flags: r.u16(), pid: r.u32(),
        serverVersion: text.decode(r.rest()) };
      break;
    case T.CREATED:
      m = { type: 'created', req: r.u32(), sid: r.u32(), pid: r.i32() };
      break;
    case T.ATTACHED:
      m = { type: 'attached', req: r.u32(), sid: r.u32(), start: r.u64(), end: r.u64(),
        cols: r.u16(), rows: r.u16(), state: r.u8() };
      m.exited = m.state === 1;
      break;
    case T.OK:
      m = { type: 'ok', req: r.u32() };
      break;
    case T.LIST_REPLY: {
      m = { type: 'list', req: r.u32(), flags: r.u8() };
      const count = r.u16();
      m.more = (m.flags & LIST_F_MORE) !== 0;
      const ext = (m.flags & LIST_F_EXT) !== 0;
      m.sessions = [];
      for (let i = 0; i < count; i++) m.sessions.push(listEntry(r, ext));
      break;
    }
    case T.SCREEN_REPLY: {
      m = { type: 'screen', req: r.u32(), sid: r.u32(), offset: r.u64(), cols: r.u16(),
        rows: r.u16() };
      const col = r.u16();
      const row = r.u16();
      const flags = r.u8();
      m.cursor = { col, row, visible: (flags & SCREEN_REPLY_F_CURSOR_VISIBLE) !== 0 };
      m.altScreen = (flags & SCREEN_REPLY_F_ALT_SCREEN) !== 0;
      m.flags = flags;
      m.modes = r.u32();
      m.title = r.str16();
      m.data = r.rest();
      break;
    }
    case T.WAITED:
      m = { type: 'waited', req: r.u32(), sid: r.u32(), reasonCode: r.u8(), offset: r.u64() };
      m.reason = WAITED_REASONS[m.reasonCode] || `reason_${m.reasonCode}`;
      break;
    case T.OUTPUT:
      m = { type: 'output', sid: r.u32(), offset: r.u64(), data: r.rest() };
      break;
    case T.EXIT:
      m = { type: 'exit', sid: r.u32(), end: r.u64(), code: r.i32(), signal: r.i32() };
      break;
    case T.GAP:
      m = { type: 'gap', sid: r.u32(), from: r.u64(), to: r.u64() };
      break;
    case T.RESIZED:
      m = { type: 'resized', sid: r.u32(), cols: r.u16(), rows: r.u16() };
      break;
    case T.SNAPSHOT:
      m = { type: 'snapshot', sid: r.u32(), offset: r.u64(), data: r.rest() };
      break;
    case T.EVENT: {
      const kind = r.u8();
      m = { type: 'event', kind, event: EVENT_NAMES[kind] || `event_${kind}`, sid: r.u32(),
        timeMs: r.u64() };
      eventFields(r, m);
      break;
    }
    case T.ERROR: {
      m = { type: 'error', req: r.u32(), sid: r.u32(), code: r.u16() };
      m.name = ERROR_NAMES[m.code] || `error_${m.code}`;
      m.message = text.decode(r.rest());
      break;
    }
    default:
      return null;
  }
  r.end();
  return m;
}

// ---- requests (client → server), decoded: for tests, proxies and tools ---------------

// A NUL-terminated block of count strings, exactly len bytes.
function readBlock(r) {
  const count = r.u16();
  const blk = r.bytes(r.u32());
  const out = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    const z = blk.indexOf(0, p);
    if (z < 0) throw new DecodeError(`${r.what}: block ends inside string ${i}`);
    out.push(text.decode(blk.subarray(p, z)));
    p = z + 1;
  }
  if (p !== blk.length) throw new DecodeError(`${r.what}: ${blk.length - p} bytes after the block`);
  return out;
}

function readCreate(r, m) {
  m.cols = r.u16(); m.rows = r.u16(); m.name = r.str16(); m.cwd = r.str16();
  m.argv = readBlock(r); m.env = readBlock(r);
  return m;
}

// Decodes a client body into the arguments of its encoder; null for an unknown type.
// encodeRequest(decodeRequest(b)) reproduces b.
export function decodeRequest(body) {
  const b = body instanceof Uint8Array ? body : new Uint8Array(body);
  if (b.length === 0) throw new DecodeError('empty body');
  const r = new Reader(b, `type 0x${b[0].toString(16)}`);
  let m;
  switch (b[0]) {
    case T.HELLO: {
      const magic = r.u32();
      if (magic !== MAGIC) throw new DecodeError('HELLO: bad magic');
      m = { type: 'hello', version: r.u16(), flags: r.u16() };
      break;
    }
    case T.CREATE: m = readCreate(r, { type: 'create', req: r.u32() }); break;
    case T.OPEN:
      m = readCreate(r, { type: 'open', req: r.u32(), flags: r.u8(), mode: r.u8() });
      break;
    case T.ATTACH:
      m = { type: 'attach', req: r.u32(), sid: r.u32(), mode: r.u8(), fromKind: r.u8() };
      r.u16();
      m.from = r.u64(); m.cols = r.u16(); m.rows = r.u16();
      break;
    case T.DETACH: m = { type: 'detach', req: r.u32(), sid: r.u32() }; break;
    case T.INPUT: m = { type: 'input', sid: r.u32(), data: r.rest() }; break;
    case T.RESIZE: m = { type: 'resize', sid: r.u32(), cols: r.u16(), rows: r.u16() }; break;
    case T.SIGNAL: m = { type: 'signal', req: r.u32(), sid: r.u32(), signo: r.u8() }; break;
    case T.LIST: m = { type: 'list', req: r.u32() }; break;
    case T.ACK: m = { type: 'ack', sid: r.u32(), offset: r.u64() }; break;
    case T.REMOVE: m = { type: 'remove', req: r.u32(), sid: r.u32() }; break;
    case T.WRITE:
      m = { type: 'write', req: r.u32(), sid: r.u32(), flags: r.u8(), data: r.rest() };
      break;
    case T.SCREEN: m = { type: 'screen', req: r.u32(), sid: r.u32(), flags: r.u8() }; break;
    case T.WAIT:
      m = { type: 'wait', req: r.u32(), sid: r.u32(), flags: r.u8(), after: r.u64(),
        idleMs: r.u32(), timeoutMs: r.u32() };
      m.regex = text.decode(r.rest());
      break;
    case T.EVENTS: m = { type: 'events', req: r.u32(), mask: r.u32() }; break;
    case T.PASTE:
      m = { type: 'paste', req: r.u32(), sid: r.u32(), flags: r.u8(), data: r.rest() };
      break;
    default:
      return null;
  }
  r.end();
  return m;
}

// Encodes what decodeRequest() returns.
export function encodeRequest(m) {
  switch (m.type) {
    case 'hello': return encodeHello(m.flags, m.version);
    case 'create': return encodeCreate(m.req, m);
    case 'open': return encodeOpen(m.req, m.flags, m.mode, m);
    case 'attach': return encodeAttach(m.req, m.sid, m.mode, m.fromKind, m.from, m.cols, m.rows);
    case 'detach': return encodeDetach(m.req, m.sid);
    case 'input': return encodeInput(m.sid, m.data);
    case 'resize': return encodeResize(m.sid, m.cols, m.rows);
    case 'signal': return encodeSignal(m.req, m.sid, m.signo);
    case 'list': return encodeList(m.req);
    case 'ack': return encodeAck(m.sid, m.offset);
    case 'remove': return encodeRemove(m.req, m.sid);
    case 'write': return encodeWrite(m.req, m.sid, m.data, m.flags);
    case 'screen': return encodeScreen(m.req, m.sid, m.flags);
    case 'wait': return encodeWait(m.req, m.sid, m.flags, m.after, m.idleMs, m.timeoutMs, m.regex);
    case 'events': return encodeEvents(m.req, m.mask);
    case 'paste': return encodePaste(m.req, m.sid, m.data, m.flags);
    default: throw new RangeError(`unknown request type ${m.type}`);
  }
}
