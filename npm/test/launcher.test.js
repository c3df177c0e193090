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

const { launcher, here, unix, makeInstall, exec, escape, noNode } = require('./install');

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
  assert.match(err, /yarn unplug @kaelio\/ktx`/);
});

test('a platform package kept zipped is the package the unplug hint names', { skip: !unix }, () => {
  const root = makePackage([here], '#!/bin/sh\nexit 0\n');
  const zip = path.join(root, 'cache.zip');
  fs.writeFileSync(zip, 'PK\x03\x04');
  const err = failsWith(root, { KTX_NATIVE_BINARY: path.join(zip, 'node_modules', '@kaelio', `ktx-${here}`, 'ktx') });
  assert.match(err, new RegExp(`yarn unplug @kaelio/ktx-${here}\``));
  assert.match(err, new RegExp(`dependenciesMeta\\["@kaelio/ktx-${here}"\\]`));
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

test('the first call through an npm bin symlink links it so that later calls run without Node', { skip: !unix }, () => {
  const { root, bin } = makeInstall();
  const first = exec(bin, ['sl', 'query']);
  assert.strictEqual(first.status, 0, first.stderr);
  assert.match(first.stdout, /native:sl query/);
  assert.strictEqual(fs.readlinkSync(bin), `../@kaelio/ktx/dist/fast-${here}`);
  // No node anywhere on PATH: only the fast path can answer.
  const later = exec(bin, ['a b', 'c'], { PATH: '/nonexistent' });
  assert.strictEqual(later.status, 0, later.stderr);
  assert.match(later.stdout, /native:a b c/);
  assert.match(later.stdout, new RegExp(`root:${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.deepStrictEqual(fs.readdirSync(path.dirname(bin)), ['ktx'], 'no temporary link left behind');
  assert.deepStrictEqual(fs.readdirSync(path.join(root, 'dist')).sort(), ['bin.js', `fast-${here}`]);
});

test('a project path with spaces, quotes and dollars is linked and run as it is', { skip: !unix }, () => {
  const { root, bin } = makeInstall(undefined, "it's a $HOME `x`");
  assert.strictEqual(exec(bin, ['--version']).status, 0);
  assert.strictEqual(fs.readlinkSync(bin), `../@kaelio/ktx/dist/fast-${here}`);
  const r = exec(bin, ['q'], { PATH: '/nonexistent' });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /native:q/);
  assert.ok(r.stdout.includes(`root:${root}`), r.stdout);
});

test('a call that started Node through the old link still runs after the link changed', { skip: !unix }, () => {
  const { bin } = makeInstall();
  assert.strictEqual(exec(bin, ['--version']).status, 0);
  // What such a call does: node reads the bin path, which now resolves to the fast file.
  const r = spawnSync(process.execPath, [bin, 'x'], { encoding: 'utf8' });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /native:x/);
});

test('ten first calls at once all answer and leave one link to the fast path', { skip: !unix }, async () => {
  const { bin } = makeInstall();
  const nodeDir = path.dirname(process.execPath);
  const runs = Array.from({ length: 10 }, (_, i) =>
    new Promise((resolve) => {
      const c = spawn(bin, [`call${i}`], { env: Object.assign({}, process.env, { PATH: `${nodeDir}:/usr/bin:/bin` }) });
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('exit', (code) => resolve({ code, out }));
    })
  );
  const results = await Promise.all(runs);
  results.forEach((r, i) => {
    assert.strictEqual(r.code, 0);
    assert.match(r.out, new RegExp(`native:call${i}\\b`));
  });
  assert.strictEqual(fs.readlinkSync(bin), `../@kaelio/ktx/dist/fast-${here}`);
  assert.deepStrictEqual(fs.readdirSync(path.dirname(bin)), ['ktx']);
});

test('a binary that answers another version is never linked, and still runs through the launcher', { skip: !unix }, () => {
  const { bin } = makeInstall('9.9.9');
  const r = exec(bin, ['x']);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(fs.readlinkSync(bin), '../@kaelio/ktx/dist/bin.js');
});

test('KTX_FAST_PATH=0 keeps the JavaScript launcher, and turns a linked fast path back to it', { skip: !unix }, () => {
  const { bin } = makeInstall();
  assert.strictEqual(exec(bin, ['x'], { KTX_FAST_PATH: '0' }).status, 0);
  assert.strictEqual(fs.readlinkSync(bin), '../@kaelio/ktx/dist/bin.js');
  assert.strictEqual(exec(bin, ['x']).status, 0);
  // Linked now; with the variable set the fast file hands over to Node, which needs node on PATH.
  const r = exec(bin, ['y'], { KTX_FAST_PATH: '0', PATH: '/nonexistent' });
  assert.notStrictEqual(r.status, 0);
  const back = exec(bin, ['y'], { KTX_FAST_PATH: '0' });
  assert.strictEqual(back.status, 0, back.stderr);
  assert.match(back.stdout, /native:y/);
});

test('KTX_NATIVE_BINARY is honoured after linking: the fast path hands over to the launcher', { skip: !unix }, () => {
  const { project, bin } = makeInstall();
  assert.strictEqual(exec(bin, ['x']).status, 0);
  const other = path.join(project, 'other-ktx');
  fs.writeFileSync(other, '#!/bin/sh\necho "other:$*"\n');
  fs.chmodSync(other, 0o755);
  const r = exec(bin, ['z'], { KTX_NATIVE_BINARY: other });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /other:z/);
});

test('the fast file names no path of the project: a moved project runs its own binary, still without Node', { skip: !unix }, () => {
  const { project } = makeInstall();
  const bin = (p) => path.join(p, 'node_modules', '.bin', 'ktx');
  assert.strictEqual(exec(bin(project), ['--version']).status, 0);
  const moved = path.join(path.dirname(project), 'moved');
  fs.renameSync(project, moved);
  const root = path.join(moved, 'node_modules', '@kaelio', 'ktx');
  const fast = fs.readFileSync(path.join(root, 'dist', `fast-${here}`), 'utf8');
  assert.ok(!fast.includes(path.dirname(project)), fast);
  const r = exec(bin(moved), ['x'], noNode);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(r.stdout, `native:x\nroot:${root}\n`);
});

test('a copied project (cp -a) runs its own binary, never the original\'s', { skip: !unix }, () => {
  const { project: a } = makeInstall();
  const bin = (p) => path.join(p, 'node_modules', '.bin', 'ktx');
  const rootOf = (p) => path.join(p, 'node_modules', '@kaelio', 'ktx');
  assert.strictEqual(exec(bin(a), ['--version']).status, 0);
  const c = path.join(path.dirname(a), 'c');
  assert.strictEqual(spawnSync('cp', ['-a', a, c]).status, 0);
  // The original's binary now says so: any call from the copy that reached it would show.
  const original = path.join(rootOf(a), 'native', here, 'ktx');
  fs.writeFileSync(original, fs.readFileSync(original, 'utf8').replace('echo "native:$*"', 'echo "original:$*"'));
  const copy = exec(bin(c), ['x'], noNode);
  assert.strictEqual(copy.stdout, `native:x\nroot:${rootOf(c)}\n`, copy.stderr);
  const orig = exec(bin(a), ['z'], noNode);
  assert.strictEqual(orig.stdout, `original:z\nroot:${rootOf(a)}\n`, orig.stderr);
});

test('what is planted at a moved project\'s old path never runs', { skip: !unix }, () => {
  const { project } = makeInstall();
  const bin = (p) => path.join(p, 'node_modules', '.bin', 'ktx');
  assert.strictEqual(exec(bin(project), ['--version']).status, 0);
  const moved = path.join(path.dirname(project), 'moved');
  fs.renameSync(project, moved);
  // The old path again, every file of the package replaced by a script that leaves a marker.
  const marker = path.join(path.dirname(project), 'planted-ran');
  const plant = `#!/bin/sh\necho planted > '${marker}'\necho "ktx 1.2.3"\n`;
  const old = path.join(project, 'node_modules', '@kaelio', 'ktx');
  for (const f of [path.join('native', here, 'ktx'), path.join('dist', `fast-${here}`), path.join('dist', 'bin.js')]) {
    fs.mkdirSync(path.dirname(path.join(old, f)), { recursive: true });
    fs.writeFileSync(path.join(old, f), plant);
    fs.chmodSync(path.join(old, f), 0o755);
  }
  for (const env of [noNode, {}]) {
    const r = exec(bin(moved), ['x'], env);
    assert.strictEqual(r.status, 0, r.stderr);
    assert.match(r.stdout, /^native:x\n/);
  }
  assert.ok(!fs.existsSync(marker), 'the planted script ran');
});

test('a moved project\'s old path made to lead to its files (a symlinked dist) never becomes the package root', { skip: !unix }, () => {
  const { project } = makeInstall();
  const bin = (p) => path.join(p, 'node_modules', '.bin', 'ktx');
  assert.strictEqual(exec(bin(project), ['--version']).status, 0);
  const moved = path.join(path.dirname(project), 'moved');
  fs.renameSync(project, moved);
  // The old package directory again, its own python/ (what KTX_PACKAGE_ROOT would load), and
  // dist/ a symlink to the moved package's: the fast file there is the very file run.
  const old = path.join(project, 'node_modules', '@kaelio', 'ktx');
  fs.mkdirSync(path.join(old, 'python'), { recursive: true });
  fs.writeFileSync(path.join(old, 'python', 'runtime-manifest.json'), '{"planted": true}');
  fs.symlinkSync(path.join(moved, 'node_modules', '@kaelio', 'ktx', 'dist'), path.join(old, 'dist'));
  for (const env of [noNode, {}]) {
    const r = exec(bin(moved), ['x'], env);
    assert.strictEqual(r.stdout, `native:x\nroot:${path.join(moved, 'node_modules', '@kaelio', 'ktx')}\n`, r.stderr);
  }
});

test('a fast file of another form (an older launcher\'s) is rewritten by the call it hands over', { skip: !unix }, () => {
  const { root, bin } = makeInstall();
  assert.strictEqual(exec(bin, ['--version']).status, 0);
  const fast = path.join(root, 'dist', `fast-${here}`);
  const written = fs.readFileSync(fast, 'utf8');
  fs.writeFileSync(fast, "#!/bin/sh\n':' //; exec node \"$0\" \"$@\"\nrequire('./bin.js');\n");
  assert.strictEqual(exec(bin, ['x']).status, 0);
  assert.strictEqual(fs.readFileSync(fast, 'utf8'), written);
  assert.match(exec(bin, ['y'], noNode).stdout, /^native:y\n/);
});

test('a fast file reached through another symlink, or run by its own path, hands over to the launcher', { skip: !unix }, () => {
  const { project, root, bin } = makeInstall();
  assert.strictEqual(exec(bin, ['--version']).status, 0);
  const mine = path.join(project, 'my-ktx');
  fs.symlinkSync(bin, mine);
  for (const p of [mine, path.join(root, 'dist', `fast-${here}`)]) {
    // Its package could not be found relative to it: without Node it runs nothing.
    assert.notStrictEqual(exec(p, ['x'], noNode).status, 0);
    const r = exec(p, ['x']);
    assert.strictEqual(r.status, 0, r.stderr);
    assert.strictEqual(r.stdout, `native:x\nroot:${root}\n`);
  }
  assert.strictEqual(fs.readlinkSync(bin), `../@kaelio/ktx/dist/fast-${here}`);
});

test('a bin that is not a symlink (pnpm writes a shell shim) is never touched', { skip: !unix }, () => {
  const { root, bin } = makeInstall();
  fs.unlinkSync(bin);
  fs.writeFileSync(bin, `#!/bin/sh\nexec "${process.execPath}" "${path.join(root, 'dist', 'bin.js')}" "$@"\n`);
  fs.chmodSync(bin, 0o755);
  const before = fs.readFileSync(bin, 'utf8');
  const r = exec(bin, ['x']);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /native:x/);
  assert.strictEqual(fs.readFileSync(bin, 'utf8'), before);
  assert.deepStrictEqual(fs.readdirSync(path.join(root, 'dist')), ['bin.js']);
});

// A read-only filesystem, for real: the install is bind-mounted read-only in a private mount
// namespace (skipped where this test may not mount).
const canMount = unix && spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs none /mnt'], { stdio: 'ignore' }).status === 0;
test('an install on a read-only filesystem keeps the launcher and still answers', { skip: !canMount && 'cannot mount here' }, () => {
  const { project, bin } = makeInstall();
  const nodeDir = path.dirname(process.execPath);
  const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
  const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount --bind ${q(project)} ${q(project)} && mount -o remount,bind,ro ${q(project)} && exec ${q(bin)} x`], {
    env: Object.assign({}, process.env, { PATH: `${nodeDir}:/usr/bin:/bin` }),
    encoding: 'utf8',
  });
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stdout, /native:x/);
  assert.strictEqual(r.stderr, '');
  assert.strictEqual(fs.readlinkSync(bin), '../@kaelio/ktx/dist/bin.js');
});

test('on Node with process.execve the launcher becomes the binary: same pid, no Node left', { skip: (typeof process.execve !== 'function' || process.platform !== 'linux') && 'this Node has no process.execve' }, () => {
  const root = makePackage([here], '#!/bin/sh\necho "pid:$$"\n');
  const child = spawnSync(process.execPath, [path.join(root, 'dist', 'bin.js')], { encoding: 'utf8' });
  assert.strictEqual(child.status, 0, child.stderr);
  assert.strictEqual(child.stdout.trim(), `pid:${child.pid}`);
});
