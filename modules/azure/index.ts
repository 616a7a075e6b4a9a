export * from './backup';
export * from './decide';
export * from './host';
export * from './ingress';
export * from './refresh';
