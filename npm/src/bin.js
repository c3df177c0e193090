#!/usr/bin/env node
// The @kaelio/ktx launcher: finds the native `ktx` for this platform (in its platform package
// @kaelio/ktx-<platform>, or inside this package) and runs it with the same arguments, standard
// streams, exit code and signals. It tells the binary where the package lives
// (KTX_PACKAGE_ROOT) so that it finds the bundled wheel and demo assets.
// This is its source (npm/src/bin.js); `ktx-release pack` copies it to the package's dist/bin.js,
// the package's bin, and the rest of this file speaks of it there.
'use strict';

const fs = require('fs');
const path = require('path');
// child_process is required only where it is used (about 2 ms of Node's start otherwise).
const childProcess = () => require('child_process');

const root = path.resolve(__dirname, '..');
const nativeDir = path.join(root, 'native');
const exe = process.platform === 'win32' ? 'ktx.exe' : 'ktx';

// musl's dynamic loader for this architecture: one existence check, no directory scan.
function isMusl() {
  if (process.platform !== 'linux') return false;
  const arch = { x64: 'x86_64', arm64: 'aarch64' }[process.arch] || process.arch;
  return fs.existsSync(`/lib/ld-musl-${arch}.so.1`);
}

// What `ktx-release pack` recorded in native/targets.json about each build (in native/<dir>/ or
// its platform package): its target, its C library and, for glibc builds, the oldest glibc it
// runs on (the release's glibc floor).
function record() {
  try {
    return JSON.parse(fs.readFileSync(path.join(nativeDir, 'targets.json'), 'utf8'));
  } catch (_) {
    return {};
  }
}

// The running glibc ("2.31"), or null when Node does not report one (musl, or not Linux).
function runningGlibc() {
  try {
    process.report.excludeNetwork = true;
    return process.report.getReport().header.glibcVersionRuntime || null;
  } catch (_) {
    return null;
  }
}

// The oldest glibc any Node >= 18 build runs on (nodejs.org's need 2.28; the unofficial
// glibc-217 builds 2.17).
const NODE_GLIBC_FLOOR = '2.17';

function olderThan(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d !== 0) return d < 0;
  }
  return false;
}

// This package's package.json: its version and the platform packages it names.
let ownManifest;
function manifest() {
  if (ownManifest === undefined) {
    try {
      ownManifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    } catch (_) {
      ownManifest = {};
    }
  }
  return ownManifest;
}

// One package per platform, as esbuild and Biome ship: @kaelio/ktx-<dir> holds ktx at its root
// and is an optional dependency of this package, so npm installs only the one whose os, cpu and
// libc match this system.
const platformPackage = (dir) => `@kaelio/ktx-${dir}`;
const named = (dir) => Object.prototype.hasOwnProperty.call(manifest().optionalDependencies || {}, platformPackage(dir));

// Where the build for `dir` is: { binary, shown } or null. First its platform package, resolved
// as Node resolves this package's dependencies (npm, pnpm, bun, Yarn Plug'n'Play), if it is this
// package's version and its ktx is owned by whoever owns this package: Node's lookup climbs to
// every parent's node_modules, and what it finds there may be another project's or, in a
// directory others can write, another user's (`refused` says why one is not run). Else
// native/<dir>/ in this package (the layout before platform packages).
const located = {};
const refused = {};
function locate(dir) {
  if (Object.prototype.hasOwnProperty.call(located, dir)) return located[dir];
  let found = null;
  let manifestPath = null;
  try {
    manifestPath = require.resolve(`${platformPackage(dir)}/package.json`);
  } catch (_) {
    /* not installed */
  }
  const binary = manifestPath && path.join(path.dirname(manifestPath), exe);
  if (binary && fs.existsSync(binary)) {
    let version = null;
    try {
      version = JSON.parse(fs.readFileSync(manifestPath, 'utf8')).version;
    } catch (_) {
      /* unreadable: not this version */
    }
    if (version !== manifest().version) {
      refused[dir] = `${manifestPath} is version ${version}, not ${manifest().version} as @kaelio/ktx is, so @kaelio/ktx does not run its ktx`;
    } else if (!ownedAsThisPackage(binary)) {
      refused[dir] = `${binary} is owned by another user than ${root}, so @kaelio/ktx does not run it`;
    } else {
      found = { binary, shown: `${platformPackage(dir)}/${exe}` };
    }
  }
  if (!found && fs.existsSync(path.join(nativeDir, dir, exe))) {
    found = { binary: path.join(nativeDir, dir, exe), shown: `native/${dir}/${exe}` };
  }
  located[dir] = found;
  return found;
}

