import type { QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { ArtefactQueryPlan } from '../core/artefact-items.ts';

// DynamoDB Query input for one artefact query plan (core/artefact-items.ts): the sort-key range
// as the key condition, the role and takenAt bounds as a filter. The cursor's own key is
// inside the range; matchesArtefactPlan drops it, as it re-checks everything.

/** undefined when the range is empty (a cursor past its end): DynamoDB rejects BETWEEN with lo > hi. */
export function artefactQueryInput(tableName: string, plan: ArtefactQueryPlan): QueryCommandInput | undefined {
  const names: Record<string, string> = { '#pk': 'pk', '#sk': 'sk' };
  const values: Record<string, unknown> = { ':pk': plan.pk, ':hi': plan.hi };
  const lo = plan.after !== undefined && (plan.lo === undefined || plan.after > plan.lo) ? plan.after : plan.lo;
  if (lo !== undefined && lo > plan.hi) return undefined;
  let condition = '#pk = :pk AND #sk <= :hi';
  if (lo !== undefined) {
    condition = '#pk = :pk AND #sk BETWEEN :lo AND :hi';
    values[':lo'] = lo;
  }
  const filters: string[] = [];
  const { role, from, to } = plan.filter;
  if (role !== undefined) {
    names['#role'] = 'role';
    values[':role'] = role;
    filters.push('#role = :role');
  }
  if (from !== undefined || to !== undefined) names['#t'] = 'takenAt';
  if (from !== undefined) {
    values[':from'] = from;
    filters.push('#t >= :from');
  }
  if (to !== undefined) {
    values[':to'] = to;
    filters.push('#t <= :to');
  }
  return {
    TableName: tableName,
    KeyConditionExpression: condition,
    FilterExpression: filters.length ? filters.join(' AND ') : undefined,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    // Without filters a page needs limit+1 items (+1 for the cursor's own key); with them, let DynamoDB fill its 1 MB page.
    Limit: filters.length ? undefined : plan.limit + 2,
  };
}
