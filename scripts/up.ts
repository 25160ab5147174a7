#!/usr/bin/env -S npx tsx
// `npm run up`: the whole platform on the local Docker Engine as a single-node swarm, every stack deployed, URLs and first results printed.
// Run it again and it changes nothing.
// Usage: npm run up -- [--config FILE] [--overlay DIR]... [--without svc,...] [--node-image IMAGE] [--endpoint-mode dnsrr] [--timeout S]
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig, type ActivityConfig } from '../collectors/runtime/activity-yml.ts'
import { loadCollectors } from '../collectors/runtime/registry.ts'
import { alertSecrets } from '../stacks/alertmanager-config.ts'
import { deployOrder, secretSpecs, type StackName } from '../stacks/stacks.ts'
import { describe, waitForServices, type ServiceState } from '../stacks/deploy/converge.ts'
import { credentialsFile, recordCredential } from './lib/credentials.ts'
import { deployedState, deployStack, externalNeeds, isUnchanged, removeStack, type DeployedState, type ResolvedStack } from '../stacks/deploy/deploy.ts'
import { docker } from '../stacks/deploy/docker.ts'
import { runLogsSetup } from '../stacks/deploy/logs-setup.ts'
import { deliverImages } from './cluster/images.ts'
import { activityTag, buildImage, extraCaPem, imageName, projectImages, type ProjectImage } from '../stacks/deploy/images.ts'
import { defaultProfile, environmentSettings, profileConfig, recordProfile, resolveForDeploy, type DeployProfile } from '../stacks/deploy/profile.ts'
import { StepError } from '../collectors/runtime/errors.ts'
import { leaveUpEntry } from '../gitops/inbox.ts'
import { describeStacks } from '../gitops/rollout.ts'
import { runSync } from '../stacks/programs.ts'
import { createOutput, runScript, seconds, type Output } from './lib/output.ts'
import { checkEngine, checkImages, checkMemory, checkNodes, checkPorts } from './lib/prerequisites.ts'
import { elasticsearchConstraints } from '../stacks/deploy/kernel.ts'
import { collectorResults, hostPorts, lastLogLines, traefikUrls } from './lib/results.ts'
import { ensureNetworks, ensureNodeLabels, ensureSwarm, existingSecrets, networkNames, platformLabel, roleLabel, storageLabel } from '../stacks/deploy/swarm.ts'

export const root = resolve(new URL('..', import.meta.url).pathname)
const collectorsDir = new URL('../collectors/', import.meta.url)

export interface UpOptions {
  /** activity.yml. */
  configFile: string
  /** Folders of extra Compose files, one per stack (<stack>.yml), merged last: the e2e overlay. */
  overlays: string[]
  /** Services not deployed (`grafana`, or `admin_grafana` for one stack's). */
  without: string[]
  /** Base image of the project's images (NODE_IMAGE and RUNTIME_IMAGE build arguments). */
  nodeImage?: string
  timeoutSeconds: number
  advertiseAddress: string
  /** Endpoint mode of the rendered collectors' services: 'dnsrr' where the engine has no IPVS (the e2e's machine). */
  endpointMode?: 'vip' | 'dnsrr'
  env: Record<string, string | undefined>
}

export interface UpResult {
  changed: boolean
  states: ServiceState[]
  stacks: ResolvedStack[]
  seconds: number
}

/** The overlay files for one stack: <dir>/<stack>.yml in each overlay folder that has one. */
function overlayFiles(stack: StackName, dirs: string[]): string[] {
  return dirs.map((dir) => join(resolve(dir), `${stack}.yml`)).filter((file) => existsSync(file))
}

/**
 * How this up deploys, beyond the repository: its flags, and ACTIVITY_PROFILES and the setting variables of its
 * environment. Recorded in the swarm for gitops, which deploys the next commits the same way.
 */
function profileOf(options: UpOptions, registry: string): DeployProfile {
  const overlays: DeployProfile['overlays'] = {}
  for (const name of deployOrder) {
    const texts = overlayFiles(name, options.overlays).map((file) => readFileSync(file, 'utf8'))
    if (texts.length) overlays[name] = texts
  }
  const ca = extraCaPem(options.env.NODE_EXTRA_CA_CERTS)
  return {
    ...defaultProfile(registry),
    overlays,
    without: options.without,
    ...(options.endpointMode ? { endpointMode: options.endpointMode } : {}),
    ...environmentSettings(options.env),
    ...(options.nodeImage ? { nodeImage: options.nodeImage } : {}),
    ...(ca ? { npmExtraCaPem: ca } : {}),
  }
}

