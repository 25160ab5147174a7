// Backup and restore of a real Prometheus (Debian's, admin API on, loopback): days of history written with promtool
// plus live pushes through a real Pushgateway, snapshot, wipe, restore into a fresh Prometheus, same answers.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { restoreBackup, takeBackup } from '../../scripts/data/backup.ts'
import { blocksIn, prometheusStore } from '../../scripts/data/prometheus.ts'
import type { Control } from '../../scripts/data/store.ts'
import { startPushgateway, queryPrometheus, type Pushgateway } from '../support/prometheus.ts'
import { requireBinary, startProgram, tempDir, waitFor, type Started } from '../support/servers.ts'
import { createHistory, historyValue, rangeQuery, startPrometheusOn } from '../support/tsdb.ts'

const test = suite('Prometheus backup and restore')
const work = tempDir('backup-prometheus')
const dataDir = join(work.path, 'prometheus')
const backups = join(work.path, 'backups')
const now = Math.floor(Date.now() / 1000)
const from = now - 5 * 86_400 // five days of history
const to = now - 3 * 3600
let gateway: Pushgateway
let prometheus: Started | undefined
const lines: string[] = []
const progress = (line: string) => lines.push(line)

/** Stops and starts the test's Prometheus on the same port and data folder, as a Swarm service scaled to 0 and back. */
const control: Control = {
  describe: 'the test Prometheus',
  stop: async () => {
    await prometheus?.stop()
    prometheus = undefined
  },
  start: async () => {
    prometheus = await startPrometheusOn(dataDir, { pushgateways: [gateway.url], port })
  },
}
let port: number
const store = (withControl = true) => prometheusStore({ name: 'metrics', url: `http://127.0.0.1:${port}`, dataDir, control: withControl ? control : undefined })

async function push(value: number): Promise<void> {
  const response = await fetch(`${gateway.url}/metrics/job/dockerhub/target/prom`, { method: 'PUT', body: `dockerhub_repository_pulls{namespace="prom",repository="prometheus"} ${value}\n` })
  assert.ok(response.ok, `push answered ${response.status}`)
}

test.before(async () => {
  mkdirSync(dataDir)
  await createHistory(dataDir, { series: 20, from, to, stepSeconds: 300 })
  gateway = await startPushgateway()
  prometheus = await startPrometheusOn(dataDir, { pushgateways: [gateway.url] })
  port = prometheus.port
  for (const value of [100, 200, 300]) {
    await push(value)
    await waitFor(`Prometheus to scrape pulls = ${value}`, async () => (await queryPrometheus(prometheus!.url, 'dockerhub_repository_pulls'))[0]?.value === value)
  }
})
test.after(async () => {
  await Promise.all([prometheus?.stop(), gateway?.stop()])
  work.remove()
})

test('a Prometheus restored from a backup answers the same range queries with identical values', async () => {
  const history = await rangeQuery(prometheus!.url, 'activity_history_value', from, to, 3600)
  assert.is(history.length, 20)
  const seventh = history.find((h) => h.metric.series === '00007')!
  assert.is(Number(seventh.values[3]![1]), historyValue(7, seventh.values[3]![0]))
  // The last pushed value was scraped before now; once a second has passed, nothing more can land in the queried range.
  const liveEnd = Math.ceil(Date.now() / 1000)
  await waitFor('the clock to pass the end of the live range', () => Date.now() / 1000 > liveEnd + 1)
  const live = await rangeQuery(prometheus!.url, 'dockerhub_repository_pulls', liveEnd - 120, liveEnd, 1)
  assert.equal([...new Set(live[0]!.values.map(([, v]) => v))], ['100', '200', '300'])

  const { path, manifest } = await takeBackup({ stores: [store()], to: backups, keep: 3, archive: 'none', commit: null, tool: 'test', progress })
  assert.equal(manifest.failed, [])
  assert.is(manifest.parts[0]!.name, 'metrics')
  assert.ok(Number(manifest.parts[0]!.detail.blocks) > 1, 'history and the head are in the snapshot')
  assert.not.ok(existsSync(join(dataDir, 'snapshots', String(manifest.parts[0]!.detail.snapshot))), 'the snapshot is removed from the data folder once copied')

  await control.stop()
  rmSync(dataDir, { recursive: true })
  mkdirSync(dataDir)
  await restoreBackup({ source: path, stores: [store()], force: false, progress })
  assert.ok(prometheus, 'restore started Prometheus again and waited for it')

  assert.equal(await rangeQuery(prometheus!.url, 'activity_history_value', from, to, 3600), history)
  assert.equal(await rangeQuery(prometheus!.url, 'dockerhub_repository_pulls', liveEnd - 120, liveEnd, 1), live)
  assert.ok(lines.some((l) => /restore: \[1\/1\] metrics: restored and answering/.test(l)), lines.join('\n'))
})

