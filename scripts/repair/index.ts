/** Repair and replace without downtime (issue 11): the contract's functions (./api.ts). */
import type { RebuildMirror, ReplaceSite, VerifyMirror } from './api';
import { rebuildMirror as rebuild } from './rebuild';
import { replaceSite as replace } from './replace';
import { verifyMirror as verify } from './verify';

export type * from './api';
export const verifyMirror: VerifyMirror = (ctx, site) => verify(ctx, site);
export const rebuildMirror: RebuildMirror = (ctx, site) => rebuild(ctx, site);
export const replaceSite: ReplaceSite = (ctx, site) => replace(ctx, site);
export { renderVerify } from './verify';
