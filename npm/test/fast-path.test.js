// The fast path (dist/fast-<platform>) where the system or another user works against it, each
// injected for real: a tree linked on this glibc machine, then used where glibc's loader does not
// exist (a private mount namespace hides it, as on a musl system); and a project moved out of a
// world-writable directory whose old path a second user then fills with planted scripts.
'use strict';

const test = require('node:test');
const { after } = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { here, unix, standIn, makeInstall, exec, noNode, q } = require('./install');

const canMount = unix && spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs none /mnt'], { stdio: 'ignore' }).status === 0;

// The real ktx of this checkout (`cargo build`), a glibc build whose loader is PT_INTERP.
const realKtx = path.join(process.env.CARGO_TARGET_DIR || path.join(__dirname, '..', '..', 'target'), 'debug', 'ktx');

// An ELF's PT_INTERP, or null.
function interpOf(file) {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) !== 0x7f454c46) return null;
  const phoff = Number(b.readBigUInt64LE(32));
  for (let i = 0; i < b.readUInt16LE(56); i++) {
    const at = phoff + i * b.readUInt16LE(54);
    if (b.readUInt32LE(at) === 3) {
      const off = Number(b.readBigUInt64LE(at + 8));
      return b.subarray(off, off + Number(b.readBigUInt64LE(at + 32))).toString('latin1').replace(/\0+$/, '');
    }
  }
  return null;
}

// A copy of an ELF whose PT_INTERP names another loader (what patchelf --set-interpreter does
// when the new path is no longer than the old one).
function copyWithInterp(src, dst, interp) {
  const b = fs.readFileSync(src);
  const phoff = Number(b.readBigUInt64LE(32));
  for (let i = 0; i < b.readUInt16LE(56); i++) {
    const at = phoff + i * b.readUInt16LE(54);
    if (b.readUInt32LE(at) !== 3) continue;
    const off = Number(b.readBigUInt64LE(at + 8));
    const size = Number(b.readBigUInt64LE(at + 32));
    if (interp.length + 1 > size) throw new Error(`${interp} is longer than ${src}'s loader path`);
    b.fill(0, off, off + size);
    b.write(interp, off, 'latin1');
  }
  fs.writeFileSync(dst, b);
  fs.chmodSync(dst, 0o755);
}

// A system without glibc's loader, as a musl system is: in a private mount namespace the
// directory holding the loader is covered by an empty tmpfs, and `sh` and `node` are copies
// started by a copy of the loader at another path (as a musl system's own sh and node run with
// their own loader). With `musl`, /lib/ld-musl-<arch>.so.1 exists too (an overlay on /lib), so
// the launcher sees a musl system. What cannot be arranged here is a reason to skip, given.
const glibcLoader = (() => {
  if (!canMount) return { skip: 'cannot mount here' };
  if (process.platform !== 'linux' || process.arch !== 'x64') return { skip: 'written for x86-64 Linux' };
  if (!fs.existsSync(realKtx)) return { skip: `no ${realKtx} (cargo build)` };
  const interp = interpOf(realKtx);
  if (!interp || !fs.existsSync(interp)) return { skip: `${realKtx} has no loader here` };
  const hidden = fs.realpathSync(path.dirname(interp));
  if (fs.readdirSync(hidden).length !== 1) return { skip: `${hidden} holds more than the loader: hiding it would hide the C library` };
  return { interp, hidden };
})();