interface Rendered {
  stacks: ResolvedStack[]
  /** Services of the stack files left out by --without, as stack_service. */
  leftOut: string[]
  /** Stacks with every service left out: not deployed (and removed if they were). */
  emptied: string[]
}

async function renderAll(profile: DeployProfile, config: ActivityConfig, tag: string, workDir: string): Promise<Rendered> {
  const resolved = await Promise.all(
    deployOrder.map(async (name) => {
      const dir = mkdtempSync(join(workDir, `${name}-`))
      return resolveForDeploy(name, { root, config, profile, tag, workDir: dir })
    }),
  )
  return {
    stacks: resolved.filter((r) => r.services.length),
    leftOut: resolved.flatMap((r) => r.leftOut.map((s) => `${r.name}_${s}`)),
    emptied: resolved.filter((r) => !r.services.length).map((r) => r.name),
  }
}

function imagesUsed(stacks: ResolvedStack[], registry: string, tag: string): ProjectImage[] {
  const images = new Set(stacks.flatMap((s) => Object.values(s.compose.services ?? {}).map((svc) => svc.image)))
  return projectImages.filter((image) => images.has(imageName(registry, image, tag)))
}

function publishedPorts(stacks: ResolvedStack[]): number[] {
  return stacks.flatMap((s) => Object.values(s.compose.services ?? {}).flatMap((svc) => (svc.ports ?? []).map((p) => Number(p.published)).filter((p) => p > 0)))
}

const has = (stacks: ResolvedStack[], stack: string, service: string) => stacks.some((s) => s.name === stack && s.services.includes(service))

