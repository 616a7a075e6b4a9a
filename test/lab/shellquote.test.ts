import { shellQuote, tail } from '../../scripts/ssh';
import { execFileSync } from 'node:child_process';

describe('shellQuote', () => {
  it.each([
    [['ls'], 'ls'],
    [['a b'], "'a b'"],
    [[''], "''"],
    [["it's"], "'it'\\''s'"],
    [['/srv/trading', '--x=1'], '/srv/trading --x=1'],
    [['$(rm -rf /)'], "'$(rm -rf /)'"],
    [['a;b', 'c|d', '`e`', '*', '~'], "'a;b' 'c|d' '`e`' '*' '~'"],
    [[42], '42'],
    [['new\nline'], "'new\nline'"],
  ])('%j -> %s', (args, want) => {
    expect(shellQuote(...(args as (string | number)[]))).toBe(want);
  });

  // Property: whatever the string, sh sees it back as exactly one argument, unchanged.
  const nasty = ['', ' ', "'", '"', '\\', '$HOME', '`id`', '$(id)', 'a\nb', '!x', '*', '--', '-n', 'x\'y"z', '\t', 'ü€', '%s', '{a,b}', '~root', '#c'];
  it.each(nasty.map((s) => [s]))('round-trips %j through sh', (s) => {
    const out = execFileSync('/bin/sh', ['-c', `printf '%s\\0' ${shellQuote(s, 'end')}`], { encoding: 'utf8' });
    expect(out).toBe(`${s}\0end\0`);
  });
});

describe('tail', () => {
  it('keeps the last lines', () => {
    expect(tail('1\n2\n3\n4\n', 2)).toBe('3\n4');
  });
});
