// REGISTRY set: up's image step pushes the project's images to the user's own registry, and a stack deployed with the
// login (--with-registry-auth) lets the swarm pull them from there. The registry is real: Debian's docker-registry on a
// loopback port (127.0.0.0/8 is an insecure registry by default: plain HTTP), with an htpasswd login. The image pushed
// is debian:bookworm-slim under the project's name (building the project's images is the Swarm e2e's part).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import bcrypt from 'bcryptjs'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { deliverImages } from '../../scripts/cluster/images.ts'
import { loadConfig } from '../../collectors/runtime/activity-yml.ts'
import type { ClusterConfig } from '../../collectors/runtime/activity-yml-cluster.ts'
import { loadCollectors } from '../../collectors/runtime/registry.ts'
import { deployStack, removeStack, resolveStack } from '../../stacks/deploy/deploy.ts'
import { docker, dockerMaybe, engineInfo } from '../../stacks/deploy/docker.ts'
import { imageName } from '../../stacks/deploy/images.ts'
import { ensureSwarm } from '../../stacks/deploy/swarm.ts'
import { freePort, requireBinary, tempDir, waitFor } from '../support/servers.ts'
import { configFile } from './platform.ts'

const test = suite('REGISTRY: the images pushed to the user\'s registry, pulled by the swarm')
const log = (line: string) => process.stdout.write(`  ${line}\n`)
const dir = tempDir('registry-e2e')
const user = 'pusher'
const password = `e2e-${Date.now()}`
const tag = `e2e-${Date.now()}`
const stacks = ['activity-e2e-registry-auth', 'activity-e2e-registry-noauth']
let registry = ''
let image = ''
let server: ChildProcess | undefined
let serverOutput = ''
const dockerConfig = join(dir.path, 'docker-config')
const previousDockerConfig = process.env.DOCKER_CONFIG
// The cluster of the repository's activity.yml, as up reads it: the local provider, one node.
let cluster: ClusterConfig

function basic(login: string, secret: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${login}:${secret}`).toString('base64')}` }
}

async function tagsInRegistry(): Promise<{ status: number; tags: string[] }> {
  const response = await fetch(`http://${registry}/v2/activity/collectors/tags/list`, { headers: basic(user, password) })
  const body = (await response.json()) as { tags?: string[] | null }
  return { status: response.status, tags: body.tags ?? [] }
}

test.before(async () => {
  try {
    requireBinary('docker', 'docker.io')
    const binary = requireBinary('docker-registry', 'docker-registry')
    const info = await engineInfo()
    if (!info) throw new Error('no Docker Engine answers: start it (bash test/e2e/ci-setup.sh starts dockerd in the background)')
    log(`swarm: ${await ensureSwarm(info, '127.0.0.1')}`)
    cluster = loadConfig(configFile, await loadCollectors(new URL('../../collectors/', import.meta.url))).cluster
    if (!(await dockerMaybe(['image', 'inspect', 'debian:bookworm-slim']))) throw new Error('debian:bookworm-slim is missing: run bash test/e2e/base-image.sh')

    const port = await freePort()
    registry = `127.0.0.1:${port}`
    image = imageName(registry, 'collectors', tag)
    mkdirSync(join(dir.path, 'data'))
    mkdirSync(dockerConfig)
    writeFileSync(join(dir.path, 'htpasswd'), `${user}:${bcrypt.hashSync(password, 10)}\n`)
    writeFileSync(
      join(dir.path, 'config.yml'),
      [
        'version: 0.1',
        'log: {level: warn}',
        `storage: {filesystem: {rootdirectory: ${join(dir.path, 'data')}}}`,
        `http: {addr: "${registry}"}`,
        `auth: {htpasswd: {realm: activity-e2e, path: ${join(dir.path, 'htpasswd')}}}`,
        '',
      ].join('\n'),
    )
    server = spawn(binary, ['serve', join(dir.path, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] })
    server.stdout!.on('data', (chunk) => (serverOutput += chunk))
    server.stderr!.on('data', (chunk) => (serverOutput += chunk))
    await waitFor(`docker-registry to answer on ${registry}`, async () => {
      if (server!.exitCode !== null) throw new Error(`docker-registry exited with ${server!.exitCode}: ${serverOutput.slice(-500)}`)
      return (await fetch(`http://${registry}/v2/`)).status === 401
    })
    // The Docker CLI's logins go to a folder of this test's, never to the user's ~/.docker.
    process.env.DOCKER_CONFIG = dockerConfig
    await docker(['tag', 'debian:bookworm-slim', image])
  } catch (error) {
    log(`SETUP FAILED: ${(error as Error).stack ?? error}`)
    throw error
  }
})

