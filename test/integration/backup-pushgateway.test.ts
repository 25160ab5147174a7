// The Pushgateway's persistence file through a backup and a restore, with a real Debian prometheus-pushgateway.
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { restoreBackup, takeBackup } from '../../scripts/data/backup.ts'
import { pushgatewayStore } from '../../scripts/data/pushgateway.ts'
import type { Control } from '../../scripts/data/store.ts'
import { parseExposition } from '../support/collect.ts'
import { gatewayText, startPushgateway, type Pushgateway } from '../support/prometheus.ts'
import { freePort, requireBinary, startProgram, tempDir, waitFor, type Started } from '../support/servers.ts'

const test = suite('Pushgateway backup and restore')
const work = tempDir('backup-pushgateway')
const backups = join(work.path, 'backups')
let gateway: Pushgateway | undefined
let fresh: Started | undefined
const lines: string[] = []
const progress = (line: string) => lines.push(line)

async function put(job: string, target: string, body: string): Promise<void> {
  const response = await fetch(`${gateway!.url}/metrics/job/${job}/target/${target}`, { method: 'PUT', body })
  assert.ok(response.ok, `push answered ${response.status}`)
}

/** Every sample the gateway serves for the pushed jobs, push times included. */
async function groups(url: string) {
  return parseExposition(await gatewayText(url))
    .filter((s) => s.labels.job === 'github' || s.labels.job === 'dockerhub')
    .map((s) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())} ${s.value}`)
    .sort()
}

test.after(async () => {
  await Promise.all([gateway?.stop(), fresh?.stop()])
  work.remove()
})

test('the groups a Pushgateway held come back after a restore into a new one, values and push times equal', async () => {
  const firstFile = join(work.path, 'first', 'metrics.store')
  mkdirSync(join(work.path, 'first'))
  gateway = await startPushgateway({ persistenceFile: firstFile })
  await put('github', 'prometheus', 'github_repository_stars{owner="prometheus",repository="prometheus"} 55000\ngithub_repository_forks{owner="prometheus",repository="prometheus"} 9000\n')
  await put('dockerhub', 'prom', 'dockerhub_repository_pulls{namespace="prom",repository="prometheus"} 1.5e9\n')
  const lastPush = Date.now()
  await waitFor('the gateway to write its persistence file after the last push', () => existsSync(firstFile) && statSync(firstFile).mtimeMs > lastPush)
  const before = await groups(gateway.url)
  assert.is(before.filter((s) => s.startsWith('push_time_seconds')).length, 2)

  const { path, manifest } = await takeBackup({ stores: [pushgatewayStore({ name: 'pushgateway', url: gateway.url, file: firstFile })], to: backups, keep: 2, archive: 'none', commit: null, tool: 'test', progress })
  assert.equal(manifest.failed, [])
  assert.is(manifest.parts[0]!.detail.groups, 2)
  await gateway.stop()

  // A new node: an empty folder, a gateway started by the restore.
  const freshFile = join(work.path, 'fresh', 'metrics.store')
  mkdirSync(join(work.path, 'fresh'))
  const port = await freePort()
  const control: Control = {
    describe: 'a new Pushgateway',
    stop: async () => {},
    start: async () => {
      const binary = requireBinary('prometheus-pushgateway', 'prometheus-pushgateway')
      fresh = await startProgram(binary, (p) => [`--web.listen-address=127.0.0.1:${p}`, `--persistence.file=${freshFile}`], '/-/ready', { port })
    },
  }
  const store = pushgatewayStore({ name: 'pushgateway', url: `http://127.0.0.1:${port}`, file: freshFile, control })
  await restoreBackup({ source: path, stores: [store], force: false, progress })
  assert.equal(await groups(fresh!.url), before)
  assert.equal(readFileSync(freshFile), readFileSync(join(path, manifest.parts[0]!.file)))
})

test('a restore refuses a persistence file that holds groups, and leaves it as it was', async () => {
  const [backup] = readdirSync(backups)
  const file = join(work.path, 'occupied.store')
  writeFileSync(file, 'groups of some other gateway')
  try {
    await restoreBackup({ source: join(backups, backup!), stores: [pushgatewayStore({ name: 'pushgateway', file })], force: false, progress })
    assert.unreachable('restore should refuse')
  } catch (error) {
    assert.is((error as Error).message, `pushgateway (restore refused): holds a persistence file of 28 B at ${file}; restore with --force to replace it; nothing was changed`)
  }
  assert.is(readFileSync(file, 'utf8'), 'groups of some other gateway')
})

test('a new gateway nothing was pushed to gives an empty part, which restores to no groups', async () => {
  const file = join(work.path, 'new', 'metrics.store')
  mkdirSync(join(work.path, 'new'))
  const empty = await startPushgateway({ persistenceFile: file })
  try {
    await new Promise((resolve) => setTimeout(resolve, 1500))
    assert.not.ok(existsSync(file), 'a gateway that holds nothing writes no file')
    const { path, manifest } = await takeBackup({ stores: [pushgatewayStore({ name: 'pushgateway', url: empty.url, file })], to: join(work.path, 'empty-backups'), keep: 2, archive: 'none', commit: null, tool: 'test', progress })
    assert.equal(manifest.failed, [])
    assert.is(manifest.parts[0]!.size, 0)
    assert.is(manifest.parts[0]!.detail.groups, 0)
    await empty.stop()

    // Restored (with --force) over a file of other groups: the file goes, so the gateway starts with none.
    const stale = join(work.path, 'stale.store')
    writeFileSync(stale, 'groups of some other gateway')
    await restoreBackup({ source: path, stores: [pushgatewayStore({ name: 'pushgateway', file: stale })], force: true, progress })
    assert.not.ok(existsSync(stale))
  } finally {
    await empty.stop().catch(() => {})
  }
})

test('a gateway without a persistence file is named with the flag to add', async () => {
  const result = await takeBackup({
    stores: [pushgatewayStore({ name: 'pushgateway', file: join(work.path, 'none', 'metrics.store') })],
    to: join(work.path, 'other-backups'),
    keep: 2,
    archive: 'none',
    commit: null,
    tool: 'test',
    progress,
  })
  assert.match(result.manifest.failed[0]!.error, /^pushgateway \(Pushgateway file .+\/none\/metrics\.store\): has no persistence file; start it with --persistence\.file=/)
})

test.run()
