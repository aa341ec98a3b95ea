/**
 * `AuditModule`: the engine as a Nest provider, the per-request event and scope on the
 * application's HTTP adapter, the global guard and interceptor behind `@Audit`.
 *
 * The module is written without decorators (vigil compiles with TC39 decorators, Nest
 * reads legacy decorator metadata): its constructor's injections are declared by calling
 * Nest's `Inject` directly, its providers are factories.
 *
 * @module
 */
import {
  type DynamicModule,
  Inject,
  type InjectionToken,
  type ModuleMetadata,
  type OptionalFactoryDependency,
} from "@nestjs/common";
import { APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost } from "@nestjs/core";
import type { VigilConfig } from "../../config/types.js";
import { getDefaultEngine } from "../../default-engine.js";
import { AuditEngine } from "../../engine.js";
import { ErrorCodes, VigilError } from "../../errors.js";
import { createHttpAuditor } from "../http-common.js";
import { type HttpAdapterLike, installHttpAuditing, type NestHttpAuditOptions } from "./http.js";
import { AuditGuard, AuditInterceptor } from "./interceptor.js";

/** The injection token of the engine: `@Inject(AUDIT_ENGINE) engine: AuditEngine` (or inject `AuditEngine`). */
export const AUDIT_ENGINE: unique symbol = Symbol.for("vigil-audit:engine");
/** The injection token of the module's resolved options. */
export const AUDIT_MODULE_OPTIONS: unique symbol = Symbol.for("vigil-audit:module-options");

/** Options of `AuditModule.forRoot` (and what `forRootAsync`'s factory returns). */
export interface AuditModuleOptions {
  /** The engine. Default: one built from `config` when given, else the default engine. */
  readonly engine?: AuditEngine;
  /**
   * A configuration (object, or the path of a YAML file) for an engine the module creates,
   * and closes (flushing every event) when the application shuts down.
   */
  readonly config?: VigilConfig | string;
  /**
   * The per-request `HTTP_REQUEST` event and ambient scope, with the options of
   * `expressAuditMiddleware` (`exclude`, `getActor`, `captureBody`, `requestIdHeader`, ...);
   * `getActor` receives the adapter's request (Express `Request` or `FastifyRequest`).
   * `false`: no per-request event, no scope and no denial events. Default `{}`.
   */
  readonly http?: NestHttpAuditOptions | false;
  /**
   * Record a `PERMISSION_DENIED` security event for every 401/403 answer that no `@Audit`
   * event recorded — guards' denials among them. Default true.
   */
  readonly recordDenials?: boolean;
  /** Provide the engine to every module (a global module). Default true. */
  readonly global?: boolean;
}

/** `forRootAsync`: options from a factory with injected dependencies. */
export interface AuditModuleAsyncOptions {
  /** Modules exporting what `inject` names. */
  readonly imports?: ModuleMetadata["imports"];
  /** What the factory receives, in order. */
  readonly inject?: (InjectionToken | OptionalFactoryDependency)[];
  // biome-ignore lint/suspicious/noExplicitAny: the factory's parameters are whatever `inject` names, as in Nest's own FactoryProvider
  readonly useFactory: (...deps: any[]) => AuditModuleOptions | Promise<AuditModuleOptions>;
  /** Default true. */
  readonly global?: boolean;
}

function fail(owner: string, message: string): VigilError {
  return new VigilError(ErrorCodes.INVALID_ARGUMENT, `${owner}: ${message}`);
}

function shown(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

/** Check the options once (the HTTP ones as the Express middleware would). */
function validate(owner: string, options: unknown): AuditModuleOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object" || Array.isArray(options))
    throw fail(owner, `options must be an object, found ${shown(options)}`);
  const o = options as AuditModuleOptions;
  if (
    o.engine !== undefined &&
    !(o.engine instanceof AuditEngine) &&
    typeof (o.engine as { log?: unknown }).log !== "function"
  )
    throw fail(owner, `options.engine must be an AuditEngine, found ${shown(o.engine)}`);
  if (o.engine !== undefined && o.config !== undefined)
    throw fail(owner, "options.engine and options.config exclude each other: give one");
  if (
    o.config !== undefined &&
    (o.config === null || (typeof o.config !== "object" && typeof o.config !== "string"))
  )
    throw fail(
      owner,
      `options.config must be a configuration object or a file path, found ${shown(o.config)}`,
    );
  for (const key of ["recordDenials", "global"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "boolean")
      throw fail(owner, `options.${key} must be a boolean, found ${shown(o[key])}`);
  }
  if (o.http !== undefined && o.http !== false)
    createHttpAuditor(`${owner} (options.http)`, o.http, {
      raw: () => undefined as never,
      url: () => undefined,
      route: () => undefined,
      body: () => undefined,
    });
  return o;
}

/** The engine the options name; `owned` when the module created it (and must close it). */
interface EngineHolder {
  readonly engine: AuditEngine;
  readonly owned: boolean;
}