function ownedAsThisPackage(file) {
  if (process.platform === 'win32') return true;
  try {
    return fs.statSync(file).uid === fs.statSync(path.join(root, 'package.json')).uid;
  } catch (_) {
    return false;
  }
}

const has = (dir) => locate(dir) !== null;

// The builds this package has or names, for the message on a platform it has none for.
function carried() {
  const dirs = Object.keys(manifest().optionalDependencies || {})
    .filter((n) => n.startsWith(platformPackage('')))
    .map((n) => n.slice(platformPackage('').length));
  try {
    for (const d of fs.readdirSync(nativeDir)) {
      if (!dirs.includes(d) && (fs.existsSync(path.join(nativeDir, d, 'ktx')) || fs.existsSync(path.join(nativeDir, d, 'ktx.exe')))) dirs.push(d);
    }
  } catch (_) {
    /* no native/ */
  }
  return dirs;
}

// The platform package for `dir` is named but not installed (or not ours): say which, and the
// command that installs it where this package is.
function missingPackage(dir) {
  const name = platformPackage(dir);
  const what = refused[dir]
    ? refused[dir]
    : `${name}, the package holding this system's ktx, is not installed (npm leaves an optional dependency out under --omit=optional, or when package-lock.json was written on another OS: npm/cli#4828)`;
  const modules = path.dirname(path.dirname(root));
  const project = path.dirname(modules);
  let fix;
  if (path.basename(modules) !== 'node_modules') {
    fix = `reinstall @kaelio/ktx with its optional dependencies: npm install --include=optional @kaelio/ktx`;
  } else if (fs.existsSync(path.join(project, 'package.json'))) {
    fix = `cd ${project} && npm install --include=optional (if package-lock.json was written on another OS, delete it and node_modules first)`;
  } else {
    fix = `npm install -g --include=optional @kaelio/ktx@${manifest().version}`;
  }
  fail(what, fix);
}

// The build for this system: { dir, why } or { error, hint }. On glibc Linux the gnu build runs
// when the running glibc is at least what it needs; otherwise the static musl build, if packed.
function choose(loud) {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform !== 'linux') {
    return has(base) ? { dir: base, why: `${process.platform} ${process.arch}` } : { missing: base };
  }
  const musl = `${base}-musl`;
  if (isMusl()) {
    return has(musl) ? { dir: musl, why: 'musl libc', onMusl: true } : { missing: musl };
  }
  // The record `ktx-release pack` wrote names what it packed: no existence check for those.
  const packed = record();
  if (!packed[base] && !has(base)) {
    // A static musl build runs on glibc systems too.
    return packed[musl] || has(musl) ? { dir: musl, why: `no ${base} build packed` } : { missing: base };
  }
  const needs = (packed[base] || {}).glibc;
  // Every Node this package supports (engines >= 18) needs glibc 2.17 or newer itself, so a
  // build that needs no more runs wherever this launcher runs: Node's report (about 6 ms) is
  // asked only for a build that needs more, or under -v to say what runs.
  if (needs && !loud && !olderThan(NODE_GLIBC_FLOOR, needs)) {
    return { dir: base, why: 'glibc' };
  }
  const glibc = needs ? runningGlibc() : null;
  if (!needs || !glibc) {
    return { dir: base, why: needs ? `glibc version unknown (${base} needs ${needs})` : 'glibc' };
  }
  if (!olderThan(glibc, needs)) {
    // Decided by the running glibc, which the fast path's shell cannot read without a fork: a
    // build that needs more than every Node does keeps this launcher.
    return { dir: base, why: `glibc ${glibc}, ${base} needs glibc ${needs}`, byGlibc: olderThan(NODE_GLIBC_FLOOR, needs) };
  }
  if (packed[musl] || has(musl)) {
    return { dir: musl, why: `glibc ${glibc} is older than the glibc ${needs} ${base} needs` };
  }
  return {
    error: `this system's glibc ${glibc} is older than the glibc ${needs} ${(locate(base) || { shown: base }).shown} needs, and @kaelio/ktx carries no ${musl} build`,
    hint: `use a system with glibc ${needs} or newer, or report yours at https://github.com/kaelio/ktx/issues`,
  };
}

