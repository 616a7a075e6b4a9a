/** scripts/util/wait.ts: the one way to poll. */
import { sleep, waitFor, waitForOrNull, WaitTimeout } from '../../scripts/util/wait';

describe('waitFor', () => {
  it('resolves with the first value that is done (truthy by default)', async () => {
    let n = 0;
    await expect(waitFor('n to reach 3', () => (++n >= 3 ? n : 0), { timeoutMs: 1000, everyMs: 1 })).resolves.toBe(3);
  });
  it('takes a done() of its own: false and 0 can be answers', async () => {
    await expect(waitFor('a defined value', async () => false, { timeoutMs: 1000, done: (v) => v !== undefined })).resolves.toBe(false);
  });
  it('a poll that throws is "not yet"; on timeout the message names what and the last error', async () => {
    const t0 = Date.now();
    const e = await waitFor(
      'the port',
      () => {
        throw new Error('ECONNREFUSED');
      },
      { timeoutMs: 60, everyMs: 5 },
    ).catch((x) => x);
    expect(e).toBeInstanceOf(WaitTimeout);
    expect(e.message).toBe('timed out after 60 ms waiting for the port: Error: ECONNREFUSED');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(60);
  });
  it('retryErrors: false ends the wait with the poll error itself', async () => {
    let calls = 0;
    const e = await waitFor(
      'x',
      () => {
        calls++;
        throw new Error('boom');
      },
      { timeoutMs: 1000, retryErrors: false },
    ).catch((x) => x);
    expect(e.message).toBe('boom');
    expect(calls).toBe(1);
  });
});

it('waitForOrNull: null on timeout, the value otherwise', async () => {
  await expect(waitForOrNull('never', () => null, { timeoutMs: 20, everyMs: 5 })).resolves.toBeNull();
  await expect(waitForOrNull('soon', () => 'yes', { timeoutMs: 20 })).resolves.toBe('yes');
});

it('sleep waits', async () => {
  const t0 = Date.now();
  await sleep(30);
  expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
});
