/**
 * The local lab: every site of a stack as a real host on this machine (network namespace, mount
 * namespace, its own sshd and host key, its own data directory). See docs/lab.md.
 */
export { labUp } from './up';
export { buildInventory } from './inventory';
export { labDown } from './down';
export { labStatus, formatStatus, type LabStatus, type LabHostStatus } from './status';
export { labFault, hostExec, FAULTS, FAULT_HELP, type LabFault } from './fault';
export { labInventoryPath, readLabInventory } from './state';
export { moveVip } from './vip';
export { BOOT_DIR } from './host-paths';
export { planLab, labRoot, stackDir, LAB_RANGE, type LabPlan, type HostPlan, type LabOptions } from './plan';
export type { RunResult } from './sys';