export async function up(options: UpOptions, out: Output): Promise<UpResult> {
  const started = Date.now()
  // The user's own registry, when set: the images are pushed there and every node pulls them ('' : none, see images.ts).
  const registry = (options.env.REGISTRY ?? '').trim().replace(/\/+$/, '')
  const workDir = mkdtempSync(join(tmpdir(), 'activity-up-'))
  let changed = false
  try {
    // 1. prerequisites (rendering first: the ports and memory needed depend on what will run)
    const [{ info, facts }, config, tag] = await Promise.all([checkEngine(), loadCollectors(collectorsDir).then((c) => loadConfig(options.configFile, c)), activityTag(root)])
    const profile = profileOf(options, registry)
    const { stacks, leftOut, emptied } = await renderAll(profile, config, tag, workDir)
    const withElasticsearch = has(stacks, 'logs', 'elasticsearch')
    // The engine against what will run on it (Traefik's API, cAdvisor and the image store), then the kernel for Elasticsearch.
    const running = stacks.flatMap((s) => Object.values(s.compose.services ?? {}).flatMap((svc) => (svc.image ? [svc.image] : [])))
    const warnings = checkImages(facts, running)
    warnings.push(...checkMemory(info, withElasticsearch))
    warnings.push(...(await checkNodes(elasticsearchConstraints(stacks.find((s) => s.name === 'logs')?.compose), config.cluster, running)))
    const ports = publishedPorts(stacks)
    const swarmActive = info.swarmState === 'active'
    const [, existingNetworks, existing, deployed] = await Promise.all([
      checkPorts(ports, stacks.map((s) => s.name)),
      swarmActive ? networkNames() : Promise.resolve(new Set<string>()),
      swarmActive ? existingSecrets() : Promise.resolve(new Set<string>()),
      swarmActive ? deployedState() : Promise.resolve<DeployedState>({ hashes: new Map(), services: new Map() }),
    ])
    out.step('prerequisites', `Docker Engine ${info.serverVersion} (API ${info.apiVersion}, ${facts.imageStore} image store), ${(info.memoryBytes / 1024 ** 3).toFixed(1)} GiB memory, ports ${ports.length ? [...new Set(ports)].join(', ') : '(none published)'} free or ours`)
    for (const warning of warnings) out.detail(`warning: ${warning}`)

    // 2. swarm: this engine's single node (labelled as the stacks' constraints expect), or the manager of the cluster activity.yml names
    const { provider } = config.cluster
    if (provider === 'local') {
      const swarm = await ensureSwarm(info, options.advertiseAddress)
      if (swarm.startsWith('initialised')) changed = true
      const labelled = await ensureNodeLabels({ [roleLabel]: 'manager', [storageLabel]: 'true' })
      if (labelled.length) changed = true
      out.step('swarm', `${swarm}${labelled.length ? `; labelled ${labelled.join(', ')}` : ''}`)
    } else {
      if (info.swarmState !== 'active' || !info.swarmManager) {
        throw new StepError('swarm', `activity.yml names a ${provider} cluster, and this engine${options.env.DOCKER_HOST ? ` (${options.env.DOCKER_HOST})` : ''} is not one of its managers`, `build it with activity cluster init, then point DOCKER_HOST at its first manager (e.g. DOCKER_HOST=ssh://root@${config.cluster.nodes[0]?.host ?? 'HOST'} npm run up)`)
      }
      out.step('swarm', `the ${provider} cluster of activity.yml (this engine is a manager${info.nodeAddress ? `, ${info.nodeAddress}` : ''}; its nodes are labelled by activity cluster init)`)
    }

    // 3. networks shared by the stacks
    const needs = stacks.map(externalNeeds)
    const networks = [...new Set(needs.flatMap((n) => n.networks))]
    const createdNetworks = await ensureNetworks(networks, existingNetworks)
    if (createdNetworks.length) changed = true
    out.step('networks', createdNetworks.length ? `created ${createdNetworks.join(', ')}${createdNetworks.length < networks.length ? '; the others exist' : ''}` : `${networks.join(', ')}: exist`)

    // 4. secrets: random when absent (or the user's, for a token); told in a file only this user can read, never printed
    const secrets = [...new Set(needs.flatMap((n) => n.secrets))]
    const created: string[] = []
    const notes = credentialsFile(options.env)
    for (const name of secrets.filter((s) => !existing.has(s))) {
      const spec = secretSpecs[name]
      if (!spec && alertSecrets(config.alerts).includes(name)) {
        throw new StepError('secrets', `${config.file}: an alert receiver reads the secret ${name}, which does not exist`, `create it with the credential (a webhook URL, a password): printf %s VALUE | docker secret create ${name} -`)
      }
      if (!spec) throw new StepError('secrets', `a stack needs the secret ${name}, which nothing here knows how to make`, `create it: printf %s VALUE | docker secret create ${name} -`)
      const { value, note } = spec.generate(options.env)
      await docker(['secret', 'create', '--label', `${platformLabel}=true`, name, '-'], { input: value })
      if (note) recordCredential(notes, name, note)
      created.push(name)
    }
    if (created.length) changed = true
    out.step('secrets', created.length ? `created ${created.join(', ')}${created.length < secrets.length ? '; the others exist' : ''}` : secrets.length ? `${secrets.join(', ')}: exist` : 'none needed')
    if (created.length) out.detail(`what you need to know about them (logins) is in ${notes}, readable only by you`)
    if (created.includes('github_token') && !options.env.GITHUB_TOKEN?.trim()) {
      out.detail('github_token is blank (GITHUB_TOKEN was not set): the github collector uses the REST API without a token, with fewer metrics; see the credentials file to set one')
    }

    // 5. the project's images, built from scripts/Dockerfile, then pushed to REGISTRY, or copied to the nodes of a cluster
    const images = imagesUsed(stacks, registry, tag)
    const builds: string[] = []
    for (const image of images) {
      const buildStarted = Date.now()
      const outcome = await buildImage(image, { root, registry, tag, nodeImage: options.nodeImage, npmExtraCaPem: profile.npmExtraCaPem ?? '', env: options.env, progress: (line) => out.detail(line) })
      if (outcome === 'built') {
        changed = true
        builds.push(`built ${imageName(registry, image, tag)} (${seconds(buildStarted)})`)
      } else builds.push(`${imageName(registry, image, tag)}: present`)
    }
    // A job may run on any node: every node pulls the images from REGISTRY, or gets them from here (docker save | ssh docker load).
    builds.push(...(await deliverImages(config.cluster, registry, images.map((image) => imageName(registry, image, tag)), options.env, (line) => out.detail(line))))
    out.step('images', builds.length ? builds.join('; ') : 'none needed')

    // 6. + 7. each stack in dependency order; a changed stack is deployed only once the stacks before it run
    if (await recordProfile(profile)) out.detail(`recorded how this swarm is deployed (${profileConfig}): gitops deploys the next commits the same way`)
    out.step('stacks', `deploying in order: ${stacks.map((s) => s.name).join(', ')}`)
    const states: ServiceState[] = []
    let blocked: string | undefined
    let waiting: ResolvedStack[] = []
    const deployedNow: string[] = []
    const settle = async (since: number) => {
      if (!waiting.length) return
      const batch = await waitForServices(
        waiting.flatMap((stack) => stack.services.map((s) => `${stack.name}_${s}`)),
        { timeoutMs: options.timeoutSeconds * 1000, since, progress: (line) => out.detail(`  ${line}`) },
      )
      waiting = []
      states.push(...batch)
      blocked ??= batch.find((s) => s.failed && s.kind !== 'job')?.name
    }
    for (const stack of stacks) {
      if (isUnchanged(stack, deployed)) {
        out.detail(`${stack.name}: unchanged`)
        waiting.push(stack)
        continue
      }
      await settle(Date.now())
      if (blocked) {
        out.detail(`${stack.name}: not deployed (${blocked} did not start)`)
        continue
      }
      const since = Date.now()
      await deployStack(stack, workDir, { withRegistryAuth: Boolean(registry) })
      deployedNow.push(stack.name)
      changed = true
      out.detail(`${stack.name}: deployed ${stack.services.length} service${stack.services.length === 1 ? '' : 's'} (${stack.services.join(', ')})`)
      waiting.push(stack)
      await settle(since)
    }
    await settle(Date.now())
    for (const name of emptied.filter((n) => deployed.services.has(n))) {
      await removeStack(name)
      changed = true
      out.detail(`${name}: removed (every service of it left out)`)
    }
    const ready = states.filter((s) => s.ready)
    out.step('converged', `${ready.length}/${states.length} services running or completed (${seconds(started)})`)
    if (deployedNow.length) await recordInLedger(started, deployedNow, states.filter((s) => s.failed || !s.ready), out)
    // Elasticsearch's index template, ILM and snapshot policies: installed where they differ, every up (seconds when nothing does).
    if (has(stacks, 'logs', 'elasticsearch') && !blocked) {
      try {
        for (const line of await runLogsSetup({ image: imageName(registry, 'gitops', tag), configText: readFileSync(options.configFile, 'utf8') })) out.detail(line)
      } catch (error) {
        out.detail(`warning: activity logs setup failed: ${(error as Error).message}; the visitors dashboards need it: run npm run up again once Elasticsearch answers`)
      }
    } else out.detail('logs setup: skipped, Elasticsearch is not deployed here')

    // What to open, and what the collectors found
    out.line()
    if (has(stacks, 'admin', 'traefik')) {
      out.line('open:')
      for (const endpoint of traefikUrls(stacks)) out.line(`  ${endpoint.url.padEnd(36)} ${endpoint.service}`)
      if (has(stacks, 'admin', 'grafana')) out.line(`  Grafana login: admin, password in ${notes} (or: docker exec $(docker ps -q -f name=admin_grafana) cat /run/secrets/grafana_admin_password)`)
    } else {
      out.line('open: Traefik is not deployed (--without), so no http://<name>.<domain> URL answers')
    }
    const direct = hostPorts(stacks)
    if (direct.length) {
      out.line('published on this host:')
      for (const endpoint of direct) out.line(`  ${endpoint.url.padEnd(36)} ${endpoint.service}`)
    }
    const collectorRuns = states.filter((s) => s.stack === 'collectors' && s.kind === 'job' && (s.ready || s.failed))
    if (states.some((s) => s.name === 'metrics_prometheus' && s.ready)) await printResults(collectorRuns, config, out)
    if (leftOut.length) out.line(`left out (--without): ${leftOut.join(', ')}: NOT DEPLOYED, NOT TESTED`)

    const failed = states.filter((s) => s.failed || !s.ready)
    for (const state of failed) {
      out.line(`FAILED ${state.name}: ${describe(state)}${state.problem ? `: ${state.problem}` : ''}`)
      for (const line of await lastLogLines(state.telling ?? state.name)) out.line(`    ${line}`)
    }
    out.line()
    if (failed.length) {
      throw new StepError('converged', `${failed.length} service${failed.length === 1 ? '' : 's'} did not run or complete: ${failed.map((s) => s.name).join(', ')}`, 'see npm run status and docker service logs NAME, fix, and run up again')
    }
    out.line(changed ? `up: the platform is up (${seconds(started)}). Stop it with npm run down; see it with npm run status.` : `up: nothing to change, the platform was already up (${seconds(started)})`)
    return { changed, states, stacks, seconds: (Date.now() - started) / 1000 }
  } finally {
    rmSync(workDir, { recursive: true, force: true })
  }
}

