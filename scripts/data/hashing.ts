// sha256 of files on every core: one core hashes about 1.5 GB/s (with the CPU's SHA instructions), slower than the disk
// copy a backup is measured against, so a backup's and a restore's checksums run on a pool of worker threads.
import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/** A file's size and sha256, as hashed (and copied) in one pass. */
export interface Written {
  size: number
  sha256: string
}

/** What hashThrough uses of Node, passed in so that the function's own text also runs in a worker. */
interface HashDeps {
  createHash: typeof createHash
  openSync: typeof openSync
  readSync: typeof readSync
  writeSync: typeof writeSync
  closeSync: typeof closeSync
}

const deps: HashDeps = { createHash, openSync, readSync, writeSync, closeSync }

/**
 * One read of `source` through `buffer`, hashed, and written to `target` (a new file) when there is one; `report`
 * hears the bytes read so far every 2 s. Workers run this function's own text, so it uses only its parameters.
 */
function hashThrough(deps: HashDeps, buffer: Buffer, source: string, target: string | undefined, report: (bytes: number) => void): Written {
  const hash = deps.createHash('sha256')
  const input = deps.openSync(source, 'r')
  let output: number | undefined
  let size = 0
  let last = Date.now()
  try {
    if (target !== undefined) output = deps.openSync(target, 'wx')
    for (let read = deps.readSync(input, buffer, 0, buffer.length, null); read > 0; read = deps.readSync(input, buffer, 0, buffer.length, null)) {
      hash.update(buffer.subarray(0, read))
      if (output !== undefined) for (let done = 0; done < read; ) done += deps.writeSync(output, buffer, done, read - done)
      size += read
      if (Date.now() - last >= 2000) {
        last = Date.now()
        report(size)
      }
    }
  } finally {
    deps.closeSync(input)
    if (output !== undefined) deps.closeSync(output)
  }
  return { size, sha256: hash.digest('hex') }
}

/** One buffer for all reads on this thread: in the VMs these run on, allocating fresh memory for every read cost more than the copy. */
const buffer = Buffer.allocUnsafeSlow(1 << 20)

/** The size and sha256 of a file as it is on disk, on this thread. */
export function hashHere(path: string, report: (bytes: number) => void = () => {}): Written {
  return hashThrough(deps, buffer, path, undefined, report)
}

// tsx (keepNames) names inner functions through __name, which a worker does not have: the first line stands in for it.
const workerSource = `
const __name = (fn) => fn
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const { closeSync, openSync, readSync, writeSync } = require('node:fs')
const hashThrough = ${hashThrough.toString()}
const deps = { createHash, openSync, readSync, writeSync, closeSync }
const buffer = Buffer.allocUnsafeSlow(1 << 20)
parentPort.on('message', ({ id, source, target }) => {
  try {
    const { size, sha256 } = hashThrough(deps, buffer, source, target, (bytes) => parentPort.postMessage({ id, progress: bytes }))
    parentPort.postMessage({ id, size, sha256 })
  } catch (error) {
    parentPort.postMessage({ id, error: { message: error.message, code: error.code } })
  }
})
`

export interface HashPool {
  /** How many files it hashes at once. */
  readonly threads: number
  /** The size and sha256 of a file as it is on disk; `onProgress` hears the bytes read so far, every 2 s. */
  hash(path: string, onProgress?: (bytes: number) => void): Promise<Written>
  /** Copies `source` to `target` (a new file), hashing the bytes on the way: one read of the source. */
  copy(source: string, target: string): Promise<Written>
  /** Ends the workers; files queued or being hashed fail. A pool holds the process open until it is closed. */
  close(): Promise<void>
}

interface Job {
  id: number
  source: string
  target?: string
  onProgress?: (bytes: number) => void
  resolve: (written: Written) => void
  reject: (error: Error) => void
}

type Reply = { id: number; progress: number } | { id: number; size: number; sha256: string } | { id: number; error: { message: string; code?: string } }

/**
 * `threads` workers, each taking the next queued file when it is free (submit the largest first). A worker needs about
 * 20 ms to start, so a command starts its pool before the work that needs it. The workers hold the process open until
 * close(): a worker unreferenced while idle and referenced again to stop was sometimes never heard to exit (Node 20),
 * and the process ended under the await.
 */
export function createHashPool(threads = Math.min(availableParallelism(), 4)): HashPool {
  const queue: Job[] = []
  const running = new Map<Worker, Job>()
  let nextId = 0
  let closed = false

  const workers = Array.from({ length: Math.max(1, threads) }, () => {
    const worker = new Worker(workerSource, { eval: true, execArgv: [], stdout: false, stderr: false })
    worker.on('message', (reply: Reply) => finished(worker, reply))
    worker.on('error', (error) => lost(worker, error))
    worker.on('exit', (code) => {
      if (!closed) lost(worker, new Error(`a hashing worker stopped (exit ${code})`))
    })
    return worker
  })
  /** Messages to a worker that is still starting wait for it, so every worker is free from the start. */
  const idle = [...workers]

  function dispatch() {
    while (queue.length && idle.length) {
      const job = queue.shift()!
      const worker = idle.pop()!
      running.set(worker, job)
      worker.postMessage({ id: job.id, source: job.source, target: job.target })
    }
  }

  function finished(worker: Worker, reply: Reply) {
    const job = running.get(worker)
    if (!job || job.id !== reply.id) return
    if ('progress' in reply) return job.onProgress?.(reply.progress)
    running.delete(worker)
    idle.push(worker)
    if ('error' in reply) job.reject(Object.assign(new Error(reply.error.message), reply.error.code ? { code: reply.error.code } : {}))
    else job.resolve({ size: reply.size, sha256: reply.sha256 })
    dispatch()
  }

  function lost(worker: Worker, error: Error) {
    if (!workers.includes(worker)) return
    running.get(worker)?.reject(error)
    running.delete(worker)
    if (idle.includes(worker)) idle.splice(idle.indexOf(worker), 1)
    workers.splice(workers.indexOf(worker), 1)
    if (!workers.length) for (const job of queue.splice(0)) job.reject(error)
    dispatch()
  }

  function submit(source: string, target: string | undefined, onProgress?: (bytes: number) => void): Promise<Written> {
    if (closed || !workers.length) return Promise.reject(new Error('the hash pool is closed'))
    return new Promise((resolve, reject) => {
      queue.push({ id: nextId++, source, target, onProgress, resolve, reject })
      dispatch()
    })
  }

  return {
    threads: workers.length,
    hash: (path, onProgress) => submit(path, undefined, onProgress),
    copy: (source, target) => submit(source, target),
    async close() {
      if (closed) return
      closed = true
      for (const job of [...queue.splice(0), ...running.values()]) job.reject(new Error('the hash pool is closed'))
      running.clear()
      await Promise.all(workers.map((worker) => worker.terminate()))
    },
  }
}
