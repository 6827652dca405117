import { toStandardJsonSchema } from '@valibot/to-json-schema';
import { type } from 'arktype';
import * as v from 'valibot';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { OpenAiLlm, ToolError, tool, type Tool, type ToolContext } from '../../src/index';
import { runTool } from '../../src/llm/tools';
import { OpenAiEmulator, TextSession, type ChatRequest } from '../../src/testing/index';

const call = (name: string, args: unknown) => ({ id: 'c1', name, arguments: typeof args === 'string' ? args : JSON.stringify(args) });

/** The same tool in three libraries: an order id of at least 3 characters, an optional whole quantity from 1 to 9. */
const zodTool = tool({
  name: 'lookup_order',
  description: 'Look up an order',
  parameters: z.object({ order_id: z.string().min(3).describe('The order number'), quantity: z.number().int().min(1).max(9).optional() }),
  execute: (args) => {
    expectTypeOf(args).toEqualTypeOf<{ order_id: string; quantity?: number | undefined }>();
    return { got: args };
  },
});
const valibotTool = tool({
  name: 'lookup_order',
  description: 'Look up an order',
  parameters: toStandardJsonSchema(v.object({ order_id: v.pipe(v.string(), v.minLength(3)), quantity: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(9))) })),
  execute: (args) => {
    expectTypeOf(args).toEqualTypeOf<{ order_id: string; quantity?: number | undefined }>();
    return { got: args };
  },
});
const arktypeTool = tool({
  name: 'lookup_order',
  description: 'Look up an order',
  parameters: type({ order_id: 'string >= 3', 'quantity?': '1 <= number.integer <= 9' }),
  execute: (args) => {
    expectTypeOf(args).toEqualTypeOf<{ order_id: string; quantity?: number }>();
    return { got: args };
  },
});
const libraries = [['zod', zodTool], ['valibot', valibotTool], ['arktype', arktypeTool]] as const;

