// The deploy ledger and rollbacks through the gitops service over real git (its own remote, git push over smart HTTP),
// with the bundled `activity deploys` and `activity rollback` asking its API as a person does. The Swarm side is
// played here: a stack file marked UNHEALTHY is "rolled back by Swarm" (the swarm then runs what it ran before).
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createLogger } from '../../collectors/runtime/log.ts'
import type { DeploySteps } from '../../gitops/deployer.ts'
import type { LedgerEntry } from '../../gitops/ledger.ts'
import { RolloutError } from '../../gitops/rollout.ts'
import type { GitopsService } from '../../gitops/service.ts'
import { runActivity } from '../support/cli.ts'
import { builtInRemote, gitAsync, gitopsWorkspace, type GitopsWorkspace } from '../support/gitops.ts'
import { requireBinary, waitFor } from '../support/servers.ts'

requireBinary('git', 'git')
const test = suite('gitops deploy ledger and rollback')
const password = 'push-secret'
let workspace: GitopsWorkspace
let logLines: { level: string; msg: string }[]
/** What the played swarm runs: each stack's file content; what Swarm refused is never here. */
let running: Map<string, string>
/** What each stack's last deployment asked for. */
const asked = new Map<string, string>()
/** While set, following the app stack waits for it (an update in progress); an abort ends the wait as gitops stops. */
let appUpdate: Promise<void> | undefined

const steps: DeploySteps = {
  async validate(dir) {
    return readFileSync(join(dir, 'stacks/app.yml'), 'utf8').includes('BROKEN') ? ['stacks/app.yml: services.nginx: BROKEN is not a Compose key'] : []
  },
  async buildImage() {},
  async deployStack(dir, stack) {
    const file = existsSync(join(dir, `stacks/${stack}.yml`)) ? readFileSync(join(dir, `stacks/${stack}.yml`), 'utf8') : ''
    asked.set(stack, file)
    if (!file.includes('UNHEALTHY')) running.set(stack, file)
  },
  async awaitStack(stack, _since, report, signal) {
    if (stack !== 'app') return
    if (appUpdate) {
      await Promise.race([appUpdate, new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }))])
    }
    if (asked.get('app')?.includes('UNHEALTHY')) {
      report('app_nginx: rolled back by Swarm: update rolled back due to failure or early termination of task t1')
      throw new RolloutError('app', ['app_nginx'], 'app_nginx rolled back by Swarm: update rolled back due to failure or early termination of task t1', true)
    }
  },
  async describe(stacks) {
    return stacks.map((stack) => ({ name: `${stack}_main`, image: 'nginx:1.27.2', fingerprint: createHash('sha256').update(running.get(stack) ?? '').digest('hex').slice(0, 16) }))
  },
}

const start = () => workspace.start({ pushPassword: password, steps, log: createLogger({ write: (line) => logLines.push(JSON.parse(line)) }) })
const remote = (s: GitopsService) => builtInRemote(s, password)
const push = (s: GitopsService) => gitAsync(['-C', workspace.repo.path, 'push', remote(s), 'HEAD:refs/heads/main'])
const activity = (s: GitopsService, args: string[]) => runActivity([...args, '--remote', remote(s)], { env: { PATH: process.env.PATH } })
async function ledger(s: GitopsService): Promise<LedgerEntry[]> {
  const listed = await activity(s, ['deploys', '--json'])
  assert.is(listed.code, 0, listed.stderr)
  return JSON.parse(listed.stdout) as LedgerEntry[]
}
const metric = async (s: GitopsService, line: RegExp) => assert.match(await (await fetch(s.url + '/metrics')).text(), line)
const app = (marker: string) => ({ 'stacks/app.yml': `services:\n  nginx:\n    image: nginx:1.27.2\n    # ${marker}\n` })

test.before.each(async () => {
  workspace = await gitopsWorkspace('gitops-ledger-state')
  logLines = []
  running = new Map()
  appUpdate = undefined
})
test.after.each(async () => {
  await workspace.remove()
})