/**
 * This up as an entry of gitops' deploy ledger, left in the swarm for gitops to take in (gitops/inbox.ts): the commit of
 * this work tree, the stacks up deployed, their services as the swarm runs them. A failure to record is a warning.
 */
async function recordInLedger(started: number, stacks: string[], failed: ServiceState[], out: Output): Promise<void> {
  const head = runSync('git', ['-C', root, 'rev-parse', 'HEAD'])
  const dirty = runSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']).stdout.trim() !== ''
  const reasons = [...(failed.length ? [`did not run or complete: ${failed.map((s) => s.name).join(', ')}`] : []), ...(dirty ? ['deployed from a work tree with uncommitted changes'] : [])]
  try {
    await leaveUpEntry({
      commit: head.code === 0 ? head.stdout.trim() : 'unknown', trigger: 'up', stacks, services: await describeStacks(stacks),
      startedAt: new Date(started).toISOString(), endedAt: new Date().toISOString(), result: failed.length ? 'failed' : 'succeeded', ...(reasons.length ? { reason: reasons.join('; ') } : {}),
    })
    out.detail('recorded in the deploy ledger (activity deploys lists it once gitops runs)')
  } catch (error) {
    out.detail(`warning: not recorded in the deploy ledger: ${(error as Error).message}`)
  }
}

