export * from './cloud-init';
export * from './ingress';
export * from './snapshots';
export * from './tags';
export * from './addresses';