// Big copies (node, the real ktx) are removed at the end.
const made = [];
after(() => made.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

let shell; // built once: { dir, extra }
function loaderlessShell() {
  if (shell) return shell;
  // Short: the path must fit where the loader's path was (27 bytes on x86-64).
  const dir = fs.mkdtempSync('/tmp/ktx-ld-');
  made.push(dir);
  fs.copyFileSync(fs.realpathSync(glibcLoader.interp), path.join(dir, 'ld'));
  fs.chmodSync(path.join(dir, 'ld'), 0o755);
  fs.mkdirSync(path.join(dir, 'bin'));
  copyWithInterp(fs.realpathSync('/bin/sh'), path.join(dir, 'sh'), path.join(dir, 'ld'));
  copyWithInterp(fs.realpathSync(process.execPath), path.join(dir, 'bin', 'node'), path.join(dir, 'ld'));
  const extra = path.join(dir, 'musl');
  fs.mkdirSync(extra);
  fs.writeFileSync(path.join(extra, 'ld-musl-x86_64.so.1'), '');
  shell = { dir, extra };
  return shell;
}

// Run `script` (sh) where glibc's loader is missing; PATH finds only the loader-less node.
function withoutGlibcLoader(script, { musl }) {
  const { dir, extra } = loaderlessShell();
  const mounts = [
    `mount --bind ${q(path.join(dir, 'sh'))} ${q(fs.realpathSync('/bin/sh'))}`,
    musl ? `mount -t overlay overlay -o lowerdir=${q(extra)}:${q(fs.realpathSync('/lib'))} ${q(fs.realpathSync('/lib'))}` : 'true',
    `mount -t tmpfs none ${q(glibcLoader.hidden)}`,
  ];
  return spawnSync('unshare', ['-m', 'sh', '-c', `${mounts.join(' && ')} && ${script}`], {
    env: Object.assign({}, process.env, { PATH: `${path.join(dir, 'bin')}:/usr/bin:/bin` }),
    encoding: 'utf8',
  });
}

function linkedWithRealKtx(natives) {
  const version = spawnSync(realKtx, ['--version'], { encoding: 'utf8' }).stdout.trim().replace(/^ktx /, '');
  const install = makeInstall(undefined, 'p', { version, natives: Object.assign({ [here]: { copy: realKtx } }, natives(version)) });
  made.push(path.dirname(install.project));
  const first = exec(install.bin, ['--version']);
  assert.strictEqual(first.stdout, `ktx ${version}\n`, first.stderr);
  assert.strictEqual(fs.readlinkSync(install.bin), `../@kaelio/ktx/dist/fast-${here}`);
  return install;
}

test('a glibc tree used where glibc\'s loader is missing: the launcher explains instead of the shell exiting 127', { skip: glibcLoader.skip }, () => {
  const { bin } = linkedWithRealKtx(() => ({}));
  const r = withoutGlibcLoader(`exec ${q(bin)} --version`, { musl: false });
  assert.strictEqual(r.status, 1, r.stderr);
  assert.match(r.stderr, /^error: .*native\/linux-x64\/ktx exists but cannot be started: its dynamic loader \(or interpreter\) is missing on this system\n  hint: /);
  assert.doesNotMatch(r.stderr, /not found/);
});

test('a glibc tree used from a musl system: the launcher chooses the musl build and links it, and back on glibc the glibc build again', { skip: glibcLoader.skip }, () => {
  const musl = `${here}-musl`;
  const { bin } = linkedWithRealKtx((version) => ({ [musl]: standIn(version, 'musl') }));
  const r = withoutGlibcLoader(`${q(bin)} -v one; PATH=/nonexistent ${q(bin)} two`, { musl: true });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /^musl:-v one\n.*\nmusl:two\n/);
  assert.match(r.stderr, new RegExp(`ktx launcher: musl libc: running native/${musl}/ktx\nktx launcher: linked .* to dist/fast-${musl}`));
  assert.strictEqual(fs.readlinkSync(bin), `../@kaelio/ktx/dist/fast-${musl}`);
  // On this glibc system again: musl's loader is absent, so the musl fast file hands over.
  const back = exec(bin, ['--version']);
  assert.match(back.stdout, /^ktx /, back.stderr);
  assert.strictEqual(fs.readlinkSync(bin), `../@kaelio/ktx/dist/fast-${here}`);
  assert.match(exec(bin, ['--version'], noNode).stdout, /^ktx /);
});

// A second user, for the attack across users (root only: useradd, setpriv).
const planter = (() => {
  if (!unix || process.getuid() !== 0) return { skip: 'needs root (useradd, setpriv)' };
  const name = 'ktx-planter';
  if (spawnSync('id', ['-u', name]).status !== 0) {
    const made = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', name], { encoding: 'utf8' });
    if (made.status !== 0 && spawnSync('id', ['-u', name]).status !== 0) return { skip: `useradd failed: ${made.stderr.trim()}` };
  }
  const id = (flag) => Number(spawnSync('id', [flag, name], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
})();

test('root\'s project moved out of a world-writable directory: what another user plants at its old path never runs', { skip: planter.skip }, () => {
  // /tmp-like: sticky and world-writable.
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'ktx-shared-'));
  fs.chmodSync(shared, 0o1777);
  const { project, bin: oldBin } = makeInstall(undefined, 'proj', { parent: shared });
  assert.strictEqual(exec(oldBin, ['--version']).status, 0);
  assert.strictEqual(fs.readlinkSync(oldBin), `../@kaelio/ktx/dist/fast-${here}`);
  const safe = fs.mkdtempSync(path.join(os.tmpdir(), 'ktx-safe-'));
  const moved = path.join(safe, 'proj');
  fs.renameSync(project, moved);
  // The other user recreates the old path, every file of the package a script leaving a marker.
  const marker = path.join(shared, 'planted-ran');
  const plant = [
    `cd ${q(shared)}`,
    `for f in native/${here}/ktx dist/fast-${here} dist/bin.js; do`,
    '  p=proj/node_modules/@kaelio/ktx/$f; mkdir -p "${p%/*}"',
    `  printf '#!/bin/sh\\necho planted > %s\\necho "ktx 1.2.3"\\n' ${q(q(marker))} > "$p"; chmod 755 "$p"`,
    'done',
    `echo '{"version":"1.2.3"}' > proj/node_modules/@kaelio/ktx/package.json`,
  ].join('\n');
  const planted = spawnSync('setpriv', [`--reuid=${planter.uid}`, `--regid=${planter.gid}`, '--clear-groups', 'sh', '-c', plant], { encoding: 'utf8' });
  assert.strictEqual(planted.status, 0, planted.stderr);
  assert.strictEqual(fs.statSync(path.join(project, 'node_modules', '@kaelio', 'ktx', 'native', here, 'ktx')).uid, planter.uid);
  // Root uses the moved project, without node on PATH and with.
  const bin = path.join(moved, 'node_modules', '.bin', 'ktx');
  const root = path.join(moved, 'node_modules', '@kaelio', 'ktx');
  for (const env of [noNode, {}]) {
    const r = exec(bin, ['x'], env);
    assert.ok(!fs.existsSync(marker), 'the planted script ran as root');
    assert.strictEqual(r.stdout, `native:x\nroot:${root}\n`, r.stderr);
  }
  assert.ok(!fs.existsSync(marker), 'the planted script ran as root');
});