// -v/--verbose (ktx's own flag) also makes the launcher say which build it runs, on stderr.
function verbose(args) {
  for (const a of args) {
    if (a === '--') return false;
    if (a === '-v' || a === '--verbose') return true;
  }
  return false;
}

// Whether a path runs through a zip archive (Yarn Plug'n'Play's cache).
const inZip = (p) => /\.zip[\\/]/.test(p);

// Why a spawn failed, said to a person: { what, hint }.
function explain(err, binary) {
  const zipped = inZip(binary) || err.code === 'ENOTDIR';
  if (zipped) {
    // The package that holds the binary: a platform package, or this one (native/).
    const holder = (binary.match(/@kaelio[\\/](ktx-[a-z0-9-]+)[\\/]/) || [])[1];
    const name = holder ? `@kaelio/${holder}` : '@kaelio/ktx';
    return {
      what: `${binary} is inside a zip archive (Yarn Plug'n'Play keeps packages zipped), and a native binary cannot run from there`,
      hint: `unplug the package: \`yarn unplug ${name}\` (or set dependenciesMeta["${name}"].unplugged: true in package.json), then \`yarn install\``,
    };
  }
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    let mode = null;
    try {
      mode = fs.statSync(binary).mode;
    } catch (_) {
      /* gone: reported as it is */
    }
    if (mode !== null && (mode & 0o111) === 0) {
      return { what: `${binary} is not executable`, hint: `chmod +x ${binary}, or reinstall @kaelio/ktx` };
    }
    return {
      what: `${binary} may not be executed here: the filesystem it is on is probably mounted noexec`,
      hint: 'install @kaelio/ktx on a filesystem that allows executables, or set KTX_NATIVE_BINARY to a copy of it on one',
    };
  }
  if (err.code === 'ENOENT' && fs.existsSync(binary)) {
    const musl = locate(`${process.platform}-${process.arch}-musl`);
    return {
      what: `${binary} exists but cannot be started: its dynamic loader (or interpreter) is missing on this system`,
      hint: musl
        ? `try the static musl build: KTX_NATIVE_BINARY=${musl.binary}`
        : 'report your system at https://github.com/kaelio/ktx/issues',
    };
  }
  return { what: `cannot run ${binary}: ${err.message}`, hint: 'reinstall @kaelio/ktx' };
}