describe('tool() with a Standard Schema', () => {
  it.each(libraries)('%s: the model is sent the JSON Schema of the arguments, without $schema', (_lib, t) => {
    expect(t.parameters).not.toHaveProperty('$schema');
    expect(t.parameters).toMatchObject({ type: 'object', properties: { order_id: { type: 'string', minLength: 3 } }, required: ['order_id'] });
    expect(t.parameters.properties?.quantity).toMatchObject({ type: expect.stringMatching(/^(integer|number)$/) });
  });

  it.each(libraries)('%s: valid arguments reach execute', async (_lib, t) => {
    expect(await runTool([t], call('lookup_order', { order_id: 'A-17', quantity: 2 }))).toEqual({ ok: true, result: { got: { order_id: 'A-17', quantity: 2 } } });
  });

  it.each(libraries)("%s: the library's issues, with their paths, are the tool's error", async (_lib, t) => {
    const outcome = await runTool([t as Tool<any>], call('lookup_order', { order_id: 7, quantity: 0.5 }));
    expect(outcome.ok).toBe(false);
    const error = !outcome.ok ? outcome.error : undefined;
    expect(error).toBeInstanceOf(ToolError);
    expect(error!.message).toMatch(/^Invalid arguments for 'lookup_order': arguments\.order_id: .+; arguments\.quantity: .+/);
  });

  it("execute receives the library's output (defaults and transforms applied), not the raw arguments", async () => {
    const t = tool({
      name: 'book',
      description: 'Book a table',
      parameters: z.object({ name: z.string().transform((s) => s.toUpperCase()), seats: z.number().default(2) }),
      execute: (args) => {
        expectTypeOf(args).toEqualTypeOf<{ name: string; seats: number }>();
        return args;
      },
    });
    // The model is sent the input side: `seats` may be left out.
    expect(t.parameters.required).toEqual(['name']);
    expect(await runTool([t], call('book', { name: 'ada' }))).toEqual({ ok: true, result: { name: 'ADA', seats: 2 } });
  });

  it('reports issues deep in arrays with index paths, and at most ten of them', async () => {
    const t = tool({ name: 'add_items', description: 'd', parameters: z.object({ items: z.array(z.object({ sku: z.string() })) }), execute: () => 'ok' });
    const one = await runTool([t], call('add_items', { items: [{ sku: 'a' }, { sku: 3 }] }));
    expect(!one.ok && one.error.message).toBe("Invalid arguments for 'add_items': arguments.items[1].sku: Invalid input: expected string, received number");
    const many = await runTool([t], call('add_items', { items: Array.from({ length: 12 }, () => ({ sku: 1 })) }));
    expect(!many.ok && many.error.message.split('; ')).toHaveLength(11);
    expect(!many.ok && many.error.message).toMatch(/; and 2 more$/);
  });

  it('a copy of the tool (spread) still validates with the library and only once', async () => {
    let runs = 0;
    const t = tool({ name: 'n', description: 'd', parameters: z.object({ x: z.number().refine((x) => x % 2 === 0, 'must be even') }), execute: () => ++runs });
    const copy = { ...t, timeoutMs: 1000 };
    const outcome = await runTool([copy], call('n', { x: 3 }));
    expect(!outcome.ok && outcome.error.message).toBe("Invalid arguments for 'n': arguments.x: must be even");
    expect(runs).toBe(0);
  });

  it('a schema that only validates (valibot without toStandardJsonSchema) is refused with the fix', () => {
    const bare = v.object({ order_id: v.string() });
    // @ts-expect-error: Standard Schema without Standard JSON Schema gives the model no JSON Schema
    expect(() => tool({ name: 'x', description: 'd', parameters: bare, execute: () => 1 })).toThrow(/toStandardJsonSchema\(\) from @valibot\/to-json-schema/);
  });

  it('a zod 3 schema (Standard Schema, no JSON Schema) is refused with the version that works', () => {
    // What zod 3.25 exposes: validation only, no jsonSchema (added in zod 4.2).
    const zod3 = { '~standard': { version: 1 as const, vendor: 'zod', validate: (value: unknown) => ({ value }) } };
    // @ts-expect-error: Standard Schema without Standard JSON Schema gives the model no JSON Schema
    expect(() => tool({ name: 'x', description: 'd', parameters: zod3, execute: () => 1 })).toThrow(
      "The parameters of tool 'x' (zod) implement Standard Schema but not Standard JSON Schema, so no JSON Schema can be sent to the model: zod gives its JSON Schema from version 4.2 (npm install zod@^4.2), or pass plain JSON Schema as parameters (zod-to-json-schema converts a zod 3 schema)");
  });

  it('a schema that is not an object schema is refused', () => {
    expect(() => tool({ name: 'x', description: 'd', parameters: z.string(), execute: () => 1 })).toThrow(ToolError);
    expect(() => tool({ name: 'x', description: 'd', parameters: z.string(), execute: () => 1 })).toThrow(/must be an object schema/);
  });

  it('a validator that hangs is cut off by the tool timeout; one that throws is a tool failure', async () => {
    const hang = { '~standard': { version: 1 as const, vendor: 'hang', validate: () => new Promise<never>(() => {}), jsonSchema: { input: () => ({ type: 'object' }), output: () => ({ type: 'object' }) } } };
    const t = tool({ name: 'h', description: 'd', parameters: hang, timeoutMs: 50, execute: () => 1 });
    const slow = await runTool([t], call('h', {}));
    expect(!slow.ok && slow.error.message).toMatch(/did not return within 50 ms/);
    const boom = { '~standard': { ...hang['~standard'], validate: () => { throw new Error('validator bug'); } } };
    const failed = await runTool([tool({ name: 'b', description: 'd', parameters: boom, execute: () => 1 })], call('b', {}));
    expect(!failed.ok && failed.error.message).toMatch(/validator bug/);
  });

  it('plain JSON Schema keeps its own validator and its messages', async () => {
    const t = tool<{ order_id: string }>({ name: 'lookup_order', description: 'd', parameters: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] }, execute: ({ order_id }) => order_id });
    const outcome = await runTool([t], call('lookup_order', { order_id: 7 }));
    expect(!outcome.ok && outcome.error.message).toBe("Invalid arguments for 'lookup_order': arguments.order_id must be string, got integer");
    expectTypeOf(t.execute).parameters.toEqualTypeOf<[{ order_id: string }, ToolContext]>();
  });
});

describe('a Standard Schema tool in a conversation (OpenAI emulator)', () => {
  let emu: OpenAiEmulator | undefined;
  afterEach(() => emu?.close());

  it.each(libraries)('%s: the request carries the JSON Schema; bad arguments go back to the model and the session goes on', async (_lib, t) => {
    const seen: ChatRequest[] = [];
    emu = new OpenAiEmulator({
      timeToFirstTokenMs: 0,
      tokensPerSecond: Infinity,
      responder: (req) => {
        seen.push(req);
        const last = req.messages.at(-1)!;
        if (last.role === 'user') return { toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A' } }] };
        const told = JSON.parse(String(last.content)) as { error?: string };
        if (told.error) return { toolCalls: [{ name: 'lookup_order', arguments: { order_id: 'A-17' } }] };
        return { content: 'Order A-17 is on its way.' };
      },
    });
    await emu.start();
    const session = new TextSession({ llm: new OpenAiLlm({ apiKey: 'test', baseURL: emu.baseURL, model: 'test', maxRetries: 0 }), tools: [t as Tool<any>] });
    const turn = await session.run('Where is my order?');
    expect(seen[0]!.tools![0]!.function.parameters).toEqual(t.parameters);
    turn.expect.toolCall('lookup_order', { order_id: 'A' }).toolError(/arguments\.order_id: /).toolCall('lookup_order', { order_id: 'A-17' }).toolResult({ got: { order_id: 'A-17' } }).message('Order A-17 is on its way.').noMoreEvents();
    expect(JSON.parse(String(seen[1]!.messages.at(-1)!.content)).error).toMatch(/^Invalid arguments for 'lookup_order': arguments\.order_id: /);
  });
});
