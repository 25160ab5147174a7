import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createLogger } from '../../collectors/runtime/log.ts'
import { missedRun, Scheduler, type JobRunner, type ScheduledJob } from '../../gitops/scheduler.ts'
import { waitFor } from '../support/servers.ts'

const test = suite('job scheduler')
let jobs: ScheduledJob[]
let running: Set<string>
let starts: string[]
let saved: Record<string, string>
let scheduler: Scheduler | undefined
const logs: string[] = []

const runner: JobRunner = {
  jobs: async () => jobs,
  isRunning: async (service) => running.has(service),
  start: async (service) => void starts.push(service),
}
const store = (initial: Record<string, string> = {}) => ({ lastRuns: () => initial, save: (runs: Record<string, string>) => void (saved = { ...runs }) })
const log = createLogger({ write: (line) => logs.push(line) })

test.before.each(() => {
  jobs = []
  running = new Set()
  starts = []
  saved = {}
  logs.length = 0
})
test.after.each(() => scheduler?.stop())

test('a job runs on its cron schedule', async () => {
  jobs = [{ service: 'collectors_github', schedule: '* * * * * *' }] // every second (croner's optional seconds field)
  scheduler = new Scheduler(runner, store(), log)
  await scheduler.sync()
  await waitFor('two scheduled runs', () => starts.length >= 2, 5000)
  assert.ok(starts.every((s) => s === 'collectors_github'))
})

test('a run is skipped while the previous one is still going', async () => {
  jobs = [{ service: 'collectors_github', schedule: '0 * * * *' }]
  scheduler = new Scheduler(runner, store(), log)
  running.add('collectors_github')
  assert.is(await scheduler.runOnce('collectors_github'), 'skipped-running')
  assert.equal(starts, [])
  running.clear()
  assert.is(await scheduler.runOnce('collectors_github'), 'started')
  assert.equal(starts, ['collectors_github'])
})

test('after a restart, a job that missed several runs runs once, not once per missed run', async () => {
  jobs = [{ service: 'collectors_dockerhub', schedule: '*/30 * * * *' }]
  const now = new Date('2026-11-25T12:10:00Z')
  scheduler = new Scheduler(runner, store({ collectors_dockerhub: '2026-11-25T09:00:00Z' }), log, undefined, () => now)
  await scheduler.sync()
  assert.equal(starts, ['collectors_dockerhub'])
  assert.is(saved.collectors_dockerhub, now.toISOString())
})

test('after a restart within the period, nothing runs early', async () => {
  jobs = [{ service: 'collectors_dockerhub', schedule: '*/30 * * * *' }]
  scheduler = new Scheduler(runner, store({ collectors_dockerhub: '2026-11-25T12:00:05Z' }), log, undefined, () => new Date('2026-11-25T12:10:00Z'))
  await scheduler.sync()
  assert.equal(starts, [])
})

test('a new job is not run at once (its deployment just ran it); a removed job loses its timer and state', async () => {
  jobs = [{ service: 'collectors_github', schedule: '0 * * * *' }, { service: 'collectors_dockerhub', schedule: '*/30 * * * *' }]
  scheduler = new Scheduler(runner, store(), log)
  await scheduler.sync()
  assert.equal(starts, [])
  assert.equal(Object.keys(saved).sort(), ['collectors_dockerhub', 'collectors_github'])
  jobs = [{ service: 'collectors_github', schedule: '0 * * * *' }]
  await scheduler.sync()
  assert.equal(scheduler.scheduled(), [{ service: 'collectors_github', schedule: '0 * * * *' }])
  assert.equal(Object.keys(saved), ['collectors_github'])
})

test('a changed schedule replaces the timer', async () => {
  jobs = [{ service: 'collectors_github', schedule: '0 * * * *' }]
  scheduler = new Scheduler(runner, store(), log)
  await scheduler.sync()
  jobs = [{ service: 'collectors_github', schedule: '15 */2 * * *' }]
  await scheduler.sync()
  assert.equal(scheduler.scheduled(), [{ service: 'collectors_github', schedule: '15 */2 * * *' }])
})

test('an invalid schedule label is logged and not scheduled; the others still are', async () => {
  jobs = [{ service: 'collectors_bad', schedule: 'every hour' }, { service: 'collectors_github', schedule: '0 * * * *' }]
  scheduler = new Scheduler(runner, store(), log)
  await scheduler.sync()
  assert.equal(scheduler.scheduled().map((j) => j.service), ['collectors_github'])
  assert.ok(logs.some((l) => l.includes('invalid schedule') && l.includes('collectors_bad')))
})

test('cron edge cases, in UTC', () => {
  // Hourly: a run at 12:00 was missed by 12:10 if the last one was at 11:00, not if it was at 12:00:05.
  assert.ok(missedRun('0 * * * *', new Date('2026-11-25T11:00:00Z'), new Date('2026-11-25T12:10:00Z')))
  assert.not.ok(missedRun('0 * * * *', new Date('2026-11-25T12:00:05Z'), new Date('2026-11-25T12:10:00Z')))
  // Exactly on the scheduled second counts as due.
  assert.ok(missedRun('0 * * * *', new Date('2026-11-25T11:00:00Z'), new Date('2026-11-25T12:00:00Z')))
  // 29 February only exists in leap years: from March 2027 the next is 2028.
  assert.not.ok(missedRun('0 0 29 2 *', new Date('2027-03-01T00:00:00Z'), new Date('2027-12-31T00:00:00Z')))
  assert.ok(missedRun('0 0 29 2 *', new Date('2027-03-01T00:00:00Z'), new Date('2028-03-01T00:00:00Z')))
  // Month ends: the 31st is skipped in 30-day months.
  assert.not.ok(missedRun('0 0 31 * *', new Date('2026-11-01T00:00:00Z'), new Date('2026-11-30T23:59:59Z')))
  // Day-of-month and day-of-week: croner, like Vixie cron, runs when either matches (legacy mode).
  assert.ok(missedRun('0 0 13 * 5', new Date('2026-11-01T00:00:00Z'), new Date('2026-11-06T00:00:01Z')), 'Friday 6 November matches day-of-week')
})

test.run()
