// Nine agents at once over a private `ptyhub stdio` child (`ptyhub` on $PATH).
import { spawnStdio } from 'ptyhub/node';

const c = await spawnStdio();
await Promise.all([...Array(9).keys()].map(async (i) => {
  const s = await c.open({ argv: ['sh', '-c', 'read p; echo "got $p"'], fallback: true });
  await s.write(`prompt ${i}\n`); // acknowledged
  const { data, exit } = await s.outputUntilExit(); // every byte, offsets checked
  console.log(i, exit.code, JSON.stringify(new TextDecoder().decode(data)));
}));
await c.close();
