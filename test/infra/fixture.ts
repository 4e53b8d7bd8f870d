import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CfnElement, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { DEFAULT_CONFIG, parseDeploymentConfig, type DeploymentConfigInput } from '../../infra/config.ts';
import { buildFerry, createFerryApp, type BuildOptions, type FerryStacks } from '../../infra/ferry-app.ts';
import { TemplateResolver, type CfnTemplate } from '../../infra/cfn-resolve.ts';

// Builds the app exactly as infra/app.ts does, from a configuration. Asset bundling (esbuild)
// is skipped unless asked for: template assertions do not need the bundles, and the nag test
// runs one bundled synth to prove the entries build.

export interface Synthesized extends FerryStacks {
  outdir: string;
  statefulTemplate: Template;
  processingTemplate: Template;
  /** Raw templates by stack name, for the resolver and the evaluator. */
  raw: Record<string, CfnTemplate>;
  resolver: TemplateResolver;
}

export interface SynthOptions extends BuildOptions {
  /** Run esbuild for the functions (default false). */
  bundle?: boolean;
  /** CDK's built-in CloudFormation schema validation, ~5 s on first use (default false). */
  validate?: boolean;
}

export function synthFerry(input: DeploymentConfigInput = DEFAULT_CONFIG, options: SynthOptions = {}): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'ferry-cdk-'));
  const app = createFerryApp({
    outdir,
    builtinCloudFormationValidation: options.validate ?? false,
    context: options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] },
  });
  const stacks = buildFerry(app, parseDeploymentConfig(input), { nag: options.nag ?? false, workflows: options.workflows });
  const assembly = app.synth();
  const raw = Object.fromEntries(assembly.stacks.map((s) => [s.stackName, s.template as CfnTemplate]));
  return {
    ...stacks,
    outdir,
    statefulTemplate: Template.fromJSON(raw[stacks.stateful.stackName] as Record<string, unknown>),
    processingTemplate: Template.fromJSON(raw[stacks.processing.stackName] as Record<string, unknown>),
    raw,
    resolver: new TemplateResolver(raw),
  };
}

/** The logical id of a construct's CloudFormation resource (its default child, or itself). */
export function logicalId(construct: IConstruct): string {
  const element = (CfnElement.isCfnElement(construct) ? construct : construct.node.defaultChild) as CfnElement | undefined;
  if (!element) throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return Stack.of(element).getLogicalId(element);
}
