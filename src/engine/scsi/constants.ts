// SCSI status codes (SAM-5), sense keys and the additional sense codes this target reports.

export const Status = {
  GOOD: 0x00,
  CHECK_CONDITION: 0x02,
  CONDITION_MET: 0x04,
  BUSY: 0x08,
  RESERVATION_CONFLICT: 0x18,
  TASK_SET_FULL: 0x28,
  ACA_ACTIVE: 0x30,
  TASK_ABORTED: 0x40,
} as const;

export const SenseKey = {
  NO_SENSE: 0x0,
  RECOVERED_ERROR: 0x1,
  NOT_READY: 0x2,
  MEDIUM_ERROR: 0x3,
  HARDWARE_ERROR: 0x4,
  ILLEGAL_REQUEST: 0x5,
  UNIT_ATTENTION: 0x6,
  DATA_PROTECT: 0x7,
  BLANK_CHECK: 0x8,
  COPY_ABORTED: 0xa,
  ABORTED_COMMAND: 0xb,
  MISCOMPARE: 0xe,
} as const;

/** An additional sense code / qualifier pair with its sense key. */
export interface Asc {
  key: number;
  asc: number;
  ascq: number;
}

const a = (key: number, asc: number, ascq: number): Asc => ({ key, asc, ascq });

