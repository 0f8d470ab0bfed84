// Options of the procfs-era scstadmin (procfs.md §7.1).

import type { OptionSpec } from '../cli/getopt.js';

const req = (name: string): OptionSpec => ({ name, kind: 'required' });
const opt = (name: string): OptionSpec => ({ name, kind: 'optional' });
const flag = (name: string): OptionSpec => ({ name, kind: 'flag' });

export const PROCFS_OPTIONS: readonly OptionSpec[] = [
  opt('config'),
  flag('ForceConfig'),
  opt('checkConfig'),
  req('WriteConfig'),
  flag('ClearConfig'),
  flag('sessions'),
  req('adddev'),
  req('resyncdev'),
  req('RemoveDev'),
  req('SetT10DeviceId'),
  req('adduser'),
  req('MoveUser'),
  req('RemoveUser'),
  flag('ClearUsers'),
  req('addgroup'),
  req('renamegroup'),
  req('RemoveGroup'),
  req('assigndev'),
  req('ReplaceDev'),
  req('ReleaseDev'),
  flag('ClearDevs'),
  req('enable'),
  req('disable'),
  flag('issuelip'),
  req('handler'),
  req('path'),
  req('device'),
  req('group'),
  req('to'),
  req('lun'),
  req('options'),
  req('blocksize'),
  flag('noprompt'),
  flag('debug'),
  flag('h'),
  flag('help'),
  req('root'),
];
