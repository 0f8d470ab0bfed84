// What src/daemon.ts does before creating its core: register the backing stores (vitest setupFiles).
import { registerBackstores } from '../../src/engine/backstore/register.js';

registerBackstores();
