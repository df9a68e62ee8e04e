// Nine agents: start them, type a prompt into each (acknowledged), stream their output
// with offsets into agent-ID.log, wait for each to finish. The offsets processed so far
// are saved in broker.json after every event: kill this program (or run it with
// --crash-after 5) and run it again, and it resumes from those offsets: every log ends up
// with exactly the session's bytes. Run it against `ptyhub serve` (the default socket,
// or $PTYHUB_SOCKET).
import { existsSync, readFileSync, renameSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';

import { connectUnix } from 'ptyhub/node';

const STATE = 'broker.json';
const AGENT = ['sh', '-c', 'read p; echo "got $p"; sleep 1']; // any CLI works
const crashAfter = process.argv[2] === '--crash-after' ? Number(process.argv[3]) : Infinity;

// {sid: {offset: next byte to process, prompted, exit}}
const state = existsSync(STATE) ? JSON.parse(readFileSync(STATE, 'utf8')) : {};
function save() {
  writeFileSync(`${STATE}.tmp`, JSON.stringify(state));
  renameSync(`${STATE}.tmp`, STATE); // atomic: a crash leaves the old or the new state
}

const c = await connectUnix();
if (Object.keys(state).length === 0) {
  for (let i = 0; i < 9; i++) {
    const { sid } = await c.create({ argv: AGENT, name: `agent${i}` });
    state[sid] = { offset: 0, prompted: false, exit: null };
  }
  save();
}
let seen = 0;
// One agent: attach from the saved offset, prompt it once, log its output until it exits.
async function agent(sid) {
  const st = state[sid];
  const log = `agent-${sid}.log`;
  // The log may hold bytes past the saved offset if we crashed in between.
  if (existsSync(log)) truncateSync(log, st.offset);
  const s = await c.attach(Number(sid), { from: st.offset });
  if (!st.prompted) {
    await s.write(`prompt for ${sid}\n`); // resolves once written to the agent's terminal
    st.prompted = true;
    save();
  }
  for await (const ev of s) { // ACKs what we take: an agent we do not read waits for us
    if (ev.type === 'output') {
      await appendFile(log, ev.data);
      console.log(`[${sid} @${ev.offset}] ${JSON.stringify(Buffer.from(ev.data).toString())}`);
      st.offset = ev.offset + ev.data.length;
    } else if (ev.type === 'gap') { // only if we were away longer than the scrollback
      console.log(`[${sid}] lost bytes [${ev.from}, ${ev.to})`);
      st.offset = ev.to;
    } else if (ev.type === 'exit') {
      st.exit = [ev.code, ev.signal];
      console.log(`[${sid}] exited with ${ev.code} after ${ev.end} bytes`);
    } else if (ev.type === 'error') {
      console.log(`[${sid}] ${ev.error.message}`);
    }
    save();
    if (++seen >= crashAfter) process.exit(1); // a crash: no clean-up at all
  }
}
await Promise.all(Object.keys(state).filter((sid) => !state[sid].exit).map(agent));
for (const sid of Object.keys(state)) await c.remove(Number(sid)); // forget finished sessions
await c.close();
unlinkSync(STATE);
