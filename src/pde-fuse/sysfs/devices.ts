import { PERIPHERAL_TYPE_TEXT } from '../../engine/scsi/constants.js';
import type { Device } from '../../engine/device.js';
import { MgmtError, einval } from '../../engine/errors.js';
import { FileBackstore } from '../../engine/backstore/file.js';
import { NullBackstore } from '../../engine/backstore/null.js';
import { NULLIO_DEFAULT_SIZE } from '../../engine/handlers.js';
import { DEFAULT_MAX_TGT_DEV_COMMANDS, defaultThreadsNum, deviceAttrs } from '../../engine/mgmt.js';
import { prState } from '../../engine/scsi/pr.js';
import { Sense, type Asc } from '../../engine/scsi/constants.js';
import { link, type PdeNode } from '../node.js';
import { keyed, membersDir, parse01, ro, rw, sdir, wo } from './attr.js';
import type { SysfsContext } from './context.js';
import { exportLinks } from './exports.js';
import { chomp, firstLine, kstrtol, kstrtoul, trimBlanks } from './lexer.js';
import { extBlockOf } from '../../engine/ext-block.js';

// R/devices/<d>/ (sysfs.md §6): the core entries of every device and the vdisk attributes of its
// handler (presence matrix §6.2), the handler link and exported/ links.


export function typeText(type: number): string {
  return `${type} - ${PERIPHERAL_TYPE_TEXT[type] ?? 'unknown'}\n`;
}

/** THIN PROVISIONING SOFT THRESHOLD REACHED (SBC-4 4.7.3.7). */
const SOFT_THRESHOLD_REACHED: Asc = { key: 0x6, asc: 0x38, ascq: 0x07 };

const MiB = 1024 * 1024;
/** How long deactivating a device waits for I/O already in the backing store. */
const DEACTIVATE_WAIT_MS = 5000;

type Flavour = 'F' | 'B' | 'N' | 'C' | 'R';

function flavour(dev: Device): Flavour | null {
  switch (dev.handler) {
    case 'vdisk_fileio':
      return 'F';
    case 'vdisk_blockio':
      return 'B';
    case 'vdisk_nullio':
      return 'N';
    case 'vcdrom':
      return 'C';
    case 'vdisk_rbd':
      return 'R';
    default:
      return null;
  }
}

/** Whether any session maps the device (pr_state and pr_file_name refuse then). */
const mapped = (dev: Device) => dev.tgtDevs.size > 0;

/** A string attribute limited to `max` characters of its first line; key once written. */
function idString(dev: Device, name: string, max: number, get: () => string, set: (v: string) => void): PdeNode {
  return rw(
    () => keyed(get(), dev.explicit.has(name)),
    (text) => {
      const v = firstLine(text);
      if (v.length > max) throw einval(`${name}: '${v}' is longer than ${max} characters`);
      set(v);
      dev.explicit.add(name);
    },
  );
}

/** eui64_id / naa_id: hex digits of allowed lengths (optional 0x); empty clears. */
function hexId(dev: Device, name: 'eui64_id' | 'naa_id', ok: (hex: string) => boolean, get: () => string | null, set: (v: string | null) => void): PdeNode {
  return rw(
    () => {
      const v = get();
      return v ? keyed(`0x${v.replace(/^0x/i, '')}`, true) : '\n';
    },
    (text) => {
      const t = trimBlanks(text);
      if (t === '') {
        set(null);
        dev.explicit.delete(name);
        return;
      }
      const hex = t.replace(/^0x/i, '');
      if (!/^[0-9a-fA-F]+$/.test(hex) || !ok(hex)) throw einval(`${name}: invalid identifier '${t}'`);
      set(hex.toLowerCase());
      dev.explicit.add(name);
    },
  );
}

async function deactivate(dev: Device): Promise<void> {
  await dev.whenIdle(DEACTIVATE_WAIT_MS);
  const bs = dev.backstore;
  dev.backstore = null;
  dev.mediaGeneration++;
  await bs?.close();
}

