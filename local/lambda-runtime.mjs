// The Lambda runtime of the local cloud, run in a worker thread per function: it loads the
// function's bundle (local/function-bundles.ts) and answers invocations as the Node.js
// runtime does: the handler's result through a JSON round trip, or the error as
// { errorType: error.name, errorMessage }, which is what Step Functions matches on.
// Plain JavaScript: it runs the built bundle, never the TypeScript sources.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const { handler } = await import(pathToFileURL(workerData.bundle).href);
const context = { functionName: workerData.functionName, awsRequestId: '', getRemainingTimeInMillis: () => 900_000 };

parentPort.on('message', async ({ id, event }) => {
  try {
    const result = await handler(event, { ...context, awsRequestId: id });
    parentPort.postMessage({ id, ok: true, payload: JSON.stringify(result ?? null) });
  } catch (error) {
    const errorType = error instanceof Error ? error.name : 'Error';
    const errorMessage = error instanceof Error ? error.message : String(error);
    parentPort.postMessage({ id, ok: false, errorType, errorMessage });
  }
});
parentPort.postMessage({ ready: true });
