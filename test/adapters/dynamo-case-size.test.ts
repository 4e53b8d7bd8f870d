import { describe, expect, it } from 'vitest';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { DynamoHoldStore } from '../../adapters/dynamo-holds.ts';
import { CASE_MAX_MEMBERS, type CaseRecord } from '../../core/hold-items.ts';
import { localDynamoForSuite } from '../support/local-dynamo.ts';

// The case limit against DynamoDB's 400 KB item (dynalite enforces it, as the review's 17,000-call
// case showed): a case of the most calls, with every text at its longest, is one item the table takes.

const dynamo = localDynamoForSuite();

describe(`a case of ${CASE_MAX_MEMBERS} calls`, () => {
  it('with the longest name, reason, reference and hold reason (three-byte characters) is stored and read back whole as one item', async () => {
    await createCatalogueTable(dynamo.client, 'cases');
    const store = new DynamoHoldStore(dynamo.doc, 'cases');
    const members = Array.from({ length: CASE_MAX_MEMBERS }, (_, i) => `r${i.toString(16).padStart(23, 'f')}`);
    // Three UTF-8 bytes a character, as DynamoDB counts them: the widest text a length limit lets through.
    const longest = (n: number) => '中'.repeat(n);
    const record: CaseRecord = { site: 'site-with-a-long-name-0123456789', caseId: `C${'9'.repeat(63)}`, name: longest(256), reason: longest(1000), reference: longest(256), createdBy: longest(128), createdAt: '2026-06-01T00:00:00.000Z', members: [] };
    await store.createCase(record);
    const held = { ...record, members, held: { by: longest(128), at: '2026-06-01T00:00:00.000Z', reason: longest(1000), reference: longest(256) } };
    await store.updateCase(held);
    expect((await store.getCase(record.site, record.caseId))?.members).toHaveLength(CASE_MAX_MEMBERS);
  });
});