const kHolder: unique symbol = Symbol.for("vigil-audit:engine-holder");

function providers(optionsProvider: object): NonNullable<DynamicModule["providers"]> {
  return [
    optionsProvider,
    {
      provide: kHolder,
      useFactory: (o: AuditModuleOptions): EngineHolder =>
        o.engine !== undefined
          ? { engine: o.engine, owned: false }
          : o.config !== undefined
            ? {
                engine: new AuditEngine(
                  typeof o.config === "string" ? { configFile: o.config } : { config: o.config },
                ),
                owned: true,
              }
            : { engine: getDefaultEngine(), owned: false },
      inject: [AUDIT_MODULE_OPTIONS],
    },
    { provide: AUDIT_ENGINE, useFactory: (h: EngineHolder) => h.engine, inject: [kHolder] },
    { provide: AuditEngine, useExisting: AUDIT_ENGINE },
    { provide: APP_GUARD, useFactory: () => new AuditGuard() },
    {
      provide: APP_INTERCEPTOR,
      useFactory: (engine: AuditEngine) => new AuditInterceptor(engine),
      inject: [AUDIT_ENGINE],
    },
  ] as NonNullable<DynamicModule["providers"]>;
}

/**
 * vigil for NestJS. Import it once, in the root module:
 *
 * - the engine is injectable (`AUDIT_ENGINE`, or the `AuditEngine` class as token);
 * - every HTTP request records one `API` / `HTTP_REQUEST` event and runs in an ambient
 *   scope carrying its actor and request id (Express and Fastify adapters), as with
 *   `expressAuditMiddleware`;
 * - handlers marked `@Audit(...)` record one event per call (outcome, duration, HTTP
 *   status, `HttpException`s);
 * - a 401/403 answer — a guard's denial, which no interceptor sees — records a
 *   `PERMISSION_DENIED` security event.
 *
 * @example
 * @Module({ imports: [AuditModule.forRoot({ config: "config/audit.yaml", http: { exclude: ["/health"] } })] })
 * export class AppModule {}
 *
 * @example
 * AuditModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (cfg: ConfigService) => ({ config: cfg.get("audit") }),
 * })
 */
export class AuditModule {
  readonly #holder: EngineHolder;
  readonly #options: AuditModuleOptions;
  readonly #adapterHost: HttpAdapterHost | undefined;

  constructor(holder: EngineHolder, options: AuditModuleOptions, adapterHost?: HttpAdapterHost) {
    this.#holder = holder;
    this.#options = options;
    this.#adapterHost = adapterHost;
  }

  /** The module with options known now. A bad option throws `VIGIL_ERR_INVALID_ARGUMENT`. */
  static forRoot(options: AuditModuleOptions = {}): DynamicModule {
    const o = validate("AuditModule.forRoot", options);
    return {
      module: AuditModule,
      global: o.global !== false,
      imports: [],
      providers: providers({ provide: AUDIT_MODULE_OPTIONS, useValue: o }),
      exports: [AUDIT_ENGINE, AuditEngine],
    };
  }

  /** The module with options from a factory (e.g. reading `ConfigService`), checked when it resolves. */
  static forRootAsync(options: AuditModuleAsyncOptions): DynamicModule {
    if (options === null || typeof options !== "object" || typeof options.useFactory !== "function")
      throw fail(
        "AuditModule.forRootAsync",
        "options.useFactory must be a function returning the module options",
      );
    const factory = options.useFactory as (
      ...deps: unknown[]
    ) => AuditModuleOptions | Promise<AuditModuleOptions>;
    return {
      module: AuditModule,
      global: options.global !== false,
      imports: [...(options.imports ?? [])],
      providers: providers({
        provide: AUDIT_MODULE_OPTIONS,
        useFactory: async (...deps: unknown[]) =>
          validate("AuditModule.forRootAsync", await factory(...deps)),
        inject: [...(options.inject ?? [])],
      }),
      exports: [AUDIT_ENGINE, AuditEngine],
    };
  }

  /** Nest calls this after its body parser and before it registers routes: install the request auditing there. */
  configure(): void {
    const http = this.#options.http;
    const adapter = this.#adapterHost?.httpAdapter as unknown as HttpAdapterLike | undefined;
    if (http === false || adapter === undefined || adapter === null) return;
    installHttpAuditing(adapter, this.#holder.engine, http ?? {}, this.#options.recordDenials !== false);
  }

  /** Close an engine the module created (its events are flushed). */
  async onApplicationShutdown(): Promise<void> {
    if (this.#holder.owned) await this.#holder.engine.close();
  }
}

// The constructor's injections, declared as `@Inject(...)` parameter decorators would.
Inject(kHolder)(AuditModule, undefined as never, 0);
Inject(AUDIT_MODULE_OPTIONS)(AuditModule, undefined as never, 1);
Inject(HttpAdapterHost)(AuditModule, undefined as never, 2);
