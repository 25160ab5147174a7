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

const repoRoot = new URL('../../', import.meta.url).pathname

/**
 * The reference the stacks (or, for the Docker CLI, scripts/Dockerfile) pin for an image repository: a stand-in is
 * tagged with it, so that a new pin cannot leave its stand-in behind. Throws when no file pins it, or two pin it differently.
 */
export function pinnedImage(repository: string): string {
  const sources = [
    ...readdirSync(join(repoRoot, 'stacks'))
      .filter((file) => file.endsWith('.yml'))
      .map((file) => join(repoRoot, 'stacks', file)),
    join(repoRoot, 'scripts/Dockerfile'),
  ]
  const escaped = repository.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
  const pattern = new RegExp(`(?:image:\\s*|ARG DOCKER_CLI_IMAGE=)(${escaped}:[^\\s#]+)`, 'g')
  const found = new Set(sources.flatMap((file) => [...readFileSync(file, 'utf8').matchAll(pattern)].map((match) => match[1]!)))
  if (found.size !== 1) throw new Error(`stand-ins: the stacks pin ${repository} ${found.size ? `differently (${[...found].join(', ')})` : 'nowhere'}`)
  return [...found][0]!
}

export const standIns: StandIn[] = [
  { name: 'prometheus', tag: pinnedImage('prom/prometheus') },
  { name: 'pushgateway', tag: pinnedImage('prom/pushgateway') },
  { name: 'alertmanager', tag: pinnedImage('prom/alertmanager') },
  { name: 'node-exporter', tag: pinnedImage('prom/node-exporter') },
  { name: 'nginx', tag: pinnedImage('nginx') },
  { name: 'postgres', tag: pinnedImage('postgres') },
  { name: 'docker-cli', tag: pinnedImage('docker'), fromHost: { docker: '/usr/local/bin/docker' } },
]

/** Built by test/e2e/settings.test.ts only: the one file that runs the longterm profile. */
export const victoriaMetricsStandIn: StandIn = { name: 'victoriametrics', tag: pinnedImage('victoriametrics/victoria-metrics') }

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
