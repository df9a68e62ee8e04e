// The client against the real daemon: the three Node transports, a 16-session stdio
// broker (floods, a consumer that stops reading, a program that never reads its input,
// prompts), resuming from an offset after a restart, bounded buffering, WRITE refusals
// resent with RESUME, gaps, version negotiation, and the version 3 calls when the
// server announces them (skipped, and said so, when it does not).

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import test from 'node:test';

import {
  Client, ConnectionClosed, LostOutput, PtyhubError, codec, codes, connectUnix,
  connectWebSocket, spawnStdio, unixTransport,
} from '../src/node.js';
import { BIN, Daemon } from './daemon.mjs';

const dec = new TextDecoder();
const sha = (b) => createHash('sha256').update(b).digest('hex');
const PROMPT = ['sh', '-c', 'stty -echo; printf ready; read p; printf "got %s" "$p"; exit 3'];

// Runs fn(daemon) against a fresh daemon started with extra options.
async function withDaemon(extra, fn) {
  const d = await new Daemon(extra).start();
  try {
    await fn(d);
  } catch (e) {
    process.stderr.write(`--- daemon log\n${d.logText()}\n---\n`);
    throw e;
  } finally {
    await d.stop();
  }
}

// Reads a session's events until its output holds `want`; returns the text so far.
async function until(s, want) {
  let seen = '';
  while (!seen.includes(want)) {
    const ev = await s.read();
    assert.ok(ev, `session ${s.sid} ended before "${want}" (got ${JSON.stringify(seen)})`);
    if (ev.type === 'output') seen += dec.decode(ev.data);
  }
  return seen;
}

// One prompt round trip: the program prints "ready", reads a line, prints it, exits 3.
async function promptRoundTrip(c) {
  const s = await c.open({ argv: PROMPT, fallback: true });
  assert.equal(await until(s, 'ready'), 'ready');
  await s.write('hello\r');
  const { data, exit } = await s.outputUntilExit();
  assert.equal(dec.decode(data), 'got hello');
  assert.equal(exit.code, 3);
  assert.equal(exit.end, 14);
}

test('Unix socket, stdio child and WebSocket transports', async () => {
  await withDaemon([], async (d) => {
    const unix = await connectUnix(d.sock);
    assert.ok(unix.version >= 2);
    await promptRoundTrip(unix);
    await unix.close();

    const stdio = await spawnStdio({ ptyhub: BIN, stderr: 'ignore' });
    await promptRoundTrip(stdio);
    const exited = stdio.transport.exited;
    await stdio.close();
    assert.deepEqual(await exited, { code: 0, signal: null }, '`ptyhub stdio` exits 0 on close');

    const ws = await connectWebSocket(d.wsUrl, { token: d.token });
    await promptRoundTrip(ws);
    const list = await ws.list();
    assert.equal(list.length, 2, 'the Unix and WebSocket sessions (stdio has its own daemon)');
    await ws.close();

    await assert.rejects(connectWebSocket(d.wsUrl, { token: 'wrong-token-123' }), (e) =>
      (e instanceof PtyhubError && e.code === codes.AUTH) || e instanceof ConnectionClosed);
  });
});

test('errors carry the protocol code; version negotiation', async () => {
  await withDaemon([], async (d) => {
    const c = await connectUnix(d.sock);
    await assert.rejects(c.attach(999), (e) => e instanceof PtyhubError && e instanceof Error
      && e.code === codes.NO_SUCH_SESSION && e.codeName === 'no_such_session' && e.req > 0);
    const { sid } = await c.create({ argv: ['true'] });
    const s = await c.attach(sid);
    await s.outputUntilExit();
    await assert.rejects(c.signal(sid, 15), (e) => e.code === codes.EXITED);
    await assert.rejects(c.create({ argv: ['/nonexistent/program'] }),
      (e) => e.code === codes.SPAWN_FAILED);
    assert.equal((await c.list()).length, 1, 'the connection is still usable');
    await c.close();

    // A client that offers version 7 gets the server's highest; one that offers 1 gets 1.
    const v7 = await Client.connect(await unixTransport(d.sock), { version: 7 });
    assert.ok(v7.version >= 2 && v7.version <= 3, `version ${v7.version}`);
    await v7.close();
    const v1 = await Client.connect(await unixTransport(d.sock), { version: 1 });
    assert.equal(v1.version, 1);
    assert.equal(v1.welcome.flags, 0);
    await assert.rejects(v1.write(sid, 'x'), /WRITE/);
    await v1.close();
  });
});

