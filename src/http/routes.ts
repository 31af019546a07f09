// The routes: thin handlers that call the modules (house style 3.3). Each cites its spec section.
import { Router, type Request, type Response } from 'express';
import { buildPolicyPage, POLICY_PAGE_CSP } from '../cards/policy-page';
import { CallAbandoned, HttpError } from '../errors';
import { parseHookRequest } from '../hooks/validate';
import type { CdsService } from '../hooks/services';
import type { CallContext } from '../hooks/types';
import { clip, logCall, summarizeResponse } from '../log';
import { METRICS_CONTENT_TYPE, UNKNOWN } from '../metrics/metrics';
import { auditHeaders } from '../store/redact';
import type { AuditRecord } from '../store/types';
import type { AppDeps } from './app';
import type { Authenticator, AuthResult } from './auth';
import { checkContentType, createBodyReader, parseJsonBody } from './body';
import { FHIR_JSON } from './errors';
import { parseFeedback } from './feedback';

/** Bookkeeping of one service or feedback call, kept in `res.locals.call` until its one log line is written. */
export interface CallState {
  kind: 'service' | 'feedback';
  serviceId: string;
  method: string;
  path: string;
  started: number;
  ctx: CallContext;
  /** Set once the caller passed authentication: only then is the call audited. */
  authenticated: boolean;
  auth?: AuthResult;
  body?: unknown;
  bodyNote: string;
  feedback?: { received: number; stored: number };
  /** The client closed the connection before the answer (contract section 2): the work stopped, nothing was sent. */
  abandoned?: boolean;
  finished: boolean;
}

/**
 * The status a call's log line and audit record give an abandoned call: nginx's "client closed request". It is never
 * sent (there is nobody to send it to).
 */
export const ABANDONED_STATUS = 499;

/** 405 with an `Allow` header. */
class MethodNotAllowed extends HttpError {
  constructor(readonly allow: string) {
    super({ code: 'method-not-allowed', message: `Allowed methods: ${allow}.` });
  }
}

