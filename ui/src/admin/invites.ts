/** Invites and the audit log, as the admin console shows them. */
import type { Invite } from '../api/types.ts';

/** Entries per page of the audit log. */
export const AUDIT_PAGE = 50;

export function inviteState(invite: Invite, now: number = Date.now()): 'used' | 'revoked' | 'expired' | 'open' {
  if (invite.used_at) return 'used';
  if (invite.revoked_at) return 'revoked';
  if (new Date(invite.expires_at).getTime() <= now) return 'expired';
  return 'open';
}

/** The full registration link for an invite code, on this server's address. */
export function inviteLink(code: string, origin: string = window.location.origin): string {
  return `${origin}/#/register?invite=${encodeURIComponent(code)}`;
}

