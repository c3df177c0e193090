// The launcher's contract, against a package laid out in a temporary directory with a stand-in
// native binary (a shell script): arguments, exit codes, signals, KTX_PACKAGE_ROOT, the message
// on a platform the package does not carry, and the choice between the gnu and the musl build
// by the running glibc (what this machine's Node reports) and native/targets.json.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync, spawn } = require('child_process');

const launcher = path.join(__dirname, '..', 'dist', 'bin.js');

function makePackage(nativeDirs, script, record) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ktx-launcher-'));
  fs.mkdirSync(path.join(root, 'dist'));
  fs.copyFileSync(launcher, path.join(root, 'dist', 'bin.js'));
  for (const dir of nativeDirs) {
    fs.mkdirSync(path.join(root, 'native', dir), { recursive: true });
    const exe = path.join(root, 'native', dir, 'ktx');
    fs.writeFileSync(exe, typeof script === 'function' ? script(dir) : script);
    fs.chmodSync(exe, 0o755);
  }
  if (record) fs.writeFileSync(path.join(root, 'native', 'targets.json'), JSON.stringify(record));
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

// The glibc this machine runs (null off glibc Linux): the tests below choose records around it.
const glibc = (() => {
  try {
    return process.report.getReport().header.glibcVersionRuntime || null;
  } catch (_) {
    return null;
  }
})();
const onGlibc = process.platform === 'linux' && glibc !== null && !fs.readdirSync('/lib').some((f) => f.startsWith('ld-musl-'));
const gnu = here;
const musl = `${here}-musl`;
const whoAmI = (dir) => `#!/bin/sh\necho "build:${dir}"\n`;
const run = (root, args) => spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js'), ...args]);

test('on a glibc at or above what the gnu build needs, it runs the gnu build, silently unless -v', { skip: !onGlibc }, () => {
  const root = makePackage([gnu, musl], whoAmI, { [gnu]: { target: 't', libc: 'glibc', glibc: '2.17' } });
  const quiet = run(root, ['--version']);
  assert.strictEqual(quiet.status, 0);
  assert.match(quiet.stdout.toString(), new RegExp(`build:${gnu}\n`));
  assert.strictEqual(quiet.stderr.toString(), '');
  for (const flag of ['-v', '--verbose']) {
    const loud = run(root, [flag, '--version']);
    assert.match(loud.stdout.toString(), new RegExp(`build:${gnu}\n`));
    assert.strictEqual(
      loud.stderr.toString(),
      `ktx launcher: glibc ${glibc}, ${gnu} needs glibc 2.17: running native/${gnu}/ktx\n`
    );
  }
  // After `--` a -v is an argument, not the flag.
  assert.strictEqual(run(root, ['sql', 'tables', '--', '-v']).stderr.toString(), '');
});

test('on a glibc older than the gnu build needs, it runs the musl build and says why under -v', { skip: !onGlibc }, () => {
  const root = makePackage([gnu, musl], whoAmI, { [gnu]: { target: 't', libc: 'glibc', glibc: '999.1' } });
  const quiet = run(root, ['--version']);
  assert.strictEqual(quiet.status, 0);
  assert.match(quiet.stdout.toString(), new RegExp(`build:${musl}\n`));
  assert.strictEqual(quiet.stderr.toString(), '');
  const loud = run(root, ['--verbose', '--version']);
  assert.match(loud.stdout.toString(), new RegExp(`build:${musl}\n`));
  assert.strictEqual(
    loud.stderr.toString(),
    `ktx launcher: glibc ${glibc} is older than the glibc 999.1 ${gnu} needs: running native/${musl}/ktx\n`
  );
});

test('on a glibc older than the gnu build needs and no musl build, it says so instead of crashing', { skip: !onGlibc }, () => {
  const root = makePackage([gnu], whoAmI, { [gnu]: { target: 't', libc: 'glibc', glibc: '999.1' } });
  const r = run(root, ['--version']);
  assert.strictEqual(r.status, 1);
  assert.strictEqual(r.stdout.toString(), '');
  const err = r.stderr.toString();
  assert.match(err, new RegExp(`glibc ${glibc.replace('.', '\\.')} is older than the glibc 999\\.1 native/${gnu}/ktx needs`));
  assert.match(err, new RegExp(`carries no ${musl} build`));
  assert.match(err, /hint: use a system with glibc 999\.1 or newer/);
});

test('versions compare numerically, not as text', { skip: !onGlibc }, () => {
  // "2.9" is older than "2.17" and "10.0" is newer than "9.99": a record just below this glibc
  // keeps the gnu build, one just above moves to musl.
  const [major, minor] = glibc.split('.').map(Number);
  const below = `${major}.${Math.max(minor - 1, 0)}`;
  const above = `${major}.${minor + 1}`;
  const pick = (needs) => run(makePackage([gnu, musl], whoAmI, { [gnu]: { target: 't', libc: 'glibc', glibc: needs } }), ['--version']).stdout.toString();
  assert.match(pick(below), new RegExp(`build:${gnu}\n`));
  assert.match(pick(glibc), new RegExp(`build:${gnu}\n`));
  assert.match(pick(above), new RegExp(`build:${musl}\n`));
  assert.match(pick(`${major - 1}.${minor + 100}`), new RegExp(`build:${gnu}\n`));
});

test('a package without native/targets.json runs the gnu build as before', { skip: !onGlibc }, () => {
  const root = makePackage([gnu, musl], whoAmI);
  assert.match(run(root, ['--version']).stdout.toString(), new RegExp(`build:${gnu}\n`));
});

// Spawn failures are explained in a paragraph a person can act on, never a stack trace.
function failsWith(root, env) {
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js'), '--version'], {
    env: Object.assign({}, process.env, env || {}),
  });
  const err = r.stderr.toString();
  assert.strictEqual(r.status, 1, err);
  assert.doesNotMatch(err, /\n\s+at /, 'a stack trace');
  assert.match(err, /^error: .*\n  hint: .*\n$/);
  return err;
}

test('a binary inside a zip archive (Yarn PnP) is explained with how to unplug', { skip: !unix }, () => {
  const root = makePackage([here], '#!/bin/sh\nexit 0\n');
  const zip = path.join(root, 'cache.zip');
  fs.writeFileSync(zip, 'PK\x03\x04');
  const err = failsWith(root, { KTX_NATIVE_BINARY: path.join(zip, 'node_modules', '@kaelio', 'ktx', 'native', here, 'ktx') });
  assert.match(err, /zip archive \(Yarn Plug'n'Play/);
  assert.match(err, /yarn unplug @kaelio\/ktx/);
});

test('a binary without its run bit is named with the chmod that fixes it', { skip: !unix }, () => {
  const root = makePackage([here], '#!/bin/sh\nexit 0\n');
  const bin = path.join(root, 'native', here, 'ktx');
  fs.chmodSync(bin, 0o644);
  const err = failsWith(root);
  assert.match(err, /is not executable/);
  assert.match(err, new RegExp(`chmod \\+x ${bin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});

test('a binary whose loader is missing is explained, pointing at the musl build', { skip: !unix }, () => {
  // A script whose interpreter does not exist fails as a binary without its dynamic loader does.
  const root = makePackage([here, `${here}-musl`], (dir) => (dir === here ? '#!/nonexistent/ld-linux.so.2\n' : '#!/bin/sh\nexit 0\n'));
  const err = failsWith(root);
  assert.match(err, /dynamic loader \(or interpreter\) is missing/);
  assert.match(err, new RegExp(`KTX_NATIVE_BINARY=.*${here}-musl`));
});
