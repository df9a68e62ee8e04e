// The WRITE pipeline against a simulated server with the documented refusal latch
// (docs/protocol.md, WRITE): random queue sizes, program reads and reply timing; what the
// server queued is always exactly the data, in order, and OKs come in order.

import assert from 'node:assert/strict';
import test from 'node:test';

import { WritePlan } from '../src/writeplan.js';

function rng(seed) {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

test('refusals are resent with RESUME and never reorder input', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const r = rng(seed);
    const data = new Uint8Array(Math.floor(r() * 700000));
    for (let i = 0; i < data.length; i++) data[i] = (i * 31 + seed) & 0xff;
    const cap = [65536, 100000, 300000, 1 << 20][Math.floor(r() * 4)];
    const plan = new WritePlan(data, { resumeFirst: r() < 0.2 });
    const queued = []; // [req, chunk] in the server's input queue
    const delivered = [];
    const replies = []; // ['ok'|'limit', req]
    let latched = plan.resumeFirst && r() < 0.5;
    let reqs = 0;
    const acks = [];
    for (let steps = 0; !plan.finished; steps++) {
      assert.ok(steps < 100000, `seed ${seed}: no progress`);
      for (const { req, resume, chunk } of plan.toSend(() => ++reqs)) {
        const inQueue = queued.reduce((a, q) => a + q[1].length, 0);
        if (latched && !resume) {
          replies.push(['limit', req]);
        } else if (inQueue + chunk.length <= cap) {
          latched = false;
          queued.push([req, chunk]);
        } else {
          latched = true;
          replies.push(['limit', req]);
        }
      }
      const x = r();
      if (queued.length && x < 0.4) { // the program reads a whole WRITE: its OK
        const [req, chunk] = queued.shift();
        delivered.push(chunk);
        replies.push(['ok', req]);
      }
      if (replies.length && r() < 0.7) {
        const [kind, req] = replies.shift();
        if (kind === 'ok') acks.push(plan.onOk(req));
        else plan.onLimit(req);
      }
      if (!plan.retryReady && r() < 0.3) plan.retryReady = true; // the retry timer fired
    }
    const got = Buffer.concat(delivered);
    assert.equal(Buffer.compare(got, Buffer.from(data)), 0, `seed ${seed}: delivered bytes`);
    assert.deepEqual(acks, [...acks].sort((a, b) => a - b), `seed ${seed}: acks in order`);
    assert.equal(acks.at(-1) ?? 0, data.length);
  }
});
