// `activity history` as a user meets it before any history is written: what it needs, and its one-line refusals.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { runActivity } from '../support/cli.ts'
import { freePort } from '../support/servers.ts'

const test = suite('activity history, the command')
const activity = (args: string[], env: Record<string, string> = {}) => runActivity(args, { env: { PATH: process.env.PATH, ...env } })

test('without a metrics Prometheus or --openmetrics it says what to set, and exits 2', async () => {
  const run = await activity(['history', 'npm', '--target', 'react'])
  assert.is(run.code, 2)
  assert.is(run.stderr, 'activity: no metrics Prometheus: set METRICS_PROMETHEUS_URL or pass --prometheus URL (in the swarm: http://tasks.metrics_prometheus:9090), or --openmetrics to print the history\n')
})

test('settings that cannot be applied are refused before anything is asked', async () => {
  const notUrl = await activity(['history', 'npm', '--target', 'react'], { METRICS_PROMETHEUS_URL: 'prometheus:9090' })
  assert.is(notUrl.code, 2)
  assert.match(notUrl.stderr, /^activity: METRICS_PROMETHEUS_URL=prometheus:9090 is not an http\(s\) URL; /)
  const share = await activity(['history', 'npm', '--target', 'react'], { METRICS_PROMETHEUS_URL: 'http://127.0.0.1:1', HISTORY_MAX_SAMPLES: '0' })
  assert.is(share.code, 2)
  assert.match(share.stderr, /^activity: HISTORY_MAX_SAMPLES=0 is not a whole number of samples/)
  const since = await activity(['history', 'npm', '--target', 'react', '--openmetrics', '--since', 'last year'])
  assert.is(since.code, 2)
  assert.match(since.stderr, /^activity: --since last year is not a date; give a day such as 2020-01-31/)
})

test('a source without history names the ones that have it', async () => {
  const run = await activity(['history', 'dockerhub', '--target', 'prom', '--openmetrics'])
  assert.is(run.code, 2)
  assert.match(run.stderr, /^activity: dockerhub has no history to write; sources with history: .*github.*\n$/)
})

test('a metrics Prometheus that does not answer fails the run with one line naming it', async () => {
  const port = await freePort()
  const run = await activity(['history', 'npm', '--target', 'react'], { METRICS_PROMETHEUS_URL: `http://127.0.0.1:${port}`, NPM_API_URL: 'http://127.0.0.1:1', HTTP_RETRIES: '0' })
  assert.is(run.code, 1)
  assert.is(run.stderr.split('\n').filter((line) => line.startsWith('activity:')).length, 1)
  assert.match(run.stderr, new RegExp(`activity: the metrics Prometheus at http://127\\.0\\.0\\.1:${port}/api/v1/status/config: connect ECONNREFUSED`))
})

test('activity sources --json says which sources have history (gitops renders their history jobs from it for sources new in a commit)', async () => {
  const run = await activity(['sources', '--json'])
  assert.is(run.code, 0, run.stderr)
  const listed = Object.fromEntries((JSON.parse(run.stdout) as { name: string; history: boolean }[]).map((s) => [s.name, s.history]))
  assert.is(listed.github, true)
  assert.is(listed.npm, true)
  assert.is(listed.dockerhub, false)
})

test.run()
