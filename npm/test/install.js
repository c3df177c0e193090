// What the launcher tests share: the launcher's source, and an npm-style install of it in a
// temporary directory (node_modules/.bin/ktx a relative symlink to the launcher) with stand-in
// native binaries. Not a test file itself (node --test runs it as one that has no tests).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');

// The launcher's source; a package has it as dist/bin.js (ktx-release pack copies it there).
const launcher = path.join(__dirname, '..', 'src', 'bin.js');
const here = `${process.platform}-${process.arch}`;
const unix = process.platform !== 'win32';

// A stand-in native binary: answers --version as `ktx <said>`, otherwise prints its arguments
// (after `<tag>:`) and the package root it was given.
const standIn = (said, tag) =>
  `#!/bin/sh\nif [ "$1" = --version ]; then echo "ktx ${said}"; exit 0; fi\necho "${tag || 'native'}:$*"\necho "root:$KTX_PACKAGE_ROOT"\n`;

// An install of version 1.2.3 (or opts.version) whose native/<here>/ktx answers --version as
// versionSaid; opts.parent: the directory the project is made in; opts.natives: { dir: script
// text or { copy: path } } replacing the stand-ins in native/; opts.platforms: { dir: script }
// installed as platform packages beside it (@kaelio/ktx-<dir>, named in optionalDependencies).
function makeInstall(versionSaid, subdir, opts = {}) {
  const version = opts.version || '1.2.3';
  const parent = opts.parent || fs.mkdtempSync(path.join(os.tmpdir(), 'ktx-fast-'));
  const project = path.join(parent, subdir || 'p');
  const root = path.join(project, 'node_modules', '@kaelio', 'ktx');
  fs.mkdirSync(path.join(root, 'dist'), { recursive: true });
  fs.copyFileSync(launcher, path.join(root, 'dist', 'bin.js'));
  fs.chmodSync(path.join(root, 'dist', 'bin.js'), 0o755);
  fs.writeFileSync(path.join(project, 'package.json'), '{}');
  const platforms = opts.platforms || {};
  const optionalDependencies = Object.fromEntries(Object.keys(platforms).map((dir) => [`@kaelio/ktx-${dir}`, version]));
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: '@kaelio/ktx', version, optionalDependencies }));
  for (const [dir, script] of Object.entries(platforms)) {
    const pkg = path.join(project, 'node_modules', '@kaelio', `ktx-${dir}`);
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: `@kaelio/ktx-${dir}`, version }));
    if (script !== null) {
      fs.writeFileSync(path.join(pkg, 'ktx'), script);
      fs.chmodSync(path.join(pkg, 'ktx'), 0o755);
    }
  }
  const natives = opts.natives || { [here]: standIn(versionSaid || version) };
  for (const [dir, what] of Object.entries(natives)) {
    fs.mkdirSync(path.join(root, 'native', dir), { recursive: true });
    const exe = path.join(root, 'native', dir, 'ktx');
    if (typeof what === 'string') fs.writeFileSync(exe, what);
    else fs.copyFileSync(what.copy, exe);
    fs.chmodSync(exe, 0o755);
  }
  const bins = path.join(project, 'node_modules', '.bin');
  fs.mkdirSync(bins);
  fs.symlinkSync('../@kaelio/ktx/dist/bin.js', path.join(bins, 'ktx'));
  return { project, root, bin: path.join(bins, 'ktx') };
}

// Run the bin as a shell does (the kernel reads its #! line), with node on PATH or not.
function exec(bin, args, env) {
  const nodeDir = path.dirname(process.execPath);
  return spawnSync(bin, args, { env: Object.assign({}, process.env, { PATH: `${nodeDir}:/usr/bin:/bin` }, env), encoding: 'utf8' });
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const noNode = { PATH: '/nonexistent' };
// A single-quoted shell word.
const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;

module.exports = { launcher, here, unix, standIn, makeInstall, exec, escape, noNode, q };
