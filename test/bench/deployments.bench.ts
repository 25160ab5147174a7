// Push to "deployed and converged" for a one-service change on the local swarm, and `activity rollback` to converged,
// each a median of 10, beside the floor: the same service updated with `docker service update` and followed until
// Swarm says the update completed. gitops runs here with its real follower (UpdateStatus and tasks at the new spec); the
// change is the environment of one nginx service with the app stack's update_config and healthcheck.
// Needs a single-node swarm and the nginx image the app stack pins (npm run up, or the e2e stand-ins, made it).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { createLogger } from '../../collectors/runtime/log.ts'
import { describeServices, followUpdates, inspectServices } from '../../gitops/follow.ts'
import { startGitops } from '../../gitops/service.ts'
import { docker, dockerMaybe } from '../../stacks/deploy/docker.ts'
import { createRepo, platformFiles } from '../support/git.ts'
import { tempDir } from '../support/servers.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 10)
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
const root = new URL('../../', import.meta.url).pathname
const stackName = 'activitybench'
const service = `${stackName}_web`

const app = parse(readFileSync(join(root, 'stacks/app.yml'), 'utf8')) as { services: { nginx: { image: string; healthcheck: Record<string, unknown> } } }
const image = app.services.nginx.image
const swarm = (await dockerMaybe(['info', '--format', '{{.Swarm.LocalNodeState}}']))?.trim()
if (swarm !== 'active' || (await dockerMaybe(['image', 'inspect', image])) === undefined) {
  console.log(`deployments: not measured: needs a single-node swarm (active here: ${swarm ?? 'no engine'}) and the image ${image} (npm run up, or the e2e stand-ins, build it)`)
  process.exit(0)
}

/** The bench stack: one nginx as the app stack runs it (its healthcheck asks port 80, where the image's default site answers). */
function stackFile(round: string): string {
  const healthcheck = JSON.stringify({ ...app.services.nginx.healthcheck, test: ['CMD', 'bash', '-c', "exec 3<>/dev/tcp/127.0.0.1/80 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && read -r s <&3 && [[ $$s == *' 200 '* ]]"] })
  return `version: "3.9"\nservices:\n  web:\n    image: ${image}\n    environment: {ROUND: "${round}"}\n    healthcheck: ${healthcheck}\n    deploy:\n      replicas: 1\n      update_config: {order: start-first, failure_action: rollback}\n      rollback_config: {order: start-first}\n      resources: {limits: {memory: 64M}}\n`
}

const repo = await createRepo({ ...platformFiles, 'stacks/app.yml': stackFile('0') })
const state = tempDir('bench-deployments')
const gitops = await startGitops({
  stateDir: state.path, port: 0, host: '127.0.0.1', branch: 'main', pollSeconds: 0, pushPassword: 'bench',
  steps: {
    validate: async () => [],
    buildImage: async () => {},
    // Only the app stack is real here: the bench stack, deployed as gitops deploys one.
    async deployStack(dir, stack) {
      if (stack === 'app') await docker(['stack', 'deploy', '--detach=true', '--resolve-image', 'never', '-c', join(dir, 'stacks/app.yml'), stackName])
    },
    async awaitStack(stack, since, report, signal) {
      if (stack !== 'app') return
      const [followed] = await followUpdates([service], { since, timeoutMs: 120_000, report, signal })
      if (followed && followed.verdict.done && !followed.verdict.ok) throw new Error(followed.verdict.problem)
    },
    describe: async (stacks) => (stacks.includes('app') ? describeServices([service]) : []),
  },
  log: createLogger({ write: () => {} }),
})
const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`
const remote = gitops.url.replace('http://', 'http://platform:bench@') + '/platform.git'
const authorization = 'Basic ' + Buffer.from('platform:bench').toString('base64')

function push(): Promise<number> {
  return new Promise((resolve) => spawn('git', ['-C', repo.path, 'push', '-q', remote, 'HEAD:refs/heads/main'], { stdio: 'ignore' }).on('close', (code) => resolve(code ?? -1)))
}

/** A rollback through the API, as activity rollback asks it; resolves with its last line (ok or failed). */
async function rollback(to: number): Promise<string> {
  const response = await fetch(`${gitops.url}/api/rollback`, { method: 'POST', body: JSON.stringify({ to: String(to) }), headers: { authorization, 'content-type': 'application/json' } })
  return (await response.text()).trim().split('\n').at(-1)!
}

try {
  if ((await push()) !== 0) throw new Error('the first push failed')
  await gitops.deployer.idle()

  const viaPush: number[] = []
  for (let i = 1; i <= rounds; i++) {
    await repo.commit({ 'stacks/app.yml': stackFile(`push-${i}`) })
    const t0 = performance.now()
    if ((await push()) !== 0) throw new Error(`push ${i} failed`)
    viaPush.push(performance.now() - t0)
    const last = gitops.ledger.list().at(-1)!
    if (last.result !== 'succeeded') throw new Error(`push ${i}: ${last.result}: ${last.reason}`)
  }
  console.log(`deployments: push to deployed and converged, one-service change: median ${s(median(viaPush))} (${rounds} pushes; min ${s(Math.min(...viaPush))}, max ${s(Math.max(...viaPush))})`)

  // Back through the pushes' entries, newest first: each rollback changes the service's spec.
  const pushes = gitops.ledger.list().filter((e) => e.trigger === 'push' && e.stacks.includes('app')).slice(-rounds - 1, -1).reverse()
  const viaRollback: number[] = []
  for (const entry of pushes) {
    const t0 = performance.now()
    const answer = await rollback(entry.id)
    viaRollback.push(performance.now() - t0)
    if (answer !== 'ok') throw new Error(`rollback to entry ${entry.id}: ${answer}`)
  }
  console.log(`deployments: activity rollback to converged: median ${s(median(viaRollback))} (${viaRollback.length} rollbacks; min ${s(Math.min(...viaRollback))}, max ${s(Math.max(...viaRollback))})`)

  // The floor: the same change made by hand, followed until Swarm says the update completed.
  const floor: number[] = []
  for (let i = 1; i <= rounds; i++) {
    const since = Date.now()
    const t0 = performance.now()
    await docker(['service', 'update', '--detach', '--env-add', `ROUND=floor-${i}`, service])
    for (;;) {
      const { services } = await inspectServices([service])
      const status = services[0]?.UpdateStatus
      if (status?.State === 'completed' && Date.parse(status.StartedAt ?? '') >= since - 2000) break
      if (status?.State === 'rollback_completed' || status?.State === 'paused') throw new Error(`floor ${i}: ${status.State}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    floor.push(performance.now() - t0)
  }

  console.log(`deployments: floor, docker service update followed to UpdateStatus completed: median ${s(median(floor))} (${rounds} updates, polled every 100 ms)`)
  // Target: gitops adds at most 3 s to what Swarm itself takes (git, fingerprints, checkout, its 1 s polling).
  process.exitCode = median(viaPush) - median(floor) <= 3000 && median(viaRollback) - median(floor) <= 3000 ? 0 : 1
} finally {
  await gitops.close()
  await dockerMaybe(['stack', 'rm', stackName])
  repo.remove()
  state.remove()
}
