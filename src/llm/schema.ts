/** The subset of JSON Schema voxline validates tool arguments against. */
export interface JsonSchema {
  /** The JSON type(s) the value must have. */
  type?: 'object' | 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'null' | readonly ('object' | 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'null')[];
  /** What the value means (the model reads it). */
  description?: string;
  /** Schemas of an object's properties. */
  properties?: Record<string, JsonSchema>;
  /** Properties an object must have. */
  required?: readonly string[];
  /** Whether an object may have other properties (`false`: refused), or their schema. */
  additionalProperties?: boolean | JsonSchema;
  /** Schema of an array's items. */
  items?: JsonSchema;
  /** The values allowed. */
  enum?: readonly unknown[];
  /** The one value allowed. */
  const?: unknown;
  /** Smallest number allowed. */
  minimum?: number;
  /** Largest number allowed. */
  maximum?: number;
  /** Shortest string allowed. */
  minLength?: number;
  /** Longest string allowed. */
  maxLength?: number;
  /** Regular expression a string must match. */
  pattern?: string;
  /** Fewest array items allowed. */
  minItems?: number;
  /** Most array items allowed. */
  maxItems?: number;
  [key: string]: unknown;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Checks `value` against `schema`; returns human-readable problems (empty when valid). */
export function validateSchema(schema: JsonSchema, value: unknown, path = 'arguments'): string[] {
  const errors: string[] = [];
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? schema.type : [schema.type];
    const actual = typeOf(value);
    const ok = allowed.some((t) => t === actual || (t === 'number' && actual === 'integer'));
    if (!ok) return [`${path} must be ${allowed.join(' or ')}, got ${actual}`];
  }
  if (schema.enum && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) errors.push(`${path} must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  if (schema.const !== undefined && JSON.stringify(schema.const) !== JSON.stringify(value)) errors.push(`${path} must be ${JSON.stringify(schema.const)}`);
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${path} must be >= ${schema.minimum}`);
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${path} must be <= ${schema.maximum}`);
  }
  if (typeof value === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${path} must have at least ${schema.minLength} characters`);
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${path} must have at most ${schema.maxLength} characters`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) errors.push(`${path} must match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${path} must have at least ${schema.minItems} items`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems) errors.push(`${path} must have at most ${schema.maxItems} items`);
    if (schema.items) value.forEach((v, i) => errors.push(...validateSchema(schema.items!, v, `${path}[${i}]`)));
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) errors.push(`${path}.${r} is required`);
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k];
      if (sub) errors.push(...validateSchema(sub, v, `${path}.${k}`));
      else if (schema.additionalProperties === false) errors.push(`${path}.${k} is not allowed`);
      else if (schema.additionalProperties && typeof schema.additionalProperties === 'object') errors.push(...validateSchema(schema.additionalProperties, v, `${path}.${k}`));
    }
  }
  return errors;
}
