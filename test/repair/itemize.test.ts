/** The rsync itemize reading behind `tandem mirror verify` (pure): lines -> differences, one per corrupted path. */
import { differencesOf, parseItemizeLine, statsOf, unescapeRsync } from '../../scripts/repair/itemize';

describe('itemize lines', () => {
  it.each([
    ['*deleting   extra', { path: 'extra', kind: 'extra', isDir: false }],
    ['*deleting   d/x/', { path: 'd/x', kind: 'extra', isDir: true }],
    ['<f+++++++++ a/new', { path: 'a/new', kind: 'new', isDir: false }],
    ['cd+++++++++ dd/', { path: 'dd', kind: 'new', isDir: true }],
    ['cL+++++++++ ln -> f1', { path: 'ln', kind: 'new', isDir: false }],
    ['<fc.t...... a/x', { path: 'a/x', kind: 'content', isDir: false }],
    ['<fcs....... a/b/f3', { path: 'a/b/f3', kind: 'content', isDir: false }],
    ['.f...p..... y', { path: 'y', kind: 'mode', isDir: false }],
    ['.d...p..... dir/', { path: 'dir', kind: 'mode', isDir: true }],
    ['cLc........ ln -> other', { path: 'ln', kind: 'link', isDir: false }],
    ['.d..t...... ./', null],
    ['.f..t...... same-content-new-time', null],
    ['.f....og... owner-only', null],
    ['Number of files: 4 (reg: 2, dir: 2)', null],
    ['<f+++++++++ odd\\#012name', { path: 'odd\nname', kind: 'new', isDir: false }],
  ])('%s', (line, want) => expect(parseItemizeLine(line)).toEqual(want));

  it('decodes rsync escapes of multi-byte names', () => expect(unescapeRsync('caf\\#303\\#251')).toBe('café'));
});

describe('differences', () => {
  it('collapses what lies under a missing, extra or retyped path, and tells type from missing', () => {
    const lines = [
      '*deleting   extradir/y',
      '*deleting   extradir/',
      '*deleting   t/inner',
      '<f+++++++++ t',
      '<f+++++++++ gone',
      'cd+++++++++ dd/',
      '<f+++++++++ dd/x',
      '<fc........ f1',
      '.f...p..... m',
    ]
      .map(parseItemizeLine)
      .filter((x) => x !== null);
    expect(differencesOf(lines, new Set(['t', 'dd']))).toEqual([
      { path: 'dd', kind: 'type' },
      { path: 'extradir', kind: 'extra' },
      { path: 'f1', kind: 'content' },
      { path: 'gone', kind: 'missing' },
      { path: 'm', kind: 'mode' },
      { path: 't', kind: 'type' },
    ]);
  });

  it('reads the figures of --stats', () => {
    expect(statsOf('Number of files: 1,234 (reg: 2, dir: 2)\nTotal file size: 5,678 bytes\nTotal bytes sent: 910\n')).toEqual({ files: 1234, bytes: 5678, sent: 910 });
  });
});
