// Stand-in images for the upstream images that cannot be pulled here: built from Debian's packages, tagged exactly as the stacks name them.
// Each is rebuilt only when its folder (or the base image) changed: the hash of its inputs is a label on the image.
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { $ } from 'zx'
import { docker, dockerMaybe, dockerStreaming, imageLabel } from '../../stacks/deploy/docker.ts'

const imagesDir = new URL('./images/', import.meta.url).pathname
export const baseImage = 'debian:bookworm-slim'
const hashLabel = 'activity.standin.hash'

export interface StandIn {
  /** Folder under test/e2e/images. */
  name: string
  /** The pinned upstream name it stands in for. */
  tag: string
  /** Programs of this machine copied into the build context: name in the context → path here. */
  fromHost?: Record<string, string>
}

export const standIns: StandIn[] = [
  { name: 'prometheus', tag: 'prom/prometheus:v2.53.2' },
  { name: 'pushgateway', tag: 'prom/pushgateway:v1.9.0' },
  { name: 'alertmanager', tag: 'prom/alertmanager:v0.27.0' },
  { name: 'node-exporter', tag: 'prom/node-exporter:v1.8.2' },
  { name: 'nginx', tag: 'nginx:1.27.2' },
  { name: 'postgres', tag: 'postgres:15.10' },
  { name: 'docker-cli', tag: 'docker:27.3.1-cli', fromHost: { docker: '/usr/local/bin/docker' } },
]

/** Debian plus this machine's node and npm: the NODE_IMAGE and RUNTIME_IMAGE build arguments of the project's Dockerfiles in tests. */
const hostNode = '/usr/bin/node'
const hostNpm = '/usr/lib/node_modules/npm'
export const nodeStandIn: StandIn = { name: 'node', tag: 'activity-test/node:20-bookworm-standin', fromHost: { node: hostNode, npm: hostNpm } }

function filesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name)
      return statSync(path).isDirectory() ? filesUnder(path) : [path]
    })
}

async function inputsHash(standIn: StandIn): Promise<string> {
  const dir = join(imagesDir, standIn.name)
  const hash = createHash('sha256')
  for (const file of filesUnder(dir)) hash.update(relative(dir, file)).update('\0').update(readFileSync(file)).update('\0')
  hash.update((await docker(['image', 'inspect', '--format', '{{.Id}}', baseImage])).trim())
  if (standIn === nodeStandIn) {
    hash.update((await $({ quiet: true })`${hostNode} --version`).stdout)
    hash.update(readFileSync(join(hostNpm, 'package.json')))
  } else {
    for (const path of Object.values(standIn.fromHost ?? {})) hash.update(`${path} ${statSync(path).size} ${statSync(path).mtimeMs}`)
  }
  return hash.digest('hex').slice(0, 16)
}

/** Builds one stand-in unless an image with the same inputs hash exists; says which. */
export async function buildStandIn(standIn: StandIn, log: (line: string) => void): Promise<'built' | 'cached'> {
  const hash = await inputsHash(standIn)
  if ((await imageLabel(standIn.tag, hashLabel)) === hash) return 'cached'
  let context = join(imagesDir, standIn.name)
  let temporary: string | undefined
  if (standIn.fromHost) {
    temporary = mkdtempSync(join(tmpdir(), `activity-${standIn.name}-standin-`))
    cpSync(context, temporary, { recursive: true })
    for (const [name, path] of Object.entries(standIn.fromHost)) {
      if (!existsSync(path)) throw new Error(`${standIn.tag} stand-in: ${path} is missing on this machine`)
      cpSync(path, join(temporary, name), { recursive: true, dereference: true })
    }
    context = temporary
  }
  const started = Date.now()
  try {
    await dockerStreaming(['build', '--label', `${hashLabel}=${hash}`, '-t', standIn.tag, context], (line) => {
      if (/^Step \d+\/\d+/.test(line)) log(`  ${standIn.tag}: ${line.slice(0, 110)}`)
    }, { DOCKER_BUILDKIT: '0' })
  } finally {
    if (temporary) rmSync(temporary, { recursive: true, force: true })
  }
  log(`  ${standIn.tag}: built in ${((Date.now() - started) / 1000).toFixed(0)} s`)
  return 'built'
}

/** Every stand-in and the Node base, built when missing or changed. Fails saying how to get the base image when it is absent. */
export async function buildStandIns(log: (line: string) => void = (line) => process.stdout.write(line + '\n')): Promise<void> {
  if ((await dockerMaybe(['image', 'inspect', baseImage])) === undefined) {
    throw new Error(`the base image ${baseImage} is missing: run bash test/e2e/base-image.sh (needs debootstrap; .ci/run runs it)`)
  }
  for (const standIn of [...standIns, nodeStandIn]) {
    const outcome = await buildStandIn(standIn, log)
    if (outcome === 'cached') log(`  ${standIn.tag}: up to date`)
  }
}
