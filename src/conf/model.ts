// The scst.conf data model (scstadmin.md §6.2): plain data, items in order of appearance, each
// carrying the 1-based line it came from so later stages can point users at the offending line.

/** Attributes of one object; a name repeated with different values is multi-valued (§6.5). */
export type Attrs = Array<{ name: string; value: string; line: number }>;

export interface ScstConfig {
  /** Top-level items: SCST core attributes (setup_id, ...). */
  attributes: Attrs;
  handlers: HandlerConf[];
  drivers: DriverConf[];
  /** Contents of the ALUA section (attributes of the device_groups directory). */
  alua: Attrs;
  deviceGroups: DeviceGroupConf[];
  /** Non-fatal findings (e.g. a `/dev/` prefix stripped from a device name); absent when none. */
  warnings?: string[];
}

export interface HandlerConf {
  name: string;
  line: number;
  attributes: Attrs;
  devices: DeviceConf[];
}

export interface DeviceConf {
  name: string;
  line: number;
  attributes: Attrs;
}

export interface DriverConf {
  name: string;
  line: number;
  attributes: Attrs;
  targets: TargetConf[];
}

export interface TargetConf {
  name: string;
  line: number;
  /** `HW_TARGET` was given: the target must already exist (hardware), never created. */
  hwTarget: boolean;
  attributes: Attrs;
  luns: LunConf[];
  groups: GroupConf[];
}

export interface LunConf {
  lun: number;
  device: string;
  line: number;
  attributes: Attrs;
}

export interface GroupConf {
  name: string;
  line: number;
  attributes: Attrs;
  luns: LunConf[];
  initiators: Array<{ name: string; line: number }>;
}

export interface TargetGroupTargetConf {
  name: string;
  line: number;
  attributes: Attrs;
}

export interface TargetGroupConf {
  name: string;
  line: number;
  attributes: Attrs;
  targets: TargetGroupTargetConf[];
}

export interface DeviceGroupConf {
  name: string;
  line: number;
  attributes: Attrs;
  devices: string[];
  targetGroups: TargetGroupConf[];
}

/** Highest LUN number SCST accepts. */
export const MAX_LUN = 16383;
