import type { QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { SORT_KEY_NAME, sortsByDuration, type SearchPlan } from '../core/catalogue-table.ts';

// DynamoDB Query input for one branch of a recording search plan (core/catalogue-search.ts), and
// the merge of the branches' results in sort-key order.

type Item = Record<string, unknown>;

/** The Query of one branch of the plan: the sort-key range as the key condition, the other criteria as a filter. */
export function recordingQueryInput(tableName: string, plan: SearchPlan, branch: number): QueryCommandInput {
  const { index, partitionValue } = plan.branches[branch]!;
  const names: Record<string, string> = { '#p': index.partitionKey.name };
  const values: Record<string, unknown> = { ':p': partitionValue };
  let condition = '#p = :p';
  // A `-start` cursor is an exclusive upper end: inside the inclusive range, dropped by matchesPlan.
  const hi = plan.before !== undefined && (plan.upTo === undefined || plan.before < plan.upTo) ? plan.before : plan.upTo;
  if (plan.after !== undefined || hi !== undefined) names['#s'] = SORT_KEY_NAME;
  if (plan.after !== undefined && hi !== undefined) {
    condition += ' AND #s BETWEEN :lo AND :hi';
    Object.assign(values, { ':lo': plan.after, ':hi': hi });
  } else if (plan.after !== undefined) {
    condition += ' AND #s > :lo';
    values[':lo'] = plan.after;
  } else if (hi !== undefined) {
    condition += ' AND #s <= :hi';
    values[':hi'] = hi;
  }
  const clauses = plan.filters.map((clause, c) =>
    clause.anyOf
      .map(({ attribute, value }, a) => {
        names[`#f${c}_${a}`] = attribute;
        values[`:f${c}_${a}`] = value;
        return `#f${c}_${a} = :f${c}_${a}`;
      })
      .join(' OR '),
  );
  clauses.push(...metaClauses(plan, names, values));
  return {
    TableName: tableName,
    IndexName: index.indexName,
    KeyConditionExpression: condition,
    FilterExpression: clauses.length ? clauses.map((c) => `(${c})`).join(' AND ') : undefined,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ScanIndexForward: plan.sort !== '-start',
    // Without filters a page needs limit+1 items (and the cursor's own); with them, or for a
    // duration sort (every match), let DynamoDB fill its 1 MB page.
    Limit: clauses.length || sortsByDuration(plan) ? undefined : branchLimit(plan),
  };
}

/**
 * The Limit of an unfiltered branch's Query pages: limit+1 items and the cursor's own for one
 * branch; merged branches (the time shards) share the page, each asked for its part and read on
 * page by page only when the merge needs more, so a page of 1,000 reads about 1,000 calls, not
 * 1,000 a shard (what a read budget counts, and what DynamoDB charges).
 */
export function branchLimit(plan: SearchPlan): number {
  const n = plan.branches.length;
  return n === 1 ? plan.limit + 2 : Math.ceil((plan.limit + 1) / n) + 1;
}

/** FilterExpression terms for the call metadata (matchesPlan checks them again on what comes back). */
function metaClauses(plan: SearchPlan, names: Record<string, string>, values: Record<string, unknown>): string[] {
  const { direction, minDurationSec, maxDurationSec } = plan.meta;
  const clauses: string[] = [];
  if (direction !== undefined || minDurationSec !== undefined || maxDurationSec !== undefined) names['#meta'] = 'meta';
  if (direction !== undefined) {
    Object.assign(names, { '#dir': 'direction' });
    values[':dir'] = direction;
    clauses.push('#meta.#dir = :dir');
  }
  if (minDurationSec !== undefined || maxDurationSec !== undefined) names['#dur'] = 'durationSec';
  if (minDurationSec !== undefined) {
    values[':dmin'] = minDurationSec;
    clauses.push('#meta.#dur >= :dmin');
  }
  if (maxDurationSec !== undefined) {
    values[':dmax'] = maxDurationSec;
    clauses.push('#meta.#dur <= :dmax');
  }
  return clauses;
}

/** Merges streams sorted by sort key (descending when asked) into one, dropping the same item seen on two streams. */
export async function* mergeBySortKey(streams: AsyncIterator<Item>[], descending = false): AsyncGenerator<Item, void, undefined> {
  const first = (a: string, b: string) => (descending ? a > b : a < b);
  const heads = await Promise.all(streams.map((s) => s.next()));
  let last: string | undefined;
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const head = heads[i]!;
      if (head.done) continue;
      const best0 = heads[best];
      if (best < 0 || (best0 && !best0.done && first(head.value[SORT_KEY_NAME] as string, best0.value[SORT_KEY_NAME] as string))) best = i;
    }
    if (best < 0) return;
    const item = (heads[best] as IteratorYieldResult<Item>).value;
    heads[best] = await streams[best]!.next();
    const key = item[SORT_KEY_NAME] as string;
    if (key !== last) yield item;
    last = key;
  }
}
