// iSCSI wire constants, RFC 7143 section 11 (PDU formats) and 13 (keys). Plain objects so that
// every value is visible in a debugger and usable in a switch without const-enum tricks.

/** Basic Header Segment length; every PDU starts with exactly this many bytes. */
export const BHS_LENGTH = 48;
/** A CRC32C header or data digest on the wire. */
export const DIGEST_LENGTH = 4;
/** Tag value meaning "no tag" (ITT/TTT/SNACK Tag), RFC 7143 11.2.1.x. */
export const RESERVED_TAG = 0xffffffff;
/** Largest DataSegmentLength the 24-bit field can carry, and the upper bound of MaxRecvDataSegmentLength. */
export const MAX_DATA_SEGMENT_LENGTH = 0xffffff;
/** RFC 7143 13.12: until it declares otherwise, a peer can receive 8192-byte data segments. */
export const DEFAULT_MAX_RECV_DATA_SEGMENT_LENGTH = 8192;
/** The only protocol version there is (RFC 7143 11.12.4): Version-max/min/active are all 0. */
export const ISCSI_VERSION = 0x00;
/** The IANA port for iSCSI. */
export const ISCSI_PORT = 3260;

export const Opcode = {
  // initiator -> target
  NOP_OUT: 0x00,
  SCSI_CMD: 0x01,
  TASK_MGMT_REQ: 0x02,
  LOGIN_REQ: 0x03,
  TEXT_REQ: 0x04,
  DATA_OUT: 0x05,
  LOGOUT_REQ: 0x06,
  SNACK_REQ: 0x10,
  // target -> initiator
  NOP_IN: 0x20,
  SCSI_RSP: 0x21,
  TASK_MGMT_RSP: 0x22,
  LOGIN_RSP: 0x23,
  TEXT_RSP: 0x24,
  DATA_IN: 0x25,
  LOGOUT_RSP: 0x26,
  R2T: 0x31,
  ASYNC_MSG: 0x32,
  REJECT: 0x3f,
} as const;

/** Byte 0 bit 6 of initiator PDUs. */
export const IMMEDIATE_BIT = 0x40;
/** Byte 1 bit 7 of most PDUs. */
export const FINAL_BIT = 0x80;

/** Reject PDU reason codes, RFC 7143 11.17.1. */
export const RejectReason = {
  DATA_DIGEST_ERROR: 0x02,
  SNACK_REJECT: 0x03,
  PROTOCOL_ERROR: 0x04,
  COMMAND_NOT_SUPPORTED: 0x05,
  IMMEDIATE_COMMAND_REJECT: 0x06,
  TASK_IN_PROGRESS: 0x07,
  INVALID_DATA_ACK: 0x08,
  INVALID_PDU_FIELD: 0x09,
  LONG_OP_REJECT: 0x0a,
  WAITING_FOR_LOGOUT: 0x0c,
} as const;

/** Login Response Status-Class values, RFC 7143 11.13.5. */
export const LoginStatusClass = {
  SUCCESS: 0x00,
  REDIRECTION: 0x01,
  INITIATOR_ERROR: 0x02,
  TARGET_ERROR: 0x03,
} as const;

/**
 * Login status as the 16-bit (class << 8 | detail) code the RFC's table uses, RFC 7143 11.13.5.
 * Split with loginStatusClass()/loginStatusDetail().
 */
export const LoginStatus = {
  SUCCESS: 0x0000,
  TARGET_MOVED_TEMPORARILY: 0x0101,
  TARGET_MOVED_PERMANENTLY: 0x0102,
  INITIATOR_ERROR: 0x0200,
  AUTHENTICATION_FAILURE: 0x0201,
  AUTHORIZATION_FAILURE: 0x0202,
  NOT_FOUND: 0x0203,
  TARGET_REMOVED: 0x0204,
  UNSUPPORTED_VERSION: 0x0205,
  TOO_MANY_CONNECTIONS: 0x0206,
  MISSING_PARAMETER: 0x0207,
  CANT_INCLUDE_IN_SESSION: 0x0208,
  SESSION_TYPE_NOT_SUPPORTED: 0x0209,
  SESSION_DOES_NOT_EXIST: 0x020a,
  INVALID_DURING_LOGIN: 0x020b,
  TARGET_ERROR: 0x0300,
  SERVICE_UNAVAILABLE: 0x0301,
  OUT_OF_RESOURCES: 0x0302,
} as const;

