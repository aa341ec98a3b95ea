import { describe, expect, it } from "vitest";
import { Audit, auditOptionsOf } from "./decorator.js";

// vigil's own sources compile with TC39 decorators: @Audit must work there too (Nest
// applications use legacy decorators; test/integrations/nestjs covers those).
describe("@Audit as a TC39 decorator", () => {
  it("marks a method and a class without replacing them", () => {
    const original = function find() {
      return 1;
    };
    @Audit({ category: "REPORTS" })
    class Reports {
      @Audit({ actionType: "REPORT_VIEW" })
      view() {
        return 2;
      }
    }
    expect(new Reports().view()).toBe(2);
    expect(auditOptionsOf(Reports.prototype.view, Reports)).toEqual({ actionType: "REPORT_VIEW" });
    expect(auditOptionsOf(original, Reports)).toEqual({ category: "REPORTS" });
    expect(auditOptionsOf(original, class Other {})).toBeUndefined();
  });

  it("refuses fields and bad options", () => {
    expect(() => {
      class Bad {
        // @ts-expect-error: @Audit does not decorate fields
        @Audit() field = 1;
      }
      return Bad;
    }).toThrow(/@Audit decorates controller methods and controller classes/);
    expect(() => Audit({ metadata: 7 as never })).toThrow(
      /@Audit: options\.metadata must be an object or a function, found number/,
    );
  });
});