test('each push is one ledger entry, named in the push answer; a push validation refuses is one too', async () => {
  const s = await start()
  const first = await push(s)
  assert.match(first.output, /remote: [0-9a-f]{7}: succeeded \(ledger entry 1\)/)
  const a = await workspace.repo.commit(app('A'))
  await push(s)
  const entries = await ledger(s)
  assert.equal(entries.map((e) => [e.id, e.commit, e.trigger, e.result, e.stacks]), [
    [1, entries[0]!.commit, 'push', 'succeeded', ['admin', 'metrics', 'logs', 'monitoring', 'app', 'collectors', 'gitops']],
    [2, a, 'push', 'succeeded', ['app']],
  ])
  assert.equal(entries[1]!.services, [{ name: 'app_main', image: 'nginx:1.27.2', fingerprint: createHash('sha256').update(app('A')['stacks/app.yml']).digest('hex').slice(0, 16) }])
  assert.ok(entries.every((e) => e.endedAt && Date.parse(e.endedAt) >= Date.parse(e.startedAt)))

  const broken = await workspace.repo.commit({ 'stacks/app.yml': 'services:\n  nginx:\n    BROKEN: true\n' })
  const refused = await push(s)
  assert.is.not(refused.code, 0)
  assert.match(refused.output, /remote: ledger entry 3: refused by validation/)
  const last = (await ledger(s)).at(-1)!
  assert.equal([last.commit, last.trigger, last.result, last.reason], [broken, 'push', 'refused by validation', 'stacks/app.yml: services.nginx: BROKEN is not a Compose key'])
  await metric(s, /activity_gitops_last_deploy_result\{result="refused"\} 1/)
})

test('Swarm rolls B back: the ledger and the push answer say so; rollback --to A pins, gitops leaves B alone, and the next commit C deploys and unpins', async () => {
  const s = await start()
  await push(s)
  const a = await workspace.repo.commit(app('A'))
  await push(s)
  const b = await workspace.repo.commit(app('B UNHEALTHY'))
  const bad = await push(s)
  assert.is(bad.code, 0, 'the branch moved: the commit is valid')
  assert.match(bad.output, /remote: failed: app: app_nginx rolled back by Swarm: update rolled back due to failure/)
  assert.match(bad.output, new RegExp(`remote: ${b.slice(0, 7)}: rolled back by Swarm \\(ledger entry 3\\)`))
  const rolledBack = (await ledger(s)).at(-1)!
  assert.equal([rolledBack.commit, rolledBack.result], [b, 'rolled back by Swarm'])
  assert.match(rolledBack.reason ?? '', /^app: app_nginx rolled back by Swarm: update rolled back due to failure or early termination of task t1; see docker service ps/)
  await metric(s, /activity_gitops_last_deploy_result\{result="rolled_back"\} 1/)
  await metric(s, /activity_gitops_last_deploy_success\{stack="app"\} 0/)

  const rollback = await activity(s, ['rollback', '--to', a.slice(0, 8)])
  assert.is(rollback.code, 0, rollback.stdout + rollback.stderr)
  assert.match(rollback.stdout, /^rolling back to ledger entry 2: /m)
  assert.match(rollback.stdout, /pinned to [0-9a-f]{7} \(ledger entry 2\)/)
  const entries = await ledger(s)
  const repeat = entries.at(-1)!
  assert.equal([repeat.commit, repeat.trigger, repeat.rollbackOf, repeat.result], [a, 'rollback', 2, 'succeeded'])
  assert.equal(repeat.services, entries[1]!.services, 'the swarm runs what entry 2 deployed')
  await metric(s, /activity_gitops_pinned 1/)
  await metric(s, /activity_gitops_pinned_timestamp_seconds [1-9]/)
  const listed = await activity(s, ['deploys'])
  assert.match(listed.stdout, /pinned to [0-9a-f]{7} \(ledger entry 2\) since /)

  // A retry of B, or a restart, deploys nothing while pinned.
  const countBefore = entries.length
  await workspace.stop()
  const restarted = await start()
  await restarted.deployer.idle()
  assert.is((await ledger(restarted)).length, countBefore, 'a restart while pinned records and deploys nothing')
  await metric(restarted, /activity_gitops_pinned 1/)
  await metric(restarted, /activity_gitops_last_deploy_result\{result="succeeded"\} 1/)

  const c = await workspace.repo.commit(app('C'))
  const good = await push(restarted)
  assert.match(good.output, /the pin to [0-9a-f]{7} \(ledger entry 2\) ends/)
  assert.match(good.output, new RegExp(`${c.slice(0, 7)}: succeeded`))
  await metric(restarted, /activity_gitops_pinned 0/)
  assert.equal((await ledger(restarted)).at(-1)!.commit, c)
})

test('rollback --unpin deploys the branch head at once; a rollback to an entry that did not succeed is refused', async () => {
  const s = await start()
  await push(s)
  const a = await workspace.repo.commit(app('A'))
  await push(s)
  await workspace.repo.commit(app('B'))
  await push(s)
  assert.is((await activity(s, ['rollback'])).code, 0, 'without --to: the newest succeeded entry of another commit')
  assert.is((await ledger(s)).at(-1)!.commit, a)
  const unpin = await activity(s, ['rollback', '--unpin'])
  assert.is(unpin.code, 0, unpin.stderr)
  assert.match(unpin.stdout, /unpinned from [0-9a-f]{7} \(ledger entry 2\); deploying the branch head/)
  const last = (await ledger(s)).at(-1)!
  assert.equal([last.trigger, last.result, last.stacks], ['unpin', 'succeeded', ['app']])
  await metric(s, /activity_gitops_pinned 0/)

  await workspace.repo.commit(app('D UNHEALTHY'))
  await push(s)
  const refused = await activity(s, ['rollback', '--to', String((await ledger(s)).at(-1)!.id)])
  assert.is(refused.code, 1)
  assert.match(refused.stderr, /did not succeed \(rolled back by Swarm\); roll back to one that did/)
})

