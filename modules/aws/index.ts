export * from './decide';
export * from './host';
export * from './ingress';
export * from './network';
export * from './snapshots';
export * from './refresh';
