/**
 * Tool parameters from any schema library that implements Standard Schema (validation and
 * inferred types) and Standard JSON Schema (the JSON Schema the model is sent): zod 4.2+,
 * arktype 2.1.28+, valibot through `toStandardJsonSchema()` of `@valibot/to-json-schema`.
 *
 * The interfaces below are the specification's own types (https://standardschema.dev,
 * `@standard-schema/spec` 1.1.0, MIT), copied as the specification recommends so that no schema
 * library is a dependency of voxline.
 * @module
 */

import { ToolError } from '../errors';
import type { JsonSchema } from './schema';

/** The Standard Typed interface: a base type extended by the other specifications. */
export interface StandardTypedV1<Input = unknown, Output = Input> {
  /** The Standard properties. */
  readonly '~standard': StandardTypedV1.Props<Input, Output>;
}

/** Types of {@link StandardTypedV1}. */
export declare namespace StandardTypedV1 {
  /** The Standard Typed properties interface. */
  interface Props<Input = unknown, Output = Input> {
    /** The version number of the standard. */
    readonly version: 1;
    /** The vendor name of the schema library. */
    readonly vendor: string;
    /** Inferred types associated with the schema. */
    readonly types?: Types<Input, Output> | undefined;
  }
  /** The Standard Typed types interface. */
  interface Types<Input = unknown, Output = Input> {
    /** The input type of the schema. */
    readonly input: Input;
    /** The output type of the schema. */
    readonly output: Output;
  }
  /** Infers the input type of a Standard Typed. */
  type InferInput<Schema extends StandardTypedV1> = NonNullable<Schema['~standard']['types']>['input'];
  /** Infers the output type of a Standard Typed. */
  type InferOutput<Schema extends StandardTypedV1> = NonNullable<Schema['~standard']['types']>['output'];
}

/** The Standard Schema interface: a schema that validates. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  /** The Standard Schema properties. */
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

/** Types of {@link StandardSchemaV1}. */
export declare namespace StandardSchemaV1 {
  /** The Standard Schema properties interface. */
  interface Props<Input = unknown, Output = Input> extends StandardTypedV1.Props<Input, Output> {
    /** Validates unknown input values. */
    readonly validate: (value: unknown, options?: StandardSchemaV1.Options | undefined) => Result<Output> | Promise<Result<Output>>;
  }
  /** The result interface of the validate function. */
  type Result<Output> = SuccessResult<Output> | FailureResult;
  /** The result interface if validation succeeds. */
  interface SuccessResult<Output> {
    /** The typed output value. */
    readonly value: Output;
    /** The absence of issues indicates success. */
    readonly issues?: undefined;
  }
  /** Options of the validate function. */
  interface Options {
    /** Implicit support for additional vendor-specific parameters, if needed. */
    readonly libraryOptions?: Record<string, unknown> | undefined;
  }
  /** The result interface if validation fails. */
  interface FailureResult {
    /** The issues of failed validation. */
    readonly issues: ReadonlyArray<Issue>;
  }
  /** The issue interface of the failure output. */
  interface Issue {
    /** The error message of the issue. */
    readonly message: string;
    /** The path of the issue, if any. */
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
  }
  /** The path segment interface of the issue. */
  interface PathSegment {
    /** The key representing a path segment. */
    readonly key: PropertyKey;
  }
  /** The Standard types interface. */
  interface Types<Input = unknown, Output = Input> extends StandardTypedV1.Types<Input, Output> {}
  /** Infers the input type of a Standard. */
  type InferInput<Schema extends StandardTypedV1> = StandardTypedV1.InferInput<Schema>;
  /** Infers the output type of a Standard. */
  type InferOutput<Schema extends StandardTypedV1> = StandardTypedV1.InferOutput<Schema>;
}

/** The Standard JSON Schema interface: a schema that converts itself to JSON Schema. */
export interface StandardJSONSchemaV1<Input = unknown, Output = Input> {
  /** The Standard JSON Schema properties. */
  readonly '~standard': StandardJSONSchemaV1.Props<Input, Output>;
}

/** Types of {@link StandardJSONSchemaV1}. */
export declare namespace StandardJSONSchemaV1 {
  /** The Standard JSON Schema properties interface. */
  interface Props<Input = unknown, Output = Input> extends StandardTypedV1.Props<Input, Output> {
    /** Methods for generating the input/output JSON Schema. */
    readonly jsonSchema: Converter;
  }
  /** The Standard JSON Schema converter interface. */
  interface Converter {
    /** Converts the input type to JSON Schema. May throw if conversion is not supported. */
    readonly input: (options: StandardJSONSchemaV1.Options) => Record<string, unknown>;
    /** Converts the output type to JSON Schema. May throw if conversion is not supported. */
    readonly output: (options: StandardJSONSchemaV1.Options) => Record<string, unknown>;
  }
  /** The target version of the generated JSON Schema. */
  type Target = 'draft-2020-12' | 'draft-07' | 'openapi-3.0' | ({} & string);
  /** The options for the input/output methods. */
  interface Options {
    /** Specifies the target version of the generated JSON Schema. */
    readonly target: Target;
    /** Implicit support for additional vendor-specific parameters, if needed. */
    readonly libraryOptions?: Record<string, unknown> | undefined;
  }
  /** The Standard types interface. */
  interface Types<Input = unknown, Output = Input> extends StandardTypedV1.Types<Input, Output> {}
  /** Infers the input type of a Standard. */
  type InferInput<Schema extends StandardTypedV1> = StandardTypedV1.InferInput<Schema>;
  /** Infers the output type of a Standard. */
  type InferOutput<Schema extends StandardTypedV1> = StandardTypedV1.InferOutput<Schema>;
}

