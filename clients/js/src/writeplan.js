// writeplan: the state of one acknowledged write (docs/protocol.md, WRITE). The data goes
// in chunks of at most 64 KiB with at most 256 KiB unacknowledged; a chunk refused with
// `limit` is resent with RESUME, one at a time, oldest first, and nothing new is sent
// until no refused chunk is left. The server refuses every WRITE after a refused one
// until a RESUME, so chunks in flight behind a refusal come back refused too, and input
// is never reordered. Pure state: the client sends and times.

import { ProtocolViolation } from './errors.js';

export const WRITE_CHUNK = 64 * 1024;
export const WRITE_WINDOW = 256 * 1024;
export const RETRY_MIN = 5; // ms before resending a refused chunk, doubling...
export const RETRY_MAX = 250; // ...up to this

export class WritePlan {
  // data: Uint8Array. chunk: bytes per request (Infinity: one unit). resumeFirst: an
  // earlier write to the session was abandoned and may have left the refusal latch set.
  constructor(data, { chunk = WRITE_CHUNK, window = WRITE_WINDOW, resumeFirst = false } = {}) {
    this.chunks = [];
    for (let i = 0; i < data.length; i += chunk) this.chunks.push(data.subarray(i, i + chunk));
    if (this.chunks.length === 0) this.chunks.push(data.subarray(0, 0));
    this.total = data.length;
    this.window = window;
    this.resumeFirst = resumeFirst;
    this.next = 0; // first chunk never sent
    this.inflight = new Map(); // req -> chunk index
    this.inflightBytes = 0;
    this.refused = []; // chunk indexes, sorted
    this.resending = 0; // req of the RESUME in flight, 0 when none
    this.done = 0; // chunks acknowledged
    this.ackedBytes = 0;
    this.refusals = 0;
    this.retryDelay = RETRY_MIN;
    this.retryReady = true; // a refused chunk may be resent now
  }

  get finished() {
    return this.done === this.chunks.length;
  }

  // [{req, resume, chunk}] to send now; newReq() allocates request ids.
  toSend(newReq) {
    const out = [];
    if (this.refused.length) {
      if (!this.resending && this.retryReady) {
        const idx = this.refused.shift();
        const req = newReq();
        this.resending = req;
        this.inflight.set(req, idx);
        this.inflightBytes += this.chunks[idx].length;
        this.retryReady = false;
        out.push({ req, resume: true, chunk: this.chunks[idx] });
      }
      return out;
    }
    if (this.resending) return out;
    while (this.next < this.chunks.length
      && (this.inflight.size === 0
        || this.inflightBytes + this.chunks[this.next].length <= this.window)) {
      const idx = this.next++;
      const req = newReq();
      this.inflight.set(req, idx);
      this.inflightBytes += this.chunks[idx].length;
      out.push({ req, resume: idx === 0 && this.resumeFirst, chunk: this.chunks[idx] });
    }
    return out;
  }

  owns(req) {
    return this.inflight.has(req);
  }

  // An OK: returns how many bytes of the data are now acknowledged in all.
  onOk(req) {
    const idx = this.inflight.get(req);
    this.inflight.delete(req);
    this.inflightBytes -= this.chunks[idx].length;
    for (const i of this.inflight.values()) {
      if (i < idx) throw new ProtocolViolation(`WRITE acknowledged out of order: chunk ${idx} before ${i}`);
    }
    if (req === this.resending) this.resending = 0;
    this.done++;
    this.ackedBytes += this.chunks[idx].length;
    this.retryDelay = RETRY_MIN;
    this.retryReady = true; // the program read something: worth trying again now
    return this.ackedBytes;
  }

  // A `limit` refusal: returns the delay (ms) before the oldest refused chunk may be
  // resent, unless an OK comes first.
  onLimit(req) {
    const idx = this.inflight.get(req);
    this.inflight.delete(req);
    this.inflightBytes -= this.chunks[idx].length;
    if (req === this.resending) this.resending = 0;
    this.refused.push(idx);
    this.refused.sort((a, b) => a - b);
    this.refusals++;
    this.retryReady = false;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX);
    return delay;
  }
}
