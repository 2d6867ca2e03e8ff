// The demo page is plain JavaScript with JSDoc types (`// @ts-check`). Checking it against the
// package's generated declarations catches a page that drifts from the API (a renamed progress
// field would otherwise render as NaN without any error).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../support/harness.mjs';

test('www/app.js type-checks against pkg/twelvelabs_edge_upload.d.ts', () => {
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tests/e2e/tsconfig.www.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, `tsc found problems:\n${result.stdout}${result.stderr}`);
});
