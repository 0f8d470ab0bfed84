import type { HandlerName } from './device.js';
import { einval } from './errors.js';

// Names of devices, security groups and targets, checked before anything is created, wherever
// the request comes from (sysfs, procfs, scst.conf, a user-space handler).
//
// SCST's own rules: a device name has no '/' and no '.' (scst_check_device_name: '.' would clash
// with the saved PR and mode-page files) and fits vdisk's name buffer, char[64 + 1]
// (vdev_create: "Name %s is too long (max allowed 64)"); scst_user's device names are
// SCST_MAX_NAME (50) bytes with the NUL. Group and target names become sysfs directories. SCST
// checks nothing more, but every name here is also a token of the management commands (a
// lexem ends at white space) and a line of the listings and of scst.conf: a name with white
// space or a control character could be created and then never be named again (mapped, deleted,
// written back), so such names are refused. Everything else, UTF-8 included, is accepted.

/** vdisk: struct scst_vdisk_dev.name is char[64 + 1]. */
export const MAX_VDISK_NAME = 64;
/** SCST_MAX_NAME: scst_user's device name buffer, NUL included. */
export const SCST_MAX_NAME = 50;
/** ISCSI_NAME_LEN: iSCSI target names, NUL included. */
export const ISCSI_NAME_LEN = 256;
/** NAME_MAX: the longest directory entry, so the longest group name the trees can show. */
export const NAME_MAX = 255;

/**
 * A name as a log line or error message can carry it: as it is when it is plain, else quoted
 * with every character unprintable() refuses written as \uXXXX.
 */
export function shownName(name: string): string {
  if (name !== '' && unprintable(name) === null && !name.includes('"')) return name;
  let out = '"';
  for (const ch of name) {
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (unprintable(ch) !== null) out += `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * Why `name` cannot be one token of a command line, or null: white space (any Unicode space),
 * control characters (C0, DEL, C1) and U+FFFD, which is what bytes that are not UTF-8 decode to.
 */
export function unprintable(name: string): string | null {
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c < 0xa0)) return `control character 0x${c.toString(16).padStart(2, '0')}`;
    if (/\s/u.test(ch)) return `white space (U+${c.toString(16).toUpperCase().padStart(4, '0')})`;
    if (c === 0xfffd) return 'bytes that are not UTF-8';
  }
  return null;
}

/** The bytes a name takes in a C buffer (without the NUL). */
const bytes = (name: string): number => Buffer.byteLength(name, 'utf8');

/** A device name for `handler`: refused with EINVAL and SCST's message when it breaks a rule. */
export function checkDeviceName(name: string, handler: HandlerName): void {
  if (name === '') throw einval('Device name required');
  const bad = unprintable(name);
  if (bad) throw einval(`Dev name ${shownName(name)} contains ${bad}`);
  if (name.includes('/')) throw einval(`Dev name ${name} contains illegal character '/'`);
  if (name.includes('.')) throw einval(`Dev name ${name} contains illegal character '.'`);
  const max = handler === 'scst_user' ? SCST_MAX_NAME - 1 : MAX_VDISK_NAME;
  if (bytes(name) > max) throw einval(`Name ${name} is too long (max allowed ${max})`);
}

/**
 * A security group name. `sysfs`: a per-target group, whose directory sits beside ini_groups/mgmt.
 */
export function checkGroupName(name: string, sysfs = false): void {
  if (name === '') throw einval('Group name required');
  const bad = unprintable(name);
  if (bad) throw einval(`Group name ${shownName(name)} contains ${bad}`);
  if (name.includes('/') || name === '.' || name === '..') throw einval(`Group name ${name} contains illegal character '/' or is "." or ".."`);
  if (sysfs && name === 'mgmt') throw einval('Group name mgmt is the name of ini_groups/mgmt');
  if (bytes(name) > NAME_MAX) throw einval(`Group name ${name.slice(0, 32)}... is too long (${bytes(name)} bytes, max allowed ${NAME_MAX})`);
}

/**
 * A target name. iSCSI keeps ISCSI_NAME_LEN - 1 bytes of it (iscsi-scstd cuts a longer one
 * silently); refused here instead, which is also the longest directory entry.
 */
export function checkTargetName(name: string): void {
  if (name === '') throw einval('Target name required');
  const bad = unprintable(name);
  if (bad) throw einval(`Target name ${shownName(name)} contains ${bad}`);
  if (name.includes('/') || name === '.' || name === '..') throw einval(`Invalid target name ${name}`);
  if (bytes(name) > ISCSI_NAME_LEN - 1) throw einval(`Target name ${name.slice(0, 32)}... is too long (${bytes(name)} bytes, max allowed ${ISCSI_NAME_LEN - 1})`);
}
