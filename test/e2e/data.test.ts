// Backup and restore on a real single-node Swarm: the scheduled backup job runs in the swarm; then a backup taken
// from the manager's shell survives `npm run down -- --volumes` and a fresh `npm run up`: after the restore,
// Prometheus answers the values collected before, and the Pushgateway holds its groups again.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { serviceStates } from '../../stacks/deploy/converge.ts'
import { docker, dockerMaybe } from '../../stacks/deploy/docker.ts'
import { runActivity } from '../support/cli.ts'
import { tempDir } from '../support/servers.ts'
import { cleanUp, freshPlatform, hostPorts, npmRun, poll, pushedGroups, query, type Prepared } from './platform.ts'

const test = suite('backup and restore on a single-node swarm')
const log = (line: string) => process.stdout.write(`  ${line}\n`)
const echo = (line: string) => process.stdout.write(`    | ${line}\n`)
const marker = { job: 'e2e-backup-marker', target: 'before-the-backup' }

let prepared: Prepared | undefined
let work: { path: string; remove(): void } | undefined
let backup = ''
/** What Prometheus answered at `at` before the backup, and when. */
let before: { at: number; stars: Map<string, number> } | undefined

const storesFile = () => join(work!.path, 'stores.yml')

async function activity(args: string[]): Promise<{ code: number; output: string }> {
  const ran = await runActivity(args, { env: { ...process.env, LOG_LEVEL: 'warn' } })
  const output = ran.stdout + ran.stderr
  output.split('\n').filter(Boolean).forEach(echo)
  return { code: ran.code, output }
}

async function starsAt(at: number): Promise<Map<string, number>> {
  const series = await query(hostPorts.metricsPrometheus, 'github_repository_stars{owner="prometheus"}', at)
  return new Map(series.map((s) => [s.metric.repository!, s.value]))
}

async function groups(): Promise<string[]> {
  return (await pushedGroups()).map((g) => `${g.labels.job} ${g.labels.target ?? ''}`).sort()
}

test.before(async () => {
  try {
    prepared = await freshPlatform(log, echo)
    work = tempDir('data-e2e')
    // The stores as a person on the manager sees them: the published ports, the volumes, the services to stop.
    writeFileSync(
      storesFile(),
      [
        `metrics: {kind: prometheus, url: "http://127.0.0.1:${hostPorts.metricsPrometheus}", data: "volume:metrics_prometheus-data", service: metrics_prometheus}`,
        `monitoring: {kind: prometheus, url: "http://127.0.0.1:${hostPorts.monitoringPrometheus}", data: "volume:monitoring_prometheus-data", service: monitoring_prometheus}`,
        `pushgateway: {kind: pushgateway, url: "http://127.0.0.1:${hostPorts.pushgateway}", file: "volume:metrics_pushgateway-data/metrics.db", service: metrics_pushgateway}`,
        '',
      ].join('\n'),
    )
  } catch (error) {
    log(`SETUP FAILED: ${(error as Error).stack ?? error}`)
    throw error
  }
})

test.after(async () => {
  await cleanUp(prepared, log)
  await dockerMaybe(['volume', 'rm', 'activity_backups'])
  work?.remove()
})

test('up deploys the backup job with the collectors; it runs in the swarm and writes a verified backup to its volume', async () => {
  const [job] = await serviceStates(['collectors_backup'])
  assert.ok(job, 'collectors_backup is deployed')
  assert.is(job!.kind, 'job')
  const schedule = await docker(['service', 'inspect', '--format', '{{index .Spec.Labels "activity.schedule"}}', 'collectors_backup'])
  assert.match(schedule.trim(), /^\S+ \S+ \S+ \S+ \S+$/, 'it carries the schedule the gitops scheduler reads')
  // It ran once when deployed (up waits for that run to start, not to finish). That run overlaps the compaction of the
  // github-history job's first backfill, for which its Prometheus snapshot waits (over 5 min on this machine): it
  // still succeeds, whole.
  const first = await poll('the backup job\'s first run to end', async () => {
    const [state] = await serviceStates(['collectors_backup'])
    return state && (state.done >= state.wanted || state.failed) ? state : undefined
  }, 900_000, 2000)
  const lastLines = async () => `its last lines:\n${await dockerMaybe(['service', 'logs', '--raw', '--tail', '30', 'collectors_backup'])}`
  assert.is(first.exitCode, 0, `the first backup run succeeded (${first.problem ?? ''}); ${first.exitCode === 0 ? '' : await lastLines()}`)
  // Run it again, as the scheduler does, and wait for that run.
  const since = Date.now()
  await docker(['service', 'update', '--detach', '--force', 'collectors_backup'])
  const run = await poll('the backup job to run again', async () => {
    const [state] = await serviceStates(['collectors_backup'], since)
    return state?.finishedAt && Date.parse(state.finishedAt) >= since && (state.ready || state.failed) ? state : undefined
  }, 600_000, 2000)
  assert.is(run.exitCode, 0, `the backup job succeeded again (${run.problem ?? ''}); ${run.exitCode === 0 ? '' : await lastLines()}`)
  const volume = (await docker(['volume', 'inspect', '--format', '{{.Mountpoint}}', 'activity_backups'])).trim()
  const listed = await activity(['data', 'list', '--to', volume])
  assert.is(listed.code, 0)
  const backups = listed.output.split('\n').filter((line) => /activity-backup-\S+\s/.test(line))
  assert.is(backups.length, 2, listed.output)
  for (const line of backups) assert.match(line, /metrics,monitoring,pushgateway/, 'a backup of each running store')
  assert.not.match(listed.output, /FAILED|DAMAGED/)
  assert.ok(readdirSync(volume).some((name) => name.startsWith('activity-backup-')))
})

