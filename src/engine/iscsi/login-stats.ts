import { LoginStatus } from './constants.js';

// Logins per target, accepted and refused by the reason the Login Response gave (RFC 7143
// 11.13.5): what an operator watches for a storm, a misconfigured initiator, or someone guessing
// CHAP secrets (authentication_failure is a security signal). A login that named no target yet
// (refused before TargetName, or a discovery session) counts under target "".

/** The status detail's name in the RFC's table, snake_case. */
const REASONS = new Map<number, string>(Object.entries(LoginStatus).map(([name, code]) => [code, name.toLowerCase()]));

export class LoginStats {
  readonly accepted = new Map<string, number>();
  /** target -> reason -> count */
  readonly refused = new Map<string, Map<string, number>>();

  succeeded(target: string): void {
    this.accepted.set(target, (this.accepted.get(target) ?? 0) + 1);
  }

  failed(target: string, status: number): void {
    const reason = REASONS.get(status) ?? `status_0x${status.toString(16).padStart(4, '0')}`;
    let m = this.refused.get(target);
    if (!m) this.refused.set(target, (m = new Map()));
    m.set(reason, (m.get(reason) ?? 0) + 1);
  }
}
