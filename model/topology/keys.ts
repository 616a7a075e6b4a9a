/**
 * The keys a stack file may hold at each level. One list per mapping, so an unknown key is
 * refused (with a "did you mean") wherever it is written, and the lists read as the file's shape.
 */
import { LIVE_KEY } from '../live';

export const TOP_KEYS = ['config', 'encryptionsalt', 'secretsprovider', 'encryptedkey'];
export const TANDEM_KEYS = ['tandem:customer', 'tandem:topology', LIVE_KEY];
export const TOPOLOGY_KEYS = ['dataDir', 'exclude', 'service', 'adminCidrs', 'allowOpenSsh', 'adminKeys', 'dns', 'sites', 'notify', 'rtoTargetS', 'rpoTargetS'];
export const NOTIFY_KEYS = ['webhooks', 'email', 'reminderMin', 'announceLeadMin'];
export const WEBHOOK_KEYS = ['url', 'tokenEnv'];
export const EMAIL_KEYS = ['smtp', 'from', 'to', 'user', 'passwordEnv'];
export const SERVICE_KEYS = ['start', 'stop', 'healthPort'];
export const DNS_KEYS = ['zone', 'name', 'ttl'];
export const SITE_KEYS = [
  'name',
  'role',
  'provider',
  'region',
  'size',
  'diskGb',
  'failover',
  'syncIntervalS',
  'relayVia',
  'bandwidthMbit',
  'coldRefreshH',
  'tickMs',
  'rtoTargetS',
  'rpoTargetS',
  'address',
  'hostKey',
  'user',
  'sshPort',
  'lab',
];
export const TARGET_KEYS = ['rtoTargetS', 'rpoTargetS'] as const;
/** Site keys a master may not have: they say how a mirror is fed. */
export const MIRROR_ONLY = ['failover', 'syncIntervalS', 'relayVia', 'bandwidthMbit', 'coldRefreshH'];
/** Site keys only the master may have: they say how it feeds the mirrors. */
export const MASTER_ONLY = ['tickMs'];
export const LAB_KEYS = ['linkMbit', 'diskMb'];
