/**
 * A real NestJS application, on the Express or the Fastify adapter, written as Nest users
 * write it (legacy decorators). It serves the shared HTTP harness's routes (`/users/:id`,
 * `/api/users/:id`, `/bad`, `/fail`, `/echo`, `/hold`, `/work/:n`, `/health`) plus
 * `@Audit`-marked routes and guarded routes for the Nest-specific tests. A global guard
 * placed after vigil's request auditing sets `req.user` from the `x-user` header, as an
 * authentication guard (passport) would.
 *
 * @module
 */
import type { AddressInfo } from "node:net";
import {
  BadRequestException,
  Body,
  type CanActivate,
  Controller,
  Delete,
  type ExecutionContext,
  ForbiddenException,
  Get,
  HttpCode,
  type INestApplication,
  Inject,
  Injectable,
  Module,
  NotFoundException,
  Param,
  Post,
  Res,
  UnauthorizedException,
  UseGuards,
} from "@nestjs/common";
import { APP_GUARD, NestFactory } from "@nestjs/core";
import { FastifyAdapter } from "@nestjs/platform-fastify";
import type { AuditEngine as Engine } from "../../../src/engine.js";
import {
  Audit,
  AuditEngine,
  AuditModule,
  type AuditModuleOptions,
} from "../../../src/integrations/nestjs/index.js";
import type { Harness, RunningApp } from "../http-harness.js";
import { deferred, userFrom, work } from "../http-harness.js";

export type AdapterName = "express" | "fastify";

const HELD = "HELD";

type AnyRequest = {
  headers: Record<string, string | string[] | undefined>;
  user?: unknown;
  params?: Record<string, string>;
};

/** Authentication as passport would do it: `req.user` from the `x-user` header. */
@Injectable()
class UserGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<AnyRequest>();
    const user = userFrom(req.headers["x-user"]);
    if (user) req.user = user;
    return true;
  }
}

/** Admits only users whose name starts with `admin`. */
@Injectable()
class AdminGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const user = context.switchToHttp().getRequest<AnyRequest>().user as { username?: string } | undefined;
    return user?.username?.startsWith("admin") === true;
  }
}

/** Refuses everything under `/locked` (for `app.useGlobalGuards`, which runs before APP_GUARD guards). */
export class LockedGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<{ url?: string }>();
    return !(req.url ?? "").startsWith("/orders/locked");
  }
}

/** Refuses requests without a user with 401. */
@Injectable()
class SignedInGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.switchToHttp().getRequest<AnyRequest>().user === undefined)
      throw new UnauthorizedException("sign in first");
    return true;
  }
}

@Controller()
class HarnessController {
  constructor(
    @Inject(AuditEngine) private readonly engine: Engine,
    @Inject(HELD) private readonly held: { resolve: () => void },
  ) {}

  @Get("users/:id")
  user(@Param("id") id: string) {
    this.engine.log({ action: "INNER", category: "TEST" });
    return { id };
  }

  @Get("bad")
  bad() {
    throw new BadRequestException("bad");
  }

  @Get("fail")
  fail() {
    throw new Error("boom");
  }

  @Post("echo")
  @HttpCode(200)
  echo(@Body() body: unknown) {
    this.engine.log({ action: "INNER", category: "TEST" });
    return body;
  }

  @Get("hold")
  hold(@Res() res: { raw?: unknown; hijack?: () => void }) {
    res.hijack?.();
    const raw = (res.raw ?? res) as import("node:http").ServerResponse;
    raw.writeHead(200, { "content-type": "text/plain" });
    raw.write("partial");
    raw.on("close", this.held.resolve);
  }

  @Get("work/:n")
  async work(@Param("n") n: string) {
    await work(this.engine, n);
    return { n };
  }

  @Get("health")
  health() {
    return { status: "ok" };
  }
}

@Controller("api/users")
class ApiController {
  constructor(@Inject(AuditEngine) private readonly engine: Engine) {}

  @Get(":id")
  user(@Param("id") id: string) {
    this.engine.log({ action: "INNER", category: "TEST" });
    return { id };
  }
}

/** `@Audit`-marked and guarded routes. */
@Controller("orders")
class OrdersController {
  constructor(@Inject(AuditEngine) private readonly engine: Engine) {}

  @Get(":id")
  @Audit<AnyRequest>({
    category: "ORDERS",
    actionType: "ORDER_VIEW",
    resource: (req) => ({ type: "order", id: req.params?.id }),
    captureParams: true,
  })
  async find(@Param("id") id: string) {
    await new Promise((r) => setTimeout(r, 2));
    this.engine.log({ action: "INNER", category: "TEST" });
    if (id === "404") throw new NotFoundException(`order ${id} not found`);
    if (id === "500") throw new Error("database unreachable");
    if (id === "403") throw new ForbiddenException("not your order");
    return [{ id }, { id: `${id}-line` }];
  }

  @Post()
  @Audit({ actionType: "ORDER_CREATE", captureParams: ["item"], captureResult: true })
  create(@Body() body: { item: string; card: string }) {
    return { created: body.item };
  }

  @Delete(":id")
  @UseGuards(AdminGuard)
  @Audit({ category: "ORDERS", actionType: "ORDER_DELETE", resource: "orders" })
  remove(@Param("id") id: string) {
    return { deleted: id };
  }

  @Get(":id/history")
  @UseGuards(SignedInGuard)
  history(@Param("id") id: string) {
    return { id, history: [] };
  }
}

/** A controller audited as a whole: every handler records an event. */
@Controller("reports")
@Audit({ category: "REPORTS", securityEvent: true })
class ReportsController {
  @Get("daily")
  daily() {
    return { rows: [1, 2, 3] };
  }

  @Get("export")
  exportAll() {
    return "csv";
  }
}

/** Start the application on `adapter`, with `audit` as the AuditModule import. */
export async function startNest(
  adapter: AdapterName,
  audit: unknown,
  setup?: (app: INestApplication) => void,
): Promise<RunningApp & { app: INestApplication }> {
  const held = deferred();
  @Module({
    imports: [audit as never],
    controllers: [HarnessController, ApiController, OrdersController, ReportsController],
    providers: [
      { provide: APP_GUARD, useClass: UserGuard },
      { provide: HELD, useValue: held },
    ],
  })
  class AppModule {}
  const app =
    adapter === "express"
      ? await NestFactory.create(AppModule, { logger: false })
      : await NestFactory.create(AppModule, new FastifyAdapter(), { logger: false });
  setup?.(app);
  await app.listen(0, "127.0.0.1");
  const { port } = app.getHttpServer().address() as AddressInfo;
  return {
    app,
    url: `http://127.0.0.1:${port}`,
    holdClosed: held.promise,
    close: async () => {
      app.getHttpServer().closeAllConnections?.();
      await app.close();
    },
  };
}

/** The shared suite's harness for NestJS on one adapter. */
export function nestHarness(adapter: AdapterName): Harness {
  return {
    name: `nestjs (${adapter})`,
    knowsRoutes: true,
    start: (engine, options) =>
      startNest(
        adapter,
        AuditModule.forRoot({ engine, http: (options ?? {}) as AuditModuleOptions["http"] }),
      ),
  };
}
