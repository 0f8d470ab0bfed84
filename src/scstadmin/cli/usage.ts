// The -h / -help text.

export const VERSION = 'SCST Configurator v3.11.0-pre';

export const USAGE = `${VERSION} (scst-usermode)

Usage:
     -h, -help, --help       : Show this information.

General Operations
     -config [<file>]        : Apply <file> (default /etc/scst.conf) to the running SCST.
     -check_config [<file>]  : Check <file> (default /etc/scst.conf) without applying it.
     -write_config <file>    : Save the running configuration to <file>.
     -clear_config           : Remove the whole running configuration (needs -force).
     Files ending in .yaml or .yml are read and written as YAML
     (see etc/scst-yaml-schema.md), all others as scst.conf.

Query Operations
     -list_handler [<hndlr>] : List all handlers, or the devices of <hndlr>.
     -list_device [<device>] : List all devices, or the attributes of <device>.
     -list_dgrp [<dgrp>]     : List all device groups, or the contents of <dgrp>.
     -list_tgrp [<tgrp>]     : List the target groups of a device group, or <tgrp>.
         -dev_group <dgrp>
     -list_driver [<driver>] : List all target drivers, or the targets of <driver>.
     -list_target [<target>] : List all targets, or the LUNs and groups of <target>.
         [-driver <driver>]
     -list_group [<group>]   : List the LUNs and initiators of all groups, or of <group>.
         [-driver <driver>]
         [-target <target>]
     -list_sessions          : List the sessions of every target.
     -list_cluster_nodes     : List the nodes of the cluster (scstd --cluster).

List Attribute Operations
     -list_scst_attr         : SCST core attributes.
     -list_hnd_attr <hndlr>  : Attributes of a handler.
     -list_dev_attr <device> : Attributes of a device.
     -list_drv_attr <driver> : Attributes of a target driver.
     -list_tgt_attr <target> : Attributes of a target.
          -driver <driver>
     -list_grp_attr <group>  : Attributes of a group.
          -driver <driver> -target <target>
     -list_lun_attr <lun>    : Attributes of a LUN.
          -driver <driver> -target <target> [-group <group>]
     -list_init_attr <init>  : Attributes of an initiator.
          -driver <driver> -target <target> -group <group>
     -list_dgrp_attr <dgrp>  : Attributes of a device group.
     -list_tgrp_attr <tgrp>  : Attributes of a target group.
          -dev_group <dgrp>
     -list_ttgt_attr <tgt>   : Attributes of a target in a target group.
          -dev_group <dgrp> -tgt_group <tgrp>

Set Attribute Operations (each takes -attributes <p=v,...>)
     -set_scst_attr          : SCST core attributes.
     -set_hnd_attr <hndlr>   : Handler attributes.
     -set_dev_attr <device>  : Device attributes.
     -set_drv_attr <driver>  : Target driver attributes.
     -set_tgt_attr <target>  : Target attributes (-driver <driver>).
     -set_grp_attr <group>   : Group attributes (-driver <driver> -target <target>).
     -set_lun_attr <lun>     : LUN attributes (-driver <driver> -target <target> [-group <group>]).
     -set_init_attr <init>   : Initiator attributes (-driver, -target, -group).
     -set_dgrp_attr <dgrp>   : Device group attributes.
     -set_tgrp_attr <tgrp>   : Target group attributes (-dev_group <dgrp>).
     -set_ttgt_attr <tgt>    : Target group target attributes (-dev_group, -tgt_group).

Dynamic Attribute Operations (each takes -attributes <p=v,...>)
     -add_drv_attr <driver>  : Add driver attribute values (e.g. IncomingUser).
     -add_tgt_attr <target>  : Add target attribute values (-driver <driver>).
     -rem_drv_attr <driver>  : Remove driver attribute values.
     -rem_tgt_attr <target>  : Remove target attribute values (-driver <driver>).

Device Operations
     -open_dev <device>      : Create a device.
         -handler <handler> [-attributes <p=v,...>]
     -close_dev <device>     : Delete a device (-handler <handler>).
     -resync_dev <device>    : Re-read the size of a device's backing store.

Device Group (ALUA) Operations
     -add_dgrp <dgrp>        : Create a device group.
     -rem_dgrp <dgrp>        : Delete a device group.
     -add_dgrp_dev <device>  : Add a device to a device group (-dev_group <dgrp>).
     -rem_dgrp_dev <device>  : Remove a device from a device group (-dev_group <dgrp>).
     -add_tgrp <tgrp>        : Create a target group (-dev_group <dgrp>).
     -rem_tgrp <tgrp>        : Delete a target group (-dev_group <dgrp>).
     -add_tgrp_tgt <tgt>     : Add a target to a target group (-dev_group, -tgt_group).
     -rem_tgrp_tgt <tgt>     : Remove a target from a target group (-dev_group, -tgt_group).

Target Operations
     -add_target <target>    : Create a target (-driver <driver> [-attributes <p=v,...>]).
     -rem_target <target>    : Delete a target (-driver <driver>).
     -enable_target <target> : Enable a target (-driver <driver>).
     -disable_target <target>: Disable a target (-driver <driver>).
     -issue_lip [<target>]   : Issue a LIP on fibre channel targets [-driver <driver>].

Group and Initiator Operations (-driver <driver> -target <target>)
     -add_group <group>      : Create a group.
     -rem_group <group>      : Delete a group.
     -add_init <init>        : Add an initiator name or pattern (-group <group>).
     -rem_init <init>        : Remove an initiator (-group <group>).
     -move_init <init>       : Move an initiator (-group <group> -to <group>).
     -clear_inits            : Remove all initiators of a group (-group <group>).

LUN Operations (-driver <driver> -target <target> [-group <group>])
     -add_lun <lun>          : Map a device (-device <device> [-attributes read_only=1]).
     -rem_lun <lun>          : Unmap a LUN.
     -replace_lun <lun>      : Map another device at a LUN (-device <device>).
     -clear_luns             : Unmap all LUNs.

Options
     -nonkey                 : Also list or save non-key attributes.
     -force                  : Also delete and re-create what differs (DANGER!).
     -noprompt               : Do not ask for confirmation.
     -cont_on_err            : Continue after an error.
     -lip / -no_lip          : Issue (or not) LIPs after changes.
     -debug                  : Print the writes instead of doing them.
     --root <dir>            : Directory holding sys/kernel/scst_tgt and/or proc/scsi_tgt
                               (also SCST_ROOT; default: the package's mount/ directory;
                               --root / administers the kernel's /sys/kernel/scst_tgt).

Examples:
     scstadmin -open_dev disk01 -handler vdisk_fileio \\
         -attributes filename=/srv/disk01.img,nv_cache=1
     scstadmin -add_target iqn.2024-01.org.example:t1 -driver iscsi
     scstadmin -add_lun 0 -driver iscsi -target iqn.2024-01.org.example:t1 -device disk01
     scstadmin -enable_target iqn.2024-01.org.example:t1 -driver iscsi
     scstadmin -write_config /etc/scst.conf

`;
