/** `tandem lab demo` lives with the rest of the quick start in scripts/demo; registered from here. */
export * from '../../demo/command';
export { default } from '../../demo/command';
