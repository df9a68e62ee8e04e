// The codec against docs/protocol.md: every worked hex example decodes strictly (server
// messages) or decodes and re-encodes to the same bytes (client messages), the v2
// examples decode to exactly the documented fields, and the version 3 messages of
// /work/round-spec.md encode and decode as laid out there. No daemon needed.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'node:test';

import * as codec from '../src/codec.js';
import { ROOT } from './daemon.mjs';

const hex = (s) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g).map((x) => parseInt(x, 16)));
const toHex = (b) => Buffer.from(b).toString('hex');

// Every hex dump (```-fenced, "0000  09 00 ...  |...|" lines) of docs/protocol.md's
// worked examples, with the heading above it.
function docDumps() {
  const doc = readFileSync(path.join(ROOT, 'docs', 'protocol.md'), 'utf8');
  const worked = doc.slice(doc.indexOf('## Worked examples'));
  const dumps = [];
  let heading = '';
  const lines = worked.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].startsWith('#')) heading = lines[i].replace(/^#+\s*/, '');
    if (lines[i].trim() !== '```' || !/^[0-9a-f]{4}  /.test(lines[i + 1] || '')) continue;
    const bytes = [];
    for (i++; lines[i].trim() !== '```'; i++) {
      const body = lines[i].split('|')[0].trim().split(/\s+/).slice(1);
      for (const t of body) if (/^[0-9a-f]{2}$/.test(t)) bytes.push(parseInt(t, 16));
    }
    dumps.push({ heading, bytes: Uint8Array.from(bytes) });
  }
  return dumps;
}

// The bodies of a byte stream, each frame fed in 3-byte pieces.
function bodies(stream) {
  const s = new codec.FrameSplitter();
  const out = [];
  for (let i = 0; i < stream.length; i += 3) {
    s.feed(stream.subarray(i, i + 3));
    for (let b; (b = s.next()) !== null;) out.push(Uint8Array.from(b));
  }
  assert.equal(s.buffered, 0, 'bytes left after the last frame');
  return out;
}

test('every worked example of docs/protocol.md decodes (and requests re-encode)', () => {
  const dumps = docDumps();
  assert.ok(dumps.length >= 16, `found only ${dumps.length} hex dumps in docs/protocol.md`);
  const types = new Set();
  for (const { heading, bytes } of dumps) {
    const bs = bodies(bytes);
    assert.equal(bs.length, 1, `${heading}: one frame`);
    const body = bs[0];
    types.add(body[0]);
    if (body[0] < 0x80) {
      const m = codec.decodeRequest(body);
      assert.ok(m, `${heading}: a request type this codec knows (0x${body[0].toString(16)})`);
      assert.equal(toHex(codec.encodeRequest(m)), toHex(body), `${heading}: re-encoded`);
    } else {
      const m = codec.decode(body);
      assert.ok(m, `${heading}: a reply type this codec knows (0x${body[0].toString(16)})`);
    }
  }
  // Every message of the documented version shows up in an example.
  for (const t of [0x01, 0x02, 0x03, 0x07, 0x09, 0x0b, 0x81, 0x82, 0x83, 0x84, 0x85, 0x90, 0x91,
    0x92, 0x93, 0xe0]) {
    assert.ok(types.has(t), `no worked example of type 0x${t.toString(16)}`);
  }
});

