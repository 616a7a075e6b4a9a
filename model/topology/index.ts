export * from './types';
export * from './load';
export * from './graph';
export { checkHostKey, fingerprint } from './hostkey';
export { checkCidr } from './cidr';
export { metroOf, REGIONS } from './regions';
export * from './rules';