test('a backup from the manager holds what Prometheus and the Pushgateway had', async () => {
  // Data to find again: the collectors' stars (one scrape at least) and a group only this test pushes.
  const stars = await poll('the metrics Prometheus to have the stars', async () => {
    const series = await query(hostPorts.metricsPrometheus, 'github_repository_stars{owner="prometheus"}')
    return series.length ? series : undefined
  }, 150_000)
  assert.ok(stars.length > 0)
  const pushed = await fetch(`http://127.0.0.1:${hostPorts.pushgateway}/metrics/job/${marker.job}/target/${marker.target}`, { method: 'PUT', body: 'activity_e2e_marker 42\n' })
  assert.is(pushed.status, 200)
  const container = (await docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=metrics_pushgateway'])).trim().split('\n')[0]!
  const pushedAt = Math.floor(Date.now() / 1000)
  // The Pushgateway writes its file once a minute (--persistence.interval): the backup copies that file.
  await poll('the Pushgateway to write the marker to its file', async () => Number(await dockerMaybe(['exec', container, 'stat', '-c', '%Y', '/pushgateway/metrics.db'])) > pushedAt, 150_000, 2000)
  const at = Math.floor(Date.now() / 1000) - 1
  before = { at, stars: await starsAt(at) }
  assert.is(before.stars.size, stars.length)

  const taken = await activity(['data', 'backup', '--stores', storesFile(), '--to', join(work!.path, 'backups'), '--keep', '2'])
  assert.is(taken.code, 0, 'the backup succeeds')
  backup = join(work!.path, 'backups', readdirSync(join(work!.path, 'backups')).find((n) => n.startsWith('activity-backup-'))!)
  const manifest = JSON.parse(readFileSync(join(backup, 'manifest.json'), 'utf8')) as { parts: { name: string; sha256: string }[] }
  assert.equal(manifest.parts.map((p) => p.name).sort(), ['metrics', 'monitoring', 'pushgateway'])
  for (const part of manifest.parts) assert.match(part.sha256, /^[0-9a-f]{64}$/)
})

test('after down --volumes and a fresh up, the restore brings back the values and the groups', async () => {
  assert.ok(before && backup, 'the backup of the previous test exists')
  const down = await npmRun('down', ['--volumes'], prepared!.env, echo)
  assert.is(down.code, 0)
  const up = await npmRun('up', prepared!.upArgs, prepared!.env, echo)
  assert.is(up.code, 0, 'a fresh up')
  const empty = await starsAt(before!.at)
  assert.is(empty.size, 0, 'the fresh Prometheus has nothing from before')
  assert.not.ok((await groups()).includes(`${marker.job} ${marker.target}`), 'the fresh Pushgateway has no marker')

  const refused = await activity(['data', 'restore', backup, '--stores', storesFile()])
  assert.is.not(refused.code, 0, 'a store holding data is not overwritten without --force')
  assert.match(refused.output, /--force/)

  const restored = await activity(['data', 'restore', backup, '--stores', storesFile(), '--force'])
  assert.is(restored.code, 0, 'the restore succeeds')
  const again = await poll('the restored Prometheus to answer the old values', async () => {
    const stars = await starsAt(before!.at).catch(() => new Map<string, number>())
    return stars.size ? stars : undefined
  }, 120_000, 2000)
  assert.equal([...again.entries()].sort(), [...before!.stars.entries()].sort(), 'the same values at the same time')
  const restoredGroups = await poll('the restored Pushgateway to answer', async () => (await groups().catch(() => [])).length ? await groups() : undefined, 60_000)
  assert.ok(restoredGroups.includes(`${marker.job} ${marker.target}`), 'the Pushgateway holds the marker group again')
  assert.ok(restoredGroups.some((g) => g.startsWith('github ')), 'and the collectors\' groups')
  const states = await serviceStates(['metrics_prometheus', 'metrics_pushgateway', 'monitoring_prometheus'])
  for (const state of states) assert.ok(state.ready, `${state.name} runs again after the restore`)
})

test.run()
