import { registerBackstore } from '../backing-store.js';
import { FileBackstore } from './file.js';
import { NullBackstore } from './null.js';
import { RbdBackstore } from './rbd.js';

/** Register this directory's backing stores with the core (called once by the composition root). */
export function registerBackstores(): void {
  registerBackstore('file', (filename, o) => FileBackstore.open(filename, o));
  registerBackstore('null', (size, zeroFill) => new NullBackstore(size, zeroFill));
  registerBackstore('rbd', (o) => RbdBackstore.open(o));
}