function notAllowed(allow: string): () => never {
  return () => {
    throw new MethodNotAllowed(allow);
  };
}

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The request path without its query, as the client wrote it (the JWT `aud` is the base URL plus this). */
function pathOf(req: Request): string {
  const url = req.originalUrl;
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function elapsed(since: number): number {
  return Math.round((performance.now() - since) * 1000) / 1000;
}

/**
 * Writes the call's one log line (once).
 * @param deps - the app's dependencies
 * @param req - the request
 * @param state - the call's bookkeeping
 * @param status - the status sent
 * @param body - the body sent
 * @param errorCodes - our error codes, for a non-2xx answer
 */
export function finishCall(
  deps: AppDeps,
  _req: Request,
  state: CallState,
  status: number,
  body: unknown,
  errorCodes: string[] = []
): void {
  if (state.finished) {
    return;
  }
  state.finished = true;
  const durationMs = performance.now() - state.started;
  state.ctx.timings['total'] = Math.round(durationMs * 1000) / 1000;
  logCall(deps.logger, {
    kind: state.kind,
    serviceId: state.serviceId,
    method: state.method,
    path: state.path,
    status,
    durationMs,
    errorCodes,
    ...(state.abandoned ? { abandoned: true } : {}),
    ctx: state.ctx,
    outcome: state.kind === 'service' && status === 200 ? summarizeResponse(body, state.ctx) : undefined,
    feedback: state.feedback,
    iss: state.auth?.iss,
    jti: state.auth?.jti,
  });
}

/**
 * Writes the audit record of an authenticated call, when auditing is on, before its answer is sent (contract
 * section 8).
 * @param deps - the app's dependencies
 * @param req - the request
 * @param state - the call's bookkeeping
 * @param status - the status about to be sent
 * @param body - the body about to be sent
 * @returns false when the record could not be written (logged)
 */
export async function auditCall(
  deps: AppDeps,
  req: Request,
  state: CallState,
  status: number,
  body: unknown
): Promise<boolean> {
  if (!state.authenticated || !deps.config.audit) {
    return true;
  }
  const durationMs = performance.now() - state.started;
  const record: AuditRecord = {
    time: state.ctx.receivedAt.toISOString(),
    kind: state.kind,
    serviceId: state.serviceId,
    request: { method: state.method, path: state.path, headers: auditHeaders(req.headers) },
    response: { status, body },
    durationMs: Math.round(durationMs * 10) / 10,
  };
  if (state.abandoned) {
    record.abandoned = true;
  }
  if (state.ctx.hookInstance) {
    record.hookInstance = state.ctx.hookInstance;
  }
  if (state.auth) {
    record.iss = state.auth.iss;
    record.jti = state.auth.jti;
  }
  const answered = state.ctx.answered;
  if (answered) {
    record.policyId = answered.policyId;
    record.policyVersion = answered.policyVersion;
    record.assertionIds = answered.assertionIds;
    record.decisions = answered.decisions;
  }
  if (state.body !== undefined) {
    record.request.body = state.body;
  } else {
    record.request.bodyNote = state.bodyNote;
  }
  try {
    await deps.store.appendAudit(record);
    return true;
  } catch (e) {
    storeFailed(deps, state, 'audit write failed', e);
    return false;
  }
}

function storeFailed(deps: AppDeps, state: CallState, message: string, e: unknown): void {
  state.ctx.errors.push({ where: 'store', message });
  deps.logger.error(
    { err: { message: e instanceof Error ? e.message : String(e) }, serviceId: state.serviceId },
    message
  );
}

/** 503 `audit-unavailable` (contract section 8): CRD requires every call to be retained. */
export function auditUnavailable(): HttpError {
  return new HttpError({
    code: 'audit-unavailable',
    message: 'The call could not be recorded, so it is not answered; try again.',
  });
}

/** The uuids of the cards of a response. */
function cardUuids(response: { cards?: unknown }): string[] {
  const cards = Array.isArray(response.cards) ? (response.cards as Array<{ uuid?: unknown }>) : [];
  return cards.map((c) => c.uuid).filter((u): u is string => typeof u === 'string' && u !== '');
}

/** How long GET /ready waits for the store before answering 503. */
const READY_TIMEOUT_MS = 5000;

/**
 * The application's routes.
 * @param deps - the app's dependencies
 * @param authenticator - JWT checks for service and feedback calls
 */
export function createRoutes(deps: AppDeps, authenticator: Authenticator): Router {
  const { config, services } = deps;
  const cdsServices = new Map(deps.cdsServices.map((s) => [s.id, s]));
  const router = Router({ caseSensitive: true });
  const readBody = createBodyReader(config.bodyLimit);
  const now = deps.now ?? ((): Date => new Date());
  // Discovery is fixed at start-up: the definitions exactly, in id order.
  const discovery = { services: [...deps.cdsServices].sort(byId).map((s) => s.definition) };
  const questionnaires = new Map<string, unknown>();

  function beginCall(req: Request, res: Response, kind: CallState['kind']): CallState {
    const receivedAt = now();
    const state: CallState = {
      kind,
      serviceId: clip(String(req.params['id'] ?? ''), 100),
      method: req.method,
      path: clip(pathOf(req), 300),
      started: performance.now(),
      ctx: {
        serviceId: String(req.params['id'] ?? ''),
        receivedAt,
        receivedDate: receivedAt.toISOString().slice(0, 10),
        deadline: Date.now() + config.deadlineMs,
        timings: {},
        errors: [],
        notes: [],
      },
      authenticated: false,
      bodyNote: 'not read',
      finished: false,
    };
    res.locals['call'] = state;
    if (kind === 'service') {
      // Contract section 2: a call whose client has gone stops (no further fetches, no further evaluation). The
      // answer's own end closes the response too, but then it has finished.
      const gone = new AbortController();
      res.once('close', () => {
        if (!res.writableFinished) {
          gone.abort(new CallAbandoned());
        }
      });
      state.ctx.signal = gone.signal;
    }
    const recorder = deps.metrics?.recorder;
    if (recorder) {
      // Once the answer is out (an abandoned call, never answered, is not counted). The labels come from the served
      // service, never from the URL: an id nobody serves is `unknown`.
      res.once('finish', () => {
        const seconds = (performance.now() - state.started) / 1000;
        const served = cdsServices.get(state.ctx.serviceId);
        const service = served?.id ?? UNKNOWN;
        if (kind === 'feedback') {
          recorder.observeFeedback(service, res.statusCode);
          return;
        }
        recorder.observeCall(service, served?.hook ?? UNKNOWN, res.statusCode, seconds);
        if (res.statusCode === 200 && state.ctx.decided) {
          recorder.observeDecisions(service, state.ctx.decided.policy, state.ctx.decided.likelihoods);
        }
      });
    }
    return state;
  }

  /** 404 -> 401 -> 415 -> 413 -> 400 (invalid JSON), in the contract's order (section 3). */
  async function admit(req: Request, res: Response, state: CallState): Promise<{ service: CdsService; body: unknown }> {
    const service = cdsServices.get(state.ctx.serviceId);
    if (!service) {
      throw new HttpError({ code: 'unknown-service', message: 'No service has this id.' });
    }
    let t = performance.now();
    const auth = await authenticator.authenticate(req.headers.authorization, pathOf(req));
    state.ctx.timings['auth'] = elapsed(t);
    state.authenticated = true;
    if (auth) {
      state.auth = auth;
    }
    checkContentType(req.headers['content-type']);
    t = performance.now();
    const raw = await readBody(req, res);
    state.bodyNote = 'not JSON';
    const body = parseJsonBody(raw);
    state.ctx.timings['read'] = elapsed(t);
    state.body = body;
    return { service, body };
  }

  // Discovery: https://cds-hooks.hl7.org/2.0/#discovery
  router
    .route('/cds-services')
    .get((_req, res) => {
      res.json(discovery);
    })
    .all(notAllowed('GET, OPTIONS'));

  // Calling a CDS Service: https://cds-hooks.hl7.org/2.0/#calling-a-cds-service
  /** Any other method on a service's paths: 404 for an unknown service, else 405. */
  const postOnly = (id: string): never => {
    if (!cdsServices.has(id)) {
      throw new HttpError({ code: 'unknown-service', message: 'No service has this id.' });
    }
    throw new MethodNotAllowed('POST, OPTIONS');
  };

  router
    .route('/cds-services/:id')
    .post(async (req, res) => {
      const state = beginCall(req, res, 'service');
      const { service, body } = await admit(req, res, state);
      const hookInstance = (body as { hookInstance?: unknown } | null)?.hookInstance;
      if (typeof hookInstance === 'string') {
        state.ctx.hookInstance = hookInstance;
      }
      let t = performance.now();
      const request = parseHookRequest(body, service.hook, { maxOrders: config.maxDraftOrders });
      state.ctx.timings['validate'] = elapsed(t);
      t = performance.now();
      const response = await deps.handleCall(service, request, state.ctx);
      state.ctx.timings['handle'] = elapsed(t);
      if (state.ctx.signal?.aborted) {
        // Gone while the last stage ran: nobody to answer (and no card was issued).
        throw new CallAbandoned();
      }
      // Before the answer (contract section 8): the cards' uuids are remembered, so that feedback on them is
      // accepted, then the audit record is written. In production a failure of either answers 503.
      t = performance.now();
      const uuids = cardUuids(response);
      let recorded = true;
      if (uuids.length > 0) {
        try {
          await deps.store.rememberCards(service.id, uuids);
        } catch (e) {
          storeFailed(deps, state, 'issued cards write failed', e);
          recorded = false;
        }
      }
      if (recorded) {
        recorded = await auditCall(deps, req, state, 200, response);
      }
      state.ctx.timings['store'] = elapsed(t);
      if (!recorded && config.production) {
        throw auditUnavailable();
      }
      // https://cds-hooks.hl7.org/2.0/#http-response-1
      res.setHeader('Cache-Control', 'no-store');
      res.status(200).json(response);
      finishCall(deps, req, state, 200, response);
    })
    .all((req) => {
      postOnly(String(req.params['id']));
    });

  // Feedback: https://cds-hooks.hl7.org/2.0/#feedback
  router
    .route('/cds-services/:id/feedback')
    .post(async (req, res) => {
      const state = beginCall(req, res, 'feedback');
      const { service, body } = await admit(req, res, state);
      const items = parseFeedback(body);
      state.feedback = { received: items.length, stored: 0 };
      // Only cards this service issued (contract section 8), all checked before any item is stored.
      // A store that cannot answer is 503 audit-unavailable, as for a hook call (never a 500).
      const stored = async <T>(work: () => Promise<T>): Promise<T> => {
        try {
          return await work();
        } catch (e) {
          storeFailed(deps, state, 'feedback store failed', e);
          throw auditUnavailable();
        }
      };
      const issued = await stored(() =>
        Promise.all(items.map((item) => deps.store.isIssuedCard(service.id, item.card)))
      );
      const unknown = issued.flatMap((known, i) => (known ? [] : [i]));
      if (unknown.length > 0) {
        throw new HttpError(
          unknown.map((i) => ({
            code: 'unknown-card' as const,
            message: `feedback[${i}].card is not a card this service issued.`,
            expression: `feedback[${i}].card`,
          }))
        );
      }
      // One item at a time, so that the same card twice in one call is stored once.
      for (const item of items) {
        if (await stored(() => deps.store.putFeedback(service.id, item))) {
          state.feedback.stored += 1;
        }
      }
      const response = {};
      if (!(await auditCall(deps, req, state, 200, response)) && config.production) {
        throw auditUnavailable();
      }
      res.status(200).json(response);
      finishCall(deps, req, state, 200, response);
    })
    .all((req) => {
      postOnly(String(req.params['id']));
    });

  // The documentation Questionnaire of a service (contract section 6): canonical {base}/fhir/Questionnaire/{id}.
  router
    .route('/fhir/Questionnaire/:id')
    .get((req, res) => {
      const id = String(req.params['id']);
      const service = services.get(id);
      if (!service) {
        throw new HttpError({ code: 'not-found', message: 'No Questionnaire has this id.' });
      }
      let questionnaire = questionnaires.get(id);
      if (questionnaire === undefined) {
        questionnaire = deps.buildQuestionnaire(service, config.publicBaseUrl);
        questionnaires.set(id, questionnaire);
      }
      res.status(200).setHeader('Content-Type', FHIR_JSON);
      res.send(JSON.stringify(questionnaire));
    })
    .all(notAllowed('GET, OPTIONS'));

  // The policy page of each service (contract section 6): generated from the policy file at start-up, no JWT, no
  // script (a CSP that lets nothing load or run but its own style block), no patient data.
  const policyPages = new Map([...services.values()].map((s) => [s.id, buildPolicyPage(s)]));
  router
    .route('/policies/:id')
    .get((req, res) => {
      const page = policyPages.get(String(req.params['id']));
      if (page === undefined) {
        throw new HttpError({ code: 'not-found', message: 'No policy page has this id.' });
      }
      res.status(200);
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.setHeader('Content-Security-Policy', POLICY_PAGE_CSP);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader('Cache-Control', 'no-cache');
      res.send(page);
    })
    .all(notAllowed('GET, OPTIONS'));

  // Prometheus metrics (contract section 1, "Metrics"): no JWT, no patient data; CDS_METRICS=false leaves it a 404.
  const metrics = deps.metrics;
  if (metrics) {
    router
      .route('/metrics')
      .get(async (_req, res) => {
        let text: string;
        try {
          text = await metrics.text();
        } catch (e) {
          deps.logger.error({ err: { message: e instanceof Error ? e.message : String(e) } }, 'metrics unavailable');
          throw new HttpError({ code: 'metrics-unavailable', message: 'The metrics could not be collected; retry.' });
        }
        res.status(200);
        res.setHeader('Content-Type', METRICS_CONTENT_TYPE);
        res.setHeader('Cache-Control', 'no-store');
        res.send(text);
      })
      .all(notAllowed('GET, OPTIONS'));
  }

  // Readiness (contract section 8): 200 when the policies are loaded and the store accepts writes, else 503
  // `not-ready`; no JWT. /health stays the liveness check (the process answers at all).
  router
    .route('/ready')
    .get(async (_req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      if (services.size === 0 || deps.cdsServices.length === 0) {
        throw new HttpError({ code: 'not-ready', message: 'No policy is loaded.' });
      }
      let timer: NodeJS.Timeout | undefined;
      const silent = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
      });
      try {
        await Promise.race([deps.store.ready(), silent]);
      } catch (e) {
        deps.logger.warn({ err: { message: e instanceof Error ? e.message : String(e) } }, 'not ready: store');
        throw new HttpError({ code: 'not-ready', message: 'The store does not accept writes.' });
      } finally {
        clearTimeout(timer);
      }
      res.json({ status: 'ready' });
    })
    .all(notAllowed('GET, OPTIONS'));

  router
    .route('/health')
    .get((_req, res) => {
      res.setHeader('Cache-Control', 'no-store');
      res.json({ status: 'ok' });
    })
    .all(notAllowed('GET, OPTIONS'));

  return router;
}