test('the part is a folder of the snapshot\'s files with their sha256; one damaged byte is named and the restore changes nothing', async () => {
  const [backup] = readdirSync(backups)
  const part = join(backups, backup!, 'metrics.prometheus')
  const sums = readFileSync(join(part, 'SHA256SUMS'), 'utf8').trim().split('\n')
  const chunk = sums.map((line) => line.slice(66)).find((path) => path.endsWith('/chunks/000001'))!
  assert.ok(chunk, sums.join('\n'))
  assert.is(createHash('sha256').update(readFileSync(join(part, chunk))).digest('hex'), sums.find((line) => line.endsWith(chunk))!.slice(0, 64))
  // On the data's filesystem the finished blocks are hard links: the damage is done to a copy, never to the live block.
  const damaged = join(work.path, 'damaged')
  spawnSync('cp', ['-r', join(backups, backup!), damaged])
  const file = join(damaged, 'metrics.prometheus', chunk)
  const bytes = readFileSync(file)
  bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff
  writeFileSync(file, bytes)
  const before = blocksIn(dataDir).map((b) => `${b.minTime}-${b.maxTime}`).sort()
  try {
    await restoreBackup({ source: damaged, stores: [store()], force: true, progress })
    assert.unreachable('restore should refuse')
  } catch (error) {
    assert.match((error as Error).message, new RegExp(`part 'metrics' \\(metrics\\.prometheus\\) fails its checksum: ${chunk.replace(/\//g, '\\/')} .*nothing was changed`))
  }
  assert.ok(prometheus, 'Prometheus was not stopped')
  assert.equal(blocksIn(dataDir).map((b) => `${b.minTime}-${b.maxTime}`).sort(), before)
  rmSync(damaged, { recursive: true })
})

test('a restore refuses to replace a Prometheus that holds history, and leaves it as it was', async () => {
  const [backup] = readdirSync(backups)
  const before = blocksIn(dataDir).map((b) => `${b.minTime}-${b.maxTime}`).sort()
  try {
    await restoreBackup({ source: join(backups, backup!), stores: [store()], force: false, progress })
    assert.unreachable('restore should refuse')
  } catch (error) {
    assert.match((error as Error).message, /^metrics \(restore refused\): holds \d+ blocks of history \(\d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d\) in .+; restore with --force to replace it; nothing was changed$/)
  }
  assert.ok(prometheus, 'Prometheus was not stopped')
  assert.equal(blocksIn(dataDir).map((b) => `${b.minTime}-${b.maxTime}`).sort(), before)
})

test('without a way to stop it, a running Prometheus is not restored over', async () => {
  const [backup] = readdirSync(backups)
  try {
    await restoreBackup({ source: join(backups, backup!), stores: [store(false)], force: true, progress })
    assert.unreachable('restore should refuse')
  } catch (error) {
    assert.match((error as Error).message, /^metrics \(Prometheus at http:\/\/127\.0\.0\.1:\d+, data .+\): is running; stop it before restoring/)
  }
})

test('with --force, a restore replaces the history a Prometheus holds', async () => {
  const [backup] = readdirSync(backups)
  await restoreBackup({ source: join(backups, backup!), stores: [store()], force: true, progress })
  const history = await rangeQuery(prometheus!.url, 'activity_history_value{series="00003"}', from, to, 3600)
  assert.is(Number(history[0]!.values.at(-1)![1]), historyValue(3, history[0]!.values.at(-1)![0]))
})

/** A proxy to the test's Prometheus that holds each snapshot answer `delayMs`, as Prometheus does while it compacts. */
async function slowSnapshots(delayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    const forward = async () => {
      const answer = await fetch(`http://127.0.0.1:${port}${request.url}`, { method: request.method })
      response.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' })
      response.end(await answer.text())
    }
    setTimeout(() => void forward().catch(() => response.destroy()), request.url?.includes('/snapshot') ? delayMs : 0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

test('a snapshot Prometheus answers late (its compaction running) is waited for, with a line while it waits; past the limit the part fails naming it', async () => {
  const proxy = await slowSnapshots(2500)
  const at = (limitMs: number) => prometheusStore({ name: 'metrics', url: proxy.url, dataDir, snapshotWait: { limitMs, lineEveryMs: 1000 } })
  const waited: string[] = []
  try {
    const late = await takeBackup({ stores: [at(10_000)], to: join(work.path, 'late'), keep: 1, archive: 'none', commit: null, tool: 'test', progress: (line) => waited.push(line) })
    assert.equal(late.manifest.failed, [])
    assert.ok(waited.some((line) => /metrics: waiting for the snapshot for 2 s \(Prometheus takes it once its running compaction ends; up to 10 s\)/.test(line)), waited.join('\n'))
    const over = await takeBackup({ stores: [at(1000)], to: join(work.path, 'over'), keep: 1, archive: 'none', commit: null, tool: 'test', progress: () => {} })
    assert.equal(over.manifest.failed.map((f) => f.error), [`metrics (Prometheus at ${proxy.url}, data ${dataDir}): took no snapshot within 1 s; see its log for the compaction it is busy with, then run the backup again`])
  } finally {
    await proxy.close()
  }
})

test('a Prometheus without the admin API is named with the flag to add', async () => {
  const plain = tempDir('prometheus-no-admin')
  const bare = await startProgram(requireBinary('prometheus', 'prometheus'), (p) => [`--storage.tsdb.path=${plain.path}/data`, '--config.file=/dev/null', `--web.listen-address=127.0.0.1:${p}`], '/-/ready')
  try {
    const result = await takeBackup({
      stores: [prometheusStore({ name: 'monitoring', url: bare.url, dataDir: join(plain.path, 'data') })],
      to: join(plain.path, 'backups'),
      keep: 1,
      archive: 'none',
      commit: null,
      tool: 'test',
      progress,
    })
    assert.equal(result.manifest.failed, [{ name: 'monitoring', error: `monitoring (Prometheus at ${bare.url}, data ${plain.path}/data): its admin API is off; start it with --web.enable-admin-api (the stacks do; the admin API is reachable on the internal network only)` }])
    assert.equal(result.removed, [], 'an incomplete backup removes no older one')
  } finally {
    await bare.stop()
    plain.remove()
  }
})

test.run()
