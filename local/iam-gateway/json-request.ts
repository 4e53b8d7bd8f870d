import type { AccessCheck } from './s3-request.ts';

// DynamoDB and Step Functions requests (AWS JSON protocol: `X-Amz-Target` + JSON body) → what
// IAM authorises. DynamoDB: `dynamodb:{Operation}` on the table or index ARN, with
// `dynamodb:LeadingKeys` (the partition key values the request touches), `dynamodb:Select`,
// `dynamodb:ReturnValues` and, for a PutItem, `dynamodb:Attributes` (the item's attribute names); a batch gives one check per table. Step Functions:
// `states:{Operation}` on the activity or state machine ARN (a task token stands for the
// activity whose task it is).

export interface TableSchema {
  /** The deployed table's ARN. */
  arn: string;
  partitionKey: string;
  /** Index name → its partition key. */
  indexes: Record<string, string>;
}

export interface JsonAuthorisation {
  checks: AccessCheck[];
  unknown?: string;
}

type Item = Record<string, { S?: string; N?: string; B?: string } | undefined>;
type Body = Record<string, unknown>;

function keyValue(item: Item | undefined, name: string): string | undefined {
  const v = item?.[name];
  return v?.S ?? v?.N ?? v?.B;
}

/** The partition key values a Query's key condition names (`#pk = :pk` or `pk = :v`). */
function queryLeadingKeys(body: Body, partitionKey: string): string[] | undefined {
  const legacy = (body.KeyConditions as Record<string, { AttributeValueList?: Item[string][] }> | undefined)?.[partitionKey];
  if (legacy) return legacy.AttributeValueList?.map((v) => v?.S ?? v?.N ?? '') ?? [];
  const expression = body.KeyConditionExpression as string | undefined;
  if (!expression) return undefined;
  const names = (body.ExpressionAttributeNames as Record<string, string> | undefined) ?? {};
  const values = (body.ExpressionAttributeValues as Item | undefined) ?? {};
  for (const m of expression.matchAll(/([#\w]+)\s*=\s*(:\w+)|(:\w+)\s*=\s*([#\w]+)/g)) {
    const [name, value] = m[1] ? [m[1], m[2]!] : [m[4]!, m[3]!];
    if ((names[name] ?? name) === partitionKey) return [keyValue(values, value) ?? ''];
  }
  return undefined;
}

type Tables = (name: string) => TableSchema;
type LeadingKeys = (schema: TableSchema, pk: string) => string[] | undefined;

function tableCheck(op: string, tables: Tables, tableName: string, body: Body, leading: LeadingKeys): AccessCheck {
  const schema = tables(tableName);
  const index = body.IndexName as string | undefined;
  const pk = index ? (schema.indexes[index] ?? '') : schema.partitionKey;
  return {
    action: `dynamodb:${op}`,
    resource: index ? `${schema.arn}/index/${index}` : schema.arn,
    context: {
      'dynamodb:LeadingKeys': leading(schema, pk),
      'dynamodb:Select': body.Select as string | undefined,
      'dynamodb:ReturnValues': body.ReturnValues as string | undefined,
      ...(op === 'PutItem' && body.Item ? { 'dynamodb:Attributes': Object.keys(body.Item as Item) } : {}),
    },
  };
}

type BatchRequest = { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } };

export function authoriseDynamo(target: string, body: Body, tables: Tables, tableArnPattern: string): JsonAuthorisation {
  const op = target.startsWith('DynamoDB_20120810.') ? target.slice('DynamoDB_20120810.'.length) : '';
  if (!op) return { checks: [], unknown: target || '(no X-Amz-Target)' };
  const single = (leading: (pk: string) => string[] | undefined) => ({
    checks: [tableCheck(op, tables, String(body.TableName ?? ''), body, (_, pk) => leading(pk))],
  });
  switch (op) {
    case 'GetItem':
    case 'DeleteItem':
    case 'UpdateItem':
      return single((pk) => [keyValue(body.Key as Item, pk) ?? '']);
    case 'PutItem':
      return single((pk) => [keyValue(body.Item as Item, pk) ?? '']);
    case 'Query':
      return single((pk) => queryLeadingKeys(body, pk));
    case 'BatchWriteItem':
    case 'BatchGetItem': {
      const items = (body.RequestItems as Record<string, unknown>) ?? {};
      const checks = Object.entries(items).map(([table, requests]) =>
        tableCheck(op, tables, table, {}, (_, pk) => {
          if (op === 'BatchGetItem') return ((requests as { Keys?: Item[] }).Keys ?? []).map((k) => keyValue(k, pk) ?? '');
          return (requests as BatchRequest[]).map((r) => keyValue(r.PutRequest?.Item ?? r.DeleteRequest?.Key, pk) ?? '');
        }),
      );
      return { checks };
    }
    case 'ListTables':
      return { checks: [{ action: 'dynamodb:ListTables', resource: tableArnPattern, context: {} }] };
    default:
      // Scan, DescribeTable, CreateTable, …: the table is the resource, no leading keys.
      return single(() => undefined);
  }
}

export function authoriseStates(
  target: string,
  body: Body,
  mapArn: (arn: string) => string,
  activityOfToken: (token: string) => string | undefined,
): JsonAuthorisation {
  const op = target.startsWith('AWSStepFunctions.') ? target.slice('AWSStepFunctions.'.length) : '';
  if (!op) return { checks: [], unknown: target || '(no X-Amz-Target)' };
  const arn = (body.activityArn ?? body.stateMachineArn ?? body.executionArn) as string | undefined;
  const token = body.taskToken as string | undefined;
  const resource = arn ? mapArn(arn) : token ? (activityOfToken(token) ?? 'arn:aws:states:::activity:unknown-task-token') : '*';
  return { checks: [{ action: `states:${op}`, resource, context: {} }] };
}