test('the version 2 examples, field by field', () => {
  assert.equal(toHex(codec.frame(codec.encodeHello(0, 2))), '090000000150545948' + '02000000');
  assert.equal(toHex(codec.frame(codec.encodeCreate(1, {
    argv: ['sh', '-c', 'printf hello; exit 3'], name: 'demo', env: { TERM: 'xterm-256color' },
    cols: 80, rows: 24,
  }))), toHex(hex(`4c000000 02 01000000 5000 1800 0400 64656d6f 0000 0300 1b000000
    7368002d63007072696e74662068656c6c6f3b20657869742033 00
    0100 14000000 5445524d3d787465726d2d323536636f6c6f7200`)));
  assert.equal(toHex(codec.frame(codec.encodeAttach(2, 1))),
    toHex(hex('19000000 03 02000000 01000000 00 00 0000 0000000000000000 0000 0000')));
  assert.equal(toHex(codec.frame(codec.encodeSignal(8, 1, 0))), '0a000000070800000001000000' + '00');
  assert.equal(toHex(codec.frame(codec.encodeAck(1, 5))), '0d00000009010000000500000000000000');
  assert.equal(toHex(codec.frame(codec.encodeWrite(9, 1, 'ls\r'))),
    toHex(hex('0d000000 0b 09000000 01000000 00 6c730d')));
  assert.equal(codec.encodeWrite(9, 1, '', codec.WRITE_F_RESUME)[9], 1);

  const stream = hex(`0e000000 81 0200 0300 92100000 302e312e30
    0d000000 82 01000000 01000000 93100000
    1e000000 83 02000000 01000000 0000000000000000 0500000000000000 5000 1800 01
    12000000 90 01000000 0000000000000000 68656c6c6f
    15000000 91 01000000 0500000000000000 03000000 00000000
    52000000 85 03000000 00 0100 01000000 93100000 01 00 0000 03000000 00000000
    5000 1800 0500000000000000 0068e5cf8b010000 0400 64656d6f 1a00
    7368202d63207072696e74662068656c6c6f3b20657869742033
    15000000 92 01000000 0000000000000000 0010000000000000
    09000000 93 01000000 7800 2800
    17000000 e0 07000000 09000000 0600 6e6f2073657373696f6e2039
    05000000 84 09000000
    02000000 7f 00`);
  const ms = bodies(stream).map((b) => codec.decode(b));
  const dec = new TextDecoder();
  assert.deepEqual(ms[0], { type: 'welcome', version: 2, flags: 3, pid: 4242, serverVersion: '0.1.0' });
  assert.deepEqual(ms[1], { type: 'created', req: 1, sid: 1, pid: 4243 });
  assert.deepEqual(ms[2], { type: 'attached', req: 2, sid: 1, start: 0, end: 5, cols: 80, rows: 24,
    state: 1, exited: true });
  assert.equal(dec.decode(ms[3].data), 'hello');
  assert.deepEqual({ ...ms[3], data: null }, { type: 'output', sid: 1, offset: 0, data: null });
  assert.deepEqual(ms[4], { type: 'exit', sid: 1, end: 5, code: 3, signal: 0 });
  assert.equal(ms[5].type, 'list');
  assert.equal(ms[5].more, false);
  assert.deepEqual(ms[5].sessions, [{ sid: 1, pid: 4243, state: 1, level: 0, clients: 0,
    exitCode: 3, exitSignal: 0, cols: 80, rows: 24, bytesOut: 5, createdMs: 1700000000000,
    name: 'demo', command: 'sh -c printf hello; exit 3', stateName: 'exited', levelName: 'none' }]);
  assert.deepEqual(ms[6], { type: 'gap', sid: 1, from: 0, to: 4096 });
  assert.deepEqual(ms[7], { type: 'resized', sid: 1, cols: 120, rows: 40 });
  assert.deepEqual(ms[8], { type: 'error', req: 7, sid: 9, code: 6, name: 'no_such_session',
    message: 'no session 9' });
  assert.deepEqual(ms[9], { type: 'ok', req: 9 });
  assert.equal(ms[10], null, 'an unknown type decodes to null');
});

