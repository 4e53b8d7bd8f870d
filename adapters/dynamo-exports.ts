import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AlreadyExistsError } from '../core/errors.ts';
import { conditionFailed, getRecord, translateDynamoError } from './dynamo-errors.ts';
import { ITEM_PREFIXES } from '../core/catalogue-table.ts';
import type { ExportStatus, ExportStatusStore } from '../core/exports.ts';

// Export status records on the catalogue table: `pk = EXPORT#{site}, sk = {exportId}`, the
// status's fields beside the keys. The console writes `running`; the export function takes it
// and writes the end; a console read past the deadline may write `failed`. Every rewrite is
// conditional on the record still running, so the first to end it wins.

export const exportPk = (site: string) => `${ITEM_PREFIXES.export}${site}`;

export class DynamoExportStatusStore implements ExportStatusStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(status: ExportStatus): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { pk: exportPk(status.site), sk: status.exportId, ...status }, ConditionExpression: 'attribute_not_exists(pk)' }));
    } catch (error) {
      if (conditionFailed(error)) {
        throw new AlreadyExistsError(`export ${status.exportId} already exists in site ${status.site}`);
      }
      throw translateDynamoError(error, 'PutItem');
    }
  }

  async claim(status: ExportStatus): Promise<boolean> {
    return this.replaceIf(status, '#state = :running AND attribute_not_exists(startedAt)');
  }

  async finish(status: ExportStatus): Promise<boolean> {
    return this.replaceIf(status, '#state = :running');
  }

  /** Conditional PutItem: false when the condition does not hold (the record moved on). */
  private async replaceIf(status: ExportStatus, condition: string): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: exportPk(status.site), sk: status.exportId, ...status },
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: { ':running': 'running' },
        }),
      );
      return true;
    } catch (error) {
      if (conditionFailed(error)) return false;
      throw translateDynamoError(error, 'PutItem');
    }
  }

  get(site: string, exportId: string): Promise<ExportStatus | undefined> {
    return getRecord<ExportStatus>(this.doc, this.tableName, { pk: exportPk(site), sk: exportId });
  }
}
