import { readFileSync } from 'node:fs';
import { Duration } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../../infra/config.ts';
import { FUNCTION_BUNDLE, FUNCTION_NODE_MAJOR } from '../../infra/function-bundling.ts';
import { ferryFunctionProps } from '../../infra/functions.ts';
import { buildWorkflows } from '../../infra/workflows/build.ts';
import { synthFerry, type Synthesized } from './fixture.ts';

// One Node line everywhere: the Lambda runtime the stack deploys, the esbuild target of the
// bundles, and the Node that runs the tools and these tests (the `node` package in
// package.json, first on PATH under npm scripts).

const running = Number(process.versions.node.split('.')[0]);
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
};
let synth: Synthesized;

beforeAll(() => {
  // As infra/app.ts builds it: the API functions and the workflow functions.
  synth = synthFerry(DEFAULT_CONFIG, { workflows: buildWorkflows });
});

describe('Node runtime', () => {
  it('runs the tests on Node 22 or later', () => {
    console.log(`tests run on Node ${process.version} (${process.execPath})`);
    expect(running).toBeGreaterThanOrEqual(22);
  });

  it('deploys every Ferry function on the Node major the tests run on', () => {
    type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
    const resources = Object.values(synth.raw).flatMap((t) => Object.values((t as { Resources?: Resources }).Resources ?? {}));
    const ferry = resources.filter((r) => r.Type === 'AWS::Lambda::Function' && String(r.Properties.Description ?? '').startsWith('Ferry'));
    expect(ferry.length).toBeGreaterThanOrEqual(8);
    expect([...new Set(ferry.map((r) => r.Properties.Runtime))]).toEqual([`nodejs${running}.x`]);
    expect(FUNCTION_NODE_MAJOR).toBe(running);
  });

  it('bundles the functions for that same major', () => {
    expect(FUNCTION_BUNDLE.target).toBe(`node${running}`);
  });

  it('the CDK bundles each function minified with keepNames, from the options the local cloud builds with', () => {
    const fn = { description: 'x', timeout: Duration.seconds(1), memorySize: 128, role: undefined as never, logGroup: undefined as never, environment: {} };
    const props = ferryFunctionProps('handler.ts', fn);
    const { format, target, minify, keepNames, sourcemap, mainFields, external, banner } = FUNCTION_BUNDLE;
    expect(props.bundling).toMatchObject({ format, target, minify, keepNames, sourceMap: sourcemap, mainFields, externalModules: external, banner });
    expect(props.bundling?.forceDockerBundling).toBe(false);
    expect(keepNames && minify).toBe(true);
  });

  it('installs that major with the package and requires it', () => {
    expect(pkg.engines.node).toBe(`>=${FUNCTION_NODE_MAJOR}`);
    expect(pkg.dependencies.node).toMatch(new RegExp(`^\\^${FUNCTION_NODE_MAJOR}\\.`));
  });
});
