import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { Logger } from 'pino';
import { initiatorAllowed } from './initiators-acl.js';

/**
 * /etc/initiators.allow and /etc/initiators.deny (procfs.md §6.5), consulted at every login and
 * SendTargets. iscsi-scstd re-reads the files each time; reading synchronously inside the login
 * path would block the event loop, so the current contents are kept and re-read (asynchronously)
 * whenever a file changes: edits apply within the watch interval, without a reload.
 */
export class AddressAcl {
  private allow: string | null = null;
  private deny: string | null = null;

  constructor(
    private readonly allowPath: string | null,
    private readonly denyPath: string | null,
    private readonly log: Logger,
    private readonly intervalMs = 250,
  ) {}

  async start(): Promise<void> {
    await this.reload();
    for (const p of [this.allowPath, this.denyPath]) if (p) fs.watchFile(p, { interval: this.intervalMs }, () => void this.reload());
  }

  private async reload(): Promise<void> {
    const read = (p: string | null) => (p ? fsp.readFile(p, 'utf8').catch(() => null) : Promise.resolve(null));
    [this.allow, this.deny] = await Promise.all([read(this.allowPath), read(this.denyPath)]);
  }

  allowed(target: string, peer: string): boolean {
    const addr = peer.startsWith('::ffff:') ? peer.slice(7) : peer;
    const ok = initiatorAllowed(this.allow, this.deny, target, addr);
    if (!ok) this.log.warn({ target, peer: addr }, `address ${addr} not allowed to connect to target ${target}`);
    return ok;
  }

  close(): void {
    for (const p of [this.allowPath, this.denyPath]) if (p) fs.unwatchFile(p);
  }
}
