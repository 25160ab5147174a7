// The projects: section of activity.yml: which targets of which sources make one project. Every series of a target
// carries its project as the `project` label (a target in no project is its own project, named by its id).
import * as v from 'valibot'
import type { SectionAt } from './activity-yml-cluster.ts'
import type { AnyCollector, Target } from './define.ts'
import { check } from './schema.ts'

export interface ProjectsConfig {
  /** Project names in file order, each with its targets per source (target ids, as the sources parse them). */
  projects: { name: string; targets: Record<string, string[]> }[]
}

/** The sources as the loader parsed them: what a project may name. */
interface ConfiguredSource {
  name: string
  collector: AnyCollector
  targets: Target[]
}

const projectName = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/**
 * Parses `projects:` against the sources of the same file and sets `project` on each target it names. Refused, in one
 * line naming file, line and field: a project that is not a mapping or is empty, a source the file does not configure,
 * a target its source does not list, a target in two projects.
 */
export function parseProjects(at: SectionAt, value: unknown, sources: ConfiguredSource[]): ProjectsConfig {
  if (value === undefined || value === null) return { projects: [] }
  if (typeof value !== 'object' || Array.isArray(value)) throw at.error(['projects'], 'must be a mapping of project names to their targets', 'e.g. projects: {prometheus: {github: [prometheus], dockerhub: [prom]}}')
  const configured = sources.map((s) => s.name).join(', ')
  const owner = new Map<string, { project: string; field: string }>()
  const projects: ProjectsConfig['projects'] = []
  for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
    if (!projectName.test(name)) throw at.error(['projects', name], `'${name}' is not a project name`, 'use letters, digits, dots, dashes and underscores (it becomes the project label)', true)
    if (entry === null || entry === undefined || (typeof entry === 'object' && !Array.isArray(entry) && Object.keys(entry).length === 0)) {
      throw at.error(['projects', name], 'is an empty project', `list its targets per source, e.g. ${sources[0]?.name ?? 'github'}: [${sources[0]?.collector.example ?? 'prometheus'}]; or remove it`, true)
    }
    if (typeof entry !== 'object' || Array.isArray(entry)) throw at.error(['projects', name], 'must be a mapping of sources to their targets', `e.g. ${sources[0]?.name ?? 'github'}: [${sources[0]?.collector.example ?? 'prometheus'}]`)
    const targets: Record<string, string[]> = {}
    for (const [sourceName, list] of Object.entries(entry as Record<string, unknown>)) {
      const source = sources.find((s) => s.name === sourceName)
      if (!source) throw at.error(['projects', name, sourceName], `'${sourceName}' is not a source of this file`, `name one of the sources under sources: (${configured})`, true)
      const items = check(v.pipe(v.array(v.unknown()), v.minLength(1)), list)
      if (!items.ok) throw at.error(['projects', name, sourceName], 'must be a non-empty list of targets of that source', `e.g. ${sourceName}: [${source.collector.example}]`)
      targets[sourceName] = []
      items.value.forEach((raw, index) => {
        const field = `projects.${name}.${sourceName}[${index}]`
        const parsed = check(source.collector.targets, raw)
        const target = parsed.ok ? source.targets.find((t) => t.id === parsed.value.id) : undefined
        if (!target) throw at.error(['projects', name, sourceName, index], `'${String(raw)}' is not a target of sources.${sourceName}`, `add it to sources.${sourceName}.targets, or remove it here`)
        const key = `${sourceName}\u0000${target.id}`
        const earlier = owner.get(key)
        if (earlier) throw at.error(['projects', name, sourceName, index], `'${target.id}' is already in project '${earlier.project}' (${earlier.field})`, 'a target belongs to one project: remove it from one of them')
        owner.set(key, { project: name, field })
        target.project = name
        targets[sourceName]!.push(target.id)
      })
    }
    projects.push({ name, targets })
  }
  return { projects }
}
