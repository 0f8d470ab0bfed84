// The part of fuse-native 2.2 (CommonJS, untyped) this daemon uses.
declare module 'fuse-native' {
  namespace Fuse {
    interface Stat {
      mode: number;
      uid: number;
      gid: number;
      size: number;
      nlink: number;
      atime: Date;
      mtime: Date;
      ctime: Date;
    }
    type Done = (result: number) => void;
    interface Ops {
      init?(cb: Done): void;
      getattr?(path: string, cb: (err: number, stat?: Stat) => void): void;
      readdir?(path: string, cb: (err: number, names?: string[]) => void): void;
      readlink?(path: string, cb: (err: number, target?: string) => void): void;
      open?(path: string, flags: number, cb: (err: number, fd?: number) => void): void;
      release?(path: string, fd: number, cb: Done): void;
      read?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Done): void;
      write?(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: Done): void;
      fsync?(path: string, datasync: boolean, fd: number, cb: Done): void;
      truncate?(path: string, size: number, cb: Done): void;
      ftruncate?(path: string, fd: number, size: number, cb: Done): void;
      create?(path: string, mode: number, cb: (err: number, fd?: number) => void): void;
      utimens?(path: string, atime: number, mtime: number, cb: Done): void;
      chmod?(path: string, mode: number, cb: Done): void;
      chown?(path: string, uid: number, gid: number, cb: Done): void;
      unlink?(path: string, cb: Done): void;
      rename?(src: string, dest: string, cb: Done): void;
      mkdir?(path: string, mode: number, cb: Done): void;
      rmdir?(path: string, cb: Done): void;
    }
    interface Options {
      force?: boolean;
      mkdir?: boolean;
      /** ms before fuse-native answers a request itself; per operation name, `default` for the rest. */
      timeout?: number | false | Record<string, number | false>;
      debug?: boolean;
    }
  }
  class Fuse {
    constructor(mnt: string, ops: Fuse.Ops, opts?: Fuse.Options);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    /** Builds the -o option string handed to libfuse. */
    protected _fuseOptions(): string;
    /** The native session (fuse_thread_t), allocated when mounting starts. */
    protected _thread: Buffer | null;
    static unmount(mnt: string, cb: (err: Error | null) => void): void;
    static readonly EPERM: number;
    static readonly ENOENT: number;
    static readonly EIO: number;
    static readonly EACCES: number;
    static readonly EISDIR: number;
  }
  export = Fuse;
}
