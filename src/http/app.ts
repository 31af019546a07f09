// createApp(deps): the express application, with no listen and no globals (house style: build the app in one
// place, listen in another). Everything it needs is injected, so tests run it with fakes.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Questionnaire } from 'fhir/r4';
import type pino from 'pino';
import type { Config } from '../config';
import { CallAbandoned, HttpError } from '../errors';
import type { CdsService } from '../hooks/services';
import type { CallContext, CdsResponse, HookCall } from '../hooks/types';
import type { ServiceMetrics } from '../metrics/metrics';
import type { LoadedService } from '../policy/types';
import type { SharedStore } from '../store/types';
import { createAuthenticator, type AuthOptions } from './auth';
import { cors } from './cors';
import { forCaller, sendError, toHttpError } from './errors';
import { ABANDONED_STATUS, auditCall, createRoutes, finishCall, type CallState } from './routes';

export interface AppDeps {
  config: Config;
  /** Loaded policies by id (their order-sign service id): Questionnaires. */
  services: ReadonlyMap<string, LoadedService>;
  /** Every CDS service served, as discovery lists them (src/hooks/services.ts): calls and feedback. */
  cdsServices: readonly CdsService[];
  store: SharedStore;
  logger: pino.Logger;
  /** The pipeline of every hook (src/hooks/pipeline.ts); may throw HttpError (400, 412, 503). */
  handleCall(service: CdsService, request: HookCall, ctx: CallContext): Promise<CdsResponse>;
  /** The service's Questionnaire (src/cards/questionnaire.ts). */
  buildQuestionnaire(service: LoadedService, baseUrl: string): Questionnaire;
  /** When a call is received (tests fix it); the deadline always runs on the real clock. */
  now?: () => Date;
  /** GET /metrics and what it counts; absent when CDS_METRICS is off (then /metrics is a 404). */
  metrics?: AppMetrics;
  /** JWKS fetching and clock knobs for tests. */
  authOptions?: Pick<AuthOptions, 'now' | 'jwksCooldownMs' | 'jwksCacheMaxAgeMs' | 'jwksTimeoutMs'>;
}

export interface AppMetrics {
  /** This process's counters, which the routes feed. */
  recorder: ServiceMetrics;
  /** The text GET /metrics answers: this process's, or the whole cluster's (through the primary). */
  text(): Promise<string>;
}

/**
 * Builds the HTTP application.
 * @param deps - configuration, services, store, logger and the two builders written elsewhere
 */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('case sensitive routing', true);
  app.set('query parser', false);

  const authenticator = createAuthenticator({
    config: deps.config,
    store: deps.store,
    logger: deps.logger,
    ...deps.authOptions,
  });

  app.use(cors(deps.config.corsOrigins));
  app.use(createRoutes(deps, authenticator));

  // Anything else is a 404 OperationOutcome.
  app.use((_req: Request, _res: Response, next: NextFunction) => {
    next(new HttpError({ code: 'not-found', message: 'Not found.' }));
  });

  // The one error handler: OperationOutcome bodies, never a stack trace (contract section 3). The audit record of an
  // authenticated call is written before the answer (contract section 8); the audit comes last in the order of
  // checks (section 3), so an error answer stays what it is when its record cannot be written (logged).
  app.use(async (err: unknown, req: Request, res: Response, next: NextFunction) => {
    const call = res.locals['call'] as CallState | undefined;
    if (err instanceof CallAbandoned || (call?.ctx.signal?.aborted && !res.headersSent)) {
      // The client has gone (contract section 2): nothing is sent; the log line and the audit record say so.
      if (call && !call.finished) {
        call.abandoned = true;
        call.ctx.notes.push('the client closed the connection before the answer: the work stopped');
        await auditCall(deps, req, call, ABANDONED_STATUS, undefined);
        finishCall(deps, req, call, ABANDONED_STATUS, undefined);
      }
      res.destroy();
      return;
    }
    const { error, unexpected } = toHttpError(err);
    if (unexpected) {
      const e = err instanceof Error ? err : new Error(String(err));
      deps.logger.error(
        { err: { type: e.name, message: e.message, stack: e.stack }, method: req.method, path: req.path },
        'unexpected error'
      );
    }
    if (res.headersSent) {
      next(err);
      return;
    }
    const allow = (err as { allow?: unknown }).allow;
    const state = res.locals['call'] as CallState | undefined;
    const sent = forCaller(error, deps.config.production, (cause) => state?.ctx.errors.push(cause));
    if (state && !state.finished) {
      await auditCall(deps, req, state, sent.status, sent.toOperationOutcome());
    }
    if (res.headersSent) {
      return;
    }
    const body = sendError(res, sent, typeof allow === 'string' ? allow : undefined);
    if (state) {
      finishCall(
        deps,
        req,
        state,
        sent.status,
        body,
        sent.issues.map((i) => i.code)
      );
    }
  });

  return app;
}
