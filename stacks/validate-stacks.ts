// The stack files in stacks/, base and profile overlays: YAML, pinned images, declared configs, secrets and networks,
// no secret in plain environment variables, published ports; then `docker stack config` over each.
import { existsSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { oneLine } from '../collectors/runtime/errors.ts'
import { configHashVariable, isMapping, networkSpecs, secretSpecs, section, stackFiles, type StackName } from './stacks.ts'
import { listOf, parseYaml, type Mapping, type ParsedFile, type Validation } from './validate-core.ts'
import { cadvisorProblems, plainHttpProblems, storeProblems, type PlacementPolicy } from './validate-placement.ts'
import { deployEnv, dockerStackConfig } from './validate-stack-config.ts'

/** What the repository allows that the checks would otherwise refuse (stacks/validate.ts keeps it, with the reasons). */
export interface StackPolicy extends PlacementPolicy {
  /** Images that may go without a version tag, and why. */
  unpinnedImageExemptions: Record<string, string>
  /** The only ports published on the nodes, by <stack>/<service>. */
  publishedPortsAllowed: Record<string, number[]>
}

const secretLikeVariable = /(PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|PRIVATE_KEY)/i

/** Why an image reference is not pinned, or undefined when it is (or is exempt). */
export function imageProblem(image: string, exemptions: Record<string, string>): string | undefined {
  if (image.includes('@sha256:')) return undefined
  if (exemptions[image]) return undefined
  const lastSlash = image.lastIndexOf('/')
  const colon = image.indexOf(':', lastSlash + 1)
  if (colon < 0) return `image ${image} has no tag: pin a version, e.g. ${image}:1.2.3`
  const tag = image.slice(colon + 1)
  if (tag === 'latest') return `image ${image} uses :latest: pin a version`
  if (!/\d/.test(tag)) return `image ${image} has the floating tag :${tag}: pin a version (or add an exemption with its reason in stacks/validate.ts)`
  return undefined
}

export class InterpolationError extends Error {}

/** Compose-style ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, $VAR and $$. */
export function interpolate(text: string, env: Record<string, string | undefined>): string {
  return text.replace(/\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (match, braced, op, arg, bare) => {
    if (match === '$$') return '$'
    const name = (braced ?? bare) as string
    const value = env[name]
    const unset = value === undefined
    const empty = unset || value === ''
    switch (op as string | undefined) {
      case ':-':
        return empty ? (arg as string) : value!
      case '-':
        return unset ? (arg as string) : value!
      case ':?':
        if (empty) throw new InterpolationError(`${name} is required: ${arg}`)
        return value!
      case '?':
        if (unset) throw new InterpolationError(`${name} is required: ${arg}`)
        return value!
      default:
        return value ?? ''
    }
  })
}

function lineOf(file: ParsedFile, path: (string | number)[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth ? file.doc.getIn(path.slice(0, depth), true) : file.doc.contents
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range
    if (range) return file.lines.linePos(range[0]).line
  }
  return undefined
}

/** The source names of a service's configs: or secrets: list (short or long syntax). */
function referenced(value: unknown): string[] {
  return listOf(value)
    .map((entry) => (typeof entry === 'string' ? entry : isMapping(entry) && typeof entry.source === 'string' ? entry.source : undefined))
    .filter((name): name is string => name !== undefined)
}

function environmentOf(value: unknown): [string, string][] {
  if (isMapping(value)) return Object.entries(value).map(([k, v]) => [k, v === null || v === undefined ? '' : String(v)])
  return listOf(value)
    .filter((entry): entry is string => typeof entry === 'string')
    .map((entry) => {
      const at = entry.indexOf('=')
      return at < 0 ? [entry, ''] : [entry.slice(0, at), entry.slice(at + 1)]
    })
}

/** Published host ports of a service's ports: list (short or long syntax), after interpolation. */
function publishedPorts(value: unknown, env: Record<string, string | undefined>): string[] {
  const published: string[] = []
  for (const entry of listOf(value)) {
    if (isMapping(entry)) {
      if (entry.published !== undefined) published.push(interpolate(String(entry.published), env))
      else published.push(`(any) -> ${String(entry.target)}`)
    } else if (typeof entry === 'string' || typeof entry === 'number') {
      const parts = interpolate(String(entry), env).replace(/\/(tcp|udp|sctp)$/, '').split(':')
      // "80" publishes on a random host port; "8080:80" and "127.0.0.1:8080:80" on 8080.
      published.push(parts.length === 1 ? `(any) -> ${parts[0]}` : parts[parts.length - 2]!)
    }
  }
  return published
}

/** One stack: its base file and each profile's overlay, on their own and through docker stack config. */
export function checkStack(v: Validation, stack: StackName, profiles: string[], policy: StackPolicy): void {
  const base = stackFiles(stack, { root: v.root, profiles: [] })[0]!
  const overlays = profiles
    .map((profile) => ({ profile, files: stackFiles(stack, { root: v.root, profiles: [profile] }) }))
    .filter((p) => p.files.length > 1)
    .map((p) => ({ profile: p.profile, path: p.files[1]! }))
  const parsedBase = parseYaml(v, base)
  const parsedOverlays = overlays.map((o) => ({ ...o, parsed: parseYaml(v, o.path) }))
  if (!parsedBase || parsedOverlays.some((o) => !o.parsed)) return
  if (!isMapping(parsedBase.data) || !isMapping(parsedBase.data.services)) {
    v.report(base, 'services: is missing: a stack file lists its services under services:')
    return
  }
  checkStackFile(v, stack, parsedBase, undefined, [], policy)
  for (const overlay of parsedOverlays) checkStackFile(v, stack, overlay.parsed!, parsedBase, [overlay.profile], policy)

  dockerStackConfig(v, stack, [base], [])
  for (const overlay of overlays) dockerStackConfig(v, stack, [base, overlay.path], [overlay.profile])
  v.checked.push(`stacks/${stack}.yml${overlays.length ? ` (+${overlays.map((o) => o.profile).join(', ')})` : ''}`)
}

/** What a service may refer to: the deploy's environment, and the configs, secrets and services of its file and base. */
interface StackContext {
  stack: StackName
  file: ParsedFile
  env: Record<string, string | undefined>
  declaredConfigs: Set<string>
  declaredSecrets: Set<string>
  /** Named volumes declared by the file or its base (top-level volumes:). */
  namedVolumes: Set<string>
  baseServices: Mapping
  policy: StackPolicy
}

function checkStackFile(v: Validation, stack: StackName, file: ParsedFile, base: ParsedFile | undefined, profiles: string[], policy: StackPolicy): void {
  let env: Record<string, string | undefined>
  try {
    env = deployEnv(v, stack, profiles)
  } catch (error) {
    v.report(file.path, oneLine(error))
    return
  }
  const context: StackContext = {
    stack,
    file,
    env,
    declaredConfigs: new Set([...Object.keys(section(base?.data, 'configs')), ...Object.keys(section(file.data, 'configs'))]),
    declaredSecrets: new Set([...Object.keys(section(base?.data, 'secrets')), ...Object.keys(section(file.data, 'secrets'))]),
    namedVolumes: new Set([...Object.keys(section(base?.data, 'volumes')), ...Object.keys(section(file.data, 'volumes'))]),
    baseServices: section(base?.data, 'services'),
    policy,
  }
  for (const [name, service] of Object.entries(section(file.data, 'services'))) {
    if (!isMapping(service)) v.report(file.path, `services.${name}: must be a mapping`, lineOf(file, ['services', name]))
    else checkService(v, context, name, service)
  }
  checkConfigDeclarations(v, stack, file)
  checkSecretDeclarations(v, file)
  checkNetworkDeclarations(v, file)
}

function checkService(v: Validation, context: StackContext, name: string, service: Mapping): void {
  const { file, env } = context
  const at = (...path: (string | number)[]) => lineOf(file, ['services', name, ...path])
  if (typeof service.image === 'string') {
    try {
      const problem = imageProblem(interpolate(service.image, env), context.policy.unpinnedImageExemptions)
      if (problem) v.report(file.path, `services.${name}: ${problem}`, at('image'))
    } catch (error) {
      v.report(file.path, `services.${name}.image: ${oneLine(error)}`, at('image'))
    }
  } else if (!(name in context.baseServices)) {
    v.report(file.path, `services.${name}: has no image`, at())
  }
  referenced(service.configs).forEach((source, index) => {
    if (!context.declaredConfigs.has(source)) v.report(file.path, `services.${name}.configs: '${source}' is not declared under configs:`, at('configs', index))
  })
  referenced(service.secrets).forEach((source, index) => {
    if (!context.declaredSecrets.has(source)) v.report(file.path, `services.${name}.secrets: '${source}' is not declared under secrets:`, at('secrets', index))
  })
  environmentOf(service.environment).forEach(([variable, value], index) => {
    if (secretLikeVariable.test(variable) && !/_FILE$/.test(variable) && value !== '') {
      const line = isMapping(service.environment) ? at('environment', variable) : at('environment', index)
      v.report(file.path, `services.${name}.environment.${variable}: looks like a secret in plain text; mount a Swarm secret and pass ${variable.replace(/_+$/, '')}_FILE instead`, line)
    }
  })
  checkPorts(v, context, name, service, at)
  const interpolated = (text: string) => {
    try {
      return interpolate(text, env)
    } catch {
      return text // reported with the image or ports
    }
  }
  for (const problem of plainHttpProblems(context.stack, name, service, context.policy)) v.report(file.path, problem.message, at(...problem.at))
  for (const problem of storeProblems(context.stack, name, service, context.namedVolumes, context.policy, interpolated)) v.report(file.path, problem, at('deploy', 'placement'))
  for (const problem of cadvisorProblems(name, service)) v.report(file.path, problem, at('command'))
}

function checkPorts(v: Validation, context: StackContext, name: string, service: Mapping, at: (...path: (string | number)[]) => number | undefined): void {
  const allowed = context.policy.publishedPortsAllowed[`${context.stack}/${name}`] ?? []
  listOf(service.ports).forEach((entry, index) => {
    let published: string[] = []
    try {
      published = publishedPorts([entry], context.env)
    } catch (error) {
      v.report(context.file.path, `services.${name}.ports: ${oneLine(error)}`, at('ports', index))
    }
    for (const port of published) {
      if (!allowed.includes(Number(port))) {
        v.report(context.file.path, `services.${name}.ports: publishes ${port}; only Traefik publishes ports (80, 443), route it through Traefik instead`, at('ports', index))
      }
    }
  })
}

/** Each file-backed config exists, and its name is content-hashed so that a changed file becomes a new config. */
function checkConfigDeclarations(v: Validation, stack: StackName, file: ParsedFile): void {
  for (const [key, declaration] of Object.entries(section(file.data, 'configs'))) {
    const at = lineOf(file, ['configs', key])
    if (!isMapping(declaration)) {
      v.report(file.path, `configs.${key}: must be a mapping with name: and file:`, at)
      continue
    }
    if (declaration.external === true) continue
    if (typeof declaration.file !== 'string') {
      v.report(file.path, `configs.${key}: has no file:`, at)
      continue
    }
    const content = resolve(dirname(file.path), declaration.file)
    if (!existsSync(content) || !statSync(content).isFile()) {
      v.report(file.path, `configs.${key}: file ${declaration.file} does not exist (${v.rel(content)})`, lineOf(file, ['configs', key, 'file']))
    }
    const variable = configHashVariable(stack, key)
    const expected = new RegExp(`^${stack}_${key}_\\$\\{${variable}(:\\?[^}]*)?\\}$`)
    if (typeof declaration.name !== 'string' || !expected.test(declaration.name)) {
      v.report(
        file.path,
        `configs.${key}: name must be ${stack}_${key}_\${${variable}:?...} (content-hashed, so that a changed file becomes a new config)`,
        lineOf(file, ['configs', key, 'name']),
      )
    }
  }
}

function checkSecretDeclarations(v: Validation, file: ParsedFile): void {
  for (const [key, declaration] of Object.entries(section(file.data, 'secrets'))) {
    const at = lineOf(file, ['secrets', key])
    if (!isMapping(declaration) || declaration.external !== true) {
      v.report(file.path, `secrets.${key}: declare it external: true; secrets are created by scripts/up, never files in the repository`, at)
      continue
    }
    const name = typeof declaration.name === 'string' ? declaration.name : key
    if (!secretSpecs[name]) v.report(file.path, `secrets.${key}: unknown secret ${name}; add it to secretSpecs in stacks/stacks.ts so scripts/up can create it`, at)
  }
}

function checkNetworkDeclarations(v: Validation, file: ParsedFile): void {
  for (const [key, declaration] of Object.entries(section(file.data, 'networks'))) {
    if (!isMapping(declaration) || declaration.external !== true) continue
    const name = typeof declaration.name === 'string' ? declaration.name : key
    if (!networkSpecs[name]) {
      v.report(file.path, `networks.${key}: unknown external network ${name}; add it to networkSpecs in stacks/stacks.ts so scripts/up creates it`, lineOf(file, ['networks', key]))
    }
  }
}
