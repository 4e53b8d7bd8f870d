import { GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { AlreadyExistsError, NotFoundError } from '../core/errors.ts';
import { caseChanged, casePk, caseToItem, caseVersion, holdPk, holdToItem, itemToCase, itemToHold, type CaseRecord, type HoldRecord, type HoldStore } from '../core/hold-items.ts';
import { conditionFailed, translateDynamoError } from './dynamo-errors.ts';

// HoldStore on the catalogue table (items laid out by core/hold-items.ts): holds in one
// partition per site (`HOLD#{site}`), cases in another (`CASE#{site}`). Query, never Scan.

const translate = (error: unknown, operation: string) => translateDynamoError(error, operation);

export class DynamoHoldStore implements HoldStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putHold(hold: HoldRecord): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: holdToItem(hold) }));
    } catch (error) {
      throw translate(error, 'PutItem');
    }
  }

  async listHolds(site: string): Promise<HoldRecord[]> {
    return (await this.query({ TableName: this.tableName, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: { '#pk': 'pk' }, ExpressionAttributeValues: { ':pk': holdPk(site) } })).map(itemToHold);
  }

  async holdsOf(site: string, rid: string): Promise<HoldRecord[]> {
    const input: QueryCommandInput = {
      TableName: this.tableName,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :rid)',
      ExpressionAttributeNames: { '#pk': 'pk', '#sk': 'sk' },
      ExpressionAttributeValues: { ':pk': holdPk(site), ':rid': `${rid}#` },
    };
    return (await this.query(input)).map(itemToHold);
  }

  async createCase(record: CaseRecord): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: caseToItem(record), ConditionExpression: 'attribute_not_exists(pk)' }));
    } catch (error) {
      if (conditionFailed(error)) throw new AlreadyExistsError(`case ${record.caseId} already exists in site ${record.site}`, { cause: error });
      throw translate(error, 'PutItem');
    }
  }

  /**
   * One conditional PutItem: the case as it was read is still the one stored (`version`, absent on
   * records from before versions were kept: 0), else nothing is written. A refused write reads
   * the case to tell a case gone (NotFoundError) from one changed (CaseChangedError).
   */
  async updateCase(record: CaseRecord): Promise<CaseRecord> {
    const written = { ...record, version: caseVersion(record) + 1 };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: caseToItem(written),
          ConditionExpression: 'attribute_exists(pk) AND (attribute_not_exists(#version) OR #version = :read)',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':read': caseVersion(record) },
        }),
      );
      return written;
    } catch (error) {
      if (!conditionFailed(error)) throw translate(error, 'PutItem');
      const now = await this.getCase(record.site, record.caseId);
      if (!now) throw new NotFoundError(`no case ${record.caseId} in site ${record.site}`, { cause: error });
      throw caseChanged(record, caseVersion(now), error);
    }
  }

  async getCase(site: string, caseId: string): Promise<CaseRecord | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: casePk(site), sk: caseId } }));
      return out.Item ? itemToCase(out.Item) : undefined;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }

  async listCases(site: string): Promise<CaseRecord[]> {
    return (await this.query({ TableName: this.tableName, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: { '#pk': 'pk' }, ExpressionAttributeValues: { ':pk': casePk(site) } })).map(itemToCase);
  }

  private async query(input: QueryCommandInput): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      let out;
      try {
        out = await this.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      } catch (error) {
        throw translate(error, 'Query');
      }
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }
}
