// Handler plumbing shared by the functions. A middy chain takes (event, context); callers
// in process (local server, local cloud, tests) have no Lambda context, so the exported
// handlers take it as optional.

export type Handler<E, R> = (event: E, context?: unknown) => Promise<R>;

export function asHandler<E, R>(chain: (event: E, context: never) => Promise<R>): Handler<E, R> {
  return (event, context = {}) => chain(event, context as never);
}

/** A handler whose construction (and so env reading) waits for the first invocation. */
export function lazyHandler<E, R>(build: () => Handler<E, R>): Handler<E, R> {
  let built: Handler<E, R> | undefined;
  return (event, context) => {
    built ??= build();
    return built(event, context);
  };
}