async function activate(dev: Device): Promise<void> {
  if (!dev.filename) throw einval(`${dev.name}: no file name to open`);
  try {
    dev.backstore = await FileBackstore.open(dev.filename, { readOnly: dev.readOnly, writeThrough: dev.writeThrough });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new MgmtError(code === 'ENOENT' || code === 'EACCES' || code === 'EPERM' ? code : 'EINVAL', `${dev.name}: cannot open ${dev.filename}: ${(e as Error).message}`);
  }
  dev.mediaGeneration++;
  dev.queueUA(Sense.CAPACITY_DATA_CHANGED);
}

/** nullio: a new size (bytes, a multiple of the block size). */
function resizeNull(dev: Device, bytes: number): void {
  if (bytes === 0) throw einval(`${dev.name}: a vdisk_nullio device needs at least one block, size 0 refused`);
  if (bytes % dev.blockSize !== 0) throw einval(`${dev.name}: size ${bytes} is not a multiple of the block size ${dev.blockSize}`);
  const bs = dev.backstore;
  if (!(bs instanceof NullBackstore)) throw new MgmtError('EMEDIUMTYPE', `${dev.name}: no backing store`);
  if (bs.size === bytes) return;
  bs.size = bytes;
  dev.mediaGeneration++;
  dev.queueUA(Sense.CAPACITY_DATA_CHANGED);
}

function renderPrState(dev: Device): string {
  const s = prState(dev);
  let out = `version 1\ngeneration ${s.generation}\n`;
  if (s.reservation) out += `reservation ${s.reservation.type} ${s.reservation.holder ?? -1}\n`;
  s.registrations.forEach((r, i) => {
    out += `registrant ${i} key 0x${r.key.toString(16)} initiator ${r.initiator}${r.isid ? ` isid ${r.isid}` : ''} rel_tgt_id ${r.relTgtId}${r.allTgPt ? ' all_tg_pt' : ''}\n`;
  });
  return out;
}

