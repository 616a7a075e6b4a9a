#!/usr/bin/env node
/*
 * The failover tests' trading service: appends sequence-numbered records ("<seq> <ms>\n") to
 * <dataDir>/records.log at RATE records/s while it runs, and answers on the health port.
 *   writer.js start <dataDir> <port>   detaches, returns once it answers (continues the sequence
 *                                      from the last record in the file)
 *   writer.js stop                     stops it; returns once it has exited (its last write done)
 *   writer.js status
 * Plain CommonJS: it runs on lab hosts as the topology's service.start / service.stop.
 */
'use strict';
const fs = require('fs');
const net = require('net');
const { spawn } = require('child_process');

const PID = '/run/fo-writer.pid';
const RATE = Number(process.env.FO_WRITER_RATE || 2000);
const running = () => {
  try {
    const p = Number(fs.readFileSync(PID, 'utf8'));
    process.kill(p, 0);
    return p;
  } catch {
    return 0;
  }
};

function lastSeq(file) {
  let fd;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return 0;
  }
  try {
    const size = fs.fstatSync(fd).size;
    const n = Math.min(size, 4096);
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, size - n);
    const lines = buf
      .toString('utf8')
      .split('\n')
      .filter((l) => /^\d+ \d+$/.test(l));
    return lines.length ? Number(lines[lines.length - 1].split(' ')[0]) : 0;
  } finally {
    fs.closeSync(fd);
  }
}

function run(dir, port) {
  const file = `${dir}/records.log`;
  let seq = lastSeq(file);
  const fd = fs.openSync(file, 'a');
  const srv = net.createServer((s) => {
    s.on('error', () => {});
    s.end(`writer ok ${seq}\n`);
  });
  srv.listen(port, '0.0.0.0');
  const t0 = Date.now();
  let written = 0;
  const timer = setInterval(() => {
    const want = Math.floor(((Date.now() - t0) / 1000) * RATE) - written;
    if (want <= 0) return;
    let chunk = '';
    const now = Date.now();
    for (let i = 0; i < want; i++) chunk += `${++seq} ${now}\n`;
    fs.writeSync(fd, chunk);
    written += want;
  }, 5);
  const stop = () => {
    clearInterval(timer);
    fs.closeSync(fd);
    srv.close();
    try {
      fs.unlinkSync(PID);
    } catch {
      /* already gone */
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main() {
  const [cmd, dir, port] = process.argv.slice(2);
  if (cmd === 'run') return run(dir, Number(port));
  if (cmd === 'start') {
    if (running()) return console.log(`writer: already running (pid ${running()})`);
    const p = spawn(process.execPath, [__filename, 'run', dir, port], { detached: true, stdio: 'ignore' });
    fs.writeFileSync(PID, String(p.pid));
    p.unref();
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise((r) => {
        const s = net.connect({ host: '127.0.0.1', port: Number(port) });
        s.once('connect', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      });
      if (ok) return console.log(`writer: started (pid ${p.pid}, port ${port})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    console.error('writer: not answering after 5 s');
    process.exit(1);
  }
  if (cmd === 'stop') {
    const p = running();
    if (!p) return console.log('writer: not running');
    process.kill(p, 'SIGTERM');
    for (let i = 0; i < 100 && running(); i++) await new Promise((r) => setTimeout(r, 20));
    if (running()) {
      process.kill(p, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 100));
    }
    try {
      fs.unlinkSync(PID);
    } catch {
      /* already gone */
    }
    return console.log('writer: stopped');
  }
  if (cmd === 'status') {
    if (running()) return console.log(`writer: running (pid ${running()})`);
    console.log('writer: stopped');
    process.exit(3);
  }
  console.error('usage: writer.js start <dataDir> <port> | stop | status');
  process.exit(2);
}
main();
