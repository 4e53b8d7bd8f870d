import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { PrincipalName } from './deployment.ts';

// The local credential table: one access key per principal of the deployment, generated for
// each local cloud (nothing fixed that a stale config could still hold) and written under its
// directory for the CLI and the tests. The gateway looks a signature's key id up here: an
// unknown key id is refused as AWS refuses it (InvalidAccessKeyId / UnrecognizedClientException).

export interface LocalCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface CredentialEntry extends LocalCredentials {
  principal: PrincipalName;
  arn: string;
}

export class CredentialTable {
  private readonly byKey = new Map<string, CredentialEntry>();
  private readonly byPrincipal = new Map<PrincipalName, CredentialEntry>();

  constructor(entries: CredentialEntry[]) {
    for (const e of entries) {
      this.byKey.set(e.accessKeyId, e);
      this.byPrincipal.set(e.principal, e);
    }
  }

  /** A fresh key pair for every principal (`AKIA` + 16 characters, like an IAM key id). */
  static generate(principals: { name: PrincipalName; arn: string }[]): CredentialTable {
    return new CredentialTable(
      principals.map((p) => ({
        principal: p.name,
        arn: p.arn,
        accessKeyId: `AKIA${randomBytes(10).toString('hex').toUpperCase().slice(0, 16)}`,
        secretAccessKey: randomBytes(30).toString('base64'),
      })),
    );
  }

  /**
   * A second access key for `principal`, as `aws iam create-access-key` gives one: both keys sign
   * until the old one is deleted. The principal's credentials (`of`) become the new pair.
   */
  issue(principal: PrincipalName): LocalCredentials {
    const was = this.byPrincipal.get(principal);
    if (!was) throw new Error(`the local deployment has no principal ${principal}`);
    const [entry] = CredentialTable.generate([{ name: principal, arn: was.arn }]).entries();
    this.byKey.set(entry!.accessKeyId, entry!);
    this.byPrincipal.set(principal, entry!);
    return { accessKeyId: entry!.accessKeyId, secretAccessKey: entry!.secretAccessKey };
  }

  /** Deletes (or deactivates) an access key, as `aws iam delete-access-key` does: requests it signs are refused as signed by no key (InvalidAccessKeyId). */
  revoke(accessKeyId: string): void {
    if (!this.byKey.delete(accessKeyId)) throw new Error(`the local credential table has no access key ${accessKeyId}`);
  }

  lookup(accessKeyId: string): CredentialEntry | undefined {
    return this.byKey.get(accessKeyId);
  }

  /** The credentials a component of the principal signs with; throws for a principal the deployment lacks. */
  of(principal: PrincipalName): LocalCredentials {
    const e = this.byPrincipal.get(principal);
    if (!e) throw new Error(`the local deployment has no principal ${principal} (known: ${[...this.byPrincipal.keys()].join(', ')})`);
    return { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey };
  }

  entries(): CredentialEntry[] {
    return [...this.byPrincipal.values()];
  }

  /** Written readable by the owner only: these are the local cloud's secrets. */
  write(file: string): void {
    writeFileSync(file, `${JSON.stringify({ principals: this.entries() }, null, 2)}\n`, { mode: 0o600 });
  }
}
