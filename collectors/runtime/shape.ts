// An API answer checked against the shape its documentation promises, at the boundary: the collector then trusts its types.
import { ResponseError } from './errors.ts'
import { check, type Schema } from './schema.ts'

/** The body as `schema` makes it, or a ResponseError naming the URL and the first field that is not as promised. */
export function expectShape<T>(schema: Schema<T>, body: unknown, url: string, what = 'body'): T {
  const checked = check(schema, body)
  if (checked.ok) return checked.value
  const { path, message } = checked.problem
  throw new ResponseError(url, `${path.join('.') || what}: ${message}`)
}
