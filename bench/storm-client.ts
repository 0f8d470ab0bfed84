#!/usr/bin/env node
// The login storm's client, run as its own process: `--count` initiators (distinct InitiatorName
// and ISID each) connect and log in to one target all at once, stay logged in, and later log out
// all at once.
//
// Commands on stdin, one a line: "login" starts the storm, "logout" logs every session out; stdin
// closing closes whatever is still open and ends the program. Answers on stdout as JSON lines:
// {"event":"ready"}, {"event":"loggedIn",ms,ok,failed,firstError}, {"event":"loggedOut",ms,alive,
// ok,failed,firstError}; `ms` runs from just before the first connect (or logout) to the moment the
// last one finished.
import { Command } from 'commander';
import { intIn } from './options.js';
import { createInterface } from 'node:readline';
import { InitiatorSession } from './login-client.js';

interface Options {
  port: number;
  target: string;
  count: number;
  prefix: string;
  tag: number;
  timeoutMs: number;
}


function parseOptions(argv: string[]): Options {
  return new Command()
    .name('storm-client')
    .description('many iSCSI logins at once, held until told to log out')
    .requiredOption('--port <n>', 'target portal port on 127.0.0.1', intIn(1, 65535))
    .requiredOption('--target <iqn>', 'target name')
    .requiredOption('--count <n>', 'sessions', intIn(1, 65535))
    .option('--prefix <iqn>', 'initiator names are PREFIX-0, PREFIX-1, ...', 'iqn.2026-11.org.scst-usermode.bench:storm')
    .option('--tag <n>', 'second byte of every ISID (runs that must not reinstate each other use distinct tags)', intIn(0, 255), 0x57)
    .option('--timeout-ms <n>', 'bound of each connect+login and each logout', intIn(100, 600_000), 60_000)
    .parse(argv)
    .opts<Options>();
}

const say = (o: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
};

const why = (r: PromiseSettledResult<unknown>): string | null => (r.status === 'rejected' ? (r.reason instanceof Error ? r.reason.message : String(r.reason)) : null);

function main(): void {
  const o = parseOptions(process.argv);
  let sessions: InitiatorSession[] = [];
  let state: 'ready' | 'busy' | 'in' | 'out' = 'ready';

  const login = async (): Promise<void> => {
    const t0 = performance.now();
    const opening: Array<Promise<InitiatorSession>> = [];
    for (let i = 0; i < o.count; i++) {
      const isid = Buffer.from([0x80, o.tag, 0, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff]);
      opening.push(InitiatorSession.open({ port: o.port, targetName: o.target, initiatorName: `${o.prefix}-${i}`, isid, timeoutMs: o.timeoutMs }));
    }
    const settled = await Promise.allSettled(opening);
    const ms = performance.now() - t0;
    sessions = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const firstError = settled.map(why).find((e) => e !== null) ?? null;
    say({ event: 'loggedIn', ms: Math.round(ms * 10) / 10, ok: sessions.length, failed: o.count - sessions.length, firstError });
  };

  const logout = async (): Promise<void> => {
    const alive = sessions.filter((s) => s.alive);
    const t0 = performance.now();
    const settled = await Promise.allSettled(alive.map((s) => s.logout(o.timeoutMs)));
    const ms = performance.now() - t0;
    const failed = settled.filter((r) => r.status === 'rejected').length;
    const firstError = settled.map(why).find((e) => e !== null) ?? null;
    say({ event: 'loggedOut', ms: Math.round(ms * 10) / 10, alive: alive.length, ok: alive.length - failed, failed, firstError });
    for (const s of sessions) s.close();
    sessions = [];
  };

  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'login' && state === 'ready') {
      state = 'busy';
      void login().then(() => {
        state = 'in';
      });
    } else if (cmd === 'logout' && state === 'in') {
      state = 'busy';
      void logout().then(() => {
        state = 'out';
      });
    } else {
      say({ event: 'error', message: `"${cmd}" in state ${state}` });
    }
  });
  lines.on('close', () => {
    for (const s of sessions) s.close();
    process.exit(0);
  });
  say({ event: 'ready' });
}

main();
