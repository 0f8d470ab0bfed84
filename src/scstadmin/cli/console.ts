// scstadmin's conversation with the administrator (scstadmin.md §1.2-§1.3): progress on stdout,
// the fatal / conditionally fatal / warning blocks, and the confirmation prompt. A fatal error
// unwinds to the command's top level as an ExitRequest instead of exiting in place, so tests
// can run scstadmin in-process.

import type { Output } from '../sysfs/reader.js';

/** Thrown to end the run with `code` (the original calls exit() where this is thrown). */
export class ExitRequest extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = 'ExitRequest';
  }
}

export interface ConsoleOptions {
  out: Output;
  /** Reads one line from stdin; undefined at EOF. */
  readLine: () => Promise<string | undefined>;
  noPrompt: boolean;
  contOnErr: boolean;
}

export class Console implements Output {
  /** Set by -config so a fatal error can say how far the run got. */
  progress: { step: () => string | undefined; changes: () => number } | null = null;

  /** The last progress line begun (`\t-> <action>: `), for naming a failed step. */
  lastStep: string | undefined;

  constructor(private readonly o: ConsoleOptions) {}

  out(text: string): void {
    const m = /^\t-> (.*): $/s.exec(text);
    if (m) this.lastStep = m[1];
    this.o.out.out(text);
  }

  err(text: string): void {
    this.o.out.err(text);
  }

  get contOnErr(): boolean {
    return this.o.contOnErr;
  }

  /** `FATAL: Received the following error` and exit 1; a no-op without an error. */
  immediateExit(error: string | undefined): void {
    if (!error) return;
    this.out(`\n\nFATAL: Received the following error:\n\n\t${error}\n\n`);
    const p = this.progress;
    if (p) {
      const step = p.step();
      this.out(`Configuration partially applied: ${p.changes()} change(s) made${step ? ` before '${step}' failed` : ''}.\n`);
    }
    throw new ExitRequest(1);
  }

  /** Fatal unless -cont_on_err, which prints the bare message and goes on. */
  condExit(error: string | undefined): void {
    if (!error) return;
    if (this.o.contOnErr) {
      this.out(`${error}\n`);
      return;
    }
    this.immediateExit(error);
  }

  /** Prints the warning block; true when there was something to warn about. */
  issueWarning(error: string | undefined): boolean {
    if (!error) return false;
    this.out(`\n\nWARNING: Received the following error:\n\n\t${error}\n\n`);
    return true;
  }

  /** Asks for confirmation unless -noprompt; true means "abort the action". */
  async prompt(): Promise<boolean> {
    if (this.o.noPrompt) return false;
    this.out('Performing this action may result in lost or corrupt data, are you sure you wish to continue (y/[n]) ? ');
    const answer = await this.o.readLine();
    if (answer !== undefined && /^y(es)?$/i.test(answer.replace(/\r?\n$/, ''))) return false;
    this.out('Aborting action.\n');
    return true;
  }
}
