// vitest setupFiles, for every test file: what src/daemon.ts does before creating its core
// (register the backing stores), and the cleanup hooks, so that tmpDir() and onCleanup() release
// what a unit test made as they do in the integration tests.
import { registerBackstores } from '../../src/engine/backstore/register.js';
import { installHarnessHooks } from './cleanup.js';

registerBackstores();
installHarnessHooks();
