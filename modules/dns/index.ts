export * from './failover';
export * from './standby';