/** The core entries of every device (sysfs.md §6.1). */
function coreEntries(ctx: SysfsContext, dev: Device): Array<readonly [string, PdeNode]> {
  const a = () => deviceAttrs(dev);
  const defThreads = defaultThreadsNum(dev.handler);
  const out: Array<readonly [string, PdeNode]> = [
    ['type', ro(() => typeText(dev.type))],
    [
      'max_tgt_dev_commands',
      rw(
        () => keyed(a().maxTgtDevCommands, a().maxTgtDevCommands !== DEFAULT_MAX_TGT_DEV_COMMANDS),
        (text) => {
          const v = kstrtol(text, 'max_tgt_dev_commands');
          if (v < 0) throw einval(`max_tgt_dev_commands ${v} is negative`);
          a().maxTgtDevCommands = v;
        },
      ),
    ],
    [
      'numa_node_id',
      rw(
        () => keyed(a().numaNodeId, a().numaNodeId !== -1),
        (text) => {
          const v = kstrtol(text, 'numa_node_id');
          if (v < -1) throw einval(`numa_node_id ${v} is below -1`);
          a().numaNodeId = v;
        },
      ),
    ],
    [
      'block',
      rw(
        () => `${extBlockOf(dev).count} ${extBlockOf(dev).pending > 0 ? 1 : 0}\n`,
        (text) => {
          // scst_dev_block_store: "0" unblocks; "1" blocks and returns once the commands in
          // flight are done (a long write, EAGAIN while it lasts); "1 1 [data]" returns at once.
          const t = chomp(text);
          const b = extBlockOf(dev);
          if (/^0\s*$/.test(t)) return void b.unblock();
          if (/^1\s*$/.test(t)) return ctx.works.run(`${dev.name}/block`, () => b.block(true, DEACTIVATE_WAIT_MS));
          if (/^1\s*1(\s.*)?$/s.test(t)) return void b.block(false, DEACTIVATE_WAIT_MS);
          throw einval(`block: '${t}' not understood (0, 1 or "1 1 [data]")`);
        },
      ),
    ],
    [
      'pr_state',
      rw(
        () => renderPrState(dev),
        () =>
          ctx.works.run(`${dev.name}/pr_state`, () => {
            if (mapped(dev)) throw new MgmtError('EBUSY', `Device ${dev.name} is in use: its PR state cannot be restored`);
            throw einval(`${dev.name}: restoring persistent reservations through pr_state is not supported; use the APTPL state file`);
          }),
      ),
    ],
    ['dump_prs', wo(() => void ctx.log.info({ device: dev.name, pr: renderPrState(dev) }, `Persistent reservations of device ${dev.name}`))],
    ['exported', sdir(() => exportLinks(dev).map(([n, l]) => [n, link(() => l)] as const))],
    ['handler', link(() => `../../handlers/${dev.handler}`)],
  ];
  if (dev.handler !== 'scst_user') {
    out.push([
      'pr_file_name',
      rw(
        () => keyed(a().prFileName ?? `/var/lib/scst/pr/${dev.name}`, a().prFileName !== null),
        (text) =>
          ctx.works.run(`${dev.name}/pr_file_name`, () => {
            if (dev.clusterMode) throw new MgmtError('EPERM', `${dev.name}: pr_file_name cannot change in cluster mode`);
            if (mapped(dev)) throw new MgmtError('EBUSY', `Device ${dev.name} is in use`);
            const v = trimBlanks(text);
            a().prFileName = v === '' ? null : v;
          }),
      ),
    ]);
  }
  if (defThreads >= 0) {
    out.push(
      [
        'threads_num',
        rw(
          () => keyed(a().threadsNum, a().threadsNum !== defThreads),
          (text) => {
            const v = kstrtol(text, 'threads_num');
            if (v < 0) throw einval(`threads_num ${v} is negative`);
            if (v === a().threadsNum) return;
            return ctx.works.run(`${dev.name}/threads_num`, () => {
              a().threadsNum = v;
            });
          },
        ),
      ],
      [
        'threads_pool_type',
        rw(
          () => {
            if (a().threadsNum === 0) return 'Async\n';
            if (a().threadsNum < 0) return 'Not valid\n';
            return keyed(a().threadsPoolType, a().threadsPoolType !== 'per_initiator');
          },
          (text) => {
            const t = chomp(text).toLowerCase();
            let v: 'per_initiator' | 'shared';
            if (t.length > 0 && 'per_initiator'.startsWith(t)) v = 'per_initiator';
            else if (t.length > 0 && 'shared'.startsWith(t)) v = 'shared';
            else throw einval(`threads_pool_type: unknown type '${chomp(text)}'`);
            if (v === a().threadsPoolType) return;
            return ctx.works.run(`${dev.name}/threads_pool_type`, () => {
              a().threadsPoolType = v;
            });
          },
        ),
      ],
    );
  }
  return out;
}

