import { createHash } from 'node:crypto';

/** Key types OpenSSH offers as host keys today. */
export const HOST_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;

export type HostKeyCheck = { ok: true; type: string; blob: Buffer } | { ok: false; why: string };

/**
 * Checks an OpenSSH public key line ("ssh-ed25519 AAAA... [comment]"): the type is known, the
 * base64 decodes, and the blob names the same type (a pasted key of one type under another
 * label would never match the host).
 */
export function checkHostKey(text: string): HostKeyCheck {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2) return { ok: false, why: `"${text}" is not a key line (expected "<type> <base64>")` };
  const [type, b64] = parts;
  if (!HOST_KEY_TYPES.includes(type as never)) {
    return { ok: false, why: `has key type "${type}", which is not an SSH host key type (${HOST_KEY_TYPES.join(', ')})` };
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    return { ok: false, why: `has a key body that is not base64 (it looks cut short or mangled)` };
  }
  const blob = Buffer.from(b64, 'base64');
  if (blob.length < 4) return { ok: false, why: 'has a key body too short to be a key' };
  const n = blob.readUInt32BE(0);
  const inner = blob.subarray(4, 4 + n).toString('latin1');
  if (4 + n > blob.length || inner !== type) {
    return { ok: false, why: `is labelled "${type}" but its body is ${inner && 4 + n <= blob.length ? `a "${inner}" key` : 'not a valid key'}` };
  }
  if (type === 'ssh-ed25519' && blob.length !== 51) {
    return { ok: false, why: 'has an ssh-ed25519 body of the wrong length (it looks cut short)' };
  }
  return { ok: true, type, blob };
}

/** OpenSSH-style fingerprint: SHA256:<base64 without padding>. */
export function fingerprint(keyLine: string): string {
  const b64 = keyLine.trim().split(/\s+/)[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(b64, 'base64')).digest('base64').replace(/=+$/, '')}`;
}
