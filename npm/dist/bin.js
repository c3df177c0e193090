#!/usr/bin/env node
// The @kaelio/ktx launcher: finds the native `ktx` for this platform inside the package and runs
// it with the same arguments, standard streams, exit code and signals. It tells the binary where
// the package lives (KTX_PACKAGE_ROOT) so that it finds the bundled wheel and demo assets.
'use strict';

const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');

const root = path.resolve(__dirname, '..');
const nativeDir = path.join(root, 'native');
const exe = process.platform === 'win32' ? 'ktx.exe' : 'ktx';

function isMusl() {
  if (process.platform !== 'linux') return false;
  try {
    return fs.readdirSync('/lib').some((f) => f.startsWith('ld-musl-'));
  } catch (_) {
    return false;
  }
}

function candidates() {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform !== 'linux') return [base];
  // A static musl build runs on glibc systems too, so it is the fallback there.
  return isMusl() ? [`${base}-musl`] : [base, `${base}-musl`];
}

function carried() {
  try {
    return fs.readdirSync(nativeDir).filter((d) => fs.existsSync(path.join(nativeDir, d, 'ktx')) || fs.existsSync(path.join(nativeDir, d, 'ktx.exe')));
  } catch (_) {
    return [];
  }
}

function findBinary() {
  for (const dir of candidates()) {
    const file = path.join(nativeDir, dir, exe);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

const binary = process.env.KTX_NATIVE_BINARY || findBinary();
if (!binary) {
  const have = carried();
  process.stderr.write(
    `error: @kaelio/ktx has no native binary for ${candidates()[0]}\n` +
      `  this package carries: ${have.length ? have.join(', ') : 'none'}\n` +
      '  hint: report your platform at https://github.com/kaelio/ktx/issues\n'
  );
  process.exit(1);
}

const env = Object.assign({}, process.env, { KTX_PACKAGE_ROOT: root });
const child = spawn(binary, process.argv.slice(2), { stdio: 'inherit', env, windowsHide: false });

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

child.on('error', (err) => {
  const hint = err.code === 'EACCES' ? `\n  hint: chmod +x ${binary}` : '';
  process.stderr.write(`error: cannot run ${binary}: ${err.message}${hint}\n`);
  process.exit(1);
});

child.on('exit', (code, signal) => {
  if (signal) {
    for (const sig of forwarded) process.removeListener(sig, handlers[sig]);
    process.kill(process.pid, signal);
    return;
  }
  process.exit(code === null ? 1 : code);
});