/** The vdisk attributes of a device's handler (sysfs.md §6.2). */
function vdiskEntries(ctx: SysfsContext, dev: Device, f: Flavour): Array<readonly [string, PdeNode]> {
  const a = () => deviceAttrs(dev);
  const has = (...fl: Flavour[]) => fl.includes(f);
  const out: Array<readonly [string, PdeNode]> = [];
  const add = (name: string, node: PdeNode) => out.push([name, node]);

  if (has('F', 'B', 'C')) {
    add(
      'filename',
      rw(
        () => (f === 'C' && !dev.filename ? 'none\n\n' : `${dev.filename ?? ''}\n[key]\n\n`),
        (text) =>
          ctx.works.run(`${dev.name}/filename`, async () => {
            if (f === 'C') {
              await ctx.mgmt.changeVcdrom(dev.name, trimBlanks(text));
              return;
            }
            if (dev.backstore) throw einval(`vdev ${dev.name}: can't change the filename because the device is still active`);
            const fn = trimBlanks(text);
            if (fn === '') throw einval('Filename is missing');
            if (!fn.startsWith('/')) throw einval(`Path "${fn}" is not absolute`);
            dev.filename = fn;
            ctx.log.info({ device: dev.name, filename: fn }, `vdev ${dev.name}: changed filename into "${fn}"`);
          }),
      ),
    );
  }
  if (f === 'R' && dev.rbd) {
    // Where the image is: fixed at add_device (a different image is a different device).
    const r = dev.rbd;
    add('pool', ro(() => keyed(r.pool, true)));
    add('image', ro(() => keyed(r.image, true)));
    add('conf', ro(() => keyed(r.conf ?? '', r.conf !== undefined)));
    add('id', ro(() => keyed(r.id ?? 'admin', r.id !== undefined)));
    add('keyring', ro(() => keyed(r.keyring ?? '', r.keyring !== undefined)));
  }
  // An RBD device's size is the image's: never a creation parameter, so never written back.
  const sizeKey = () => f !== 'R' && !(f === 'N' && dev.size === NULLIO_DEFAULT_SIZE);
  if (f === 'N' || f === 'B') {
    const setSize = (bytes: number) =>
      ctx.works.run(`${dev.name}/size`, () => {
        if (f === 'N') return resizeNull(dev, bytes);
        if (bytes % dev.blockSize !== 0) throw einval(`${dev.name}: size ${bytes} is not a multiple of the block size ${dev.blockSize}`);
        // A block device has the size it has: only that size is accepted.
        if (bytes !== dev.size) throw einval(`${dev.name}: the size of a block device follows the device (use resync_size)`);
      });
    add(
      'size',
      rw(
        () => keyed(dev.size, sizeKey()),
        (text) => setSize(kstrtoul(text, 'size')),
      ),
    );
    add(
      'size_mb',
      rw(
        () => `${Math.floor(dev.size / MiB)}\n`,
        (text) => setSize(kstrtoul(text, 'size_mb') * MiB),
      ),
    );
  } else {
    add('size', ro(() => keyed(dev.size, sizeKey())));
    add('size_mb', ro(() => `${Math.floor(dev.size / MiB)}\n`));
  }
  if (has('F', 'B', 'N', 'R')) {
    add('blocksize', ro(() => keyed(dev.blockSize, dev.blockSize !== 512)));
    add(
      'opt_trans_len',
      rw(
        () => keyed(a().optTransLen, dev.explicit.has('opt_trans_len')),
        (text) => {
          const v = kstrtoul(text, 'opt_trans_len');
          if (v % dev.blockSize !== 0) throw einval(`opt_trans_len ${v} is not a multiple of the block size ${dev.blockSize}`);
          a().optTransLen = v;
          dev.explicit.add('opt_trans_len');
        },
      ),
    );
    add('read_only', ro(() => keyed(dev.readOnly ? 1 : 0, dev.readOnly)));
  }
  if (has('F', 'B', 'R')) {
    add('write_through', ro(() => keyed(dev.writeThrough ? 1 : 0, dev.writeThrough)));
    add('nv_cache', ro(() => keyed(dev.nvCache ? 1 : 0, dev.nvCache)));
  }
  if (has('F')) add('o_direct', ro(() => keyed(0, false)));
  if (has('F', 'B', 'R')) add('thin_provisioned', ro(() => keyed(dev.thinProvisioned ? 1 : 0, dev.explicit.has('thin_provisioned'))));
  add('tst', ro(() => keyed(dev.tst, dev.tst !== 1)));
  if (has('F', 'B', 'N', 'R')) {
    add('rotational', ro(() => keyed(dev.rotational ? 1 : 0, !dev.rotational)));
    add('removable', ro(() => keyed(dev.removable ? 1 : 0, dev.removable)));
  }
  if (has('N')) {
    add('dummy', ro(() => keyed(dev.dummy ? 1 : 0, dev.dummy)));
    add(
      'read_zero',
      rw(
        () => keyed(a().readZero ? 1 : 0, a().readZero),
        (text) => {
          a().readZero = parse01(text, 'read_zero');
        },
      ),
    );
  }
  if (has('F', 'B')) {
    add(
      'expl_alua',
      rw(
        () => keyed(dev.explAlua ? 1 : 0, dev.explAlua),
        (text) => {
          dev.explAlua = kstrtoul(text, 'expl_alua') !== 0;
        },
      ),
    );
    add(
      'active',
      rw(
        () => keyed(dev.backstore ? 1 : 0, !dev.backstore),
        (text) => {
          const on = parse01(text, 'active');
          return ctx.works.run(`${dev.name}/active`, async () => {
            if (on === (dev.backstore !== null)) return;
            if (on) await activate(dev);
            else await deactivate(dev);
            ctx.log.info({ device: dev.name, active: on }, `vdev ${dev.name}: ${on ? 'activated' : 'deactivated'}`);
          });
        },
      ),
    );
    const dflt = f === 'B';
    add(
      'bind_alua_state',
      rw(
        () => keyed(a().bindAluaState ? 1 : 0, a().bindAluaState !== dflt),
        (text) => {
          a().bindAluaState = kstrtoul(text, 'bind_alua_state') !== 0;
        },
      ),
    );
  }
  if (has('F', 'B', 'N', 'R')) {
    add(
      'cluster_mode',
      rw(
        () => keyed(dev.clusterMode ? 1 : 0, dev.clusterMode),
        (text) => {
          const on = parse01(text, 'cluster_mode');
          return ctx.works.run(`${dev.name}/cluster_mode`, () => ctx.mgmt.setClusterMode(dev, on));
        },
      ),
    );
  }
  if (has('F')) {
    add(
      'async',
      rw(
        () => keyed(a().async ? 1 : 0, a().async),
        (text) => {
          a().async = parse01(text, 'async');
        },
      ),
    );
  }
  if (has('F', 'B')) {
    add(
      'lb_per_pb_exp',
      rw(
        () => keyed(dev.lbPerPbExp ? 1 : 0, !dev.lbPerPbExp),
        (text) => {
          dev.lbPerPbExp = parse01(text, 'lb_per_pb_exp');
        },
      ),
    );
  }
  if (has('F', 'B', 'R')) {
    add(
      'resync_size',
      wo(() =>
        ctx.works.run(`${dev.name}/resync_size`, async () => {
          if (!dev.backstore) throw new MgmtError('EMEDIUMTYPE', `${dev.name}: not active`);
          await ctx.mgmt.resyncSize(dev.name);
        }),
      ),
    );
    add(
      'sync',
      wo(async () => {
        const bs = dev.backstore;
        if (!bs) throw new MgmtError('EMEDIUMTYPE', `${dev.name}: not active`);
        await new Promise<void>((resolve, reject) => bs.flush((e) => (e ? reject(new MgmtError('EIO', `${dev.name}: flush failed: ${e.message}`)) : resolve())));
      }),
    );
    if (dev.thinProvisioned) {
      add(
        'gen_tp_soft_threshold_reached_UA',
        wo(() => {
          if (!dev.thinProvisioned) throw einval(`${dev.name} is not thin provisioned`);
          dev.queueUA(SOFT_THRESHOLD_REACHED);
        }),
      );
    }
  }
  add('t10_vend_id', idString(dev, 't10_vend_id', 8, () => dev.t10VendId, (v) => (dev.t10VendId = v)));
  add('vend_specific_id', idString(dev, 'vend_specific_id', 128, () => dev.vendSpecificId, (v) => (dev.vendSpecificId = v)));
  add('prod_id', idString(dev, 'prod_id', 16, () => dev.prodId, (v) => (dev.prodId = v)));
  add('prod_rev_lvl', idString(dev, 'prod_rev_lvl', 4, () => dev.prodRevLvl, (v) => (dev.prodRevLvl = v)));
  add(
    'scsi_device_name',
    rw(
      () => keyed(dev.scsiDeviceName, dev.scsiDeviceName !== ''),
      (text) => {
        const v = firstLine(text);
        if (v.length > 256) throw einval('scsi_device_name is longer than 256 characters');
        dev.scsiDeviceName = v;
      },
    ),
  );
  add(
    't10_dev_id',
    rw(
      () => keyed(dev.t10DevId, dev.explicit.has('t10_dev_id')),
      (text) => {
        if (dev.clusterMode) throw new MgmtError('EPERM', `${dev.name}: t10_dev_id cannot change in cluster mode`);
        const v = firstLine(text);
        if (v.length > 25) throw einval(`t10_dev_id '${v}' is longer than 25 characters`);
        dev.t10DevId = v;
        dev.explicit.add('t10_dev_id');
        dev.queueUA(Sense.INQUIRY_DATA_CHANGED);
      },
    ),
  );
  add('usn', idString(dev, 'usn', 20, () => dev.usn, (v) => (dev.usn = v)));
  add(
    'eui64_id',
    hexId(dev, 'eui64_id', (h) => h.length === 16 || h.length === 24 || h.length === 32, () => dev.eui64Id, (v) => (dev.eui64Id = v)),
  );
  add(
    'naa_id',
    hexId(dev, 'naa_id', (h) => (h.length === 16 && '235'.includes(h[0]!)) || (h.length === 32 && h[0] === '6'), () => dev.naaId, (v) => (dev.naaId = v)),
  );
  add(
    'inq_vend_specific',
    rw(
      () => keyed(a().inqVendSpecific, a().inqVendSpecific !== ''),
      (text) => {
        const v = firstLine(text);
        if (Buffer.byteLength(v) > 160) throw einval('inq_vend_specific is longer than 160 bytes');
        a().inqVendSpecific = v;
      },
    ),
  );
  return out;
}

