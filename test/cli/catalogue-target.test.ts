import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { catalogueTarget } from '../../cli/catalogue-commands.ts';

// `ferry verify`, `drill`, `report` and `catalogue rebuild` read the bucket and the table
// directly: with no local cloud, the error names what they need (not the agent's `cloud:` or
// FERRY_API_URL, which they do not read).

describe('the commands that read the bucket and the table', () => {
  it('name the variables they need, and only those missing', () => {
    const home = mkdtempSync(join(tmpdir(), 'ferry-no-cloud-'));
    expect(() => catalogueTarget({ FERRY_HOME: home })).toThrow(/set FERRY_BUCKET and FERRY_TABLE \(the stack outputs DataBucketName and CatalogueTableName; AWS credentials from the standard chain, an operator's role\), or start the local cloud/);
    expect(() => catalogueTarget({ FERRY_HOME: home, FERRY_BUCKET: 'ferry-data', FERRY_API_URL: 'https://api.example' })).toThrow(/: set FERRY_TABLE \(the stack outputs/);
    expect(() => catalogueTarget({ FERRY_HOME: home })).not.toThrow(/FERRY_API_URL/);
  });
});
