// The launcher's contract, against a package laid out in a temporary directory with a stand-in
// native binary (a shell script): arguments, exit codes, signals, KTX_PACKAGE_ROOT, and the
// message on a platform the package does not carry.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync, spawn } = require('child_process');

const launcher = path.join(__dirname, '..', 'dist', 'bin.js');

function makePackage(nativeDirs, script) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ktx-launcher-'));
  fs.mkdirSync(path.join(root, 'dist'));
  fs.copyFileSync(launcher, path.join(root, 'dist', 'bin.js'));
  for (const dir of nativeDirs) {
    fs.mkdirSync(path.join(root, 'native', dir), { recursive: true });
    const exe = path.join(root, 'native', dir, 'ktx');
    fs.writeFileSync(exe, script);
    fs.chmodSync(exe, 0o755);
  }
  return root;
}

const here = `${process.platform}-${process.arch}`;
const unix = process.platform !== 'win32';

test('passes arguments through and tells the binary where the package is', { skip: !unix }, () => {
  const root = makePackage([here], '#!/bin/sh\necho "args:$*"\necho "root:$KTX_PACKAGE_ROOT"\n');
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js'), 'sl', 'query', '--x', 'a b']);
  assert.strictEqual(r.status, 0);
  const out = r.stdout.toString();
  assert.match(out, /args:sl query --x a b/);
  assert.match(out, new RegExp(`root:${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('passes the exit code through', { skip: !unix }, () => {
  const root = makePackage([here], '#!/bin/sh\nexit 4\n');
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js')]);
  assert.strictEqual(r.status, 4);
});

test('passes stdin through', { skip: !unix }, () => {
  const root = makePackage([here], '#!/bin/sh\ncat\n');
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js')], { input: 'select 1' });
  assert.strictEqual(r.stdout.toString(), 'select 1');
});

test('forwards SIGTERM to the binary and dies of the same signal', { skip: !unix }, async () => {
  const root = makePackage([here], '#!/bin/sh\ntrap "echo got-term; exit 143" TERM\necho ready\nwhile :; do sleep 0.05; done\n');
  const child = spawn(process.execPath, [path.join(root, 'dist', 'bin.js')]);
  let out = '';
  await new Promise((resolve) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('ready')) resolve();
    });
  });
  child.kill('SIGTERM');
  const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  assert.match(out, /got-term/);
  assert.ok(code === 143 || signal === 'SIGTERM', `code ${code} signal ${signal}`);
});

test('on a platform without a binary it names the platforms the package carries', () => {
  const root = makePackage(['aix-ppc64'], '#!/bin/sh\nexit 0\n');
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js'), '--version']);
  assert.strictEqual(r.status, 1);
  const err = r.stderr.toString();
  assert.match(err, /no native binary for/);
  assert.match(err, /aix-ppc64/);
});