// What starting `binary` takes from this system, read from its first 4 KB: { interp } where
// interp is the dynamic loader an ELF names (PT_INTERP), the interpreter of a #! script, or
// macOS's dyld for a Mach-O; { interp: null } for a static ELF; null for anything this machine
// does not run (another machine's ELF, an unknown format) or that cannot be read.
function startNeeds(binary) {
  let fd;
  try {
    fd = fs.openSync(binary, 'r');
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    if (n >= 2 && head[0] === 0x23 && head[1] === 0x21) {
      const line = head.subarray(2, n).toString('latin1').split('\n')[0].trim();
      return line.startsWith('/') ? { interp: line.split(/\s+/)[0] } : null;
    }
    if (process.platform === 'darwin') {
      // 64-bit Mach-O (either byte order) or a universal binary: started by /usr/lib/dyld.
      const magic = n >= 4 ? head.readUInt32BE(0) : 0;
      return [0xfeedfacf, 0xcffaedfe, 0xcafebabe].includes(magic) ? { interp: '/usr/lib/dyld' } : null;
    }
    // ELF64, little-endian, and the machine this Node runs on.
    if (n < 64 || head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head[5] !== 1) return null;
    const machine = { x64: 62, arm64: 183 }[process.arch];
    if (head.readUInt16LE(18) !== machine) return null;
    const phoff = Number(head.readBigUInt64LE(32));
    const phentsize = head.readUInt16LE(54);
    const phnum = head.readUInt16LE(56);
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * phentsize;
      if (at + 56 > n) return null;
      if (head.readUInt32LE(at) !== 3) continue; // PT_INTERP
      const off = Number(head.readBigUInt64LE(at + 8));
      const size = Number(head.readBigUInt64LE(at + 32));
      if (off + size > n) return null;
      return { interp: head.subarray(off, off + size).toString('latin1').replace(/\0+$/, '') };
    }
    return { interp: null }; // static: no loader needed
  } catch (_) {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

// The file whose existence shows, before the fast path execs the binary, that the binary starts
// here: its loader; for a static binary, the loader of the Node running now (a system where that
// file exists runs programs of this machine). null: nothing to test with, so no fast path.
function startProof(binary) {
  const needs = startNeeds(binary);
  if (!needs) return null;
  if (needs.interp) return needs.interp;
  const node = startNeeds(process.execPath);
  return node && node.interp ? node.interp : null;
}

// The fast path. Where the shell reached this launcher through a symlink that points straight at
// it (npm, yarn 1 and bun link node_modules/.bin/ktx and global bins so), the launcher repoints
// that symlink, once, at dist/fast-<dir>: a file the kernel runs as a shell script that execs the
// binary, so later calls start no Node, and that Node runs as JavaScript that loads this
// launcher, so a call that had started Node through the old link still runs. Both steps are
// atomic renames: ten first calls at once all run. No install script does this, because pnpm 11
// and later fail the install of a package that has one; pnpm's shim (a script, not a symlink),
// `node dist/bin.js`, Yarn Plug'n'Play and Windows keep this launcher. KTX_FAST_PATH=0 turns it off.
//
// The script names no path of the project: it finds the package from $0 (the bin symlink as the
// shell called it: its directory, then the link's own relative text), with builtins only, no
// fork, so a moved or copied project runs its own binary and a path it left behind is never
// looked at. It execs the binary only when all of these hold: no KTX_NATIVE_BINARY, no
// KTX_FAST_PATH=0; $0 is this very file (`-ef`) in the package found so (another symlink to the
// bin, or the file run by its own path, fails that); the binary's loader exists (startProof);
// musl's loader is absent for the glibc build, present for a musl build chosen because the
// system is musl (choose decides by that file); the binary is executable. Otherwise it runs
// `node` on itself, that is this launcher, which chooses, explains, and rewrites the file when
// what it would write differs. A choice made by the running glibc's version (a build needing more
// than any Node does) is never linked: the shell cannot read that version without a fork.

// Where the shell finds the package root from the bin's directory $b: `link` is the bin
// symlink's text (…/dist/bin.js or …/dist/fast-<dir>), joined as text (leading `..` drop a
// component of $b), as the launcher checks it must be (rootSeenFrom).
function rootFromBins(link) {
  const rel = path.normalize(path.join(path.dirname(link), '..'));
  if (path.isAbsolute(rel)) return { up: -1, rest: rel };
  const parts = rel.split(path.sep);
  let up = 0;
  while (parts[up] === '..') up++;
  return { up, rest: parts.slice(up).filter((p) => p !== '.').join('/') };
}

function rootSeenFrom(bins, link) {
  const { up, rest } = rootFromBins(link);
  if (up < 0) return rest;
  let r = bins;
  for (let i = 0; i < up; i++) r = path.dirname(r);
  return rest ? `${r}/${rest}` : r;
}

function fastScript(binary, choice, link) {
  const dir = choice.dir;
  const proof = startProof(binary);
  if (!proof) return null;
  const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
  const base = `${process.platform}-${process.arch}`;
  const arch = { x64: 'x86_64', arm64: 'aarch64' }[process.arch] || process.arch;
  const { up, rest } = rootFromBins(link);
  let where;
  if (up < 0) {
    where = `r=${q(rest)}`;
  } else {
    // $b: the bin's directory, absolute ($PWD is the shell's own, no fork).
    where = 'case $0 in */*) b=${0%/*};; *) b=.;; esac; case $b in /*) ;; .) b=$PWD;; *) b=$PWD/${b#./};; esac; r=$b';
    for (let i = 0; i < up; i++) where += '; r=${r%/*}';
    if (rest) where += `; r=$r/${q(rest)}`;
  }
  const tests = [
    '[ -z "$KTX_NATIVE_BINARY" ]',
    '[ "$KTX_FAST_PATH" != 0 ]',
    `[ "$0" -ef "$r"/${q(`dist/fast-${dir}`)} ]`,
    `[ -e ${q(proof)} ]`,
  ];
  // Where this launcher would choose the other build: musl's loader decides (isMusl).
  if (process.platform === 'linux' && dir === base) tests.push(`[ ! -e ${q(`/lib/ld-musl-${arch}.so.1`)} ]`);
  if (choice.onMusl) tests.push(`[ -e ${q(`/lib/ld-musl-${arch}.so.1`)} ]`);
  // From dist, both real paths: the kernel resolves "$r/dist/.." physically (the platform
  // package sits beside the real package directory).
  const native = `"$r"/dist/${q(path.relative(__dirname, binary))}`;
  tests.push(`[ -x ${native} ]`);
  return (
    '#!/bin/sh\n' +
    `':' //; ${where}\n` +
    `':' //; ${tests.join(' && ')} && KTX_PACKAGE_ROOT=$r && export KTX_PACKAGE_ROOT && exec ${native} "$@"\n` +
    `':' //; exec node "$0" "$@"\n` +
    '// @kaelio/ktx: written by dist/bin.js (see linkFastPath there). The shell runs the lines above;\n' +
    '// Node (a call that started through the old link, or any check above that failed) runs the launcher.\n' +
    "require('./bin.js');\n"
  );
}

function linkFastPath({ binary, shown }, choice, loud) {
  const dir = choice.dir;
  if (process.platform === 'win32' || process.env.KTX_FAST_PATH === '0') return;
  const via = process.argv[1];
  let text;
  try {
    text = fs.readlinkSync(via);
  } catch (_) {
    return; // not a symlink
  }
  const name = path.basename(text);
  if (name !== 'bin.js' && !name.startsWith('fast-')) return; // somebody else's link
  const bins = path.dirname(via);
  const fast = path.join(__dirname, `fast-${dir}`);
  const relink = name !== path.basename(fast);
  const tmp = `.${process.pid}.${Date.now()}.tmp`;
  const link = path.join(bins, `.${path.basename(via)}${tmp}`);
  try {
    // Only where the script will find this package as it finds it (see rootFromBins).
    if (fs.realpathSync.native(`${rootSeenFrom(bins, text)}/dist`) !== __dirname) return;
    const script = /[\n\r\u2028\u2029]/.test(binary + text) ? null : fastScript(binary, choice, text);
    if (script === null) return;
    // Linked already and the file is what this launcher writes: it handed this call over for a
    // reason of the call's own (an override, a check that fails on this system).
    if (!relink && fs.readFileSync(fast, 'utf8') === script) return;
    if (relink) fs.accessSync(bins, fs.constants.W_OK);
    fs.accessSync(__dirname, fs.constants.W_OK);
    // Only a binary that runs here and is this package's version takes the launcher's place.
    const version = manifest().version;
    const ran = childProcess().spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10000, env: Object.assign({}, process.env, { KTX_PACKAGE_ROOT: root }) });
    if (ran.status !== 0 || String(ran.stdout).trim() !== `ktx ${version}`) return;
    fs.writeFileSync(path.join(__dirname, tmp), script);
    fs.chmodSync(path.join(__dirname, tmp), fs.statSync(binary).mode & 0o777);
    fs.renameSync(path.join(__dirname, tmp), fast);
    if (relink) {
      fs.symlinkSync(path.join(path.dirname(text), path.basename(fast)), link);
      fs.renameSync(link, via);
    }
    if (loud) process.stderr.write(`ktx launcher: linked ${via} to dist/${path.basename(fast)}: later calls run ${shown} without Node\n`);
  } catch (_) {
    // Anything unexpected (a read-only or full disk, a race with an install): stay as we are.
    for (const f of [path.join(__dirname, tmp), link]) {
      try {
        fs.unlinkSync(f);
      } catch (_) {
        /* not there */
      }
    }
  }
}

