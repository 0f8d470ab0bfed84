// Attribute names SCST defines per object kind (sysfs.md §4-§8). -config refuses a file that
// names an attribute nobody defines before it changes anything, instead of warning half-way
// through as the original does; for drivers and handlers not listed here only what the live tree
// shows or advertises counts.

const list = (s: string): ReadonlySet<string> => new Set(s.split(/\s+/).filter((x) => x !== ''));

export const SCST_ATTRS = list(`version threads setup_id max_tasklet_cmd poll_us suspend measure_latency async_lun_replace
  force_global_sgv_pool cluster_name trace_level trace_cmds trace_mcmds last_sysfs_mgmt_res`);

const DEVICE_CORE = `type max_tgt_dev_commands numa_node_id block pr_state pr_file_name dump_prs threads_num threads_pool_type
  dif_mode dif_type dif_static_app_tag`;

const VDISK = `${DEVICE_CORE} filename size size_mb blocksize opt_trans_len read_only write_through nv_cache o_direct
  thin_provisioned tst rotational removable dummy read_zero expl_alua active bind_alua_state cluster_mode async
  lb_per_pb_exp resync_size sync t10_vend_id vend_specific_id prod_id prod_rev_lvl scsi_device_name t10_dev_id usn
  eui64_id naa_id inq_vend_specific gen_tp_soft_threshold_reached_UA dif_filename`;

export const DEVICE_ATTRS: Readonly<Record<string, ReadonlySet<string>>> = {
  vdisk_fileio: list(VDISK),
  vdisk_blockio: list(VDISK),
  vdisk_nullio: list(VDISK),
  vdisk_rbd: list(`${VDISK} pool image conf id keyring`),
  vcdrom: list(VDISK),
};

export const HANDLER_ATTRS: Readonly<Record<string, ReadonlySet<string>>> = {
  vdisk_fileio: list('type trace_level'),
  vdisk_blockio: list('type trace_level'),
  vdisk_nullio: list('type trace_level'),
  vdisk_rbd: list('type trace_level'),
  vcdrom: list('type trace_level'),
};

const TARGET_CORE = `enabled rel_tgt_id addr_method io_grouping_type black_hole cpu_mask comment sg_tablesize forward_src
  forward_dst forwarding aen_disabled unknown_cmd_count none_cmd_count read_cmd_count write_cmd_count bidi_cmd_count
  read_io_count_kb write_io_count_kb bidi_io_count_kb read_unaligned_cmd_count write_unaligned_cmd_count
  bidi_unaligned_cmd_count dif_capabilities dif_checks_failed`;

export const TARGET_ATTRS: Readonly<Record<string, ReadonlySet<string>>> = {
  iscsi: list(`${TARGET_CORE} tid InitialR2T ImmediateData MaxRecvDataSegmentLength MaxXmitDataSegmentLength MaxBurstLength
    FirstBurstLength MaxOutstandingR2T HeaderDigest DataDigest RDMAExtensions QueuedCommands RspTimeout NopInInterval
    NopInTimeout MaxSessions per_portal_acl redirect alias IncomingUser OutgoingUser allowed_portal`),
  scst_local: list(`${TARGET_CORE} scsi_transport_version phys_transport_version session_name`),
  copy_manager: list(TARGET_CORE),
};

export const DRIVER_ATTRS: Readonly<Record<string, ReadonlySet<string>>> = {
  iscsi: list('version open_state enabled iSNSServer isns_entity_name link_local internal_portal IncomingUser OutgoingUser trace_level'),
  scst_local: list('version stats trace_level'),
  copy_manager: list('allow_not_connected_copy dif_capabilities'),
};

const GROUP_CORE = 'addr_method io_grouping_type black_hole cpu_mask';

export const GROUP_ATTRS: Readonly<Record<string, ReadonlySet<string>>> = {
  iscsi: list(`${GROUP_CORE} per_sess_dedicated_tgt_threads`),
  scst_local: list(GROUP_CORE),
  copy_manager: list(GROUP_CORE),
};

export const TARGET_GROUP_ATTRS = list('group_id preferred state');
export const TARGET_GROUP_TARGET_ATTRS = list('rel_tgt_id');
