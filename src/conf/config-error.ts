// The one error type of the scst.conf reader: callers (scstd start-up, scstadmin -check_config)
// report `file:line: message` and refuse the whole file, so nothing is half-applied.

export class ConfigError extends Error {
  /** The file name given to the parser (only used for reporting). */
  readonly file: string;
  /** 1-based line the problem was found on. */
  readonly line: number;

  constructor(file: string, line: number, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
  }

  /** `file:line: message`, the form compilers use, so editors can jump to the spot. */
  describe(): string {
    return `${this.file}:${this.line}: ${this.message}`;
  }
}