// The version 3 layouts of the round's spec, built by hand from its tables.
test('version 3 requests: SCREEN, WAIT, OPEN, EVENTS, PASTE, ATTACH from a snapshot', () => {
  assert.equal(toHex(codec.encodeHello()), toHex(hex('01 50545948 0300 0000')));
  assert.equal(toHex(codec.frame(codec.encodeScreen(4, 1, codec.SCREEN_F_ANSI))),
    toHex(hex('0a000000 0c 04000000 01000000 01')));
  assert.equal(toHex(codec.frame(codec.encodeWait(5, 1, codec.WAIT_F_TEXT | codec.WAIT_F_IDLE,
    5, 500, 10000, 'done'))),
  toHex(hex('1e000000 0d 05000000 01000000 03 0500000000000000 f4010000 10270000 646f6e65')));
  const open = codec.encodeOpen(6, codec.OPEN_F_ATTACH | codec.OPEN_F_HOLD, 0,
    { argv: ['sh'], cols: 80, rows: 24 });
  assert.equal(toHex(open), toHex(hex(`0e 06000000 03 00 5000 1800 0000 0000 0100 03000000 736800
    0000 00000000`)));
  assert.equal(toHex(codec.encodeEvents(7)), toHex(hex('0f 07000000 7e000000')));
  assert.equal(toHex(codec.encodePaste(8, 1, 'a\nb', codec.PASTE_F_ENTER)),
    toHex(hex('10 08000000 01000000 01 610a62')));
  assert.equal(toHex(codec.encodeAttach(9, 1, 0, codec.FROM_SNAPSHOT)),
    toHex(hex('03 09000000 01000000 00 03 0000 0000000000000000 0000 0000')));
  for (const b of [open, codec.encodeEvents(7), codec.encodeScreen(4, 1, 1),
    codec.encodeWait(5, 1, 2, 0, 1, 0, ''), codec.encodePaste(8, 1, 'x', 3)]) {
    assert.equal(toHex(codec.encodeRequest(codec.decodeRequest(b))), toHex(b));
  }
});

test('version 3 replies: SCREEN_REPLY, WAITED, SNAPSHOT, EVENT, LIST_REPLY ext', () => {
  const screen = codec.decode(hex(`86 04000000 01000000 0500000000000000 5000 1800 0200 0000
    03 04080000 0200 6869 68656c6c6f`));
  assert.deepEqual({ ...screen, data: toHex(screen.data) }, { type: 'screen', req: 4, sid: 1,
    offset: 5, cols: 80, rows: 24, cursor: { col: 2, row: 0, visible: true }, altScreen: true,
    flags: 3, modes: 0x804, title: 'hi', data: toHex(new TextEncoder().encode('hello')) });
  assert.deepEqual(codec.decode(hex('87 05000000 01000000 01 0500000000000000')),
    { type: 'waited', req: 5, sid: 1, reasonCode: 1, reason: 'text', offset: 5 });
  const snap = codec.decode(hex('94 01000000 0500000000000000 1b5b48'));
  assert.deepEqual({ ...snap, data: toHex(snap.data) },
    { type: 'snapshot', sid: 1, offset: 5, data: '1b5b48' });
  const t = '0068e5cf8b010000';
  const created = codec.decode(hex(`95 01 01000000 ${t} 93100000 5000 1800 0400 64656d6f 0200 7368`));
  assert.deepEqual(created, { type: 'event', kind: 1, event: 'created', sid: 1,
    timeMs: 1700000000000, pid: 4243, cols: 80, rows: 24, name: 'demo', command: 'sh' });
  assert.deepEqual(codec.decode(hex(`95 02 01000000 ${t} 03000000 00000000 0500000000000000`)),
    { type: 'event', kind: 2, event: 'exited', sid: 1, timeMs: 1700000000000, code: 3, signal: 0, end: 5 });
  assert.deepEqual(codec.decode(hex(`95 03 01000000 ${t}`)),
    { type: 'event', kind: 3, event: 'removed', sid: 1, timeMs: 1700000000000 });
  assert.deepEqual(codec.decode(hex(`95 04 01000000 ${t} 7800 2800`)),
    { type: 'event', kind: 4, event: 'resized', sid: 1, timeMs: 1700000000000, cols: 120, rows: 40 });
  assert.deepEqual(codec.decode(hex(`95 05 01000000 ${t} 0200 6869`)),
    { type: 'event', kind: 5, event: 'title', sid: 1, timeMs: 1700000000000, title: 'hi' });
  assert.deepEqual(codec.decode(hex(`95 06 00000000 ${t} 07000000`)),
    { type: 'event', kind: 6, event: 'dropped', sid: 0, timeMs: 1700000000000, count: 7 });
  const list = codec.decode(hex(`85 03000000 02 0100 01000000 93100000 01 00 0000 03000000 00000000
    5000 1800 0500000000000000 0068e5cf8b010000 0400 64656d6f 0200 7368
    01 02000000 0168e5cf8b010000 0200 6869 0400 2f746d70`));
  assert.deepEqual(list.sessions[0], { sid: 1, pid: 4243, state: 1, level: 0, clients: 0,
    exitCode: 3, exitSignal: 0, cols: 80, rows: 24, bytesOut: 5, createdMs: 1700000000000,
    name: 'demo', command: 'sh', stateName: 'exited', levelName: 'none', class: 1,
    className: 'bulk', bells: 2, lastOutputMs: 1700000000001, title: 'hi', cwd: '/tmp' });
});

