// SPDX-License-Identifier: Apache-2.0
// The processes behind the console's browser tests: a real ota-server on a
// free loopback port with its own data folder, simulated fleets (ota-sim
// --fleet), synthetic firmware (ota-fwgen), all in one temporary folder that
// is removed at the end. Every child is killed when the test ends, however it
// ends: stop() in an after hook, and a synchronous SIGKILL in the process'
// 'exit' handler (and on SIGINT/SIGTERM) for the rest.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const children = new Set();
const tempDirs = new Set();

function killAllNow() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }
  children.clear();
  for (const dir of tempDirs) {
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
  }
  tempDirs.clear();
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => { killAllNow(); process.exit(128 + os.constants.signals[signal]); });
}

/**
 * Ends the whole run after MS (before CTest's TIMEOUT would kill this process
 * and orphan its children): kills every child, removes the folders, exits 1.
 */
export function installDeadline(ms) {
  const timer = setTimeout(() => {
    console.error(`console browser test: still running after ${ms / 1000} s, stopping everything`);
    killAllNow();
    process.exit(1);
  }, ms);
  timer.unref();
}

/** The path of a required program, from the environment variable `name`. */
export function requiredEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run the test through ctest: ctest -R console_browser)`);
  return value;
}

/** A fresh temporary folder, removed by cleanup() or at exit. */
export function makeTempDir(prefix = 'ota-console-test-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** A TCP port free on 127.0.0.1 right now (the kernel's choice). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts a child with its stdout and stderr in LOG. Returns
 * { child, log, exited (a promise of {code, signal}), stop() }.
 */
export function startProcess(cmd, args, { log, env = {}, cwd } = {}) {
  const out = fs.openSync(log, 'a');
  const child = spawn(cmd, args, {
    cwd, env: { ...process.env, ...env }, stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  children.add(child);
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => { children.delete(child); resolve({ code, signal }); });
    child.once('error', (err) => { children.delete(child); resolve({ code: -1, signal: null, error: err }); });
  });
  async function stop(graceMs = 3000) {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    try { child.kill('SIGTERM'); } catch { /* gone */ }
    const timer = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, graceMs);
    const result = await exited;
    clearTimeout(timer);
    return result;
  }
  return { child, log, exited, stop };
}

/** Runs a program to completion (synchronously), returning its stdout. */
export function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** The last lines of a log, for a failure message. */
export function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * A real ota-server: --data in DIR, plain HTTP on a free loopback port, the
 * admin token TOKEN, a fast rollout timer. Resolves once /healthz answers.
 */
export async function startServer({ bin, dir, token, rolloutTickMs = 200, rolloutScanS = 2 }) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const log = path.join(dir, 'server.log');
  const proc = startProcess(bin, [
    '--data', dataDir, '--listen', `127.0.0.1:${port}`, '--threads', '2',
    '--rollout-tick', String(rolloutTickMs), '--rollout-scan', String(rolloutScanS),
  ], { log, env: { OTA_ADMIN_TOKEN: token } });
  const deadline = Date.now() + 20000;
  for (;;) {
    if (proc.child.exitCode !== null) {
      throw new Error(`ota-server exited with ${proc.child.exitCode}:\n${tail(log)}`);
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch { /* not yet listening */ }
    if (Date.now() > deadline) throw new Error(`ota-server did not answer /healthz in 20 s:\n${tail(log)}`);
    await sleep(100);
  }
  return { ...proc, url, port, dataDir };
}

/** The admin API with the bearer token (for setup and for expected values). */
export function adminApi(url, token) {
  async function call(method, p, body, { raw = false, headers = {} } = {}) {
    const init = { method, headers: { Authorization: `Bearer ${token}`, ...headers } };
    if (body !== undefined) {
      if (body instanceof Uint8Array || body instanceof FormData) init.body = body;
      else { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
    }
    const res = await fetch(url + p, init);
    if (raw) return res;
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    if (!res.ok) {
      const err = new Error(`${method} ${p}: ${res.status} ${text}`);
      err.status = res.status;
      err.body = json;
      throw err;
    }
    return json;
  }
  return {
    call,
    get: (p) => call('GET', p),
    post: (p, body) => call('POST', p, body ?? {}),
    put: (p, body) => call('PUT', p, body),
    async uploadFirmware(file, { product, version }) {
      const form = new FormData();
      form.append('file', new Blob([fs.readFileSync(file)]), path.basename(file));
      if (product) form.append('product', product);
      if (version) form.append('version', version);
      return call('POST', '/api/v1/firmware', form);
    },
  };
}

/**
 * Synthetic firmware for a product: ota-fwgen writes firmware_1.0.0.bin and
 * firmware_1.0.1.bin (valid ESP32 application images) into DIR.
 */
export function makeFirmware({ bin, dir, project, size = 32768, seed = 1 }) {
  fs.mkdirSync(dir, { recursive: true });
  run(bin, [dir, '--project', project, '--size', String(size), '--seed', String(seed)]);
  const files = { '1.0.0': path.join(dir, 'firmware_1.0.0.bin'), '1.0.1': path.join(dir, 'firmware_1.0.1.bin') };
  for (const f of Object.values(files)) {
    if (!fs.existsSync(f)) throw new Error(`ota-fwgen did not write ${f}`);
  }
  return files;
}

/**
 * A simulated fleet: ota-sim --fleet N registers PREFIX-00001..N in PRODUCT
 * (--provision) and runs them, polling every second, until stopped.
 */
export function startFleet({ bin, dir, url, token, prefix, product, count, image, version = '1.0.0',
  failFraction = 0, seed = 1, tags = [], cycles = 400, threads = 8 }) {
  const fleetDir = path.join(dir, `fleet-${prefix}`);
  fs.mkdirSync(fleetDir, { recursive: true });
  const args = [
    '--fleet', String(count), '--provision', prefix, '--product', product,
    '--admin-token', token, '--server', url,
    '--bundle', path.join(fleetDir, 'bundles'), '--state', path.join(fleetDir, 'state'),
    '--image', image, '--version', version, '--poll', '1', '--cycles', String(cycles),
    '--threads', String(threads), '--quiet', '--summary', path.join(fleetDir, 'summary.json'),
  ];
  if (failFraction > 0) args.push('--fail-self-test-fraction', String(failFraction), '--seed', String(seed));
  for (const tag of tags) args.push('--tag', tag);
  const log = path.join(fleetDir, 'sim.log');
  return { ...startProcess(bin, args, { log }), prefix, product, count };
}

/** Polls fn() until it returns a truthy value (returned) or the time is up. */
export async function waitFor(what, fn, { timeoutMs = 30000, intervalMs = 200 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await sleep(intervalMs);
  }
}

/** Stops every child still running and removes the temporary folders. */
export async function cleanup(procs) {
  await Promise.all(procs.filter(Boolean).map((p) => p.stop().catch(() => {})));
  killAllNow();
}
