// The hash pool a backup and a restore check run their checksums on: worker threads, from the sources and from the bundle.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createHashPool, type HashPool } from '../../scripts/data/hashing.ts'
import { tempDir } from '../support/servers.ts'

const test = suite('hash pool')
const dir = tempDir('hashing')
let pool: HashPool

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

/** Files of several sizes: empty, under and over the 1 MB read buffer, and one not a multiple of it. */
function files(): string[] {
  const sizes = [0, 1, 4096, 1 << 20, (3 << 20) + 12345, 700_001]
  return sizes.map((size, i) => {
    const path = join(dir.path, `file-${i}`)
    const bytes = Buffer.alloc(size)
    for (let b = 0; b < size; b++) bytes[b] = (b * 31 + i) & 0xff
    writeFileSync(path, bytes)
    return path
  })
}

test.before(() => {
  pool = createHashPool(2)
})
test.after(async () => {
  await pool.close()
  dir.remove()
})

test('more files than workers all get the size and sha256 that the bytes have', async () => {
  const paths = files()
  const written = await Promise.all(paths.map((path) => pool.hash(path)))
  assert.equal(
    written,
    paths.map((path) => ({ size: readFileSync(path).length, sha256: sha256(path) })),
  )
})

test('a copy holds the same bytes as its source, with their sha256, and never replaces a file', async () => {
  const [, , , , source] = files()
  const target = join(dir.path, 'copy')
  const written = await pool.copy(source!, target)
  assert.ok(readFileSync(target).equals(readFileSync(source!)))
  assert.equal(written, { size: readFileSync(source!).length, sha256: sha256(source!) })
  const again = await pool.copy(source!, target).then(() => 'copied', (error: NodeJS.ErrnoException) => error.code)
  assert.is(again, 'EEXIST')
})

test('a missing file fails with its code, and the pool goes on with the next one', async () => {
  const missing = await pool.hash(join(dir.path, 'absent')).then(() => 'hashed', (error: NodeJS.ErrnoException) => `${error.code}: ${error.message}`)
  assert.match(missing, /^ENOENT: .*absent/)
  const [, second] = files()
  assert.is((await pool.hash(second!)).sha256, sha256(second!))
})

test('a closed pool refuses work and what was queued fails instead of waiting forever', async () => {
  const own = createHashPool(1)
  const paths = files()
  const queued = paths.map((path) => own.hash(path).then(() => 'hashed', (error: Error) => error.message))
  await own.close()
  const outcomes = await Promise.all(queued)
  assert.ok(outcomes.every((o) => o === 'hashed' || o === 'the hash pool is closed'), outcomes.join(', '))
  assert.ok(outcomes.includes('the hash pool is closed'), 'some files were still queued when it closed')
  assert.is(await own.hash(paths[0]!).then(() => 'hashed', (error: Error) => error.message), 'the hash pool is closed')
})

test('built and minified as the CLI bundle is, its workers hash the same, and closed pools let the process end', async () => {
  const bundle = join(dir.path, 'hashing.mjs')
  await build({ entryPoints: [new URL('../../scripts/data/hashing.ts', import.meta.url).pathname], bundle: true, minify: true, format: 'esm', platform: 'node', target: 'node20', outfile: bundle, logLevel: 'error' })
  const [, , , path] = files()
  // Pools closed while their workers start (as a backup of stores that need no pool does), then one used and closed.
  const script = [
    `const { createHashPool } = await import(${JSON.stringify(bundle)})`,
    `for (let i = 0; i < 10; i++) await createHashPool(2).close()`,
    `console.log('closed')`,
    `const pool = createHashPool(2)`,
    `console.log(JSON.stringify(await pool.hash(${JSON.stringify(path)})))`,
    `await pool.close()`,
  ].join('\n')
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 })
  assert.is(run.signal, null, 'the process did not end within 20 s')
  assert.is(run.status, 0, run.stderr)
  const [closed, hashed] = run.stdout.trim().split('\n')
  assert.is(closed, 'closed', 'the process ended while closing a pool')
  assert.equal(JSON.parse(hashed!), { size: 1 << 20, sha256: sha256(path!) })
})

test.run()
