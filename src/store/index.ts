// The shared store: its interface and the file-backed single-process implementation.
export type { AssertionKey, AssertionOutcome, AuditRecord, FeedbackItem, SharedStore } from './types';
export { createFileStore, FileStore } from './file-store';
export type { FileStoreOptions } from './file-store';
export { auditHeaders, redactRequestBody, REDACTED } from './redact';
