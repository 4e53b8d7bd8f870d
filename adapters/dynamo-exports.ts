import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AlreadyExistsError, FerryError, messageOf, TransientError } from '../core/errors.ts';
import { ITEM_PREFIXES } from '../core/catalogue-table.ts';
import type { ExportStatus, ExportStatusStore } from '../core/exports.ts';

// Export status records on the catalogue table: `pk = EXPORT#{site}, sk = {exportId}`, the
// status's fields beside the keys. The console writes `running`; the export function the end.

const TRANSIENT = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable', 'TimeoutError', 'ECONNRESET', 'ECONNREFUSED']);

export const exportPk = (site: string) => `${ITEM_PREFIXES.export}${site}`;

function translate(error: unknown, operation: string): FerryError {
  if (error instanceof FerryError) return error;
  const name = (error as { name?: string } | undefined)?.name ?? 'Error';
  const message = `DynamoDB ${operation} failed: ${name}: ${messageOf(error)}`;
  return TRANSIENT.has(name) ? new TransientError(message, { cause: error }) : new FerryError('fatal', message, { cause: error });
}

export class DynamoExportStatusStore implements ExportStatusStore {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(status: ExportStatus): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { pk: exportPk(status.site), sk: status.exportId, ...status }, ConditionExpression: 'attribute_not_exists(pk)' }));
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException || (error as { name?: string }).name === 'ConditionalCheckFailedException') {
        throw new AlreadyExistsError(`export ${status.exportId} already exists in site ${status.site}`);
      }
      throw translate(error, 'PutItem');
    }
  }

  async finish(status: ExportStatus): Promise<void> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { pk: exportPk(status.site), sk: status.exportId, ...status } }));
    } catch (error) {
      throw translate(error, 'PutItem');
    }
  }

  async get(site: string, exportId: string): Promise<ExportStatus | undefined> {
    try {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { pk: exportPk(site), sk: exportId } }));
      if (!out.Item) return undefined;
      const { pk: _pk, sk: _sk, ...status } = out.Item;
      return status as ExportStatus;
    } catch (error) {
      throw translate(error, 'GetItem');
    }
  }
}