// Output of `seq 1 n` on a terminal.
const seqBytes = (from, n) => {
  let s = '';
  for (let i = from; i <= n; i++) s += `${i}\r\n`;
  return Buffer.from(s);
};

// The broker of issue 10 over `ptyhub stdio ...args` (Node's child pipes are socketpairs).
// Past limitMs the child is killed, which ends the connection and fails the test.
async function fanout(args, limitMs) {
    const c = await spawnStdio({ ptyhub: BIN, stderr: 'ignore', args });
    const limit = setTimeout(() => c.transport.child.kill('SIGKILL'), limitMs);
    try {
      const events = c.has(codec.WELCOME_F_EVENTS) ? await c.subscribe() : null;

      const FLOOD = (i) => 150000 + 10000 * i; // seq lengths: ~1.1 to 1.6 MB each
      const LAZY = 1500000; // ~12 MB: far past what the daemon holds for an unread client
      const floods = [];
      for (let i = 0; i < 7; i++) {
        floods.push(await c.open({ argv: ['sh', '-c', `seq 1 ${FLOOD(i)} | cat`], name: `flood${i}`, fallback: true }));
      }
      const lazy = await c.open({ argv: ['sh', '-c', `seq 1 ${LAZY} | cat`], name: 'lazy', fallback: true });
      // Raw mode: a cooked tty whose line is full throws input away; a raw one stops
      // taking it, so the program's input queue in the daemon fills up.
      const stuck = await c.open({ argv: ['sh', '-c', 'stty raw -echo; printf stuck; exec sleep 600'],
        name: 'stuck', fallback: true });
      const N = 300001;
      const prompts = [];
      for (let i = 0; i < 7; i++) {
        prompts.push(await c.open({ argv: ['sh', '-c', `stty raw -echo; printf ready; `
          + `n=$(head -c ${N} | wc -c); printf 'got %s' $n`], name: `prompt${i}`, fallback: true }));
      }
      const all = [...floods, lazy, stuck, ...prompts];
      assert.equal(new Set(all.map((s) => s.sid)).size, 16);

      // 3 MiB to a program that never reads: its WRITEs are refused and resent with
      // RESUME, and never finish while it sleeps.
      const stuckAcks = [];
      let stuckSettled = false;
      const stuckWrite = c.write(stuck.sid, new Uint8Array(3 << 20).fill(0x73),
        { onAck: (n) => stuckAcks.push(n) });
      stuckWrite.then(() => { stuckSettled = true; }, () => { stuckSettled = true; });

      const drain = async (s) => {
        const { data, exit } = await s.outputUntilExit();
        return { data, exit };
      };
      const prompted = async (s) => {
        const first = await until(s, 'ready');
        const acks = [];
        await s.write(new Uint8Array(N).fill(0x70), { onAck: (n) => acks.push(n) });
        assert.deepEqual(acks, [...acks].sort((a, b) => a - b), `session ${s.sid}: acks in order`);
        assert.equal(acks[acks.length - 1], N, 'every byte acknowledged');
        assert.ok(acks.length >= 5, `acknowledged in pieces: ${acks}`);
        const { data, exit } = await s.outputUntilExit();
        return { text: first + dec.decode(data), exit };
      };
      const results = await Promise.all([...floods.map(drain), ...prompts.map(prompted)]);

      // Everyone else is done: the lazy reader's program is held back, the stuck
      // program's write still waits, and the client holds a bounded amount.
      const info = new Map((await c.list()).map((s) => [s.sid, s]));
      assert.equal(info.get(lazy.sid).stateName, 'running', 'the lazily read program is paused');
      const lazyTotal = seqBytes(1, LAZY).length;
      assert.ok(info.get(lazy.sid).bytesOut < lazyTotal / 2,
        `the lazy session was held back at ${info.get(lazy.sid).bytesOut} of ${lazyTotal} bytes`);
      assert.ok(lazy.buffered <= (2 << 20) + (1 << 20), `the client buffered ${lazy.buffered} bytes`);
      assert.equal(stuckSettled, false, 'the stuck write is still waiting');
      assert.deepEqual(stuckAcks, [...stuckAcks].sort((a, b) => a - b), 'stuck acks in order');

      for (let i = 0; i < 7; i++) {
        const { data, exit } = results[i];
        assert.equal(sha(data), sha(seqBytes(1, FLOOD(i))), `flood ${i}: every byte (sha256)`);
        assert.deepEqual([exit.code, exit.end], [0, data.length]);
      }
      for (let i = 0; i < 7; i++) {
        const { text, exit } = results[7 + i];
        assert.equal(text, `readygot ${N}`, `prompt ${i}`);
        assert.equal(exit.code, 0);
      }
      const lz = await drain(lazy);
      assert.equal(sha(lz.data), sha(seqBytes(1, LAZY)), 'the lazy session: every byte (sha256)');

      // Ending the stuck program ends its write with an error; it exits too.
      await c.signal(stuck.sid, 0);
      await assert.rejects(stuckWrite, (e) => e instanceof PtyhubError
        && [codes.EXITED, codes.NO_SUCH_SESSION].includes(e.code));
      const st = await stuck.outputUntilExit();
      assert.equal(dec.decode(st.data), 'stuck');
      assert.ok(st.exit.signal !== 0 || st.exit.code !== 0);

      const exits = new Map(all.map((s) => [s.sid, s.exit]));
      for (const [sid, ex] of exits) assert.ok(ex, `EXIT of session ${sid}`);
      if (events) {
        const seen = new Map();
        while (seen.size < 16) {
          const ev = await events.read();
          if (ev.event === 'exited') seen.set(ev.sid, ev);
        }
        for (const [sid, ex] of exits) {
          assert.deepEqual([seen.get(sid).code, seen.get(sid).signal, seen.get(sid).end],
            [ex.code, ex.signal, ex.end], `EVENT exited of session ${sid}`);
        }
      }
    } finally {
      clearTimeout(limit);
      await c.close();
    }
}