type Entries = ReadonlyArray<readonly [string, PdeNode]>;

/** How many device directories keep their entries (see devicesDir). */
const RECENT_DEVICE_DIRS = 64;

function deviceDir(ctx: SysfsContext, dev: Device, recent: Map<Device, Entries>): PdeNode {
  const entries = (): Entries => {
    let e = recent.get(dev);
    if (e) recent.delete(dev);
    else {
      const f = flavour(dev);
      // Thin provisioning is fixed at creation, so the set of entries (gen_tp_... included) is too.
      e = [...coreEntries(ctx, dev), ...(f ? vdiskEntries(ctx, dev, f) : [])];
      if (recent.size >= RECENT_DEVICE_DIRS) recent.delete(recent.keys().next().value!);
    }
    recent.set(dev, e);
    return e;
  };
  return sdir(entries);
}

/** R/devices/: one directory per device, nodes kept per device object. */
export function devicesDir(ctx: SysfsContext): PdeNode {
  const devices = ctx.scst.devices;
  // A device directory holds about 45 attribute nodes (some 10 KB). A scan of 10,000 devices
  // (scstadmin reads every one) keeping all of them would grow the heap by 100 MB, and the
  // collector's pauses with it: only the directories used last keep their entries, newest last;
  // any other makes them again on its next use (the state they show lives in the engine).
  const recent = new Map<Device, Entries>();
  return membersDir(() => [], {
    list: () => devices.values(),
    get: (name) => devices.get(name),
    count: () => devices.size,
    version: () => devices.version,
    name: (d) => d.name,
    make: (d) => deviceDir(ctx, d, recent),
    dirs: true,
  });
}