/** The first collector results, from the metrics Prometheus (waiting for its first scrape of the runs that just finished). */
async function printResults(runs: ServiceState[], config: ActivityConfig, out: Output): Promise<void> {
  const ran = new Set(runs.map((r) => r.name.replace(/^collectors_/, '')))
  const expected = config.sources.filter((s) => ran.has(s.name)).reduce((n, s) => n + s.targets.length, 0)
  // The metrics Prometheus scrapes the Pushgateway once a minute: a first run shows up within that.
  const deadline = Date.now() + 75_000
  let results = await collectorResults('metrics_prometheus')
  while (results && results.health.length < expected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000))
    results = await collectorResults('metrics_prometheus')
  }
  if (!results) {
    out.line('collector results: the metrics Prometheus does not run on this node; query it at prometheus.<domain>')
    return
  }
  if (!results.health.length) {
    out.line('collector results: none in Prometheus yet (no collector has run, or it has not scraped the Pushgateway since); see npm run status')
    return
  }
  const ok = results.health.filter((h) => h.ok).length
  out.line(`collector results (metrics Prometheus): ${ok}/${results.health.length} targets collected`)
  for (const h of results.health.filter((h) => !h.ok)) out.line(`  ${h.source} ${h.target}: last run FAILED`)
  for (const line of results.headlines) out.line(`  ${line}`)
}

function list(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean)
}

export function parseUpArgs(argv: string[], env: Record<string, string | undefined>): UpOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      overlay: { type: 'string', multiple: true },
      without: { type: 'string', multiple: true },
      'node-image': { type: 'string' },
      timeout: { type: 'string', default: '300' },
      'advertise-addr': { type: 'string', default: '127.0.0.1' },
      'endpoint-mode': { type: 'string' },
    },
  })
  const timeoutSeconds = Number(values.timeout)
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) throw new StepError('options', `--timeout ${values.timeout} is not a number of seconds`, 'e.g. --timeout 300')
  const endpointMode = values['endpoint-mode']
  if (endpointMode !== undefined && endpointMode !== 'vip' && endpointMode !== 'dnsrr') throw new StepError('options', `--endpoint-mode ${endpointMode} is not vip or dnsrr`, 'use --endpoint-mode dnsrr where the engine has no IPVS')
  return {
    configFile: values.config ?? env.ACTIVITY_CONFIG ?? join(root, 'activity.yml'),
    overlays: values.overlay ?? [],
    without: list(values.without),
    nodeImage: values['node-image'],
    timeoutSeconds,
    advertiseAddress: values['advertise-addr']!,
    endpointMode,
    env,
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await runScript('up', async () => {
    const options = parseUpArgs(process.argv.slice(2), process.env)
    process.stdout.write('activity up: the platform on a single-node swarm of the local Docker Engine\n')
    await up(options, createOutput(7))
    return 0
  })
}