test.after(async () => {
  for (const stack of stacks) if (await dockerMaybe(['stack', 'ps', stack])) await removeStack(stack).catch(() => {})
  if (image) await dockerMaybe(['image', 'rm', image])
  if (previousDockerConfig === undefined) delete process.env.DOCKER_CONFIG
  else process.env.DOCKER_CONFIG = previousDockerConfig
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once('exit', resolve))
    server.kill('SIGTERM')
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
    server.kill('SIGKILL')
  }
  dir.remove()
})

test('the registry really asks for a login', async () => {
  assert.is((await fetch(`http://${registry}/v2/`)).status, 401)
  assert.is((await fetch(`http://${registry}/v2/`, { headers: basic(user, 'wrong') })).status, 401)
  assert.is((await fetch(`http://${registry}/v2/`, { headers: basic(user, password) })).status, 200)
})

test('without a login, the image step fails saying to log in to the registry, and the registry has nothing', async () => {
  const failure = await deliverImages(cluster, registry, [image], process.env, log).then(
    () => undefined,
    (error: Error) => error,
  )
  assert.ok(failure, 'the push was refused')
  assert.match(failure!.message, `pushing ${image} to ${registry} failed`)
  assert.match(failure!.message, `docker login ${registry}`)
  assert.equal((await tagsInRegistry()).tags, [])
})

test('logged in, the image step pushes the image to the registry; run again, it sends nothing and says so', async () => {
  await docker(['login', registry, '--username', user, '--password-stdin'], { input: password })
  assert.equal(await deliverImages(cluster, registry, [image], process.env, log), [`pushed ${image} to ${registry}`])
  assert.equal(await tagsInRegistry(), { status: 200, tags: [tag] })
  assert.equal(await deliverImages(cluster, registry, [image], process.env, log), [`${registry} has them`])
})

/**
 * Deploys a one-service stack running `image` as up deploys (resolved, then docker stack deploy), then waits for its
 * newest task to run or fail; `seconds` changes the command, so a redeploy makes a new task.
 */
async function deployProbe(stack: string, withRegistryAuth: boolean, seconds = 600): Promise<string> {
  const file = join(dir.path, `${stack}.yml`)
  const service = { image, command: ['sleep', String(seconds)], deploy: { replicas: 1, endpoint_mode: 'dnsrr', restart_policy: { condition: 'none' } } }
  writeFileSync(file, JSON.stringify({ version: '3.9', services: { probe: service } }))
  const before = await newestTask(stack)
  const resolved = await resolveStack({ name: stack, files: [file], env: {} }, [])
  await deployStack(resolved, dir.path, { withRegistryAuth })
  return waitFor(`a new task of ${stack}_probe to run or fail`, async () => {
    const task = await newestTask(stack)
    return task && task.id !== before?.id && /^(Running|Rejected|Failed)/.test(task.state) ? task.state : undefined
  }, 120_000, 500)
}

async function newestTask(stack: string): Promise<{ id: string; state: string } | undefined> {
  const listed = await dockerMaybe(['service', 'ps', '--no-trunc', '--format', '{{.ID}} {{.CurrentState}} | {{.Error}}', `${stack}_probe`])
  const line = listed?.trim().split('\n')[0]
  if (!line) return undefined
  const [id, ...state] = line.split(' ')
  return { id: id!, state: state.join(' ') }
}

test('a stack deployed with the login runs the image the node pulled from the registry; without it, the node cannot pull', async () => {
  // The node must pull: the engine forgets the name (debian:bookworm-slim keeps the layers).
  await docker(['image', 'rm', image])
  const refused = await deployProbe(stacks[1]!, false)
  assert.match(refused, /^Rejected/, `without the login: ${refused}`)
  assert.match(refused, /No such image|no basic auth credentials|unauthorized/i)

  const ran = await deployProbe(stacks[0]!, true)
  assert.match(ran, /^Running/, `with the login: ${ran}`)
  assert.ok(await dockerMaybe(['image', 'inspect', image]), 'the engine pulled the image from the registry')
})

test('a redeploy without the login (as gitops deploys) keeps the login up gave the service: its new task pulls again', async () => {
  await docker(['image', 'rm', '--force', image])
  const ran = await deployProbe(stacks[0]!, false, 601)
  assert.match(ran, /^Running/, `redeployed without the login: ${ran}`)
})

test.run()
