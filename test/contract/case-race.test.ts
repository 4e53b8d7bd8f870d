import { describe } from 'vitest';
import { createCatalogueTable } from '../../adapters/dynamo-catalogue.ts';
import { DynamoHoldStore } from '../../adapters/dynamo-holds.ts';
import { MemoryHoldStore } from '../../core/memory-holds.ts';
import { localDynamoForSuite } from '../support/local-dynamo.ts';
import { caseRaceContract } from './case-race-contract.ts';

// The case interleavings (case-race-contract.ts) on the memory store and on the DynamoDB adapter
// over dynalite: the conditional PutItem is what keeps them apart on AWS.

describe('MemoryHoldStore', () => caseRaceContract(async () => new MemoryHoldStore()));

describe('DynamoHoldStore (dynalite)', () => {
  const dynamo = localDynamoForSuite();
  let tables = 0;
  caseRaceContract(async () => {
    const name = `case-race-${++tables}`;
    await createCatalogueTable(dynamo.client, name);
    return new DynamoHoldStore(dynamo.doc, name);
  });
});