test('rollback --stack deploys that stack as the entry deployed it and leaves the others as they run', async () => {
  const s = await start()
  await push(s)
  const metricsA = 'services:\n  prometheus:\n    image: prom/prometheus:v3.14.0\n'
  await workspace.repo.commit({ ...app('A'), 'stacks/metrics.yml': metricsA })
  await push(s)
  await workspace.repo.commit({ ...app('B'), 'stacks/metrics.yml': 'services:\n  prometheus:\n    image: prom/prometheus:v3.14.1\n' })
  await push(s)
  const rollback = await activity(s, ['rollback', '--to', '2', '--stack', 'metrics'])
  assert.is(rollback.code, 0, rollback.stdout + rollback.stderr)
  const last = (await ledger(s)).at(-1)!
  assert.equal([last.trigger, last.rollbackOf, last.result, last.stacks], ['rollback', 2, 'succeeded', ['metrics']])
  assert.is(running.get('metrics'), metricsA, 'metrics runs what entry 2 deployed')
  assert.is(running.get('app'), app('B')['stacks/app.yml'], 'app keeps what it ran')
})

test('git push -o rollback=COMMIT is refused by the remote, saying why and what to run; the branch and the platform stay', async () => {
  const s = await start()
  await push(s)
  const a = await workspace.repo.commit(app('A'))
  await push(s)
  await workspace.repo.commit(app('B'))
  const before = (await ledger(s)).length
  const pushed = await gitAsync(['-C', workspace.repo.path, 'push', '-o', `rollback=${a.slice(0, 7)}`, remote(s), 'HEAD:refs/heads/main'])
  assert.is.not(pushed.code, 0)
  assert.match(pushed.output, new RegExp(`remote: push option 'rollback=${a.slice(0, 7)}': not taken here; .*run activity rollback --to ${a.slice(0, 7)} --remote`))
  assert.match(pushed.output, /pre-receive hook declined/)
  assert.is((await ledger(s)).length, before, 'nothing was deployed or recorded')
  assert.is(running.get('app'), app('A')['stacks/app.yml'])
  const other = await gitAsync(['-C', workspace.repo.path, 'push', '-o', 'ci.skip', remote(s), 'HEAD:refs/heads/main'])
  assert.is.not(other.code, 0)
  assert.match(other.output, /remote: push option 'ci.skip': this remote takes no push options; push again without -o/)
})

test('gitops stopped while following an update resumes following it after a restart, and records one entry, not two', async () => {
  const s = await start()
  await push(s)
  let finish!: () => void
  appUpdate = new Promise((resolve) => (finish = resolve))
  const commit = await workspace.repo.commit(app('slow'))
  const pushing = push(s)
  await waitFor('gitops to follow the app update', async () => (await ledger(s)).at(-1)?.commit === commit, 20_000)
  await workspace.stop()
  await pushing
  assert.is((await import('../../gitops/ledger.ts')).readLedgerFile(join(workspace.stateDir, 'deploys.jsonl')).at(-1)!.result, 'running', 'the stopped gitops left its attempt running')

  const restarted = await start()
  finish()
  await restarted.deployer.idle()
  const entries = (await ledger(restarted)).filter((e) => e.commit === commit)
  assert.equal(entries.map((e) => [e.trigger, e.result, e.stacks]), [['push', 'succeeded', ['app']]])
})

test('a corrupt ledger file is refused in one log line naming it; gitops keeps running with a new ledger beside it', async () => {
  writeFileSync(join(workspace.stateDir, 'deploys.jsonl'), 'not json\n')
  const s = await start()
  const refused = logLines.filter((l) => l.level === 'error')
  assert.is(refused.length, 1)
  assert.match(refused[0]!.msg, new RegExp(`^${join(workspace.stateDir, 'deploys.jsonl')}:1: not a deploy ledger entry .*moved to ${join(workspace.stateDir, 'deploys.jsonl.corrupt-')}`))
  const pushed = await push(s)
  assert.is(pushed.code, 0)
  assert.equal((await ledger(s)).map((e) => [e.id, e.result]), [[1, 'succeeded']])
})

test.run()
