// Browser Ctrl-C benchmark (issue 8), driven by bench/web_ctrlc.py (the leading _ keeps
// bench/run.sh from running it on its own): in Debian's headless
// chromium (playwright-core from tests/e2e/node_modules), the ptyhub page is attached to
// a shell running `yes`; after the flood has run for FLOOD_MS, Ctrl-C is pressed. Printed
// per trial, as one `ctrlc key=value ...` line:
//   stop_ms   Ctrl-C keydown (page clock) to the last flood byte parsed by xterm.js
//             (the page's `rendered` offset stops moving for good; the prompt after
//             the ^C arrives later and is not counted: it is the shell's answer);
//   paint_ms  the same to the first animation frame after that byte (what the eye sees);
//   key_ms    when the page saw the keydown (after the work queued before it);
//   fps       animation frames per second during the flood (the page's responsiveness);
//   mbps      bytes xterm.js parsed per second during the flood.
// Usage: node bench/_web_ctrlc.mjs URL TRIALS
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'tests', 'e2e', 'package.json'));
const { chromium } = require('playwright-core');

const [url, trialsArg] = process.argv.slice(2);
const TRIALS = Number(trialsArg || 3);
const FLOOD_MS = 2000;
const QUIET_MS = 1500; // no parsed byte for this long after the last: the flood has stopped

async function poll(fn, what, timeout = 20000) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function trial(browser) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
  const page = await context.newPage();
  try {
    const res = await page.request.post(`${url}/api/sessions`, { data: { argv: ['sh'] } });
    if (!res.ok()) throw new Error(`POST /api/sessions: ${res.status()}`);
    const { id } = await res.json();
    await page.goto(`${url}/s/${id}`);
    await poll(() => page.evaluate(() => window.ptyhub && window.ptyhub.attached), 'attach');
    // Frame and progress recorder: every animation frame notes the time and the offset
    // xterm.js has parsed; a keydown listener (capture) notes when Ctrl-C was pressed.
    await page.evaluate(() => {
      const rec = { frames: [], ctrlc: 0 };
      window.__bench = rec;
      const tick = (t) => {
        rec.frames.push([t, window.ptyhub.rendered]);
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
      window.addEventListener('keydown', (e) => {
        if (e.ctrlKey && e.code === 'KeyC' && !rec.ctrlc) rec.ctrlc = performance.now();
      }, true);
      const term = window.ptyhub.term;
      rec.parsed = [];
      term.onWriteParsed(() => rec.parsed.push([performance.now(), window.ptyhub.rendered]));
    });
    await page.evaluate(() => window.ptyhub.term.focus());
    await page.keyboard.type('yes');
    await page.keyboard.press('Enter');
    await poll(async () => (await page.evaluate(() => window.ptyhub.rendered)) > 1 << 20, 'the flood');
    const f0 = await page.evaluate(() => [performance.now(), window.__bench.frames.length, window.ptyhub.rendered]);
    await new Promise((r) => setTimeout(r, FLOOD_MS));
    const f1 = await page.evaluate(() => [performance.now(), window.__bench.frames.length, window.ptyhub.rendered]);
    // The wall clock just before the key goes out: what a user perceives. Not the page's
    // clock read through page.evaluate: that runs only once the page's main thread is free,
    // after the parsing queued before it, and would flatter. (The keydown listener's time
    // has the same bias; it is reported as key_ms.) Page times are converted to the wall
    // clock with performance.timeOrigin.
    const pressedWall = Date.now();
    await page.keyboard.press('Control+C');
    await page.evaluate((t) => { window.__bench.pressed = t - performance.timeOrigin; }, pressedWall);
    // Wait until nothing new has been parsed for QUIET_MS (the ^C, the prompt included).
    await poll(async () => page.evaluate((q) => {
      const p = window.__bench.parsed;
      return p.length && performance.now() - p[p.length - 1][0] > q;
    }, QUIET_MS), 'the flood to stop', 60000);
    const r = await page.evaluate(() => {
      const b = window.__bench;
      const keyAt = b.ctrlc ? b.ctrlc - b.pressed : -1;
      b.ctrlc = b.pressed;
      // The last parse that still carried flood bytes: the prompt and ^C echo that follow
      // are short; find the last parse event whose step was over 256 bytes, or, failing
      // that, the last one before the final prompt.
      let last = null;
      for (let i = 1; i < b.parsed.length; i++) {
        if (b.parsed[i][0] < b.ctrlc) continue;
        if (b.parsed[i][1] - b.parsed[i - 1][1] > 256) last = b.parsed[i];
      }
      const lastT = last ? last[0] : b.ctrlc;
      const before = b.parsed.filter((x) => x[0] < b.ctrlc);
      const at = before.length ? before[before.length - 1][1] : 0;
      const frame = b.frames.find((f) => f[0] >= lastT);
      return { stop: lastT - b.ctrlc, paint: (frame ? frame[0] : lastT) - b.ctrlc,
        after: (last ? last[1] : at) - at, key: keyAt };
    });
    const secs = (f1[0] - f0[0]) / 1000;
    return { stop_ms: r.stop, paint_ms: r.paint, after: r.after, key_ms: r.key, fps: (f1[1] - f0[1]) / secs, mbps: (f1[2] - f0[2]) / secs / 1e6 };
  } finally {
    await context.close();
  }
}

const browser = await chromium.launch({
  executablePath: process.env.PTYHUB_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  for (let i = 0; i < TRIALS; i++) {
    const r = await trial(browser);
    console.log(`ctrlc trial=${i} stop_ms=${r.stop_ms.toFixed(0)} paint_ms=${r.paint_ms.toFixed(0)}`
      + ` fps=${r.fps.toFixed(1)} mbps=${r.mbps.toFixed(2)} bytes_after=${r.after} key_ms=${r.key_ms.toFixed(0)}`);
  }
} finally {
  await browser.close();
}