export const loginStatusClass = (code: number): number => (code >> 8) & 0xff;
export const loginStatusDetail = (code: number): number => code & 0xff;

/** Login CSG/NSG stage numbers, RFC 7143 11.12.3. 2 is reserved. */
export const LoginStage = {
  SECURITY_NEGOTIATION: 0,
  LOGIN_OPERATIONAL_NEGOTIATION: 1,
  FULL_FEATURE_PHASE: 3,
} as const;

/** Task Management Function Request function codes, RFC 7143 11.5.1. */
export const TmfFunction = {
  ABORT_TASK: 1,
  ABORT_TASK_SET: 2,
  CLEAR_ACA: 3,
  CLEAR_TASK_SET: 4,
  LOGICAL_UNIT_RESET: 5,
  TARGET_WARM_RESET: 6,
  TARGET_COLD_RESET: 7,
  TASK_REASSIGN: 8,
} as const;

/** Task Management Function Response codes, RFC 7143 11.6.1. */
export const TmfResponse = {
  FUNCTION_COMPLETE: 0,
  TASK_DOES_NOT_EXIST: 1,
  LUN_DOES_NOT_EXIST: 2,
  TASK_STILL_ALLEGIANT: 3,
  TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED: 4,
  TMF_NOT_SUPPORTED: 5,
  FUNCTION_AUTHORIZATION_FAILED: 6,
  FUNCTION_REJECTED: 255,
} as const;

/** Logout Request reason codes, RFC 7143 11.14.1. */
export const LogoutReason = {
  CLOSE_SESSION: 0,
  CLOSE_CONNECTION: 1,
  REMOVE_CONNECTION_FOR_RECOVERY: 2,
} as const;

/** Logout Response codes, RFC 7143 11.15.1. */
export const LogoutResponse = {
  CLOSED_SUCCESSFULLY: 0,
  CID_NOT_FOUND: 1,
  CONNECTION_RECOVERY_NOT_SUPPORTED: 2,
  CLEANUP_FAILED: 3,
} as const;

/** Asynchronous Message AsyncEvent codes, RFC 7143 11.9.1. */
export const AsyncEvent = {
  SCSI_ASYNC_EVENT: 0,
  LOGOUT_REQUESTED: 1,
  CONNECTION_DROP: 2,
  ALL_CONNECTIONS_DROP: 3,
  PARAMETER_NEGOTIATION_REQUESTED: 4,
  VENDOR_SPECIFIC: 255,
} as const;

/** SCSI Command ATTR field, RFC 7143 11.3.1.3 (SAM task attributes). */
export const TaskAttribute = {
  UNTAGGED: 0,
  SIMPLE: 1,
  ORDERED: 2,
  HEAD_OF_QUEUE: 3,
  ACA: 4,
} as const;

/** SCSI Response "Response" field, RFC 7143 11.4.3. */
export const ScsiResponseCode = {
  COMMAND_COMPLETED_AT_TARGET: 0x00,
  TARGET_FAILURE: 0x01,
} as const;

/** SNACK Request Type field, RFC 7143 11.16.1. */
export const SnackType = {
  DATA_R2T: 0,
  STATUS: 1,
  DATA_ACK: 2,
  R_DATA: 3,
} as const;

/** AHS types, RFC 7143 11.2.2.1. */
export const AhsType = {
  EXTENDED_CDB: 1,
  BIDIRECTIONAL_READ_LENGTH: 2,
} as const;
