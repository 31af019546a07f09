import { CallAbandoned, HttpError } from '../errors';
import { assertCallContinues } from './call-limits';

describe('assertCallContinues', () => {
  test('goes on before the deadline, with no signal or an unaborted one', () => {
    expect(() => assertCallContinues({ deadline: 1000 }, 1000)).not.toThrow();
    expect(() => assertCallContinues({ deadline: 1000, signal: new AbortController().signal }, 999)).not.toThrow();
  });

  test('past the deadline: 503 deadline-exceeded', () => {
    let thrown: unknown;
    try {
      assertCallContinues({ deadline: 1000 }, 1001);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(HttpError);
    expect((thrown as HttpError).status).toBe(503);
    expect((thrown as HttpError).issues[0]?.code).toBe('deadline-exceeded');
  });

  test('a client that has gone stops the call, even before the deadline', () => {
    const controller = new AbortController();
    controller.abort(new CallAbandoned());
    expect(() => assertCallContinues({ deadline: Date.now() + 60000, signal: controller.signal })).toThrow(
      CallAbandoned
    );
    const bare = new AbortController();
    bare.abort();
    expect(() => assertCallContinues({ deadline: Date.now() + 60000, signal: bare.signal })).toThrow(CallAbandoned);
  });
});
