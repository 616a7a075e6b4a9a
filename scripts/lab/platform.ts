/**
 * The lab's stand-in trading platform, `tandem-lab-platform start|stop|status`: a TCP listener on
 * the stack's health port, in the namespace of the host that runs it. Installed on the machine's
 * PATH by `lab up` (every lab host shares the machine's /usr), removed by the last `lab down`.
 */
import * as fs from 'node:fs';

export const PLATFORM_PATH = '/usr/local/bin/tandem-lab-platform';
const MARKER = '# installed by tandem lab up';

export const PLATFORM_SCRIPT = `#!/bin/sh
${MARKER}; removed by the last tandem lab down.
# The lab's stand-in trading platform: a TCP listener on the health port of this lab host.
# The port comes from /etc/ssh/tandem-lab.conf (per host), else TANDEM_HEALTH_PORT, else 8443.
set -eu
PORT=\${TANDEM_HEALTH_PORT:-8443}
[ -r /etc/ssh/tandem-lab.conf ] && . /etc/ssh/tandem-lab.conf && PORT=\${HEALTH_PORT:-$PORT}
PIDF=/run/tandem-lab-platform.pid
running() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }
case "\${1:-}" in
  start)
    if running; then echo "tandem-lab-platform: already running (pid $(cat "$PIDF"), port $PORT)"; exit 0; fi
    setsid node -e "require('net').createServer((s)=>{s.on('error',()=>{});s.end('tandem-lab-platform ok\\\\n')}).listen(+process.argv[1],'0.0.0.0')" "$PORT" </dev/null >>/run/tandem-lab-platform.log 2>&1 &
    echo $! >"$PIDF"
    i=0
    while [ $i -lt 50 ]; do
      if grep -q ":$(printf '%04X' "$PORT") 00000000:0000 0A" /proc/net/tcp 2>/dev/null; then echo "tandem-lab-platform: started (pid $(cat "$PIDF"), port $PORT)"; exit 0; fi
      running || { echo "tandem-lab-platform: failed to start; see /run/tandem-lab-platform.log" >&2; exit 1; }
      sleep 0.1; i=$((i+1))
    done
    echo "tandem-lab-platform: not listening on $PORT after 5 s" >&2; exit 1 ;;
  stop)
    if running; then kill "$(cat "$PIDF")"; rm -f "$PIDF"; echo "tandem-lab-platform: stopped"; else rm -f "$PIDF"; echo "tandem-lab-platform: not running"; fi ;;
  status)
    if running; then echo "running (pid $(cat "$PIDF"), port $PORT)"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: tandem-lab-platform start|stop|status" >&2; exit 2 ;;
esac
`;

export function installPlatform(): boolean {
  let cur = '';
  try {
    cur = fs.readFileSync(PLATFORM_PATH, 'utf8');
  } catch {
    /* missing */
  }
  if (cur === PLATFORM_SCRIPT) return false;
  if (cur && !cur.includes(MARKER)) return false; // someone else's file of that name: leave it alone
  const tmp = `${PLATFORM_PATH}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, PLATFORM_SCRIPT, { mode: 0o755 });
  fs.renameSync(tmp, PLATFORM_PATH);
  return true;
}

export function removePlatform(): boolean {
  try {
    if (!fs.readFileSync(PLATFORM_PATH, 'utf8').includes(MARKER)) return false;
    fs.unlinkSync(PLATFORM_PATH);
    return true;
  } catch {
    return false;
  }
}