export const Sense = {
  INVALID_OPCODE: a(SenseKey.ILLEGAL_REQUEST, 0x20, 0x00),
  LBA_OUT_OF_RANGE: a(SenseKey.ILLEGAL_REQUEST, 0x21, 0x00),
  INVALID_FIELD_IN_CDB: a(SenseKey.ILLEGAL_REQUEST, 0x24, 0x00),
  LUN_NOT_SUPPORTED: a(SenseKey.ILLEGAL_REQUEST, 0x25, 0x00),
  INVALID_FIELD_IN_PARAM_LIST: a(SenseKey.ILLEGAL_REQUEST, 0x26, 0x00),
  PARAM_LIST_LENGTH_ERROR: a(SenseKey.ILLEGAL_REQUEST, 0x1a, 0x00),
  SAVING_PARAMS_NOT_SUPPORTED: a(SenseKey.ILLEGAL_REQUEST, 0x39, 0x00),
  MEDIUM_REMOVAL_PREVENTED: a(SenseKey.ILLEGAL_REQUEST, 0x53, 0x02),
  WRITE_PROTECTED: a(SenseKey.DATA_PROTECT, 0x27, 0x00),
  MEDIUM_NOT_PRESENT: a(SenseKey.NOT_READY, 0x3a, 0x00),
  NOT_READY_MANUAL_INTERVENTION: a(SenseKey.NOT_READY, 0x04, 0x03),
  /** LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION: initiators retry it. */
  ALUA_TRANSITIONING: a(SenseKey.NOT_READY, 0x04, 0x0a),
  POWER_ON_RESET: a(SenseKey.UNIT_ATTENTION, 0x29, 0x00),
  BUS_RESET: a(SenseKey.UNIT_ATTENTION, 0x29, 0x02),
  DEVICE_RESET: a(SenseKey.UNIT_ATTENTION, 0x29, 0x03),
  I_T_NEXUS_LOSS: a(SenseKey.UNIT_ATTENTION, 0x29, 0x07),
  REPORTED_LUNS_DATA_CHANGED: a(SenseKey.UNIT_ATTENTION, 0x3f, 0x0e),
  INQUIRY_DATA_CHANGED: a(SenseKey.UNIT_ATTENTION, 0x3f, 0x03),
  CAPACITY_DATA_CHANGED: a(SenseKey.UNIT_ATTENTION, 0x2a, 0x09),
  MODE_PARAMETERS_CHANGED: a(SenseKey.UNIT_ATTENTION, 0x2a, 0x01),
  COMMANDS_CLEARED_BY_ANOTHER_INITIATOR: a(SenseKey.UNIT_ATTENTION, 0x2f, 0x00),
  MEDIUM_MAY_HAVE_CHANGED: a(SenseKey.UNIT_ATTENTION, 0x28, 0x00),
  READ_ERROR: a(SenseKey.MEDIUM_ERROR, 0x11, 0x00),
  WRITE_ERROR: a(SenseKey.MEDIUM_ERROR, 0x0c, 0x00),
  SPACE_ALLOCATION_FAILED: a(SenseKey.DATA_PROTECT, 0x27, 0x07),
  INTERNAL_TARGET_FAILURE: a(SenseKey.HARDWARE_ERROR, 0x44, 0x00),
  LOGICAL_UNIT_FAILURE: a(SenseKey.HARDWARE_ERROR, 0x3e, 0x01),
  /** SET TARGET PORT GROUPS FAILED (SCST's answer to any descriptor it cannot honour). */
  SET_TARGET_PGS_FAILED: a(SenseKey.HARDWARE_ERROR, 0x67, 0x0a),
  COMMAND_ABORTED: a(SenseKey.ABORTED_COMMAND, 0x00, 0x00),
  LU_COMMUNICATION_FAILURE: a(SenseKey.ABORTED_COMMAND, 0x08, 0x00),
  MISCOMPARE_DURING_VERIFY: a(SenseKey.MISCOMPARE, 0x1d, 0x00),
  OVERLAPPED_COMMANDS: a(SenseKey.ABORTED_COMMAND, 0x4e, 0x00),
  NO_ADDITIONAL_SENSE: a(SenseKey.NO_SENSE, 0x00, 0x00),
  RESERVATIONS_PREEMPTED: a(SenseKey.UNIT_ATTENTION, 0x2a, 0x03),
  RESERVATIONS_RELEASED: a(SenseKey.UNIT_ATTENTION, 0x2a, 0x04),
  REGISTRATIONS_PREEMPTED: a(SenseKey.UNIT_ATTENTION, 0x2a, 0x05),
  INVALID_RELEASE_OF_PR: a(SenseKey.ILLEGAL_REQUEST, 0x26, 0x04),
  INSUFFICIENT_REGISTRATION_RESOURCES: a(SenseKey.ILLEGAL_REQUEST, 0x55, 0x04),
  SANITIZE_IN_PROGRESS: a(SenseKey.NOT_READY, 0x04, 0x1b),
  SANITIZE_FAILED: a(SenseKey.MEDIUM_ERROR, 0x31, 0x03),
  INVALID_FIELD_IN_IU: a(SenseKey.ILLEGAL_REQUEST, 0x0e, 0x03),
  TOO_MANY_TARGET_DESCRIPTORS: a(SenseKey.ILLEGAL_REQUEST, 0x26, 0x06),
  UNSUPPORTED_TARGET_DESCRIPTOR: a(SenseKey.ILLEGAL_REQUEST, 0x26, 0x07),
  TOO_MANY_SEGMENT_DESCRIPTORS: a(SenseKey.ILLEGAL_REQUEST, 0x26, 0x08),
  UNSUPPORTED_SEGMENT_DESCRIPTOR: a(SenseKey.ILLEGAL_REQUEST, 0x26, 0x09),
  COPY_ABORTED: a(SenseKey.COPY_ABORTED, 0x00, 0x00),
  UNREACHABLE_COPY_TARGET: a(SenseKey.COPY_ABORTED, 0x08, 0x04),
  DATA_PHASE_ERROR: a(SenseKey.ABORTED_COMMAND, 0x4b, 0x00),
  MEDIUM_LOAD_OR_EJECT_FAILED: a(SenseKey.NOT_READY, 0x53, 0x00),
} as const;

/** Peripheral device types (SPC-4 table 2x). */
export const DeviceType = {
  DISK: 0x00,
  CDROM: 0x05,
} as const;

