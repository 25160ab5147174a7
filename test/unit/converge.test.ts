// When up and status call a service ready or failed, from its spec and tasks as the Engine API returns them.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { serviceState, type TaskJson } from '../../stacks/deploy/converge.ts'

const test = suite('converge')
const t0 = Date.parse('2026-11-25T10:00:00Z')
const at = (seconds: number) => new Date(t0 + seconds * 1000).toISOString()

let id = 0
function task(state: string, createdSecond: number, fields: Partial<TaskJson> & { exit?: number; err?: string } = {}): TaskJson {
  const { exit, err, ...rest } = fields
  return {
    ID: `task${++id}`,
    ServiceID: 'svc',
    CreatedAt: at(createdSecond),
    DesiredState: ['running', 'new', 'pending', 'starting', 'ready'].includes(state) ? 'running' : 'shutdown',
    Status: { Timestamp: at(createdSecond + 1), State: state, Err: err, ContainerStatus: exit === undefined ? undefined : { ExitCode: exit } },
    ...rest,
  }
}

const replicated = (replicas: number, update?: string) => ({
  ID: 'svc',
  Spec: { Name: 'metrics_prometheus', Labels: { 'com.docker.stack.namespace': 'metrics' }, Mode: { Replicated: { Replicas: replicas } } },
  ...(update ? { UpdateStatus: { State: update, Message: 'update paused due to failure' } } : {}),
})
const job = (iteration: number) => ({
  ID: 'svc',
  Spec: { Name: 'collectors_github', Labels: { 'com.docker.stack.namespace': 'collectors' }, Mode: { ReplicatedJob: { TotalCompletions: 1 } } },
  JobStatus: { JobIteration: { Index: iteration } },
})

test('a service is ready when as many tasks run as it wants, and not while an update rolls', () => {
  assert.ok(serviceState(replicated(1), [task('running', 0)]).ready)
  assert.not.ok(serviceState(replicated(2), [task('running', 0), task('starting', 1)]).ready)
  assert.not.ok(serviceState(replicated(1, 'updating'), [task('running', 0)]).ready)
  assert.ok(serviceState(replicated(0), []).ready, 'replicas: 0 wants nothing')
})

test('a service failing again and again since the deploy is failed, with the last error; older failures do not count', () => {
  const crashing = [task('failed', 10, { exit: 1, err: 'task: non-zero exit (1)' }), task('failed', 20, { exit: 1 }), task('failed', 30, { exit: 1, err: 'task: non-zero exit (1)' }), task('starting', 40)]
  const now = serviceState(replicated(1), crashing, t0 + 5_000)
  assert.ok(now.failed)
  assert.match(now.problem!, /failed: task: non-zero exit \(1\) \(exit 1\)/)
  assert.is(now.telling, crashing[2]!.ID, 'its logs tell why')
  assert.not.ok(serviceState(replicated(1), crashing, t0 + 25_000).failed, 'one failure since this deploy: still starting')
  assert.ok(serviceState(replicated(1, 'paused'), [task('running', 0)]).failed, 'a paused update is a failure')
})

test('a job is ready when the current run completed; earlier runs do not count', () => {
  const earlier = task('complete', 0, { exit: 0, JobIteration: { Index: 1 } })
  const current = task('running', 60, { JobIteration: { Index: 2 } })
  const running = serviceState(job(2), [earlier, current])
  assert.is(running.kind, 'job')
  assert.not.ok(running.ready)
  assert.not.ok(running.failed)
  const done = serviceState(job(2), [earlier, task('complete', 60, { exit: 0, JobIteration: { Index: 2 } })])
  assert.ok(done.ready)
  assert.is(done.exitCode, 0)
  assert.is(done.finishedAt, at(61))
})

test('a job whose run failed with nothing left trying is failed, with its exit code and the task to read', () => {
  const failed = task('failed', 60, { exit: 1, err: 'task: non-zero exit (1)', JobIteration: { Index: 3 } })
  const state = serviceState(job(3), [task('complete', 0, { exit: 0, JobIteration: { Index: 2 } }), failed])
  assert.ok(state.failed)
  assert.not.ok(state.ready)
  assert.is(state.exitCode, 1)
  assert.is(state.telling, failed.ID)
  const retrying = serviceState(job(3), [failed, task('ready', 65, { JobIteration: { Index: 3 } })])
  assert.not.ok(retrying.failed, 'a restart is on its way')
})

test.run()
