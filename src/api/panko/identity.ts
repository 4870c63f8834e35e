import { IncomingHttpHeaders } from 'node:http';
import { forbiddenPage, unauthorizedPage } from './errors';

/**
 * Who is asking, and what Panko lets them see.
 *
 * With trusted identity headers (the API runs behind Keystone's auth_token middleware, or a
 * proxy that sets them), Panko's rules apply to `X-Roles`, `X-User-Id` and `X-Project-Id`:
 * role `admin` (any case; roles split on ',' with no trimming, so `member, admin` is not an
 * admin) sees its own project (and events with no project), or every project with
 * `all_tenants`; anyone else sees the events whose `project_id` and `user_id` traits are theirs.
 *
 * Without trusted headers, the headers mean nothing (anyone could send them): a request that
 * got past the API's bearer token is an admin over all projects.
 */
export type Caller = { trusted: false } | { trusted: true; admin: boolean; user: string; project: string };

/** The events a caller may see. `all`: every project (a token caller, or an admin after all_tenants). */
export type Scope =
  { kind: 'all' } | { kind: 'admin'; project: string } | { kind: 'member'; user: string; project: string };

const headerText = (value: string | string[] | undefined) =>
  Array.isArray(value) ? value.join(', ') : (value ?? '');

export function callerOf(headers: IncomingHttpHeaders, trustIdentityHeaders: boolean): Caller {
  if (!trustIdentityHeaders) return { trusted: false };
  const roles = headerText(headers['x-roles']).split(',');
  return {
    trusted: true,
    admin: roles.some((role) => role.toLowerCase() === 'admin'),
    user: headerText(headers['x-user-id']),
    project: headerText(headers['x-project-id']),
  };
}

/** Panko's requires_context (the events routes): a user and a project, whatever the roles. */
export function requireContext(caller: Caller): void {
  if (caller.trusted && (!caller.user || !caller.project)) throw forbiddenPage('RBAC Authorization Failed');
}

/**
 * Panko's requires_admin (event types and traits): refused only to a non-admin who names both
 * a user and a project; a caller with no identity at all gets through, as in Panko.
 */
export function requireAdmin(caller: Caller): void {
  if (caller.trusted && !caller.admin && caller.user && caller.project) {
    throw unauthorizedPage(`Not Authorized to access project ${caller.project}`);
  }
}

/** Only after requireContext: a trusted caller then has a user and a project. */
export function scopeOf(caller: Caller): Scope {
  if (!caller.trusted) return { kind: 'all' };
  if (caller.admin) return { kind: 'admin', project: caller.project };
  return { kind: 'member', user: caller.user, project: caller.project };
}
