/**
 * What `tandem status --watch` should show live, decided exactly as the master's agent decides
 * its alerts (agent/src/alerts.ts): the faults of a host's status and what is still protected.
 */
export { alertMessage, faultsOf, protectedBy, type AlertState } from '../../agent/src/alerts';
