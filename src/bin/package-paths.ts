// Where the package's own directories are, from dist/src/bin as from src/bin (tests run the
// sources): the embedded default config and the default mount point, shared by scstd and
// scstadmin so that `npx scstd` publishes the tree exactly where `npx scstadmin` looks for it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const PACKAGE_DIR = path.resolve(here, '..', '..', ...(here.includes(`${path.sep}dist${path.sep}`) ? ['..'] : []));

/** etc/scstd-default.conf: the config scstd runs without --config. */
export const DEFAULT_CONFIG = path.join(PACKAGE_DIR, 'etc', 'scstd-default.conf');
/** mount/: where scstd publishes its trees without --mount, and where scstadmin looks without --root. */
export const DEFAULT_MOUNT = path.join(PACKAGE_DIR, 'mount');
