import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Consumers that compile with `exactOptionalPropertyTypes` pass `process.env.X` or `cond ? v :
 * undefined` to options: every optional option of the public surface must say `| undefined`, or
 * their code fails with TS2379. These tests walk the public entry points with the compiler.
 */
const root = join(import.meta.dirname, '..', '..');
const entryPoints = { voxline: 'src/index.ts', 'voxline/adapters': 'src/adapters/index.ts', 'voxline/testing': 'src/testing/index.ts', 'voxline/server': 'src/server/index.ts' };
const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  moduleDetection: ts.ModuleDetectionKind.Force,
  strict: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: true,
  noEmit: true,
  types: ['node'],
  paths: Object.fromEntries(Object.entries(entryPoints).map(([k, v]) => [k, [join(root, v)]])),
};

/** Compiles `code` (a consumer's module) next to the sources; returns the errors in it. */
function compile(code: string, extra: Partial<ts.CompilerHost> = {}): { errors: string[]; program: ts.Program } {
  const file = join(root, '.snippets', 'consumer.ts');
  const host = { ...ts.createCompilerHost(options), ...extra };
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (f) => f === file || fileExists(f);
  host.readFile = (f) => (f === file ? code : readFile(f));
  host.getSourceFile = (f, lang, ...rest) => (f === file ? ts.createSourceFile(f, code, lang) : getSourceFile(f, lang, ...rest));
  const program = ts.createProgram([file, join(root, 'src/types.d.ts')], options, host);
  const sf = program.getSourceFile(file)!;
  const errors = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)].map((d) => {
    const line = d.start === undefined ? 0 : sf.getLineAndCharacterOfPosition(d.start).line + 1;
    return `${line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  return { errors, program };
}

/** Is `node` (a type written in src/) an object type a user fills in: an interface or a literal, not a class or function? */
function userObject(checker: ts.TypeChecker, type: ts.Type): boolean {
  const decls = (type.aliasSymbol ?? type.getSymbol())?.declarations ?? [];
  if (!decls.length || !decls.every((d) => d.getSourceFile().fileName.startsWith(join(root, 'src')))) return false;
  if (type.getCallSignatures().length || type.getConstructSignatures().length) return false;
  return decls.every((d) => ts.isInterfaceDeclaration(d) || ts.isTypeLiteralNode(d) || ts.isTypeAliasDeclaration(d) || ts.isMappedTypeNode(d));
}

/** `Interface.property`, or the file and line of a property of an inline object type. */
function where(decl: ts.Declaration, name: string): string {
  const parent = decl.parent;
  if (ts.isInterfaceDeclaration(parent)) return `${parent.name.text}.${name}`;
  const sf = decl.getSourceFile();
  return `${sf.fileName.slice(root.length + 1)}:${sf.getLineAndCharacterOfPosition(decl.getStart()).line + 1} ${name}`;
}

/**
 * Every optional property, in every option object of the public surface (exported types named
 * `…Options`, `…Config`, `…Limits`, the last parameter of every exported function, constructor
 * and method of an exported class or interface, and the object types these hold), whose declared
 * type does not take `undefined`.
 */
function optionalWithoutUndefined(): { checked: number; missing: string[] } {
  const { program } = compile(Object.values(entryPoints).map((p, i) => `export * as e${i} from '${join(root, p).replace(/\.ts$/, '')}';`).join('\n'));
  const checker = program.getTypeChecker();
  const seen = new Set<ts.Type>();
  const missing = new Set<string>();
  let checked = 0;
  const visit = (type: ts.Type, name: string, depth: number): void => {
    for (const part of type.isUnion() ? type.types : [type]) {
      const t = checker.getNonNullableType(part);
      if (seen.has(t) || depth > 4 || !(t.flags & ts.TypeFlags.Object) || !userObject(checker, t)) continue;
      seen.add(t);
      for (const prop of checker.getPropertiesOfType(t)) {
        const decl = prop.valueDeclaration ?? prop.declarations?.[0];
        if (!decl || !decl.getSourceFile().fileName.startsWith(join(root, 'src'))) continue;
        const propType = checker.getTypeOfSymbol(prop);
        if (prop.flags & ts.SymbolFlags.Optional) {
          checked++;
          const node = ts.isPropertySignature(decl) || ts.isPropertyDeclaration(decl) ? decl.type : undefined;
          const declared = node ? checker.getTypeFromTypeNode(node) : undefined;
          const takesUndefined = declared && (declared.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown) || (declared.isUnion() && declared.types.some((u) => u.flags & ts.TypeFlags.Undefined)));
          // A property made optional by Partial<> keeps its declaration: `?` is missing there.
          if (!takesUndefined || !(ts.isPropertySignature(decl) && decl.questionToken)) missing.add(where(decl, prop.name));
        }
        visit(propType, `${name}.${prop.name}`, depth + 1);
      }
    }
  };
  for (const file of Object.values(entryPoints)) {
    const sf = program.getSourceFile(join(root, file))!;
    for (const exp of checker.getExportsOfModule(checker.getSymbolAtLocation(sf)!)) {
      const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      if (sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias) && /(Options|Config|Limits)$/.test(sym.name)) visit(checker.getDeclaredTypeOfSymbol(sym), sym.name, 0);
      const lastParams = (type: ts.Type, name: string) => {
        for (const sig of [...type.getCallSignatures(), ...type.getConstructSignatures()]) {
          const last = sig.parameters.at(-1);
          if (last) visit(checker.getTypeOfSymbol(last), `${name}()`, 0);
        }
      };
      // The methods of exported classes and interfaces take option objects too (`run({ signal })`).
      const methods = (type: ts.Type) => {
        for (const m of checker.getPropertiesOfType(type)) {
          const hidden = m.valueDeclaration && ts.getCombinedModifierFlags(m.valueDeclaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected);
          if (m.flags & ts.SymbolFlags.Method && !hidden) lastParams(checker.getTypeOfSymbol(m), `${sym.name}.${m.name}`);
        }
      };
      if (sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class)) methods(checker.getDeclaredTypeOfSymbol(sym));
      if (!(sym.flags & (ts.SymbolFlags.Function | ts.SymbolFlags.Class))) continue;
      lastParams(checker.getTypeOfSymbol(sym), sym.name);
    }
  }
  return { checked, missing: [...missing].sort() };
}

describe('the public types under exactOptionalPropertyTypes', () => {
  it('every optional option of every public options object takes `undefined`', () => {
    const { checked, missing } = optionalWithoutUndefined();
    expect(checked).toBeGreaterThan(200);
    expect(missing).toEqual([]);
  }, 120_000);

  it('a consumer passes maybe-undefined values (process.env, a condition) to the options the docs show', () => {
    const { errors } = compile(`
      import { CartesiaTts, DeepgramStt, ElevenLabsTts, OpenAiLlm, VoiceSession, gateway } from 'voxline';
      import { OpenAiRealtime } from 'voxline';
      import { virtualSpeaker, wavFileInput } from 'voxline/adapters';
      import { createVoiceServer, runCluster } from 'voxline/server';
      import { Registry } from 'prom-client';
      const env = process.env;
      const workers = env.WORKERS ? Number(env.WORKERS) : undefined;
      runCluster({ workers, start: () => {} });
      const twilio = env.TWILIO_AUTH_TOKEN ? { publicUrl: 'https://agent.example.com', authToken: env.TWILIO_AUTH_TOKEN } : undefined;
      createVoiceServer({ agent: () => ({ stt: new DeepgramStt({ apiKey: env.DEEPGRAM_API_KEY!, baseURL: env.DEEPGRAM_URL }), llm: new OpenAiLlm({ apiKey: env.OPENAI_API_KEY, model: 'gpt-4.1-mini', baseURL: env.OPENAI_BASE_URL }), tts: new CartesiaTts({ apiKey: env.CARTESIA_API_KEY!, voiceId: 'v', baseURL: env.CARTESIA_URL }) }), twilio, maxCalls: undefined });
      new OpenAiRealtime({ apiKey: env.OPENAI_API_KEY!, baseURL: env.OPENAI_REALTIME_URL, voice: undefined });
      new ElevenLabsTts({ apiKey: env.ELEVENLABS_API_KEY!, voiceId: 'v', baseURL: env.ELEVENLABS_URL });
      gateway({ apiKey: env.AIGATEWAY_API_KEY, baseURL: env.AIGATEWAY_URL });
      wavFileInput('a.wav', { sampleRate: undefined, signal: undefined });
      createVoiceServer({ agent: () => s, registry: new Registry() }); // prom-client's Registry fits the structural type
      export const s = new VoiceSession({ stt: new DeepgramStt({ apiKey: 'k' }), llm: new OpenAiLlm({ apiKey: 'k', model: 'm' }), tts: new CartesiaTts({ apiKey: 'k', voiceId: 'v' }), hangUpPhrases: undefined, bargeIn: { minWords: undefined } });
      void s.run({ input: wavFileInput('a.wav'), output: virtualSpeaker(), signal: env.TIMEOUT ? AbortSignal.timeout(Number(env.TIMEOUT)) : undefined });
    `);
    expect(errors).toEqual([]);
  }, 120_000);
});

describe('voxline/server without prom-client installed', () => {
  it('its public types never name prom-client: a strict consumer compiles without it', () => {
    // Resolving `prom-client` fails, as in an app that did not install the optional peer.
    const resolveModuleNameLiterals: ts.CompilerHost['resolveModuleNameLiterals'] = (literals, containingFile, redirect, opts) =>
      literals.map((l) => (l.text === 'prom-client' ? { resolvedModule: undefined } : ts.resolveModuleName(l.text, containingFile, opts, ts.sys, undefined, redirect)));
    const { errors, program } = compile(`
      import { createVoiceServer, type VoiceServer, type VoiceServerOptions } from 'voxline/server';
      declare const options: VoiceServerOptions;
      const server: VoiceServer = createVoiceServer(options);
      export const text: Promise<string> = server.registry.metrics();
      export const type: string = server.registry.contentType;
    `, { resolveModuleNameLiterals });
    expect(errors).toEqual([]);
    // The declarations a build would ship for voxline/server do not import it.
    const checker = program.getTypeChecker();
    const server = program.getSourceFile(join(root, 'src/server/index.ts'))!;
    const named: string[] = [];
    for (const exp of checker.getExportsOfModule(checker.getSymbolAtLocation(server)!)) {
      const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      const type = sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias) ? checker.getDeclaredTypeOfSymbol(sym) : checker.getTypeOfSymbol(sym);
      const text = checker.typeToString(type, undefined, ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseFullyQualifiedType);
      for (const prop of checker.getPropertiesOfType(type)) {
        const shown = checker.typeToString(checker.getTypeOfSymbol(prop), undefined, ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseFullyQualifiedType);
        if (checker.getTypeOfSymbol(prop).flags & ts.TypeFlags.Any || /prom-client/.test(shown)) named.push(`${sym.name}.${prop.name}: ${shown}`);
      }
      if (/prom-client/.test(text)) named.push(`${sym.name}: ${text}`);
    }
    expect(named).toEqual([]);
  }, 120_000);
});