test('a stdio broker drives 16 sessions: floods, a lazy reader, a stuck program, prompts',
  { timeout: 300000 }, () => fanout([], 240000));

// The same over the epoll backend. (Node's child pipes are sockets: the daemon once left
// such a descriptor blocking, and under io_uring its output stopped after about 1 MiB.)
test('the same broker with --io epoll', { timeout: 300000 }, () => fanout(['--io', 'epoll'], 240000));

test('resume after a restart: exactly the bytes, no gap, no duplicate', async () => {
  await withDaemon([], async (d) => {
    const script = 'for i in $(seq 1 3000); do echo line $i; done; sleep 0.3; echo tail; exit 7';
    let c = await connectUnix(d.sock);
    const { sid } = await c.create({ argv: ['sh', '-c', script] });
    let s = await c.attach(sid);
    const parts = [];
    let last = 0;
    while (last <= 5000) {
      const ev = await s.read();
      assert.equal(ev.offset, last);
      parts.push(ev.data);
      last = ev.offset + ev.data.length;
    }
    await c.close(); // the "crash"
    c = await connectUnix(d.sock);
    s = await c.attach(sid, { from: last });
    assert.ok(s.start <= last && last <= s.end);
    const rest = await s.outputUntilExit();
    assert.equal(rest.exit.code, 7);
    const whole = Buffer.concat([...parts, rest.data]);
    let want = '';
    for (let i = 1; i <= 3000; i++) want += `line ${i}\r\n`;
    assert.equal(whole.toString(), `${want}tail\r\n`);
    assert.equal(rest.exit.end, whole.length);
    await c.close();
  });
});

