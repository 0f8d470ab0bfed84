// A client program of the benchmark's own (latency-client, storm-client) run as a child that
// answers in JSON lines on stdout and takes commands on stdin. Every wait for an answer is
// bounded; the child is tracked like every other (killed by PID at the benchmark's exit).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { OutputTail } from './daemon.js';
import { placed } from './pinning.js';
import { isRunning, spawnTracked, waitExit } from './proc.js';

const HERE = dirname(fileURLToPath(import.meta.url));

export type Answer = Record<string, unknown> & { event: string };

/** Splits a stream of text into complete lines; a partial last line waits for more. */
export class LineSplitter {
  private rest = '';
  push(s: string): string[] {
    const parts = (this.rest + s).split('\n');
    this.rest = parts.pop()!;
    return parts;
  }
}

/** The JSON object of an answer line, or null when the line is not one (never throws). */
export function parseAnswer(line: string): Answer | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const event = (v as Record<string, unknown>).event;
  return typeof event === 'string' ? (v as Answer) : null;
}

export class LineChild {
  private readonly answers: Answer[] = [];
  private waiter: (() => void) | null = null;
  private readonly tail = new OutputTail(8 * 1024);
  private exited = false;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    const lines = new LineSplitter();
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => {
      for (const line of lines.push(s)) {
        const a = parseAnswer(line);
        if (a === null) this.tail.push(`${line}\n`);
        else this.answers.push(a);
      }
      this.waiter?.();
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => this.tail.push(s));
    const gone = (): void => {
      this.exited = true;
      this.waiter?.();
    };
    child.once('exit', gone);
    child.once('error', (e) => {
      this.tail.push(`spawn: ${e.message}\n`);
      gone();
    });
    // A child that died leaves its stdin unwritable: EPIPE is reported by the next wait.
    child.stdin!.on('error', () => undefined);
  }

  /**
   * Starts dist/bench/<script>.js under node, on the clients' CPUs, at the clients' priority: a
   * reader given a real-time priority would take the CPU from the writer it shares it with.
   */
  /**
   * `nice`: run it at that niceness (through nice(1); lowering it needs root, and without it
   * nice says so on stderr and runs the client at its usual priority).
   */
  static start(script: string, args: string[], o: { nice?: number } = {}): LineChild {
    const [cmd, argv] = placed('client', process.execPath, [join(HERE, `${script}.js`), ...args]);
    const child = o.nice === undefined ? spawnTracked(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] }) : spawnTracked('nice', ['-n', String(o.nice), cmd, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    return new LineChild(script, child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /**
   * The next answer, which must be `event` (an "error" answer, another event, the child's exit or
   * the time running out reject with what the child said).
   */
  async next(event: string, timeoutMs: number): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const a = this.answers.shift();
      if (a !== undefined) {
        if (a.event === event) return a;
        throw new Error(`${this.name}: ${a.event === 'error' ? String(a.message) : `"${a.event}" instead of "${event}"`}${this.stderrText()}`);
      }
      if (this.exited) throw new Error(`${this.name} exited (code ${this.child.exitCode}, signal ${this.child.signalCode}) before "${event}"${this.stderrText()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no "${event}" within ${timeoutMs} ms${this.stderrText()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.waiter = null;
          resolve();
        }, left);
        this.waiter = () => {
          clearTimeout(t);
          this.waiter = null;
          resolve();
        };
      });
    }
  }

  send(line: string): void {
    if (isRunning(this.child) && this.child.stdin!.writable) this.child.stdin!.write(`${line}\n`);
  }

  /** Closes its stdin (the programs end on that) and waits for the exit; SIGKILL after `timeoutMs`. */
  async finish(timeoutMs = 10_000): Promise<void> {
    this.child.stdin!.end();
    await waitExit(this.child, timeoutMs);
  }

  private stderrText(): string {
    const t = this.tail.get().trim();
    return t === '' ? '' : `\n  output: ${t.slice(-1500)}`;
  }
}
