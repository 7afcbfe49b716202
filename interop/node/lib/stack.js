'use strict';

// The stack under test: the WeChat simulator and a wxtoken with its
// WeChat-compatible front door in front of it, each started from the
// wxtoken binary exactly as a user would start them, on free ports of
// 127.0.0.1.

const { spawn, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const repo = path.resolve(__dirname, '..', '..', '..');

// binary returns the wxtoken binary: $WXTOKEN_BIN, or one built now.
function binary(dir) {
  if (process.env.WXTOKEN_BIN) {
    return process.env.WXTOKEN_BIN;
  }
  const out = path.join(dir, 'wxtoken');
  execFileSync('go', ['build', '-o', out, './cmd/wxtoken'], { cwd: repo, stdio: 'inherit' });
  return out;
}

// waitForLine resolves with the first line of stream that match finds
// something in, or rejects when the process exits first or after 30 s.
function waitForLine(child, stream, match, what) {
  return new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: stream });
    const seen = [];
    const timer = setTimeout(() => done(new Error(`timed out waiting for ${what}; output so far:\n${seen.join('\n')}`)), 30000);
    const onExit = (code) => done(new Error(`${what}: the process exited with ${code} first; output:\n${seen.join('\n')}`));
    function done(err, value) {
      clearTimeout(timer);
      child.off('exit', onExit);
      rl.removeAllListeners('line');
      rl.on('line', () => {}); // keep draining, so the child never blocks on a full pipe
      if (err) reject(err); else resolve(value);
    }
    rl.on('line', (line) => {
      seen.push(line);
      const m = match(line);
      if (m) done(null, m);
    });
    child.on('exit', onExit);
  });
}

// start runs the simulator and wxtoken for one app whose secret only the
// two of them and the SDK know. It returns the addresses, the app, a
// client key for wxtoken's own HTTP API, a business server's key granted
// the app, restart() and stop().
async function start() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wxtoken-interop-'));
  const bin = binary(dir);
  const appid = 'wx00000000000000a1';
  const secret = crypto.randomBytes(16).toString('hex');
  const children = [];

  const sim = spawn(bin, ['simulator', '--listen', '127.0.0.1:0', '--apps', `${appid}:${secret}`,
    '--ttl', '7200s', '--overlap', '300s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(sim);
  sim.stderr.resume();
  const simURL = await waitForLine(sim, sim.stdout, (l) => (l.match(/listening on (http:\/\/\S+)/) || [])[1], 'the simulator');

  const key = 'wxt_' + crypto.randomBytes(24).toString('hex');
  // A business server's key, granted the app and nothing more, which an
  // SDK can hold in place of the AppSecret.
  const shopKey = 'wxt_' + crypto.randomBytes(24).toString('hex');
  const hash = (k) => crypto.createHash('sha256').update(k).digest('hex');
  const config = path.join(dir, 'wxtoken.yaml');
  const logs = [];
  let srv;
  let base;

  // serve starts wxtoken on the stack's store, with the business server's
  // key in its config or not.
  async function serve(withShopKey) {
    fs.writeFileSync(config, [
      'listen: 127.0.0.1:0',
      `store: {driver: bolt, path: ${JSON.stringify(path.join(dir, 'wxtoken.db'))}}`,
      `upstream: {base_url: ${JSON.stringify(simURL)}, fallback_base_urls: [], timeout: 5s}`,
      'refresh: {passive_interval: 200ms}',
      'apps:',
      `  - {appid: ${appid}, secret_env: INTEROP_SECRET, token_api: stable, tickets: [jsapi]}`,
      'compat: {enabled: true}',
      'clients:',
      `  - {name: interop, key_sha256: "${hash(key)}", apps: ["*"], admin: true}`,
      ...(withShopKey ? [`  - {name: shop, key_sha256: "${hash(shopKey)}", apps: [${appid}]}`] : []),
      'log: {level: debug, format: json}',
      '',
    ].join('\n'));
    srv = spawn(bin, ['serve', '--config', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, INTEROP_SECRET: secret },
    });
    children.push(srv);
    srv.stdout.resume();
    base = await waitForLine(srv, srv.stderr, (l) => {
      logs.push(l);
      try {
        const e = JSON.parse(l);
        return e.msg === 'wxtoken listening' ? `http://${e.addr}` : null;
      } catch {
        return null;
      }
    }, 'wxtoken');
    srv.stderr.on('data', (b) => logs.push(b.toString()));
  }
  await serve(true);

  // restart stops wxtoken and starts it again on the same store, with the
  // business server's key in its config or not: removing a key from the
  // config and restarting is how a key is revoked.
  async function restart({ withShopKey }) {
    if (srv.exitCode === null) {
      const exited = new Promise((r) => srv.once('exit', r));
      srv.kill('SIGTERM');
      await exited;
    }
    await serve(withShopKey);
  }

  async function stop() {
    for (const c of children.reverse()) {
      if (c.exitCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await exited;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  // wxtoken's own HTTP API, to compare with what the SDK got.
  async function api(p) {
    const r = await fetch(base + p, { headers: { Authorization: `Bearer ${key}` } });
    if (r.status !== 200) throw new Error(`GET ${p}: HTTP ${r.status}`);
    return r.json();
  }

  // The simulator's control API.
  async function sim_(p, body) {
    const r = await fetch(simURL + p, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
    return r.json();
  }

  return {
    get base() { return base; },
    simURL, appid, secret, key, shopKey, api, sim: sim_, restart, logs: () => logs.join('\n'), stop,
  };
}

module.exports = { start };
