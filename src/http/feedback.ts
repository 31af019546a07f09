// Feedback requests (https://cds-hooks.hl7.org/2.0/#feedback; checklist F-1..F-4): at most 100 items, validated with a
// schema compiled once; a 400 `invalid-feedback` names the first bad item's member (`feedback[2].outcome`).
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { HttpError, type ErrorIssue } from '../errors';
import { errorPath } from '../hooks/validate';
import feedbackSchema from '../hooks/schemas/feedback.schema.json';
import type { FeedbackItem } from '../store/types';

// strictRequired off: the `then` branch requires a member declared beside it, in `properties`.
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
addFormats(ajv, ['date-time']);
const validateFeedback = ajv.compile(feedbackSchema);

/** The most feedback items one call may carry (contract section 8). */
export const MAX_FEEDBACK_ITEMS = 100;

function describe(path: string, keyword: string): string {
  if (keyword === 'required') {
    return path.endsWith('acceptedSuggestions')
      ? `${path} is required when the outcome is accepted.`
      : `${path} is required.`;
  }
  if (path.endsWith('.outcome')) {
    return `${path} must be accepted or overridden.`;
  }
  if (path.endsWith('.outcomeTimestamp')) {
    return `${path} must be an RFC 3339 date-time with a time zone.`;
  }
  if (path.endsWith('acceptedSuggestions')) {
    return `${path} must be a non-empty array of {"id": "<suggestion uuid>"}.`;
  }
  return `${path} is not valid.`;
}

/**
 * Validates a parsed feedback body.
 * @param body - the parsed JSON body
 * @returns the feedback items, in order
 * @throws HttpError 400 `invalid-feedback`
 */
export function parseFeedback(body: unknown): FeedbackItem[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new HttpError({ code: 'invalid-feedback', message: 'The request body must be a JSON object.' });
  }
  // Counted before the items are validated, so that a huge list costs no validation either.
  const list = (body as { feedback?: unknown }).feedback;
  if (Array.isArray(list) && list.length > MAX_FEEDBACK_ITEMS) {
    throw new HttpError({
      code: 'invalid-feedback',
      message: `feedback carries ${list.length} items; at most ${MAX_FEEDBACK_ITEMS} are accepted in one call.`,
      expression: 'feedback',
    });
  }
  if (!validateFeedback(body)) {
    // `if`/`then` adds a summary error beside the real one: skip it, then take the first error of the first bad
    // item, so the answer names one place to fix.
    const errors = (validateFeedback.errors ?? []).filter((e) => e.keyword !== 'if');
    const first = errors[0];
    const issue: ErrorIssue = { code: 'invalid-feedback', message: 'The feedback is not valid.' };
    if (first) {
      // A failing `then` reports `required` on the item; a failing `type` on an object member reports the member.
      const path = errorPath(first);
      issue.expression = path;
      issue.message = describe(path, first.keyword);
    }
    throw new HttpError(issue);
  }
  return (body as { feedback: FeedbackItem[] }).feedback;
}
