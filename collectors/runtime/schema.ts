// Input from outside (activity.yml, API answers, stores files, manifests) checked against a valibot schema: the first
// problem as a path and a few words, for the one-line errors the edges print.
import * as v from 'valibot'

/** A schema whose output is T, whatever it accepts. */
export type Schema<T = unknown> = v.GenericSchema<unknown, T>

export type Path = (string | number)[]

export interface Problem {
  /** Keys from the top of the input down to the field. */
  path: Path
  /** What is wrong: the schema's own words, or "expected array, received string". */
  message: string
  /** The field is absent. */
  missing: boolean
  /** The field (the path's last key) is not one the schema allows. */
  unknown: boolean
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problem: Problem }

/** How a value looks, in the words of a type error: string, number, array, null, ... */
function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  return typeof value
}

type Issue = v.BaseIssue<unknown>

/** How far a branch of a union got: deeper into the value, or at the same depth past the type (a failed check). */
const progressOf = (issue: Issue) => (issue.path?.length ?? 0) * 2 + (issue.kind === 'validation' ? 1 : 0)

/** A union no branch took: the branch that got furthest says what is wrong. Its path is relative to the union's. */
function furthest(union: Issue): { issue: Issue; prefix: Path } {
  let issue = union
  let prefix: Path = []
  while (issue.type === 'union' && issue.issues?.length) {
    prefix = [...prefix, ...(issue.path ?? []).map((item) => item.key as string | number)]
    issue = issue.issues.reduce((best, candidate) => (progressOf(candidate) > progressOf(best) ? candidate : best))
  }
  return { issue, prefix }
}

export function problemOf(first: Issue): Problem {
  const { issue, prefix } = first.type === 'union' ? furthest(first) : { issue: first, prefix: [] }
  const path = [...prefix, ...(issue.path ?? []).map((item) => item.key as string | number)]
  const last = issue.path?.[issue.path.length - 1]
  const unknown = issue.expected === 'never' && last?.origin === 'key'
  const missing = !unknown && issue.input === undefined
  // valibot's own type errors ("Invalid type: Expected Array but received "x"") in the words the rest of the messages use.
  const message = issue.message.startsWith('Invalid type: ') || issue.message.startsWith('Invalid key: ') ? `expected ${(issue.expected ?? '').toLowerCase()}, received ${kindOf(issue.input)}` : issue.message
  return { path, message, missing, unknown }
}

/** The value as the schema makes it, or the first problem with it. */
export function check<T>(schema: Schema<T>, input: unknown): Checked<T> {
  const result = v.safeParse(schema, input)
  return result.success ? { ok: true, value: result.output } : { ok: false, problem: problemOf(result.issues[0]) }
}

/** The value as the schema makes it, for input that cannot be wrong (a collector's default options); throws otherwise. */
export function parse<T>(schema: Schema<T>, input: unknown): T {
  const checked = check(schema, input)
  if (!checked.ok) throw new Error(`${checked.problem.path.join('.') || '(value)'}: ${checked.problem.message}`)
  return checked.value
}

/** "allowed: a, b, c": the fields of the mapping that holds the problem's field, '' when it is not in one. */
export function allowedFor(schema: unknown, problem: Problem): string {
  const fields = fieldsOf(schemaAt(schema, problem.path.slice(0, -1)))
  return fields.length ? `allowed: ${fields.join(', ')}` : ''
}

/** Object fields of a schema, through optional, nullable, default and pipe wrappers; [] when it is not an object. */
function fieldsOf(schema: unknown): string[] {
  const inner = unwrapped(schema) as { entries?: Record<string, unknown>; options?: unknown[] }
  // A union of a name or a mapping (a node): the mapping's fields.
  const mapping = inner.entries ? inner : (inner.options?.map(unwrapped).find((option) => (option as { entries?: unknown }).entries) as { entries?: Record<string, unknown> } | undefined)
  return mapping?.entries ? Object.keys(mapping.entries) : []
}

function unwrapped(schema: unknown): unknown {
  let current = schema as { wrapped?: unknown }
  while (current.wrapped) current = current.wrapped as { wrapped?: unknown }
  return current
}

/** The schema at a path inside another (for the fields allowed in a nested mapping); at a union, the branch for that kind of key. */
function schemaAt(schema: unknown, path: Path): unknown {
  let current = schema
  for (const key of path) {
    current = unwrapped(current)
    const node = current as { type?: string; options?: unknown[]; entries?: Record<string, unknown>; item?: unknown }
    if (node.type === 'union' && node.options) {
      current = node.options.map(unwrapped).find((option) => (typeof key === 'number' ? (option as { item?: unknown }).item : (option as { entries?: unknown }).entries)) ?? node.options[0]
    }
    const branch = unwrapped(current) as { entries?: Record<string, unknown>; item?: unknown }
    if (typeof key === 'number' && branch.item) current = branch.item
    else if (typeof key === 'string' && branch.entries && key in branch.entries) current = branch.entries[key]
    else return current
  }
  return current
}
