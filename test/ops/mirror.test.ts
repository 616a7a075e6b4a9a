import type { MirrorControl } from '../../scripts/hosts/config';
import { applyMirrorVerb, type MirrorVerb } from '../../scripts/hosts/mirror';
import { labInventory } from './fixtures';

const inv = labInventory();
type C = Record<string, [boolean, string[]]>;

function controls(c: C): Map<string, MirrorControl> {
  return new Map(Object.entries(c).map(([s, [paused, pc]]) => [s, { epoch: 2, paused, pausedChildren: pc }]));
}
function view(m: Map<string, MirrorControl>): C {
  return Object.fromEntries([...m].map(([s, c]) => [s, [c.paused, c.pausedChildren as string[]]]));
}

const fresh: C = { ny: [true, []], chi: [true, []], ams: [true, []], ldn: [true, []] };
const running: C = { ny: [false, []], chi: [false, []], ams: [false, []], ldn: [false, []] };

describe.each<[string, C, MirrorVerb, string[], C]>([
  ['start everything after install', fresh, 'start', [], running],
  ['start clears earlier pauses', { ...running, ny: [false, ['ldn']] }, 'start', [], running],
  ['stop everything', running, 'stop', [], fresh],
  ['stop keeps per-child pauses for a later resume', { ...running, ny: [false, ['ldn']] }, 'stop', [], { ...fresh, ny: [true, ['ldn']] }],
  ['pause a leaf: only its feeder changes', running, 'pause', ['ams'], { ...running, chi: [false, ['ams']] }],
  ['resume it', { ...running, chi: [false, ['ams']] }, 'resume', ['ams'], running],
  ['pause two', running, 'pause', ['ams', 'ldn'], { ...running, ny: [false, ['ldn']], chi: [false, ['ams']] }],
  ['stop a relay: its feeder skips it and it feeds nobody', running, 'stop', ['chi'], { ...running, ny: [false, ['chi']], chi: [true, []] }],
  ['stop a leaf: it has nothing to stop feeding itself', running, 'stop', ['ldn'], { ...running, ny: [false, ['ldn']] }],
  ['start a relay again', { ...running, ny: [false, ['chi']], chi: [true, []] }, 'start', ['chi'], running],
  ['start one leaf after a full stop opens only its path', fresh, 'start', ['ams'], { ny: [false, ['ldn']], chi: [false, []], ams: [false, []], ldn: [true, []] }],
])('%s', (_n, before, verb, sites, after) => {
  it('gives the expected controls; epochs untouched', () => {
    const next = applyMirrorVerb(inv, controls(before), verb, sites);
    expect(view(next)).toEqual(after);
    expect([...next.values()].every((c) => c.epoch === 2)).toBe(true);
  });
});

describe('refuses', () => {
  it.each<[MirrorVerb, string[], RegExp]>([
    ['pause', [], /mirror pause needs --site <mirror>; to act on everything use mirror stop/],
    ['resume', [], /use mirror start/],
    ['pause', ['ny'], /--site ny: it is the master/],
    ['pause', ['tokyo'], /--site tokyo: no such site; mirrors: chi, ams, ldn/],
  ])('%s %p', (verb, sites, re) => {
    expect(() => applyMirrorVerb(inv, controls(running), verb, sites)).toThrow(re);
  });
  it('a host whose config could not be read', () => {
    const c = controls(running);
    c.delete('chi');
    expect(() => applyMirrorVerb(inv, c, 'pause', ['ams'])).toThrow(/chi: its agent config could not be read; run tandem agent install first/);
  });
});
