// A management or configuration request that was refused. `errno` is what a write(2) on the
// management tree returns, so a shell shows e.g. "write error: Invalid argument".

export type Errno = 'EINVAL' | 'EEXIST' | 'ENOENT' | 'EBUSY' | 'EPERM' | 'EACCES' | 'ENOMEM' | 'EAGAIN' | 'EMEDIUMTYPE' | 'EBADSLT' | 'ENODEV' | 'EIO' | 'EOVERFLOW' | 'EOPNOTSUPP' | 'ETIMEDOUT' | 'ENOSYS';

export class MgmtError extends Error {
  constructor(
    readonly errno: Errno,
    message: string,
  ) {
    super(message);
  }
}

export const einval = (msg: string) => new MgmtError('EINVAL', msg);
