// One way to run a program (docker, git, promtool, nginx, pg_dump, ssh, ...): zx's $, quiet and without throwing, so
// that each caller decides what an exit code means. ProgramError is the one-line failure: the command, its exit code
// and the last line it printed on stderr.
import { spawnSync } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import { $, type Duration, type Options, type ProcessPromise } from 'zx'
import { ActivityError } from '../collectors/runtime/errors.ts'

export interface RunOptions {
  cwd?: string
  /** The whole environment of the program (default: this process's). */
  env?: NodeJS.ProcessEnv
  /** Text written to the program's standard input (none: it reads an empty input). */
  input?: string
  /** Killed (SIGTERM) after this long. */
  timeoutMs?: number
}

export interface Ran {
  /** The exit code; 127 when the program is not installed, 128 + the signal's number when it was killed. */
  code: number
  stdout: string
  stderr: string
  /** The program is not on PATH. */
  missing: boolean
}

/** A program that failed: the command, its exit code, and the last line it printed on stderr (or what to do). */
export class ProgramError extends ActivityError {
  constructor(
    readonly program: string,
    problem: string,
    fix: string,
  ) {
    super(program, problem, fix)
  }
}

const signals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }

/**
 * zx's options for one program: quiet, never throwing. No input: the program reads an empty one, as a command run from
 * a script with </dev/null would (a started program's input is the caller's stream). The timeout is zx's timer for
 * the asynchronous runs and spawnSync's own for runSync, which the timer cannot interrupt.
 */
function zxOptions(options: RunOptions, stdin: 'pipe' | 'ignore' = options.input === undefined ? 'ignore' : 'pipe'): Partial<Options> {
  return {
    quiet: true,
    nothrow: true,
    stdio: [stdin, 'pipe', 'pipe'],
    cwd: options.cwd,
    env: options.env ?? process.env,
    input: options.input,
    timeout: options.timeoutMs === undefined ? undefined : (`${options.timeoutMs}ms` as Duration),
    ...(options.timeoutMs === undefined ? {} : { spawnSync: ((command, args, spawnOptions) => spawnSync(command, args, { ...spawnOptions, timeout: options.timeoutMs })) as typeof spawnSync }),
  }
}

/** What a finished program said: its exit code (128 + the signal's number when killed) and output. */
function ranOf(program: string, out: { exitCode: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }): Ran {
  const code = out.exitCode ?? 128 + (signals[out.signal ?? ''] ?? 0)
  return { code, stdout: out.stdout, stderr: out.stderr, missing: isMissing(program, code, out.stderr) }
}

/** Whether a run's exit says the shell did not find the program. */
function isMissing(program: string, code: number, stderr: string): boolean {
  return code === 127 && stderr.includes(`${program}: command not found`)
}

/** Runs `program args` to completion; never throws. */
export async function run(program: string, args: readonly string[], options: RunOptions = {}): Promise<Ran> {
  return ranOf(program, await $(zxOptions(options))`${program} ${args}`)
}

/** The same run, synchronous: for code paths that are synchronous themselves (rendering a stack file). */
export function runSync(program: string, args: readonly string[], options: RunOptions = {}): Ran {
  return ranOf(program, $.sync(zxOptions(options))`${program} ${args}`)
}

/**
 * Runs `program args` and hands each line it prints (stdout and stderr) to `onLine` as it comes, for progress; resolves
 * with the exit code and the last 4,000 characters it printed.
 */
export async function runLines(program: string, args: readonly string[], onLine: (line: string) => void, options: RunOptions = {}): Promise<Ran & { tail: string }> {
  const child = $(zxOptions(options))`${program} ${args}`
  let tail = ''
  let partial = ''
  const take = (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split(/\r?\n/)
    partial = lines.pop() ?? ''
    for (const line of lines) {
      tail = (tail + line + '\n').slice(-4000)
      onLine(line)
    }
  }
  child.stdout.on('data', take)
  child.stderr.on('data', take)
  const out = await child
  if (partial) onLine(partial)
  return { ...ranOf(program, out), tail: tail + partial }
}

/** zx keeps everything a program prints; a streamed program's output can be gigabytes, so only stderr's end is kept. */
class Discarded<T> extends Array<T> {
  override push(): number {
    return 0
  }
}
class LastChunks<T> extends Array<T> {
  override push(...chunks: T[]): number {
    super.push(...chunks)
    if (this.length > 16) this.splice(0, this.length - 16)
    return this.length
  }
}

/**
 * A program whose input and output the caller streams itself (zstd over a backup, git http-backend behind an HTTP
 * request): awaiting it gives the exit code and the end of stderr; its stdout is only the stream.
 */
export function start(program: string, args: readonly string[], options: Omit<RunOptions, 'input'> = {}): ProcessPromise & { stdin: Writable; stdout: Readable } {
  const store = { stdout: new Discarded<string | Buffer>(), stderr: new LastChunks<string | Buffer>(), stdall: new Discarded<string | Buffer>() }
  return $({ ...zxOptions(options, 'pipe'), store })`${program} ${args}`
}

/** Whether a started program's end says it is not installed. */
export function notFound(program: string, code: number | null, stderr: string): boolean {
  return isMissing(program, code ?? 0, stderr)
}

/** The last line a program printed, trimmed; `skip` leaves out lines that say nothing (ssh's host-key notices). */
export function lastLine(text: string, skip?: RegExp): string {
  return text.trim().split('\n').filter((line) => line.trim() && !skip?.test(line)).pop()?.trim() ?? ''
}
