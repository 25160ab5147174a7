// Structured logging: one JSON object per line on stderr, so stdout stays free for exposition text.

export type Level = 'debug' | 'info' | 'warn' | 'error'
export type Fields = Record<string, string | number | boolean | null | undefined | string[]>

export interface Logger {
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
  child(fields: Fields): Logger
}

const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export function createLogger(
  options: { level?: Level; write?: (line: string) => void; fields?: Fields; now?: () => number } = {},
): Logger {
  const minimum = rank[options.level ?? 'info']
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'))
  const now = options.now ?? Date.now
  const base = options.fields ?? {}
  const emit = (level: Level) => (msg: string, fields: Fields = {}) => {
    if (rank[level] < minimum) return
    write(JSON.stringify({ time: new Date(now()).toISOString(), level, msg, ...base, ...fields }))
  }
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  }
}

export function levelFrom(value: string | undefined): Level {
  return value === 'debug' || value === 'warn' || value === 'error' ? value : 'info'
}
