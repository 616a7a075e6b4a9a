export * from './channels';
export * from './announce';
export * from './watch';
