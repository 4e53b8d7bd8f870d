import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { synthFerry, type Synthesized } from './fixture.ts';

// Every principal's use of a KMS key goes through the service that holds the data (S3, DynamoDB,
// SNS): a role's policy that lets it call KMS with a key directly would let a leaked session
// decrypt or make data keys outside that service. Read from the synthesized templates (every
// stack, replication on), not from the code that builds them; key policies (a service's own
// grant, the log groups' encryption context) are not roles' policies and are not looked at here.

interface Statement {
  Effect: string;
  Action: string | string[];
  Condition?: Record<string, Record<string, unknown>>;
  Sid?: string;
}
interface Resource {
  Type: string;
  Properties?: { PolicyDocument?: { Statement: Statement[] }; Policies?: { PolicyDocument: { Statement: Statement[] } }[] };
}

let synth: Synthesized;

beforeAll(() => {
  synth = synthFerry({
    ...DEFAULT_CONFIG,
    replication: { destinationBucketArn: 'arn:aws:s3:::ferry-dr-copy', kmsKeyArn: 'arn:aws:kms:eu-central-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab' },
  } as typeof DEFAULT_CONFIG);
});

/** Every role-side Allow statement that names a kms: action, with where it is. */
function kmsAllows(): { where: string; statement: Statement }[] {
  const out: { where: string; statement: Statement }[] = [];
  for (const [stack, template] of Object.entries(synth.raw)) {
    for (const [id, r] of Object.entries((template.Resources ?? {}) as Record<string, Resource>)) {
      const docs = r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy' ? [r.Properties?.PolicyDocument] : r.Type === 'AWS::IAM::Role' ? (r.Properties?.Policies ?? []).map((p) => p.PolicyDocument) : [];
      for (const doc of docs) {
        for (const s of doc?.Statement ?? []) {
          const actions = Array.isArray(s.Action) ? s.Action : [s.Action];
          if (s.Effect === 'Allow' && actions.some((a) => a.toLowerCase().startsWith('kms:'))) out.push({ where: `${stack}/${id}${s.Sid ? `/${s.Sid}` : ''}`, statement: s });
        }
      }
    }
  }
  return out;
}

const viaService = (s: Statement) => Object.values(s.Condition ?? {}).some((block) => Object.keys(block).some((k) => k.toLowerCase() === 'kms:viaservice'));

describe('KMS use in the synthesized roles', () => {
  it('finds the statements it checks (the data key through S3 and DynamoDB, the alert topic, replication)', () => {
    expect(kmsAllows().length).toBeGreaterThan(10);
  });

  it('lets every role use a key only through a service (kms:ViaService on each Allow of a kms: action)', () => {
    expect(kmsAllows().filter((a) => !viaService(a.statement)).map((a) => `${a.where}: ${JSON.stringify(a.statement.Action)}`)).toEqual([]);
  });
});