test('a consumer that stops reading pauses only its own session, with bounded memory',
  async () => {
    await withDaemon([], async (d) => {
      const c = await connectUnix(d.sock);
      const yes = await c.open({ argv: ['yes', 'y'.repeat(200)], fallback: true });
      const sizes = [-1];
      for (;;) {
        const info = (await c.list()).find((x) => x.sid === yes.sid);
        sizes.push(info.bytesOut);
        if (sizes.at(-1) === sizes.at(-2)) break;
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.ok(yes.buffered <= (2 << 20) + (1 << 20), `buffered ${yes.buffered}`);
      assert.ok(sizes.at(-1) <= 8 << 20, `the program stopped after ${sizes.at(-1)} bytes`);
      // Another session of the same connection runs normally meanwhile.
      await promptRoundTrip(c);
      // Reading resumes the program.
      let got = 0;
      while (got <= sizes.at(-1) + (4 << 20)) {
        const ev = await yes.read();
        if (ev.type === 'output') got += ev.data.length;
      }
      await yes.kill();
      await c.close();
    });
  });

test('WRITEs refused by a full input queue are resent with RESUME, in order', async () => {
  await withDaemon(['--input-queue', '64K'], async (d) => {
    const c = await connectUnix(d.sock);
    const data = new Uint8Array(600000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 9)) & 0xff;
    const s = await c.open({ argv: ['sh', '-c', 'stty raw -echo -iexten; printf ready; sleep 1;'
      + ` head -c ${data.length} | sha256sum`], fallback: true });
    assert.equal(await until(s, 'ready'), 'ready');
    const acks = [];
    const w1 = s.write(data.subarray(0, 400000), { onAck: (n) => acks.push(n) });
    const w2 = s.write(data.subarray(400000)); // queued behind the first, in order
    await Promise.all([w1, w2]);
    assert.ok(c.writeRefusals > 0, 'no WRITE was refused: the test tests nothing');
    assert.deepEqual(acks, [...acks].sort((a, b) => a - b));
    const { data: out } = await s.outputUntilExit();
    assert.equal(dec.decode(out).split(/\s/)[0], sha(data), `${c.writeRefusals} refusals`);
    await c.close();
  });
});

test('a GAP for bytes no longer retained; outputUntilExit reports LostOutput', async () => {
  await withDaemon(['--scrollback', '64K'], async (d) => {
    const c = await connectUnix(d.sock);
    const { sid } = await c.create({ argv: ['sh', '-c', "head -c 300000 /dev/zero | tr '\\0' y; printf END"] });
    let s = await c.attach(sid, { mode: 'read-only', from: 'live' });
    for (let ev; (ev = await s.read()) !== null;);
    s = await c.attach(sid, { mode: 'read-only', from: 10 });
    assert.ok(s.start > 10 && s.end === 300003 && s.exitedAtAttach);
    assert.deepEqual(await s.read(), { type: 'gap', sid, from: 10, to: s.start });
    const rest = await s.outputUntilExit();
    assert.equal(rest.data.length, s.end - s.start);
    s = await c.attach(sid, { mode: 'read-only', from: { tail: 100 } });
    assert.equal(dec.decode((await s.outputUntilExit()).data), `${'y'.repeat(97)}END`);
    s = await c.attach(sid, { mode: 'read-only', from: 0 });
    await assert.rejects(s.outputUntilExit(), (e) => e instanceof LostOutput && e.from === 0);
    await c.close();
  });
});

// ---- version 3 (each part skipped when the server does not announce it) -----------------

