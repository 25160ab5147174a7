// The e2e's stand-ins for GitHub and Docker Hub inside the swarm: the fake APIs of test/support/fake-apis.ts bundled
// into the Node stand-in image, and a second service that answers 500 to everything, on a network of their own.
import { copyFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'
import { docker, dockerMaybe } from '../../stacks/deploy/docker.ts'
import { serviceStates } from '../../stacks/deploy/converge.ts'
import { nodeStandIn } from './standins.ts'
import { waitFor } from '../support/servers.ts'

export const apisNetwork = 'activity-test_apis'
export const fakeApis = { service: 'activity-test-fake-apis', url: 'http://activity-test-fake-apis:8080' }
export const failingApi = { service: 'activity-test-failing-api', url: 'http://activity-test-failing-api:8080' }
const image = 'activity-test/fake-apis:latest'

/**
 * The clock the fake APIs build their data on, fixed when a test file starts: the file's expectations
 * (buildData(defaultData, apisClock)) and the server's answers then name the same days, also across midnight UTC
 * (npm's last day moved under the gitops e2e once, in CI, and its expected last-day count with it).
 */
export const apisClock = Date.now()

const failingServer = `require('node:http').createServer((request, response) => {
  response.writeHead(500, { 'content-type': 'application/json' })
  response.end(JSON.stringify({ message: 'Server Error' }))
}).listen(8080)`

/** Bundles the fake APIs with esbuild and builds their image on the Node stand-in (seconds: the bundle is the only new layer). */
async function buildImage(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'activity-fake-apis-'))
  try {
    await build({
      entryPoints: [new URL('../support/fake-apis.ts', import.meta.url).pathname],
      outfile: join(dir, 'fake-apis.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'warning',
      banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
    })
    // @octokit/graphql-schema reads its schema beside its module, which in the bundle is beside the bundle.
    const schemaDir = new URL('../../node_modules/@octokit/graphql-schema/', import.meta.url).pathname
    for (const file of ['schema.json', 'schema.graphql']) copyFileSync(join(schemaDir, file), join(dir, file))
    // The recorded REST listings are read from @octokit/fixtures at run time, through require.resolve from the bundle.
    cpSync(new URL('../../node_modules/@octokit/fixtures/', import.meta.url).pathname, join(dir, 'node_modules/@octokit/fixtures'), { recursive: true })
    writeFileSync(
      join(dir, 'Dockerfile'),
      [`FROM ${nodeStandIn.tag}`, 'COPY fake-apis.mjs schema.json schema.graphql /app/', 'COPY node_modules /app/node_modules', 'USER node', 'ENTRYPOINT ["node", "/app/fake-apis.mjs", "--host", "0.0.0.0", "--port", "8080"]', ''].join('\n'),
    )
    await docker(['build', '-q', '-t', image, dir], { env: { DOCKER_BUILDKIT: '0' } })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Starts both API services on their own attachable overlay network and waits until they run. */
export async function startTestApis(): Promise<void> {
  await buildImage()
  if ((await dockerMaybe(['network', 'inspect', apisNetwork])) === undefined) {
    await docker(['network', 'create', '--driver', 'overlay', '--attachable', apisNetwork])
  }
  const common = ['service', 'create', '--detach', '--network', apisNetwork, '--endpoint-mode', 'dnsrr', '--restart-condition', 'any']
  await docker([...common, '--name', fakeApis.service, image, '--now', String(apisClock)])
  await docker([...common, '--name', failingApi.service, '--entrypoint', 'node', nodeStandIn.tag, '-e', failingServer])
  await waitFor('the test APIs to run in the swarm', async () => {
    const states = await serviceStates([fakeApis.service, failingApi.service])
    const failed = states.find((s) => s.failed)
    if (failed) throw new Error(`${failed.name}: ${failed.problem}`)
    return states.every((s) => s.ready)
  }, 120_000)
  // Running is not answering: ask both from a container on their network, as the collectors will.
  const probe = `Promise.all(['${fakeApis.url}/healthz', '${failingApi.url}/'].map((u) => fetch(u).then((r) => r.status))).then((s) => console.log(s.join(' ')))`
  await waitFor('the test APIs to answer inside the swarm', async () => {
    const answer = await dockerMaybe(['run', '--rm', '--network', apisNetwork, '--entrypoint', 'node', nodeStandIn.tag, '-e', probe])
    return answer?.trim() === '200 500'
  }, 60_000)
}

/**
 * Removes both API services, then their network once it is free. A network the engine will not let go of within a
 * minute (an endpoint it still counts) is left in place, saying what holds it: startTestApis uses it as it is.
 */
export async function removeTestApis(log: (line: string) => void): Promise<void> {
  for (const service of [fakeApis.service, failingApi.service]) await dockerMaybe(['service', 'rm', service])
  try {
    await waitFor(`network ${apisNetwork} to be removed`, async () => {
      await dockerMaybe(['network', 'rm', apisNetwork])
      return (await dockerMaybe(['network', 'inspect', apisNetwork])) === undefined
    }, 60_000)
  } catch {
    log(`network ${apisNetwork} could not be removed within 60 s; still attached: ${await attached()}; left in place (the next run uses it)`)
  }
}

/** The containers and services on the test APIs' network, by name: what keeps it from being removed. */
async function attached(): Promise<string> {
  const containers = Object.values(JSON.parse((await dockerMaybe(['network', 'inspect', '--format', '{{json .Containers}}', apisNetwork])) || 'null') ?? {}) as { Name: string }[]
  const id = (await dockerMaybe(['network', 'inspect', '--format', '{{.Id}}', apisNetwork]))?.trim()
  const services: string[] = []
  for (const name of (await dockerMaybe(['service', 'ls', '--format', '{{.Name}}']))?.split('\n').filter(Boolean) ?? []) {
    const networks = (await dockerMaybe(['service', 'inspect', '--format', '{{json .Spec.TaskTemplate.Networks}}', name])) ?? ''
    if (id && networks.includes(id)) services.push(`service ${name}`)
  }
  const names = [...containers.map((c) => `container ${c.Name}`), ...services]
  return names.length ? names.join(', ') : 'nothing the engine lists'
}

/** A Compose overlay putting the rendered collector services on the APIs' network too (the base file keeps them on activity_metrics). */
export function collectorsOverlay(dir: string, sources: string[]): void {
  const services = sources.map((s) => `  ${s}:\n    networks: [metrics, test_apis]\n`).join('')
  writeFileSync(join(dir, 'collectors.yml'), `version: "3.9"\nservices:\n${services}networks:\n  test_apis:\n    name: ${apisNetwork}\n    external: true\n`)
}
