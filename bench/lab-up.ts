/**
 * Benchmark: how long `labUp` takes for the 4-site quick-start stack (stacks/Pulumi.lab.yaml),
 * cold (nothing there) and warm (already up: the idempotent check), plus `labDown`.
 * Runs as its own customer ("labbench") so it never touches a lab someone is using.
 *   node bin/run-ts bench/lab-up.ts [runs]      (root; writes bench/lab.md)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { labDown, labUp } from '../scripts/lab';
import { loadTopology, stackFile } from '../model/topology';

const CUSTOMER = 'labbench';

function stats(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  const loadBefore = os.loadavg()[0];
  const { topology } = loadTopology(stackFile('lab'));
  const t = { ...topology, customer: CUSTOMER };
  const cold: number[] = [];
  const warm: number[] = [];
  const down: number[] = [];
  await labDown(CUSTOMER);
  try {
    for (let i = 0; i < runs; i++) {
      cold.push(await timed(() => labUp(t)));
      for (let j = 0; j < 2; j++) warm.push(await timed(() => labUp(t)));
      down.push(await timed(() => labDown(CUSTOMER)));
      process.stderr.write(
        `run ${i + 1}/${runs}: cold ${cold[i].toFixed(0)} ms, warm ${warm
          .slice(-2)
          .map((x) => x.toFixed(0))
          .join('/')} ms, down ${down[i].toFixed(0)} ms\n`,
      );
    }
  } finally {
    await labDown(CUSTOMER);
  }
  const row = (name: string, xs: number[]) => {
    const s = stats(xs);
    return `| ${name} | ${xs.length} | ${(s.min / 1000).toFixed(2)} s | ${(s.median / 1000).toFixed(2)} s | ${(s.max / 1000).toFixed(2)} s |`;
  };
  const md = [
    '# Lab bring-up',
    '',
    `\`labUp\` of the 4-site quick-start stack (stacks/Pulumi.lab.yaml: 4 hosts, 4 region networks, one capped link),`,
    `measured by \`node bin/run-ts bench/lab-up.ts ${runs}\` on ${new Date().toISOString().slice(0, 10)}:`,
    `${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), kernel ${os.release()}, Node ${process.version};`,
    `1-minute load average ${loadBefore.toFixed(1)} before and ${os.loadavg()[0].toFixed(1)} after (other work on the machine slows every figure).`,
    'Cold = nothing of the stack exists (namespaces, keys, mounts, sshd all made); warm = the stack is up',
    '(`up` again: checks everything, changes nothing). Target: a 4-site stack up in under 10 s.',
    '',
    '| step | runs | min | median | max |',
    '|---|---|---|---|---|',
    row('lab up, cold', cold),
    row('lab up, warm (idempotent)', warm),
    row('lab down', down),
    '',
    'A cold `up` is dominated by process start-ups (ip, tc, ssh-keygen, unshare, nsenter, sshd);',
    'the hosts are made in parallel. The `tandem` command adds ~0.5 s of start-up on top (sources transpiled by esbuild-register as they load).',
    '',
  ].join('\n');
  fs.writeFileSync(path.join(__dirname, 'lab.md'), md);
  process.stdout.write(md);
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
