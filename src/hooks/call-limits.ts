// Whether a call should go on (contract section 2): checked between stages and between orders, so that neither a
// call past its deadline nor one whose client has gone keeps a worker busy.
import { CallAbandoned, HttpError } from '../errors';
import type { CallContext } from './types';

/**
 * Throws when the call must stop: `CallAbandoned` when the client has gone, HttpError 503 `deadline-exceeded` when
 * the deadline has passed. Cheap enough to call between every two orders.
 * @param ctx - the call's context (its deadline and, when the connection is watched, its signal)
 * @param now - the current time in epoch milliseconds (tests)
 */
export function assertCallContinues(ctx: Pick<CallContext, 'deadline' | 'signal'>, now: number = Date.now()): void {
  if (ctx.signal?.aborted) {
    throw ctx.signal.reason instanceof CallAbandoned ? ctx.signal.reason : new CallAbandoned();
  }
  if (now > ctx.deadline) {
    throw new HttpError({
      code: 'deadline-exceeded',
      message: 'The call could not be answered within its deadline (CDS_DEADLINE_MS).',
    });
  }
}