test('OPEN: byte 0 arrives under a fast producer with a tiny scrollback', async (t) => {
  await withDaemon(['--scrollback', '4096'], async (d) => {
    const c = await connectUnix(d.sock);
    if (!c.has(codec.WELCOME_F_OPEN)) {
      t.skip('the server does not announce OPEN');
      await c.close();
      return;
    }
    const s = await c.open({ argv: ['seq', '1', '200000'] });
    const { data } = await s.outputUntilExit();
    assert.equal(sha(data), sha(seqBytes(1, 200000)));
    const held = await c.open({ argv: ['seq', '1', '50000'], attach: false, hold: true });
    await new Promise((r) => setTimeout(r, 200));
    const s2 = await c.attach(held.sid, { from: 0 });
    assert.equal(sha((await s2.outputUntilExit()).data), sha(seqBytes(1, 50000)), 'held output');
    await c.close();
  });
});

test('SCREEN, WAIT and attach from a snapshot', async (t) => {
  await withDaemon(['--terminal-state', 'on'], async (d) => {
    const c = await connectUnix(d.sock);
    if (!c.has(codec.WELCOME_F_TERMINAL)) {
      t.skip('the server does not announce TERMINAL');
      await c.close();
      return;
    }
    const { sid } = await c.create({ argv: ['sh', '-c', 'printf "\\033]2;my title\\007hello\\nworld"; read x; printf done; sleep 600'],
      cols: 40, rows: 10 });
    const w = await c.wait(sid, { text: 'world', timeoutMs: 20000 });
    assert.equal(w.reason, 'text');
    const scr = await c.screen(sid);
    assert.match(scr.text, /^hello\nworld/);
    assert.deepEqual([scr.cols, scr.rows, scr.title], [40, 10, 'my title']);
    assert.equal(scr.offset, w.offset);
    const s = await c.attach(sid, { from: 'snapshot' });
    const snap = await s.read();
    assert.equal(snap.type, 'snapshot');
    assert.equal(snap.offset, s.end);
    const after = scr.offset;
    await c.write(sid, 'go\r');
    const w2 = await c.wait(sid, { text: 'done', after, timeoutMs: 20000 });
    assert.equal(w2.reason, 'text');
    const next = await s.read();
    assert.equal(next.type, 'output');
    assert.equal(next.offset, snap.offset, 'live output continues at the snapshot offset');
    const idle = await c.wait(sid, { idleMs: 100, timeoutMs: 20000 });
    assert.equal(idle.reason, 'idle');
    await c.kill(sid);
    await c.close();
  });
});

test('PASTE: one unit, line endings as \\r, bracketed when the program asks', async (t) => {
  await withDaemon(['--terminal-state', 'on'], async (d) => {
    const c = await connectUnix(d.sock);
    // Without PASTE the client sends the normalized text as one WRITE.
    const bracket = c.has(codec.WELCOME_F_PASTE) && c.has(codec.WELCOME_F_TERMINAL);
    // The program prints each byte it reads in hex until a Z (raw mode: no line editing).
    const s = await c.open({ argv: ['sh', '-c', "stty raw -echo; printf '\\033[?2004hready'; "
      + 'while c=$(dd bs=1 count=1 2>/dev/null | od -An -tx1); [ "$c" != " 5a" ]; do printf "%s" "$c"; done'],
    fallback: true });
    assert.match(await until(s, 'ready'), /ready/);
    await s.paste('a\nb\r\nc', { enter: true });
    await s.write('Z');
    const { data } = await s.outputUntilExit();
    const got = dec.decode(data).trim();
    if (bracket) assert.equal(got, '1b 5b 32 30 30 7e 61 0d 62 0d 63 1b 5b 32 30 31 7e 0d');
    else assert.equal(got, '61 0d 62 0d 63 0d');
    if (!bracket) t.diagnostic('the server does not announce PASTE: checked the WRITE fallback');
    await c.close();
  });
});
