// js_client_tp: the JavaScript client library's throughput (clients/js) for one flooding
// session against the C benchmark client (build/bench/tp_client) in the same run.
//
// One daemon (build/ptyhub, private socket); each run starts `head -c 128M /dev/zero` in
// a fresh session and reads it to EXIT over the Unix socket: tp_client parses only frame
// headers; the library decodes every message, queues it in its Session, and the consumer
// takes it with `for await` (the normal way to use it), which ACKs what it took. Runs
// alternate, three of each; medians and the ratio JS / C are printed. Lost or extra
// bytes fail the run (exit status 1); slow numbers do not.
// Run: node bench/js_client_tp.mjs (make bench runs it through bench/run.sh).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { connectUnix } from '../clients/js/src/node.js';
import { Daemon } from '../clients/js/test/daemon.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TP_CLIENT = path.join(ROOT, 'build/bench/tp_client');
const BYTES = 128 * 1024 * 1024;
const CMD = ['head', '-c', String(BYTES), '/dev/zero'];
const REPS = 3;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The C client: its key=value line (bytes, seconds).
function cRun(sock) {
  const r = spawnSync(TP_CLIENT, ['--socket', sock, '--expect', String(BYTES), '--', ...CMD],
    { encoding: 'utf8', timeout: 120000 });
  const line = (r.stdout || '').split('\n').filter((l) => l.includes('bytes=') && !l.startsWith('event=')).pop();
  if (r.status !== 0 || !line) throw new Error(`tp_client failed (${r.status}): ${r.stderr || r.stdout}`);
  const kv = Object.fromEntries(line.trim().split(/\s+/).map((x) => x.split('=')));
  if (Number(kv.bytes) !== BYTES) throw new Error(`tp_client got ${kv.bytes} bytes`);
  return Number(kv.bytes) / Number(kv.seconds) / 1e6;
}

// The library: a fresh connection, one session, every byte taken with for await.
async function jsRun(sock) {
  const c = await connectUnix(sock);
  const t0 = process.hrtime.bigint();
  const s = await c.open({ argv: CMD, fallback: true });
  let n = 0;
  let exit = null;
  for await (const ev of s) {
    if (ev.type === 'output') n += ev.data.length;
    else if (ev.type === 'exit') exit = ev;
    else if (ev.type === 'gap') throw new Error(`GAP [${ev.from}, ${ev.to})`);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  await c.remove(s.sid);
  await c.close();
  if (n !== BYTES || !exit || exit.end !== BYTES) throw new Error(`the library got ${n} bytes (EXIT ${exit && exit.end})`);
  return n / secs / 1e6;
}

async function main() {
  if (!existsSync(TP_CLIENT)) {
    console.log(`js_client_tp: skipped: ${TP_CLIENT} is missing (make build/bench/tp_client)`);
    return 0;
  }
  const d = await new Daemon([]).start();
  try {
    const js = [];
    const cc = [];
    for (let i = 0; i < REPS; i++) {
      cc.push(cRun(d.sock));
      js.push(await jsRun(d.sock));
    }
    const mj = median(js);
    const mc = median(cc);
    console.log(`one flooding session, ${BYTES >> 20} MiB over the Unix socket, median of ${REPS}:`);
    console.log(`  C tp_client        ${mc.toFixed(1)} MB/s  (${cc.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`  JS client library  ${mj.toFixed(1)} MB/s  (${js.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`  ratio JS / C       ${(mj / mc).toFixed(2)}`);
    return 0;
  } finally {
    await d.stop();
  }
}

main().then((rc) => process.exit(rc), (e) => {
  console.error(`js_client_tp: FAILED: ${e.message}`);
  process.exit(1);
});
