// One package per platform (@kaelio/ktx-<platform>, an optional dependency holding ktx at its
// root): the launcher runs the binary from there, still accepts native/<platform>/ in the package
// itself, and where the platform package is missing it names it and the command that installs it
// (shown with a real `npm install --omit=optional`).
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { launcher, here, unix, standIn, makeInstall, exec, noNode } = require('./install');

const platformRoot = (project) => path.join(project, 'node_modules', '@kaelio', `ktx-${here}`);

test('the binary of the platform package runs, told where the main package is, and the fast path links to it', { skip: !unix }, () => {
  const { project, root, bin } = makeInstall(undefined, 'p', { natives: {}, platforms: { [here]: standIn('1.2.3', 'platform') } });
  const first = exec(bin, ['-v', 'x']);
  assert.strictEqual(first.status, 0, first.stderr);
  assert.strictEqual(first.stdout, `platform:-v x\nroot:${root}\n`);
  assert.match(first.stderr, new RegExp(`running @kaelio/ktx-${here}/ktx\n`));
  assert.strictEqual(fs.readlinkSync(bin), `../@kaelio/ktx/dist/fast-${here}`);
  assert.ok(fs.readFileSync(path.join(root, 'dist', `fast-${here}`), 'utf8').includes(`"$r"/dist/'../../ktx-${here}/ktx'`));
  const later = exec(bin, ['y'], noNode);
  assert.strictEqual(later.stdout, `platform:y\nroot:${root}\n`, later.stderr);
  // Moved, both packages together: still the fast path.
  const moved = path.join(path.dirname(project), 'moved');
  fs.renameSync(project, moved);
  assert.match(exec(path.join(moved, 'node_modules', '.bin', 'ktx'), ['z'], noNode).stdout, /^platform:z\n/);
});

test('the platform package is run before a native/ copy in the package', { skip: !unix }, () => {
  const { root } = makeInstall(undefined, 'p', { natives: { [here]: standIn('1.2.3', 'native') }, platforms: { [here]: standIn('1.2.3', 'platform') } });
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js'), 'x'], { encoding: 'utf8' });
  assert.match(r.stdout, /^platform:x\n/, r.stderr);
});

test('a missing platform package is named, with the command that installs it where the package is', { skip: !unix }, () => {
  // In a project (its package.json beside node_modules) and in a global install (none there).
  const { project, root } = makeInstall(undefined, 'p', { natives: {}, platforms: { [here]: null } });
  fs.rmSync(platformRoot(project), { recursive: true });
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js'), '--version'], { encoding: 'utf8' });
  assert.strictEqual(r.status, 1);
  assert.match(r.stderr, new RegExp(`^error: @kaelio/ktx-${here}, the package holding this system's ktx, is not installed \\(.*--omit=optional.*npm/cli#4828\\)\n  hint: cd ${project.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} && npm install --include=optional .*\n$`));
  fs.unlinkSync(path.join(project, 'package.json'));
  const global = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js'), '--version'], { encoding: 'utf8' });
  assert.match(global.stderr, /\n {2}hint: npm install -g --include=optional @kaelio\/ktx@1\.2\.3\n$/);
});

test('a platform package of another version (another project\'s, up the tree) is not run', { skip: !unix }, () => {
  const { project, root } = makeInstall(undefined, 'p', { natives: {}, platforms: { [here]: standIn('1.2.2', 'other') } });
  const manifest = path.join(platformRoot(project), 'package.json');
  fs.writeFileSync(manifest, JSON.stringify({ name: `@kaelio/ktx-${here}`, version: '1.2.2' }));
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js'), 'x'], { encoding: 'utf8' });
  assert.strictEqual(r.status, 1);
  assert.strictEqual(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^error: .*ktx-${here}/package\\.json is version 1\\.2\\.2, not 1\\.2\\.3 as @kaelio/ktx is, so @kaelio/ktx does not run its ktx\n  hint: cd `));
});

test('a platform package owned by another user than the main package is not run', { skip: (!unix || process.getuid() !== 0) && 'needs root (chown)' }, () => {
  // As Node's lookup would find one planted in a parent's node_modules.
  const { project, root } = makeInstall(undefined, 'p', { natives: {}, platforms: { [here]: '#!/bin/sh\necho planted\n' } });
  fs.chownSync(path.join(platformRoot(project), 'ktx'), 65534, 65534);
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js'), 'x'], { encoding: 'utf8' });
  assert.strictEqual(r.status, 1);
  assert.strictEqual(r.stdout, '');
  assert.match(r.stderr, new RegExp(`^error: .*ktx-${here}/ktx is owned by another user than .*, so @kaelio/ktx does not run it\n`));
});

// The real thing: npm itself leaves the platform package out, and the hint's command puts it back.
const npm = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;
test('npm install --omit=optional leaves the platform package out: the launcher says so, and its command fixes it', { skip: (!unix || !npm) && 'no npm' }, () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ktx-platform-'));
  const pack = (dir) => {
    const r = spawnSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: dir, encoding: 'utf8' });
    assert.strictEqual(r.status, 0, r.stderr);
    return path.join(work, r.stdout.trim().split('\n').pop());
  };
  const plat = path.join(work, 'plat');
  fs.mkdirSync(plat);
  fs.writeFileSync(path.join(plat, 'package.json'), JSON.stringify({ name: `@kaelio/ktx-${here}`, version: '1.2.3', os: [process.platform], cpu: [process.arch] }));
  fs.writeFileSync(path.join(plat, 'ktx'), standIn('1.2.3', 'platform'));
  fs.chmodSync(path.join(plat, 'ktx'), 0o755);
  const main = path.join(work, 'main');
  fs.mkdirSync(path.join(main, 'dist'), { recursive: true });
  fs.copyFileSync(launcher, path.join(main, 'dist', 'bin.js'));
  fs.chmodSync(path.join(main, 'dist', 'bin.js'), 0o755);
  fs.writeFileSync(path.join(main, 'package.json'), JSON.stringify({ name: '@kaelio/ktx', version: '1.2.3', bin: { ktx: './dist/bin.js' }, optionalDependencies: { [`@kaelio/ktx-${here}`]: `file:${pack(plat)}` } }));
  const tgz = pack(main);
  const project = path.join(work, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'p', version: '1.0.0', private: true, dependencies: { '@kaelio/ktx': `file:${tgz}` } }));
  const env = Object.assign({}, process.env, { npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', npm_config_offline: 'true' });
  const omit = spawnSync('npm', ['install', '--omit=optional'], { cwd: project, env, encoding: 'utf8' });
  assert.strictEqual(omit.status, 0, omit.stderr);
  assert.ok(!fs.existsSync(platformRoot(project)), 'npm installed the optional package anyway');
  const bin = path.join(project, 'node_modules', '.bin', 'ktx');
  const r = exec(bin, ['x']);
  assert.strictEqual(r.status, 1);
  const hint = r.stderr.match(/\n {2}hint: (cd .* && npm install --include=optional) \(/);
  assert.ok(hint, r.stderr);
  const fixed = spawnSync('sh', ['-c', hint[1]], { env, encoding: 'utf8' });
  assert.strictEqual(fixed.status, 0, fixed.stderr);
  const after = exec(bin, ['x']);
  assert.strictEqual(after.stdout, `platform:x\nroot:${fs.realpathSync(path.join(project, 'node_modules', '@kaelio', 'ktx'))}\n`, after.stderr);
  fs.rmSync(work, { recursive: true, force: true });
});