// Whether process.execve can be trusted with this binary. Node aborts with a native stack trace
// when execve fails (it does not throw), so it is used only where the usual failures are ruled
// out first: Linux, the run bit (and no noexec mount: access(X_OK) says EACCES there too), and
// an ELF for this machine whose dynamic loader exists, or a #! script whose interpreter does.
// Anything else goes through spawn, whose errors the launcher explains.
function execveSafe(binary) {
  if (process.platform !== 'linux' || inZip(binary)) return false;
  try {
    fs.accessSync(binary, fs.constants.X_OK);
  } catch (_) {
    return false;
  }
  const needs = startNeeds(binary);
  return needs !== null && (needs.interp === null || fs.existsSync(needs.interp));
}

function fail(what, hint) {
  process.stderr.write(`error: ${what}\n  hint: ${hint}\n`);
  process.exit(1);
}

function cannotRun(err, binary) {
  const e = explain(err, binary);
  fail(e.what, e.hint);
}

function main() {
  const args = process.argv.slice(2);
  const loud = verbose(args);
  let binary = process.env.KTX_NATIVE_BINARY;
  if (binary) {
    if (loud) process.stderr.write(`ktx launcher: running ${binary} (KTX_NATIVE_BINARY)\n`);
  } else {
    const choice = choose(loud);
    if (choice.missing && named(choice.missing)) missingPackage(choice.missing);
    if (choice.missing) {
      const have = carried();
      process.stderr.write(
        `error: @kaelio/ktx has no native binary for ${choice.missing}\n` +
          `  this package carries: ${have.length ? have.join(', ') : 'none'}\n` +
          '  hint: report your platform at https://github.com/kaelio/ktx/issues\n'
      );
      process.exit(1);
    }
    if (choice.error) fail(choice.error, choice.hint);
    // Named by native/targets.json, or by this package's optionalDependencies, but not there.
    const where = locate(choice.dir);
    if (!where && named(choice.dir)) missingPackage(choice.dir);
    if (!where) fail(`@kaelio/ktx has no ${choice.dir} build: native/${choice.dir}/${exe} is missing`, 'reinstall @kaelio/ktx');
    binary = where.binary;
    if (loud) process.stderr.write(`ktx launcher: ${choice.why}: running ${where.shown}\n`);
    if (!choice.byGlibc) linkFastPath(where, choice, loud);
  }

  const env = Object.assign({}, process.env, { KTX_PACKAGE_ROOT: root });
  // Where Node can replace itself with the binary (Node >= 22.15 and 23.11, Linux) and nothing
  // will make that fail, nothing of Node stays between the shell and ktx: signals and the exit
  // status are ktx's own.
  if (typeof process.execve === 'function' && execveSafe(binary)) {
    try {
      process.execve(binary, [binary, ...args], env);
    } catch (err) {
      cannotRun(err, binary);
    }
  }
  // Forwarded to the child. Installed before it starts: a signal that came between its start
  // (it may have printed already) and these handlers would kill Node and orphan it. Node runs
  // the handlers from its event loop, so `child` is set by the time one runs.
  let child;
  const forwarded = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  const handlers = {};
  for (const sig of forwarded) {
    handlers[sig] = () => {
      try {
        child.kill(sig);
      } catch (_) {
        /* the child is gone already */
      }
    };
    try {
      process.on(sig, handlers[sig]);
    } catch (_) {
      /* signal not supported on this platform */
    }
  }
  try {
    // Some failures (ENOTDIR: a path through a zip archive) throw here instead of emitting.
    child = childProcess().spawn(binary, args, { stdio: 'inherit', env, windowsHide: false });
  } catch (err) {
    cannotRun(err, binary);
  }

  child.on('error', (err) => cannotRun(err, binary));

  child.on('exit', (code, signal) => {
    if (signal) {
      for (const sig of forwarded) process.removeListener(sig, handlers[sig]);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code === null ? 1 : code);
  });
}

main();