test('malformed bodies are DecodeErrors, frames over 1 MiB or of length 0 too', () => {
  for (const b of ['90 01000000', '84 09000000 00', '91 01000000 05', '95 02 01000000',
    '86 04000000 01000000 0500000000000000 5000 1800 0200 0000 03 04080000 0500 68']) {
    assert.throws(() => codec.decode(hex(b)), codec.DecodeError, b);
  }
  assert.throws(() => codec.decodeRequest(hex('02 01000000 5000 1800 0000 0000 0100 03000000 736861 0000 00000000')),
    codec.DecodeError, 'an argv block without its NUL');
  for (const bad of [hex('00000000'), hex('01001000')]) {
    const s = new codec.FrameSplitter();
    s.feed(bad);
    assert.throws(() => s.next(), codec.DecodeError);
  }
});

// A small deterministic generator (xorshift32), so failures reproduce.
function rng(seed) {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

test('random and mutated bodies: decode returns or throws DecodeError, nothing else', () => {
  const r = rng(12345);
  const seeds = [
    hex('86 04000000 01000000 0500000000000000 5000 1800 0200 0000 03 04080000 0200 6869 68'),
    hex('95 01 01000000 0068e5cf8b010000 93100000 5000 1800 0400 64656d6f 0200 7368'),
    hex('85 03000000 02 0100 01000000 93100000 01 00 0000 03000000 00000000 5000 1800 0500000000000000 0068e5cf8b010000 0400 64656d6f 0200 7368 01 02000000 0168e5cf8b010000 0200 6869 0400 2f746d70'),
    hex('83 02000000 01000000 0000000000000000 0500000000000000 5000 1800 01'),
    codec.encodeCreate(1, { argv: ['a', 'b'], env: ['A=1'] }),
    codec.encodeWait(5, 1, 3, 5, 500, 10000, 'done'),
  ];
  for (let i = 0; i < 20000; i++) {
    const base = seeds[i % seeds.length];
    const b = Uint8Array.from(base.subarray(0, Math.floor(r() * (base.length + 1))));
    for (let k = Math.floor(r() * 3); k > 0 && b.length; k--) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    if (b.length === 0) continue;
    for (const f of [codec.decode, codec.decodeRequest]) {
      try {
        f(b);
      } catch (e) {
        assert.ok(e instanceof codec.DecodeError, `${toHex(b)}: ${e}`);
      }
    }
  }
});

test('FrameSplitter: frames split at every point come out whole and in order', () => {
  const bs = [codec.encodeHello(), codec.encodeWrite(1, 2, new Uint8Array(70000).fill(7)),
    codec.encodeList(3), codec.encodeInput(4, 'x')];
  const stream = Uint8Array.from(Buffer.concat(bs.map((b) => codec.frame(b))));
  for (let cut = 0; cut <= stream.length; cut += 997) {
    for (const step of [1, 3, 4096]) {
      const s = new codec.FrameSplitter();
      const out = [];
      const feed = (part) => {
        for (let i = 0; i < part.length; i += step) {
          s.feed(part.subarray(i, i + step));
          for (let b; (b = s.next()) !== null;) out.push(toHex(b));
        }
      };
      if (step === 1 && cut % 9970 !== 0) continue; // byte by byte: a few cuts are enough
      feed(stream.subarray(0, cut));
      feed(stream.subarray(cut));
      assert.deepEqual(out, bs.map(toHex), `cut at ${cut}, pieces of ${step}`);
    }
  }
});
