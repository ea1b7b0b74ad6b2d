/** Assertions on SketchErrors: the code, one line, and the fragments the message must name. No side effects on import. */
import * as assert from 'uvu/assert';
import { SketchError, type ErrorCode } from '../../runtime/errors.js';

/** `err` is a SketchError with `code`, a one-line message that mentions every fragment. */
export function expectSketchError(err: unknown, code: ErrorCode, ...fragments: string[]): SketchError {
  assert.instance(err, SketchError);
  const e = err as SketchError;
  assert.is(e.code, code, e.message);
  assert.not.match(e.message, '\n');
  for (const f of fragments) assert.ok(e.message.includes(f), `"${e.message}" should mention "${f}"`);
  return e;
}

/** `fn` throws a SketchError as {@link expectSketchError} checks it. */
export function throwsSketchError(fn: () => unknown, code: ErrorCode, ...fragments: string[]): SketchError {
  try {
    fn();
  } catch (err) {
    return expectSketchError(err, code, ...fragments);
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}

/** `promise` rejects with a SketchError as {@link expectSketchError} checks it. */
export async function rejectsSketchError(promise: Promise<unknown>, code: ErrorCode, ...fragments: string[]): Promise<SketchError> {
  try {
    await promise;
  } catch (err) {
    return expectSketchError(err, code, ...fragments);
  }
  assert.unreachable(`expected ${code}`);
  throw new Error('unreachable');
}
