// Push to deployment started, through the gitops service's own git remote and through a webhook, beside the floor:
// `docker stack deploy` of an unchanged one-service stack. The platform repository is a clone of this one, validated
// for real (`activity validate`: docker stack config, promtool, nginx -t); the Swarm side of the deployment is recorded.
import { spawn } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { createLogger } from '../../collectors/runtime/log.ts'
import { formatProblem, validate } from '../../stacks/validate.ts'
import { startGitops } from '../../gitops/service.ts'
import { simpleGit } from 'simple-git'
import { tempDir } from '../support/servers.ts'

const rounds = Number(process.env.BENCH_ROUNDS ?? 9)
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

function run(command: string, args: string[]): Promise<number> {
  return new Promise((resolve) => spawn(command, args, { stdio: 'ignore', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }).on('close', (code) => resolve(code ?? -1)))
}

const root = new URL('../../', import.meta.url).pathname
const clone = tempDir('bench-platform')
await simpleGit().clone(root, clone.path, ['-q'])
const git = simpleGit(clone.path)
await git.addConfig('user.name', 'bench').addConfig('user.email', 'bench@example.invalid')
const nginxConf = join(clone.path, 'stacks/app/nginx.conf')
const original = readFileSync(nginxConf, 'utf8')
/** A valid change of the app stack: a comment at the end of its nginx.conf. */
async function commitAppChange(n: number): Promise<string> {
  writeFileSync(nginxConf, `${original}# bench ${n}\n`)
  await git.add(['stacks/app/nginx.conf']).commit(`bench ${n}`)
  return (await git.revparse(['HEAD'])).trim()
}
const collectors = await loadCollectors(new URL('../../collectors/', import.meta.url))
const repo = { path: clone.path, remove: clone.remove }
const state = tempDir('bench-gitops')
let started: (() => void) | undefined
const service = await startGitops({
  stateDir: state.path, port: 0, host: '127.0.0.1', branch: 'main', pollSeconds: 0, remoteUrl: repo.path, webhookSecret: 'bench', pushPassword: 'bench',
  steps: {
    validate: async (dir) => (await validate({ root: dir, collectors })).problems.map(formatProblem),
    buildImage: async () => {},
    deployStack: async () => void started?.(),
  },
  log: createLogger({ write: () => {} }),
})
const remote = service.url.replace('http://', 'http://platform:bench@') + '/platform.git'
const deployStarted = () => new Promise<void>((resolve) => (started = resolve))

try {
  // The first deployment deploys everything; the rounds after it each change one config of the app stack.
  if ((await run('git', ['-C', repo.path, 'push', '-q', remote, 'HEAD:refs/heads/main'])) !== 0) throw new Error('the first push was refused: run npx activity validate')
  await service.deployer.idle()

  const viaPush: number[] = []
  for (let i = 0; i < rounds; i++) {
    await commitAppChange(100 + i)
    const waiting = deployStarted()
    const t0 = performance.now()
    const push = run('git', ['-C', repo.path, 'push', '-q', remote, 'HEAD:refs/heads/main'])
    await waiting
    viaPush.push(performance.now() - t0)
    await push
    await service.deployer.idle()
  }

  const viaWebhook: number[] = []
  for (let i = 0; i < rounds; i++) {
    const commit = await commitAppChange(200 + i)
    const body = JSON.stringify({ ref: 'refs/heads/main', after: commit })
    const signature = 'sha256=' + createHmac('sha256', 'bench').update(body).digest('hex')
    const waiting = deployStarted()
    const t0 = performance.now()
    await fetch(service.url + '/webhook', { method: 'POST', body, headers: { 'x-github-event': 'push', 'x-hub-signature-256': signature, 'x-github-delivery': `bench-${i}` } })
    await waiting
    viaWebhook.push(performance.now() - t0)
    await service.deployer.idle()
  }

  console.log(`gitops: push to deployment started, built-in remote: median ${median(viaPush).toFixed(0)} ms (${rounds} pushes; includes validation of the commit in pre-receive)`)
  console.log(`gitops: push to deployment started, webhook: median ${median(viaWebhook).toFixed(0)} ms (${rounds} webhooks; includes fetching the remote)`)

  // The floor: docker stack deploy itself, on a stack whose spec does not change.
  const floorDir = tempDir('bench-floor')
  const file = join(floorDir.path, 'stack.yml')
  writeFileSync(file, 'version: "3.9"\nservices:\n  idle:\n    image: nginx:1.27.2\n    deploy: {replicas: 0}\n')
  if ((await run('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', file, 'activitybench'])) !== 0) {
    console.log('gitops: floor not measured: docker stack deploy needs a Docker Engine in a swarm (npm run up makes one)')
  } else {
    const floor: number[] = []
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now()
      await run('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', file, 'activitybench'])
      floor.push(performance.now() - t0)
    }
    await run('docker', ['stack', 'rm', 'activitybench'])
    console.log(`gitops: floor, docker stack deploy of an unchanged one-service stack: median ${median(floor).toFixed(0)} ms (5 runs)`)
  }
  floorDir.remove()
  process.exitCode = Math.max(median(viaPush), median(viaWebhook)) < 2000 ? 0 : 1
} finally {
  await service.close()
  repo.remove()
  state.remove()
}