export const PERIPHERAL_TYPE_TEXT = [
  'Direct-access device (e.g., magnetic disk)',
  'Sequential-access device (e.g., magnetic tape)',
  'Printer device',
  'Processor device',
  'Write-once device (e.g., some optical disks)',
  'CD-ROM device',
  'Scanner device (obsolete)',
  'Optical memory device (e.g., some optical disks)',
  'Medium changer device (e.g., jukeboxes)',
  'Communications device (obsolete)',
  'Defined by ASC IT8 (Graphic arts pre-press devices)',
  'Defined by ASC IT8 (Graphic arts pre-press devices)',
  'Storage array controller device (e.g., RAID)',
  'Enclosure services device',
  'Simplified direct-access device (e.g., magnetic disk)',
  'Optical card reader/writer device',
];

/** Operation codes implemented or explicitly recognised. */
export const Op = {
  TEST_UNIT_READY: 0x00,
  REQUEST_SENSE: 0x03,
  FORMAT_UNIT: 0x04,
  READ_6: 0x08,
  WRITE_6: 0x0a,
  INQUIRY: 0x12,
  MODE_SELECT_6: 0x15,
  RESERVE_6: 0x16,
  RELEASE_6: 0x17,
  MODE_SENSE_6: 0x1a,
  START_STOP_UNIT: 0x1b,
  SEND_DIAGNOSTIC: 0x1d,
  PREVENT_ALLOW_MEDIUM_REMOVAL: 0x1e,
  READ_CAPACITY_10: 0x25,
  READ_10: 0x28,
  WRITE_10: 0x2a,
  WRITE_AND_VERIFY_10: 0x2e,
  VERIFY_10: 0x2f,
  PRE_FETCH_10: 0x34,
  SYNCHRONIZE_CACHE_10: 0x35,
  READ_TOC: 0x43,
  GET_CONFIGURATION: 0x46,
  GET_EVENT_STATUS_NOTIFICATION: 0x4a,
  READ_DISC_INFORMATION: 0x51,
  MODE_SELECT_10: 0x55,
  RESERVE_10: 0x56,
  RELEASE_10: 0x57,
  MODE_SENSE_10: 0x5a,
  READ_16: 0x88,
  WRITE_16: 0x8a,
  WRITE_AND_VERIFY_16: 0x8e,
  VERIFY_16: 0x8f,
  SYNCHRONIZE_CACHE_16: 0x91,
  SERVICE_ACTION_IN_16: 0x9e,
  REPORT_LUNS: 0xa0,
  MAINTENANCE_IN: 0xa3,
  MAINTENANCE_OUT: 0xa4,
  READ_12: 0xa8,
  WRITE_12: 0xaa,
  WRITE_AND_VERIFY_12: 0xae,
  VERIFY_12: 0xaf,
  READ_CD: 0xbe,
  MECHANISM_STATUS: 0xbd,
  READ_DEFECT_DATA_10: 0x37,
  READ_DEFECT_DATA_12: 0xb7,
  WRITE_SAME_10: 0x41,
  UNMAP: 0x42,
  SANITIZE: 0x48,
  PERSISTENT_RESERVE_IN: 0x5e,
  PERSISTENT_RESERVE_OUT: 0x5f,
  EXTENDED_COPY: 0x83,
  RECEIVE_COPY_RESULTS: 0x84,
  COMPARE_AND_WRITE: 0x89,
  ORWRITE_16: 0x8b,
  PRE_FETCH_16: 0x90,
  WRITE_SAME_16: 0x93,
  WRITE_ATOMIC_16: 0x9c,
} as const;

export const SAI_READ_CAPACITY_16 = 0x10;
export const SAI_GET_LBA_STATUS = 0x12;
/** MAINTENANCE IN service actions (SPC-4). */
export const MI_REPORT_TARGET_PORT_GROUPS = 0x0a;
export const MI_REPORT_SUPPORTED_OPCODES = 0x0c;
export const MI_REPORT_SUPPORTED_TMFS = 0x0d;
/** MAINTENANCE OUT service actions (SPC-4). */
export const MO_SET_TARGET_PORT_GROUPS = 0x0a;