/** A schema that both validates (Standard Schema) and converts itself to JSON Schema (Standard JSON Schema). */
export type StandardToolSchema<Input = unknown, Output = Input> = StandardSchemaV1<Input, Output> & StandardJSONSchemaV1<Input, Output>;

/** Whether `value` carries Standard Schema properties (a `~standard` object). */
export function hasStandardProps(value: unknown): value is StandardTypedV1 {
  const props = value && (typeof value === 'object' || typeof value === 'function') ? (value as Partial<StandardTypedV1>)['~standard'] : undefined;
  return !!props && typeof props === 'object' && props.version === 1;
}

/** What to do when a library's schema validates but cannot give its JSON Schema, by `vendor`. */
const JSON_SCHEMA_FIX: Readonly<Record<string, string>> = {
  valibot: ': wrap the schema with toStandardJsonSchema() from @valibot/to-json-schema',
  // zod 3 (and zod 4 before 4.2) implement Standard Schema only.
  zod: ': zod gives its JSON Schema from version 4.2 (npm install zod@^4.2), or pass plain JSON Schema as parameters (zod-to-json-schema converts a zod 3 schema)',
  arktype: ': arktype gives its JSON Schema from version 2.1.28 (npm install arktype@^2.1.28)',
};

/**
 * The JSON Schema the model is sent for a Standard JSON Schema: the input side (what the model
 * writes), draft-07 (else draft 2020-12), without `$schema`. Throws a `ToolError` naming the tool
 * when the schema does not validate or convert, or is not an object schema.
 */
export function wireSchemaOf(toolName: string, schema: StandardTypedV1): JsonSchema {
  const props = schema['~standard'] as Partial<StandardSchemaV1.Props & StandardJSONSchemaV1.Props>;
  const vendor = String(props.vendor);
  if (typeof props.validate !== 'function') throw new ToolError(toolName, `The parameters of tool '${toolName}' (${vendor}) do not implement Standard Schema validation`);
  if (typeof props.jsonSchema?.input !== 'function') {
    const hint = JSON_SCHEMA_FIX[vendor] ?? '';
    throw new ToolError(toolName, `The parameters of tool '${toolName}' (${vendor}) implement Standard Schema but not Standard JSON Schema, so no JSON Schema can be sent to the model${hint}`);
  }
  let converted: Record<string, unknown> | undefined;
  let failure: unknown;
  for (const target of ['draft-07', 'draft-2020-12'] as const) {
    try {
      converted = props.jsonSchema.input({ target });
      break;
    } catch (err) {
      failure ??= err;
    }
  }
  if (!converted || typeof converted !== 'object') {
    throw new ToolError(toolName, `The parameters of tool '${toolName}' (${vendor}) could not be converted to JSON Schema: ${(failure as Error)?.message ?? String(failure)}`, { cause: failure });
  }
  const { $schema: _dialect, ...wire } = converted;
  if (wire.type !== 'object') throw new ToolError(toolName, `The parameters of tool '${toolName}' must be an object schema (got ${JSON.stringify(wire.type ?? null)})`);
  return wire as JsonSchema;
}

/** At most this many issues are reported to the model. */
const MAX_ISSUES = 10;

/** One issue as `arguments.path.to[0]: message`. */
function describeIssue(issue: StandardSchemaV1.Issue): string {
  let path = 'arguments';
  for (const seg of issue.path ?? []) {
    const key = typeof seg === 'object' && seg !== null ? seg.key : seg;
    path += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  }
  return `${path}: ${issue.message}`;
}

/**
 * Validates `args` with the schema's own validation. Resolves with the library's output value,
 * or with the issues described one per entry with their paths (at most ten, then a count).
 */
export async function validateStandard(schema: StandardSchemaV1, args: unknown): Promise<{ ok: true; value: unknown } | { ok: false; problems: string[] }> {
  const result = await schema['~standard'].validate(args);
  if (!result.issues) return { ok: true, value: result.value };
  const issues = [...result.issues];
  const problems = issues.slice(0, MAX_ISSUES).map(describeIssue);
  if (issues.length > MAX_ISSUES) problems.push(`and ${issues.length - MAX_ISSUES} more`);
  if (!problems.length) problems.push('arguments: invalid');
  return { ok: false, problems };
}

/** Marks a tool whose `execute` validates its own arguments (kept by a spread copy of the tool). */
const OWN_VALIDATION = Symbol('voxline.ownValidation');

/** `tool` marked as validating its own arguments: `runTool` does not check them against `parameters` again. */
export function withOwnValidation<T extends object>(tool: T): T {
  return Object.assign(tool, { [OWN_VALIDATION]: true });
}

/** Whether `tool` validates its own arguments (declared with a Standard Schema). */
export function checksOwnArguments(tool: object): boolean {
  return (tool as { [OWN_VALIDATION]?: boolean })[OWN_VALIDATION] === true;
}
