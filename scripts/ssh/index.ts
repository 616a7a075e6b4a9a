export * from './quote';
export * from './session';
