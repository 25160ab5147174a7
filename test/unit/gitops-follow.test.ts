// Following a Swarm update: the verdicts on what Docker itself reported (test/support/swarm-update: recorded from a
// service whose new healthcheck failed, rolled back by Swarm with update_config failure_action rollback).
import { readFileSync } from 'node:fs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { covers, updateVerdict, type InspectedService } from '../../gitops/follow.ts'
import type { TaskJson } from '../../stacks/deploy/converge.ts'

const test = suite('following a swarm update')
const recorded = JSON.parse(readFileSync(new URL('../support/swarm-update/rolled-back.json', import.meta.url), 'utf8')) as { service: InspectedService & { UpdatedAt: string }; tasks: (TaskJson & { Spec: unknown })[] }
const { service, tasks } = recorded
const updateStarted = Date.parse(service.UpdateStatus!.StartedAt!)
const running = tasks.find((t) => t.DesiredState === 'running')!

test("a running task's spec is covered by the service's template, though docker service inspect adds defaults to it", () => {
  assert.ok(covers(running.Spec, service.Spec.TaskTemplate))
  const changed = structuredClone(running.Spec) as { ContainerSpec: { Image: string } }
  changed.ContainerSpec.Image = 'nginx:1.27.3'
  assert.not.ok(covers(changed, service.Spec.TaskTemplate))
})

test('an update Swarm rolled back is a failed deployment, rolled back by Swarm', () => {
  assert.equal(updateVerdict(service, tasks, updateStarted - 1000), { done: true, ok: false, rolledBack: true, problem: 'rolled back by Swarm: rollback completed' })
})

test("a rollback of an earlier deployment is not this one's: the service runs, at its spec, so it is done", () => {
  assert.equal(updateVerdict(service, tasks, Date.parse(service.UpdateStatus!.CompletedAt!) + 60_000), { done: true, ok: true })
})

test('an update in progress, or a task still at the previous spec, is waited for', () => {
  const updating = { ...service, UpdateStatus: { ...service.UpdateStatus, State: 'updating' } }
  assert.equal(updateVerdict(updating, tasks, updateStarted - 1000), { done: false, why: 'update updating' })
  const newer = structuredClone(service)
  ;(newer.Spec.TaskTemplate as { ContainerSpec: { Image: string } }).ContainerSpec.Image = 'nginx:1.27.3'
  newer.UpdateStatus = undefined
  assert.equal(updateVerdict(newer, tasks, Date.now()), { done: false, why: '1 task still at the previous spec' })
})

test('a paused update fails the deployment without a rollback', () => {
  const paused = { ...service, UpdateStatus: { ...service.UpdateStatus, State: 'paused', Message: 'update paused due to failure or early termination of task x' } }
  assert.equal(updateVerdict(paused, tasks, updateStarted - 1000), { done: true, ok: false, rolledBack: false, problem: 'update paused by Swarm: update paused due to failure or early termination of task x' })
})

test.run()
