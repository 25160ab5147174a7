// The backup job reports each run like a collector: the built CLI's `data backup --pushgateway` pushes its health to a
// real Debian Pushgateway (job="backup", target="stores"), where the collectors' alert rules read it.
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runActivity } from '../support/cli.ts'
import { parseExposition } from '../support/collect.ts'
import { gatewayText, startPushgateway, type Pushgateway } from '../support/prometheus.ts'
import { tempDir, waitFor } from '../support/servers.ts'

const test = suite('backup health')
const work = tempDir('backup-health')
let gateway: Pushgateway

async function backupSamples() {
  return parseExposition(await gatewayText(gateway.url)).filter((s) => s.labels.job === 'backup')
}
const sample = (samples: Awaited<ReturnType<typeof backupSamples>>, name: string) => samples.find((s) => s.name === name)

test.before(async () => {
  gateway = await startPushgateway()
})
test.after(async () => {
  await gateway?.stop()
  work.remove()
})

test('a failed backup reports last_run_success 0 and no success, with its daily schedule as the interval', async () => {
  // A Prometheus that does not answer: its part fails, the command exits 1.
  const stores = join(work.path, 'bad.yml')
  writeFileSync(stores, `metrics: {kind: prometheus, url: "http://127.0.0.1:1", data: "${join(work.path, 'nowhere')}"}\n`)
  const run = await runActivity(['data', 'backup', '--stores', stores, '--to', join(work.path, 'backups'), '--pushgateway', gateway.url, '--schedule', '0 3 * * *'])
  assert.is(run.code, 1, run.stdout + run.stderr)
  const samples = await backupSamples()
  const health = sample(samples, 'activity_collector_last_run_success')
  assert.equal(health?.labels, { job: 'backup', target: 'stores', group: 'health', instance: '' })
  assert.is(health?.value, 0)
  // Daily at 03:00: 24 hours between two runs.
  assert.is(sample(samples, 'activity_collector_schedule_interval_seconds')?.value, 86_400)
  assert.is(sample(samples, 'activity_collector_last_success_timestamp_seconds'), undefined)
})

test('a backup that succeeds reports last_run_success 1 and its success time', async () => {
  const file = gateway.persistenceFile
  await waitFor('the gateway to write its persistence file', () => existsSync(file))
  const stores = join(work.path, 'good.yml')
  writeFileSync(stores, `pushgateway: {kind: pushgateway, url: "${gateway.url}", file: "${file}"}\n`)
  const before = Date.now() / 1000
  const run = await runActivity(['data', 'backup', '--stores', stores, '--to', join(work.path, 'backups'), '--pushgateway', gateway.url, '--schedule', '0 3 * * *'])
  assert.is(run.code, 0, run.stdout + run.stderr)
  const samples = await backupSamples()
  assert.is(sample(samples, 'activity_collector_last_run_success')?.value, 1)
  const success = sample(samples, 'activity_collector_last_success_timestamp_seconds')
  assert.equal(success?.labels, { job: 'backup', target: 'stores', instance: '' })
  assert.ok(success!.value >= before && success!.value <= Date.now() / 1000, `success at ${success?.value}`)
})

test('a schedule that is not cron is refused before any backup', async () => {
  const run = await runActivity(['data', 'backup', '--to', join(work.path, 'backups'), '--pushgateway', gateway.url, '--schedule', 'daily'])
  assert.is(run.code, 2)
  assert.match(run.stderr, /--schedule daily: not a cron schedule/)
})

test.run()
