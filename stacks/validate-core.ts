// The bookkeeping every check of `activity validate` shares: the problems in the order the checks started (some come
// later, from a program still running), the temporary folders, the programs found, and the few helpers the checks of
// stack files, config files and Grafana all use.
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { LineCounter, parse, parseDocument, type Document } from 'yaml'
import type { DockerClient } from './docker-client.ts'
import { lastLine, run, type Ran, type RunOptions } from './programs.ts'

export interface Problem {
  /** Relative to the repository root. */
  file: string
  line?: number
  message: string
}

export function formatProblem(problem: Problem): string {
  return `${problem.file}${problem.line ? `:${problem.line}` : ''}: ${problem.message}`
}

export interface Tools {
  docker: DockerClient
  promtool?: string
  nginx?: string
}

export interface ParsedFile {
  /** Absolute path. */
  path: string
  /** Relative to the root, for messages. */
  name: string
  doc: Document
  lines: LineCounter
  data: unknown
}

/** Answers of the programs, by the digest of their inputs (see Validation.later). */
const answers = new Map<string, Promise<Problem[]>>()

export class Validation {
  /** Problems in the order the checks were started, whether they came at once or from a program still running. */
  private readonly slots: (Problem[] | Promise<Problem[]>)[] = []
  readonly checked: string[] = []
  private readonly temp: string[] = []

  constructor(
    readonly root: string,
    readonly env: NodeJS.ProcessEnv,
    readonly tools: Tools,
  ) {}

  rel(path: string): string {
    return relative(this.root, path) || path
  }

  problem(file: string, message: string, line?: number): Problem {
    return { file: this.rel(resolve(this.root, file)), line, message }
  }

  report(file: string, message: string, line?: number): void {
    this.slots.push([this.problem(file, message, line)])
  }

  /**
   * A check whose problems come later (a program runs); they keep their place in the report. The answer is kept
   * for the same inputs (file paths and contents, arguments), so validating commit after commit, or copy after copy,
   * runs each program only on what changed.
   */
  later(inputs: (string | { file: string })[], check: () => Promise<Problem[]>): void {
    // Paths count relative to the root: a copy of the repository is the same input.
    const key = createHash('sha256')
    for (const input of inputs) {
      if (typeof input === 'string') key.update(`\0${input}`)
      else key.update(`\0${this.rel(input.file)}\0`).update(existsSync(input.file) ? readFileSync(input.file) : 'missing')
    }
    const digest = key.digest('hex')
    let answer = answers.get(digest)
    if (!answer) {
      answer = check()
      answers.set(digest, answer)
      if (answers.size > 1000) answers.delete(answers.keys().next().value!)
    }
    this.slots.push(answer.then((problems) => problems.map((p) => ({ ...p }))))
  }

  async problems(): Promise<Problem[]> {
    return (await Promise.all(this.slots)).flat()
  }

  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), `activity-validate-${prefix}-`))
    this.temp.push(dir)
    return dir
  }

  cleanup(): void {
    for (const dir of this.temp) rmSync(dir, { recursive: true, force: true })
  }
}

/** A YAML file with its line numbers; a file that cannot be read or parsed is reported, and gives undefined. */
export function parseYaml(v: Validation, path: string): ParsedFile | undefined {
  const lines = new LineCounter()
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    v.report(path, `cannot be read (${(error as NodeJS.ErrnoException).code})`)
    return undefined
  }
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true })
  if (doc.errors.length) {
    const first = doc.errors[0]!
    v.report(path, `YAML: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`, first.linePos?.[0]?.line)
    return undefined
  }
  return { path, name: v.rel(path), doc, lines, data: doc.toJS() }
}

// -- running the checking programs ----------------------------------------------------------------------------------

/**
 * A checking program's end, in the terms its problem messages are written in: `status` is null when the program was
 * killed (a timeout) or could not start, and then `error` says why the way Node's spawn does ("spawn nginx ENOENT").
 */
export interface Ended {
  status: number | null
  stdout: string
  stderr: string
  error?: { message: string }
}

/** Why the shell could not start the program (spawn's error code), or undefined when it ran. */
function notStarted(program: string, ran: Ran): 'ENOENT' | 'EACCES' | undefined {
  const said = lastLine(ran.stderr)
  if (ran.missing || (ran.code === 127 && said.endsWith(`${program}: No such file or directory`))) return 'ENOENT'
  if (ran.code === 126 && said.endsWith(`${program}: Permission denied`)) return 'EACCES'
  return undefined
}

/** Runs a checking program to its end with programs.ts (the checks run side by side); killed after 2 minutes by default. */
export async function runChecker(program: string, args: string[], options: RunOptions = {}): Promise<Ended> {
  const ran = await run(program, args, { timeoutMs: 120_000, ...options })
  const failure = notStarted(program, ran)
  if (failure) return { status: null, stdout: '', stderr: '', error: { message: `spawn ${program} ${failure}` } }
  // 128 + a signal's number: killed (the timeout), which has no exit status.
  const killed = ran.code > 128 && ran.code < 160
  return { status: killed ? null : ran.code, stdout: ran.stdout, stderr: ran.stderr }
}

// -- small helpers ----------------------------------------------------------------------------------------------------

export type Mapping = Record<string, unknown>

export function listOf(value: unknown): unknown[] {
  return Array.isArray(value) ? value : []
}

export function unique<T>(items: T[]): T[] {
  return [...new Set(items)]
}

export function parseQuietly(file: string): unknown {
  try {
    return parse(readFileSync(file, 'utf8'))
  } catch {
    return undefined // reported by parses()
  }
}

export function filesUnder(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...filesUnder(path))
    else out.push(path)
  }
  return out
}
