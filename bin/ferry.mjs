#!/usr/bin/env node
// Entry point of the `ferry` command. TypeScript sources run through tsx's loader.
// The AWS SDK warns on Node 20 about future releases; the pinned versions support it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
