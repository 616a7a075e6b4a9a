/** The shared flags moved to scripts/options.ts (one command grammar); kept so older imports resolve. */
export { withSiteOption, withSshOptions, withTargetOptions, type SiteOption, type SshOptions, type TargetOptions } from '../options';
